package features

import (
	"cmp"
	"fmt"
	"hash/maphash"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/vigilsec/vigil/trace"
)

// Config sets window geometry. The zero value means the defaults.
type Config struct {
	// Window is the span of event time one window covers (default 60 s).
	Window time.Duration `json:"window"`
	// Lateness is how long past a window's end its stream may still deliver
	// events to it before it closes (default 5 s, at most Window).
	Lateness time.Duration `json:"lateness"`
	// NGram is n for syscall n-grams in sequence mode (default 4, at most
	// MaxNGram).
	NGram int `json:"ngram"`
	// MaxProcs bounds each stream's process table (default 16384); beyond
	// it, the longest-idle processes are forgotten.
	MaxProcs int `json:"max_procs"`
	// Idle closes a stream's windows once events of other streams are this
	// far ahead of its last event (default 5 min, at least Window+Lateness):
	// a container that stopped must not pin its last window, and its
	// stream is forgotten once its processes have exited.
	Idle time.Duration `json:"idle"`
}

// Defaults.
const (
	DefaultWindow   = 60 * time.Second
	DefaultLateness = 5 * time.Second
	DefaultNGram    = 4
	DefaultMaxProcs = 16384
	DefaultIdle     = 5 * time.Minute
)

func (c Config) withDefaults() Config {
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	if c.Lateness == 0 {
		c.Lateness = DefaultLateness
	}
	if c.NGram == 0 {
		c.NGram = DefaultNGram
	}
	if c.MaxProcs == 0 {
		c.MaxProcs = DefaultMaxProcs
	}
	if c.Idle == 0 {
		c.Idle = DefaultIdle
	}
	return c
}

// WithDefaults returns c with zero fields set to the defaults.
func (c Config) WithDefaults() Config { return c.withDefaults() }

// Validate reports a configuration the extractor cannot honour.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Window < time.Second:
		return fmt.Errorf("window %s: must be at least 1s", c.Window)
	case c.Lateness < 0 || c.Lateness > c.Window:
		return fmt.Errorf("lateness %s: must be between 0 and the window (%s)", c.Lateness, c.Window)
	case c.NGram < 1 || c.NGram > MaxNGram:
		return fmt.Errorf("ngram %d: must be between 1 and %d", c.NGram, MaxNGram)
	case c.MaxProcs < 16:
		return fmt.Errorf("max procs %d: must be at least 16", c.MaxProcs)
	case c.Idle < c.Window+c.Lateness:
		return fmt.Errorf("idle %s: must be at least window plus lateness (%s)", c.Idle, c.Window+c.Lateness)
	}
	return nil
}

// Stats counts what the extractor saw; nothing it is given disappears
// without showing up here.
type Stats struct {
	Events       int64 `json:"events"`
	Late         int64 `json:"late"`         // folded into an older open window
	UnknownKind  int64 `json:"unknown_kind"` // counted in Events only
	Windows      int64 `json:"windows"`
	Streams      int   `json:"streams"` // open streams (workload instances)
	ProcsEvicted int64 `json:"procs_evicted"`
	// Truncated counts events whose path the collector truncated; their
	// items are kept as captured (a truncated path can look novel).
	Truncated int64 `json:"truncated"`
}

const maxKinds = 32

// Positions in trace.Kinds of the kinds the extractor looks into, as
// constants so that dispatching on them is a jump table, not a chain of
// string compares; init checks them against trace.
const (
	kExec        = 0
	kExit        = 1
	kFork        = 2
	kOpen        = 3
	kRename      = 4
	kUnlink      = 5
	kChmod       = 6
	kChown       = 7
	kLink        = 8
	kConnect     = 9
	kAccept      = 10
	kBind        = 11
	kListen      = 12
	kDNS         = 13
	kExecMapping = 21
	kSignal      = 23
	kSyscall     = 24
)

func init() {
	if NumKinds > maxKinds {
		panic("features: trace.Kinds outgrew the per-process kind array")
	}
	for k, i := range map[trace.Kind]int{
		trace.KindExec: kExec, trace.KindExit: kExit, trace.KindFork: kFork, trace.KindOpen: kOpen,
		trace.KindRename: kRename, trace.KindUnlink: kUnlink, trace.KindChmod: kChmod, trace.KindChown: kChown,
		trace.KindLink: kLink, trace.KindConnect: kConnect, trace.KindAccept: kAccept, trace.KindBind: kBind,
		trace.KindListen: kListen, trace.KindDNS: kDNS, trace.KindExecMapping: kExecMapping, trace.KindSignal: kSignal,
		trace.KindSyscall: kSyscall,
	} {
		if k.Index() != i {
			panic("features: trace.Kinds moved " + string(k))
		}
	}
}

// recentStreams is how many streams are matched by pointer before the map:
// a host runs a handful of busy containers, and the map's key is two
// strings to hash.
const recentStreams = 8

// Extractor builds windows from events one at a time. It is not safe for
// concurrent use; run one per goroutine and partition by workload.
type Extractor struct {
	cfg      Config
	win      int64
	late     int64
	gramMask uint64
	ctxMask  uint64
	ctxInit  uint64
	emit     func(*Window)

	streams map[streamKey]*stream
	last    *stream
	recent  [recentStreams]*stream // streams used lately: hosts interleave a few containers
	byAddr  [addrSlots]*stream     // streams by their instance string's address (see addrIndex)
	maxTime int64                  // newest event time of any stream
	swept   int64                  // maxTime at the last idle sweep
	pool    []*agg
	spare   []spareWindow // recycled windows, see Recycle
	// emitted remembers the kinds arrays of the last windows emitted, so
	// that Recycle can reuse them: Window.Kinds alone does not reach the
	// processes' counts that share its array.
	emitted [maxSpare]spareWindow
	emitN   int
	stats   Stats
}

type streamKey struct{ workload, instance string }

