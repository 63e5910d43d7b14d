package proc

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/trace"
)

func newTestTable(t testing.TB, cfg Config) *Table {
	t.Helper()
	tb := NewTable(cfg)
	t.Cleanup(func() { tb.Close() })
	return tb
}

func fileSHA(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// startSleep starts a real child that sleeps; it is killed when the test ends.
func startSleep(t testing.TB, bin string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestParseStat(t *testing.T) {
	tail := " S 1 1 1 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 4242 1000 100 18446744073709551615"
	si, err := parseStat([]byte("123 (evil) S 7 (x)" + tail))
	if err != nil {
		t.Fatal(err)
	}
	// The comm holds ") S 7 (x": fields are counted from the last ')'.
	if si.comm != "evil) S 7 (x" || si.ppid != 1 || si.startTicks != 4242 || si.state != 'S' {
		t.Fatalf("parsed %+v", si)
	}
	for _, bad := range []string{"", "123 evil", "123 (x) S", "123 (x) S notanumber 1 1", "123 (x)" + tail[:20]} {
		if _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("parseStat(%q) accepted", bad)
		}
	}
}

func TestSplitArgv(t *testing.T) {
	argv, tr := splitArgv([]byte("sh\x00-c\x00echo 'a\nb'\x00"))
	if len(argv) != 3 || argv[2] != "echo 'a\nb'" || tr {
		t.Fatalf("%q %v", argv, tr)
	}
	long := make([]byte, 0, 2000)
	for i := range 30 {
		long = append(long, []byte("arg"+strconv.Itoa(i)+"\x00")...)
	}
	argv, tr = splitArgv(long)
	if len(argv) != maxArgs || !tr {
		t.Fatalf("%d args, truncated %v", len(argv), tr)
	}
}

func TestSeedSelfAndLineage(t *testing.T) {
	tb := newTestTable(t, Config{})
	if err := tb.Seed(); err != nil {
		t.Fatal(err)
	}
	self := int32(os.Getpid())
	p, ok := tb.Get(self)
	if !ok {
		t.Fatal("own process not seeded")
	}
	si, err := readStat("/proc", self)
	if err != nil {
		t.Fatal(err)
	}
	bootID, _ := readBootID("/proc")
	if p.UUID != ProcessUUID(bootID, self, si.startTicks) {
		t.Errorf("uuid %s, want %s", p.UUID, ProcessUUID(bootID, self, si.startTicks))
	}
	exe, _ := os.Executable()
	if p.ExePath != exe {
		t.Errorf("exe %q, want %q", p.ExePath, exe)
	}
	if len(p.Argv) == 0 || p.Argv[0] != os.Args[0] {
		t.Errorf("argv %q", p.Argv)
	}
	if wd, _ := os.Getwd(); p.Cwd != wd {
		t.Errorf("cwd %q, want %q", p.Cwd, wd)
	}
	if p.UID != uint32(os.Getuid()) || p.PPID != int32(os.Getppid()) {
		t.Errorf("uid %d ppid %d", p.UID, p.PPID)
	}
	if d := time.Since(time.Unix(0, p.Start)); d < 0 || d > time.Hour {
		t.Errorf("start %v is %v ago", time.Unix(0, p.Start), d)
	}
	lin := tb.Lineage(self)
	if len(lin) < 2 || lin[0].PID != self || lin[1].PID != int32(os.Getppid()) || lin[0].ParentUUID != lin[1].UUID {
		t.Fatalf("lineage %+v", lin)
	}
	// The chain ends at pid 1 (or at a process whose parent is outside our
	// pid namespace).
	if last := lin[len(lin)-1]; last.PID != 1 && last.ParentUUID != "" {
		t.Errorf("lineage ends at %d with parent uuid %s", last.PID, last.ParentUUID)
	}

	// An agent restart gives every process the same uuid.
	tb2 := newTestTable(t, Config{})
	if err := tb2.Seed(); err != nil {
		t.Fatal(err)
	}
	for _, q := range lin {
		if r, ok := tb2.Get(q.PID); !ok || r.UUID != q.UUID {
			t.Errorf("pid %d: uuid %s after restart, was %s", q.PID, r.UUID, q.UUID)
		}
	}
	waitFor(t, "own exe hash", func() bool { p, _ := tb.Get(self); return p.ExeSHA256 != "" })
	p, _ = tb.Get(self)
	if want := fileSHA(t, exe); p.ExeSHA256 != want {
		t.Errorf("exe sha %s, want %s", p.ExeSHA256, want)
	}
	if st := tb.Stats(); st.Seeded < 2 || st.Hashes == 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestForkExecExitRealProcess(t *testing.T) {
	tb := newTestTable(t, Config{ReconcileEvery: -1})
	self := int32(os.Getpid())
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	cmd := startSleep(t, sleep)
	child := int32(cmd.Process.Pid)

	tb.OnFork(&trace.Event{Kind: trace.KindFork, PID: self, TID: self, TargetPID: child, Time: time.Now().UnixNano()})
	c, ok := tb.Get(child)
	if !ok || c.Approximate {
		t.Fatalf("child %+v, %v", c, ok)
	}
	parent, _ := tb.Get(self)
	if c.ParentUUID != parent.UUID || c.PPID != self {
		t.Errorf("child parent %d/%s, want %d/%s", c.PPID, c.ParentUUID, self, parent.UUID)
	}
	// The same uuid as a fresh table reading /proc (an agent restart).
	fresh := newTestTable(t, Config{ReconcileEvery: -1})
	var e trace.Event
	e.PID = child
	fresh.Fill(&e)
	if e.ProcUUID != c.UUID {
		t.Errorf("fork uuid %s, /proc uuid %s", c.UUID, e.ProcUUID)
	}

	cwd := t.TempDir()
	tb.OnExec(&trace.Event{Kind: trace.KindExec, PID: child, TID: child, Path: sleep, Argv: []string{"sleep", "30"}, Cwd: cwd, Comm: "sleep"})
	want := fileSHA(t, sleep)
	var ev trace.Event
	waitFor(t, "exec hash", func() bool {
		ev = trace.Event{PID: child, Kind: trace.KindOpen}
		tb.Fill(&ev)
		return ev.ExeSHA256 != ""
	})
	if ev.ExeSHA256 != want || ev.ExePath != sleep || ev.ProcUUID != c.UUID || ev.ParentUUID != parent.UUID ||
		ev.PPID != self || ev.Cwd != cwd || ev.ProcStart != c.Start || ev.Comm != "sleep" {
		t.Fatalf("filled %+v", ev)
	}
	lin := tb.Lineage(child)
	if len(lin) < 2 || lin[0].UUID != c.UUID || lin[1].UUID != parent.UUID || lin[0].Argv[1] != "30" {
		t.Fatalf("lineage %+v", lin)
	}

	// A second process of the same binary is answered from the cache.
	st := tb.Stats()
	cmd2 := startSleep(t, sleep)
	tb.OnFork(&trace.Event{PID: self, TargetPID: int32(cmd2.Process.Pid)})
	tb.OnExec(&trace.Event{PID: int32(cmd2.Process.Pid), Path: sleep})
	if p, _ := tb.Get(int32(cmd2.Process.Pid)); p.ExeSHA256 != want {
		t.Errorf("cached hash not applied at exec: %q", p.ExeSHA256)
	}
	if st2 := tb.Stats(); st2.Hashes != st.Hashes || st2.HashHits <= st.HashHits {
		t.Errorf("second exec of the same file hashed again: %+v -> %+v", st, st2)
	}

	// A failed exec changes nothing.
	tb.OnExec(&trace.Event{PID: child, Path: "/nonexistent", Ret: -2})
	if p, _ := tb.Get(child); p.ExePath != sleep {
		t.Errorf("failed exec changed exe to %q", p.ExePath)
	}

	// Exit: the process stays for the grace period, then goes.
	cmd.Process.Kill()
	cmd.Wait()
	now := time.Now()
	tb.now = func() time.Time { return now }
	tb.OnExit(&trace.Event{Kind: trace.KindExit, PID: child, TID: child, Ret: 9, Time: now.UnixNano()})
	late := trace.Event{PID: child, Kind: trace.KindOpen} // a late event of the dead process
	tb.Fill(&late)
	if late.ProcUUID != c.UUID {
		t.Errorf("event after exit got uuid %s, want %s", late.ProcUUID, c.UUID)
	}
	if p, _ := tb.Get(child); !p.Exited || p.ExitCode != 9 {
		t.Errorf("after exit: %+v", p)
	}
	now = now.Add(31 * time.Second)
	tb.Reconcile()
	if _, ok := tb.Get(child); ok {
		t.Error("exited process not evicted after the grace period")
	}
	if st := tb.Stats(); st.EvictedExited != 1 || st.Exits != 1 || st.Forks != 2 || st.Execs != 2 || st.ExecFailures != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestHashOfDeletedExecutable(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	bin := filepath.Join(t.TempDir(), "dropped")
	b, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := startSleep(t, bin)
	pid := int32(cmd.Process.Pid)
	// Fileless-style: the binary is gone from disk before anyone looks.
	if err := os.Remove(bin); err != nil {
		t.Fatal(err)
	}
	tb := newTestTable(t, Config{ReconcileEvery: -1})
	tb.OnExec(&trace.Event{PID: pid, Path: bin})
	waitFor(t, "hash", func() bool { p, _ := tb.Get(pid); return p.ExeSHA256 != "" })
	if p, _ := tb.Get(pid); p.ExeSHA256 != fileSHA(t, sleep) {
		t.Errorf("hash %s of deleted copy differs from original", p.ExeSHA256)
	}
}

func TestPIDReuseGivesNewUUID(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("forcing pid reuse needs root (ns_last_pid)")
	}
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	tb := newTestTable(t, Config{ReconcileEvery: -1})
	self := int32(os.Getpid())
	a := startSleep(t, sleep)
	pid := a.Process.Pid
	tb.OnFork(&trace.Event{PID: self, TargetPID: int32(pid), Time: time.Now().UnixNano()})
	first, _ := tb.Get(int32(pid))
	a.Process.Kill()
	a.Wait()
	tb.OnExit(&trace.Event{PID: int32(pid), TID: int32(pid)})
	// Start time has clock-tick resolution: make sure the next start differs.
	time.Sleep(20 * time.Millisecond)

	var b *exec.Cmd
	for try := 0; try < 50 && b == nil; try++ {
		if err := os.WriteFile("/proc/sys/kernel/ns_last_pid", []byte(strconv.Itoa(pid-1)), 0); err != nil {
			t.Skipf("cannot set ns_last_pid: %v", err)
		}
		c := exec.Command(sleep, "30")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		if c.Process.Pid == pid {
			b = c
			t.Cleanup(func() { c.Process.Kill(); c.Wait() })
		} else {
			c.Process.Kill()
			c.Wait()
		}
	}
	if b == nil {
		t.Skip("could not get the pid reused (busy machine)")
	}
	// An event of the new process whose fork event was lost: the exited
	// entry of the old one must not be taken for it.
	e := trace.Event{PID: int32(pid), Kind: trace.KindOpen}
	tb.Fill(&e)
	if e.ProcUUID == first.UUID || e.ProcUUID == "" {
		t.Fatalf("reused pid %d kept uuid %s", pid, first.UUID)
	}
	if st := tb.Stats(); st.Reused != 1 {
		t.Errorf("stats %+v", st)
	}
	tb.OnExec(&trace.Event{PID: int32(pid), Path: sleep, Argv: []string{"sleep", "30"}})
	if p, _ := tb.Get(int32(pid)); p.UUID != e.ProcUUID {
		t.Errorf("exec changed the uuid %s -> %s", e.ProcUUID, p.UUID)
	}
	fresh := newTestTable(t, Config{ReconcileEvery: -1})
	var f trace.Event
	f.PID = int32(pid)
	fresh.Fill(&f)
	if f.ProcUUID != e.ProcUUID {
		t.Errorf("new process uuid %s, /proc says %s", e.ProcUUID, f.ProcUUID)
	}
}

func TestPIDReuseSynthetic(t *testing.T) {
	// Pids above pid_max never exist in /proc: the table must work from the
	// events alone (processes that exited before enrichment).
	tb := newTestTable(t, Config{ReconcileEvery: -1, DisableHash: true})
	const parent, child = 5_000_001, 5_000_002
	t0 := time.Now().UnixNano()
	tb.OnFork(&trace.Event{PID: parent, TargetPID: child, Time: t0})
	p1, _ := tb.Get(child)
	tb.OnExit(&trace.Event{PID: child, TID: child, Time: t0 + 1e6})
	tb.OnFork(&trace.Event{PID: parent, TargetPID: child, Time: t0 + int64(time.Second)})
	p2, _ := tb.Get(child)
	if p1.UUID == "" || p1.UUID == p2.UUID || !p1.Approximate {
		t.Fatalf("reuse: %+v then %+v", p1, p2)
	}
	par, _ := tb.Get(parent)
	if p2.ParentUUID != par.UUID {
		t.Errorf("parent uuid %s, want %s", p2.ParentUUID, par.UUID)
	}
	var e trace.Event
	e.PID = child
	tb.Fill(&e)
	if e.ProcUUID != p2.UUID || e.PPID != parent {
		t.Errorf("filled %+v", e)
	}
	// An event of a process never seen and already gone still gets a
	// stable uuid, and it is counted.
	var g1, g2 trace.Event
	g1.PID, g1.Time = 5_000_100, t0
	g2.PID, g2.Time = 5_000_100, t0+5e9
	tb.Fill(&g1)
	tb.Fill(&g2)
	if g1.ProcUUID == "" || g1.ProcUUID != g2.ProcUUID {
		t.Errorf("gone process uuids %q %q", g1.ProcUUID, g2.ProcUUID)
	}
	if st := tb.Stats(); st.Approximate < 3 || st.Misses < 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestForkStormStaysBounded(t *testing.T) {
	const maxProcs = 500
	tb := newTestTable(t, Config{MaxProcs: maxProcs, ReconcileEvery: -1, DisableHash: true})
	if err := tb.Seed(); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().UnixNano()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			base := int32(6_000_000 + g*100_000)
			for i := range int32(20_000) {
				pid := base + i
				ts := t0 + int64(i)*1000
				tb.OnFork(&trace.Event{PID: base - 1, TargetPID: pid, Time: ts})
				e := trace.Event{PID: pid, Time: ts}
				tb.Fill(&e)
				if e.ProcUUID == "" {
					t.Errorf("pid %d: no uuid", pid)
					return
				}
				if i%4 != 0 { // most children exit, some linger
					tb.OnExit(&trace.Event{PID: pid, TID: pid, Time: ts + 500})
				}
			}
		}()
	}
	wg.Wait()
	st := tb.Stats()
	if st.Procs > maxProcs {
		t.Fatalf("table grew to %d > %d", st.Procs, maxProcs)
	}
	if st.Forks != 80_000 || st.EvictedExited == 0 || st.EvictedLive == 0 {
		t.Errorf("stats %+v", st)
	}
	t.Logf("after the storm: %+v", st)
}

func TestRealForkStorm(t *testing.T) {
	// Real processes, created and gone faster than the table hears of them:
	// no crash, no block, every event gets a uuid.
	tb := newTestTable(t, Config{MaxProcs: 256, ReconcileEvery: -1})
	self := int32(os.Getpid())
	truePath, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true binary")
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				c := exec.Command(truePath)
				if err := c.Start(); err != nil {
					t.Error(err)
					return
				}
				pid := int32(c.Process.Pid)
				tb.OnFork(&trace.Event{PID: self, TargetPID: pid, Time: time.Now().UnixNano()})
				tb.OnExec(&trace.Event{PID: pid, Path: truePath, Argv: []string{"true"}})
				c.Wait()
				tb.OnExit(&trace.Event{PID: pid, TID: pid})
				e := trace.Event{PID: pid}
				tb.Fill(&e)
				if e.ProcUUID == "" || e.ExePath != truePath {
					t.Errorf("filled %+v", e)
				}
			}
		}()
	}
	wg.Wait()
	if st := tb.Stats(); st.Procs > 256 || st.Forks != 200 || st.Exits != 200 {
		t.Errorf("stats %+v", st)
	}
}

