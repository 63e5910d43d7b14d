package scorer

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/vigilsec/vigil/features"
	"github.com/vigilsec/vigil/features/synth"
	"github.com/vigilsec/vigil/models"
	"github.com/vigilsec/vigil/scorer/finding"
	"github.com/vigilsec/vigil/scorer/intel"
	"github.com/vigilsec/vigil/scorer/internal/cputime"
	"github.com/vigilsec/vigil/scorer/rules"
	"github.com/vigilsec/vigil/trace"
)

type staticModels struct{ b *models.Bundle }

func (s staticModels) Get() *models.Bundle { return s.b }

// BenchmarkEngine is the whole per-event cost of the scorer: process table,
// the full default rule pack, feature windows, and model scoring of every
// window that closes, on a synthetic two-workload stream with attacks mixed
// in. Run:
//
//	go test -run '^$' -bench Engine -benchmem ./scorer/
func BenchmarkEngine(b *testing.B) {
	train, _ := synth.Generate(synth.Options{Seed: 1, Minutes: 240, Instances: 2})
	ms, _, err := models.TrainScan(context.Background(), models.RunConfig{}, features.SliceScan(train))
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	writeBundle(b, dir, ms)
	loaded, err := models.Load(context.Background(), dir)
	if err != nil {
		b.Fatal(err)
	}
	events, _ := synth.Generate(synth.Options{Seed: 9, Minutes: 120, Instances: 2, AttackEvery: 20,
		Start: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)})
	in := intel.NewSet(intel.DefaultDGA())
	set, err := rules.Load(rules.DefaultSources(), rules.Options{Intel: in})
	if err != nil {
		b.Fatal(err)
	}
	var found int
	newEngine := func() *Engine {
		e, err := New(Config{}, set, staticModels{loaded}, SinkFunc(func(*finding.Finding, bool) { found++ }))
		if err != nil {
			b.Fatal(err)
		}
		return e
	}
	// The stream is replayed with its clock shifted each lap so windows keep
	// closing and being scored, as in a live agent.
	span := events[len(events)-1].Time - events[0].Time + int64(time.Minute)
	e := newEngine()
	ev := make([]trace.Event, len(events))
	copy(ev, events)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu0 := cputime.Thread()
	b.ReportAllocs()
	b.ResetTimer()
	lap := 0
	for i := 0; b.Loop(); i++ {
		j := i % len(ev)
		if j == 0 && i > 0 {
			lap++
			for k := range ev {
				ev[k].Time = events[k].Time + int64(lap)*span
			}
		}
		e.Process(&ev[j])
	}
	b.ReportMetric(float64((cputime.Thread()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/event")
	b.StopTimer()
	st := e.Stats()
	b.ReportMetric(float64(st.WindowsScored), "windows")
	// Median per event, timed one by one on a fresh engine in thread CPU
	// time: on a shared machine wall time mostly measures waiting for a core.
	e = newEngine()
	copy(ev, events)
	p50, p99 := cputime.Quantiles(len(ev), func(k int) { e.Process(&ev[k]) })
	b.ReportMetric(float64(p50.Nanoseconds()), "p50-cpu-ns/event")
	b.ReportMetric(float64(p99.Nanoseconds()), "p99-cpu-ns/event")
}
