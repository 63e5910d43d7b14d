package collector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigilsec/vigil/collector/container"
	"github.com/vigilsec/vigil/trace"
)

func TestMain(m *testing.M) {
	runActor()
	os.Exit(m.Run())
}

// requireBPF skips a test that needs root and BPF, or fails it when
// VIGIL_REQUIRE_BPF=1 says BPF must be there.
func requireBPF(t testing.TB, err error) {
	t.Helper()
	if err == nil && os.Geteuid() == 0 {
		return
	}
	if err == nil {
		err = errors.New("not root")
	}
	if os.Getenv("VIGIL_REQUIRE_BPF") == "1" {
		t.Fatalf("BPF required (VIGIL_REQUIRE_BPF=1): %v", err)
	}
	t.Skipf("BPF not available (set VIGIL_REQUIRE_BPF=1 to fail instead): %v", err)
}

// recorder keeps the events of the test's own descendants (the host's other
// processes would only use memory and time).
type recorder struct {
	mu     sync.Mutex
	events []trace.Event
	ours   map[int32]bool
	all    bool
}

func newRecorder() *recorder { return &recorder{ours: map[int32]bool{}} }

func (r *recorder) add(e *trace.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e.PPID == int32(os.Getpid()) {
		r.ours[e.PID] = true
	}
	if !r.ours[e.PID] && !r.all {
		return
	}
	if e.Kind == trace.KindFork {
		r.ours[e.TargetPID] = true
	}
	r.events = append(r.events, *e)
}

