package proc_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/collector"
	"github.com/vigilsec/vigil/collector/proc"
	"github.com/vigilsec/vigil/trace"
)

// TestLineageThroughBPF runs the real collector with the table: a shell the
// test starts forks and execs sleep; the sleep's events must carry its uuid,
// its parent's (the shell's) uuid, its exe path and, by its exit, its hash,
// and the table's lineage must lead back to the test process.
func TestLineageThroughBPF(t *testing.T) {
	tb := proc.NewTable(proc.Config{})
	defer tb.Close()
	c, err := collector.New(collector.Config{ExcludeSelf: true, Procs: tb})
	if err != nil {
		if os.Getenv("VIGIL_REQUIRE_BPF") == "1" {
			t.Fatalf("BPF required (VIGIL_REQUIRE_BPF=1): %v", err)
		}
		t.Skipf("BPF not available (set VIGIL_REQUIRE_BPF=1 to fail instead): %v", err)
	}
	defer c.Close()
	if err := tb.Seed(); err != nil {
		t.Fatal(err)
	}
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	var (
		mu     sync.Mutex
		events []trace.Event
		shell  int32
	)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- c.Run(ctx, func(e *trace.Event) {
			if e.Kind != trace.KindExec && e.Kind != trace.KindExit && e.Kind != trace.KindFork {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if e.PID == shell || e.PPID == shell {
				events = append(events, *e)
			}
		})
	}()
	cmd := exec.Command("/bin/sh", "-c", sleep+" 1; exit 7")
	mu.Lock()
	if err := cmd.Start(); err != nil {
		mu.Unlock()
		t.Fatal(err)
	}
	shell = int32(cmd.Process.Pid)
	mu.Unlock()
	cmd.Wait()
	time.Sleep(300 * time.Millisecond) // let the ring drain
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	defer mu.Unlock()
	var fork, sleepExec, sleepExit, shellExit *trace.Event
	for i := range events {
		e := &events[i]
		switch {
		case e.Kind == trace.KindFork && e.PID == shell:
			fork = e
		case e.Kind == trace.KindExec && e.PPID == shell && e.Path == sleep:
			sleepExec = e
		case e.Kind == trace.KindExit && e.PPID == shell:
			sleepExit = e
		case e.Kind == trace.KindExit && e.PID == shell:
			shellExit = e
		}
	}
	if fork == nil || sleepExec == nil || sleepExit == nil || shellExit == nil {
		t.Fatalf("missing events (fork %v, exec %v, exit %v, shell exit %v) in %d: %+v", fork != nil, sleepExec != nil, sleepExit != nil, shellExit != nil, len(events), events)
	}
	self, ok := tb.Get(int32(os.Getpid()))
	if !ok {
		t.Fatal("test process not in the table")
	}
	shellUUID := fork.ProcUUID
	if shellUUID == "" || fork.ParentUUID != self.UUID {
		t.Errorf("shell uuid %q parent %q, want parent %q", shellUUID, fork.ParentUUID, self.UUID)
	}
	if sleepExec.ParentUUID != shellUUID || sleepExec.ProcUUID == "" || sleepExec.ProcUUID == shellUUID {
		t.Errorf("sleep exec uuid %q parent %q (shell %q)", sleepExec.ProcUUID, sleepExec.ParentUUID, shellUUID)
	}
	if sleepExec.ExePath != sleep || sleepExec.Argv[1] != "1" {
		t.Errorf("sleep exec exe %q argv %q", sleepExec.ExePath, sleepExec.Argv)
	}
	b, _ := os.ReadFile(sleep)
	sum := sha256.Sum256(b)
	if sleepExit.ProcUUID != sleepExec.ProcUUID || sleepExit.ExeSHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("sleep exit uuid %q sha %q", sleepExit.ProcUUID, sleepExit.ExeSHA256)
	}
	if shellExit.Ret != 7 || shellExit.ProcUUID != shellUUID {
		t.Errorf("shell exit code %d uuid %q", shellExit.Ret, shellExit.ProcUUID)
	}
	// After the exits, the table still knows the chain (grace period).
	lin := tb.Lineage(sleepExec.PID)
	if len(lin) < 3 || lin[0].UUID != sleepExec.ProcUUID || lin[1].UUID != shellUUID || lin[2].UUID != self.UUID || !lin[0].Exited {
		t.Errorf("lineage %+v", lin)
	}
	t.Logf("stats %+v", tb.Stats())
}
