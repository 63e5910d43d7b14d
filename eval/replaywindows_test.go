package eval

import (
	"cmp"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/features"
	"github.com/vigilsec/vigil/features/synth"
	"github.com/vigilsec/vigil/models"
	"github.com/vigilsec/vigil/trace"
)

// TestReplayWindowsMatchStandaloneExtractor pins the windows Replay records
// from its engines to windows built by a separate extractor per host, fed
// the same events and timer ticks, and scored with the same baselines (with
// and without a bundle): scores, thresholds and numeric features alike.
func TestReplayWindowsMatchStandaloneExtractor(t *testing.T) {
	ctx := context.Background()
	ds, bundle := trainedSynthetic(t, SyntheticOptions{Seed: 3, TrainMinutes: 120, TestMinutes: 10})
	events, _ := synth.Generate(synth.Options{Seed: 4, Start: ds.Split, Minutes: 30, Instances: 2, AttackEvery: 7})
	for _, b := range []*models.Bundle{bundle, nil} {
		cfg := ReplayConfig{Bundle: b, Windows: true, WindowFeatures: true}
		fc := bundle.Index.Features
		cfg.Engine.Features = fc
		res, err := Replay(ctx, features.SliceScan(slices.Clone(events)), cfg)
		if err != nil {
			t.Fatal(err)
		}
		want := standaloneWindows(t, slices.Clone(events), fc, b, res.Detectors)
		if len(res.Windows) == 0 || len(res.Windows) != len(want) {
			t.Fatalf("bundle %v: %d windows, standalone %d", b != nil, len(res.Windows), len(want))
		}
		modelled := 0
		for i := range want {
			if g, w := fmt.Sprint(res.Windows[i]), fmt.Sprint(want[i]); g != w {
				t.Fatalf("bundle %v, window %d:\n got %s\nwant %s", b != nil, i, g, w)
			}
			if want[i].Modelled {
				modelled++
			}
		}
		if (b != nil) != (modelled > 0) {
			t.Errorf("bundle %v: %d modelled windows", b != nil, modelled)
		}
		if res.WindowStats.Windows != int64(len(want)) {
			t.Errorf("window stats count %d windows, want %d", res.WindowStats.Windows, len(want))
		}
	}
}

// trainedSynthetic generates a synthetic lake in a temporary directory and
// trains baselines on its training part.
func trainedSynthetic(tb testing.TB, o SyntheticOptions) (*SyntheticDataset, *models.Bundle) {
	tb.Helper()
	ctx := context.Background()
	dir := tb.TempDir()
	root, mdir := filepath.Join(dir, "lake"), filepath.Join(dir, "models")
	ds, err := GenerateSynthetic(ctx, root, o)
	if err != nil {
		tb.Fatal(err)
	}
	trainLake(tb, root, mdir, ds.Split)
	bundle, err := models.Load(ctx, mdir)
	if err != nil {
		tb.Fatal(err)
	}
	return ds, bundle
}

// standaloneWindows replays events into one extractor per host with
// Replay's timer ticks and scores each window with b, sorted as Replay
// sorts them.
func standaloneWindows(t *testing.T, events []trace.Event, fc features.Config, b *models.Bundle, dets []models.Detector) []WindowScore {
	var out []WindowScore
	xs := map[string]*features.Extractor{}
	var order []*features.Extractor
	var next int64
	tick := int64(DefaultTick)
	for i := range events {
		ev := &events[i]
		if ev.Workload == "" {
			ev.Workload = trace.WorkloadKey(ev)
		}
		x := xs[ev.Host]
		if x == nil {
			var err error
			x, err = features.NewExtractor(fc, func(w *features.Window) {
				var s *models.Scores
				if m := modelOf(b, w.Workload); m != nil {
					sc := m.Score(w)
					s = &sc
				}
				out = append(out, windowScore(w, s, dets, true))
			})
			if err != nil {
				t.Fatal(err)
			}
			xs[ev.Host] = x
			order = append(order, x)
		}
		x.Add(ev)
		if ev.Time >= next {
			if next != 0 {
				for _, o := range order {
					o.Advance(ev.Time)
				}
			}
			next = ev.Time - ev.Time%tick + tick
		}
	}
	for _, x := range order {
		x.Flush()
	}
	slices.SortStableFunc(out, func(a, b WindowScore) int {
		return cmp.Or(cmp.Compare(a.Start, b.Start), strings.Compare(a.Workload, b.Workload), strings.Compare(a.Instance, b.Instance))
	})
	return out
}

func modelOf(b *models.Bundle, workload string) *models.Model {
	if b == nil {
		return nil
	}
	return b.Workload(workload)
}