// find returns the events match accepts, waiting up to 5s for at least one.
func (r *recorder) find(t *testing.T, what string, match func(*trace.Event) bool) []trace.Event {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var got []trace.Event
		r.mu.Lock()
		for i := range r.events {
			if match(&r.events[i]) {
				got = append(got, r.events[i])
			}
		}
		r.mu.Unlock()
		if len(got) > 0 {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s event within 5s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *recorder) one(t *testing.T, what string, match func(*trace.Event) bool) trace.Event {
	t.Helper()
	return r.find(t, what, match)[0]
}

// shared is one collector for all kind tests: loading and verifying ~120
// programs is the slow part.
var shared struct {
	once sync.Once
	c    *Collector
	rec  *recorder
	err  error
}

func sharedCollector(t *testing.T) (*Collector, *recorder) {
	t.Helper()
	shared.once.Do(func() {
		if os.Geteuid() != 0 {
			shared.err = errors.New("not root")
			return
		}
		shared.c, shared.err = New(Config{ExcludeSelf: true})
		if shared.err != nil {
			return
		}
		shared.rec = newRecorder()
		go shared.c.Run(context.Background(), shared.rec.add)
	})
	requireBPF(t, shared.err)
	return shared.c, shared.rec
}

// run runs an actor to completion and returns its pid and stdout.
func run(t *testing.T, name string, args ...string) (int32, string) {
	t.Helper()
	cmd := actorCmd(name, args...)
	out, err := cmd.Output()
	if err != nil && name != "misc" {
		t.Fatalf("actor %s: %v", name, err)
	}
	return int32(cmd.Process.Pid), strings.TrimSpace(string(out))
}

func byPID(pid int32, kind trace.Kind) func(*trace.Event) bool {
	return func(e *trace.Event) bool { return e.PID == pid && e.Kind == kind }
}

func TestExecArgv(t *testing.T) {
	_, rec := sharedCollector(t)
	// Newlines, terminal escapes and invalid UTF-8 must arrive byte-exact.
	args := []string{"/bin/true", "plain", "two\nlines", "\x1b[31mred\x1b[0m", "bad\xff\xfeutf8", ""}
	cmd := actorCmd("noop")
	cmd.Path, cmd.Args = "/bin/true", args
	cmd.Dir = "/tmp"
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	pid := int32(cmd.Process.Pid)
	e := rec.one(t, "exec", byPID(pid, trace.KindExec))
	if e.Path != "/bin/true" || !slices.Equal(e.Argv, args) || e.ArgvTruncated {
		t.Errorf("exec: path %q argv %q truncated %v; want /bin/true %q", e.Path, e.Argv, e.ArgvTruncated, args)
	}
	if exe, _ := filepath.EvalSymlinks("/bin/true"); e.ExePath != exe {
		t.Errorf("exec: exe path %q, want %q", e.ExePath, exe)
	}
	if e.Cwd != "/tmp" || e.Ret != 0 || e.Syscall != unix.SYS_EXECVE || e.Comm != "true" {
		t.Errorf("exec: cwd %q ret %d syscall %d comm %q", e.Cwd, e.Ret, e.Syscall, e.Comm)
	}
	if e.PPID != int32(os.Getpid()) || e.UID != 0 || e.CgroupID == 0 {
		t.Errorf("exec: ppid %d (want %d) uid %d cgroup %d", e.PPID, os.Getpid(), e.UID, e.CgroupID)
	}
	if d := time.Since(time.Unix(0, e.Time)); d < 0 || d > time.Minute {
		t.Errorf("exec: time %v is %v from now", time.Unix(0, e.Time), d)
	}
	x := rec.one(t, "exit", byPID(pid, trace.KindExit))
	if x.Ret != 0 {
		t.Errorf("exit code %d", x.Ret)
	}
}

func TestExecArgvBounded(t *testing.T) {
	_, rec := sharedCollector(t)
	args := []string{"/bin/true"}
	for i := 0; i < 30; i++ {
		args = append(args, strings.Repeat("x", 60))
	}
	cmd := actorCmd("noop")
	cmd.Path, cmd.Args = "/bin/true", args
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	e := rec.one(t, "exec", byPID(int32(cmd.Process.Pid), trace.KindExec))
	if !e.ArgvTruncated || len(e.Argv) > MaxArgs || len(strings.Join(e.Argv, " ")) > 1024 {
		t.Errorf("argv not bounded: %d args, truncated %v", len(e.Argv), e.ArgvTruncated)
	}
	if e.Argv[1] != args[1] {
		t.Errorf("argv[1] = %q", e.Argv[1])
	}
}

func TestFiles(t *testing.T) {
	_, rec := sharedCollector(t)
	dir := t.TempDir()
	pid, _ := run(t, "files", dir)
	created, renamed := filepath.Join(dir, "created"), filepath.Join(dir, "renamed")

	o := rec.one(t, "open", func(e *trace.Event) bool { return e.PID == pid && e.Kind == trace.KindOpen && e.Path == created })
	if o.Flags&(unix.O_CREAT|unix.O_WRONLY) != unix.O_CREAT|unix.O_WRONLY || o.Mode != 0o640 || o.Ret < 0 || o.FD != int32(o.Ret) {
		t.Errorf("open: flags %#o mode %#o ret %d fd %d", o.Flags, o.Mode, o.Ret, o.FD)
	}
	if o.Syscall != unix.SYS_OPENAT {
		t.Errorf("open: syscall %d", o.Syscall)
	}
	c := rec.one(t, "chmod", byPID(pid, trace.KindChmod))
	if c.Path != created || c.Mode != 0o600 || c.Ret != 0 {
		t.Errorf("chmod: %q mode %#o ret %d", c.Path, c.Mode, c.Ret)
	}
	ch := rec.one(t, "chown", byPID(pid, trace.KindChown))
	if ch.Path != created || ch.Flags != 1234<<32|5678 || ch.Ret != 0 {
		t.Errorf("chown: %q flags %#x ret %d", ch.Path, ch.Flags, ch.Ret)
	}
	r := rec.one(t, "rename", byPID(pid, trace.KindRename))
	if r.Path != created || r.NewPath != renamed || r.Ret != 0 {
		t.Errorf("rename: %q -> %q ret %d", r.Path, r.NewPath, r.Ret)
	}
	links := rec.find(t, "link", byPID(pid, trace.KindLink))
	var hard, soft bool
	for _, l := range links {
		hard = hard || (l.Path == renamed && l.NewPath == filepath.Join(dir, "hard") && l.Ret == 0)
		soft = soft || (l.Path == "/etc/passwd" && l.NewPath == filepath.Join(dir, "soft") && l.Ret == 0)
	}
	if !hard || !soft {
		t.Errorf("links: %+v", links)
	}
	u := rec.one(t, "unlink", byPID(pid, trace.KindUnlink))
	if u.Path != renamed || u.Ret != 0 {
		t.Errorf("unlink: %q ret %d", u.Path, u.Ret)
	}
}

func TestLongAndNonUTF8Paths(t *testing.T) {
	_, rec := sharedCollector(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad\xff\xfe\n\x1b[2Jname")
	pid, _ := run(t, "open", bad)
	e := rec.one(t, "open", byPID(pid, trace.KindOpen))
	_ = e
	got := rec.find(t, "open", func(e *trace.Event) bool { return e.PID == pid && e.Kind == trace.KindOpen && e.Path == bad })
	if got[0].PathTruncated || got[0].Ret < 0 {
		t.Errorf("non-UTF-8 open: truncated %v ret %d", got[0].PathTruncated, got[0].Ret)
	}

	long := "/tmp/" + strings.Repeat("a", 5000)
	pid, _ = run(t, "open", long)
	l := rec.one(t, "open", func(e *trace.Event) bool {
		return e.PID == pid && e.Kind == trace.KindOpen && strings.HasPrefix(e.Path, "/tmp/aaaa")
	})
	if !l.PathTruncated || len(l.Path) != 4095 || !strings.HasPrefix(long, l.Path) || l.Ret != -int64(unix.ENAMETOOLONG) {
		t.Errorf("long path: truncated %v len %d ret %d", l.PathTruncated, len(l.Path), l.Ret)
	}
	_, st := shared.c, shared.c.Stats()
	if st.Truncated == 0 {
		t.Errorf("truncations not counted: %+v", st)
	}
}

func TestDeepCwdTruncated(t *testing.T) {
	_, rec := sharedCollector(t)
	pid, _ := run(t, "deepcwd", t.TempDir(), "40")
	e := rec.one(t, "exec", func(e *trace.Event) bool { return byPID(pid, trace.KindExec)(e) && e.Path == "/bin/true" })
	if !e.PathTruncated || strings.HasPrefix(e.Cwd, "/") || !strings.HasSuffix(e.Cwd, "/d38/d39") {
		t.Errorf("deep cwd: truncated %v cwd %q", e.PathTruncated, e.Cwd)
	}
}

func TestNetwork(t *testing.T) {
	_, rec := sharedCollector(t)
	pid, _ := run(t, "net")
	for _, fam := range []uint16{trace.FamilyInet, trace.FamilyInet6} {
		lo := "127.0.0.1"
		if fam == trace.FamilyInet6 {
			lo = "::1"
		}
		b := rec.one(t, "bind", func(e *trace.Event) bool { return byPID(pid, trace.KindBind)(e) && e.NetFamily == fam })
		l := rec.one(t, "listen", func(e *trace.Event) bool { return byPID(pid, trace.KindListen)(e) && e.NetFamily == fam })
		c := rec.one(t, "connect", func(e *trace.Event) bool { return byPID(pid, trace.KindConnect)(e) && e.NetFamily == fam })
		a := rec.one(t, "accept", func(e *trace.Event) bool {
			return byPID(pid, trace.KindAccept)(e) && e.NetFamily == fam && e.Ret >= 0
		})
		port := l.SrcPort
		if b.SrcAddr != lo || l.SrcAddr != lo || port == 0 || l.Ret != 0 || b.Ret != 0 {
			t.Errorf("family %d: bind %s:%d listen %s:%d ret %d/%d", fam, b.SrcAddr, b.SrcPort, l.SrcAddr, port, b.Ret, l.Ret)
		}
		if c.DstAddr != lo || c.DstPort != port || c.NetProto != 6 || c.SrcPort == 0 || (c.Ret != 0 && c.Ret != -int64(unix.EINPROGRESS)) {
			t.Errorf("family %d: connect %+v", fam, c)
		}
		if a.SrcPort != port || a.DstPort != c.SrcPort || a.DstAddr != lo || a.FD != int32(a.Ret) {
			t.Errorf("family %d: accept %+v (connect from port %d)", fam, a, c.SrcPort)
		}
	}
}

// TestExecStdio execs /bin/true with sockets, pipes and files as its fds
// 0-2 (exec.Cmd dup2s them into place in the child, as a reverse shell does
// before it execs sh) and checks the stdio bits of each exec event.
func TestExecStdio(t *testing.T) {
	_, rec := sharedCollector(t)
	dir := t.TempDir()
	file := func(name string) *os.File {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	// tcp returns both ends of a loopback TCP connection as files.
	tcp := func(network, addr string) (*os.File, *os.File) {
		l, err := net.Listen(network, addr)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		c, err := net.Dial(network, l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		s, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		cf, err := c.(*net.TCPConn).File()
		if err != nil {
			t.Fatal(err)
		}
		sf, err := s.(*net.TCPConn).File()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cf.Close(); sf.Close() })
		return cf, sf
	}
	tcp4, _ := tcp("tcp4", "127.0.0.1:0")
	tcp6, _ := tcp("tcp6", "[::1]:0")
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	pair := os.NewFile(uintptr(fds[0]), "socketpair")
	t.Cleanup(func() { pair.Close(); unix.Close(fds[1]) })
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pr.Close(); pw.Close() })
	fifoPath := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifoPath, 0o600); err != nil {
		t.Fatal(err)
	}
	fifo, err := os.OpenFile(fifoPath, os.O_RDWR, 0) // O_RDWR: no wait for a peer
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fifo.Close() })
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { devnull.Close() })

	cases := []struct {
		name  string
		stdio [3]*os.File
		want  uint64
	}{
		{"tcp4 in+out", [3]*os.File{tcp4, tcp4, file("err4")},
			trace.ExecStdinSocket | trace.ExecStdoutSocket | trace.ExecStdinInet | trace.ExecStdoutInet},
		{"tcp6 all", [3]*os.File{tcp6, tcp6, tcp6},
			trace.ExecStdinSocket | trace.ExecStdoutSocket | trace.ExecStderrSocket |
				trace.ExecStdinInet | trace.ExecStdoutInet | trace.ExecStderrInet},
		{"socketpair all", [3]*os.File{pair, pair, pair},
			trace.ExecStdinSocket | trace.ExecStdoutSocket | trace.ExecStderrSocket},
		{"pipes and fifo", [3]*os.File{pr, pw, fifo},
			trace.ExecStdinPipe | trace.ExecStdoutPipe | trace.ExecStderrPipe},
		{"files", [3]*os.File{devnull, file("out"), file("err")}, 0},
		{"err only", [3]*os.File{devnull, file("out2"), tcp4}, trace.ExecStderrSocket | trace.ExecStderrInet},
	}
	for i, c := range cases {
		marker := fmt.Sprintf("stdio-%d", i)
		cmd := exec.Command("/bin/true", marker)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = c.stdio[0], c.stdio[1], c.stdio[2]
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		e := rec.one(t, "exec "+c.name, byPID(int32(cmd.Process.Pid), trace.KindExec))
		if len(e.Argv) != 2 || e.Argv[1] != marker {
			t.Fatalf("%s: exec argv %q, want /bin/true %s", c.name, e.Argv, marker)
		}
		if e.Flags != c.want {
			t.Errorf("%s: exec flags %#o, want %#o", c.name, e.Flags, c.want)
		}
	}
}

