package proc

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// userHZ is the unit of /proc/<pid>/stat's starttime. The kernel fixes
// USER_HZ at 100 on every architecture Vigil runs on, whatever CONFIG_HZ is.
const userHZ = 100

const tickNS = int64(time.Second) / userHZ

// Argv read from /proc is bounded like the BPF programs bound it at exec, so
// the same process looks the same whichever path saw it first.
const (
	maxArgs      = 20
	maxArgvBytes = 1024
)

// statInfo is what /proc/<pid>/stat says.
type statInfo struct {
	comm       string
	state      byte
	ppid       int32
	startTicks uint64 // clock ticks since boot
}

// readStat parses /proc/<pid>/stat. The command name sits in parentheses and
// may itself hold ") " or any byte, so fields are counted from the last ')'.
func readStat(procRoot string, pid int32) (statInfo, error) {
	var buf [1024]byte
	b, err := readSmall(filepath.Join(procRoot, strconv.Itoa(int(pid)), "stat"), buf[:])
	if err != nil {
		return statInfo{}, err
	}
	return parseStat(b)
}

func parseStat(b []byte) (statInfo, error) {
	open := bytes.IndexByte(b, '(')
	closing := bytes.LastIndexByte(b, ')')
	if open < 0 || closing < open || closing+2 > len(b) {
		return statInfo{}, fmt.Errorf("malformed stat %q", truncate(b))
	}
	var si statInfo
	si.comm = string(b[open+1 : closing])
	// After ") ": state(3) ppid(4) pgrp session tty_nr tpgid flags minflt
	// cminflt majflt cmajflt utime stime cutime cstime priority nice
	// num_threads itrealvalue starttime(22).
	rest := b[closing+2:]
	for field := 3; field <= 22; field++ {
		sp := bytes.IndexByte(rest, ' ')
		var tok []byte
		if sp < 0 {
			tok, rest = rest, nil
		} else {
			tok, rest = rest[:sp], rest[sp+1:]
		}
		switch field {
		case 3:
			if len(tok) != 1 {
				return statInfo{}, fmt.Errorf("malformed stat state %q", tok)
			}
			si.state = tok[0]
		case 4:
			v, err := strconv.ParseInt(string(tok), 10, 32)
			if err != nil {
				return statInfo{}, fmt.Errorf("malformed stat ppid: %w", err)
			}
			si.ppid = int32(v)
		case 22:
			v, err := strconv.ParseUint(string(bytes.TrimSpace(tok)), 10, 64)
			if err != nil {
				return statInfo{}, fmt.Errorf("malformed stat starttime: %w", err)
			}
			si.startTicks = v
		}
		if rest == nil && field < 22 {
			return statInfo{}, fmt.Errorf("stat has %d fields, want 22", field)
		}
	}
	return si, nil
}

func truncate(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

// readSmall reads a procfs file of at most len(buf) bytes without the
// allocations os.ReadFile makes for its growing buffer. A result of len(buf)
// bytes may be cut short; callers size buf to tell.
func readSmall(path string, buf []byte) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	n := 0
	for n < len(buf) {
		m, err := unix.Read(fd, buf[n:])
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		}
		n += m
		// procfs fills a read from its seq_file in one go: a short read
		// is the end, and skipping the read that would return 0 saves a
		// syscall on the fork path.
		if m == 0 || n < len(buf) {
			break
		}
	}
	return buf[:n], nil
}

