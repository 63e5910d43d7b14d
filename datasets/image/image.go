// Package image builds the one image every scenario container runs, locally
// and without pulling anything: FROM scratch, Debian's static busybox, and the
// project's static vsim program. The tag is a hash of everything that goes in,
// so an unchanged image is never rebuilt.
package image

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/vigilsec/vigil/datasets/dockerapi"
	"github.com/vigilsec/vigil/datasets/simproto"
	"github.com/vigilsec/vigil/internal/logkey"
)

// Repository is the image name; the tag is the content hash.
const Repository = "vigil-scenario"

// Label marks images built here, so they can be found and removed.
const Label = "com.vigilsec.scenario-image"

// Busybox is where Debian's busybox-static installs the binary.
var Busybox = "/bin/busybox"

// Options say where the image's programs come from.
type Options struct {
	// Vsim is a static vsim binary. Empty: build it from the module source
	// (found from the working directory upward), or use the vsim next to the
	// running executable.
	Vsim string
	Log  *slog.Logger
}

// Build makes sure the scenario image exists and returns its reference.
func Build(ctx context.Context, dc *dockerapi.Client, opts Options) (string, error) {
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	vsim := opts.Vsim
	if vsim != "" {
		if err := checkVersion(ctx, vsim); err != nil {
			return "", err
		}
	} else {
		tmp, err := os.MkdirTemp("", "vigil-vsim-")
		if err != nil {
			return "", err
		}
		defer os.RemoveAll(tmp)
		if vsim, err = findOrBuildVsim(ctx, tmp); err != nil {
			return "", err
		}
	}
	files, err := contextFiles(vsim)
	if err != nil {
		return "", err
	}
	ref := Repository + ":" + hashFiles(files)
	if ok, err := dc.ImageExists(ctx, ref); err != nil {
		return "", err
	} else if ok {
		log.Debug("scenario image cached", logkey.Key, ref)
		return ref, nil
	}
	var buf bytes.Buffer
	if err := writeTar(&buf, files); err != nil {
		return "", err
	}
	start := time.Now()
	var out strings.Builder
	if err := dc.Build(ctx, ref, map[string]string{Label: "1"}, &buf, &out); err != nil {
		return "", fmt.Errorf("%w\n%s", err, out.String())
	}
	log.Info("built scenario image", logkey.Key, ref, logkey.Duration, time.Since(start).Round(time.Millisecond))
	return ref, nil
}

func findOrBuildVsim(ctx context.Context, dir string) (string, error) {
	if root, ok := moduleRoot(); ok {
		if _, err := exec.LookPath("go"); err == nil {
			out := filepath.Join(dir, "vsim")
			cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", out, "./datasets/cmd/vsim")
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
			if b, err := cmd.CombinedOutput(); err != nil {
				return "", fmt.Errorf("building vsim in %s: %v\n%s", root, err, b)
			}
			return out, nil
		}
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "vsim")
		if _, err := os.Stat(p); err == nil {
			return p, checkVersion(ctx, p)
		}
	}
	return "", fmt.Errorf("no vsim program: run from the vigil source tree with Go installed, or put a static vsim (make build) next to %s", os.Args[0])
}

// checkVersion refuses a prebuilt vsim that speaks another protocol than this
// runner (a stale build next to a newer vigil).
func checkVersion(ctx context.Context, vsim string) error {
	out, err := exec.CommandContext(ctx, vsim, "version").Output()
	got := strings.TrimSpace(string(out))
	if err != nil || got != simproto.Version {
		return fmt.Errorf("%s speaks scenario protocol %q, this vigil needs %q: rebuild it (make build)", vsim, got, simproto.Version)
	}
	return nil
}

