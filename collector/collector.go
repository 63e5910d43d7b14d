// Package collector loads Vigil's eBPF programs, reads their events from the
// ring buffer, decodes them into trace.Events, attributes each to its process
// (collector/proc) and container (collector/container), and hands them to a
// sink.
//
// The kernel side (collector/bpf) attaches only to tracepoints: one
// sys_enter/sys_exit pair per watched syscall, so unwatched syscalls cost
// nothing, plus tp_btf sched_process_{exec,fork,exit}. Filtering (the agent
// itself, cgroup include/exclude sets, per-process rate limits) happens in the
// kernel; every event the kernel could not deliver is counted per CPU.
package collector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"github.com/vigilsec/vigil/collector/container"
	"github.com/vigilsec/vigil/internal/logkey"
	"github.com/vigilsec/vigil/trace"
)

// Config says what to watch. The zero value watches every process on the
// host except none: set ExcludeSelf in an agent.
type Config struct {
	// ExcludeSelf drops the collector's own process in the kernel (by pid,
	// never by name: a name is the attacker's to choose).
	ExcludeSelf bool
	// IncludeCgroups, when not empty, limits events to these cgroups.
	// ExcludeCgroups drops these (e.g. the agent's own container).
	IncludeCgroups []container.Key
	ExcludeCgroups []container.Key
	// Sequence turns on the syscall-sequence mode: every syscall number of
	// the tasks in SequenceCgroups (defaults to IncludeCgroups) becomes a
	// KindSyscall event. It needs at least one cgroup, unless
	// SequenceOnDemand says they come later, through WatchSequence (a
	// scenario runner learns its containers' cgroups as they start).
	Sequence         bool
	SequenceCgroups  []container.Key
	SequenceOnDemand bool
	// RateLimit caps events per second per process in the kernel (0: no
	// cap); RateBurst is the bucket size (default RateLimit). Exec, fork
	// and exit are never limited, so process lineage stays whole.
	RateLimit int
	RateBurst int
	// RingSize is the ring buffer size in bytes, a power of two (default
	// 16 MiB).
	RingSize int
	// Host and BootID label every event (defaults: hostname and the kernel
	// boot id).
	Host   string
	BootID string
	// Procs and Containers attribute each event to its process and
	// container; nil leaves that out (the raw path, as in benchmarks).
	// Capture wires collector/proc's Table and collector/container's
	// Resolver; their owner starts and closes them.
	Procs      ProcessTable
	Containers ContainerResolver
	Logger     *slog.Logger
}

// ProcessTable is what the collector needs of a process table
// (collector/proc.Table): lifecycle events in, process identity out.
type ProcessTable interface {
	OnFork(*trace.Event)
	OnExec(*trace.Event)
	OnExit(*trace.Event)
	Fill(*trace.Event)
}

// forkAt is implemented by process tables that take the child's start time
// from the fork event instead of reading /proc.
type forkAt interface {
	OnForkAt(e *trace.Event, childStartBoottime uint64)
}

// ContainerResolver is what the collector needs of
// collector/container.Resolver. Fill must never block.
type ContainerResolver interface {
	Fill(*trace.Event, container.Key)
}

// DefaultRingSize is the ring buffer size when Config.RingSize is zero.
const DefaultRingSize = 16 << 20

// Stats counts what the collector saw and lost. Nothing is dropped without
// a counter here.
type Stats struct {
	Events       map[trace.Kind]uint64 // decoded events by kind
	RingDrops    []uint64              // per CPU: records the kernel could not put in the ring buffer
	RateLimited  uint64                // events the kernel rate limit dropped
	Filtered     uint64                // events the cgroup filters dropped in the kernel
	DecodeErrors uint64                // records that did not decode
	DNSErrors    uint64                // DNS payloads that did not parse (the event is still emitted)
	Truncated    uint64                // events with a truncated path or argv
	Programs     int                   // programs attached
	Missing      []string              // tracepoints this kernel does not have
	RingBytes    uint64                // bytes read from the ring buffer
	// BPFRuntime and BPFRuns sum the programs' run time and run count
	// while the kernel keeps BPF statistics (EnableBPFStats); zero otherwise.
	BPFRuntime    time.Duration
	BPFRuns       uint64
	ContainerSeen map[string]uint64 // events by container id
}

// TotalRingDrops sums RingDrops.
func (s Stats) TotalRingDrops() uint64 {
	var n uint64
	for _, d := range s.RingDrops {
		n += d
	}
	return n
}