func TestReconcileRetiresLostExits(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	tb := newTestTable(t, Config{ReconcileEvery: -1, DisableHash: true})
	cmd := startSleep(t, sleep)
	pid := int32(cmd.Process.Pid)
	tb.OnFork(&trace.Event{PID: int32(os.Getpid()), TargetPID: pid})
	tb.Reconcile()
	if p, _ := tb.Get(pid); p.Exited {
		t.Fatal("live process retired")
	}
	cmd.Process.Kill()
	cmd.Wait() // the exit event is "lost": OnExit is never called
	tb.Reconcile()
	if p, ok := tb.Get(pid); !ok || !p.Exited {
		t.Fatalf("dead process not retired: %+v", p)
	}
	if st := tb.Stats(); st.Reconciled != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestThreadCreationIgnored(t *testing.T) {
	tb := newTestTable(t, Config{ReconcileEvery: -1, DisableHash: true})
	// A thread of this process: its tid is in /proc but its tgid is ours.
	tids, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	self := int32(os.Getpid())
	for _, d := range tids {
		tid, _ := strconv.Atoi(d.Name())
		if int32(tid) == self {
			continue
		}
		tb.OnFork(&trace.Event{PID: self, TargetPID: int32(tid)})
		if _, ok := tb.Get(int32(tid)); ok {
			t.Fatalf("thread %d became a process", tid)
		}
		return
	}
	t.Skip("no second thread")
}

func BenchmarkFill(b *testing.B) {
	tb := newTestTable(b, Config{ReconcileEvery: -1, DisableHash: true})
	self := int32(os.Getpid())
	var e trace.Event
	e.PID = self
	tb.Fill(&e) // read from /proc once
	b.ReportAllocs()
	for b.Loop() {
		e.Cwd = ""
		tb.Fill(&e)
	}
}

func BenchmarkFillParallel(b *testing.B) {
	tb := newTestTable(b, Config{ReconcileEvery: -1, DisableHash: true})
	self := int32(os.Getpid())
	var e trace.Event
	e.PID = self
	tb.Fill(&e)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		e := trace.Event{PID: self}
		for pb.Next() {
			tb.Fill(&e)
		}
	})
}