type stream struct {
	key streamKey
	// rawWL and rawInst are the last event strings that matched key: events
	// of one stream usually share their backing arrays, so matching them is
	// a pointer compare rather than a walk over a 64-character container ID.
	rawWL, rawInst string
	cur            *agg
	prev           *agg // older than cur; open until maxTime passes its end + lateness
	maxTime        int64
	// closedUntil is the end of the newest closed window: events before it
	// are late.
	closedUntil int64
	procs       map[string]*procInfo
	threads     map[threadKey]*thread

	lastThreadKey threadKey
	lastThread    *thread
	// threadSlots find a thread by the address of its process id and its
	// tid before the map, which hashes the id: decoders hand out one string
	// per process, and threads of a few processes interleave. A slot holds
	// its string, so the address cannot be reused while it is there.
	threadSlots [addrSlots]threadSlot

	// clones reuses this stream's copies of process ids, executables and
	// addresses across windows, by the event string's address (see
	// hotSlot). Each slot holds on to the event string it was filled from;
	// every producer (collector decoding, lake interning) allocates strings
	// one by one, so that is a few KiB per stream, not a decoder's buffer.
	clones   [cloneSlots]cloneSlot
	values   internTable // item values
	netNames map[netKey]string
}

const cloneSlots = 256

// maxNetNames bounds a stream's cache of spelled-out destinations; past it,
// the cache starts over.
const maxNetNames = 1024

// netName is k.String(), kept for the stream's later windows.
func (s *stream) netName(k netKey) string {
	if v, ok := s.netNames[k]; ok {
		return v
	}
	if s.netNames == nil || len(s.netNames) >= maxNetNames {
		s.netNames = make(map[netKey]string)
	}
	v := k.String()
	s.netNames[k] = v
	return v
}

type cloneSlot struct {
	p *byte
	n int
	c string
}

// clone returns a copy of v that shares no memory with the event, so that
// windows never keep a decoder's buffers alive.
func (s *stream) clone(v string) string {
	p := unsafe.StringData(v)
	h := (uint64(uintptr(unsafe.Pointer(p)))>>3 ^ uint64(len(v))<<7) * 0x9e3779b97f4a7c15
	slot := &s.clones[h>>(64-8)]
	if slot.p == p && slot.n == len(v) && p != nil {
		return slot.c
	}
	c := strings.Clone(v)
	*slot = cloneSlot{p: p, n: len(v), c: c}
	return c
}

type procInfo struct {
	exe  string
	seen int64
}

type threadKey struct {
	proc string
	tid  int32
}

type threadSlot struct {
	key threadKey
	th  *thread
}

type thread struct {
	ctx  uint64
	seen int64
}

// NewExtractor returns an extractor that calls emit with every window it
// closes. emit owns the window.
func NewExtractor(cfg Config, emit func(*Window)) (*Extractor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("features config: %w", err)
	}
	cfg = cfg.withDefaults()
	x := &Extractor{
		cfg:     cfg,
		win:     int64(cfg.Window),
		late:    int64(cfg.Lateness),
		emit:    emit,
		streams: make(map[streamKey]*stream),
	}
	x.gramMask = 1<<(SymbolBits*cfg.NGram) - 1
	x.ctxMask = 1<<(SymbolBits*(cfg.NGram-1)) - 1
	for i := 0; i < cfg.NGram-1; i++ {
		x.ctxInit = x.ctxInit<<SymbolBits | SymBOS
	}
	return x, nil
}

// Config returns the configuration in effect, defaults filled in.
func (x *Extractor) Config() Config { return x.cfg }

// Stats returns counters so far.
func (x *Extractor) Stats() Stats {
	s := x.stats
	s.Streams = len(x.streams)
	return s
}

// Add folds one event in, closing any window it makes due. The extractor
// keeps no reference to e itself, only to its strings.
func (x *Extractor) Add(e *trace.Event) {
	// What every event needs, read once, in the order of trace.Event's
	// fields, and handed down.
	t, kind, proc, inst, wl, trunc := e.Time, e.Kind, e.ProcUUID, e.ContainerID, e.Workload, e.PathTruncated
	x.stats.Events++
	if trunc {
		x.stats.Truncated++
	}
	s := x.streamOf(e, wl, inst)
	a := x.windowFor(s, t)
	a.add(x, s, e, kind, proc)
	if t > x.maxTime {
		x.maxTime = t
		if x.maxTime-x.swept >= x.win/4 {
			x.swept = x.maxTime
			x.sweep(x.maxTime - int64(x.cfg.Idle))
		}
	}
}

// maxSpare bounds the recycled windows kept: one or two per close is all
// a steady caller returns.
const maxSpare = 4

type spareWindow struct {
	w     *Window
	kinds []int64
}

// Recycle hands back a window emit received and no longer needs, slices
// included: the extractor builds a later window in its memory instead of
// allocating. Nothing may use w, or anything it holds, afterwards. Windows
// that are not recycled are left to the garbage collector as before.
func (x *Extractor) Recycle(w *Window) {
	if w == nil || len(x.spare) >= maxSpare {
		return
	}
	for _, sw := range x.spare {
		if sw.w == w {
			return // recycled twice: building two windows in it would corrupt both
		}
	}
	sw := spareWindow{w: w}
	for i := range x.emitted {
		if x.emitted[i].w == w {
			sw.kinds = x.emitted[i].kinds
			x.emitted[i] = spareWindow{}
		}
	}
	x.spare = append(x.spare, sw)
}

// sweep closes the windows of streams whose last event is before idle,
// and forgets streams that have nothing left: no open window, process or
// thread.
func (x *Extractor) sweep(idle int64) {
	// Usually every stream is live: then there is nothing to sort.
	due := false
	for _, s := range x.streams {
		if s.maxTime < idle {
			due = true
			break
		}
	}
	if !due {
		return
	}
	for _, s := range x.sortedStreams() {
		if s.maxTime >= idle {
			continue
		}
		if s.prev != nil {
			x.close(s, s.prev)
			s.prev = nil
		}
		if s.cur != nil {
			x.close(s, s.cur)
			s.cur = nil
		}
		clear(s.threads)
		s.lastThread = nil
		s.threadSlots = [addrSlots]threadSlot{}
		if len(s.procs) == 0 {
			delete(x.streams, s.key)
			if x.last == s {
				x.last = nil
			}
			for i, r := range x.recent {
				if r == s {
					x.recent[i] = nil
				}
			}
			for i, r := range x.byAddr {
				if r == s {
					x.byAddr[i] = nil
				}
			}
		}
	}
}

