package collector

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/trace"
	"github.com/vigilsec/vigil/trace/lake"
)

// requireDocker skips without a Docker Engine, or fails when
// VIGIL_REQUIRE_DOCKER=1 says it must be there.
func requireDocker(t *testing.T) {
	t.Helper()
	out, err := exec.Command("docker", "version", "--format", "{{.Server.Version}}").CombinedOutput()
	if err == nil {
		return
	}
	if os.Getenv("VIGIL_REQUIRE_DOCKER") == "1" {
		t.Fatalf("Docker required (VIGIL_REQUIRE_DOCKER=1): %v: %s", err, out)
	}
	t.Skipf("no Docker Engine (set VIGIL_REQUIRE_DOCKER=1 to fail instead): %v", err)
}

// busyboxImage builds a FROM-scratch image holding the host's static
// busybox (nothing can be pulled here).
func busyboxImage(t *testing.T) string {
	t.Helper()
	const image = "vigil-collector-e2e:test"
	dir := t.TempDir()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skipf("needs Debian's busybox-static at /bin/busybox: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "busybox"), bb, 0o755)
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(
		"FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n"), 0o644)
	if out, err := exec.Command("docker", "build", "-q", "-t", image, dir).CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v: %s", err, out)
	}
	return image
}

// TestCaptureContainer captures one real container with ECS labels into a
// local lake and reads it back: only that container's events, each with its
// container id, image and ECS task.
func TestCaptureContainer(t *testing.T) {
	requireBPF(t, nil)
	requireDocker(t)
	image := busyboxImage(t)
	name := fmt.Sprintf("vigil-capture-e2e-%d", os.Getpid())
	arn := "arn:aws:ecs:us-east-1:123456789012:task/e2e/0123456789abcdef0123456789abcdef"
	out, err := exec.Command("docker", "run", "-d", "--rm", "--name", name, "--network", "none",
		"--label", "com.amazonaws.ecs.cluster=e2e",
		"--label", "com.amazonaws.ecs.task-arn="+arn,
		"--label", "com.amazonaws.ecs.container-name=app",
		"--label", "com.amazonaws.ecs.task-definition-family=e2efam",
		"--label", "com.amazonaws.ecs.task-definition-version=7",
		image, "sh", "-c", "while true; do cat /etc/hostname >/dev/null; sleep 0.1; done").CombinedOutput()
	if err != nil {
		t.Fatalf("docker run: %v: %s", err, out)
	}
	id := strings.TrimSpace(string(out))
	defer exec.Command("docker", "rm", "-f", name).Run()

	root := t.TempDir()
	sum, err := Capture(context.Background(), CaptureConfig{Out: root, Duration: 3 * time.Second, Container: name})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	sum.Print(&buf)
	t.Log("\n" + buf.String())
	if sum.Events[trace.KindExec] == 0 || sum.Events[trace.KindOpen] == 0 || sum.RingDrops != 0 || sum.Lost != 0 {
		t.Errorf("summary: %+v", sum)
	}
	if len(sum.Containers) != 1 || sum.Containers[0].ID != id || sum.Containers[0].Name != name {
		t.Errorf("containers seen: %+v, want %s", sum.Containers, id)
	}

	l, err := lake.Open(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var n, attributed int
	err = l.Scan(context.Background(), lake.Query{}, func(e *trace.Event) error {
		n++
		if e.ContainerID != id {
			// The very first events may come before the resolver's answer;
			// events of other containers or the host must not come at all.
			if e.ContainerID != "" {
				t.Errorf("event of another container: %+v", e)
			}
			return nil
		}
		if e.Kind == trace.KindExec && e.TaskFamily == "e2efam" {
			attributed++
			// busybox's sh runs applets through /proc/self/exe: that is the
			// file name the kernel sees, so Path is not /bin/cat.
			if e.Cluster != "e2e" || e.TaskARN != arn || e.ECSContainerName != "app" || e.TaskRevision != "7" ||
				e.Image != image || e.Workload != "e2efam/app" || e.ProcUUID == "" || e.Path == "" ||
				len(e.Argv) == 0 || (e.Argv[0] != "cat" && e.Argv[0] != "sleep") || e.Cwd != "/" || e.NSPID == e.PID {
				t.Errorf("exec in container: %+v", e)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if int64(n) != sum.Published || attributed == 0 {
		t.Errorf("lake holds %d events (summary: %d published), %d attributed execs", n, sum.Published, attributed)
	}
}
