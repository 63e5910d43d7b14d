package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/vigilsec/vigil/collector"
	"github.com/vigilsec/vigil/collector/container"
	"github.com/vigilsec/vigil/collector/proc"
	"github.com/vigilsec/vigil/internal/logkey"
	"github.com/vigilsec/vigil/trace"
)

// Capture is the collector wired with its process table and container
// resolver, as a scenario run needs it: every process on the host is
// watched, and the runner keeps the events of its own containers.
type Capture struct {
	c      *collector.Collector
	procs  *proc.Table
	res    *container.Resolver
	cancel context.CancelFunc
}

// NewCollector loads the collector's BPF programs. Close it when done.
func NewCollector(ctx context.Context, log *slog.Logger) (*Capture, error) {
	return newCapture(ctx, log, false)
}

// NewSequenceCollector is NewCollector with the syscall-sequence mode ready:
// runs with Config.Sequence also record every syscall of their containers.
func NewSequenceCollector(ctx context.Context, log *slog.Logger) (*Capture, error) {
	return newCapture(ctx, log, true)
}

func newCapture(ctx context.Context, log *slog.Logger, sequence bool) (*Capture, error) {
	procs := proc.NewTable(proc.Config{Logger: log})
	res := container.NewResolver(container.Config{Logger: log})
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	res.Start(rctx)
	c, err := collector.New(collector.Config{ExcludeSelf: true, Procs: procs, Containers: res, Logger: log,
		Sequence: sequence, SequenceOnDemand: sequence})
	if err != nil {
		cancel()
		res.Close()
		procs.Close()
		return nil, fmt.Errorf("loading the collector: %w", err)
	}
	// Seed after attaching, so no process falls between the two.
	if err := procs.Seed(); err != nil {
		log.Warn("seeding the process table", logkey.Err, err)
	}
	return &Capture{c: c, procs: procs, res: res, cancel: cancel}, nil
}

// Run streams events until ctx is done.
func (c *Capture) Run(ctx context.Context, fn func(*trace.Event)) error {
	return c.c.Run(ctx, fn)
}

// KeyForPID returns the cgroups of a process, so the runner can recognise
// its containers' events before the resolver has named them.
func (c *Capture) KeyForPID(pid int) (container.Key, error) { return c.res.KeyForPID(pid) }

// WatchSequence and UnwatchSequence start and stop recording every syscall
// of a cgroup (NewSequenceCollector only).
func (c *Capture) WatchSequence(k container.Key) error   { return c.c.WatchSequence(k) }
func (c *Capture) UnwatchSequence(k container.Key) error { return c.c.UnwatchSequence(k) }

// Stats are the collector's counters (drops included).
func (c *Capture) Stats() collector.Stats { return c.c.Stats() }

// Close detaches the programs and stops the helpers.
func (c *Capture) Close() error {
	err := c.c.Close()
	c.cancel()
	return errors.Join(err, c.res.Close(), c.procs.Close())
}

// Attributed reports whether the resolver has named the container of pid's
// cgroups.
func (c *Capture) Attributed(pid int) bool {
	k, err := c.res.KeyForPID(pid)
	if err != nil {
		return false
	}
	inf, ok := c.res.Lookup(k)
	return ok && inf.ContainerID != ""
}