// Advance closes every window whose end plus lateness is at or before now
// (ns since the epoch): the agent calls it on a timer so that an idle
// workload's last window still gets scored.
func (x *Extractor) Advance(now int64) {
	for _, s := range x.sortedStreams() {
		if s.prev != nil && now >= s.prev.end+x.late {
			x.close(s, s.prev)
			s.prev = nil
		}
		if s.cur != nil && now >= s.cur.end+x.late {
			if s.prev != nil {
				x.close(s, s.prev)
				s.prev = nil
			}
			x.close(s, s.cur)
			s.cur = nil
		}
	}
}

// Flush closes every open window, in key order: the end of a stream.
func (x *Extractor) Flush() {
	for _, s := range x.sortedStreams() {
		if s.prev != nil {
			x.close(s, s.prev)
			s.prev = nil
		}
		if s.cur != nil {
			x.close(s, s.cur)
			s.cur = nil
		}
	}
	clear(x.streams)
	x.last = nil
	x.recent = [recentStreams]*stream{}
	x.byAddr = [addrSlots]*stream{}
}

func (x *Extractor) sortedStreams() []*stream {
	out := make([]*stream, 0, len(x.streams))
	for _, s := range x.streams {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *stream) int {
		if c := strings.Compare(a.key.workload, b.key.workload); c != 0 {
			return c
		}
		return strings.Compare(a.key.instance, b.key.instance)
	})
	return out
}

// WorkloadOf is the workload key the extractor files e under.
func WorkloadOf(e *trace.Event) string {
	if e.Workload != "" {
		return e.Workload
	}
	return trace.WorkloadKey(e)
}

// InstanceOf is the instance (container, or host) the extractor files e under.
func InstanceOf(e *trace.Event) string {
	switch {
	case e.ContainerID != "":
		return e.ContainerID
	case e.Host != "":
		return e.Host
	default:
		return "host"
	}
}

// streamOf is e's stream; wl and inst are e.Workload and e.ContainerID.
func (x *Extractor) streamOf(e *trace.Event, wl, inst string) *stream {
	if wl == "" {
		wl = trace.WorkloadKey(e)
	}
	if inst == "" {
		inst = InstanceOf(e)
	}
	if s := x.last; s != nil && same(wl, s.rawWL) && same(inst, s.rawInst) {
		return s
	}
	// By address: hosts interleave a few containers event by event.
	slot := &x.byAddr[addrIndex(inst)]
	if s := *slot; s != nil && same(wl, s.rawWL) && same(inst, s.rawInst) {
		x.last = s
		return s
	}
	for _, s := range x.recent {
		if s != nil && s.match(wl, inst) {
			x.last = s
			*slot = s
			return s
		}
	}
	k := streamKey{wl, inst}
	s := x.streams[k]
	if s == nil {
		k = streamKey{strings.Clone(wl), strings.Clone(inst)}
		s = &stream{
			key:     k,
			procs:   make(map[string]*procInfo),
			threads: make(map[threadKey]*thread),
		}
		x.streams[k] = s
	}
	s.rawWL, s.rawInst = wl, inst
	x.last = s
	x.byAddr[addrIndex(inst)] = s
	copy(x.recent[1:], x.recent[:recentStreams-1])
	x.recent[0] = s
	return s
}

// addrSlots is the size of the extractor's stream cache by address.
const addrSlots = 64

func addrIndex(v string) int {
	h := (uint64(uintptr(unsafe.Pointer(unsafe.StringData(v))))>>3 ^ uint64(len(v))<<7) * 0x9e3779b97f4a7c15
	return int(h >> (64 - 6))
}

// same reports whether a and b share their bytes in memory: enough for
// equality, and much cheaper than comparing them.
func same(a, b string) bool {
	return len(a) == len(b) && unsafe.StringData(a) == unsafe.StringData(b)
}

func (s *stream) match(wl, inst string) bool {
	if same(wl, s.rawWL) && same(inst, s.rawInst) {
		return true
	}
	if wl == s.key.workload && inst == s.key.instance {
		s.rawWL, s.rawInst = wl, inst
		return true
	}
	return false
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && (a < 0) {
		q--
	}
	return q
}

func (x *Extractor) windowFor(s *stream, t int64) *agg {
	// Most events fall in the one open window of their stream; with no
	// older window open there is nothing to close or to be late for (an
	// open window starts at or after closedUntil).
	if c := s.cur; c != nil && s.prev == nil && t >= c.start && t < c.end {
		if t > s.maxTime {
			s.maxTime = t
		}
		return c
	}
	start := floorDiv(t, x.win) * x.win
	late := false
	if start < s.closedUntil {
		// Its window is gone: the first one still open takes it, so no
		// window key is ever emitted twice.
		start, late = s.closedUntil, true
	}
	if t > s.maxTime {
		s.maxTime = t
	}
	if s.cur == nil || start > s.cur.start {
		if s.prev != nil {
			// Lateness <= Window, so the older window is past due.
			x.close(s, s.prev)
		}
		s.prev = s.cur
		s.cur = x.newAgg(start)
	}
	if s.prev != nil && s.maxTime >= s.prev.end+x.late {
		x.close(s, s.prev)
		s.prev = nil
	}
	var a *agg
	switch {
	case start == s.cur.start:
		a = s.cur
	case s.prev != nil && start == s.prev.start:
		a = s.prev
	default:
		// Older than every open window (or in a gap between them).
		a, late = s.cur, true
		if s.prev != nil {
			a = s.prev
		}
	}
	if late {
		a.late++
		x.stats.Late++
	}
	return a
}

func (x *Extractor) newAgg(start int64) *agg {
	var a *agg
	if n := len(x.pool); n > 0 {
		a = x.pool[n-1]
		x.pool = x.pool[:n-1]
	} else {
		a = newAgg()
	}
	a.start, a.end = start, start+x.win
	return a
}

func (x *Extractor) close(s *stream, a *agg) {
	var spare spareWindow
	if n := len(x.spare); n > 0 {
		spare = x.spare[n-1]
		x.spare[n-1] = spareWindow{}
		x.spare = x.spare[:n-1]
	}
	w, kinds := a.window(s, x.cfg.NGram, spare)
	x.emitted[x.emitN%maxSpare] = spareWindow{w: w, kinds: kinds}
	x.emitN++
	s.closedUntil = max(s.closedUntil, a.end)
	x.stats.Windows++
	// Threads idle for a whole window lose their context: it bounds memory by
	// live threads, and both paths see the same schedule.
	for k, th := range s.threads {
		if th.seen < a.start {
			delete(s.threads, k)
		}
	}
	s.lastThread = nil
	s.threadSlots = [addrSlots]threadSlot{}
	if len(s.procs) > x.cfg.MaxProcs {
		x.evictProcs(s)
	}
	a.reset()
	x.pool = append(x.pool, a)
	x.emit(w)
}

