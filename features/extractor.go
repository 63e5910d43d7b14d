package features

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

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

func init() {
	if NumKinds > maxKinds {
		panic("features: trace.Kinds outgrew the per-process kind array")
	}
}

var syscallKind = trace.KindSyscall.Index()

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
	recent  [4]*stream // streams used lately: hosts interleave a few containers
	maxTime int64      // newest event time of any stream
	swept   int64      // maxTime at the last idle sweep
	pool    []*agg
	stats   Stats
}

type streamKey struct{ workload, instance string }

type stream struct {
	key     streamKey
	cur     *agg
	prev    *agg // older than cur; open until maxTime passes its end + lateness
	maxTime int64
	// closedUntil is the end of the newest closed window: events before it
	// are late.
	closedUntil int64
	procs       map[string]*procInfo
	threads     map[threadKey]*thread

	lastThreadKey threadKey
	lastThread    *thread
}

type procInfo struct {
	exe  string
	seen int64
}

type threadKey struct {
	proc string
	tid  int32
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
	x.stats.Events++
	s := x.streamOf(e)
	a := x.windowFor(s, e.Time)
	a.add(x, s, e)
	if e.Time > x.maxTime {
		x.maxTime = e.Time
		if x.maxTime-x.swept >= x.win/4 {
			x.swept = x.maxTime
			x.sweep(x.maxTime - int64(x.cfg.Idle))
		}
	}
}

