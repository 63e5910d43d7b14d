// Package proc keeps the collector's process table: every process on the
// host with its lineage, a uuid that survives pid reuse and agent restarts,
// its executable and the executable's SHA-256. It is seeded from /proc and
// kept current by the collector's fork, exec and exit events.
//
// Memory is bounded: exited processes stay for a grace period (events of a
// process can arrive after its exit event) and are then evicted; past
// MaxProcs the oldest exited, then arbitrary live entries go first, and a
// live one evicted is read back from /proc when it shows up again. Because a
// uuid is derived from (boot id, pid, start time), reading a process back
// gives it the same uuid.
package proc

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/vigilsec/vigil/internal/logkey"
	"github.com/vigilsec/vigil/trace"
)

// Config bounds the table. Zero values pick defaults.
type Config struct {
	// BootID is the kernel's boot id (default: read from
	// /proc/sys/kernel/random/boot_id); it keeps uuids of different boots
	// apart.
	BootID string
	// ProcRoot is procfs (default /proc).
	ProcRoot string
	// MaxProcs bounds the processes remembered (default 32768; an entry
	// with its bounded argv is at most about 1.5 KiB).
	MaxProcs int
	// ExitGrace is how long an exited process stays (default 30s).
	ExitGrace time.Duration
	// HashCacheSize bounds the executables whose hash is remembered
	// (default 4096); HashQueue bounds those waiting to be hashed (default
	// 1024); MaxHashBytes skips larger executables (default 256 MiB).
	HashCacheSize int
	HashQueue     int
	MaxHashBytes  int64
	// DisableHash turns exe hashing off.
	DisableHash bool
	// ReconcileEvery is how often live entries are checked against /proc, to
	// retire processes whose exit event was lost (default 30s; <0: never).
	ReconcileEvery time.Duration

	Logger *slog.Logger
}

func (c *Config) defaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.ProcRoot == "" {
		c.ProcRoot = "/proc"
	}
	if c.BootID == "" {
		id, err := readBootID(c.ProcRoot)
		if err != nil {
			// The boot time to the second still tells boots apart.
			id = "boot-" + strconv.FormatInt(bootTimeNS()/int64(time.Second), 10)
			c.Logger.Warn("no boot id; process uuids use the boot time instead", logkey.Err, err)
		}
		c.BootID = id
	}
	if c.MaxProcs <= 0 {
		c.MaxProcs = 32768
	}
	if c.ExitGrace <= 0 {
		c.ExitGrace = 30 * time.Second
	}
	if c.HashCacheSize <= 0 {
		c.HashCacheSize = 4096
	}
	if c.HashQueue <= 0 {
		c.HashQueue = 1024
	}
	if c.MaxHashBytes <= 0 {
		c.MaxHashBytes = 256 << 20
	}
	if c.ReconcileEvery == 0 {
		c.ReconcileEvery = 30 * time.Second
	}
}

// Process is one process as the table knows it.
type Process struct {
	PID           int32
	PPID          int32 // the parent at fork (or as /proc showed it when seeded)
	UUID          string
	ParentUUID    string
	Comm          string
	ExePath       string
	ExeSHA256     string
	Argv          []string
	ArgvTruncated bool
	Cwd           string
	Start         int64  // ns since the Unix epoch
	StartTicks    uint64 // clock ticks since boot, as /proc/<pid>/stat counts
	UID, EUID     uint32
	GID, EGID     uint32
	Exited        bool
	ExitCode      int64
	ExitTime      int64 // ns since the Unix epoch
	// Approximate is set when the process was gone before /proc could be
	// read: its start time (and so its uuid) comes from the event time, and
	// an agent restart would not reproduce it.
	Approximate bool
}

// exeInfo is shared by a process and the children it forks until one of them
// execs, so a hash that arrives late reaches them all.
type exeInfo struct {
	path   string
	sha256 string // guarded by Table.mu
}

type entry struct {
	Process
	exe *exeInfo
	// reuseCheck is when Fill last looked in /proc for a new process under
	// this exited entry's pid (ns).
	reuseCheck int64
}