func (x *Extractor) evictProcs(s *stream) {
	seen := make([]int64, 0, len(s.procs))
	for _, p := range s.procs {
		seen = append(seen, p.seen)
	}
	slices.Sort(seen)
	cut := seen[len(seen)/2]
	for k, p := range s.procs {
		if p.seen <= cut {
			delete(s.procs, k)
			x.stats.ProcsEvicted++
		}
	}
}

// agg accumulates one open window. Aggs are pooled and their maps cleared,
// not reallocated, so steady-state extraction allocates only for values a
// window has not seen yet.
type agg struct {
	start, end   int64
	events, late int64
	kinds        [maxKinds]int64

	procIdx  map[string]int32
	procs    []procAgg
	lastProc int32
	recent   [4]int32 // small cache of recently used procs, -1 = empty
	// procSlots finds procs by their event string's address (addrIndex):
	// index+1 into procs, 0 = empty.
	procSlots [addrSlots]int32

	strIdx itemTable // string items: (category, value) -> index into items
	netIdx map[netKey]int32
	items  []itemAgg
	// hot short-circuits strIdx for strings this window has seen under the
	// same backing array: events decoded from the lake share one string per
	// distinct value, so a repeat costs a pointer compare instead of
	// hashing the whole path.
	hot [hotSlots]hotSlot

	sortIdx  []int32 // scratch for sortedItems, kept across windows
	sortKeys []uint64
	sortTmp  []int32
	pair     []byte // scratch for exec pairs

	sys     *sysAgg  // from the first sequence-mode event on: 20 KiB plain windows do without
	sysSeen []uint16 // symbols with a non-zero count, in first-seen order
	ngrams  gramTable
}

// gramTable counts a window's n-grams, one increment per sequence-mode
// event: open addressing on the packed gram, where a Go map spent a hash
// call and a group probe on each (a tenth of training on captured traces).
type gramTable struct {
	keys   []uint64 // gram, where counts is not 0
	counts []int64  // 0: empty slot
	n      int
}

func (t *gramTable) add(g uint64) {
	if 2*(t.n+1) > len(t.keys) {
		t.grow()
	}
	mask := uint64(len(t.keys) - 1)
	for i := gramHash(g) & mask; ; i = (i + 1) & mask {
		switch {
		case t.counts[i] == 0:
			t.keys[i], t.counts[i] = g, 1
			t.n++
			return
		case t.keys[i] == g:
			t.counts[i]++
			return
		}
	}
}

// gramHash spreads a packed gram's bits (Fibonacci hashing): its low bits
// are the last syscall alone.
func gramHash(g uint64) uint64 { return (g * 0x9e3779b97f4a7c15) >> 32 }

func (t *gramTable) grow() {
	keys, counts := t.keys, t.counts
	size := max(256, 2*len(keys))
	t.keys, t.counts = make([]uint64, size), make([]int64, size)
	mask := uint64(size - 1)
	for j, c := range counts {
		if c == 0 {
			continue
		}
		i := gramHash(keys[j]) & mask
		for t.counts[i] != 0 {
			i = (i + 1) & mask
		}
		t.keys[i], t.counts[i] = keys[j], c
	}
}

func (t *gramTable) reset() {
	if t.n > 0 {
		clear(t.counts)
		t.n = 0
	}
}

// sysAgg counts a window's syscalls by symbol.
type sysAgg struct {
	count [SymBOS + 1]int64
	first [SymBOS + 1]int32 // index+1 into procs of the first user; time in time
	time  [SymBOS + 1]int64
}

type procAgg struct {
	uuid      string
	raw       string // the last event ProcUUID that matched uuid (see stream.rawWL)
	pid       int32
	exe       string
	parentExe string
	events    int64
	first     int64
	kinds     [maxKinds]int64
}

type netKey struct {
	addr string
	port uint16
	prot uint8
	unix bool
	cat  Category
}

type itemAgg struct {
	cat   Category
	value string
	net   netKey
	count int64
	first int64
	proc  int32
}

func newAgg() *agg {
	a := &agg{
		procIdx:  make(map[string]int32),
		netIdx:   make(map[netKey]int32),
		lastProc: -1,
		recent:   [4]int32{-1, -1, -1, -1},
	}
	return a
}

func (a *agg) reset() {
	a.events, a.late = 0, 0
	a.kinds = [maxKinds]int64{}
	clear(a.procIdx)
	clear(a.procs) // let go of the events' strings
	a.procs = a.procs[:0]
	a.lastProc = -1
	a.recent = [4]int32{-1, -1, -1, -1}
	a.procSlots = [addrSlots]int32{}
	a.strIdx.reset()
	clear(a.netIdx)
	a.items = a.items[:0]
	// Dropping the slots also lets go of the events' strings they hold.
	a.hot = [hotSlots]hotSlot{}
	for _, sym := range a.sysSeen {
		a.sys.count[sym] = 0
	}
	a.sysSeen = a.sysSeen[:0]
	a.ngrams.reset()
}

// kindIndex is Kind.Index as a switch of string compares, the frequent
// kinds first: cheaper per event than hashing into trace's map. Kinds it
// does not list fall back to that map.
func kindIndex(k trace.Kind) int {
	switch k {
	case trace.KindSyscall:
		return kSyscall
	case trace.KindOpen:
		return kOpen
	case trace.KindConnect:
		return kConnect
	case trace.KindAccept:
		return kAccept
	case trace.KindExec:
		return kExec
	case trace.KindExit:
		return kExit
	case trace.KindFork:
		return kFork
	case trace.KindDNS:
		return kDNS
	case trace.KindRename:
		return kRename
	case trace.KindUnlink:
		return kUnlink
	case trace.KindChmod:
		return kChmod
	case trace.KindChown:
		return kChown
	case trace.KindLink:
		return kLink
	case trace.KindBind:
		return kBind
	case trace.KindListen:
		return kListen
	case trace.KindExecMapping:
		return kExecMapping
	case trace.KindSignal:
		return kSignal
	}
	return k.Index()
}

