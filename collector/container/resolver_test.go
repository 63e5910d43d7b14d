package container

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/dockertest"
	"github.com/vigilsec/vigil/trace"
)

const (
	agentTask      = "0b5a6c1e2d3f40718293a4b5c6d7e8f9"
	agentContainer = "c0ffee00d00dfeedbeef0123456789abcdef0123456789abcdef0123456789ab"
	fargateTask    = "4f1e2d3c4b5a69788796a5b4c3d2e1f0"
	fargateID      = fargateTask + "-2531612879"
)

// serveFixtures serves testdata files at the given URL paths and counts hits.
func serveFixtures(t *testing.T, routes map[string]string) (*httptest.Server, *int) {
	t.Helper()
	hits := new(int)
	mux := http.NewServeMux()
	for p, file := range routes {
		body, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			*hits++
			w.Header().Set("Content-Type", "application/json")
			w.Write(body)
		})
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, hits
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to make cgroups")
	}
}

func requireV2(t *testing.T, r *Resolver) string {
	t.Helper()
	requireRoot(t)
	if r.Config().V2Root == "" {
		t.Skip("no cgroup2 mount")
	}
	return r.Config().V2Root
}

// makeCgroup creates rel under root and removes what it created when the test
// ends (after the test's processes are gone).
func makeCgroup(t *testing.T, root, rel string) string {
	t.Helper()
	var created []string
	p := root
	for _, c := range strings.Split(strings.Trim(rel, "/"), "/") {
		p = filepath.Join(p, c)
		if _, err := os.Stat(p); err == nil {
			continue
		}
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatalf("making cgroup: %v", err)
		}
		created = append(created, p)
	}
	t.Cleanup(func() {
		for i := len(created) - 1; i >= 0; i-- {
			for try := 0; ; try++ {
				err := os.Remove(created[i])
				if os.IsNotExist(err) {
					err = nil // the test removed it itself
				}
				if err == nil || try == 50 {
					if err != nil {
						t.Errorf("removing cgroup: %v", err)
					}
					break
				}
				time.Sleep(20 * time.Millisecond) // the killed process is still leaving
			}
		}
	})
	return p
}

// startIn starts a sleeping process and moves it into the cgroup dir.
func startIn(t *testing.T, dir string) int {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0); err != nil {
		t.Fatalf("moving pid %d into %s: %v", cmd.Process.Pid, dir, err)
	}
	return cmd.Process.Pid
}

// fillUntil fills events for k until done says the event is complete.
func fillUntil(t *testing.T, r *Resolver, k Key, done func(*trace.Event) bool) trace.Event {
	t.Helper()
	var e trace.Event
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		e = trace.Event{}
		r.Fill(&e, k)
		if done(&e) {
			return e
		}
		time.Sleep(10 * time.Millisecond)
	}
	inf, _ := r.Lookup(k)
	t.Fatalf("key %+v not resolved in time; last event %+v; info %+v; stats %+v", k, e, inf, r.Stats())
	return e
}

