package agent

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/vigilsec/vigil/collector"
	"github.com/vigilsec/vigil/collector/container"
	"github.com/vigilsec/vigil/collector/proc"
	"github.com/vigilsec/vigil/internal/logkey"
	"github.com/vigilsec/vigil/trace"
)

// RunLive loads the collector and runs until ctx ends: kernel events go to
// Process, windows close on the timer, rules, intel and models reload, and
// /metrics and /healthz are served on cfg.Listen.
func (a *Agent) RunLive(ctx context.Context) error {
	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return fmt.Errorf("metrics listener: %w", err)
	}
	procs := proc.NewTable(proc.Config{ProcRoot: a.cfg.Collector.ProcRoot, Logger: a.log})
	defer procs.Close()
	if err := procs.Seed(); err != nil {
		a.log.Warn("seeding the process table from /proc", logkey.Err, err)
	}
	res := container.NewResolver(container.Config{ProcRoot: a.cfg.Collector.ProcRoot, Logger: a.log})
	defer res.Close()
	res.Start(ctx)

	c, err := collector.New(collector.Config{
		ExcludeSelf: true, RateLimit: a.cfg.Collector.RateLimit, RingSize: a.cfg.Collector.RingSize,
		Sequence: a.cfg.Collector.Sequence, Host: a.cfg.Host, Procs: procs, Containers: res, Logger: a.log,
	})
	if err != nil {
		ln.Close()
		return fmt.Errorf("loading the collector: %w", err)
	}
	defer c.Close()
	a.reg.MustRegister(collectorMetrics{c})
	a.SetSourceStats(func() any { return c.Stats() })

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return a.Serve(ctx, ln) })
	g.Go(func() error { a.Maintain(ctx); return nil })
	g.Go(func() error {
		err := c.Run(ctx, a.Process)
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	})
	a.log.Info("agent running", logkey.Addr, ln.Addr().String())
	return g.Wait()
}

// collectorMetrics exports collector.Stats: events by kind and every loss.
type collectorMetrics struct{ c *collector.Collector }

var (
	descCEvents = prometheus.NewDesc("vigil_collector_events_total", "Events decoded by the collector, by kind.", []string{"kind"}, nil)
	descCLoss   = prometheus.NewDesc("vigil_collector_lost_total",
		"Events the collector lost or dropped, by reason (ring_full, rate_limited, decode_error).", []string{"reason"}, nil)
	descCFiltered  = prometheus.NewDesc("vigil_collector_filtered_total", "Events dropped in the kernel by cgroup filters.", nil, nil)
	descCTruncated = prometheus.NewDesc("vigil_collector_truncated_total", "Events with a truncated path or argv.", nil, nil)
	descCBytes     = prometheus.NewDesc("vigil_collector_ring_bytes_total", "Bytes read from the ring buffer.", nil, nil)
)

func (m collectorMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- descCEvents
	ch <- descCLoss
	ch <- descCFiltered
	ch <- descCTruncated
	ch <- descCBytes
}

func (m collectorMetrics) Collect(ch chan<- prometheus.Metric) {
	s := m.c.Stats()
	for _, k := range trace.Kinds {
		ch <- prometheus.MustNewConstMetric(descCEvents, prometheus.CounterValue, float64(s.Events[k]), string(k))
	}
	ch <- prometheus.MustNewConstMetric(descCLoss, prometheus.CounterValue, float64(s.TotalRingDrops()), "ring_full")
	ch <- prometheus.MustNewConstMetric(descCLoss, prometheus.CounterValue, float64(s.RateLimited), "rate_limited")
	ch <- prometheus.MustNewConstMetric(descCLoss, prometheus.CounterValue, float64(s.DecodeErrors), "decode_error")
	ch <- prometheus.MustNewConstMetric(descCFiltered, prometheus.CounterValue, float64(s.Filtered))
	ch <- prometheus.MustNewConstMetric(descCTruncated, prometheus.CounterValue, float64(s.Truncated))
	ch <- prometheus.MustNewConstMetric(descCBytes, prometheus.CounterValue, float64(s.RingBytes))
}