// Open flags that make an open a write: O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_APPEND.
const writeFlags = 0x1 | 0x2 | 0x40 | 0x200 | 0x400

// add folds e in; kind and proc are e.Kind and e.ProcUUID.
func (a *agg) add(x *Extractor, s *stream, e *trace.Event, kind trace.Kind, proc string) {
	a.events++
	ki := kindIndex(kind)
	if ki >= 0 {
		a.kinds[ki]++
	} else {
		x.stats.UnknownKind++
	}
	pi := a.proc(s, e, proc)
	p := &a.procs[pi]
	p.events++
	if ki >= 0 {
		p.kinds[ki]++
	}

	switch ki {
	case kSyscall:
		sym := Symbol(e.Syscall)
		if a.sys == nil {
			a.sys = new(sysAgg)
		}
		if a.sys.count[sym] == 0 {
			a.sys.first[sym] = pi + 1
			a.sys.time[sym] = e.Time
			a.sysSeen = append(a.sysSeen, uint16(sym))
		}
		a.sys.count[sym]++
		th := s.thread(e, x.ctxInit)
		th.seen = e.Time
		g := (th.ctx<<SymbolBits | sym) & x.gramMask
		a.ngrams.add(g)
		th.ctx = g & x.ctxMask
	case kExec:
		exe := s.clone(exeOf(e))
		parent := "?"
		if pp := s.procs[e.ParentUUID]; pp != nil && e.ParentUUID != "" {
			parent = pp.exe
		}
		if pr := s.procs[e.ProcUUID]; pr != nil {
			pr.exe = exe
		}
		p.exe, p.parentExe = exe, parent
		a.str(s, CatExe, exe, e.Time, pi)
		// The pair is spelled in a scratch buffer; only a new one is copied.
		a.pair = append(append(append(a.pair[:0], parent...), " -> "...), exe...)
		a.strItem(s, CatExecPair, unsafe.String(unsafe.SliceData(a.pair), len(a.pair)), e.Time, pi)
	case kOpen:
		if e.Path != "" {
			if e.Flags&writeFlags != 0 {
				a.str(s, CatFileWrite, e.Path, e.Time, pi)
			} else {
				a.str(s, CatFileRead, e.Path, e.Time, pi)
			}
		}
	case kRename, kLink:
		if e.Path != "" {
			a.str(s, CatFileWrite, e.Path, e.Time, pi)
		}
		if e.NewPath != "" {
			a.str(s, CatFileWrite, e.NewPath, e.Time, pi)
		}
	case kUnlink, kChmod, kChown:
		if e.Path != "" {
			a.str(s, CatFileWrite, e.Path, e.Time, pi)
		}
	case kConnect:
		switch {
		case e.NetFamily == trace.FamilyUnix:
			if e.Path != "" || e.DstAddr != "" {
				addr := e.Path
				if addr == "" {
					addr = e.DstAddr
				}
				a.net(s, netKey{cat: CatNetDst, addr: addr, unix: true}, e.Time, pi)
			}
		case e.DstAddr != "":
			a.net(s, netKey{cat: CatNetDst, addr: e.DstAddr, port: e.DstPort, prot: e.NetProto}, e.Time, pi)
		}
	case kBind, kListen:
		port := e.SrcPort
		if port == 0 {
			port = e.DstPort
		}
		if port != 0 {
			a.net(s, netKey{cat: CatListen, port: port, prot: e.NetProto}, e.Time, pi)
		}
	case kDNS:
		if e.DNSName != "" {
			a.str(s, CatDNS, e.DNSName, e.Time, pi)
		}
	case kExit:
		// The process table lives as long as the processes; a thread's exit
		// (TID != PID) leaves it.
		if e.TID == e.PID || e.TID == 0 {
			delete(s.procs, e.ProcUUID)
		}
	}
}

func exeOf(e *trace.Event) string {
	switch {
	case e.ExePath != "":
		return e.ExePath
	case len(e.Argv) > 0 && strings.HasPrefix(e.Argv[0], "/"):
		return e.Argv[0]
	case e.Comm != "":
		return "[" + e.Comm + "]"
	default:
		return "?"
	}
}

func (s *stream) thread(e *trace.Event, ctxInit uint64) *thread {
	k := threadKey{e.ProcUUID, e.TID}
	if s.lastThread != nil && s.lastThreadKey == k {
		return s.lastThread
	}
	slot := &s.threadSlots[(uintptr(unsafe.Pointer(unsafe.StringData(k.proc)))>>4^uintptr(k.tid))%addrSlots]
	th := slot.th
	if th == nil || slot.key.tid != k.tid || !same(slot.key.proc, k.proc) {
		th = s.threads[k]
		if th == nil {
			th = &thread{ctx: ctxInit}
			s.threads[threadKey{s.clone(k.proc), k.tid}] = th
		}
		*slot = threadSlot{k, th}
	}
	// The event's own string, so that the next event of this thread
	// usually matches by pointer.
	s.lastThreadKey, s.lastThread = k, th
	return th
}

// proc is the index of e's process (id is e.ProcUUID) in a.procs.
func (a *agg) proc(s *stream, e *trace.Event, id string) int32 {
	if a.lastProc >= 0 && same(id, a.procs[a.lastProc].raw) {
		return a.lastProc
	}
	// Workers of one server interleave: by address first (see streamOf),
	// then a few recent entries by bytes.
	slot := &a.procSlots[addrIndex(id)]
	if i := *slot - 1; i >= 0 && same(id, a.procs[i].raw) {
		a.lastProc = i
		return i
	}
	for _, i := range a.recent {
		if i >= 0 && a.procs[i].is(id) {
			a.lastProc = i
			*slot = i + 1
			return i
		}
	}
	if i, ok := a.procIdx[e.ProcUUID]; ok {
		a.procs[i].raw = e.ProcUUID
		a.remember(i)
		*slot = i + 1
		return i
	}
	info := s.procs[e.ProcUUID]
	if info == nil {
		exe := e.ExePath
		if exe == "" {
			if pp := s.procs[e.ParentUUID]; pp != nil && e.ParentUUID != "" && e.Kind == trace.KindFork {
				exe = pp.exe
			} else {
				exe = exeOf(e)
			}
		}
		info = &procInfo{exe: s.clone(exe)}
		s.procs[s.clone(e.ProcUUID)] = info
	}
	info.seen = e.Time
	var parent string
	if pp := s.procs[e.ParentUUID]; pp != nil && e.ParentUUID != "" {
		parent = pp.exe
	}
	i := int32(len(a.procs))
	uuid := s.clone(e.ProcUUID)
	a.procs = append(a.procs, procAgg{uuid: uuid, raw: e.ProcUUID, pid: e.PID, exe: info.exe, parentExe: parent, first: e.Time})
	a.procIdx[uuid] = i
	a.remember(i)
	*slot = i + 1
	return i
}

