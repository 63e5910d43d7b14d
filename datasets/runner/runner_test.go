package runner_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/datasets"
	"github.com/vigilsec/vigil/datasets/dockerapi"
	"github.com/vigilsec/vigil/datasets/label"
	"github.com/vigilsec/vigil/datasets/runner"
	"github.com/vigilsec/vigil/datasets/scenario"
	"github.com/vigilsec/vigil/internal/blob"
	"github.com/vigilsec/vigil/trace"
)

func TestSeedDecides(t *testing.T) {
	lib, err := datasets.Library()
	if err != nil {
		t.Fatal(err)
	}
	s, _ := lib.Resolve("reverse-shell-nc")
	d := time.Minute
	a, b, c := runner.AttackOffset(s, 1, d), runner.AttackOffset(s, 1, d), runner.AttackOffset(s, 2, d)
	if a != b || a == c {
		t.Errorf("attack offsets %v %v %v: same seed must agree, another seed differ", a, b, c)
	}
	if a < 18*time.Second || a > 36*time.Second {
		t.Errorf("attack at %v of %v, want within 30%%..60%%", a, d)
	}
	if runner.ContainerSeed(1, "web") != runner.ContainerSeed(1, "web") || runner.ContainerSeed(1, "web") == runner.ContainerSeed(1, "loadgen") {
		t.Error("container seeds must follow the run seed and differ between containers")
	}
}

// leftovers counts containers of a scenario (by name: other runs, e.g. a
// demo, may be running scenarios at the same time).
func leftovers(t *testing.T, scenario string) int {
	t.Helper()
	cs, err := env.dc.ListContainers(context.Background(), runner.LabelScenario+"="+scenario)
	if err != nil {
		t.Fatal(err)
	}
	return len(cs)
}

