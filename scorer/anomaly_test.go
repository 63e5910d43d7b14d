package scorer

import (
	"testing"
	"time"

	"github.com/vigilsec/vigil/features"
	"github.com/vigilsec/vigil/models"
	"github.com/vigilsec/vigil/scorer/finding"
	"github.com/vigilsec/vigil/trace"
)

// TestSequenceFindingsAggregatePerContainer: sequence anomalies of one
// container fold into one finding whatever n-grams each window's evidence
// names, while another container of the workload gets its own.
func TestSequenceFindingsAggregatePerContainer(t *testing.T) {
	type out struct {
		f      *finding.Finding
		update bool
	}
	var got []out
	e, err := New(Config{}, nil, nil, SinkFunc(func(f *finding.Finding, update bool) { got = append(got, out{f, update}) }))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC).UnixNano()
	window := func(inst string, i int) *features.Window {
		s := start + int64(i)*int64(time.Minute)
		return &features.Window{Key: features.Key{Workload: "shop/web", Instance: inst, Start: s}, End: s + int64(time.Minute)}
	}
	score := func(gram ...int32) models.DetectorScore {
		return models.DetectorScore{Detector: models.DetSequence, FindingType: models.DetSequence.FindingType(),
			Score: 9, Threshold: 4, Anomalous: true, Converged: true,
			Evidence: []models.Evidence{{Syscalls: gram, Prob: 1e-9, Count: 1, Surprise: 30}}}
	}
	a, b := "0123456789abcdef0123", "fedcba98765432100123"
	e.anomalyFinding(window(a, 0), score(0, 1, 2, 3))
	e.anomalyFinding(window(a, 1), score(4, 5, 6, 7))
	e.anomalyFinding(window(a, 2), score(8, 9, 10, 11))
	e.anomalyFinding(window(b, 1), score(4, 5, 6, 7))
	var fresh []*finding.Finding
	for _, o := range got {
		if !o.update {
			fresh = append(fresh, o.f)
		}
	}
	if len(fresh) != 2 {
		t.Fatalf("%d new findings, want one per container: %+v", len(fresh), got)
	}
	if fresh[0].ID == fresh[1].ID || fresh[0].Service.Evidence.Observed != "0,1,2,3" {
		t.Fatalf("findings %s (%s) and %s: want one per container, the first with its own evidence",
			fresh[0].ID, fresh[0].Service.Evidence.Observed, fresh[1].ID)
	}
	if st := e.Stats(); st.Aggregated+uint64(len(got)-len(fresh)) == 0 {
		t.Fatalf("the second window of %s was neither aggregated nor an update: %+v", a, st)
	}
}

// TestPartialFirstWindow: a container's first window is partial when the
// container began after the window did; its later windows, a container
// that was already running when the window began, and windows of unknown
// instances are not.
func TestPartialFirstWindow(t *testing.T) {
	e, err := New(Config{}, nil, nil, SinkFunc(func(*finding.Finding, bool) {}))
	if err != nil {
		t.Fatal(err)
	}
	minute := int64(time.Minute)
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC).UnixNano()
	start := func(ctr string, at int64) {
		ev := trace.Event{Time: at, Kind: trace.KindExec, ContainerID: ctr, Workload: "shop/web", PID: 7, TID: 7,
			ProcUUID: ctr + "-p7", ExePath: "/usr/bin/web", Host: "h1"}
		e.Process(&ev)
	}
	start("late-starter", t0+30*int64(time.Second))
	start("on-the-minute", t0+minute)
	win := func(inst string, s int64) *features.Window {
		return &features.Window{Key: features.Key{Workload: "shop/web", Instance: inst, Start: s}, End: s + minute}
	}
	for _, c := range []struct {
		w    *features.Window
		want bool
	}{
		{win("late-starter", t0), true},
		{win("late-starter", t0+minute), false},
		{win("on-the-minute", t0+minute), false},
		{win("never-seen", t0), false},
		{win("h1", t0), false},
	} {
		if got := e.partial(c.w); got != c.want {
			t.Errorf("partial(%s at +%ds) = %v, want %v", c.w.Instance, (c.w.Start-t0)/int64(time.Second), got, c.want)
		}
	}
}