func (p *procAgg) is(uuid string) bool {
	if same(uuid, p.raw) {
		return true
	}
	if uuid == p.uuid {
		p.raw = uuid
		return true
	}
	return false
}

func (a *agg) remember(i int32) {
	a.lastProc = i
	copy(a.recent[1:], a.recent[:3])
	a.recent[0] = i
}

// hotSlots is the size of an agg's pointer cache: a window rarely has more
// distinct hot items than this, and clearing it per window stays cheap.
const hotSlots = 256

// hotSlot remembers which item a string (by its backing array and length)
// and the rest of an item's key resolved to in the current window. Holding
// the pointer keeps that memory alive, so it cannot be reused for another
// string while the slot exists: equal pointer and length mean equal bytes.
type hotSlot struct {
	p    *byte
	n    int32
	item int32 // index+1 into items; 0 = empty
	port uint16
	prot uint8
	cat  Category
	unix bool
}

func hotIndex(p *byte, n int, c Category, port uint16) int {
	h := uint64(uintptr(unsafe.Pointer(p)))>>3 ^ uint64(n)<<7 ^ uint64(c)*0x9e37 ^ uint64(port)*0x85eb
	h *= 0x9e3779b97f4a7c15
	return int(h >> (64 - 8))
}

func (a *agg) str(s *stream, c Category, v string, t int64, pi int32) {
	p := unsafe.StringData(v)
	slot := &a.hot[hotIndex(p, len(v), c, 0)]
	// String categories never share a slot's cat with net ones.
	if slot.item > 0 && slot.p == p && int(slot.n) == len(v) && slot.cat == c {
		a.items[slot.item-1].count++
		return
	}
	i, found := a.strItem(s, c, v, t, pi)
	// A value's first occurrence in the window takes only a free slot: most
	// are one-off names that would push out the values that do recur.
	if found || slot.item == 0 {
		*slot = hotSlot{p: p, n: int32(len(v)), item: i + 1, cat: c}
	}
}

// strItem counts one occurrence of (c, v) without the pointer cache, for
// values that are not an event's own string, and returns its index and
// whether the window had it already.
func (a *agg) strItem(s *stream, c Category, v string, t int64, pi int32) (int32, bool) {
	hv := maphash.String(itemSeed, v)
	i, found := a.strIdx.find(a.items, c, v, hv)
	if found {
		a.items[i].count++
	} else {
		a.items = append(a.items, itemAgg{cat: c, value: s.values.get(hv, v), count: 1, first: t, proc: pi})
	}
	return i, found
}

// internTable keeps one copy of each item value a stream's recent windows
// held, found by the hash the window's itemTable computed anyway: a value
// that comes back in a later window is not copied again, and keeps the
// same string, so later stages that cache by a string's address (the
// models' route cache) keep hitting. It has two generations: when the
// current one fills, it becomes the old one and a new one starts; a value
// found only in the old one moves to the current one. Recurring values
// thus survive any number of one-off names passing through, and the table
// holds at most 2*maxInterned strings: a busy container's recurring values
// fit, and a host's hundred streams stay within a few MiB.
type internTable struct {
	cur, old internGen
}

type internGen struct {
	slots []internSlot // power-of-two length
	n     int
}

type internSlot struct {
	hash uint64 // 0: empty
	s    string
}

const maxInterned = 1024

// get returns a copy of v that shares no memory with the event (so windows
// never keep a decoder's buffers alive); hv is maphash.String(itemSeed, v).
func (t *internTable) get(hv uint64, v string) string {
	if 2*(t.cur.n+1) > len(t.cur.slots) {
		if len(t.cur.slots) >= 2*maxInterned {
			// The old generation's slots are reused for the new one.
			t.cur, t.old = t.old, t.cur
			if len(t.cur.slots) != len(t.old.slots) {
				t.cur.slots = make([]internSlot, len(t.old.slots))
			} else {
				clear(t.cur.slots)
			}
			t.cur.n = 0
		} else {
			t.cur.slots = regrow(t.cur.slots, max(256, 2*len(t.cur.slots)))
		}
	}
	h := hv | 1
	eq := func(sl *internSlot) bool { return sl.s == v }
	i, ok := probe(t.cur.slots, h, eq)
	if ok {
		return t.cur.slots[i].s
	}
	c := ""
	if t.old.n > 0 {
		if j, found := probe(t.old.slots, h, eq); found {
			c = t.old.slots[j].s
		}
	}
	if c == "" {
		c = strings.Clone(v)
	}
	t.cur.slots[i] = internSlot{hash: h, s: c}
	t.cur.n++
	return c
}

func (a *agg) net(s *stream, k netKey, t int64, pi int32) {
	p := unsafe.StringData(k.addr)
	slot := &a.hot[hotIndex(p, len(k.addr), k.cat, k.port)]
	if slot.item > 0 && slot.p == p && int(slot.n) == len(k.addr) && slot.cat == k.cat && slot.port == k.port && slot.prot == k.prot && slot.unix == k.unix {
		a.items[slot.item-1].count++
		return
	}
	i, ok := a.netIdx[k]
	if ok {
		a.items[i].count++
	} else {
		i = int32(len(a.items))
		ck := k
		ck.addr = s.clone(k.addr)
		a.netIdx[ck] = i
		a.items = append(a.items, itemAgg{cat: k.cat, net: ck, count: 1, first: t, proc: pi})
	}
	*slot = hotSlot{p: p, n: int32(len(k.addr)), item: i + 1, cat: k.cat, port: k.port, prot: k.prot, unix: k.unix}
}