// exitRec queues exited processes for eviction in exit order.
type exitRec struct {
	pid  int32
	uuid string
	at   int64 // ns, time.Now at OnExit
}

// Stats counts what the table did; every miss, eviction and failure is here.
type Stats struct {
	Procs         int    // entries now, live and exited
	Exited        int    // exited entries waiting for eviction
	Seeded        uint64 // processes read at Seed
	Forks         uint64
	Execs         uint64
	ExecFailures  uint64 // exec events with an error return (nothing changes)
	Exits         uint64
	Misses        uint64 // events of a process not in the table
	ProcReads     uint64 // processes read from /proc after Seed
	Approximate   uint64 // processes gone before /proc could be read
	EvictedExited uint64
	EvictedLive   uint64 // live entries pushed out by MaxProcs
	Reconciled    uint64 // live entries found dead by the /proc check
	Reused        uint64 // exited entries replaced by a new process with the same pid seen without its fork
	Hashes        uint64 // executables hashed
	HashHits      uint64 // hash requests answered from cache or an in-flight hash
	HashQueued    uint64
	HashDropped   uint64 // hash requests not queued (queue full)
	HashFailures  uint64 // exe gone or unreadable
	HashTooLarge  uint64
	HashCached    int // file versions in the hash cache
}

type counters struct {
	seeded, forks, execs, execFailures, exits, misses, procReads, approximate,
	evictedExited, evictedLive, reconciled, reused, hashes, hashHits, hashQueued,
	hashDropped, hashFailures, hashTooLarge atomic.Uint64
}