// sweep closes the windows of streams whose last event is before idle,
// and forgets streams that have nothing left: no open window, process or
// thread.
func (x *Extractor) sweep(idle int64) {
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
	x.recent = [4]*stream{}
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

func (x *Extractor) streamOf(e *trace.Event) *stream {
	wl := e.Workload
	if wl == "" {
		wl = trace.WorkloadKey(e)
	}
	inst := InstanceOf(e)
	if s := x.last; s != nil && s.key.instance == inst && s.key.workload == wl {
		return s
	}
	for _, s := range x.recent {
		if s != nil && s.key.instance == inst && s.key.workload == wl {
			x.last = s
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
	x.last = s
	copy(x.recent[1:], x.recent[:3])
	x.recent[0] = s
	return s
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && (a < 0) {
		q--
	}
	return q
}

func (x *Extractor) windowFor(s *stream, t int64) *agg {
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
	w := a.window(s.key, x.cfg.NGram)
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

	strIdx [NumCategories]map[string]int32
	netIdx map[netKey]int32
	items  []itemAgg

	sys      [SymBOS + 1]int64
	sysFirst [SymBOS + 1]int32 // index+1 into procs of the first user; time in sysTime
	sysTime  [SymBOS + 1]int64
	sysSeen  []uint16 // symbols with a non-zero count, in first-seen order
	ngrams   map[uint64]int64
}

type procAgg struct {
	uuid      string
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
		ngrams:   make(map[uint64]int64),
		lastProc: -1,
		recent:   [4]int32{-1, -1, -1, -1},
	}
	for i := range a.strIdx {
		a.strIdx[i] = make(map[string]int32)
	}
	return a
}

func (a *agg) reset() {
	a.events, a.late = 0, 0
	a.kinds = [maxKinds]int64{}
	clear(a.procIdx)
	a.procs = a.procs[:0]
	a.lastProc = -1
	a.recent = [4]int32{-1, -1, -1, -1}
	for _, m := range a.strIdx {
		clear(m)
	}
	clear(a.netIdx)
	a.items = a.items[:0]
	for _, sym := range a.sysSeen {
		a.sys[sym] = 0
	}
	a.sysSeen = a.sysSeen[:0]
	clear(a.ngrams)
}

var (
	openKind    = trace.KindOpen.Index()
	connectKind = trace.KindConnect.Index()
	acceptKind  = trace.KindAccept.Index()
	execKind    = trace.KindExec.Index()
	exitKind    = trace.KindExit.Index()
	forkKind    = trace.KindFork.Index()
	dnsKind     = trace.KindDNS.Index()
)

// kindIndex is Kind.Index with the frequent kinds first: a switch of
// string compares is cheaper per event than hashing into a map.
func kindIndex(k trace.Kind) int {
	switch k {
	case trace.KindSyscall:
		return syscallKind
	case trace.KindOpen:
		return openKind
	case trace.KindConnect:
		return connectKind
	case trace.KindAccept:
		return acceptKind
	case trace.KindExec:
		return execKind
	case trace.KindExit:
		return exitKind
	case trace.KindFork:
		return forkKind
	case trace.KindDNS:
		return dnsKind
	}
	return k.Index()
}

// Open flags that make an open a write: O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_APPEND.
const writeFlags = 0x1 | 0x2 | 0x40 | 0x200 | 0x400

func (a *agg) add(x *Extractor, s *stream, e *trace.Event) {
	a.events++
	ki := kindIndex(e.Kind)
	if ki >= 0 {
		a.kinds[ki]++
	} else {
		x.stats.UnknownKind++
	}
	if e.PathTruncated {
		x.stats.Truncated++
	}
	pi := a.proc(s, e)
	p := &a.procs[pi]
	p.events++
	if ki >= 0 {
		p.kinds[ki]++
	}

	switch e.Kind {
	case trace.KindSyscall:
		sym := Symbol(e.Syscall)
		if a.sys[sym] == 0 {
			a.sysFirst[sym] = pi + 1
			a.sysTime[sym] = e.Time
			a.sysSeen = append(a.sysSeen, uint16(sym))
		}
		a.sys[sym]++
		th := s.thread(e, x.ctxInit)
		th.seen = e.Time
		g := (th.ctx<<SymbolBits | sym) & x.gramMask
		a.ngrams[g]++
		th.ctx = g & x.ctxMask
	case trace.KindExec:
		exe := strings.Clone(exeOf(e))
		parent := "?"
		if pp := s.procs[e.ParentUUID]; pp != nil && e.ParentUUID != "" {
			parent = pp.exe
		}
		if pr := s.procs[e.ProcUUID]; pr != nil {
			pr.exe = exe
		}
		p.exe, p.parentExe = exe, parent
		a.str(CatExe, exe, e.Time, pi)
		a.str(CatExecPair, parent+" -> "+exe, e.Time, pi)
	case trace.KindOpen:
		if e.Path != "" {
			if e.Flags&writeFlags != 0 {
				a.str(CatFileWrite, e.Path, e.Time, pi)
			} else {
				a.str(CatFileRead, e.Path, e.Time, pi)
			}
		}
	case trace.KindRename, trace.KindLink:
		if e.Path != "" {
			a.str(CatFileWrite, e.Path, e.Time, pi)
		}
		if e.NewPath != "" {
			a.str(CatFileWrite, e.NewPath, e.Time, pi)
		}
	case trace.KindUnlink, trace.KindChmod, trace.KindChown:
		if e.Path != "" {
			a.str(CatFileWrite, e.Path, e.Time, pi)
		}
	case trace.KindConnect:
		switch {
		case e.NetFamily == trace.FamilyUnix:
			if e.Path != "" || e.DstAddr != "" {
				addr := e.Path
				if addr == "" {
					addr = e.DstAddr
				}
				a.net(netKey{cat: CatNetDst, addr: addr, unix: true}, e.Time, pi)
			}
		case e.DstAddr != "":
			a.net(netKey{cat: CatNetDst, addr: e.DstAddr, port: e.DstPort, prot: e.NetProto}, e.Time, pi)
		}
	case trace.KindBind, trace.KindListen:
		port := e.SrcPort
		if port == 0 {
			port = e.DstPort
		}
		if port != 0 {
			a.net(netKey{cat: CatListen, port: port, prot: e.NetProto}, e.Time, pi)
		}
	case trace.KindDNS:
		if e.DNSName != "" {
			a.str(CatDNS, e.DNSName, e.Time, pi)
		}
	case trace.KindExit:
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
	th := s.threads[k]
	if th == nil {
		th = &thread{ctx: ctxInit}
		k.proc = strings.Clone(k.proc)
		s.threads[k] = th
	}
	s.lastThreadKey, s.lastThread = k, th
	return th
}

func (a *agg) proc(s *stream, e *trace.Event) int32 {
	if a.lastProc >= 0 && a.procs[a.lastProc].uuid == e.ProcUUID {
		return a.lastProc
	}
	// Workers of one server interleave; a few recent entries catch most.
	for _, i := range a.recent {
		if i >= 0 && a.procs[i].uuid == e.ProcUUID {
			a.lastProc = i
			return i
		}
	}
	if i, ok := a.procIdx[e.ProcUUID]; ok {
		a.remember(i)
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
		info = &procInfo{exe: strings.Clone(exe)}
		s.procs[strings.Clone(e.ProcUUID)] = info
	}
	info.seen = e.Time
	var parent string
	if pp := s.procs[e.ParentUUID]; pp != nil && e.ParentUUID != "" {
		parent = pp.exe
	}
	i := int32(len(a.procs))
	uuid := strings.Clone(e.ProcUUID)
	a.procs = append(a.procs, procAgg{uuid: uuid, pid: e.PID, exe: info.exe, parentExe: parent, first: e.Time})
	a.procIdx[uuid] = i
	a.remember(i)
	return i
}

func (a *agg) remember(i int32) {
	a.lastProc = i
	copy(a.recent[1:], a.recent[:3])
	a.recent[0] = i
}

func (a *agg) str(c Category, v string, t int64, pi int32) {
	m := a.strIdx[c]
	if i, ok := m[v]; ok {
		a.items[i].count++
		return
	}
	v = strings.Clone(v)
	m[v] = int32(len(a.items))
	a.items = append(a.items, itemAgg{cat: c, value: v, count: 1, first: t, proc: pi})
}

func (a *agg) net(k netKey, t int64, pi int32) {
	if i, ok := a.netIdx[k]; ok {
		a.items[i].count++
		return
	}
	k.addr = strings.Clone(k.addr)
	a.netIdx[k] = int32(len(a.items))
	a.items = append(a.items, itemAgg{cat: k.cat, net: k, count: 1, first: t, proc: pi})
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

func (a *agg) window(k streamKey, n int) *Window {
	w := &Window{
		Key:    Key{Workload: k.workload, Instance: k.instance, Start: a.start},
		End:    a.end,
		Events: a.events,
		Late:   a.late,
		Kinds:  slices.Clone(a.kinds[:NumKinds]),
	}
	w.Procs = make([]Proc, len(a.procs))
	for i := range a.procs {
		p := &a.procs[i]
		w.Procs[i] = Proc{UUID: p.uuid, PID: p.pid, Exe: p.exe, ParentExe: p.parentExe,
			Events: p.events, First: p.first, Kinds: slices.Clone(p.kinds[:NumKinds])}
	}
	items := make([]Item, 0, len(a.items)+len(a.sysSeen))
	for i := range a.items {
		it := &a.items[i]
		v := it.value
		switch {
		case it.cat == CatNetDst || it.cat == CatListen:
			v = it.net.String()
		case it.cat == CatDNS:
			v = strings.ToLower(strings.TrimSuffix(v, "."))
		}
		p := &a.procs[it.proc]
		items = append(items, Item{Cat: it.cat, Value: v, Count: it.count, First: it.first, Proc: p.uuid, Exe: p.exe})
	}
	for _, sym := range a.sysSeen {
		p := &a.procs[a.sysFirst[sym]-1]
		items = append(items, Item{Cat: CatSyscall, Value: SyscallValue(uint64(sym)), Count: a.sys[sym], First: a.sysTime[sym], Proc: p.uuid, Exe: p.exe})
	}
	w.Items = mergeItems(items)
	sort.Slice(w.Procs, func(i, j int) bool { return w.Procs[i].UUID < w.Procs[j].UUID })
	if len(a.ngrams) > 0 {
		w.NGramOrder = n
		w.NGrams = make([]NGram, 0, len(a.ngrams))
		for g, c := range a.ngrams {
			w.NGrams = append(w.NGrams, NGram{Gram: g, Count: c})
		}
		slices.SortFunc(w.NGrams, func(a, b NGram) int { return cmp.Compare(a.Gram, b.Gram) })
	}
	return w
}

// SyscallValue spells a syscall symbol as a CatSyscall item value.
func SyscallValue(sym uint64) string {
	if sym == SymOther {
		return "other"
	}
	return strconv.FormatUint(sym, 10)
}

// mergeItems sorts items by (Cat, Value) and merges duplicates that
// normalisation (DNS case) produced, keeping the earliest occurrence.
func mergeItems(items []Item) []Item {
	slices.SortFunc(items, func(a, b Item) int {
		if a.Cat != b.Cat {
			return cmp.Compare(a.Cat, b.Cat)
		}
		if c := strings.Compare(a.Value, b.Value); c != 0 {
			return c
		}
		if a.First != b.First {
			return cmp.Compare(a.First, b.First)
		}
		return strings.Compare(a.Proc, b.Proc)
	})
	out := items[:0]
	for _, it := range items {
		if n := len(out); n > 0 && out[n-1].Cat == it.Cat && out[n-1].Value == it.Value {
			out[n-1].Count += it.Count
			continue
		}
		out = append(out, it)
	}
	return out
}