// itemTable indexes a window's string items by (category, value) with open
// addressing: a new item costs one hash and one probe sequence, where a map
// costs a lookup and then an insert, and clearing it per window is one
// memclr instead of one per category map.
type itemTable struct {
	slots []itemSlot // power-of-two length; nil until the first item
	n     int
}

type itemSlot struct {
	hash uint64 // 0: empty
	item int32
}

var itemSeed = maphash.MakeSeed()

// find returns the index of (c, v) in items, or, when absent, records that
// it is about to be appended there as index len(items). hv is
// maphash.String(itemSeed, v).
func (t *itemTable) find(items []itemAgg, c Category, v string, hv uint64) (int32, bool) {
	if 2*(t.n+1) > len(t.slots) {
		t.grow()
	}
	h := hv ^ uint64(c)*0x9e3779b97f4a7c15 | 1
	i, ok := probe(t.slots, h, func(sl *itemSlot) bool {
		it := &items[sl.item]
		return it.cat == c && it.value == v
	})
	if !ok {
		t.slots[i] = itemSlot{hash: h, item: int32(len(items))}
		t.n++
	}
	return t.slots[i].item, ok
}

func (t *itemTable) grow() { t.slots = regrow(t.slots, max(64, 2*len(t.slots))) }

func (s itemSlot) key() uint64   { return s.hash }
func (s internSlot) key() uint64 { return s.hash }

// probe returns the index of the slot with key h that eq accepts, or else
// of the empty slot where it belongs, and whether it was found.
func probe[S interface{ key() uint64 }](slots []S, h uint64, eq func(*S) bool) (int, bool) {
	mask := len(slots) - 1
	for i := int(h) & mask; ; i = (i + 1) & mask {
		switch k := slots[i].key(); {
		case k == 0:
			return i, false
		case k == h && eq(&slots[i]):
			return i, true
		}
	}
}

// regrow moves the occupied slots (key != 0) of an open-addressing table
// into a new one of n slots, a power of two.
func regrow[S interface{ key() uint64 }](old []S, n int) []S {
	slots := make([]S, n)
	mask := n - 1
	for _, sl := range old {
		if sl.key() == 0 {
			continue
		}
		i := int(sl.key()) & mask
		for slots[i].key() != 0 {
			i = (i + 1) & mask
		}
		slots[i] = sl
	}
	return slots
}

func (t *itemTable) reset() {
	if t.n > 0 {
		clear(t.slots)
		t.n = 0
	}
}

// ProtoName names an IANA protocol number the way listen items spell it.
func ProtoName(p uint8) string {
	switch p {
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 0:
		return "ip"
	default:
		return "proto" + strconv.Itoa(int(p))
	}
}

// FormatNetDst spells a destination the way CatNetDst items do:
// 10.0.0.5:5432, [fd00::1]:443, unix:/run/x.sock.
func FormatNetDst(addr string, port uint16) string {
	if strings.IndexByte(addr, ':') >= 0 {
		return "[" + addr + "]:" + strconv.Itoa(int(port))
	}
	return addr + ":" + strconv.Itoa(int(port))
}

func (k netKey) String() string {
	switch {
	case k.unix:
		return "unix:" + k.addr
	case k.cat == CatListen:
		return ProtoName(k.prot) + "/" + strconv.Itoa(int(k.port))
	default:
		return FormatNetDst(k.addr, k.port)
	}
}

// window builds the closed window, in the memory of sw when it is a
// recycled one, and returns it with the array all its kind counts share.
func (a *agg) window(s *stream, n int, sw spareWindow) (*Window, []int64) {
	var items []Item
	var procs []Proc
	var grams []NGram
	w := sw.w
	if w != nil {
		items, procs, grams = w.Items[:0], w.Procs[:0], w.NGrams[:0]
	} else {
		w = new(Window)
	}
	k := s.key
	// One backing array for the window's and every process's kind counts:
	// full slice expressions keep an append on one from spilling into the
	// next.
	kinds := sw.kinds
	if need := (len(a.procs) + 1) * NumKinds; cap(kinds) >= need {
		kinds = kinds[:need]
	} else {
		kinds = make([]int64, need)
	}
	copy(kinds, a.kinds[:NumKinds])
	*w = Window{
		Key:    Key{Workload: k.workload, Instance: k.instance, Start: a.start},
		End:    a.end,
		Events: a.events,
		Late:   a.late,
		Kinds:  kinds[:NumKinds:NumKinds],
	}
	if procs == nil || cap(procs) < len(a.procs) {
		procs = make([]Proc, len(a.procs))
	}
	w.Procs = procs[:len(a.procs)]
	for i := range a.procs {
		p := &a.procs[i]
		pk := kinds[(i+1)*NumKinds : (i+2)*NumKinds : (i+2)*NumKinds]
		copy(pk, p.kinds[:NumKinds])
		w.Procs[i] = Proc{UUID: p.uuid, PID: p.pid, Exe: p.exe, ParentExe: p.parentExe,
			Events: p.events, First: p.first, Kinds: pk}
	}
	w.Items = a.sortedItems(s, items)
	slices.SortFunc(w.Procs, func(a, b Proc) int { return strings.Compare(a.UUID, b.UUID) })
	if a.ngrams.n > 0 {
		w.NGramOrder = n
		w.NGrams = slices.Grow(grams, a.ngrams.n)
		for i, c := range a.ngrams.counts {
			if c != 0 {
				w.NGrams = append(w.NGrams, NGram{Gram: a.ngrams.keys[i], Count: c})
			}
		}
		slices.SortFunc(w.NGrams, func(a, b NGram) int { return cmp.Compare(a.Gram, b.Gram) })
	}
	return w, kinds
}

