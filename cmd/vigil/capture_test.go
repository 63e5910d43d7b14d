package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/trace"
	"github.com/vigilsec/vigil/trace/lake"
)

// TestCaptureCommand runs `vigil capture` for real (root and BPF) on a
// hand-made cgroup and checks the summary and the lake it wrote.
func TestCaptureCommand(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("VIGIL_REQUIRE_BPF") == "1" {
			t.Fatal("BPF required (VIGIL_REQUIRE_BPF=1): not root")
		}
		t.Skip("needs root for BPF (set VIGIL_REQUIRE_BPF=1 to fail instead)")
	}
	if out, err := runVigil(t, "capture", "--out", t.TempDir(), "--sequence"); err == nil ||
		!strings.Contains(err.Error(), "--container or --cgroup") {
		t.Errorf("--sequence without a target: %v %s", err, out)
	}

	v2 := "/sys/fs/cgroup/unified"
	if _, err := os.Stat(v2 + "/cgroup.procs"); err != nil {
		v2 = "/sys/fs/cgroup"
	}
	cg, err := os.MkdirTemp(v2, "vigil-capture-cmd-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(cg)
	// A shell in the cgroup that execs known processes for a while (loading
	// the programs takes a few seconds on a busy machine).
	sh := exec.Command("/bin/sh", "-c", "echo $$ > "+cg+"/cgroup.procs; i=0; while [ $i -lt 30 ]; do /bin/true one; /bin/true two; sleep 0.5; i=$((i+1)); done")
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sh.Process.Kill(); sh.Wait() }()

	root := t.TempDir()
	out, err := runVigil(t, "capture", "--out", root, "--duration", "6s", "--cgroup", cg)
	if err != nil {
		if os.Getenv("VIGIL_REQUIRE_BPF") != "1" && strings.Contains(err.Error(), "BPF") {
			t.Skipf("BPF not available: %v", err)
		}
		t.Fatalf("capture: %v\n%s", err, out)
	}
	t.Log("\n" + out)
	for _, want := range []string{"events:", "exec ", "drops: ring 0", "0 lost"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q", want)
		}
	}
	l, err := lake.Open(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var argv []string
	err = l.Scan(context.Background(), lake.Query{Kinds: []trace.Kind{trace.KindExec}}, func(e *trace.Event) error {
		if e.PID != int32(sh.Process.Pid) && e.PPID != int32(sh.Process.Pid) {
			t.Errorf("exec outside the cgroup: %+v", e)
		}
		argv = append(argv, strings.Join(e.Argv, " "))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(argv, "|")
	if !strings.Contains(got, "/bin/true one") || !strings.Contains(got, "/bin/true two") {
		t.Errorf("execs in the lake: %q", got)
	}
}