// BenchmarkForkExit is the table's cost per short-lived process whose fork
// event arrives after the process is gone (no /proc entry).
func BenchmarkForkExit(b *testing.B) {
	tb := newTestTable(b, Config{ReconcileEvery: -1, DisableHash: true, MaxProcs: 4096})
	pid := int32(7_000_000)
	b.ReportAllocs()
	for b.Loop() {
		pid++
		tb.OnFork(&trace.Event{PID: 7_000_000, TargetPID: pid, Time: int64(pid)})
		tb.OnExit(&trace.Event{PID: pid, TID: pid})
	}
}

// BenchmarkForkRealChild measures OnFork for a live child (reads its stat).
func BenchmarkForkRealChild(b *testing.B) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		b.Skip("no sleep binary")
	}
	cmd := startSleep(b, sleep)
	tb := newTestTable(b, Config{ReconcileEvery: -1, DisableHash: true})
	self, child := int32(os.Getpid()), int32(cmd.Process.Pid)
	b.ReportAllocs()
	for b.Loop() {
		tb.OnFork(&trace.Event{PID: self, TargetPID: child})
	}
}

func TestForkAtStartBoottimeMatchesProc(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	cmd := startSleep(t, sleep)
	child := int32(cmd.Process.Pid)
	si, err := readStat("/proc", child)
	if err != nil {
		t.Fatal(err)
	}
	self := int32(os.Getpid())
	// start_boottime has ns resolution; /proc rounds it down to ticks.
	for _, sub := range []uint64{0, 1, uint64(tickNS) - 1} {
		tb := newTestTable(t, Config{ReconcileEvery: -1, DisableHash: true})
		tb.OnForkAt(&trace.Event{PID: self, TargetPID: child}, si.startTicks*uint64(tickNS)+sub)
		viaBPF, _ := tb.Get(child)
		fresh := newTestTable(t, Config{ReconcileEvery: -1, DisableHash: true})
		e := trace.Event{PID: child}
		fresh.Fill(&e)
		// Start times agree up to the boot-time measurement of each table.
		if d := viaBPF.Start - e.ProcStart; viaBPF.UUID != e.ProcUUID || d < -int64(time.Millisecond) || d > int64(time.Millisecond) {
			t.Errorf("+%dns: fork-time uuid %s start %d, /proc uuid %s start %d", sub, viaBPF.UUID, viaBPF.Start, e.ProcUUID, e.ProcStart)
		}
	}
}

