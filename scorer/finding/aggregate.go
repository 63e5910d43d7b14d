package finding

import (
	"slices"
	"strings"
	"time"
)

// Outcome says what the aggregator did with an occurrence.
type Outcome int

const (
	New         Outcome = iota // first occurrence: emit
	Updated                    // repeat, and the update interval passed: emit the updated finding
	Aggregated                 // repeat folded into the existing finding's count
	RateLimited                // a new key over the (workload, type) rate limit: dropped, counted
)

func (o Outcome) String() string {
	return [...]string{"new", "updated", "aggregated", "rate_limited"}[o]
}

// AggregatorConfig bounds repeats and memory.
type AggregatorConfig struct {
	// UpdateInterval is the least event time between two reports of the
	// same finding; repeats in between only raise its count.
	UpdateInterval time.Duration `yaml:"update_interval" json:"update_interval"`
	// MaxFindings caps the findings remembered for aggregation; the least
	// recently seen are forgotten first.
	MaxFindings int `yaml:"max_findings" json:"max_findings"`
	// RatePerMinute and Burst limit how many new findings (distinct keys)
	// one (workload, type) may open, so a noisy rule cannot flood outputs.
	RatePerMinute float64 `yaml:"rate_per_minute" json:"rate_per_minute"`
	Burst         int     `yaml:"burst" json:"burst"`
}

func (c *AggregatorConfig) defaults() {
	if c.UpdateInterval <= 0 {
		c.UpdateInterval = 5 * time.Minute
	}
	if c.MaxFindings <= 0 {
		c.MaxFindings = 10000
	}
	if c.RatePerMinute <= 0 {
		c.RatePerMinute = 30
	}
	if c.Burst <= 0 {
		c.Burst = 20
	}
}

type aggEntry struct {
	f           *Finding
	lastEmit    time.Time
	emitedCount int64
}

type bucket struct {
	tokens float64
	at     time.Time
}

// Aggregator folds repeats of a finding (same workload, type and key, hence
// same ID) into one finding with a count, like GuardDuty. Time is event time,
// so replays aggregate exactly as live runs did. Not safe for concurrent use.
type Aggregator struct {
	cfg     AggregatorConfig
	entries map[string]*aggEntry
	// pending are the entries whose count grew since they were last
	// reported: Flush runs on every timer tick and need not look at the
	// rest.
	pending map[string]*aggEntry
	buckets map[string]*bucket
	Evicted int64
}

func NewAggregator(cfg AggregatorConfig) *Aggregator {
	cfg.defaults()
	return &Aggregator{cfg: cfg, entries: map[string]*aggEntry{}, pending: map[string]*aggEntry{}, buckets: map[string]*bucket{}}
}

// Observe records one occurrence, described by f (a fresh finding with
// Count 1 whose times are the event's). It returns the finding to emit, if
// any: f itself when new, a snapshot of the aggregated finding when updated.
func (a *Aggregator) Observe(f *Finding) (*Finding, Outcome) {
	at := f.Service.EventLastSeen
	if e := a.entries[f.ID]; e != nil {
		g := e.f
		g.Service.Count += f.Service.Count
		if at.After(g.Service.EventLastSeen) {
			g.Service.EventLastSeen = at
			g.UpdatedAt = at
		}
		if at.Before(g.Service.EventFirstSeen) {
			g.Service.EventFirstSeen = at
		}
		if at.Sub(e.lastEmit) >= a.cfg.UpdateInterval {
			e.lastEmit, e.emitedCount = at, g.Service.Count
			delete(a.pending, f.ID)
			snap := *g
			return &snap, Updated
		}
		if g.Service.Count != e.emitedCount {
			a.pending[f.ID] = e
		}
		return nil, Aggregated
	}
	if !a.allow(f.Service.Workload+"\x00"+f.Type, at) {
		return nil, RateLimited
	}
	if len(a.entries) >= a.cfg.MaxFindings {
		a.evict()
	}
	a.entries[f.ID] = &aggEntry{f: f, lastEmit: at, emitedCount: f.Service.Count}
	snap := *f
	return &snap, New
}

// Flush returns a snapshot of every finding whose count grew since it was
// last reported, and marks them reported: for shutdown and periodic updates.
func (a *Aggregator) Flush(now time.Time, force bool) []*Finding {
	var out []*Finding
	for id, e := range a.pending {
		if !force && now.Sub(e.lastEmit) < a.cfg.UpdateInterval {
			continue
		}
		e.lastEmit, e.emitedCount = now, e.f.Service.Count
		delete(a.pending, id)
		snap := *e.f
		out = append(out, &snap)
	}
	// Map order must not leak into output: replays of the same trace give
	// findings in the same order.
	slices.SortFunc(out, func(x, y *Finding) int {
		if c := x.Service.EventFirstSeen.Compare(y.Service.EventFirstSeen); c != 0 {
			return c
		}
		return strings.Compare(x.ID, y.ID)
	})
	return out
}

// Len is the number of findings remembered.
func (a *Aggregator) Len() int { return len(a.entries) }

// allow takes a token from the key's bucket (refilled in event time).
func (a *Aggregator) allow(key string, at time.Time) bool {
	b := a.buckets[key]
	if b == nil {
		if len(a.buckets) >= a.cfg.MaxFindings {
			clear(a.buckets) // buckets only ever limit; starting over is safe
		}
		b = &bucket{tokens: float64(a.cfg.Burst), at: at}
		a.buckets[key] = b
	}
	if d := at.Sub(b.at); d > 0 {
		b.tokens = min(float64(a.cfg.Burst), b.tokens+d.Minutes()*a.cfg.RatePerMinute)
		b.at = at
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// evict forgets the least recently seen tenth of the findings (one scan for
// many insertions). Pending counts of evicted findings are lost from
// aggregation but were already reported at least once.
func (a *Aggregator) evict() {
	type kv struct {
		id string
		at time.Time
	}
	all := make([]kv, 0, len(a.entries))
	for id, e := range a.entries {
		all = append(all, kv{id, e.f.Service.EventLastSeen})
	}
	slices.SortFunc(all, func(x, y kv) int {
		if c := x.at.Compare(y.at); c != 0 {
			return c
		}
		return strings.Compare(x.id, y.id)
	})
	n := max(1, len(all)/10)
	for _, x := range all[:n] {
		delete(a.entries, x.id)
		delete(a.pending, x.id)
		a.Evicted++
	}
}