func newTestResolver(t *testing.T, cfg Config) *Resolver {
	t.Helper()
	cfg.Retry = 20 * time.Millisecond
	cfg.ECSRefresh = 10 * time.Millisecond
	cfg.MinRescan = 10 * time.Millisecond
	r := NewResolver(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	r.Start(ctx)
	t.Cleanup(func() { cancel(); r.Close() })
	return r
}

func TestDockerContainerV1(t *testing.T) {
	img := dockertest.BusyboxImage(t)
	labels := map[string]string{
		LabelECSCluster:       "arn:aws:ecs:us-east-1:123456789012:cluster/vigil-test",
		LabelECSTaskARN:       "arn:aws:ecs:us-east-1:123456789012:task/vigil-test/" + agentTask,
		LabelECSContainerName: "app",
		LabelECSTaskFamily:    "checkout",
		LabelECSTaskVersion:   "12",
	}
	args := []string{"--name", "vigil-resolver-test-" + strconv.Itoa(os.Getpid())}
	for k, v := range labels {
		args = append(args, "--label", k+"="+v)
	}
	id := dockertest.Run(t, append(args, img, "sleep", "120")...)
	pid := dockertest.PID(t, id)

	r := newTestResolver(t, Config{ECSAgentURL: Disabled})
	if r.Config().V1Root == "" {
		t.Skipf("no v1 %s hierarchy on this host", r.Config().V1Controller)
	}
	// The key as the BPF programs would record it: the v1 id is the inode of
	// the process's cgroup directory in the memory hierarchy.
	_, v1path, err := procCgroups("/proc", pid, r.Config().V1Controller)
	if err != nil {
		t.Fatal(err)
	}
	ino, err := inode(filepath.Join(r.Config().V1Root, v1path))
	if err != nil {
		t.Fatal(err)
	}
	k, err := r.KeyForPID(pid)
	if err != nil {
		t.Fatal(err)
	}
	if k.V1 != ino {
		t.Fatalf("KeyForPID v1 = %d, inode of %s = %d", k.V1, v1path, ino)
	}
	byName, err := r.LookupContainer("vigil-resolver-test-" + strconv.Itoa(os.Getpid()))
	if err != nil || byName != k {
		t.Fatalf("LookupContainer = %+v, %v; want %+v", byName, err, k)
	}

	// From the v1 id alone, as on Amazon Linux 2 where the container's v2
	// cgroup is the root.
	v1only := Key{V1: k.V1}
	e := fillUntil(t, r, v1only, func(e *trace.Event) bool { return e.TaskFamily != "" })
	want := trace.Event{
		CgroupID:         k.V1,
		ContainerID:      id,
		Runtime:          RuntimeDocker,
		Image:            img,
		ContainerName:    "vigil-resolver-test-" + strconv.Itoa(os.Getpid()),
		Cluster:          "vigil-test",
		TaskARN:          labels[LabelECSTaskARN],
		TaskFamily:       "checkout",
		TaskRevision:     "12",
		ECSContainerName: "app",
		LaunchType:       LaunchEC2,
		Workload:         "checkout/app",
	}
	if e.CgroupID != want.CgroupID || e.ContainerID != want.ContainerID || e.Runtime != want.Runtime ||
		e.Image != want.Image || e.ImageDigest != "" || e.ContainerName != want.ContainerName ||
		e.Cluster != want.Cluster || e.TaskARN != want.TaskARN || e.TaskFamily != want.TaskFamily ||
		e.TaskRevision != want.TaskRevision || e.ECSContainerName != want.ECSContainerName ||
		e.LaunchType != want.LaunchType || e.Workload != want.Workload {
		t.Fatalf("filled\n%+v\nwant\n%+v", e, want)
	}
	// With both ids (runc here also puts the container in the unified tree,
	// at the same path), the v2 id identifies it.
	e2 := fillUntil(t, r, k, func(e *trace.Event) bool { return e.TaskFamily != "" })
	if e2.ContainerID != id || e2.TaskFamily != "checkout" {
		t.Fatalf("filled with both ids: %+v", e2)
	}
	if v2, _, _ := procCgroups("/proc", pid, "memory"); strings.Contains(v2, id) && e2.CgroupID != k.V2 {
		t.Errorf("cgroup id %d, want the v2 id %d of %s", e2.CgroupID, k.V2, v2)
	}
	if e.Workload != trace.WorkloadKey(&e) {
		t.Errorf("workload %q, WorkloadKey says %q", e.Workload, trace.WorkloadKey(&e))
	}
	st := r.Stats()
	if st.DockerCalls == 0 || st.Containers == 0 {
		t.Errorf("stats %+v", st)
	}
	// A second container event must come from cache.
	calls := st.DockerCalls
	for range 100 {
		var e2 trace.Event
		r.Fill(&e2, k)
	}
	if r.Stats().DockerCalls != calls {
		t.Errorf("docker asked again for a complete container: %d -> %d", calls, r.Stats().DockerCalls)
	}

	// An image without repo digests keeps ImageDigest empty; a container
	// name that does not exist is a clear error.
	if _, err := r.LookupContainer("vigil-no-such-container"); err == nil || !strings.Contains(err.Error(), "vigil-no-such-container") {
		t.Errorf("LookupContainer(missing) err = %v", err)
	}
}

func TestHandMadeV2ECSTaskCgroup(t *testing.T) {
	agent, hits := serveFixtures(t, map[string]string{
		"/v1/tasks":    "ecs-agent-tasks.json",
		"/v1/metadata": "ecs-agent-metadata.json",
	})
	r := newTestResolver(t, Config{ECSAgentURL: agent.URL})
	root := requireV2(t, r)
	dir := makeCgroup(t, root, "ecstasks.slice/ecstasks-"+agentTask+".slice/"+agentContainer)
	pid := startIn(t, dir)

	k, err := r.KeyForPID(pid)
	if err != nil {
		t.Fatal(err)
	}
	ino, _ := inode(dir)
	if k.V2 != ino {
		t.Fatalf("KeyForPID v2 = %d, want inode %d of %s", k.V2, ino, dir)
	}
	byPath, err := r.CgroupIDForPath(dir)
	if err != nil || byPath.V2 != ino {
		t.Fatalf("CgroupIDForPath(%s) = %+v, %v", dir, byPath, err)
	}
	rel, err := r.CgroupIDForPath("/ecstasks.slice/ecstasks-" + agentTask + ".slice/" + agentContainer)
	if err != nil || rel.V2 != ino {
		t.Fatalf("CgroupIDForPath(relative) = %+v, %v", rel, err)
	}

	e := fillUntil(t, r, k, func(e *trace.Event) bool { return e.TaskFamily != "" })
	if e.ContainerID != agentContainer || e.CgroupID != k.V2 || e.Runtime != RuntimeDocker ||
		e.Cluster != "prod" || e.TaskARN != "arn:aws:ecs:us-east-1:123456789012:task/prod/"+agentTask ||
		e.TaskFamily != "web" || e.TaskRevision != "7" || e.ECSContainerName != "app" ||
		e.LaunchType != LaunchEC2 || e.Workload != "web/app" {
		t.Fatalf("filled %+v", e)
	}
	if *hits == 0 {
		t.Fatal("ECS agent never asked")
	}
	t.Logf("stats %+v", r.Stats())
	if inf, _ := r.Lookup(k); inf.CgroupPath != "/ecstasks.slice/ecstasks-"+agentTask+".slice/"+agentContainer {
		t.Errorf("cgroup path %q", inf.CgroupPath)
	}
}

func TestHandMadeV2TaskWithoutMetadata(t *testing.T) {
	// No ECS source answers: the task and container ids still come from the
	// path, and the resolver stops asking after MaxAttempts.
	r := newTestResolver(t, Config{ECSAgentURL: "http://127.0.0.1:1", MaxAttempts: 3})
	root := requireV2(t, r)
	const task, cid = "aa11bb22cc33dd44ee55ff6677889900", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	dir := makeCgroup(t, root, "ecstasks.slice/ecstasks-"+task+".slice/"+cid)
	pid := startIn(t, dir)
	k, err := r.KeyForPID(pid)
	if err != nil {
		t.Fatal(err)
	}
	e := fillUntil(t, r, k, func(e *trace.Event) bool { return e.ContainerID != "" })
	if e.ContainerID != cid || e.TaskARN != task || e.LaunchType != LaunchEC2 || e.Workload != "container" {
		t.Fatalf("filled %+v", e)
	}
	fillUntil(t, r, k, func(*trace.Event) bool { inf, _ := r.Lookup(k); return inf.Complete })
	if st := r.Stats(); st.GaveUp != 1 || st.ECSErrs == 0 {
		t.Errorf("stats %+v: want one give-up and ECS errors counted", st)
	}
}

func TestFargateTMDE(t *testing.T) {
	srv, hits := serveFixtures(t, map[string]string{"/v4/abc/task": "tmde-task.json"})
	r := newTestResolver(t, Config{ECSAgentURL: Disabled, DockerSocket: Disabled, TMDEURL: srv.URL + "/v4/abc"})
	root := requireV2(t, r)
	dir := makeCgroup(t, root, "ecs/"+fargateTask+"/"+fargateID)
	pid := startIn(t, dir)
	k, err := r.KeyForPID(pid)
	if err != nil {
		t.Fatal(err)
	}
	e := fillUntil(t, r, k, func(e *trace.Event) bool { return e.TaskFamily != "" })
	if e.ContainerID != fargateID || e.Runtime != RuntimeContainerd || e.Cluster != "fargate-prod" ||
		e.TaskARN != "arn:aws:ecs:us-west-2:123456789012:task/fargate-prod/"+fargateTask ||
		e.TaskFamily != "api" || e.TaskRevision != "26" || e.ECSContainerName != "api" || e.ContainerName != "api" ||
		e.LaunchType != LaunchFargate || e.Image != "123456789012.dkr.ecr.us-west-2.amazonaws.com/api:1.4.2" ||
		e.ImageDigest != "sha256:7b3ccabffc97de872a30dfd234fd972a66d247c8cfc69b0550f276481852627c" ||
		e.Workload != "api/api" {
		t.Fatalf("filled %+v", e)
	}
	if *hits == 0 {
		t.Fatal("TMDE never asked")
	}
}

func TestECSAgentTasksParse(t *testing.T) {
	srv, _ := serveFixtures(t, map[string]string{"/v1/tasks": "ecs-agent-tasks.json"})
	a := &ecsAgent{base: srv.URL, hc: srv.Client()}
	tasks, err := a.tasks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// No /v1/metadata here: the cluster comes from the task ARN.
	task := tasks[agentContainer]
	if task == nil || task.Cluster != "prod" || task.Family != "web" || task.Revision != "7" || task.Containers[agentContainer].Name != "app" {
		t.Fatalf("task %+v", task)
	}
	if len(tasks) != 2 {
		t.Errorf("%d containers, want 2 (empty DockerId skipped)", len(tasks))
	}
	bad := &ecsAgent{base: srv.URL + "/nope", hc: srv.Client()}
	if _, err := bad.tasks(context.Background()); err == nil || !strings.Contains(err.Error(), "/nope/v1/tasks") {
		t.Errorf("error %v does not name the URL", err)
	}
}

func TestUnknownCgroupNeverBlocks(t *testing.T) {
	// Ids that name no cgroup (a cgroup removed before enrichment, as when a
	// short-lived container exits): Fill returns at once every time, the
	// resolver retries a bounded number of times and counts it.
	r := newTestResolver(t, Config{DockerSocket: Disabled, ECSAgentURL: Disabled, MaxAttempts: 3})
	k := Key{V2: 1<<62 + 12345, V1: 1<<62 + 678}
	e := fillUntil(t, r, k, func(*trace.Event) bool { inf, ok := r.Lookup(k); return ok && inf.Complete })
	if e.ContainerID != "" || e.Workload != "host" || e.CgroupID == 0 {
		t.Fatalf("filled %+v", e)
	}
	st := r.Stats()
	if st.GaveUp != 1 || st.Unknown < 3 {
		t.Errorf("stats %+v", st)
	}
}

func TestHostProcessIsHost(t *testing.T) {
	requireRoot(t)
	r := newTestResolver(t, Config{DockerSocket: Disabled, ECSAgentURL: Disabled})
	k, err := r.KeyForPID(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	e := fillUntil(t, r, k, func(*trace.Event) bool { inf, ok := r.Lookup(k); return ok && inf.Complete })
	if e.ContainerID != "" || e.Workload != "host" {
		t.Fatalf("filled %+v", e)
	}
	if st := r.Stats(); st.GaveUp != 0 || st.Unknown != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestQueueFullAndOverflowCounted(t *testing.T) {
	// No Start: nothing drains the queue.
	r := NewResolver(Config{QueueSize: 2, MaxEntries: 4, DockerSocket: Disabled, ECSAgentURL: Disabled})
	for i := range 10 {
		var e trace.Event
		r.Fill(&e, Key{V2: uint64(1000 + i)})
		if e.CgroupID != uint64(1000+i) || e.Workload != "host" {
			t.Fatalf("event %d: %+v", i, e)
		}
	}
	st := r.Stats()
	if st.Queued != 2 || st.QueueFull != 2 || st.Overflow != 6 || st.Entries != 4 {
		t.Fatalf("stats %+v", st)
	}
}

func TestCgroupIDForPathErrors(t *testing.T) {
	r := NewResolver(Config{DockerSocket: Disabled, ECSAgentURL: Disabled})
	if _, err := r.CgroupIDForPath("/no/such/cgroup/vigil"); err == nil || !strings.Contains(err.Error(), "/no/such/cgroup/vigil") {
		t.Errorf("err = %v", err)
	}
	if r.Config().V1Root != "" {
		k, err := r.CgroupIDForPath(r.Config().V1Root)
		if err != nil || k.V1 == 0 || k.V2 != 0 {
			t.Errorf("v1 root: %+v, %v", k, err)
		}
	}
}

func BenchmarkFill(b *testing.B) {
	r := NewResolver(Config{DockerSocket: Disabled, ECSAgentURL: Disabled})
	k := Key{V2: 42, V1: 43}
	s := r.newSlot(k)
	inf := &Info{CgroupID: 43, Identity: Identity{ContainerID: agentContainer, Runtime: RuntimeDocker, TaskID: agentTask},
		Name: "ecs-web-7-app", Image: "web:7", TaskFamily: "web", ECSContainerName: "app", Complete: true, Workload: "web/app"}
	s.info.Store(inf)
	var e trace.Event
	b.ReportAllocs()
	for b.Loop() {
		r.Fill(&e, k)
	}
	if e.Workload != "web/app" {
		b.Fatal(e.Workload)
	}
}

func BenchmarkFillParallel(b *testing.B) {
	r := NewResolver(Config{DockerSocket: Disabled, ECSAgentURL: Disabled})
	k := Key{V2: 42, V1: 43}
	r.newSlot(k).info.Store(&Info{CgroupID: 43, Complete: true, Workload: "host"})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var e trace.Event
		for pb.Next() {
			r.Fill(&e, k)
		}
	})
}

func TestDockerContainerECSLayoutV1(t *testing.T) {
	// The ECS agent on Amazon Linux 2 starts task containers with
	// --cgroup-parent /ecs/<task id>; Docker here does the same for real.
	img := dockertest.BusyboxImage(t)
	const task = "5e6f7a8b9c0d4e1f8a2b3c4d5e6f7a8b"
	arn := "arn:aws:ecs:eu-west-1:123456789012:task/payments/" + task
	// Docker leaves the parent cgroup it made behind; registered before the
	// container so it runs after the container is gone.
	hier := []string{"memory", "cpu", "cpuacct", "cpuset", "pids", "blkio", "devices", "freezer", "systemd", "unified"}
	hadECS := map[string]bool{}
	for _, h := range hier {
		_, err := os.Stat(filepath.Join("/sys/fs/cgroup", h, "ecs"))
		hadECS[h] = err == nil
	}
	t.Cleanup(func() {
		for _, h := range hier {
			dirs := []string{filepath.Join("/sys/fs/cgroup", h, "ecs", task)}
			if !hadECS[h] {
				dirs = append(dirs, filepath.Join("/sys/fs/cgroup", h, "ecs"))
			}
			for _, p := range dirs {
				for try := 0; try < 50; try++ {
					if err := os.Remove(p); err == nil || os.IsNotExist(err) {
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		}
	})
	id := dockertest.Run(t, "--cgroup-parent", "/ecs/"+task,
		"--label", LabelECSTaskARN+"="+arn,
		"--label", LabelECSContainerName+"=worker",
		"--label", LabelECSTaskFamily+"=payments-worker",
		"--label", LabelECSTaskVersion+"=3",
		img, "sleep", "120")
	pid := dockertest.PID(t, id)
	r := newTestResolver(t, Config{ECSAgentURL: Disabled})
	if r.Config().V1Root == "" {
		t.Skip("no v1 memory hierarchy")
	}
	_, v1path, err := procCgroups("/proc", pid, "memory")
	if err != nil {
		t.Fatal(err)
	}
	if v1path != "/ecs/"+task+"/"+id {
		t.Fatalf("container cgroup %q, want the ECS layout", v1path)
	}
	k, err := r.KeyForPID(pid)
	if err != nil {
		t.Fatal(err)
	}
	e := fillUntil(t, r, Key{V1: k.V1}, func(e *trace.Event) bool { return e.TaskFamily != "" })
	if e.ContainerID != id || e.Cluster != "payments" || e.TaskARN != arn || e.TaskFamily != "payments-worker" ||
		e.TaskRevision != "3" || e.ECSContainerName != "worker" || e.LaunchType != LaunchEC2 || e.Workload != "payments-worker/worker" {
		t.Fatalf("filled %+v", e)
	}
	if inf, _ := r.Lookup(Key{V1: k.V1}); inf.TaskID != task {
		t.Errorf("task id from path %q", inf.TaskID)
	}
	if k2, err := r.CgroupIDForPath("/ecs/" + task + "/" + id); err != nil || k2.V1 != k.V1 {
		t.Errorf("CgroupIDForPath = %+v, %v; want v1 %d", k2, err, k.V1)
	}
}

// fakeEngine serves Docker Engine API fixtures on a unix socket, for what a
// local Docker cannot show: images pulled from a registry (RepoDigests).
func fakeEngine(t *testing.T, routes map[string]string) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "docker.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for p, body := range routes {
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, body)
		})
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return sock
}

