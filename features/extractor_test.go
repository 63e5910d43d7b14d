package features_test

import (
	"cmp"
	"github.com/vigilsec/vigil/internal/benchutil"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/vigilsec/vigil/features"
	"github.com/vigilsec/vigil/features/synth"
	"github.com/vigilsec/vigil/trace"
	"github.com/vigilsec/vigil/trace/tracetest"
)

func online(t *testing.T, cfg features.Config, events []trace.Event, each func(x *features.Extractor, i int)) []*features.Window {
	t.Helper()
	var out []*features.Window
	x, err := features.NewExtractor(cfg, func(w *features.Window) { out = append(out, w) })
	if err != nil {
		t.Fatal(err)
	}
	for i := range events {
		ev := events[i] // the agent hands over a reused buffer; copy like it
		x.Add(&ev)
		if each != nil {
			each(x, i)
		}
	}
	x.Flush()
	features.SortWindows(out)
	return out
}

// TestParity: the offline path (one sorted batch) and the online path (event
// at a time, workloads interleaved in a different order, idle timer firing)
// must build identical windows.
func TestParity(t *testing.T) {
	events, _ := synth.Generate(synth.Options{Seed: 1, Minutes: 15, Sequence: true, AttackEvery: 4})
	check := func(name string, cfg features.Config, mixed []trace.Event, each func(x *features.Extractor, i int)) {
		t.Helper()
		offline, st, err := features.Extract(cfg, events)
		if err != nil {
			t.Fatal(err)
		}
		if st.Late != 0 || len(offline) < 60 {
			t.Fatalf("offline: %d windows, %d late", len(offline), st.Late)
		}
		if each == nil && reflect.DeepEqual(mixed, events) {
			t.Fatalf("%s: interleaving did not change the order; the test would prove nothing", name)
		}
		got := online(t, cfg, mixed, each)
		if !reflect.DeepEqual(offline, got) {
			t.Fatalf("%s: online windows differ from offline: %d vs %d windows", name, len(got), len(offline))
		}
	}

	byStream := map[string][]trace.Event{}
	var order []string
	for _, e := range events {
		k := features.WorkloadOf(&e) + "\x00" + features.InstanceOf(&e)
		if _, ok := byStream[k]; !ok {
			order = append(order, k)
		}
		byStream[k] = append(byStream[k], e)
	}

	// Streams delivered with a per-source delay (agents, buffers): each
	// stream stays in order, streams are skewed by up to 3 s.
	r := rand.New(rand.NewPCG(7, 7))
	delay := map[string]int64{}
	for _, k := range order {
		delay[k] = r.Int64N(int64(3 * time.Second))
	}
	skewed := slices.Clone(events)
	slices.SortStableFunc(skewed, func(a, b trace.Event) int {
		da := a.Time + delay[features.WorkloadOf(&a)+"\x00"+features.InstanceOf(&a)]
		db := b.Time + delay[features.WorkloadOf(&b)+"\x00"+features.InstanceOf(&b)]
		return cmp.Compare(da, db)
	})
	check("skewed sources", features.Config{}, skewed, nil)

	// Arbitrary interleaving of whole streams (the idle sweep, which relies
	// on sources being roughly in time, is pushed out of the way).
	var mixed []trace.Event
	for len(order) > 0 {
		i := r.IntN(len(order))
		k := order[i]
		n := min(1+r.IntN(50), len(byStream[k]))
		mixed = append(mixed, byStream[k][:n]...)
		byStream[k] = byStream[k][n:]
		if len(byStream[k]) == 0 {
			order = append(order[:i], order[i+1:]...)
		}
	}
	check("random interleaving", features.Config{Idle: 24 * time.Hour}, mixed, nil)

	// Time-ordered feed with the agent's idle timer advancing the watermark.
	check("advance", features.Config{}, events, func(x *features.Extractor, i int) {
		if i%1000 == 0 {
			x.Advance(events[i].Time - int64(features.DefaultLateness))
		}
	})
}

// TestLateAfterClose: an event for a window the idle timer already closed
// is counted late and lands in the next window; no key is emitted twice.
func TestLateAfterClose(t *testing.T) {
	var out []*features.Window
	x, _ := features.NewExtractor(features.Config{}, func(w *features.Window) { out = append(out, w) })
	a, b, c := ev(10*time.Second, trace.KindOpen), ev(20*time.Second, trace.KindOpen), ev(70*time.Second, trace.KindOpen)
	x.Add(&a)
	x.Advance(int64(70 * time.Second))
	x.Add(&b)
	x.Add(&c)
	x.Flush()
	if len(out) != 2 || out[0].Start != 0 || out[1].Start != int64(time.Minute) || out[1].Late != 1 || out[1].Events != 2 || x.Stats().Late != 1 {
		for _, w := range out {
			t.Logf("window %d events %d late %d", w.Start, w.Events, w.Late)
		}
		t.Fatal("late event after close mishandled")
	}
}

