package runner_test

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/datasets"
	"github.com/vigilsec/vigil/datasets/dockerapi"
	"github.com/vigilsec/vigil/datasets/image"
	"github.com/vigilsec/vigil/datasets/label"
	"github.com/vigilsec/vigil/datasets/runner"
	"github.com/vigilsec/vigil/internal/dockertest"
	"github.com/vigilsec/vigil/trace"
	"github.com/vigilsec/vigil/trace/lake"
)

var env struct {
	dockerOnce, bpfOnce sync.Once
	dc                  *dockerapi.Client
	ref                 string
	dockerErr           error
	capture             *runner.Capture
	bpfErr              error
}

// dockerEnv builds the scenario image once for all tests.
func dockerEnv(t *testing.T) {
	t.Helper()
	dockertest.Require(t)
	env.dockerOnce.Do(func() {
		if env.dc, env.dockerErr = dockerapi.New(); env.dockerErr != nil {
			return
		}
		env.ref, env.dockerErr = image.Build(context.Background(), env.dc, image.Options{})
	})
	if env.dockerErr != nil {
		t.Fatal(env.dockerErr)
	}
}

// setup also loads the collector, once: both cost seconds.
func setup(t *testing.T) {
	t.Helper()
	dockerEnv(t)
	env.bpfOnce.Do(func() {
		env.capture, env.bpfErr = runner.NewCollector(context.Background(), slog.Default())
	})
	if env.bpfErr != nil {
		if os.Getenv("VIGIL_REQUIRE_BPF") != "1" {
			t.Skipf("collector unavailable (set VIGIL_REQUIRE_BPF=1 to fail instead): %v", env.bpfErr)
		}
		t.Fatal(env.bpfErr)
	}
}

