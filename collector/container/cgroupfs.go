package container

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// hierarchy maps the kernfs ids of one cgroup hierarchy (the v2 tree or one
// v1 controller's tree) to cgroup paths. A cgroup's kernfs id is its
// directory's inode number; ids are unique only within one hierarchy, which is
// why v1 and v2 ids live apart.
//
// Lookups first ask the kernel directly with open_by_handle_at (kernfs file
// handles carry the id), which costs one syscall per new cgroup however many
// cgroups the host has; where that is refused (no CAP_DAC_READ_SEARCH, old
// kernels) they fall back to a rate-limited walk of the whole tree.
type hierarchy struct {
	root      string // mount point, e.g. /sys/fs/cgroup/unified
	paths     map[uint64]string
	lastScan  time.Time
	minRescan time.Duration
	mountFD   int // -1 until opened; -2 once handles proved unusable
	scans     atomic.Uint64
}

func newHierarchy(root string, minRescan time.Duration) *hierarchy {
	return &hierarchy{root: root, paths: make(map[uint64]string), minRescan: minRescan, mountFD: -1}
}

func (h *hierarchy) close() {
	if h.mountFD >= 0 {
		unix.Close(h.mountFD)
	}
	h.mountFD = -2
}

// lookup returns the cgroup path (relative to the hierarchy root, starting
// with "/") of id. Only the resolver's worker calls it.
func (h *hierarchy) lookup(id uint64) (string, bool) {
	if p, ok := h.paths[id]; ok {
		return p, true
	}
	if p, err := h.byHandle(id); err == nil {
		h.paths[id] = p
		return p, true
	}
	if time.Since(h.lastScan) < h.minRescan {
		return "", false
	}
	h.scan()
	p, ok := h.paths[id]
	return p, ok
}

const fileidKernfs = 0xfe // FILEID_KERNFS in include/linux/exportfs.h

func (h *hierarchy) byHandle(id uint64) (string, error) {
	if h.mountFD == -2 {
		return "", errors.ErrUnsupported
	}
	if h.mountFD == -1 {
		fd, err := unix.Open(h.root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			h.mountFD = -2
			return "", err
		}
		h.mountFD = fd
	}
	var b [8]byte
	binary.NativeEndian.PutUint64(b[:], id)
	fd, err := unix.OpenByHandleAt(h.mountFD, unix.NewFileHandle(fileidKernfs, b[:]), unix.O_RDONLY|unix.O_PATH|unix.O_CLOEXEC)
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL) {
			h.close()
		}
		return "", err
	}
	defer unix.Close(fd)
	target, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		return "", err
	}
	rel, ok := strings.CutPrefix(target, h.root)
	if !ok || (rel != "" && rel[0] != '/') {
		// The mount is not where our mount namespace shows it (an agent in
		// a container with cgroupfs bind-mounted elsewhere): let the walk,
		// which only knows paths under root, answer instead.
		return "", fmt.Errorf("cgroup %d at %q outside %s", id, target, h.root)
	}
	if rel == "" {
		rel = "/"
	}
	return rel, nil
}

// scan walks the hierarchy and replaces the map, so ids of removed cgroups
// (whose inode numbers the kernel may reuse) do not linger.
func (h *hierarchy) scan() {
	h.lastScan = time.Now()
	h.scans.Add(1)
	paths := make(map[uint64]string, len(h.paths))
	_ = filepath.WalkDir(h.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			// A cgroup removed mid-walk: skip it, keep walking.
			if d != nil && d.IsDir() && p != h.root {
				return fs.SkipDir
			}
			return nil
		}
		if !d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		rel := strings.TrimPrefix(p, h.root)
		if rel == "" {
			rel = "/"
		}
		paths[st.Ino] = rel
		return nil
	})
	h.paths = paths
}

// inode returns the kernfs id of the cgroup directory at p.
func inode(p string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// isCgroup2 reports whether p is a cgroup2 mount.
func isCgroup2(p string) bool {
	var st unix.Statfs_t
	return unix.Statfs(p, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// isCgroup1 reports whether p is a cgroup v1 mount.
func isCgroup1(p string) bool {
	var st unix.Statfs_t
	return unix.Statfs(p, &st) == nil && st.Type == unix.CGROUP_SUPER_MAGIC
}

// procCgroups reads /proc/<pid>/cgroup and returns the v2 path and the path
// in the v1 hierarchy of the given controller ("" when absent).
func procCgroups(procRoot string, pid int, controller string) (v2, v1 string, err error) {
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "cgroup"))
	if err != nil {
		return "", "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		// hierarchy-id:controller-list:path; the path may itself hold ':'.
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		if f[0] == "0" && f[1] == "" {
			v2 = f[2]
			continue
		}
		for _, c := range strings.Split(f[1], ",") {
			if c == controller {
				v1 = f[2]
			}
		}
	}
	return v2, v1, nil
}
