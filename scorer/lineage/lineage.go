// Package lineage keeps what the scorer knows about processes between their
// events: executable, command line, parent and ancestors, whether they serve
// network traffic, and their last effective UID. It is built from the event
// stream alone (exec, fork, exit, listen/accept, cred), so live and replayed
// streams give the same answers. Memory is bounded: beyond Max processes the
// least recently active are forgotten.
package lineage

import (
	"strings"

	"github.com/vigilsec/vigil/trace"
)

// SelfExe is the path a process execs to run its own binary again.
const SelfExe = "/proc/self/exe"

// MaxAncestors bounds the ancestor chain kept per process.
const MaxAncestors = 8

// Proc is one process as the scorer last knew it. Fields are immutable
// except through Table; readers must not modify them.
type Proc struct {
	UUID       string
	ParentUUID string
	PID        int32
	NSPID      int32
	Comm       string
	Exe        string
	Argv       []string
	Cmdline    string
	Cwd        string
	SHA256     string
	Start      int64
	UID, EUID  uint32
	// PrevEUID is the effective UID seen before the latest change (-1 when
	// never seen different).
	PrevEUID int64
	// Listener: the process listened on or accepted a socket.
	Listener bool
	// Ancestors are the executables of the ancestors, parent first.
	Ancestors []string
	Parent    *Proc
	Exited    bool

	lastSeen int64
}

// Table is the process table. Not safe for concurrent use.
type Table struct {
	max    int
	byUUID map[string]*Proc
	byPID  map[int32]*Proc // processes without a uuid, and the latest uuid per pid
	last   *Proc           // the previous event's process: events come in runs
	// Evicted counts processes forgotten to stay under max.
	Evicted int64
}

// New returns a table holding at most max processes (default 65536).
func New(max int) *Table {
	if max <= 0 {
		max = 65536
	}
	return &Table{max: max, byUUID: map[string]*Proc{}, byPID: map[int32]*Proc{}}
}

// Get returns the process with uuid, or nil.
func (t *Table) Get(uuid string) *Proc { return t.byUUID[uuid] }

// Len is the number of processes held.
func (t *Table) Len() int { return len(t.byUUID) + len(t.byPID) }

func (t *Table) get(uuid string, pid int32) *Proc {
	if uuid != "" {
		if p := t.byUUID[uuid]; p != nil {
			return p
		}
		return nil
	}
	return t.byPID[pid]
}

func (t *Table) put(p *Proc) {
	if t.Len() >= t.max {
		t.evict()
	}
	if p.UUID != "" {
		t.byUUID[p.UUID] = p
	} else {
		t.byPID[p.PID] = p
	}
}

// Observe folds ev into the table and returns the process ev belongs to
// (never nil).
func (t *Table) Observe(ev *trace.Event) *Proc {
	var p *Proc
	if l := t.last; l != nil && ev.ProcUUID != "" && l.UUID == ev.ProcUUID {
		p = l
	} else {
		p = t.get(ev.ProcUUID, ev.PID)
	}
	if p == nil && ev.ProcUUID != "" {
		// A child first seen through its parent's fork event has no uuid
		// yet; adopt it.
		if q := t.byPID[ev.PID]; q != nil && q.UUID == "" {
			delete(t.byPID, ev.PID)
			q.UUID = ev.ProcUUID
			t.byUUID[q.UUID] = q
			p = q
		}
	}
	if p == nil {
		p = &Proc{UUID: ev.ProcUUID, PID: ev.PID, PrevEUID: -1, UID: ev.UID, EUID: ev.EUID}
		t.fillFromEvent(p, ev)
		t.linkParent(p, ev.ParentUUID, ev.PPID)
		t.put(p)
	}
	t.last = p
	p.lastSeen = ev.Time
	if ev.EUID != p.EUID {
		p.PrevEUID = int64(p.EUID)
		p.EUID = ev.EUID
	}
	p.UID = ev.UID
	switch ev.Kind {
	case trace.KindExec:
		if ev.Ret == 0 {
			prevExe := p.Exe
			t.fillFromEvent(p, ev)
			if ev.ExePath == "" && ev.Path != "" {
				p.Exe = ev.Path
			}
			if ev.ParentUUID != "" && (p.Parent == nil || p.Parent.UUID != ev.ParentUUID) {
				t.linkParent(p, ev.ParentUUID, ev.PPID)
			}
			// Re-executing /proc/self/exe (busybox's standalone shell, runc)
			// runs the same binary the process ran before the exec.
			if p.Exe == SelfExe {
				switch {
				case prevExe != "" && prevExe != SelfExe:
					p.Exe = prevExe
				case p.Parent != nil && p.Parent.Exe != SelfExe:
					p.Exe = p.Parent.Exe
				}
			}
		}
	case trace.KindFork:
		// The parent's event; the child inherits its image until it execs.
		if ev.TargetPID > 0 && t.byPID[ev.TargetPID] == nil {
			c := &Proc{PID: ev.TargetPID, PrevEUID: -1, Comm: p.Comm, Exe: p.Exe, Argv: p.Argv, Cmdline: p.Cmdline,
				Cwd: p.Cwd, SHA256: p.SHA256, UID: p.UID, EUID: p.EUID, Start: ev.Time, lastSeen: ev.Time}
			c.Parent, c.ParentUUID = p, p.UUID
			c.Ancestors = ancestors(p)
			t.put(c)
		}
	case trace.KindListen, trace.KindAccept:
		p.Listener = true
	case trace.KindExit:
		p.Exited = true
	}
	return p
}