func moduleRoot() (string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(strings.TrimSpace(string(b)), "module github.com/vigilsec/vigil\n") {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

type file struct {
	name string
	mode int64
	data []byte
}

const dockerfile = `FROM scratch
COPY rootfs/ /
RUN ["/bin/busybox", "--install", "-s", "/bin"]
# A setuid-root copy of vsim for the elevation-to-root scenario; /tmp sticky as
# on any distribution.
RUN ["/bin/sh", "-c", "cp /usr/local/bin/vsim /usr/local/bin/suid-root && chmod 4755 /usr/local/bin/suid-root && chmod 1777 /tmp && chmod 640 /etc/shadow && chown -R 1000:1000 /home/app"]
ENV PATH=/usr/local/bin:/bin HOME=/root
WORKDIR /
`

// contextFiles is the whole build context: a small but ordinary Linux
// userland, so sensitive-file and persistence scenarios find the files they
// would find on a real image.
func contextFiles(vsim string) ([]file, error) {
	bb, err := os.ReadFile(Busybox)
	if err != nil {
		return nil, fmt.Errorf("reading busybox (install Debian's busybox-static: make deps): %w", err)
	}
	vs, err := os.ReadFile(vsim)
	if err != nil {
		return nil, fmt.Errorf("reading vsim: %w", err)
	}
	if !isStatic(vs) {
		return nil, fmt.Errorf("%s is not a static executable (build it with CGO_ENABLED=0)", vsim)
	}
	return []file{
		{"Dockerfile", 0o644, []byte(dockerfile)},
		{"rootfs/bin/busybox", 0o755, bb},
		{"rootfs/usr/local/bin/vsim", 0o755, vs},
		{"rootfs/etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")},
		{"rootfs/etc/group", 0o644, []byte("root:x:0:\napp:x:1000:\nnogroup:x:65534:\n")},
		{"rootfs/etc/shadow", 0o640, []byte("root:*:19700:0:99999:7:::\napp:!:19700:0:99999:7:::\nnobody:*:19700:0:99999:7:::\n")},
		{"rootfs/etc/hosts", 0o644, []byte("127.0.0.1 localhost\n")},
		{"rootfs/etc/hostname", 0o644, []byte("scenario\n")},
		{"rootfs/etc/os-release", 0o644, []byte("NAME=\"Vigil scenario\"\nID=vigil-scenario\n")},
		{"rootfs/root/.profile", 0o644, []byte("export PS1='# '\n")},
		{"rootfs/root/.ssh/authorized_keys", 0o600, []byte("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHZpZ2lsLXNjZW5hcmlvLW9wcy1rZXktZml4dHVyZQ ops@vigil\n")},
		{"rootfs/home/app/.profile", 0o644, []byte("export PATH=/usr/local/bin:/bin\n")},
		{"rootfs/var/log/.keep", 0o644, nil},
		{"rootfs/var/run/.keep", 0o644, nil},
		{"rootfs/tmp/.keep", 0o644, nil},
		{"rootfs/data/.keep", 0o644, nil},
	}, nil
}

func isStatic(elf []byte) bool {
	// A dynamically linked ELF names its interpreter in a PT_INTERP segment,
	// whose contents start with the loader path.
	return len(elf) > 4 && string(elf[:4]) == "\x7fELF" && !bytes.Contains(elf[:min(len(elf), 4096)], []byte("/lib64/ld-linux"))
}

func hashFiles(files []file) string {
	sorted := append([]file(nil), files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].name < sorted[j].name })
	h := sha256.New()
	for _, f := range sorted {
		fmt.Fprintf(h, "%s\x00%o\x00%d\x00", f.name, f.mode, len(f.data))
		h.Write(f.data)
	}
	return hex.EncodeToString(h.Sum(nil))[:20]
}

func writeTar(w io.Writer, files []file) error {
	tw := tar.NewWriter(w)
	dirs := map[string]bool{}
	for _, f := range files {
		for d := filepath.Dir(f.name); d != "." && !dirs[d]; d = filepath.Dir(d) {
			dirs[d] = true
		}
	}
	var dl []string
	for d := range dirs {
		dl = append(dl, d)
	}
	sort.Strings(dl)
	for _, d := range dl {
		mode := int64(0o755)
		if d == "rootfs/root" || d == "rootfs/root/.ssh" {
			mode = 0o700
		}
		if err := tw.WriteHeader(&tar.Header{Name: d + "/", Mode: mode, Typeflag: tar.TypeDir}); err != nil {
			return err
		}
	}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	return tw.Close()
}

// TarFiles packs files (path -> content, mode) into a tar stream rooted at /,
// for copying into a container before it starts.
func TarFiles(files map[string]TarEntry) (*bytes.Buffer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	made := map[string]bool{}
	for _, n := range names {
		var parents []string
		for d := filepath.Dir(n); d != "/" && !made[d]; d = filepath.Dir(d) {
			parents = append([]string{d}, parents...)
			made[d] = true
		}
		for _, d := range parents {
			if err := tw.WriteHeader(&tar.Header{Name: strings.TrimPrefix(d, "/") + "/", Mode: 0o755, Typeflag: tar.TypeDir}); err != nil {
				return nil, err
			}
		}
		f := files[n]
		if err := tw.WriteHeader(&tar.Header{Name: strings.TrimPrefix(n, "/"), Mode: f.Mode, Size: int64(len(f.Data)), Typeflag: tar.TypeReg, Uid: f.UID, Gid: f.UID}); err != nil {
			return nil, err
		}
		tw.Write(f.Data)
	}
	return &buf, tw.Close()
}

// TarEntry is one file for TarFiles.
type TarEntry struct {
	Data []byte
	Mode int64
	UID  int
}
