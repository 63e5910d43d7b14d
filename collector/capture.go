package collector

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/vigilsec/vigil/collector/container"
	"github.com/vigilsec/vigil/collector/proc"
	"github.com/vigilsec/vigil/internal/logkey"
	"github.com/vigilsec/vigil/trace"
	"github.com/vigilsec/vigil/trace/lake"
)

// CaptureConfig describes one capture session into the trace lake.
type CaptureConfig struct {
	Out      string        // lake root: a directory or s3://bucket/prefix
	Duration time.Duration // 0: until ctx is done
	// Container (Docker name or id) or Cgroup (cgroupfs directory or
	// /proc/<pid>/cgroup path) limits the capture to one workload.
	Container string
	Cgroup    string
	Sequence  bool // also record every syscall number (needs Container or Cgroup)
	RateLimit int  // events per second per process; 0: unlimited
	RingSize  int
	Host      string
	// ContainerConfig configures the container resolver (zero: this host's
	// Docker and ECS agent).
	ContainerConfig container.Config
	Logger          *slog.Logger
}

// Summary is what a capture saw and lost.
type Summary struct {
	Start, End   time.Time
	Events       map[trace.Kind]uint64
	Total        uint64
	Containers   []ContainerSeen
	RingDrops    uint64 // lost in the kernel (ring buffer full), all CPUs
	RateLimited  uint64
	DecodeErrors uint64
	DNSErrors    uint64
	Truncated    uint64
	Written      int64 // accepted by the lake writer
	Published    int64 // in published files
	Lost         int64 // accepted but lost to write errors
	Files        int64
	Bytes        int64
	Missing      []string // tracepoints this kernel lacks
}

// ContainerSeen is one container in a Summary.
type ContainerSeen struct {
	ID, Name, Image, TaskARN string
	Events                   uint64
}

