// Package output delivers findings: JSON lines on stdout, a rotating file,
// an HTTP webhook, Amazon EventBridge and AWS Security Hub. Each output has
// its own bounded queue and worker, so a slow or failing destination never
// stalls detection or the other outputs; whatever cannot be queued or
// delivered is counted, never dropped silently.
package output

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilsec/vigil/internal/logkey"
	"github.com/vigilsec/vigil/scorer/finding"
)

// Record is one finding report.
type Record struct {
	Finding *finding.Finding
	Update  bool
}

// Output is one destination. Write delivers a batch; it returns an error
// only when the whole batch should be retried (partial failures are retried
// inside Write, which owns the destination's protocol).
type Output interface {
	Name() string
	Write(ctx context.Context, batch []Record) error
	Close() error
}

// Format selects the JSON written by stream outputs.
type Format string

const (
	FormatFinding Format = "finding" // Vigil's GuardDuty-shaped finding
	FormatASFF    Format = "asff"
	FormatOCSF    Format = "ocsf"
)

// Encoder renders a record in a format.
type Encoder struct {
	Format Format
	ASFF   finding.ASFFConfig
}

// Encode returns the record's JSON.
func (e Encoder) Encode(r Record) ([]byte, error) {
	switch e.Format {
	case "", FormatFinding:
		return json.Marshal(r.Finding)
	case FormatASFF:
		return json.Marshal(finding.ToASFF(r.Finding, e.ASFF))
	case FormatOCSF:
		return json.Marshal(finding.ToOCSF(r.Finding, r.Update))
	}
	return nil, fmt.Errorf("unknown output format %q (finding, asff, ocsf)", e.Format)
}

// Counters of one output.
type Counters struct {
	Delivered uint64 `json:"delivered"`
	Failed    uint64 `json:"failed"`  // given up after retries
	Dropped   uint64 `json:"dropped"` // queue full
	Retries   uint64 `json:"retries"`
}

// QueueConfig bounds an output's queue and batching.
type QueueConfig struct {
	Size      int           `yaml:"size"`       // records buffered (default 4096)
	Batch     int           `yaml:"batch"`      // records per Write (default 100)
	Linger    time.Duration `yaml:"linger"`     // wait for a fuller batch (default 20ms: findings are urgent)
	Attempts  int           `yaml:"attempts"`   // tries per batch (default 5)
	BaseDelay time.Duration `yaml:"base_delay"` // first retry delay, doubled each time (default 500ms)
	MaxDelay  time.Duration `yaml:"max_delay"`  // (default 30s)
}

func (q *QueueConfig) defaults() {
	if q.Size <= 0 {
		q.Size = 4096
	}
	if q.Batch <= 0 {
		q.Batch = 100
	}
	if q.Linger <= 0 {
		q.Linger = 20 * time.Millisecond
	}
	if q.Attempts <= 0 {
		q.Attempts = 5
	}
	if q.BaseDelay <= 0 {
		q.BaseDelay = 500 * time.Millisecond
	}
	if q.MaxDelay <= 0 {
		q.MaxDelay = 30 * time.Second
	}
}

type queue struct {
	out  Output
	cfg  QueueConfig
	ch   chan Record
	done chan struct{}
	c    struct{ delivered, failed, dropped, retries atomic.Uint64 }
	log  *slog.Logger
}

// Dispatcher fans findings out to outputs. It implements scorer.Sink.
type Dispatcher struct {
	queues []*queue
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Bool
}

// NewDispatcher starts one worker per output.
func NewDispatcher(log *slog.Logger, qc QueueConfig, outs ...Output) *Dispatcher {
	qc.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	d := &Dispatcher{ctx: ctx, cancel: cancel}
	for _, o := range outs {
		q := &queue{out: o, cfg: qc, ch: make(chan Record, qc.Size), done: make(chan struct{}), log: log.With(logkey.Output, o.Name())}
		d.queues = append(d.queues, q)
		d.wg.Add(1)
		go func() { defer d.wg.Done(); q.run(ctx) }()
	}
	return d
}