func TestDNS(t *testing.T) {
	_, rec := sharedCollector(t)
	server := "127.53.0.1"
	stop, err := dnsServer(server)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	check := func(pid int32, name string, qtype uint16) {
		t.Helper()
		got := rec.find(t, "dns "+name, func(e *trace.Event) bool {
			return e.PID == pid && e.Kind == trace.KindDNS && e.DNSName == name && e.DNSType == qtype
		})
		e := got[0]
		if e.DstAddr != server || e.DstPort != 53 || e.Ret < 0 {
			t.Errorf("dns %s: dst %s:%d ret %d", name, e.DstAddr, e.DstPort, e.Ret)
		}
	}
	t.Run("sendto", func(t *testing.T) {
		pid, _ := run(t, "dns-sendto", server, "plain.vigil.test")
		check(pid, "plain.vigil.test", 16)
	})
	t.Run("write", func(t *testing.T) {
		pid, _ := run(t, "dns-write", server, "gores.vigil.test")
		check(pid, "gores.vigil.test", 28)
	})
	t.Run("glibc", func(t *testing.T) {
		conf := filepath.Join(t.TempDir(), "resolv.conf")
		os.WriteFile(conf, []byte("nameserver "+server+"\noptions timeout:1 attempts:1\n"), 0o644)
		cmd := actorCmd("glibc", conf, "glibc.vigil.test")
		cmd.Run() // getent exits 2: NXDOMAIN
		pid := int32(cmd.Process.Pid)
		check(pid, "glibc.vigil.test", 1)  // A
		check(pid, "glibc.vigil.test", 28) // AAAA, same sendmmsg
	})
}