// A run that fails half-way removes what it made.
func TestCleanupOnFailure(t *testing.T) {
	dockerEnv(t)
	s, err := scenario.Parse("broken.yaml", []byte(`name: broken
kind: attack
description: the second container exits at once, the run must fail and clean up
task: {cluster: test, family: broken, revision: 1}
containers:
  - name: ok
    command: [vsim, kv]
  - name: dies
    command: [sh, -c, "exit 3"]
attack:
  id: never
  container: ok
  findings: [Execution:Runtime/ReverseShell]
  steps:
    - run: id
  expect:
    - kind: exec
`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = runner.Run(context.Background(), runner.Config{Docker: env.dc, Image: env.ref, Seed: 1, Duration: 2 * time.Second}, s)
	if err == nil || !strings.Contains(err.Error(), "container dies exited at start (code 3)") {
		t.Fatalf("error %v", err)
	}
	if n := leftovers(t, "broken"); n != 0 {
		t.Errorf("%d containers left after a failed run", n)
	}
}

// Ctrl-C (a cancelled context) in the middle of a run removes everything too.
func TestCleanupOnCancel(t *testing.T) {
	dockerEnv(t)
	lib, err := datasets.Library()
	if err != nil {
		t.Fatal(err)
	}
	kv, _ := lib.Resolve("kv-store")
	s := *kv
	s.Name = "kv-store-cancel-test"
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := runner.Run(ctx, runner.Config{Docker: env.dc, Image: env.ref, Seed: 1, Duration: time.Minute}, &s)
		done <- err
	}()
	// Cancel once the task is up.
	deadline := time.Now().Add(30 * time.Second)
	for leftovers(t, s.Name) < 3 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "context canceled") {
			t.Errorf("error %v, want context canceled", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("run did not stop after cancel")
	}
	if n := leftovers(t, s.Name); n != 0 {
		t.Errorf("%d containers left after cancel", n)
	}
}

// A cleanup of leftovers spares the runs of live processes and removes those
// whose owner is gone.
func TestCleanupLeftoversSparesLiveRuns(t *testing.T) {
	dockerEnv(t)
	ctx := context.Background()
	mk := func(name, owner string) string {
		id, err := env.dc.CreateContainer(ctx, name, &dockerapi.ContainerConfig{
			Image: env.ref, Cmd: []string{"/usr/local/bin/vsim", "pause", "-for", "30s"},
			Labels:     map[string]string{runner.LabelRun: name, runner.LabelScenario: "cleanup-test", runner.LabelOwner: owner},
			HostConfig: dockerapi.HostConfig{NetworkMode: "none"},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { env.dc.RemoveContainer(context.Background(), id) })
		return id
	}
	live := mk("vigil-cleanup-live", liveOwner(t))
	mk("vigil-cleanup-dead", "00000000-0000-0000-0000-000000000000/1/1")
	mk("vigil-cleanup-unlabelled", "")
	if err := runner.Cleanup(ctx, env.dc, ""); err != nil {
		t.Fatal(err)
	}
	left, err := env.dc.ListContainers(ctx, runner.LabelScenario+"=cleanup-test")
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 || left[0].ID != live {
		t.Errorf("left %+v, want only the live run's container", left)
	}
}

func liveOwner(t *testing.T) string {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return bootID(t) + "/" + strconv.Itoa(os.Getpid()) + "/" + f[19]
}

// A run whose attack fails still labels what it left in the lake, so the
// attack's events are never taken for benign ones.
func TestFailedRunIsLabelled(t *testing.T) {
	dockerEnv(t)
	s, err := scenario.Parse("attack-fails.yaml", []byte(`name: attack-fails
kind: attack
description: the attack's step fails half-way
task: {cluster: test, family: fails, revision: 1}
containers:
  - name: app
    command: [vsim, kv]
attack:
  id: fails
  container: app
  findings: [Execution:Runtime/ReverseShell]
  at: 0.1
  steps:
    - run: [id]
    - run: [sh, -c, "exit 4"]
  expect:
    - kind: exec
`))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	store, err := blob.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	_, err = runner.Run(ctx, runner.Config{Docker: env.dc, Image: env.ref, Seed: 1, Duration: 3 * time.Second, Labels: store}, s)
	if err == nil || !strings.Contains(err.Error(), "exited 4") {
		t.Fatalf("error %v, want the failed step", err)
	}
	runs, err := label.List(ctx, store)
	if err != nil || len(runs) != 1 {
		t.Fatalf("labels %v, %v: want the failed run's", runs, err)
	}
	r := runs[0]
	if !strings.Contains(r.Failed, "exited 4") || r.End.IsZero() {
		t.Errorf("label failed %q end %v", r.Failed, r.End)
	}
	if a := r.Attack; a == nil || a.Start.IsZero() || a.End.Before(a.Start) || len(a.Processes) != 2 {
		t.Errorf("attack of the failed run: %+v", a)
	}
}

// Check refuses a run whose remote hosts' container was attributed to the
// ECS task: its servers would then count as the task's workload.
func TestCheckRemoteOutsideTask(t *testing.T) {
	start := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	remote, web := strings.Repeat("a", 64), strings.Repeat("b", 64)
	lbl := &label.Run{Start: start, End: start.Add(time.Minute), TaskARN: "arn:aws:ecs:us-east-1:000000000000:task/c/1",
		Containers: []label.Container{
			{Name: scenario.PauseContainer, ID: strings.Repeat("c", 64), Role: label.RolePause},
			{Name: scenario.InfraContainer, ID: remote, Role: label.RoleInfra},
			{Name: "web", ID: web, Role: label.RoleWorkload},
		}}
	s := &scenario.Scenario{Name: "t", File: "t.yaml"}
	at := start.Add(time.Second).UnixNano()
	ok := []trace.Event{
		{Time: at, Kind: trace.KindExec, PID: 5, ContainerID: remote[:12], Workload: "vigil-scenario"},
		{Time: at, Kind: trace.KindExec, PID: 6, ContainerID: web, TaskARN: lbl.TaskARN, TaskFamily: "f", Workload: "f/web"},
	}
	if p := runner.Check(s, lbl, ok); len(p) != 0 {
		t.Errorf("remote hosts outside the task: %q", p)
	}
	bad := append(ok, trace.Event{Time: at, Kind: trace.KindConnect, PID: 7, ContainerID: remote, TaskARN: lbl.TaskARN, TaskFamily: "f"})
	p := runner.Check(s, lbl, bad)
	if len(p) != 1 || !strings.Contains(p[0], "remote hosts' container aaaaaaaaaaaa: event connect of pid 7 attributed to ECS task") {
		t.Errorf("remote hosts in the task: %q", p)
	}
}