// Capture runs a collector into the lake until the duration ends or ctx is
// done, then flushes and returns the summary. Events the kernel could not
// deliver are counted, never waited for: a slow disk shows up as RingDrops.
func Capture(ctx context.Context, cfg CaptureConfig) (*Summary, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Out == "" {
		return nil, errors.New("capture: no output lake given")
	}
	if cfg.Container != "" && cfg.Cgroup != "" {
		return nil, errors.New("capture: give a container or a cgroup, not both")
	}
	if cfg.Sequence && cfg.Container == "" && cfg.Cgroup == "" {
		return nil, errors.New("capture: --sequence records every syscall and needs --container or --cgroup")
	}
	if cfg.ContainerConfig.Logger == nil {
		cfg.ContainerConfig.Logger = cfg.Logger
	}
	resolver := container.NewResolver(cfg.ContainerConfig)
	resolver.Start(ctx)
	defer resolver.Close()

	var include []container.Key
	switch {
	case cfg.Container != "":
		k, err := resolver.LookupContainer(cfg.Container)
		if err != nil {
			return nil, fmt.Errorf("capture: container %q: %w", cfg.Container, err)
		}
		include = append(include, k)
	case cfg.Cgroup != "":
		k, err := resolver.CgroupIDForPath(cfg.Cgroup)
		if err != nil {
			return nil, fmt.Errorf("capture: cgroup %q: %w", cfg.Cgroup, err)
		}
		include = append(include, k)
	}

	l, err := lake.Open(ctx, cfg.Out)
	if err != nil {
		return nil, fmt.Errorf("capture: opening lake %s: %w", cfg.Out, err)
	}
	defer l.Close()
	w, err := l.NewWriter(lake.WriterConfig{Host: cfg.Host, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("capture: lake writer: %w", err)
	}

	procs := proc.NewTable(proc.Config{Logger: cfg.Logger})
	defer procs.Close()
	c, err := New(Config{
		ExcludeSelf:    true,
		IncludeCgroups: include,
		Sequence:       cfg.Sequence,
		RateLimit:      cfg.RateLimit,
		RingSize:       cfg.RingSize,
		Host:           cfg.Host,
		Procs:          procs,
		Containers:     resolver,
		Logger:         cfg.Logger,
	})
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("capture: %w", err)
	}
	defer c.Close()
	// Seed after the programs are attached: a process started in between
	// is then either in /proc or in the ring, never in neither.
	if err := procs.Seed(); err != nil {
		cfg.Logger.Warn("seeding the process table", logkey.Err, err)
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if cfg.Duration > 0 {
		runCtx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	sum := &Summary{Start: time.Now()}
	seen := map[string]*ContainerSeen{}
	p := newPipe(w)
	err = c.Run(runCtx, func(e *trace.Event) {
		if e.ContainerID != "" {
			cs := seen[e.ContainerID]
			if cs == nil {
				cs = &ContainerSeen{ID: e.ContainerID}
				seen[e.ContainerID] = cs
			}
			cs.Events++
			// Enrichment arrives asynchronously: keep the latest answer.
			cs.Name = cmp.Or(e.ContainerName, cs.Name)
			cs.Image = cmp.Or(e.Image, cs.Image)
			cs.TaskARN = cmp.Or(e.TaskARN, cs.TaskARN)
		}
		p.put(e)
	})
	werr := p.close()
	sum.End = time.Now()
	if cerr := w.Close(); werr == nil {
		werr = cerr
	}

	st := c.Stats()
	sum.Events = st.Events
	for _, n := range st.Events {
		sum.Total += n
	}
	sum.RingDrops = st.TotalRingDrops()
	sum.RateLimited = st.RateLimited
	sum.DecodeErrors = st.DecodeErrors
	sum.DNSErrors = st.DNSErrors
	sum.Truncated = st.Truncated
	sum.Missing = st.Missing
	ws := w.Stats()
	sum.Written = ws.EventsWritten.Load()
	sum.Published = ws.EventsPublished.Load()
	sum.Lost = ws.EventsLost.Load()
	sum.Files = ws.FilesPublished.Load()
	sum.Bytes = ws.BytesPublished.Load()
	for _, cs := range seen {
		sum.Containers = append(sum.Containers, *cs)
	}
	slices.SortFunc(sum.Containers, func(a, b ContainerSeen) int { return cmp.Compare(b.Events, a.Events) })
	return sum, errors.Join(err, werr)
}

// pipe moves events from the ring reader to the lake writer in batches, so
// that decoding and Parquet encoding run on different cores. A full pipe
// makes the reader wait, the ring fill and the kernel count drops.
type pipe struct {
	w     *lake.Writer
	batch []trace.Event
	ch    chan []trace.Event
	free  sync.Pool
	done  chan error
}

const pipeBatch = 512

func newPipe(w *lake.Writer) *pipe {
	p := &pipe{w: w, ch: make(chan []trace.Event, 64), done: make(chan error, 1)}
	p.free.New = func() any { return make([]trace.Event, 0, pipeBatch) }
	p.batch = p.free.Get().([]trace.Event)
	go func() {
		var err error
		for b := range p.ch {
			for i := range b {
				if werr := p.w.Write(&b[i]); werr != nil && err == nil {
					err = werr
				}
			}
			clear(b) // drop string references before reuse
			p.free.Put(b[:0])
		}
		if ferr := p.w.Flush(); err == nil {
			err = ferr
		}
		p.done <- err
	}()
	return p
}

func (p *pipe) put(e *trace.Event) {
	p.batch = append(p.batch, *e)
	if len(p.batch) == pipeBatch {
		p.ch <- p.batch
		p.batch = p.free.Get().([]trace.Event)
	}
}

func (p *pipe) close() error {
	if len(p.batch) > 0 {
		p.ch <- p.batch
	}
	close(p.ch)
	return <-p.done
}

// Print writes the summary for people.
func (s *Summary) Print(out io.Writer) {
	fmt.Fprintf(out, "capture %s .. %s (%s)\n", s.Start.UTC().Format(time.RFC3339), s.End.UTC().Format(time.RFC3339),
		s.End.Sub(s.Start).Round(time.Millisecond))
	fmt.Fprintf(out, "events: %d\n", s.Total)
	for _, k := range trace.Kinds {
		if n := s.Events[k]; n > 0 {
			fmt.Fprintf(out, "  %-14s %d\n", k, n)
		}
	}
	fmt.Fprintf(out, "containers: %d\n", len(s.Containers))
	for _, c := range s.Containers {
		id := c.ID
		if len(id) > 12 {
			id = id[:12]
		}
		fmt.Fprintf(out, "  %-12s %-24q %-32q %d events", id, c.Name, c.Image, c.Events)
		if c.TaskARN != "" {
			fmt.Fprintf(out, " task %q", c.TaskARN)
		}
		fmt.Fprintln(out)
	}
	fmt.Fprintf(out, "drops: ring %d, rate-limited %d, decode errors %d, dns parse errors %d, truncated %d\n",
		s.RingDrops, s.RateLimited, s.DecodeErrors, s.DNSErrors, s.Truncated)
	fmt.Fprintf(out, "lake: %d written, %d published in %d files (%d bytes), %d lost\n",
		s.Written, s.Published, s.Files, s.Bytes, s.Lost)
	if len(s.Missing) > 0 {
		fmt.Fprintf(out, "not on this kernel: %v\n", s.Missing)
	}
}