func TestPtraceAndProcMem(t *testing.T) {
	_, rec := sharedCollector(t)
	pid, out := run(t, "ptrace")
	child, _ := strconv.Atoi(out)
	e := rec.one(t, "ptrace", func(e *trace.Event) bool {
		return byPID(pid, trace.KindPtrace)(e) && e.Flags == unix.PTRACE_ATTACH
	})
	if e.TargetPID != int32(child) || e.Ret != 0 || e.Syscall != unix.SYS_PTRACE {
		t.Errorf("ptrace attach: target %d (want %d) ret %d", e.TargetPID, child, e.Ret)
	}

	pid, out = run(t, "procmem")
	child, _ = strconv.Atoi(out)
	m := rec.one(t, "proc mem write", func(e *trace.Event) bool {
		return byPID(pid, trace.KindPtrace)(e) && e.Syscall == unix.SYS_PWRITE64
	})
	if m.Path != fmt.Sprintf("/proc/%d/mem", child) || m.TargetPID != int32(child) || m.Flags != ptracePokeData {
		t.Errorf("proc mem write: %+v", m)
	}
}

func TestSetuid(t *testing.T) {
	_, rec := sharedCollector(t)
	pid, _ := run(t, "setuid")
	e := rec.one(t, "cred", byPID(pid, trace.KindCred))
	if e.Syscall != unix.SYS_SETUID || e.Flags != 65534 || e.Ret != 0 || e.EUID != 65534 || e.UID != 65534 {
		t.Errorf("setuid: %+v", e)
	}
}

