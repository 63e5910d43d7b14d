package dockertest

import (
	"context"
	"os/exec"
	"strings"
	"testing"
)

func TestContextHashIsContentAddressed(t *testing.T) {
	a := Context{Dockerfile: "FROM scratch\n", Files: map[string]File{"x": {Data: []byte("1")}, "y": {Link: "x"}}}
	b := Context{Dockerfile: "FROM scratch\n", Files: map[string]File{"y": {Link: "x"}, "x": {Data: []byte("1")}}}
	c := Context{Dockerfile: "FROM scratch\n", Files: map[string]File{"x": {Data: []byte("2")}, "y": {Link: "x"}}}
	_, ha, err := a.tar()
	if err != nil {
		t.Fatal(err)
	}
	_, hb, _ := b.tar()
	_, hc, _ := c.tar()
	if ha != hb {
		t.Errorf("same content, different hashes: %s %s", ha, hb)
	}
	if ha == hc {
		t.Errorf("different content, same hash %s", ha)
	}
}

func TestBusyboxImageRuns(t *testing.T) {
	img := BusyboxImage(t)
	if img2 := BusyboxImage(t); img2 != img {
		t.Fatalf("second build gave %s, first %s", img2, img)
	}
	out, err := exec.Command("docker", "run", "--rm", "--network", "none", img, "sh", "-c", "echo hello; ls /bin | grep -c .").CombinedOutput()
	if err != nil {
		t.Fatalf("docker run: %v: %s", err, out)
	}
	if !strings.HasPrefix(string(out), "hello\n") {
		t.Fatalf("unexpected output %q", out)
	}
	id := Run(t, "--label", "vigil.test=1", img, "sleep", "30")
	if len(id) != 64 {
		t.Fatalf("container id %q", id)
	}
	if pid := PID(t, id); pid <= 1 {
		t.Fatalf("pid %d", pid)
	}
	if l, err := Inspect(context.Background(), id, `{{index .Config.Labels "vigil.test"}}`); err != nil || l != "1" {
		t.Fatalf("label = %q, %v", l, err)
	}
	if _, err := Start(context.Background(), "--network", "bridge", img); err == nil {
		t.Fatal("Start accepted a network other than none")
	}
}
