// Package features turns a stream of trace.Events into closed, per-workload
// feature windows. It is the one implementation both paths use: the agent
// feeds it event by event as the collector delivers them, and training and
// replay feed it from a lake scan. Nothing in it knows which path it is on,
// so a baseline learned offline scores exactly the windows the agent builds.
//
// A window covers one instance of a workload (a container, or a host for
// processes outside containers) for a fixed span of event time (default
// 60 s), aligned to multiples of that span since the Unix epoch. Windows are
// per instance, not per workload, so that activity rates do not depend on how
// many replicas a service runs; the models still pool every instance of a
// workload into one baseline.
//
// Time is the events' own clock. A window closes when its stream has seen an
// event at least Lateness past the window's end, when Advance is called with
// a watermark past it (the agent's idle timer), or at Flush. An event older
// than every open window is folded into the oldest one and counted as late,
// never dropped.
//
// Online (agent):
//
//	x, err := features.NewExtractor(features.Config{}, func(w *features.Window) {
//		m := bundle.Workload(w.Workload)   // models.Bundle
//		if m != nil { scores := m.Score(w); ... }
//	})
//	for ev := range events { x.Add(ev) }   // one goroutine
//	// every few seconds: x.Advance(time.Now().UnixNano() - slack)
//	// at shutdown: x.Flush()
//
// Offline (training, replay): features.Run(ctx, cfg, scan, emit) with scan
// bound to lake.Scan, which is the same Add/Flush over a time-ordered scan.
// TestParity proves both give identical windows.
package features

import (
	"strconv"

	"github.com/vigilsec/vigil/trace"
)

// SchemaVersion changes whenever the meaning of a Window or of its numeric
// vector changes; models record it (through SchemaHash) and refuse windows
// built under another schema.
const SchemaVersion = 1

// Category names a kind of categorical item the novelty profiles learn.
type Category uint8

const (
	CatExe       Category = iota // executables started (exec)
	CatExecPair                  // parent executable -> child executable
	CatFileRead                  // files opened read-only
	CatFileWrite                 // files opened for writing, created, renamed, removed, chmod/chown'd, linked
	CatNetDst                    // outbound connections: addr:port, or unix:path
	CatListen                    // listening / bound ports: tcp/8080
	CatDNS                       // DNS names asked for
	CatSyscall                   // syscall numbers (sequence mode and every event's syscall)
	NumCategories
)

var categoryNames = [NumCategories]string{"exe", "exec_pair", "file_read", "file_write", "net_dst", "listen", "dns", "syscall"}

func (c Category) String() string {
	if c < NumCategories {
		return categoryNames[c]
	}
	return "category(" + strconv.Itoa(int(c)) + ")"
}

// ParseCategory is the inverse of Category.String.
func ParseCategory(s string) (Category, bool) {
	for i, n := range categoryNames {
		if n == s {
			return Category(i), true
		}
	}
	return 0, false
}

// NumKinds is the length of per-kind counter arrays, indexed by Kind.Index().
var NumKinds = len(trace.Kinds)

// Key identifies a window.
type Key struct {
	Workload string `json:"workload"`
	Instance string `json:"instance"` // container ID, or host name outside containers
	Start    int64  `json:"start"`    // ns since the epoch, inclusive
}

// Less orders keys by workload, instance, start.
func (k Key) Less(o Key) bool {
	if k.Workload != o.Workload {
		return k.Workload < o.Workload
	}
	if k.Instance != o.Instance {
		return k.Instance < o.Instance
	}
	return k.Start < o.Start
}

// Window is one closed window. Every slice is sorted, so two windows built
// from the same events are deep-equal whatever order other workloads'
// events were interleaved in.
type Window struct {
	Key
	End    int64   `json:"end"`    // exclusive
	Events int64   `json:"events"` // events in the window, late ones included
	Late   int64   `json:"late"`   // events that arrived after their window closed and were folded in here
	Kinds  []int64 `json:"kinds"`  // per trace.Kinds index

	// Items holds every distinct categorical item, sorted by (Cat, Value).
	Items []Item `json:"items"`
	// Procs holds per-process activity, sorted by UUID.
	Procs []Proc `json:"procs"`
	// NGrams holds syscall n-gram counts from sequence-mode events, sorted by
	// gram; see PackNGram.
	NGrams []NGram `json:"ngrams,omitempty"`
	// NGramOrder is n for NGrams.
	NGramOrder int `json:"ngram_order,omitempty"`
}

// Item is one distinct categorical value seen in a window, with the first
// process that produced it so a finding can name the culprit.
type Item struct {
	Cat   Category `json:"cat"`
	Value string   `json:"value"` // raw, attacker-controlled; escape before showing
	Count int64    `json:"count"`
	First int64    `json:"first"` // event time of the first occurrence
	Proc  string   `json:"proc"`  // ProcUUID of the first occurrence
	Exe   string   `json:"exe"`   // executable of that process, when known
}

// Proc is one process's activity in a window.
type Proc struct {
	UUID      string  `json:"uuid"`
	PID       int32   `json:"pid"`
	Exe       string  `json:"exe"`
	ParentExe string  `json:"parent_exe,omitempty"`
	Events    int64   `json:"events"`
	First     int64   `json:"first"`
	Kinds     []int64 `json:"kinds"`
}

// NGram is a packed syscall n-gram and how often it occurred.
type NGram struct {
	Gram  uint64 `json:"gram"`
	Count int64  `json:"count"`
}

// Items of category c, a sub-slice of w.Items.
func (w *Window) ItemsOf(c Category) []Item {
	lo, hi := 0, len(w.Items)
	for lo < hi {
		m := (lo + hi) / 2
		if w.Items[m].Cat < c {
			lo = m + 1
		} else {
			hi = m
		}
	}
	end := lo
	for end < len(w.Items) && w.Items[end].Cat == c {
		end++
	}
	return w.Items[lo:end]
}

// N-gram packing: SymbolBits per syscall, oldest first in the high bits.
// Syscall numbers at or above SymOther share the SymOther symbol; SymBOS pads
// the context before a thread's first syscall.
const (
	SymbolBits = 10
	SymBOS     = 1<<SymbolBits - 1
	SymOther   = SymBOS - 1
	MaxNGram   = 64 / SymbolBits
)

// Symbol maps a syscall number to its n-gram symbol.
func Symbol(nr int32) uint64 {
	if nr < 0 || nr >= SymOther {
		return SymOther
	}
	return uint64(nr)
}

// PackNGram packs syms (oldest first) into a gram.
func PackNGram(syms ...uint64) uint64 {
	var g uint64
	for _, s := range syms {
		g = g<<SymbolBits | s&SymBOS
	}
	return g
}

// UnpackNGram returns the n symbols of g, oldest first.
func UnpackNGram(g uint64, n int) []uint64 {
	out := make([]uint64, n)
	for i := n - 1; i >= 0; i-- {
		out[i] = g & SymBOS
		g >>= SymbolBits
	}
	return out
}
