package eval_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/datasets/label"
	"github.com/vigilsec/vigil/features/synth"
	"github.com/vigilsec/vigil/models"
	"github.com/vigilsec/vigil/models/eval"
	"github.com/vigilsec/vigil/trace"
	"github.com/vigilsec/vigil/trace/lake"
)

// TestLakeReport: train on the earlier part of a lake, evaluate on the later
// part against labels stored next to the traces (SYNTHETIC data).
func TestLakeReport(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	train, _ := synth.Generate(synth.Options{Seed: 21, Minutes: 120, Rate: 0.3, Sequence: true, Start: start})
	test, labels := synth.Generate(synth.Options{Seed: 22, Minutes: 60, Rate: 0.3, Sequence: true, AttackEvery: 6, Start: start.Add(2 * time.Hour)})
	l, err := lake.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	w, err := l.NewWriter(lake.WriterConfig{Host: "eval-test"})
	if err != nil {
		t.Fatal(err)
	}
	for _, evs := range [][]trace.Event{train, test} {
		for i := range evs {
			if err := w.Write(&evs[i]); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for i, lb := range labels {
		at := time.Unix(0, lb.Start).UTC()
		r := &label.Run{Source: label.SourceScenario, Scenario: lb.Attack, Kind: "attack", RunID: "run-" + string(rune('a'+i%26)) + at.Format("150405"),
			Start: at, End: at.Add(time.Minute),
			Attack: &label.Attack{ID: lb.Attack, Start: at, End: at.Add(time.Minute), ContainerID: lb.Instance}}
		if err := label.Put(ctx, l.Store(), r); err != nil {
			t.Fatal(err)
		}
	}
	split := start.Add(2 * time.Hour)
	scan := func(ctx context.Context, fn func(*trace.Event) error) error {
		return l.Scan(ctx, lake.Query{To: split}, fn)
	}
	ms, _, err := models.TrainScan(ctx, models.RunConfig{}, scan)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := eval.Lake(ctx, l, models.NewBundle(ms), lake.Query{From: split})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	rep.Write(&b)
	t.Logf("SYNTHETIC lake evaluation:\n%s", b.String())
	if rep.Attack != len(labels) || rep.Benign < 150 || rep.NoModel != 0 {
		t.Fatalf("%d attack windows for %d labels, %d benign, %d without model", rep.Attack, len(labels), rep.Benign, rep.NoModel)
	}
	if rep.TPR < 0.9 || rep.FPR > 0.03 || rep.AnyAUC < 0.95 {
		t.Fatalf("tpr %.2f fpr %.3f auc %.3f", rep.TPR, rep.FPR, rep.AnyAUC)
	}
}
