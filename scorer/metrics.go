package scorer

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigilsec/vigil/trace"
)

// Metrics are the engine's Prometheus instruments.
type Metrics struct {
	events        *prometheus.CounterVec
	findings      *prometheus.CounterVec
	eventLatency  prometheus.Histogram
	findLatency   prometheus.Histogram
	windowLatency prometheus.Histogram
	byKind        []prometheus.Counter
	sample        uint32
}

// NewMetrics registers the engine's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_scorer_events_total",
			Help: "Events scored, by kind."}, []string{"kind"}),
		findings: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_findings_total",
			Help: "Findings emitted (first reports and updates), by type."}, []string{"type"}),
		eventLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "vigil_scorer_event_seconds",
			Help:    "Time to run one event through rules and feature windows (sampled 1 in 16).",
			Buckets: prometheus.ExponentialBuckets(250e-9, 2, 16)}),
		findLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "vigil_event_to_finding_seconds",
			Help:    "From the event's kernel timestamp to its finding being emitted (new findings).",
			Buckets: prometheus.ExponentialBuckets(50e-6, 1.5, 30)}),
		windowLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "vigil_scorer_window_seconds",
			Help:    "Time to score one closed feature window against its baseline.",
			Buckets: prometheus.ExponentialBuckets(1e-6, 2, 20)}),
	}
	for _, k := range trace.Kinds {
		m.byKind = append(m.byKind, m.events.WithLabelValues(string(k)))
	}
	if reg != nil {
		reg.MustRegister(m.events, m.findings, m.eventLatency, m.findLatency, m.windowLatency)
	}
	return m
}

// sampleNext says whether to time the next event (1 in 16: reading the
// clock twice per event would cost more than some events).
func (m *Metrics) sampleNext() bool {
	m.sample++
	return m.sample&15 == 0
}

func (m *Metrics) observeEvent(kindIndex int, timed bool, start time.Time) {
	if kindIndex >= 0 {
		m.byKind[kindIndex].Inc()
	}
	if timed {
		m.eventLatency.Observe(time.Since(start).Seconds())
	}
}

func (m *Metrics) observeFindingLatency(d time.Duration) {
	if d < 0 {
		d = 0
	}
	m.findLatency.Observe(d.Seconds())
}