func TestMemfdExec(t *testing.T) {
	_, rec := sharedCollector(t)
	pid, _ := run(t, "memfd")
	m := rec.one(t, "memfd_create", byPID(pid, trace.KindMemfd))
	if m.Path != "vigil-test" || m.Ret < 0 {
		t.Errorf("memfd_create: %q ret %d", m.Path, m.Ret)
	}
	x := rec.one(t, "exec", func(e *trace.Event) bool { return byPID(pid, trace.KindExec)(e) && e.Comm != "collector.test" })
	if want := fmt.Sprintf("/proc/self/fd/%d", m.Ret); x.Path != want || !slices.Equal(x.Argv, []string{"memfd-true"}) {
		t.Errorf("exec from memfd: %q %q, want %q", x.Path, x.Argv, want)
	}
	if x.ExePath != "/memfd:vigil-test" {
		t.Errorf("exec from memfd: exe path %q", x.ExePath)
	}
}

func TestMount(t *testing.T) {
	_, rec := sharedCollector(t)
	dir := t.TempDir()
	pid, _ := run(t, "mount", dir)
	m := rec.one(t, "mount", func(e *trace.Event) bool { return byPID(pid, trace.KindMount)(e) && e.Path == dir })
	if m.NewPath != "vigiltest" || m.Module != "tmpfs" || m.Flags != unix.MS_NOSUID || m.Ret != 0 {
		t.Errorf("mount: %+v", m)
	}
	u := rec.one(t, "umount", byPID(pid, trace.KindUmount))
	if u.Path != dir || u.Flags != unix.MNT_DETACH || u.Ret != 0 {
		t.Errorf("umount: %+v", u)
	}
}

