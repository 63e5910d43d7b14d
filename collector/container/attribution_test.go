package container_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/collector"
	"github.com/vigilsec/vigil/collector/container"
	"github.com/vigilsec/vigil/collector/proc"
	"github.com/vigilsec/vigil/internal/dockertest"
	"github.com/vigilsec/vigil/trace"
)

// End to end through the real BPF programs: events of a Docker container and
// of a process in a hand-made ECS-style v2 cgroup come out of the collector
// attributed to their container and task, with process identity filled.

// watch runs a collector with a process table and a resolver until the test
// ends, and lets the test wait for an event that satisfies a predicate.
type watch struct {
	mu    sync.Mutex
	preds []*pred
	procs *proc.Table
	res   *container.Resolver
}

type pred struct {
	match func(*trace.Event) bool
	got   chan trace.Event
}

func startWatch(t *testing.T, cfg container.Config) *watch {
	t.Helper()
	if os.Geteuid() != 0 {
		requireBPF(t, "not root")
	}
	w := &watch{
		procs: proc.NewTable(proc.Config{}),
		res:   container.NewResolver(cfg),
	}
	c, err := collector.New(collector.Config{ExcludeSelf: true, Procs: w.procs, Containers: w.res})
	if err != nil {
		requireBPF(t, err.Error())
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.res.Start(ctx)
	if err := w.procs.Seed(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, w.sink) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("collector: %v", err)
		}
		c.Close()
		w.res.Close()
		w.procs.Close()
		t.Logf("process table: %+v", w.procs.Stats())
		t.Logf("resolver: %+v", w.res.Stats())
	})
	return w
}

func requireBPF(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("VIGIL_REQUIRE_BPF") == "1" {
		t.Fatalf("BPF required (VIGIL_REQUIRE_BPF=1): %s", why)
	}
	t.Skipf("BPF not available (set VIGIL_REQUIRE_BPF=1 to fail instead): %s", why)
}

func (w *watch) sink(e *trace.Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range w.preds {
		if p.match(e) {
			select {
			case p.got <- *e:
			default:
			}
		}
	}
}

