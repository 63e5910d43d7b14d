package scorer

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/vigilsec/vigil/scorer/finding"
	"github.com/vigilsec/vigil/trace"
)

// TestStateIsBounded: per-workload, per-process and per-container state stay
// under their caps however many workloads and processes pass, and what was
// forgotten is counted.
func TestStateIsBounded(t *testing.T) {
	e, err := New(Config{MaxWorkloads: 10, MaxProcs: 100, MaxWrittenPaths: 50}, nil, nil, SinkFunc(func(*finding.Finding, bool) {}))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5000; i++ {
		ev := trace.Event{Time: base + int64(i), Kind: trace.KindOpen, PID: int32(i), ProcUUID: fmt.Sprint("p", i),
			ContainerID: fmt.Sprint("c", i%200), TaskFamily: fmt.Sprint("fam", i%100), ContainerName: "app",
			Path: fmt.Sprint("/tmp/f", i), Flags: oWrite | oCreat}
		e.Process(&ev)
	}
	cov, st := e.Coverage(), e.Stats()
	if cov.Workloads > 10 || st.WorkloadsEvicted == 0 {
		t.Errorf("workloads %d, evicted %d", cov.Workloads, st.WorkloadsEvicted)
	}
	if st.Processes > 100 || st.ProcsEvicted == 0 {
		t.Errorf("processes %d, evicted %d", st.Processes, st.ProcsEvicted)
	}
	for c, m := range e.written {
		if len(m) > 50 {
			t.Errorf("container %s remembers %d written paths", c, len(m))
		}
	}
	if len(e.written) > 40 || len(e.idents) > 10*200 {
		t.Errorf("written sets for %d containers, identities %d", len(e.written), len(e.idents))
	}
}

// TestWrittenPathsMatchPlainBookkeeping pins the engine's written-file
// bookkeeping (which skips a repeated write of the same path) to the plain
// rule: every write of a path inserts it into its container's set, a full
// set is emptied first, and all sets are dropped when too many containers
// have one.
func TestWrittenPathsMatchPlainBookkeeping(t *testing.T) {
	const maxPaths = 3
	e, err := New(Config{MaxWorkloads: 1, MaxWrittenPaths: maxPaths}, nil, nil, SinkFunc(func(*finding.Finding, bool) {}))
	if err != nil {
		t.Fatal(err)
	}
	ref := map[string]map[string]bool{}
	write := func(ctr, path string) {
		m := ref[ctr]
		if m == nil {
			if len(ref) >= 4 {
				clear(ref)
			}
			m = map[string]bool{}
			ref[ctr] = m
		}
		if len(m) >= maxPaths {
			clear(m)
		}
		m[path] = true
	}
	r := rand.New(rand.NewPCG(1, 1))
	for i := 0; i < 20000; i++ {
		ev := trace.Event{Time: base + int64(i), PID: 7, ProcUUID: "p7", TaskFamily: "web", ContainerName: "app",
			ContainerID: fmt.Sprint("c", r.IntN(6)), Path: fmt.Sprint("/tmp/f", r.IntN(5)), NewPath: fmt.Sprint("/tmp/g", r.IntN(2))}
		switch r.IntN(4) {
		case 0:
			ev.Kind, ev.Flags = trace.KindOpen, oWrite
			write(ev.ContainerID, ev.Path)
		case 1:
			ev.Kind = trace.KindRename
			write(ev.ContainerID, ev.NewPath)
		case 2:
			ev.Kind = trace.KindOpen // a read
		default:
			ev.Kind, ev.Flags, ev.Ret = trace.KindOpen, oCreat, -2 // failed
		}
		e.Process(&ev)
		if len(e.written) != len(ref) {
			t.Fatalf("event %d: written sets for %d containers, want %d", i, len(e.written), len(ref))
		}
		for c, m := range ref {
			if len(e.written[c]) != len(m) {
				t.Fatalf("event %d: container %s has %v, want %v", i, c, e.written[c], m)
			}
			for p := range m {
				if _, ok := e.written[c][p]; !ok {
					t.Fatalf("event %d: container %s has %v, want %v", i, c, e.written[c], m)
				}
			}
		}
	}
}

// TestContainerTrackingMatchesPlainBookkeeping pins the engine's record of
// workloads, their containers and container identities (which skips the
// maps for recently seen containers) to the plain rule, through workload
// evictions.
func TestContainerTrackingMatchesPlainBookkeeping(t *testing.T) {
	const maxWorkloads = 2
	e, err := New(Config{MaxWorkloads: maxWorkloads}, nil, nil, SinkFunc(func(*finding.Finding, bool) {}))
	if err != nil {
		t.Fatal(err)
	}
	type wl struct {
		ctrs     map[string]bool
		lastSeen int64
	}
	ref, idents := map[string]*wl{}, map[string]bool{}
	r := rand.New(rand.NewPCG(2, 2))
	for i := 0; i < 20000; i++ {
		ev := trace.Event{Time: base + int64(i), Kind: trace.KindOpen, PID: 7, ProcUUID: "p7", ContainerName: "app",
			TaskFamily: fmt.Sprint("fam", r.IntN(3)), ContainerID: fmt.Sprint("c", r.IntN(8))}
		if r.IntN(10) == 0 {
			ev.ContainerID = "" // the host
		}
		e.Process(&ev)
		if ev.ContainerID != "" {
			w := ref[ev.Workload]
			if w == nil {
				if len(ref) >= maxWorkloads {
					var oldest string
					for k, o := range ref {
						if oldest == "" || o.lastSeen < ref[oldest].lastSeen {
							oldest = k
						}
					}
					for c := range ref[oldest].ctrs {
						delete(idents, c)
					}
					delete(ref, oldest)
				}
				w = &wl{ctrs: map[string]bool{}}
				ref[ev.Workload] = w
			}
			if !w.ctrs[ev.ContainerID] {
				w.ctrs[ev.ContainerID], idents[ev.ContainerID] = true, true
			}
			w.lastSeen = ev.Time
		}
		if len(e.workloads) != len(ref) || len(e.idents) != len(idents) {
			t.Fatalf("event %d: %d workloads and %d identities, want %d and %d", i, len(e.workloads), len(e.idents), len(ref), len(idents))
		}
		for k, w := range ref {
			got := e.workloads[k]
			if got == nil || len(got.containers) != len(w.ctrs) || got.lastSeen != w.lastSeen {
				t.Fatalf("event %d: workload %s is %+v, want %+v", i, k, got, w)
			}
			for c := range w.ctrs {
				if _, ok := got.containers[c]; !ok {
					t.Fatalf("event %d: workload %s lacks container %s", i, k, c)
				}
			}
		}
		for c := range idents {
			if e.idents[c] == nil {
				t.Fatalf("event %d: no identity for container %s", i, c)
			}
		}
	}
}
