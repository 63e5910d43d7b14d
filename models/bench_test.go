package models_test

import (
	"context"
	"fmt"
	"github.com/vigilsec/vigil/internal/benchutil"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/vigilsec/vigil/features"
	"github.com/vigilsec/vigil/features/synth"
	"github.com/vigilsec/vigil/models"
	"github.com/vigilsec/vigil/trace"
	"github.com/vigilsec/vigil/trace/lake"
	"github.com/vigilsec/vigil/trace/lake/laketest"
	"github.com/vigilsec/vigil/trace/tracetest"
)

// BenchmarkTrain measures end-to-end training throughput on one core:
// feature extraction, profile/sample/n-gram accumulation and the final fit
// and calibration, over SYNTHETIC traces already in memory (lake decoding
// is measured by trace/lake's benchmarks).
func BenchmarkTrain(b *testing.B) {
	for _, seq := range []bool{false, true} {
		name := "events"
		if seq {
			name = "sequence"
		}
		b.Run(name, func(b *testing.B) {
			events, _ := synth.Generate(synth.Options{Seed: 3, Minutes: 120, Sequence: seq})
			benchTrain(b, events)
		})
	}
}

// BenchmarkTrainMix is BenchmarkTrain on the lake's realistic mix
// (trace/tracetest: six ECS workloads, a long tail of temp and hashed file
// names, varied argv and destinations), 400k events over 40 minutes, with
// equal strings shared as the lake decodes them.
func BenchmarkTrainMix(b *testing.B) {
	events := tracetest.Events(7, 400_000, int64(6*time.Millisecond))
	synth.Intern(events)
	benchTrain(b, events)
}