func TestDockerImageDigest(t *testing.T) {
	const imageID = "sha256:9c7a54a9a43cca047013b82af109fe963fde787f63f9e016fdc3384500c2823d"
	ctJSON, err := os.ReadFile("testdata/docker-container.json")
	if err != nil {
		t.Fatal(err)
	}
	imJSON, err := os.ReadFile("testdata/docker-image.json")
	if err != nil {
		t.Fatal(err)
	}
	sock := fakeEngine(t, map[string]string{
		"/containers/" + agentContainer + "/json": string(ctJSON),
		"/images/" + imageID + "/json":            string(imJSON),
	})
	d := newDockerClient(sock, time.Second)
	ct, err := d.container(context.Background(), agentContainer)
	if err != nil {
		t.Fatal(err)
	}
	im, err := d.image(context.Background(), ct.Image)
	if err != nil {
		t.Fatal(err)
	}
	if got := repoDigest(im, ct.Config.Image); got != "sha256:4b1f1f1e8ad0c1a2e5b2e2d5b0b6e8c44f9a6a5b5cbd0c7f0d0f1e2d3c4b5a69" {
		t.Errorf("digest %s", got)
	}
	if _, err := d.container(context.Background(), "missing"); !errors.As(err, new(errNotFound)) {
		t.Errorf("missing container: %v", err)
	}
}