func TestModuleLoadRefused(t *testing.T) {
	c, rec := sharedCollector(t)
	if slices.Contains(c.Stats().Missing, "syscalls/sys_enter_finit_module") {
		t.Skip("this kernel has no module support (no init_module/finit_module tracepoints): nothing can be loaded, nothing to see")
	}
	pid, _ := run(t, "module")
	e := rec.one(t, "module_load", func(e *trace.Event) bool {
		return byPID(pid, trace.KindModuleLoad)(e) && e.Syscall == unix.SYS_FINIT_MODULE
	})
	if e.Path != "/usr/bin/true" || e.Module != "true" || e.Ret >= 0 {
		t.Errorf("finit_module: %+v", e)
	}
}

func TestMprotectExec(t *testing.T) {
	_, rec := sharedCollector(t)
	pid, out := run(t, "mprotect")
	addr, _ := strconv.ParseUint(strings.TrimPrefix(out, "0x"), 16, 64)
	e := rec.one(t, "exec_mapping", func(e *trace.Event) bool {
		return byPID(pid, trace.KindExecMapping)(e) && e.Syscall == unix.SYS_MPROTECT
	})
	if e.Flags != unix.PROT_READ|unix.PROT_EXEC || e.Ret != 0 || e.Path != "" || addr == 0 {
		t.Errorf("mprotect: %+v", e)
	}
	// File-backed executable mappings name their file (the loader maps libc).
	m := rec.find(t, "mmap", func(e *trace.Event) bool {
		return byPID(pid, trace.KindExecMapping)(e) && e.Syscall == unix.SYS_MMAP && e.Path != ""
	})
	if m[0].Flags&unix.PROT_EXEC == 0 || m[0].FD < 0 {
		t.Errorf("mmap: %+v", m[0])
	}
}

func TestSignalUserfaultfdBPFExit(t *testing.T) {
	_, rec := sharedCollector(t)
	pid, out := run(t, "misc")
	child, _ := strconv.Atoi(out)
	// The Go runtime signals its own threads (SIGURG); find the kill.
	s := rec.one(t, "signal", func(e *trace.Event) bool { return byPID(pid, trace.KindSignal)(e) && e.Syscall == unix.SYS_KILL })
	if s.Flags != uint64(unix.SIGTERM) || s.TargetPID != int32(child) || s.Ret != 0 {
		t.Errorf("kill: %+v", s)
	}
	rec.one(t, "userfaultfd", byPID(pid, trace.KindUserfaultfd))
	b := rec.one(t, "bpf", func(e *trace.Event) bool { return byPID(pid, trace.KindBPF)(e) && e.Flags == 9999 })
	if b.Ret != -int64(unix.EINVAL) {
		t.Errorf("bpf: cmd %d ret %d", b.Flags, b.Ret)
	}
	x := rec.one(t, "exit", byPID(pid, trace.KindExit))
	if x.Ret != 7 {
		t.Errorf("exit code %d, want 7", x.Ret)
	}
	rec.one(t, "fork", func(e *trace.Event) bool { return byPID(pid, trace.KindFork)(e) && e.TargetPID == int32(child) })
}