// Table is the process table. All methods are safe for concurrent use.
type Table struct {
	cfg    Config
	log    *slog.Logger
	bootNS int64
	ns     uuid.UUID

	mu     sync.Mutex
	procs  map[int32]*entry
	exited []exitRec // FIFO; exited[head:] are live records
	head   int

	hmu      sync.Mutex
	cache    *lru
	inflight map[fileKey][]*exeInfo
	jobs     chan hashJob

	c         counters
	now       func() time.Time
	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// uuidNamespace scopes Vigil's process uuids (UUIDv5).
var uuidNamespace = uuid.MustParse("7f0c8a52-4b1e-5d0a-9c3e-6a1f2b3c4d5e")

// NewTable makes an empty table and starts its hash worker; Close stops it.
func NewTable(cfg Config) *Table {
	cfg.defaults()
	t := &Table{
		cfg:      cfg,
		log:      cfg.Logger,
		bootNS:   bootTimeNS(),
		ns:       uuid.NewSHA1(uuidNamespace, []byte(cfg.BootID)),
		procs:    make(map[int32]*entry, 1024),
		cache:    newLRU(cfg.HashCacheSize),
		inflight: make(map[fileKey][]*exeInfo),
		jobs:     make(chan hashJob, cfg.HashQueue),
		now:      time.Now,
		done:     make(chan struct{}),
	}
	if !cfg.DisableHash {
		t.wg.Add(1)
		go t.hashWorker()
	}
	if cfg.ReconcileEvery > 0 {
		t.wg.Add(1)
		go t.maintain(cfg.ReconcileEvery)
	}
	return t
}

// Close stops the background work.
func (t *Table) Close() error {
	t.closeOnce.Do(func() { close(t.done) })
	t.wg.Wait()
	return nil
}

// UUID returns the uuid of the process pid started at startTicks (clock
// ticks since boot) on this boot.
func (t *Table) uuidFor(pid int32, startTicks uint64) string {
	var b [24]byte
	s := strconv.AppendInt(b[:0], int64(pid), 10)
	s = append(s, '/')
	s = strconv.AppendUint(s, startTicks, 10)
	return uuid.NewSHA1(t.ns, s).String()
}

// ProcessUUID returns the uuid a process gets on boot bootID; for tools that
// join traces with processes they saw elsewhere.
func ProcessUUID(bootID string, pid int32, startTicks uint64) string {
	t := Table{ns: uuid.NewSHA1(uuidNamespace, []byte(bootID))}
	return t.uuidFor(pid, startTicks)
}

// Seed reads every process in /proc. Call it once BPF is attached, so no
// process falls between the two; processes already known are kept.
func (t *Table) Seed() error {
	d, err := os.Open(t.cfg.ProcRoot)
	if err != nil {
		return fmt.Errorf("seeding process table: %w", err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return fmt.Errorf("seeding process table: reading %s: %w", t.cfg.ProcRoot, err)
	}
	var seeded []*entry
	for _, n := range names {
		pid, err := strconv.ParseInt(n, 10, 32)
		if err != nil || pid <= 0 {
			continue
		}
		en, err := t.readProcess(int32(pid))
		if err != nil {
			continue // exited while we walked
		}
		seeded = append(seeded, en)
	}
	t.mu.Lock()
	added := seeded[:0]
	for _, en := range seeded {
		if old := t.procs[en.PID]; old != nil && !old.Exited {
			continue
		}
		en.ExePath = en.exe.path
		t.insertLocked(en)
		added = append(added, en)
	}
	// Parents are linked once all are in, whatever order /proc listed them.
	for _, en := range added {
		if p := t.procs[en.PPID]; p != nil && p.Start <= en.Start {
			en.ParentUUID = p.UUID
		}
	}
	t.mu.Unlock()
	t.c.seeded.Add(uint64(len(added)))
	for _, en := range added {
		if en.exe.path != "" {
			t.requestHash(en.PID, en.exe, true)
		}
	}
	return nil
}

// insertLocked adds en, making room under MaxProcs first.
func (t *Table) insertLocked(en *entry) {
	if old := t.procs[en.PID]; old == nil {
		for len(t.procs) >= t.cfg.MaxProcs {
			if !t.evictOldestExitedLocked() {
				for pid := range t.procs {
					delete(t.procs, pid)
					t.c.evictedLive.Add(1)
					break
				}
			}
		}
	}
	t.procs[en.PID] = en
}

// evictOldestExitedLocked drops the earliest exit record that still names a
// table entry, grace or not.
func (t *Table) evictOldestExitedLocked() bool {
	for t.head < len(t.exited) {
		r := t.exited[t.head]
		t.popExitLocked()
		if en := t.procs[r.pid]; en != nil && en.Exited && en.UUID == r.uuid {
			delete(t.procs, r.pid)
			t.c.evictedExited.Add(1)
			return true
		}
	}
	return false
}

func (t *Table) popExitLocked() {
	t.exited[t.head] = exitRec{}
	t.head++
	// Compact once the dead prefix dominates, so the slice stays bounded.
	if t.head > 1024 && t.head*2 > len(t.exited) {
		n := copy(t.exited, t.exited[t.head:])
		clear(t.exited[n:])
		t.exited = t.exited[:n]
		t.head = 0
	}
}

// expireLocked evicts exited processes whose grace has passed.
func (t *Table) expireLocked(now int64) {
	cutoff := now - int64(t.cfg.ExitGrace)
	for t.head < len(t.exited) && t.exited[t.head].at <= cutoff {
		r := t.exited[t.head]
		t.popExitLocked()
		if en := t.procs[r.pid]; en != nil && en.Exited && en.UUID == r.uuid {
			delete(t.procs, r.pid)
			t.c.evictedExited.Add(1)
		}
	}
}

// lookupLocked returns the live-or-grace entry of pid, reading /proc when the
// table does not know it (and asking for the exe hash when hash is set). t.mu
// is held on entry and on return, but released around the /proc read.
func (t *Table) lookupLocked(pid int32, eventTime int64, hash bool) *entry {
	if en := t.procs[pid]; en != nil {
		return en
	}
	t.c.misses.Add(1)
	t.mu.Unlock()
	en, err := t.readProcess(pid)
	t.mu.Lock()
	if cur := t.procs[pid]; cur != nil {
		return cur // someone else read it meanwhile
	}
	if err != nil {
		en = t.approximateLocked(pid, eventTime)
	} else {
		t.c.procReads.Add(1)
		en.ExePath = en.exe.path
		if p := t.procs[en.PPID]; p != nil && p.Start <= en.Start {
			en.ParentUUID = p.UUID
		}
	}
	t.insertLocked(en)
	if hash && !en.Approximate && en.exe.path != "" {
		x := en.exe
		t.mu.Unlock()
		t.requestHash(pid, x, false)
		t.mu.Lock()
	}
	return en
}

// approximateLocked makes an entry for a process /proc no longer has, with
// the event time standing in for its start.
func (t *Table) approximateLocked(pid int32, eventTime int64) *entry {
	t.c.approximate.Add(1)
	if eventTime == 0 {
		eventTime = t.now().UnixNano()
	}
	ticks := uint64(max(eventTime-t.bootNS, 0) / tickNS)
	en := &entry{Process: Process{PID: pid, Start: eventTime, StartTicks: ticks, Approximate: true}, exe: &exeInfo{}}
	en.UUID = t.uuidFor(pid, ticks)
	return en
}

// OnFork records a new process: e.PID is the parent, e.TargetPID the child.
// Thread creations are not processes and are ignored. The child's start time
// is read from /proc/<child>/stat, as Seed reads it after an agent restart,
// so both give the same uuid; OnForkAt saves that read when the event carries
// the child's start time.
func (t *Table) OnFork(e *trace.Event) { t.OnForkAt(e, 0) }

// OnForkAt is OnFork for a fork event that carries the child's
// task->start_boottime (ns since boot, as the BPF fork program reads it); 0
// means unknown. /proc counts the same clock in ticks, so the uuid is exact
// without reading /proc.
func (t *Table) OnForkAt(e *trace.Event, childStartBoottime uint64) {
	child := e.TargetPID
	if child <= 0 || child == e.PID {
		return
	}
	t.c.forks.Add(1)
	var si statInfo
	var statErr error
	if childStartBoottime != 0 {
		si.startTicks = childStartBoottime / uint64(tickNS)
	} else {
		// Read before taking the lock, and checked against the fork time:
		// a pid reused since the fork would show a later start.
		si, statErr = readStat(t.cfg.ProcRoot, child)
		if statErr == nil && si.ppid != e.PID {
			// Either a thread (its stat shows the process's parent) or a
			// child made with CLONE_PARENT or reparented already.
			if tgid, err := statusTgid(t.cfg.ProcRoot, child); err == nil && tgid != child {
				return
			}
		}
		if statErr == nil && e.Time != 0 && t.bootNS+int64(si.startTicks)*tickNS > e.Time+int64(time.Second) {
			statErr = fmt.Errorf("pid %d reused since fork", child)
		}
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	t.expireLocked(t.now().UnixNano())
	parent := t.lookupLocked(e.PID, e.Time, true)
	var en *entry
	if statErr == nil {
		en = &entry{Process: Process{PID: child, StartTicks: si.startTicks, Start: t.bootNS + int64(si.startTicks)*tickNS, Comm: si.comm}}
		en.UUID = t.uuidFor(child, si.startTicks)
	} else {
		en = t.approximateLocked(child, e.Time)
	}
	if old := t.procs[child]; old != nil && old.UUID == en.UUID {
		return // already read back from /proc by an earlier event of the child
	}
	en.PPID = parent.PID
	en.ParentUUID = parent.UUID
	if en.Comm == "" {
		en.Comm = parent.Comm
	}
	en.ExePath, en.exe = parent.ExePath, parent.exe
	en.Argv, en.ArgvTruncated, en.Cwd = parent.Argv, parent.ArgvTruncated, parent.Cwd
	en.UID, en.EUID, en.GID, en.EGID = parent.UID, parent.EUID, parent.GID, parent.EGID
	t.insertLocked(en)
}

// OnExec records a successful exec: e.Path is the filename, e.Argv and e.Cwd
// as the exec event carries them. A failed exec changes nothing.
func (t *Table) OnExec(e *trace.Event) {
	if e.Ret != 0 {
		t.c.execFailures.Add(1)
		return
	}
	t.c.execs.Add(1)
	t.mu.Lock()
	en := t.procs[e.PID]
	if en != nil && en.Exited {
		// The pid was reused and the fork was missed.
		delete(t.procs, e.PID)
		en = nil
	}
	if en == nil {
		en = t.lookupLocked(e.PID, e.Time, false) // hashed below
	}
	// The kernel's own view of the file it ran beats the name asked for:
	// busybox applets, for one, re-exec through /proc/self/exe.
	path := e.ExePath
	if path == "" {
		path = e.Path
	}
	if path != "" && !filepath.IsAbs(path) && e.Cwd != "" {
		path = filepath.Join(e.Cwd, path)
	}
	x := &exeInfo{path: path}
	en.exe, en.ExePath = x, path
	if e.Argv != nil {
		en.Argv = append([]string(nil), e.Argv...)
		en.ArgvTruncated = e.ArgvTruncated
	}
	if e.Cwd != "" {
		en.Cwd = e.Cwd
	}
	if e.Comm != "" {
		en.Comm = e.Comm
	}
	en.UID, en.EUID, en.GID, en.EGID = e.UID, e.EUID, e.GID, e.EGID
	t.mu.Unlock()
	t.requestHash(e.PID, x, false)
}

// OnExit marks the process exited with code e.Ret; it stays for ExitGrace.
// The event must mean the whole process is gone (the BPF program reports the
// last thread's exit, whose tid may not be the pid).
func (t *Table) OnExit(e *trace.Event) {
	t.c.exits.Add(1)
	now := t.now().UnixNano()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.expireLocked(now)
	en := t.procs[e.PID]
	if en == nil || en.Exited {
		return
	}
	en.Exited, en.ExitCode = true, e.Ret
	en.ExitTime = e.Time
	if en.ExitTime == 0 {
		en.ExitTime = now
	}
	t.exited = append(t.exited, exitRec{pid: e.PID, uuid: en.UUID, at: now})
}

// Fill sets the event's process fields from the table: ProcUUID, ParentUUID,
// PPID if 0, ExePath, ProcStart, ExeSHA256 once hashed, Comm and Cwd if
// empty. A process the table does not know is read from /proc first.
func (t *Table) Fill(e *trace.Event) {
	if e.PID <= 0 {
		return
	}
	t.mu.Lock()
	if en := t.procs[e.PID]; en != nil && en.Exited && e.Kind != trace.KindExit {
		t.checkReuseLocked(en)
	}
	en := t.lookupLocked(e.PID, e.Time, true)
	e.ProcUUID = en.UUID
	e.ParentUUID = en.ParentUUID
	if e.PPID == 0 {
		e.PPID = en.PPID
	}
	e.ExePath = en.exe.path
	e.ExeSHA256 = en.exe.sha256
	e.ProcStart = en.Start
	if e.Comm == "" {
		e.Comm = en.Comm
	}
	if e.Cwd == "" {
		e.Cwd = en.Cwd
	}
	t.mu.Unlock()
}

// reuseCheckEvery bounds how often late events of one exited process make
// Fill look in /proc.
const reuseCheckEvery = int64(100 * time.Millisecond)

// checkReuseLocked handles an event for a pid whose entry has exited. It is
// either a late event of the exited process or the first event of a new one
// whose fork event was lost; /proc tells which. A new process drops the
// exited entry so the lookup that follows reads the new one.
func (t *Table) checkReuseLocked(en *entry) {
	now := t.now().UnixNano()
	if now-en.reuseCheck < reuseCheckEvery {
		return
	}
	en.reuseCheck = now
	pid := en.PID
	t.mu.Unlock()
	si, err := readStat(t.cfg.ProcRoot, pid)
	t.mu.Lock()
	if err != nil || si.startTicks == en.StartTicks || t.procs[pid] != en {
		return // no new process (yet), or someone already replaced it
	}
	delete(t.procs, pid)
	t.c.reused.Add(1)
}

// Get returns the process pid as the table knows it (without reading /proc).
func (t *Table) Get(pid int32) (Process, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	en := t.procs[pid]
	if en == nil {
		return Process{}, false
	}
	return en.snapshot(), true
}

func (en *entry) snapshot() Process {
	p := en.Process
	p.ExePath, p.ExeSHA256 = en.exe.path, en.exe.sha256
	return p
}

// maxLineage bounds the parent chain (and breaks any cycle a pid reuse could
// make).
const maxLineage = 64

// Lineage returns the process and its ancestors, nearest first, as far as
// the table knows them: the chain stops at a parent that was evicted or whose
// pid now belongs to another process.
func (t *Table) Lineage(pid int32) []Process {
	t.mu.Lock()
	defer t.mu.Unlock()
	en := t.procs[pid]
	var out []Process
	for en != nil && len(out) < maxLineage {
		out = append(out, en.snapshot())
		if en.ParentUUID == "" {
			break
		}
		p := t.procs[en.PPID]
		if p == nil || p.UUID != en.ParentUUID {
			break
		}
		en = p
	}
	return out
}

// Stats returns the counters.
func (t *Table) Stats() Stats {
	t.mu.Lock()
	procs, exited := len(t.procs), 0
	for _, en := range t.procs {
		if en.Exited {
			exited++
		}
	}
	t.mu.Unlock()
	t.hmu.Lock()
	cached := t.cache.len()
	t.hmu.Unlock()
	return Stats{
		Procs:         procs,
		Exited:        exited,
		Seeded:        t.c.seeded.Load(),
		Forks:         t.c.forks.Load(),
		Execs:         t.c.execs.Load(),
		ExecFailures:  t.c.execFailures.Load(),
		Exits:         t.c.exits.Load(),
		Misses:        t.c.misses.Load(),
		ProcReads:     t.c.procReads.Load(),
		Approximate:   t.c.approximate.Load(),
		EvictedExited: t.c.evictedExited.Load(),
		EvictedLive:   t.c.evictedLive.Load(),
		Reconciled:    t.c.reconciled.Load(),
		Reused:        t.c.reused.Load(),
		Hashes:        t.c.hashes.Load(),
		HashHits:      t.c.hashHits.Load(),
		HashQueued:    t.c.hashQueued.Load(),
		HashDropped:   t.c.hashDropped.Load(),
		HashFailures:  t.c.hashFailures.Load(),
		HashTooLarge:  t.c.hashTooLarge.Load(),
		HashCached:    cached,
	}
}

// maintain expires exited processes even when no events come, and retires
// live entries whose exit was never seen.
func (t *Table) maintain(every time.Duration) {
	defer t.wg.Done()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-t.done:
			return
		case <-tick.C:
			t.Reconcile()
		}
	}
}

// Reconcile checks every live entry against /proc and marks those that are
// gone (or whose pid now has another start time) exited, so lost exit events
// do not keep processes forever. It also expires exited entries.
func (t *Table) Reconcile() {
	now := t.now().UnixNano()
	t.mu.Lock()
	t.expireLocked(now)
	type check struct {
		pid   int32
		uuid  string
		ticks uint64
	}
	var live []check
	for pid, en := range t.procs {
		if !en.Exited {
			live = append(live, check{pid, en.UUID, en.StartTicks})
		}
	}
	t.mu.Unlock()
	var gone []check
	for _, c := range live {
		si, err := readStat(t.cfg.ProcRoot, c.pid)
		if err != nil || si.startTicks != c.ticks || si.state == 'Z' || si.state == 'X' {
			gone = append(gone, c)
		}
	}
	if len(gone) == 0 {
		return
	}
	t.mu.Lock()
	for _, c := range gone {
		if en := t.procs[c.pid]; en != nil && en.UUID == c.uuid && !en.Exited {
			en.Exited, en.ExitTime = true, now
			t.exited = append(t.exited, exitRec{pid: c.pid, uuid: c.uuid, at: now})
			t.c.reconciled.Add(1)
		}
	}
	t.mu.Unlock()
	t.log.Debug("process table reconciled", logkey.Count, len(gone))
}