func TestRepoDigest(t *testing.T) {
	im := &dockerImage{RepoDigests: []string{"mirror.local/web@sha256:aaa", "123.dkr.ecr.us-east-1.amazonaws.com/web@sha256:bbb", "broken"}}
	for image, want := range map[string]string{
		"123.dkr.ecr.us-east-1.amazonaws.com/web:1.2": "sha256:bbb",
		"123.dkr.ecr.us-east-1.amazonaws.com/web":     "sha256:bbb",
		"localhost:5000/other:3":                      "sha256:aaa",
	} {
		if got := repoDigest(im, image); got != want {
			t.Errorf("repoDigest(%q) = %q, want %q", image, got, want)
		}
	}
	if got := repoDigest(&dockerImage{}, "local:1"); got != "" {
		t.Errorf("image without repo digests: %q", got)
	}
}

func TestContainerGoneBeforeEnrichment(t *testing.T) {
	// The first event of a short-lived container is filled before the worker
	// runs; by the time it does, the process and its cgroup are gone. Fill
	// never waits, the id stays unknown, and the give-up is counted.
	r := NewResolver(Config{DockerSocket: Disabled, ECSAgentURL: Disabled, MaxAttempts: 2, Retry: 10 * time.Millisecond, MinRescan: time.Millisecond})
	root := requireV2(t, r)
	const cid = "deadbeef00000000000000000000000000000000000000000000000000000001"
	dir := makeCgroup(t, root, "docker/"+cid)
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0); err != nil {
		t.Fatal(err)
	}
	k, err := r.KeyForPID(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	var e trace.Event
	start := time.Now()
	r.Fill(&e, k)
	if e.ContainerID != "" || e.CgroupID != k.V2 {
		t.Fatalf("first event %+v", e)
	}
	cmd.Process.Kill()
	cmd.Wait()
	for try := 0; os.Remove(dir) != nil && try < 100; try++ {
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r.Start(ctx)
	defer r.Close()
	fillUntil(t, r, k, func(*trace.Event) bool { inf, ok := r.Lookup(k); return ok && inf.Complete })
	if time.Since(start) > 10*time.Second {
		t.Errorf("took %v", time.Since(start))
	}
	if st := r.Stats(); st.GaveUp != 1 || st.Unknown < 2 || st.Containers != 0 {
		t.Errorf("stats %+v", st)
	}
}

// BenchmarkFillUnknown is the cost of an event from a cgroup never seen
// before, with nothing draining the queue: Fill must stay cheap and never
// block even then.
func BenchmarkFillUnknown(b *testing.B) {
	r := NewResolver(Config{DockerSocket: Disabled, ECSAgentURL: Disabled, MaxEntries: 1 << 30, QueueSize: 1024})
	var e trace.Event
	var id uint64
	b.ReportAllocs()
	for b.Loop() {
		id++
		r.Fill(&e, Key{V2: id})
	}
}