// sortedItems appends the window's items to out, sorted by (Cat, Value),
// items that normalisation (DNS case, a destination's protocol) made equal
// merged into the earliest one (by First, then Proc). It sorts indices
// bucketed by category rather than the Items themselves: moving 72-byte
// values full of pointers costs write barriers whenever a collection is
// running. The agg is reset next, so its items are rewritten in their
// output form and the syscall counts join them.
func (a *agg) sortedItems(s *stream, out []Item) []Item {
	names := syscallValues()
	for _, sym := range a.sysSeen {
		a.items = append(a.items, itemAgg{cat: CatSyscall, value: names[sym], count: a.sys.count[sym],
			first: a.sys.time[sym], proc: a.sys.first[sym] - 1})
	}
	var start [NumCategories + 1]int32
	for i := range a.items {
		it := &a.items[i]
		switch it.cat {
		case CatNetDst, CatListen:
			it.value = s.netName(it.net)
		case CatDNS:
			it.value = strings.ToLower(strings.TrimSuffix(it.value, "."))
		}
		start[it.cat+1]++
	}
	for c := 1; c <= int(NumCategories); c++ {
		start[c] += start[c-1]
	}
	idx := slices.Grow(a.sortIdx[:0], len(a.items))[:len(a.items)]
	next := start
	for i := range a.items {
		c := a.items[i].cat
		idx[next[c]] = int32(i)
		next[c]++
	}
	keys := slices.Grow(a.sortKeys[:0], 2*len(idx))[:2*len(idx)]
	tmp := slices.Grow(a.sortTmp[:0], len(idx))[:len(idx)]
	for c := Category(0); c < NumCategories; c++ {
		lo, hi := start[c], start[c+1]
		a.sortByValue(idx[lo:hi], keys[lo:hi], keys[len(idx)+int(lo):len(idx)+int(hi)], tmp[lo:hi], 0)
	}
	a.sortKeys, a.sortTmp = keys[:0], tmp[:0]
	items, procs := a.items, a.procs
	if out = slices.Grow(out, len(items)); out == nil {
		out = []Item{} // as a fresh window has it
	}
	for _, i := range idx {
		it := &items[i]
		if n := len(out); n > 0 && out[n-1].Cat == it.cat && out[n-1].Value == it.value {
			out[n-1].Count += it.count
			continue
		}
		p := &procs[it.proc]
		out = append(out, Item{Cat: it.cat, Value: it.value, Count: it.count, First: it.first, Proc: p.uuid, Exe: p.exe})
	}
	a.sortIdx = idx[:0]
	return out
}

// compareItems orders items by value, then first sight, then process.
func (a *agg) compareItems(i, j int32) int {
	x, y := &a.items[i], &a.items[j]
	if c := strings.Compare(x.value, y.value); c != 0 {
		return c
	}
	if x.first != y.first {
		return cmp.Compare(x.first, y.first)
	}
	return strings.Compare(a.procs[x.proc].uuid, a.procs[y.proc].uuid)
}

// Radix keys for sortByValue: the top 48 bits hold six bytes of a value
// from some depth on (zero-padded), the next 4 how many bytes are left
// there (7: more than six), the low 12 the entry's position in its run.
// Keys compare as the values' suffixes from that depth do, so the run
// sorts as plain integers; values that agree on all six bytes continue
// one level deeper, and only equal values need compareItems.
const (
	posBits = 12
	maxRun  = 1 << posBits
	more    = 7
)

// sortByValue sorts the item indices idx as compareItems does, given that
// their values agree on their first depth bytes; keys, buf and tmp are
// scratch of idx's length.
func (a *agg) sortByValue(idx []int32, keys, buf []uint64, tmp []int32, depth int) {
	n := len(idx)
	switch {
	case n < 2:
		return
	case n > maxRun:
		slices.SortFunc(idx, a.compareItems)
		return
	}
	for p, i := range idx {
		keys[p] = valueKey(a.items[i].value, depth)<<posBits | uint64(p)
	}
	radixSort(keys, buf)
	copy(tmp, idx)
	for p, k := range keys {
		idx[p] = tmp[k&(maxRun-1)]
	}
	for lo := 0; lo < n; {
		run := keys[lo] >> posBits
		hi := lo + 1
		for hi < n && keys[hi]>>posBits == run {
			hi++
		}
		switch {
		case hi-lo < 2:
		case run&0xf == more:
			a.sortByValue(idx[lo:hi], keys[lo:hi], buf[lo:hi], tmp[lo:hi], depth+6)
		default: // equal values
			slices.SortFunc(idx[lo:hi], a.compareItems)
		}
		lo = hi
	}
}

// radixSort sorts keys, whose low posBits are already ascending, by the
// bits above them: a least-significant-digit radix sort is stable, so the
// positions stay ascending within equal keys, and it skips the digits all
// keys share (a directory's common prefix). buf is scratch of keys' length.
func radixSort(keys, buf []uint64) {
	if len(keys) <= 32 {
		slices.Sort(keys)
		return
	}
	const digits = (64 - posBits + 7) / 8
	var counts [digits][256]int32
	for _, k := range keys {
		k >>= posBits
		for d := range digits {
			counts[d][byte(k>>(8*d))]++
		}
	}
	src, dst := keys, buf
	for d := range digits {
		c := &counts[d]
		if c[byte(src[0]>>(posBits+8*d))] == int32(len(src)) {
			continue
		}
		var sum int32
		for b := range c {
			sum, c[b] = sum+c[b], sum
		}
		for _, k := range src {
			b := byte(k >> (posBits + 8*d))
			dst[c[b]] = k
			c[b]++
		}
		src, dst = dst, src
	}
	if &src[0] != &keys[0] {
		copy(keys, src)
	}
}

// valueKey is the 52-bit radix key of v from byte depth on (see posBits).
func valueKey(v string, depth int) uint64 {
	v = v[depth:]
	if len(v) > 6 {
		_ = v[5]
		return (uint64(v[0])<<40|uint64(v[1])<<32|uint64(v[2])<<24|uint64(v[3])<<16|uint64(v[4])<<8|uint64(v[5]))<<4 | more
	}
	var k uint64
	for i := range 6 {
		k <<= 8
		if i < len(v) {
			k |= uint64(v[i])
		}
	}
	return k<<4 | uint64(len(v))
}

// syscallValues holds SyscallValue of every symbol, so windows share them.
var syscallValues = sync.OnceValue(func() []string {
	out := make([]string, SymBOS+1)
	for i := range out {
		out[i] = SyscallValue(uint64(i))
	}
	return out
})

// SyscallValue spells a syscall symbol as a CatSyscall item value.
func SyscallValue(sym uint64) string {
	if sym == SymOther {
		return "other"
	}
	return strconv.FormatUint(sym, 10)
}
