// Package dockertest builds and runs the local images Vigil's tests and
// scenarios need. Nothing can be pulled, so every image starts FROM scratch
// and gets its binaries from the host (Debian's busybox-static, the project's
// own static Go builds). Images are tagged by a hash of everything that went
// into them, so a build happens once per content, not once per test.
package dockertest

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// EnvRequire names the variable that turns a missing Docker from a skip into
// a failure (CI sets it).
const EnvRequire = "VIGIL_REQUIRE_DOCKER"

// BusyboxPath is where Debian's busybox-static puts its binary.
const BusyboxPath = "/bin/busybox"

// Available reports why Docker cannot be used, or nil when it can.
func Available() error {
	if _, err := exec.LookPath("docker"); err != nil {
		return fmt.Errorf("docker CLI: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "version", "--format", "{{.Server.Version}}").CombinedOutput()
	if err != nil {
		return fmt.Errorf("docker engine: %v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// Require skips the test when Docker is not usable, or fails it when
// VIGIL_REQUIRE_DOCKER is set.
func Require(t testing.TB) {
	t.Helper()
	if err := Available(); err != nil {
		if os.Getenv(EnvRequire) != "" {
			t.Fatalf("%s is set but Docker is not usable: %v", EnvRequire, err)
		}
		t.Skipf("Docker is not usable (%v); set %s=1 to make this a failure", err, EnvRequire)
	}
}

// File is one file of a build context: its content comes from Src (a host
// path) or Data; Link makes a symlink instead.
type File struct {
	Src  string
	Data []byte
	Link string
	Mode int64 // default 0755 for Src, 0644 for Data
}

// Context is a build context: a Dockerfile and the files it copies.
type Context struct {
	Dockerfile string
	Files      map[string]File // path inside the context -> file
}

// Build builds c as repo:<content hash> unless that image exists, and returns
// the reference. Builds run with --network none.
func Build(ctx context.Context, repo string, c Context) (string, error) {
	tarball, sum, err := c.tar()
	if err != nil {
		return "", fmt.Errorf("build context for %s: %w", repo, err)
	}
	ref := repo + ":" + sum[:16]
	buildMu.Lock()
	defer buildMu.Unlock()
	if built[ref] {
		return ref, nil
	}
	if exec.CommandContext(ctx, "docker", "image", "inspect", ref).Run() == nil {
		built[ref] = true
		return ref, nil
	}
	cmd := exec.CommandContext(ctx, "docker", "build", "--network", "none", "-q", "-t", ref, "-")
	cmd.Stdin = bytes.NewReader(tarball)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("docker build %s: %v: %s", ref, err, bytes.TrimSpace(out))
	}
	built[ref] = true
	return ref, nil
}

var (
	buildMu sync.Mutex
	built   = map[string]bool{}
)

// tar writes the context as a tarball in a fixed order and returns it with
// the hash of its content.
func (c Context) tar() ([]byte, string, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	h := sha256.New()
	add := func(name string, mode int64, data []byte, link string) error {
		hdr := &tar.Header{Name: name, Mode: mode, Size: int64(len(data)), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}
		if link != "" {
			hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeSymlink, link, 0
		}
		fmt.Fprintf(h, "%s\x00%o\x00%s\x00%d\x00", name, mode, link, len(data))
		h.Write(data)
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	if err := add("Dockerfile", 0o644, []byte(c.Dockerfile), ""); err != nil {
		return nil, "", err
	}
	names := make([]string, 0, len(c.Files))
	for n := range c.Files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		f := c.Files[n]
		data, mode := f.Data, f.Mode
		switch {
		case f.Link != "":
			if mode == 0 {
				mode = 0o777
			}
		case f.Src != "":
			b, err := os.ReadFile(f.Src)
			if err != nil {
				return nil, "", err
			}
			data = b
			if mode == 0 {
				mode = 0o755
			}
		default:
			if mode == 0 {
				mode = 0o644
			}
		}
		if err := add(path.Clean(n), mode, data, f.Link); err != nil {
			return nil, "", err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), hex.EncodeToString(h.Sum(nil)), nil
}

// BusyboxApplets are linked to busybox in the busybox image's /bin.
var BusyboxApplets = []string{
	"sh", "ash", "cat", "cp", "echo", "env", "id", "ls", "mkdir", "mv", "nc", "ps",
	"rm", "sleep", "sync", "tail", "touch", "true", "false", "wget", "chmod", "kill",
	"head", "grep", "sed", "nslookup", "uname", "whoami", "dd", "find", "stat",
}

// BusyboxContext is the build context of the busybox image: FROM scratch
// with Debian's static busybox and links for BusyboxApplets.
func BusyboxContext() Context {
	c := Context{
		Dockerfile: "FROM scratch\nCOPY bin /bin\nCOPY tmp /tmp\nENV PATH=/bin\nCMD [\"/bin/sh\"]\n",
		Files: map[string]File{
			"bin/busybox": {Src: BusyboxPath},
			"tmp/.keep":   {Data: nil, Mode: 0o644},
		},
	}
	for _, a := range BusyboxApplets {
		c.Files["bin/"+a] = File{Link: "busybox"}
	}
	return c
}

// BuildBusybox builds (once per content) the busybox image and returns its
// reference, for callers outside tests such as dataset scenarios.
func BuildBusybox(ctx context.Context) (string, error) {
	if _, err := os.Stat(BusyboxPath); err != nil {
		return "", fmt.Errorf("busybox image needs Debian's busybox-static: %w", err)
	}
	return Build(ctx, "vigil-test/busybox", BusyboxContext())
}

// BusyboxImage requires Docker and returns the busybox image, building it on
// first use.
func BusyboxImage(t testing.TB) string {
	t.Helper()
	Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ref, err := BuildBusybox(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// Run starts a detached container with `docker run -d --network none` plus
// args (options, then the image and command) and returns its full id. The
// container is removed when the test ends.
func Run(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id, err := Start(ctx, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = Remove(context.Background(), id) })
	return id
}

// Start is Run for callers outside tests; the caller removes the container.
func Start(ctx context.Context, args ...string) (string, error) {
	for _, a := range args {
		if a == "--network" || strings.HasPrefix(a, "--network=") || a == "--net" || strings.HasPrefix(a, "--net=") {
			return "", errors.New("dockertest.Start sets --network none itself; use docker directly for internal networks")
		}
	}
	full := append([]string{"run", "-d", "--network", "none"}, args...)
	out, err := exec.CommandContext(ctx, "docker", full...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("docker %s: %v: %s", strings.Join(full, " "), err, bytes.TrimSpace(out))
	}
	id := strings.TrimSpace(string(out))
	if i := strings.LastIndexByte(id, '\n'); i >= 0 {
		id = id[i+1:]
	}
	return id, nil
}

// Remove force-removes a container.
func Remove(ctx context.Context, id string) error {
	out, err := exec.CommandContext(ctx, "docker", "rm", "-f", id).CombinedOutput()
	if err != nil {
		return fmt.Errorf("docker rm -f %s: %v: %s", id, err, bytes.TrimSpace(out))
	}
	return nil
}

// Inspect returns one field of `docker inspect --format`.
func Inspect(ctx context.Context, id, format string) (string, error) {
	out, err := exec.CommandContext(ctx, "docker", "inspect", "--format", format, id).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("docker inspect %s: %v: %s", id, err, bytes.TrimSpace(ee.Stderr))
		}
		return "", fmt.Errorf("docker inspect %s: %w", id, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// PID returns the host pid of a running container's init process.
func PID(t testing.TB, id string) int {
	t.Helper()
	s, err := Inspect(context.Background(), id, "{{.State.Pid}}")
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	if _, err := fmt.Sscan(s, &pid); err != nil || pid == 0 {
		t.Fatalf("container %s has no pid (%q)", id, s)
	}
	return pid
}
