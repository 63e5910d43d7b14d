package eval

import (
	"context"
	"testing"
	"time"

	"github.com/vigilsec/vigil/features"
	"github.com/vigilsec/vigil/features/synth"
	"github.com/vigilsec/vigil/internal/benchutil"
	"github.com/vigilsec/vigil/scorer/rules"
	"github.com/vigilsec/vigil/trace"
	"github.com/vigilsec/vigil/trace/lake"
)

// BenchmarkReplay measures replay throughput through the full default rule
// pack and trained baselines: from memory (the engine alone), with the
// per-window evaluation scoring, and from a Parquet lake (decode included).
//
//	go test -run '^$' -bench Replay -benchtime 3x ./eval
func BenchmarkReplay(b *testing.B) {
	ctx := context.Background()
	ds, bundle := trainedSynthetic(b, SyntheticOptions{Seed: 1, TrainMinutes: 240, TestMinutes: 240, AttackEvery: 30})
	root := ds.Root
	set, err := rules.Load(rules.DefaultSources(), rules.Options{})
	if err != nil {
		b.Fatal(err)
	}
	test, _ := synth.Generate(synth.Options{Seed: 2, Start: ds.Split, Minutes: 240, Instances: 2, AttackEvery: 30})
	run := func(b *testing.B, cfg ReplayConfig, scan func() features.ScanFunc) {
		var events int64
		b.ResetTimer()
		cpu := benchutil.StartCPU()
		for i := 0; i < b.N; i++ {
			res, err := Replay(ctx, scan(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			events += res.Events
		}
		cpu.Report(b, float64(events), "events")
	}
	// Events carry their workload key, so the engine leaves them as they
	// are and one slice serves every iteration.
	mem := func() features.ScanFunc { return features.SliceScan(test) }
	b.Logf("%d events", len(test))
	b.Run("engine", func(b *testing.B) { run(b, ReplayConfig{Rules: set, Bundle: bundle}, mem) })
	b.Run("engine+windows", func(b *testing.B) { run(b, ReplayConfig{Rules: set, Bundle: bundle, Windows: true}, mem) })
	b.Run("lake", func(b *testing.B) {
		l, err := lake.Open(ctx, root)
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		q := lake.Query{From: ds.Split, To: ds.Split.Add(240 * time.Minute)}
		run(b, ReplayConfig{Rules: set, Bundle: bundle}, func() features.ScanFunc {
			return func(ctx context.Context, fn func(*trace.Event) error) error { return l.Scan(ctx, q, fn) }
		})
	})
}