// Collector owns the loaded programs and their links.
type Collector struct {
	cfg   Config
	log   *slog.Logger
	coll  *ebpf.Collection
	maps  vigilMaps
	links []link.Link
	rd    *ringbuf.Reader
	dec   decoder

	procs    ProcessTable
	resolver ContainerResolver

	missing []string
	running atomic.Bool

	byKind       [kindMax]atomic.Uint64
	decodeErrors atomic.Uint64
	truncated    atomic.Uint64
	ringBytes    atomic.Uint64
	mu           sync.Mutex // guards containers
	containers   map[string]uint64
}

// New loads and attaches the programs. The caller must Close the collector.
func New(cfg Config) (*Collector, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RingSize == 0 {
		cfg.RingSize = DefaultRingSize
	}
	if cfg.RingSize < os.Getpagesize() || cfg.RingSize&(cfg.RingSize-1) != 0 {
		return nil, fmt.Errorf("ring size %d: must be a power of two of at least a page", cfg.RingSize)
	}
	if cfg.Sequence && len(cfg.SequenceCgroups) == 0 {
		cfg.SequenceCgroups = cfg.IncludeCgroups
	}
	if cfg.Sequence && len(cfg.SequenceCgroups) == 0 && !cfg.SequenceOnDemand {
		return nil, errors.New("sequence mode needs a cgroup or container to watch (it records every syscall)")
	}
	if cfg.RateLimit < 0 || cfg.RateBurst < 0 {
		return nil, fmt.Errorf("rate limit %d/%d: must not be negative", cfg.RateLimit, cfg.RateBurst)
	}
	if cfg.Host == "" {
		cfg.Host, _ = os.Hostname()
	}
	if cfg.BootID == "" {
		b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
		if err != nil {
			return nil, fmt.Errorf("reading boot id: %w", err)
		}
		cfg.BootID = strings.TrimSpace(string(b))
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("removing memlock limit: %w", err)
	}
	if err := ensureTracefs(); err != nil {
		return nil, err
	}

	c := &Collector{cfg: cfg, log: cfg.Logger, containers: map[string]uint64{}}
	c.dec = decoder{host: cfg.Host, bootID: cfg.BootID, bootToUnix: bootToUnix()}

	spec, err := loadVigil()
	if err != nil {
		return nil, fmt.Errorf("loading BPF spec: %w", err)
	}
	spec.Maps["events"].MaxEntries = uint32(cfg.RingSize)
	c.coll, err = ebpf.NewCollection(spec)
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("loading BPF objects: %+v", ve)
		}
		return nil, fmt.Errorf("loading BPF objects: %w", err)
	}
	if err := c.coll.Assign(&c.maps); err != nil {
		c.Close()
		return nil, fmt.Errorf("assigning BPF maps: %w", err)
	}
	if err := c.configure(); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.attach(spec); err != nil {
		c.Close()
		return nil, err
	}
	c.rd, err = ringbuf.NewReader(c.maps.Events)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("opening ring buffer: %w", err)
	}
	c.procs, c.resolver = cfg.Procs, cfg.Containers
	return c, nil
}

func (c *Collector) configure() error {
	conf := vigilVigilConfig{
		IncludeMode: b2u(len(c.cfg.IncludeCgroups) > 0),
		ExcludeMode: b2u(len(c.cfg.ExcludeCgroups) > 0),
		Rate:        uint32(c.cfg.RateLimit),
		Burst:       uint32(c.cfg.RateBurst),
	}
	if c.cfg.ExcludeSelf {
		conf.SelfTgid = uint32(os.Getpid())
	}
	if err := c.maps.Settings.Put(uint32(0), &conf); err != nil {
		return fmt.Errorf("writing BPF config: %w", err)
	}
	for _, set := range []struct {
		m    *ebpf.Map
		keys []container.Key
	}{
		{c.maps.IncludeCgroups, c.cfg.IncludeCgroups},
		{c.maps.ExcludeCgroups, c.cfg.ExcludeCgroups},
		{c.maps.SequenceCgroups, c.cfg.SequenceCgroups},
	} {
		for _, k := range set.keys {
			if err := putCgroup(set.m, k); err != nil {
				return err
			}
		}
	}
	return nil
}

func putCgroup(m *ebpf.Map, k container.Key) error {
	if k.V2 != 0 {
		if err := m.Put(vigilCgroupKey{Id: k.V2, Hier: 2}, uint8(1)); err != nil {
			return fmt.Errorf("adding cgroup %d to %s: %w", k.V2, m, err)
		}
	}
	if k.V1 != 0 {
		if err := m.Put(vigilCgroupKey{Id: k.V1, Hier: 1}, uint8(1)); err != nil {
			return fmt.Errorf("adding v1 cgroup %d to %s: %w", k.V1, m, err)
		}
	}
	return nil
}