// TestIdleStreamsForgotten: container churn must not grow the extractor.
func TestIdleStreamsForgotten(t *testing.T) {
	var es []trace.Event
	for c := 0; c < 50; c++ {
		for i := 0; i < 10; i++ {
			e := ev(time.Duration(c)*time.Minute+time.Duration(i)*time.Second, trace.KindOpen)
			e.ContainerID = "c" + string(rune('A'+c))
			e.Path = "/x"
			es = append(es, e)
		}
		x := es[len(es)-1]
		x.Kind = trace.KindExit
		es = append(es, x)
	}
	x, _ := features.NewExtractor(features.Config{}, func(*features.Window) {})
	for i := range es {
		x.Add(&es[i])
	}
	if st := x.Stats(); st.Streams > 7 || st.Windows < 40 {
		t.Fatalf("after 50 short-lived containers: %d streams open, %d windows closed", st.Streams, st.Windows)
	}
}

func ev(t time.Duration, kind trace.Kind) trace.Event {
	return trace.Event{Time: int64(t), Kind: kind, Workload: "w", ContainerID: "c1", ProcUUID: "p1", PID: 1, TID: 1, ExePath: "/bin/app"}
}

func TestWindowContents(t *testing.T) {
	base := 1000 * time.Hour
	var es []trace.Event
	e := ev(base+time.Second, trace.KindExec)
	e.ProcUUID, e.ParentUUID, e.ExePath = "p2", "p1", "/bin/sh"
	parent := ev(base, trace.KindFork)
	es = append(es, parent, e)
	o := ev(base+2*time.Second, trace.KindOpen)
	o.Path, o.Flags = "/etc/passwd", 0
	es = append(es, o)
	o.Time, o.Path, o.Flags = int64(base+3*time.Second), "/tmp/x", 0x41
	es = append(es, o)
	c := ev(base+4*time.Second, trace.KindConnect)
	c.NetFamily, c.NetProto, c.DstAddr, c.DstPort = trace.FamilyInet6, 6, "fd00::1", 443
	es = append(es, c)
	d := ev(base+5*time.Second, trace.KindDNS)
	d.DNSName = "Example.COM."
	d2 := d
	d2.DNSName = "example.com"
	es = append(es, d, d2)
	l := ev(base+6*time.Second, trace.KindListen)
	l.NetProto, l.SrcPort = 6, 8080
	es = append(es, l)
	for i, nr := range []int32{0, 1, 0, 1} {
		s := ev(base+7*time.Second+time.Duration(i), trace.KindSyscall)
		s.Syscall = nr
		es = append(es, s)
	}
	// Next window; the event at 30 s arrives within the lateness allowance.
	es = append(es, ev(base+61*time.Second, trace.KindExit), ev(base+30*time.Second, trace.KindExit), ev(base+70*time.Second, trace.KindExit))

	ws, st, err := features.Extract(features.Config{NGram: 2}, es)
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 2 {
		t.Fatalf("got %d windows, want 2", len(ws))
	}
	w := ws[0]
	if st.Late != 0 || w.Events != 13 || ws[1].Events != 2 {
		t.Fatalf("events %d/%d late %d", w.Events, ws[1].Events, st.Late)
	}
	want := map[string]bool{
		"exe=/bin/sh": true, "exec_pair=/bin/app -> /bin/sh": true, "file_read=/etc/passwd": true,
		"file_write=/tmp/x": true, "net_dst=[fd00::1]:443": true, "dns=example.com": true,
		"listen=tcp/8080": true, "syscall=0": true, "syscall=1": true,
	}
	for _, it := range w.Items {
		k := it.Cat.String() + "=" + it.Value
		if !want[k] {
			t.Errorf("unexpected item %s", k)
		}
		delete(want, k)
		if k == "dns=example.com" && it.Count != 2 {
			t.Errorf("dns count %d, want 2 (case and trailing dot merged)", it.Count)
		}
	}
	for k := range want {
		t.Errorf("missing item %s", k)
	}
	// n=2 grams on thread p1/1: BOS 0, 0 1, 1 0, 0 1.
	grams := map[uint64]int64{}
	for _, g := range w.NGrams {
		grams[g.Gram] = g.Count
	}
	if grams[features.PackNGram(features.SymBOS, 0)] != 1 || grams[features.PackNGram(0, 1)] != 2 || grams[features.PackNGram(1, 0)] != 1 || len(grams) != 3 {
		t.Fatalf("ngrams %v", grams)
	}

	// A late event: window 0 is closed once the stream passes 65 s.
	es = append(es, ev(base+10*time.Second, trace.KindExit))
	ws, st, _ = features.Extract(features.Config{}, es)
	if st.Late != 1 || ws[1].Late != 1 {
		t.Fatalf("late: stats %d, window %d", st.Late, ws[1].Late)
	}
}