// fillFromEvent copies what ev says about its process's image.
func (t *Table) fillFromEvent(p *Proc, ev *trace.Event) {
	if ev.Comm != "" {
		p.Comm = ev.Comm
	}
	if ev.ExePath != "" {
		p.Exe = ev.ExePath
	}
	if len(ev.Argv) > 0 {
		p.Argv = ev.Argv
		p.Cmdline = strings.Join(ev.Argv, " ")
	}
	if ev.Cwd != "" {
		p.Cwd = ev.Cwd
	}
	if ev.ExeSHA256 != "" {
		p.SHA256 = ev.ExeSHA256
	}
	if ev.ProcStart != 0 {
		p.Start = ev.ProcStart
	}
	if ev.NSPID != 0 {
		p.NSPID = ev.NSPID
	}
}

func (t *Table) linkParent(p *Proc, parentUUID string, ppid int32) {
	parent := t.get(parentUUID, ppid)
	if parent == nil && parentUUID != "" {
		parent = t.byPID[ppid] // a child seen by fork before its uuid was known
	}
	if parent == nil || parent == p {
		p.ParentUUID = parentUUID
		return
	}
	p.Parent, p.ParentUUID = parent, parent.UUID
	p.Ancestors = ancestors(parent)
}

// ancestors is parent's executable followed by its own ancestors.
func ancestors(parent *Proc) []string {
	out := make([]string, 0, min(len(parent.Ancestors)+1, MaxAncestors))
	out = append(out, parent.Exe)
	for _, a := range parent.Ancestors {
		if len(out) == MaxAncestors {
			break
		}
		out = append(out, a)
	}
	return out
}

// Lineage returns p's ancestors, parent first, at most MaxAncestors.
func Lineage(p *Proc) []*Proc {
	var out []*Proc
	for a := p.Parent; a != nil && len(out) < MaxAncestors; a = a.Parent {
		out = append(out, a)
	}
	return out
}

// evict forgets exited processes first, then the least recently active
// tenth. Pointers held by children stay valid (ancestry remains correct);
// only lookups forget.
func (t *Table) evict() {
	t.last = nil
	target := t.max - t.max/10
	drop := func(keep func(*Proc) bool) {
		for k, p := range t.byUUID {
			if t.Len() <= target {
				return
			}
			if !keep(p) {
				delete(t.byUUID, k)
				t.Evicted++
			}
		}
		for k, p := range t.byPID {
			if t.Len() <= target {
				return
			}
			if !keep(p) {
				delete(t.byPID, k)
				t.Evicted++
			}
		}
	}
	drop(func(p *Proc) bool { return !p.Exited })
	if t.Len() > target {
		// Oldest first: find the activity time below which a tenth lies.
		var times []int64
		for _, p := range t.byUUID {
			times = append(times, p.lastSeen)
		}
		for _, p := range t.byPID {
			times = append(times, p.lastSeen)
		}
		cut := nth(times, t.Len()-target)
		drop(func(p *Proc) bool { return p.lastSeen > cut })
	}
}

// nth returns the k-th smallest value (1-based) by partial selection.
func nth(xs []int64, k int) int64 {
	if k <= 0 || len(xs) == 0 {
		return -1 << 63
	}
	k = min(k, len(xs))
	lo, hi := 0, len(xs)-1
	for lo < hi {
		pivot := xs[(lo+hi)/2]
		i, j := lo, hi
		for i <= j {
			for xs[i] < pivot {
				i++
			}
			for xs[j] > pivot {
				j--
			}
			if i <= j {
				xs[i], xs[j] = xs[j], xs[i]
				i++
				j--
			}
		}
		switch {
		case k-1 <= j:
			hi = j
		case k-1 >= i:
			lo = i
		default:
			return xs[k-1]
		}
	}
	return xs[k-1]
}