func bootID(t *testing.T) string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestScenarios runs a short version of every scenario of the library with
// the real collector, and checks that the events that define it are in the
// lake, from the labelled processes, at the labelled time.
func TestScenarios(t *testing.T) {
	setup(t)
	lib, err := datasets.Library()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	root := t.TempDir()
	l, err := lake.Open(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	w, err := l.NewWriter(lake.WriterConfig{Host: "scenario-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	names := lib.Names()
	if testing.Short() {
		names = []string{"web-service", "reverse-shell-nc"}
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			s, err := lib.Resolve(name)
			if err != nil {
				t.Fatal(err)
			}
			cfg := runner.Config{Docker: env.dc, Image: env.ref, Seed: 7, Duration: 3 * time.Second,
				Source: env.capture, Sink: w.Write, Labels: l.Store(), Host: "scenario-test", BootID: bootID(t)}
			res, err := runner.Run(ctx, cfg, s)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			lbl := res.Label
			// Nothing of the run may be left behind.
			if left, err := env.dc.ListContainers(ctx, runner.LabelRun+"="+lbl.RunID); err != nil || len(left) > 0 {
				t.Errorf("%d containers of run %s left (%v)", len(left), lbl.RunID, err)
			}
			// The label must be in the lake, as written.
			got, err := label.List(ctx, l.Store())
			if err != nil {
				t.Fatal(err)
			}
			var stored *label.Run
			for _, g := range got {
				if g.RunID == lbl.RunID {
					stored = g
				}
			}
			if stored == nil {
				t.Fatalf("label %s not in the lake", lbl.Key())
			}
			events, err := runner.RunEvents(ctx, l, stored)
			if err != nil {
				t.Fatal(err)
			}
			if len(events) == 0 {
				t.Fatalf("no events of the run's containers in the lake (%d captured)", res.Captured)
			}
			// The task's containers (the pause container too) are
			// attributed to the task; the remote hosts' container, which
			// runs the DNS server and the scenario's infra servers, is
			// outside it: the collector must give it no task.
			remote := ""
			for _, c := range stored.Containers {
				if c.Role == label.RoleInfra {
					remote = c.ID
				}
			}
			if remote == "" || len(stored.Containers) != len(s.Containers)+2 {
				t.Fatalf("label containers %+v: want the pause container, the remote hosts' and the scenario's %d", stored.Containers, len(s.Containers))
			}
			remoteEvents, taskWrong := 0, false
			for _, e := range events {
				if strings.HasPrefix(remote, e.ContainerID) {
					remoteEvents++
					if e.TaskARN != "" || e.TaskFamily != "" || e.Cluster != "" || strings.HasPrefix(e.Workload, s.Task.Family+"/") {
						t.Errorf("remote hosts' event %s of pid %d attributed to task %q/%q/%q (workload %q)", e.Kind, e.PID, e.Cluster, e.TaskFamily, e.TaskARN, e.Workload)
						break
					}
					continue
				}
				if !taskWrong && (e.TaskARN != stored.TaskARN || e.Cluster != s.Task.Cluster || e.TaskFamily != s.Task.Family) {
					t.Errorf("event %s of pid %d attributed to task %q/%q/%q, want %q", e.Kind, e.PID, e.Cluster, e.TaskFamily, e.TaskARN, stored.TaskARN)
					taskWrong = true
				}
			}
			if remoteEvents == 0 {
				t.Errorf("no event of the remote hosts' container %.12s: its vsim starts there at least", remote)
			}
			check := s
			if gone := runner.Unobservable(s, env.capture.Stats().Missing); len(gone) > 0 {
				t.Logf("this kernel cannot show %v events; not expecting them", gone)
				check = runner.WithoutKinds(s, gone)
			}
			for _, p := range runner.Check(check, stored, events) {
				t.Error(p)
			}
			if t.Failed() && stored.Attack == nil {
				for i, e := range events {
					if i < 200 && (e.Kind == "connect" || e.Kind == "exec" || e.Kind == "dns") {
						t.Logf("%s %s pid=%d cid=%.12s comm=%q argv=%q dst=%s:%d dns=%q ret=%d", time.Unix(0, e.Time).UTC().Format("15:04:05.000"), e.Kind, e.PID, e.ContainerID, e.Comm, e.Argv, e.DstAddr, e.DstPort, e.DNSName, e.Ret)
					}
				}
				t.Logf("label %s..%s containers %+v captured %d scanned %d notes %q", stored.Start, stored.End, stored.Containers, res.Captured, len(events), stored.Notes)
			}
			if t.Failed() && stored.Attack != nil {
				t.Logf("label: %+v", stored.Attack)
				n := 0
				for _, e := range events {
					if e.Time >= stored.Attack.Start.UnixNano()-5e7 && e.Time <= stored.Attack.End.UnixNano()+1e9 && strings.HasPrefix(stored.Attack.ContainerID, e.ContainerID) && n < 80 {
						n++
						t.Logf("%s pid=%d comm=%q exe=%q argv=%q path=%q new=%q dst=%s:%d dns=%q ret=%d uuid=%.8s parent=%.8s", e.Kind, e.PID, e.Comm, e.ExePath, e.Argv, e.Path, e.NewPath, e.DstAddr, e.DstPort, e.DNSName, e.Ret, e.ProcUUID, e.ParentUUID)
					}
				}
			}
		})
	}
}

// TestParallelSequenceRuns runs two scenarios at once on one shared
// sequence-mode collector: each run must get its own containers' events,
// syscall sequences included, and nothing of the other's.
func TestParallelSequenceRuns(t *testing.T) {
	dockerEnv(t)
	ctx := context.Background()
	c, err := runner.NewSequenceCollector(ctx, slog.Default())
	if err != nil {
		if os.Getenv("VIGIL_REQUIRE_BPF") != "1" {
			t.Skipf("collector unavailable (set VIGIL_REQUIRE_BPF=1 to fail instead): %v", err)
		}
		t.Fatal(err)
	}
	defer c.Close()
	shared := runner.Share(ctx, c)
	defer shared.Close()
	lib, err := datasets.Library()
	if err != nil {
		t.Fatal(err)
	}
	l, err := lake.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	w, err := l.NewWriter(lake.WriterConfig{Host: "parallel-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	names := []string{"kv-store", "ops-cron"}
	labels := make([]*label.Run, len(names))
	var g sync.WaitGroup
	for i, name := range names {
		s, err := lib.Resolve(name)
		if err != nil {
			t.Fatal(err)
		}
		g.Add(1)
		go func() {
			defer g.Done()
			cfg := runner.Config{Docker: env.dc, Image: env.ref, Seed: 7, Duration: 4 * time.Second, Source: shared,
				Sink: w.Write, Labels: l.Store(), Host: "parallel-test", BootID: bootID(t), Sequence: true}
			res, err := runner.Run(ctx, cfg, s)
			if err != nil {
				t.Error(err)
				return
			}
			labels[i] = res.Label
		}()
	}
	g.Wait()
	if t.Failed() {
		return
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	for i, lbl := range labels {
		events, err := runner.RunEvents(ctx, l, lbl)
		if err != nil {
			t.Fatal(err)
		}
		syscalls := 0
		infra := lbl.InfraIDs()
		for _, e := range events {
			if len(infra) == 1 && strings.HasPrefix(infra[0], e.ContainerID) {
				if e.TaskARN != "" {
					t.Errorf("%s: remote hosts' event %s of pid %d from task %q", names[i], e.Kind, e.PID, e.TaskARN)
					break
				}
				continue
			}
			if e.TaskARN != lbl.TaskARN {
				t.Errorf("%s: event %s of pid %d from task %q", names[i], e.Kind, e.PID, e.TaskARN)
				break
			}
			if e.Kind == trace.KindSyscall {
				syscalls++
			}
		}
		// A few seconds of a Go program and a shell: thousands of syscalls.
		if syscalls < 100 {
			t.Errorf("%s: %d syscall events of %d, want the containers' sequences", names[i], syscalls, len(events))
		}
		if len(lbl.Notes) > 0 {
			t.Logf("%s notes: %q", names[i], lbl.Notes)
		}
	}
}