// TestTrainMixOnce trains once on BenchmarkTrainMix's trace, for tools that
// count the instructions of one run, which no other load on the machine
// changes (cachegrind; see README, Benchmarks). VIGIL_TRAIN_ONCE=generate
// stops after making the trace and =train goes on to train, so the
// difference between the two is training's alone. Without it, it skips.
func TestTrainMixOnce(t *testing.T) {
	mode := os.Getenv("VIGIL_TRAIN_ONCE")
	if mode == "" {
		t.Skip("VIGIL_TRAIN_ONCE=generate|train runs it")
	}
	events := tracetest.Events(7, 400_000, int64(6*time.Millisecond))
	synth.Intern(events)
	if mode == "generate" {
		return
	}
	if _, _, err := models.TrainScan(context.Background(), models.RunConfig{}, features.SliceScan(events)); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkTrainLake is `vigil train`'s own path on BenchmarkTrainMix's
// events: written to a lake once, then scanned as the command scans them.
// Each iteration scans twice, once only decoding and once decoding into
// training; both decode alike, so the difference in CPU time is what
// training costs on events fresh from the decoder (a batch of 512 in the
// core's cache), where BenchmarkTrainMix reads a 250 MB trace from memory.
// It reports the end-to-end rate (events/cpu-s), the decoder's alone, and
// training's alone (train-events/cpu-s).
func BenchmarkTrainLake(b *testing.B) {
	ctx := context.Background()
	events := tracetest.Events(7, 400_000, int64(6*time.Millisecond))
	l, err := lake.Open(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	laketest.Write(b, l, lake.WriterConfig{Host: events[0].Host}, events)
	scan := func(ctx context.Context, fn func(*trace.Event) error) error {
		return l.Scan(ctx, lake.Query{Fields: features.Fields}, fn)
	}
	var decode, train time.Duration
	n := 0
	b.ResetTimer()
	for b.Loop() {
		cpu := benchutil.StartCPU()
		got := 0
		if err := scan(ctx, func(*trace.Event) error { got++; return nil }); err != nil || got != len(events) {
			b.Fatalf("decoding: %d of %d events, %v", got, len(events), err)
		}
		decode += cpu.Elapsed()
		cpu = benchutil.StartCPU()
		if _, st, err := models.TrainScan(ctx, models.RunConfig{}, scan); err != nil || st.Scanned != int64(len(events)) {
			b.Fatalf("training: %d of %d events, %v", st.Scanned, len(events), err)
		}
		train += cpu.Elapsed()
		n += len(events)
	}
	b.ReportMetric(float64(n)/train.Seconds(), "events/cpu-s")
	b.ReportMetric(float64(n)/decode.Seconds(), "decode-events/cpu-s")
	if train > decode {
		b.ReportMetric(float64(n)/(train-decode).Seconds(), "train-events/cpu-s")
	}
}

func benchTrain(b *testing.B, events []trace.Event) {
	b.ReportAllocs()
	b.ResetTimer()
	cpu := benchutil.StartCPU()
	n := 0
	for b.Loop() {
		if _, _, err := models.TrainScan(context.Background(), models.RunConfig{}, features.SliceScan(events)); err != nil {
			b.Fatal(err)
		}
		n += len(events)
	}
	cpu.Report(b, float64(n), "events")
}

// BenchmarkTrainStream is the part of training that scales with trace
// length: extraction and accumulation as TrainScan wires them, without the
// per-workload fit and calibration that BenchmarkTrain adds once at the end.
func BenchmarkTrainStream(b *testing.B) {
	for _, seq := range []bool{false, true} {
		name := "events"
		if seq {
			name = "sequence"
		}
		b.Run(name, func(b *testing.B) {
			events, _ := synth.Generate(synth.Options{Seed: 3, Minutes: 120, Sequence: seq})
			b.ReportAllocs()
			b.ResetTimer()
			cpu := benchutil.StartCPU()
			n := 0
			for b.Loop() {
				tr, _ := models.NewTrainer(models.TrainConfig{})
				x, _ := tr.Extractor()
				for i := range events {
					x.Add(&events[i])
				}
				x.Flush()
				n += len(events)
			}
			cpu.Report(b, float64(n), "events")
		})
	}
}

// BenchmarkTrainMemory feeds 1, 3 and 9 hours of SYNTHETIC events, an
// hour at a time, through the extractor into a trainer and reports the heap
// the trainer retains. With the default caps (2048 sampled vectors, 512
// held-out windows per workload) the samples fill after about 1.5 days of
// one-instance windows; here the caps are shrunk so that they fill within
// the first hour and the plateau is visible while the trace grows nine-fold.
func BenchmarkTrainMemory(b *testing.B) {
	for _, hours := range []int{1, 3, 9} {
		b.Run(fmt.Sprintf("hours=%d", hours), func(b *testing.B) {
			var retained, events float64
			for b.Loop() {
				runtime.GC()
				var before runtime.MemStats
				runtime.ReadMemStats(&before)
				tr, _ := models.NewTrainer(models.TrainConfig{Sample: 64, HourSample: 16, HoldOut: 16})
				x, _ := features.NewExtractor(features.Config{}, tr.Add)
				start := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
				events = 0
				for h := 0; h < hours; h++ {
					evs, _ := synth.Generate(synth.Options{Seed: uint64(h), Minutes: 60, Sequence: true, Start: start.Add(time.Duration(h) * time.Hour)})
					for i := range evs {
						x.Add(&evs[i])
					}
					events += float64(len(evs))
				}
				x.Flush()
				runtime.GC()
				var after runtime.MemStats
				runtime.ReadMemStats(&after)
				retained = float64(after.HeapAlloc) - float64(before.HeapAlloc)
				runtime.KeepAlive(tr)
				runtime.KeepAlive(x)
			}
			b.ReportMetric(retained/(1<<20), "retained-MiB")
			b.ReportMetric(events, "events")
		})
	}
}

// BenchmarkScore is the online cost of scoring one window with every
// detector (SYNTHETIC sequence-mode web and worker windows, evidence only
// where a detector fires).
func BenchmarkScore(b *testing.B) {
	ms, _ := trainSynth(b, 120)
	mw := byWorkload(ms)
	test, _ := synth.Generate(synth.Options{Seed: 8, Minutes: 30, Rate: 0.5, Sequence: true, AttackEvery: 10,
		Start: time.Date(2026, 1, 5, 2, 0, 0, 0, time.UTC)})
	ws, _, _ := features.Extract(features.Config{}, test)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := benchutil.StartCPU()
	n := 0
	for b.Loop() {
		for _, w := range ws {
			mw[w.Workload].Score(w)
			n++
		}
	}
	cpu.Report(b, float64(n), "windows")
}