// WatchSequence starts recording every syscall of the tasks in cgroup k
// (sequence mode must be on). UnwatchSequence stops it.
func (c *Collector) WatchSequence(k container.Key) error {
	if !c.cfg.Sequence {
		return errors.New("sequence mode is off in this collector")
	}
	return putCgroup(c.maps.SequenceCgroups, k)
}

// UnwatchSequence stops recording the syscalls of cgroup k.
func (c *Collector) UnwatchSequence(k container.Key) error {
	var errs []error
	for _, ck := range []vigilCgroupKey{{Id: k.V2, Hier: 2}, {Id: k.V1, Hier: 1}} {
		if ck.Id == 0 {
			continue
		}
		if err := c.maps.SequenceCgroups.Delete(ck); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			errs = append(errs, fmt.Errorf("removing cgroup %d from %s: %w", ck.Id, c.maps.SequenceCgroups, err))
		}
	}
	return errors.Join(errs...)
}

// attach links every program by its section name. A syscall this kernel
// lacks (e.g. fchmodat2 before 6.6) is recorded in Stats.Missing, not fatal.
func (c *Collector) attach(spec *ebpf.CollectionSpec) error {
	for name, ps := range spec.Programs {
		p := c.coll.Programs[name]
		if p == nil {
			return fmt.Errorf("program %s was not loaded", name)
		}
		var l link.Link
		var err error
		switch sec := ps.SectionName; {
		case strings.HasPrefix(sec, "tracepoint/"):
			group, tp, _ := strings.Cut(strings.TrimPrefix(sec, "tracepoint/"), "/")
			l, err = link.Tracepoint(group, tp, p, nil)
			if errors.Is(err, os.ErrNotExist) {
				c.missing = append(c.missing, group+"/"+tp)
				c.log.Debug("tracepoint not available", logkey.Kind, tp)
				continue
			}
		case strings.HasPrefix(sec, "tp_btf/"):
			l, err = link.AttachTracing(link.TracingOptions{Program: p})
		case sec == "raw_tracepoint/sys_enter":
			if !c.cfg.Sequence {
				continue
			}
			l, err = link.AttachRawTracepoint(link.RawTracepointOptions{Name: "sys_enter", Program: p})
		default:
			return fmt.Errorf("program %s: unknown section %q", name, sec)
		}
		if err != nil {
			return fmt.Errorf("attaching %s (%s): %w", name, ps.SectionName, err)
		}
		c.links = append(c.links, l)
	}
	return nil
}

// Run reads events until ctx is done, handing each to sink. The event is
// reused after sink returns; its strings and slices are not, so a sink may
// keep those but must copy the struct. A slow sink makes the ring buffer
// fill and the kernel count drops; it never blocks the kernel. When ctx is
// done, the records already in the ring are still delivered.
func (c *Collector) Run(ctx context.Context, sink func(*trace.Event)) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("collector is already running")
	}
	defer c.running.Store(false)
	// Flush wakes a blocked read, hands out what is pending, then returns
	// ErrFlushed. (SetDeadline would wait for the reader's lock, which a
	// blocked read holds.)
	stop := context.AfterFunc(ctx, func() { c.rd.Flush() })
	defer stop()

	var rec ringbuf.Record
	var ev trace.Event
	for {
		if err := c.rd.ReadInto(&rec); err != nil {
			switch {
			case errors.Is(err, ringbuf.ErrFlushed):
				if ctx.Err() != nil {
					return nil
				}
				continue
			case errors.Is(err, ringbuf.ErrClosed):
				return nil
			}
			return fmt.Errorf("reading ring buffer: %w", err)
		}
		c.handle(rec.RawSample, &ev, sink)
	}
}

func (c *Collector) handle(raw []byte, ev *trace.Event, sink func(*trace.Event)) {
	c.ringBytes.Add(uint64(len(raw)))
	if err := c.dec.decode(raw, ev); err != nil {
		c.decodeErrors.Add(1)
		c.log.Debug("decoding event", logkey.Err, err)
		return
	}
	c.byKind[ev.Kind.Index()+1].Add(1)
	if ev.PathTruncated || ev.ArgvTruncated {
		c.truncated.Add(1)
	}
	c.enrich(ev, raw)
	if ev.ContainerID != "" {
		c.mu.Lock()
		c.containers[ev.ContainerID]++
		c.mu.Unlock()
	}
	sink(ev)
}