// readProcess reads everything /proc tells about a process. Only the stat
// read must succeed: kernel threads have no exe, and a process may exit
// between reads.
func (t *Table) readProcess(pid int32) (*entry, error) {
	si, err := readStat(t.cfg.ProcRoot, pid)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(t.cfg.ProcRoot, strconv.Itoa(int(pid)))
	en := &entry{Process: Process{
		PID:        pid,
		PPID:       si.ppid,
		Comm:       si.comm,
		StartTicks: si.startTicks,
		Start:      t.bootNS + int64(si.startTicks)*tickNS,
	}}
	en.UUID = t.uuidFor(pid, si.startTicks)
	if exe, err := os.Readlink(filepath.Join(dir, "exe")); err == nil {
		en.exe = &exeInfo{path: exe}
	} else {
		en.exe = &exeInfo{}
	}
	if cwd, err := os.Readlink(filepath.Join(dir, "cwd")); err == nil {
		en.Cwd = cwd
	}
	var buf [maxArgvBytes + 1]byte
	if b, err := readSmall(filepath.Join(dir, "cmdline"), buf[:]); err == nil {
		en.Argv, en.ArgvTruncated = splitArgv(b)
	}
	var sbuf [4096]byte
	if b, err := readSmall(filepath.Join(dir, "status"), sbuf[:]); err == nil {
		en.UID, en.EUID = statusIDs(b, "Uid:")
		en.GID, en.EGID = statusIDs(b, "Gid:")
	}
	return en, nil
}

// splitArgv splits a NUL-separated cmdline, bounded by maxArgs and
// maxArgvBytes (b holds at most maxArgvBytes+1 bytes, so a full buffer means
// the real command line was longer).
func splitArgv(b []byte) ([]string, bool) {
	truncated := false
	if len(b) > maxArgvBytes {
		b, truncated = b[:maxArgvBytes], true
	}
	b = bytes.TrimSuffix(b, []byte{0})
	if len(b) == 0 {
		return nil, truncated
	}
	parts := bytes.Split(b, []byte{0})
	if len(parts) > maxArgs {
		parts, truncated = parts[:maxArgs], true
	}
	argv := make([]string, len(parts))
	for i, p := range parts {
		argv[i] = string(p)
	}
	return argv, truncated
}

// statusIDs reads the real and effective ids from a "Uid:" or "Gid:" line.
func statusIDs(status []byte, key string) (real, eff uint32) {
	i := bytes.Index(status, []byte("\n"+key))
	if i < 0 {
		return 0, 0
	}
	line := status[i+1+len(key):]
	if j := bytes.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	f := strings.Fields(string(line))
	if len(f) >= 2 {
		r, _ := strconv.ParseUint(f[0], 10, 32)
		e, _ := strconv.ParseUint(f[1], 10, 32)
		return uint32(r), uint32(e)
	}
	return 0, 0
}

// statusTgid reads the thread group id of a task from /proc/<tid>/status.
func statusTgid(procRoot string, tid int32) (int32, error) {
	var buf [4096]byte
	b, err := readSmall(filepath.Join(procRoot, strconv.Itoa(int(tid)), "status"), buf[:])
	if err != nil {
		return 0, err
	}
	i := bytes.Index(b, []byte("\nTgid:"))
	if i < 0 {
		return 0, errors.New("no Tgid in status")
	}
	line := b[i+len("\nTgid:"):]
	if j := bytes.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(line)), 10, 32)
	return int32(v), err
}

// bootTimeNS returns the wall-clock time of boot in ns, the base /proc's
// start times count from (CLOCK_BOOTTIME includes suspend, as start_boottime
// does).
//
// Each sample reads the boot clock after the wall clock, so it undershoots by
// the gap between the reads; the largest of a few samples, rounded to the
// microsecond, is the same across agent restarts, and so is every ProcStart.
func bootTimeNS() int64 {
	best := int64(math.MinInt64)
	for range 8 {
		var rt, bt unix.Timespec
		_ = unix.ClockGettime(unix.CLOCK_REALTIME, &rt)
		_ = unix.ClockGettime(unix.CLOCK_BOOTTIME, &bt)
		best = max(best, rt.Nano()-bt.Nano())
	}
	return (best + 500) / 1000 * 1000
}

// readBootID returns the kernel's boot id.
func readBootID(procRoot string) (string, error) {
	b, err := os.ReadFile(filepath.Join(procRoot, "sys/kernel/random/boot_id"))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}