func TestForkStorm(t *testing.T) {
	c, rec := sharedCollector(t)
	before := c.Stats()
	const n = 3000
	pid, _ := run(t, "forkstorm", strconv.Itoa(n))
	// Every child must show up as a fork or as a counted drop: nothing lost
	// silently, nothing blocked.
	deadline := time.Now().Add(10 * time.Second)
	for {
		forks := len(rec.find(t, "fork", byPID(pid, trace.KindFork)))
		st := c.Stats()
		drops := st.TotalRingDrops() - before.TotalRingDrops()
		if uint64(forks)+drops >= n {
			t.Logf("fork storm: %d forks seen, %d ring drops, %d exits counted in total", forks, drops, st.Events[trace.KindExit])
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("fork storm: %d forks + %d drops < %d", forks, drops, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st := c.Stats(); st.DecodeErrors != 0 {
		t.Errorf("decode errors: %d", st.DecodeErrors)
	}
}

// TestFiltersAndSequence loads a second collector limited to one hand-made
// cgroup, with the syscall-sequence mode on for it.
func TestFiltersAndSequence(t *testing.T) {
	if os.Geteuid() != 0 {
		requireBPF(t, errors.New("not root"))
	}
	cg, key := testCgroup(t, "filters")
	c, err := New(Config{ExcludeSelf: true, IncludeCgroups: []container.Key{key}, Sequence: true})
	requireBPF(t, err)
	defer c.Close()
	rec := newRecorder()
	rec.all = true // the kernel filter is what is tested
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx, rec.add) }()

	// Outside the cgroup: filtered in the kernel.
	outside := actorCmd("noop")
	outside.Path, outside.Args = "/bin/true", []string{"/bin/true", "outside"}
	outside.Run()
	// Inside: the shell moves itself in, then execs true.
	inside := actorCmd("noop")
	inside.Path = "/bin/sh"
	inside.Args = []string{"sh", "-c", "echo $$ > " + cg + "/cgroup.procs && exec /bin/true inside"}
	if err := inside.Run(); err != nil {
		t.Fatal(err)
	}
	pid := int32(inside.Process.Pid)
	x := rec.one(t, "exec inside", byPID(pid, trace.KindExec))
	if x.CgroupID != key.V2 || !slices.Equal(x.Argv, []string{"/bin/true", "inside"}) {
		t.Errorf("inside exec: cgroup %d argv %q", x.CgroupID, x.Argv)
	}
	rec.one(t, "exit inside", byPID(pid, trace.KindExit)) // the whole sequence is in
	seq := rec.find(t, "syscall", byPID(pid, trace.KindSyscall))
	var nrs []int32
	for _, e := range seq {
		nrs = append(nrs, e.Syscall)
	}
	if !slices.Contains(nrs, unix.SYS_EXECVE) || !slices.Contains(nrs, unix.SYS_EXIT_GROUP) {
		t.Errorf("sequence of %d syscalls lacks execve or exit_group: %v", len(nrs), nrs)
	}
	time.Sleep(100 * time.Millisecond)
	rec.mu.Lock()
	for _, e := range rec.events {
		if e.PID == int32(outside.Process.Pid) {
			t.Errorf("event from outside the cgroup: %+v", e)
		}
	}
	rec.mu.Unlock()
	if s := c.Stats(); s.Filtered == 0 {
		t.Errorf("filtered events not counted: %+v", s)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// testCgroup makes an empty v2 cgroup for the test, removed at its end.
func testCgroup(t *testing.T, name string) (string, container.Key) {
	t.Helper()
	v2root := "/sys/fs/cgroup/unified"
	if _, err := os.Stat(v2root + "/cgroup.procs"); err != nil {
		v2root = "/sys/fs/cgroup"
	}
	cg := filepath.Join(v2root, fmt.Sprintf("vigil-test-%s-%d", name, os.Getpid()))
	if err := os.Mkdir(cg, 0o755); err != nil {
		t.Fatal(err)
	}
	// Cleanups run after the test's deferred Closes, when its processes
	// have left.
	t.Cleanup(func() { os.Remove(cg) })
	var st unix.Stat_t
	if err := unix.Stat(cg, &st); err != nil {
		t.Fatal(err)
	}
	return cg, container.Key{V2: st.Ino}
}

// TestSequenceOnDemand starts the sequence mode with no cgroup and adds and
// removes one while the collector runs, as a scenario runner does when its
// containers start and stop.
func TestSequenceOnDemand(t *testing.T) {
	if os.Geteuid() != 0 {
		requireBPF(t, errors.New("not root"))
	}
	cg, key := testCgroup(t, "sequence")
	c, err := New(Config{ExcludeSelf: true, Sequence: true, SequenceOnDemand: true})
	requireBPF(t, err)
	defer c.Close()
	rec := newRecorder()
	rec.all = true
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx, rec.add) }()
	inside := func(tag string) int32 {
		cmd := actorCmd("noop")
		cmd.Path = "/bin/sh"
		cmd.Args = []string{"sh", "-c", "echo $$ > " + cg + "/cgroup.procs && exec /bin/true " + tag}
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
		pid := int32(cmd.Process.Pid)
		rec.one(t, "exit "+tag, byPID(pid, trace.KindExit))
		return pid
	}
	syscalls := func(pid int32) int {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		n := 0
		for _, e := range rec.events {
			if e.PID == pid && e.Kind == trace.KindSyscall {
				n++
			}
		}
		return n
	}

	before := inside("before")
	if err := c.WatchSequence(key); err != nil {
		t.Fatal(err)
	}
	watched := inside("watched")
	if err := c.UnwatchSequence(key); err != nil {
		t.Fatal(err)
	}
	after := inside("after")
	time.Sleep(100 * time.Millisecond)
	if n := syscalls(watched); n < 3 {
		t.Errorf("watched cgroup: %d syscall events, want its whole sequence", n)
	}
	if n := syscalls(before) + syscalls(after); n != 0 {
		t.Errorf("%d syscall events while the cgroup was not watched", n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	off, err := New(Config{ExcludeSelf: true})
	requireBPF(t, err)
	defer off.Close()
	if err := off.WatchSequence(key); err == nil {
		t.Error("WatchSequence on a collector without sequence mode: no error")
	}
}

func TestRateLimit(t *testing.T) {
	if os.Geteuid() != 0 {
		requireBPF(t, errors.New("not root"))
	}
	c, err := New(Config{ExcludeSelf: true, RateLimit: 10, RateBurst: 10})
	requireBPF(t, err)
	defer c.Close()
	rec := newRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Run(ctx, rec.add)
	dir := t.TempDir()
	// 200 opens in a burst: about 10 pass, the rest are counted.
	script := "i=0; while [ $i -lt 200 ]; do : > " + dir + "/f; i=$((i+1)); done"
	cmd := actorCmd("noop")
	cmd.Path, cmd.Args = "/bin/sh", []string{"sh", "-c", script}
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	pid := int32(cmd.Process.Pid)
	rec.one(t, "exit", byPID(pid, trace.KindExit)) // lifecycle is never limited
	opens := 0
	rec.mu.Lock()
	for _, e := range rec.events {
		if e.PID == pid && e.Kind == trace.KindOpen {
			opens++
		}
	}
	rec.mu.Unlock()
	if opens > 40 || opens == 0 || c.Stats().RateLimited < 150 {
		t.Errorf("rate limit 10/s: %d opens passed, %d limited", opens, c.Stats().RateLimited)
	}
}

func TestDecodeHelpers(t *testing.T) {
	if got := joinComponents([]byte("c\x00b\x00a\x00"), false); got != "/a/b/c" {
		t.Errorf("joinComponents = %q", got)
	}
	if got := joinComponents(nil, false); got != "/" {
		t.Errorf("joinComponents(nil, false) = %q", got)
	}
	q := dnsQuery("www.example.com", 28)
	if name, typ, err := parseDNSQuery(q); name != "www.example.com" || typ != 28 || err != nil {
		t.Errorf("parseDNSQuery = %q %d %v", name, typ, err)
	}
	for _, bad := range [][]byte{nil, q[:11], q[:15], append(q[:12:12], 0xc0, 0x0c)} {
		if _, _, err := parseDNSQuery(bad); err == nil {
			t.Errorf("parseDNSQuery(%x) accepted", bad)
		}
	}
	argv, tr := splitArgv([]byte("a\x00\x00b\nc\x00"))
	if !slices.Equal(argv, []string{"a", "", "b\nc"}) || tr {
		t.Errorf("splitArgv = %q %v", argv, tr)
	}
	if procPID("/proc/123/task/124/mem", 1) != 123 || procPID("/proc/self/mem", 9) != 9 || procPID("/x", 1) != 0 {
		t.Error("procPID")
	}
	if moduleName("/lib/modules/x/kernel/nf-conntrack.ko.zst") != "nf_conntrack" {
		t.Error("moduleName")
	}
	if !bytes.Equal(q[12:13], []byte{3}) {
		t.Error("dnsQuery")
	}
}