func (c *Collector) enrich(ev *trace.Event, raw []byte) {
	if c.procs != nil {
		switch ev.Kind {
		case trace.KindFork:
			if fa, ok := c.procs.(forkAt); ok && len(raw) >= headerSize {
				fa.OnForkAt(ev, le.Uint64(raw[offA+8:])) // a[1]: child start_boottime
			} else {
				c.procs.OnFork(ev)
			}
		case trace.KindExec:
			if ev.Ret == 0 {
				c.procs.OnExec(ev)
			}
		case trace.KindExit:
			c.procs.OnExit(ev)
		}
		c.procs.Fill(ev)
	}
	if c.resolver != nil {
		k := container.Key{V2: ev.CgroupID}
		if len(raw) >= headerSize {
			k.V1 = le.Uint64(raw[offCgroupV1:])
		} else if len(raw) == seqRecordSize {
			k.V1 = le.Uint64(raw[16:])
		}
		c.resolver.Fill(ev, k)
	}
	if ev.Workload == "" {
		ev.Workload = trace.WorkloadKey(ev)
	}
}

// Stats returns a snapshot of the counters, kernel ones included.
func (c *Collector) Stats() Stats {
	s := Stats{
		Events:        map[trace.Kind]uint64{},
		ContainerSeen: map[string]uint64{},
		Missing:       append([]string(nil), c.missing...),
		Programs:      len(c.links),
	}
	for i := range c.byKind {
		if n := c.byKind[i].Load(); i > 0 && n > 0 {
			s.Events[trace.Kinds[i-1]] = n
		}
	}
	s.DecodeErrors = c.decodeErrors.Load()
	s.Truncated = c.truncated.Load()
	s.RingBytes = c.ringBytes.Load()
	s.DNSErrors = c.dec.dnsErrors.Load()
	c.mu.Lock()
	for id, n := range c.containers {
		s.ContainerSeen[id] = n
	}
	c.mu.Unlock()

	perCPU := func(idx uint32) []uint64 {
		var vals []uint64
		if err := c.maps.Stats.Lookup(idx, &vals); err != nil {
			c.log.Warn("reading BPF stats", logkey.Err, err)
		}
		return vals
	}
	for _, p := range c.coll.Programs {
		if ps, err := p.Stats(); err == nil {
			s.BPFRuntime += ps.Runtime
			s.BPFRuns += ps.RunCount
		}
	}
	s.RingDrops = perCPU(0)
	for _, v := range perCPU(1) {
		s.RateLimited += v
	}
	for _, v := range perCPU(2) {
		s.Filtered += v
	}
	return s
}

// EnableBPFStats makes the kernel time every BPF program run (a small cost
// of its own) until the returned closer is closed; Stats then reports it.
func EnableBPFStats() (io.Closer, error) {
	return ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
}

// Close detaches the programs and frees the maps.
func (c *Collector) Close() error {
	var errs []error
	if c.rd != nil {
		errs = append(errs, c.rd.Close())
	}
	for _, l := range c.links {
		errs = append(errs, l.Close())
	}
	errs = append(errs, c.maps.Close())
	if c.coll != nil {
		c.coll.Close()
	}
	return errors.Join(errs...)
}

// ensureTracefs mounts tracefs when nothing has: per-syscall tracepoints are
// attached by their tracefs id, and minimal hosts do not mount it.
func ensureTracefs() error {
	for _, dir := range []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"} {
		if _, err := os.Stat(dir + "/events"); err == nil {
			return nil
		}
	}
	if err := unix.Mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, ""); err != nil {
		return fmt.Errorf("mounting tracefs on /sys/kernel/tracing: %w", err)
	}
	return nil
}

// bootToUnix is what to add to CLOCK_BOOTTIME to get Unix time, measured
// as the tightest of a few samples.
func bootToUnix() int64 {
	best := int64(-1)
	var off int64
	for range 5 {
		var b, r1, r2 unix.Timespec
		unix.ClockGettime(unix.CLOCK_REALTIME, &r1)
		unix.ClockGettime(unix.CLOCK_BOOTTIME, &b)
		unix.ClockGettime(unix.CLOCK_REALTIME, &r2)
		if w := r2.Nano() - r1.Nano(); best < 0 || w < best {
			best = w
			off = (r1.Nano()+r2.Nano())/2 - b.Nano()
		}
	}
	return off
}

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}