// await returns the first event matching, or fails after the timeout.
func (w *watch) await(t *testing.T, what string, timeout time.Duration, match func(*trace.Event) bool) trace.Event {
	t.Helper()
	p := &pred{match: match, got: make(chan trace.Event, 1)}
	w.mu.Lock()
	w.preds = append(w.preds, p)
	w.mu.Unlock()
	select {
	case e := <-p.got:
		return e
	case <-time.After(timeout):
		t.Fatalf("no event %s within %v; process table %+v; resolver %+v", what, timeout, w.procs.Stats(), w.res.Stats())
		return trace.Event{}
	}
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestAttributionDockerECSContainer(t *testing.T) {
	img := dockertest.BusyboxImage(t)
	w := startWatch(t, container.Config{ECSAgentURL: container.Disabled})
	const task = "6a7b8c9d0e1f42a3b4c5d6e7f8091a2b"
	arn := "arn:aws:ecs:us-east-1:123456789012:task/shop/" + task
	name := "vigil-attribution-" + strconv.Itoa(os.Getpid())
	// The loop runs for at most 30s: long enough for the resolver to answer
	// and for later events to carry the answer.
	id := dockertest.Run(t, "--name", name,
		"--label", container.LabelECSCluster+"=shop",
		"--label", container.LabelECSTaskARN+"="+arn,
		"--label", container.LabelECSContainerName+"=cart",
		"--label", container.LabelECSTaskFamily+"=cart-service",
		"--label", container.LabelECSTaskVersion+"=4",
		img, "sh", "-c", "i=0; while [ $i -lt 600 ]; do cat /proc/self/stat >/dev/null; i=$((i+1)); sleep 0.05; done")

	e := w.await(t, "from the container with its ECS task", 20*time.Second, func(e *trace.Event) bool {
		return e.ContainerID == id && e.TaskFamily != ""
	})
	if e.ContainerName != name || e.Image != img || e.Runtime != container.RuntimeDocker ||
		e.Cluster != "shop" || e.TaskARN != arn || e.TaskFamily != "cart-service" || e.TaskRevision != "4" ||
		e.ECSContainerName != "cart" || e.LaunchType != container.LaunchEC2 || e.Workload != "cart-service/cart" {
		t.Fatalf("container fields: %+v", e)
	}
	if e.ProcUUID == "" || e.ProcStart == 0 {
		t.Errorf("process fields: uuid %q start %d", e.ProcUUID, e.ProcStart)
	}
	// The container's processes run the image's busybox, which is the
	// host's: the hash, read through /proc/<pid>/exe across the mount
	// namespace, must be that file's.
	want := sha256File(t, dockertest.BusyboxPath)
	h := w.await(t, "from the container with the exe hash", 20*time.Second, func(e *trace.Event) bool {
		return e.ContainerID == id && e.ExeSHA256 != ""
	})
	if h.ExeSHA256 != want {
		t.Errorf("exe %s sha %s, want busybox's %s", h.ExePath, h.ExeSHA256, want)
	}
	if lin := w.procs.Lineage(h.PID); len(lin) < 2 || lin[0].UUID != h.ProcUUID || lin[1].UUID != h.ParentUUID {
		t.Errorf("lineage of %d: %+v (event parent %s)", h.PID, lin, h.ParentUUID)
	}
	// The --container filter key resolves too.
	k, err := w.res.LookupContainer(name)
	if err != nil || k == (container.Key{}) {
		t.Errorf("LookupContainer(%s) = %+v, %v", name, k, err)
	}
}

func TestAttributionHandMadeV2ECSTask(t *testing.T) {
	const task = "0b5a6c1e2d3f40718293a4b5c6d7e8f9" // as in testdata/ecs-agent-tasks.json
	const cid = "c0ffee00d00dfeedbeef0123456789abcdef0123456789abcdef0123456789ab"
	tasks, err := os.ReadFile("testdata/ecs-agent-tasks.json")
	if err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile("testdata/ecs-agent-metadata.json")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/tasks", func(rw http.ResponseWriter, _ *http.Request) { rw.Write(tasks) })
	mux.HandleFunc("/v1/metadata", func(rw http.ResponseWriter, _ *http.Request) { rw.Write(md) })
	agent := httptest.NewServer(mux)
	defer agent.Close()

	w := startWatch(t, container.Config{ECSAgentURL: agent.URL, DockerSocket: container.Disabled})
	root := w.res.Config().V2Root
	if root == "" {
		t.Skip("no cgroup2 mount")
	}
	slice := filepath.Join(root, "ecstasks.slice")
	taskDir := filepath.Join(slice, "ecstasks-"+task+".slice")
	dir := filepath.Join(taskDir, cid)
	var made []string
	for _, d := range []string{slice, taskDir, dir} {
		if _, err := os.Stat(d); err == nil {
			continue
		}
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		made = append(made, d)
	}
	// The shell moves itself into the cgroup, then works in a bounded loop.
	cmd := exec.Command("/bin/busybox", "sh", "-c",
		"echo $$ > "+dir+"/cgroup.procs && i=0; while [ $i -lt 600 ]; do cat /proc/self/stat >/dev/null; i=$((i+1)); sleep 0.05; done")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
		for i := len(made) - 1; i >= 0; i-- {
			for try := 0; os.Remove(made[i]) != nil && try < 100; try++ {
				time.Sleep(10 * time.Millisecond)
			}
		}
	}()
	e := w.await(t, "from the v2 ECS task cgroup with its task", 20*time.Second, func(e *trace.Event) bool {
		return e.ContainerID == cid && e.TaskFamily != ""
	})
	if e.TaskARN != "arn:aws:ecs:us-east-1:123456789012:task/prod/"+task || e.Cluster != "prod" ||
		e.TaskFamily != "web" || e.TaskRevision != "7" || e.ECSContainerName != "app" || e.Workload != "web/app" {
		t.Fatalf("filled %+v", e)
	}
	if e.ProcUUID == "" || e.ExePath == "" {
		t.Errorf("process fields: %+v", e)
	}
}