func BenchmarkExtract(b *testing.B) {
	for _, seq := range []bool{false, true} {
		name := "events"
		if seq {
			name = "sequence"
		}
		b.Run(name, func(b *testing.B) {
			events, _ := synth.Generate(synth.Options{Seed: 3, Minutes: 30, Sequence: seq})
			benchExtract(b, events)
		})
	}
}

// BenchmarkExtractMix is BenchmarkExtract on the lake's realistic mix
// (trace/tracetest: six ECS workloads, a long tail of temp and hashed file
// names, varied argv and destinations), with equal strings shared as the
// lake decodes them.
func BenchmarkExtractMix(b *testing.B) {
	events := tracetest.Events(7, 200_000, int64(6*time.Millisecond))
	synth.Intern(events)
	benchExtract(b, events)
}

func benchExtract(b *testing.B, events []trace.Event) {
	x, _ := features.NewExtractor(features.Config{}, func(*features.Window) {})
	b.ReportAllocs()
	b.ResetTimer()
	cpu := benchutil.StartCPU()
	n := 0
	for b.Loop() {
		for i := range events {
			x.Add(&events[i])
		}
		x.Flush()
		n += len(events)
	}
	cpu.Report(b, float64(n), "events")
}

// TestReuseAfterFlush: an extractor flushed at the end of one stream builds
// the same windows again from the same events.
func TestReuseAfterFlush(t *testing.T) {
	events, _ := synth.Generate(synth.Options{Seed: 2, Minutes: 5, Sequence: true})
	var out [][]*features.Window
	var cur []*features.Window
	x, _ := features.NewExtractor(features.Config{}, func(w *features.Window) { cur = append(cur, w) })
	for range 2 {
		cur = nil
		for i := range events {
			x.Add(&events[i])
		}
		x.Flush()
		features.SortWindows(cur)
		out = append(out, cur)
	}
	if len(out[0]) < 10 || !reflect.DeepEqual(out[0], out[1]) {
		t.Fatalf("second pass after Flush: %d windows, first %d", len(out[1]), len(out[0]))
	}
}

// TestRecycle: windows built in recycled memory are the windows a fresh
// extractor builds, whatever the recycled windows held before (more or
// fewer items and processes, n-grams or none).
func TestRecycle(t *testing.T) {
	start := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	var events []trace.Event
	for k, seq := range []bool{false, true, false, true} {
		evs, _ := synth.Generate(synth.Options{Seed: uint64(10 + k), Minutes: 6, Sequence: seq, AttackEvery: 2 + k,
			Start: start.Add(time.Duration(k) * 6 * time.Minute)})
		events = append(events, evs...)
	}
	want, _, err := features.Extract(features.Config{}, events)
	if err != nil {
		t.Fatal(err)
	}
	var got []*features.Window
	var x *features.Extractor
	x, err = features.NewExtractor(features.Config{}, func(w *features.Window) {
		got = append(got, cloneWindow(w))
		x.Recycle(w)
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range events {
		x.Add(&events[i])
	}
	x.Flush()
	features.SortWindows(got)
	if len(want) < 40 || !reflect.DeepEqual(got, want) {
		t.Fatalf("recycling changed the windows (%d vs %d)", len(got), len(want))
	}
}

// cloneWindow copies w and everything it holds, keeping nil slices nil.
func cloneWindow(w *features.Window) *features.Window {
	c := *w
	c.Kinds = slices.Clone(w.Kinds)
	c.Items = slices.Clone(w.Items)
	c.NGrams = slices.Clone(w.NGrams)
	c.Procs = slices.Clone(w.Procs)
	for i := range c.Procs {
		c.Procs[i].Kinds = slices.Clone(c.Procs[i].Kinds)
	}
	return &c
}
