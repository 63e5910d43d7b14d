package scorer

import (
	"fmt"
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