func TestExitReportedByLastThread(t *testing.T) {
	tb := newTestTable(t, Config{ReconcileEvery: -1, DisableHash: true})
	tb.OnFork(&trace.Event{PID: 5_100_000, TargetPID: 5_100_001})
	// The leader exited first; the last thread (another tid) reports the
	// process exit.
	tb.OnExit(&trace.Event{PID: 5_100_001, TID: 5_100_007, Ret: 3})
	if p, _ := tb.Get(5_100_001); !p.Exited || p.ExitCode != 3 {
		t.Fatalf("after exit: %+v", p)
	}
}

func TestHashCacheBounded(t *testing.T) {
	c := newLRU(3)
	for i := range 10 {
		c.add(fileKey{ino: uint64(i)}, strconv.Itoa(i))
	}
	if c.len() != 3 {
		t.Fatalf("len %d", c.len())
	}
	if _, ok := c.get(fileKey{ino: 6}); ok {
		t.Error("oldest entry kept")
	}
	if s, ok := c.get(fileKey{ino: 9}); !ok || s != "9" {
		t.Error("newest entry lost")
	}
	// A new version of the same file (mtime changed) is another key.
	if _, ok := c.get(fileKey{ino: 9, mtime: 1}); ok {
		t.Error("changed file hit the cache")
	}
}

