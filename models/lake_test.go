package models_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/vigilsec/vigil/features"
	"github.com/vigilsec/vigil/features/synth"
	"github.com/vigilsec/vigil/models"
	"github.com/vigilsec/vigil/trace"
	"github.com/vigilsec/vigil/trace/lake"
)

// TestTrainFromLake: training from a lake scan (Parquet round trip, files
// of several hosts merged by time) gives the bundle training from the same
// events in memory gives.
func TestTrainFromLake(t *testing.T) {
	ctx := context.Background()
	events, _ := synth.Generate(synth.Options{Seed: 5, Minutes: 75, Rate: 0.3, Sequence: true})
	l, err := lake.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// One writer per host, as on a cluster.
	writers := map[string]*lake.Writer{}
	for i := range events {
		w := writers[events[i].Host]
		if w == nil {
			w, err = l.NewWriter(lake.WriterConfig{Host: events[i].Host, MaxFileBytes: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			writers[events[i].Host] = w
		}
		if err := w.Write(&events[i]); err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range writers {
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	scanned := 0
	// As vigil train scans: only the columns features read are decoded, and
	// the bundle must still be the one the whole events give.
	scan := func(ctx context.Context, fn func(*trace.Event) error) error {
		return l.Scan(ctx, lake.Query{Fields: features.Fields}, func(e *trace.Event) error { scanned++; return fn(e) })
	}
	fromLake, st, err := models.TrainScan(ctx, models.RunConfig{Workers: 2}, scan)
	if err != nil {
		t.Fatal(err)
	}
	if scanned != len(events) || st.Scanned != int64(len(events)) {
		t.Fatalf("scanned %d of %d events", scanned, len(events))
	}
	inMem, _, err := models.TrainScan(ctx, models.RunConfig{}, features.SliceScan(events))
	if err != nil {
		t.Fatal(err)
	}
	a, b := t.TempDir(), t.TempDir()
	writeBundle(t, a, fromLake, 0, 1)
	writeBundle(t, b, inMem, 0, 1)
	if !reflect.DeepEqual(readTree(t, a), readTree(t, b)) {
		t.Fatal("training from the lake gave a different bundle than from memory")
	}
}