// Emit queues a finding for every output; a full queue drops it for that
// output and counts the drop.
func (d *Dispatcher) Emit(f *finding.Finding, update bool) {
	if d.closed.Load() {
		return
	}
	for _, q := range d.queues {
		select {
		case q.ch <- Record{Finding: f, Update: update}:
		default:
			if q.c.dropped.Add(1) == 1 {
				q.log.Warn("output queue full; dropping findings (counted in metrics)")
			}
		}
	}
}

// Close delivers what is queued (until ctx ends) and closes the outputs.
func (d *Dispatcher) Close(ctx context.Context) error {
	if d.closed.Swap(true) {
		return nil
	}
	for _, q := range d.queues {
		close(q.ch)
	}
	stopped := make(chan struct{})
	go func() { d.wg.Wait(); close(stopped) }()
	select {
	case <-stopped:
	case <-ctx.Done():
		d.cancel() // abandon retries
		<-stopped
	}
	d.cancel()
	var first error
	for _, q := range d.queues {
		if err := q.out.Close(); err != nil && first == nil {
			first = fmt.Errorf("closing output %s: %w", q.out.Name(), err)
		}
	}
	return first
}

// Counters returns each output's counters by name.
func (d *Dispatcher) Counters() map[string]Counters {
	m := map[string]Counters{}
	for _, q := range d.queues {
		m[q.out.Name()] = Counters{Delivered: q.c.delivered.Load(), Failed: q.c.failed.Load(), Dropped: q.c.dropped.Load(), Retries: q.c.retries.Load()}
	}
	return m
}

func (q *queue) run(ctx context.Context) {
	batch := make([]Record, 0, q.cfg.Batch)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		var r Record
		var ok bool
		if len(batch) == 0 {
			r, ok = <-q.ch
		} else {
			select {
			case r, ok = <-q.ch:
			case <-timer.C:
				q.deliver(ctx, batch)
				batch = batch[:0]
				continue
			}
		}
		if !ok {
			if len(batch) > 0 {
				q.deliver(ctx, batch)
			}
			return
		}
		batch = append(batch, r)
		if len(batch) == 1 {
			timer.Reset(q.cfg.Linger)
		}
		if len(batch) >= q.cfg.Batch {
			timer.Stop()
			q.deliver(ctx, batch)
			batch = batch[:0]
		}
	}
}

func (q *queue) deliver(ctx context.Context, batch []Record) {
	delay := q.cfg.BaseDelay
	for attempt := 1; ; attempt++ {
		err := q.out.Write(ctx, batch)
		if err == nil {
			q.c.delivered.Add(uint64(len(batch)))
			return
		}
		if p, ok := err.(partial); ok {
			q.c.delivered.Add(uint64(len(batch) - p.failed))
			q.c.failed.Add(uint64(p.failed))
			q.log.Error("destination rejected findings", logkey.Err, p.err, logkey.Count, p.failed)
			return
		}
		if attempt >= q.cfg.Attempts || ctx.Err() != nil || !Retryable(err) {
			q.c.failed.Add(uint64(len(batch)))
			q.log.Error("delivering findings failed", logkey.Err, err, logkey.Count, len(batch), logkey.Attempt, attempt)
			return
		}
		q.c.retries.Add(1)
		q.log.Warn("delivering findings, retrying", logkey.Err, err, logkey.Attempt, attempt, logkey.Backoff, delay)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
		}
		delay = min(delay*2, q.cfg.MaxDelay)
	}
}

// permanent marks an error retrying cannot fix (a 4xx answer, bad input).
type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// Permanent wraps err so the dispatcher does not retry it.
func Permanent(err error) error { return permanent{err} }

// partial reports that a destination accepted part of a batch and rejected
// the rest for good.
type partial struct {
	failed int
	err    error
}

func (p partial) Error() string { return p.err.Error() }

// Partial says failed records of the batch were rejected for good.
func Partial(failed int, err error) error { return partial{failed, err} }

// Retryable reports whether err is worth another attempt.
func Retryable(err error) bool {
	_, perm := err.(permanent)
	return !perm
}