func TestHashTooLargeCounted(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	cmd := startSleep(t, sleep)
	tb := newTestTable(t, Config{ReconcileEvery: -1, MaxHashBytes: 1024})
	tb.OnExec(&trace.Event{PID: int32(cmd.Process.Pid), Path: sleep})
	if st := tb.Stats(); st.HashTooLarge != 1 || st.HashQueued != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestHostileArgvKeptExact(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	// Newlines, a terminal escape and invalid UTF-8: kept byte-exact here,
	// escaped by whatever prints them.
	weird := "sl\neep\x1b[31m\xff\xfe"
	cmd := exec.Command(sleep, "30")
	cmd.Args[0] = weird
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	tb := newTestTable(t, Config{ReconcileEvery: -1, DisableHash: true})
	e := trace.Event{PID: int32(cmd.Process.Pid)}
	tb.Fill(&e)
	p, _ := tb.Get(int32(cmd.Process.Pid))
	if len(p.Argv) != 2 || p.Argv[0] != weird || p.Argv[1] != "30" {
		t.Fatalf("argv %q", p.Argv)
	}
}

// BenchmarkForkAtExit is the per-process cost when the fork event carries
// the child's start time (no /proc read): fork, one filled event, exit.
func BenchmarkForkAtExit(b *testing.B) {
	tb := newTestTable(b, Config{ReconcileEvery: -1, DisableHash: true, MaxProcs: 4096})
	pid := int32(7_000_000)
	var e trace.Event
	b.ReportAllocs()
	for b.Loop() {
		pid++
		tb.OnForkAt(&trace.Event{PID: 7_000_000, TargetPID: pid}, uint64(pid)*1000)
		e = trace.Event{PID: pid}
		tb.Fill(&e)
		tb.OnExit(&trace.Event{PID: pid})
	}
}
