package eval

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/vigilsec/vigil/features"
	"github.com/vigilsec/vigil/models"
	"github.com/vigilsec/vigil/scorer"
	"github.com/vigilsec/vigil/scorer/finding"
	"github.com/vigilsec/vigil/scorer/output"
	"github.com/vigilsec/vigil/scorer/rules"
	"github.com/vigilsec/vigil/trace"
)

// DefaultTick is how often, in event time, replay tells the engine that time
// has moved on (Engine.Advance), as the agent's timer does in wall time.
const DefaultTick = time.Second

// ReplayConfig configures one replay.
type ReplayConfig struct {
	// Engine is the scorer configuration, as the agent would use it. Its
	// feature config defaults to the bundle's.
	Engine scorer.Config
	// Rules is the rule set; nil runs without rules (baselines only).
	Rules *rules.Set
	// Bundle holds the baselines; nil runs rules only.
	Bundle *models.Bundle
	// Tick is the event-time interval between Advance calls (default 1 s).
	Tick time.Duration
	// Windows also records every feature window the engine closes with
	// every detector's score, for ROC/PR curves and benign hours: the
	// engine only reports windows that cross a threshold. WindowFeatures
	// keeps each window's numeric feature vector too.
	Windows        bool
	WindowFeatures bool
	// Sink, when set, also receives every finding (outputs); hosts'
	// engines emit concurrently, and Replay serialises them.
	Sink scorer.Sink
}

// WindowScore is one closed window with every detector's score.
type WindowScore struct {
	Workload string `json:"workload"`
	Instance string `json:"instance"`
	Start    int64  `json:"start"`
	End      int64  `json:"end"`
	Events   int64  `json:"events"`
	// Modelled is false when the bundle has no baseline for the workload;
	// Scores and Thresholds are then NaN.
	Modelled bool `json:"modelled"`
	// Scores and Thresholds follow Result.Detectors; NaN where the model
	// lacks the detector.
	Scores     []float64 `json:"scores"`
	Thresholds []float64 `json:"thresholds"`
	Numeric    []float64 `json:"numeric,omitempty"`
}

// Result is what a replay produced.
type Result struct {
	Events      int64             `json:"events"`
	First, Last int64             `json:"-"`
	Elapsed     time.Duration     `json:"-"`
	Emissions   []Emission        `json:"-"`
	Records     []output.Record   `json:"-"`
	Windows     []WindowScore     `json:"-"`
	Detectors   []models.Detector `json:"-"`
	Stats       scorer.Stats      `json:"-"`
	Coverage    scorer.Coverage   `json:"-"`
	// WindowStats are the engines' feature window counters (Windows only).
	WindowStats features.Stats `json:"-"`
	// Hosts is how many hosts (agents) the events came from.
	Hosts int `json:"-"`
}

type fixedModels struct{ b *models.Bundle }

func (f fixedModels) Get() *models.Bundle { return f.b }

// Replay feeds the events of scan, in scan order, through scorer engines
// built exactly as the agent builds one, on the events' own clock: Process
// per event, Advance every Tick of event time, Flush at the end. Each host's
// events go to their own engine, as each host runs its own agent; hosts
// replay in parallel. Findings are recorded as the engines emit them, with
// the event time of emission, and merged in that order.
func Replay(ctx context.Context, scan features.ScanFunc, cfg ReplayConfig) (*Result, error) {
	if cfg.Tick <= 0 {
		cfg.Tick = DefaultTick
	}
	if cfg.Bundle != nil {
		if cfg.Engine.Features == (features.Config{}) {
			cfg.Engine.Features = cfg.Bundle.Index.Features
		}
		if err := cfg.Bundle.CheckFeatures(cfg.Engine.Features); err != nil {
			return nil, fmt.Errorf("model bundle %s: %w", cfg.Bundle.URL, err)
		}
	}
	if cfg.Rules == nil {
		set, err := rules.Load(nil, rules.Options{})
		if err != nil {
			return nil, err
		}
		cfg.Rules = set
	}
	if cfg.Sink != nil {
		cfg.Sink = &lockedSink{s: cfg.Sink}
	}
	res := &Result{Detectors: models.Detectors()}
	hosts := map[string]*hostReplay{}
	var order []*hostReplay
	var g errgroup.Group
	var startErr error
	tick := int64(cfg.Tick)
	var next int64
	start := time.Now()
	var last *hostReplay // events come in runs from one host
	err := scan(ctx, func(ev *trace.Event) error {
		h := last
		if h == nil || h.host != ev.Host {
			h = hosts[ev.Host]
		}
		if h == nil {
			var err error
			if h, err = newHostReplay(ev.Host, &cfg, res.Detectors); err != nil {
				startErr = err
				return err
			}
			hosts[ev.Host] = h
			// Every host's engine runs in its own goroutine, fed batches
			// of copied events: decoding a lake then overlaps with the
			// engines instead of taking turns with one of them, which
			// shortens the longest goroutine most when there is one host.
			order = append(order, h)
			g.Go(h.run)
		}
		last = h
		if res.Events == 0 {
			res.First = ev.Time
		}
		res.Events++
		res.Last = max(res.Last, ev.Time)
		h.pushEvent(ev)
		if ev.Time >= next {
			if next != 0 {
				// The agent's timer ticks for every host at once.
				for _, o := range order {
					o.push(step{advance: ev.Time})
				}
			}
			next = ev.Time - ev.Time%tick + tick
		}
		if res.Events&0xfff == 0 {
			return ctx.Err()
		}
		return nil
	})
	for _, h := range order {
		h.close(res.Last)
	}
	werr := g.Wait()
	if startErr != nil {
		return nil, startErr
	}
	if err != nil {
		return nil, err
	}
	if werr != nil {
		return nil, werr
	}
	res.Elapsed = time.Since(start)
	res.merge(order)
	return res, nil
}

// replayBatch events go to a host's engine at a time.
const replayBatch = 512

// step is one event, or (advance > 0) a tick of the agent's timer.
type step struct {
	ev      trace.Event
	advance int64
}

// hostReplay is one host's agent: its engine (and window scorer) running in
// its own goroutine.
type hostReplay struct {
	host      string
	eng       *scorer.Engine
	windowsOn bool
	ch        chan []step
	buf       []step
	free      chan []step
	now       int64
	last      int64 // set by close before the final flush

	emissions []Emission
	records   []output.Record
	windows   []WindowScore
}

func newHostReplay(host string, cfg *ReplayConfig, dets []models.Detector) (*hostReplay, error) {
	h := &hostReplay{host: host, ch: make(chan []step, 4), free: make(chan []step, 6)}
	var ms scorer.Models
	if cfg.Bundle != nil {
		ms = fixedModels{cfg.Bundle}
	}
	sink := scorer.SinkFunc(func(f *finding.Finding, update bool) {
		// An update reports occurrences since the previous report, but not
		// when each happened; only its newest occurrence is certain, so
		// only that is matched against attacks.
		first := f.Service.EventFirstSeen
		if update {
			first = f.Service.EventLastSeen
		}
		e := Emission{
			FindingID: f.ID, Type: f.Type, Source: f.Service.Detection.Source, Detector: f.Service.Detection.RuleID,
			Severity: f.Severity, Workload: f.Service.Workload, First: first, Last: f.Service.EventLastSeen,
			At: time.Unix(0, h.now).UTC(), Update: update,
		}
		if cd := f.Resource.ContainerDetails; cd != nil {
			e.Container = cd.ID
		}
		h.emissions = append(h.emissions, e)
		h.records = append(h.records, output.Record{Finding: f, Update: update})
		if cfg.Sink != nil {
			cfg.Sink.Emit(f, update)
		}
	})
	var err error
	// A rule set reuses one VM per Match: each engine gets its own copy.
	if h.eng, err = scorer.New(cfg.Engine, cfg.Rules.Clone(), ms, sink); err != nil {
		return nil, err
	}
	if cfg.Windows {
		// The engine scores every window it closes anyway; record them
		// rather than building each window a second time.
		numeric := cfg.WindowFeatures
		h.windowsOn = true
		h.eng.OnWindow = func(w *features.Window, s *models.Scores) {
			h.windows = append(h.windows, windowScore(w, s, dets, numeric))
		}
	}
	h.buf = make([]step, 0, replayBatch)
	return h, nil
}

func (h *hostReplay) push(s step) {
	h.buf = append(h.buf, s)
	h.sendFull()
}

// pushEvent is push(step{ev: *ev}) copying the event once, straight into
// the batch (batches have room for replayBatch steps): an event is over
// 600 bytes.
func (h *hostReplay) pushEvent(ev *trace.Event) {
	h.buf = h.buf[:len(h.buf)+1]
	s := &h.buf[len(h.buf)-1]
	s.ev, s.advance = *ev, 0
	h.sendFull()
}

// sendFull hands a full batch to the host's goroutine.
func (h *hostReplay) sendFull() {
	if len(h.buf) == replayBatch {
		h.ch <- h.buf
		select {
		case h.buf = <-h.free:
			h.buf = h.buf[:0]
		default:
			h.buf = make([]step, 0, replayBatch)
		}
	}
}

func (h *hostReplay) close(last int64) {
	h.last = last
	if len(h.buf) > 0 {
		h.ch <- h.buf
	}
	close(h.ch)
}

func (h *hostReplay) run() error {
	for batch := range h.ch {
		for i := range batch {
			if t := batch[i].advance; t != 0 {
				h.advance(t)
			} else {
				h.process(&batch[i].ev)
			}
		}
		select {
		case h.free <- batch:
		default:
		}
	}
	// close set last before closing ch, so it is visible here.
	h.finish(h.last)
	return nil
}

func (h *hostReplay) process(ev *trace.Event) {
	h.now = ev.Time
	h.eng.Process(ev)
}

func (h *hostReplay) advance(t int64) {
	h.now = t
	h.eng.Advance(t)
}

func (h *hostReplay) finish(last int64) {
	h.now = last
	h.eng.Flush()
}

// merge combines the hosts' results: emissions in event-time order of
// emission (host name breaking ties), windows by key, counters summed.
func (res *Result) merge(hs []*hostReplay) {
	slices.SortFunc(hs, func(a, b *hostReplay) int { return strings.Compare(a.host, b.host) })
	type em struct {
		e Emission
		r output.Record
	}
	var all []em
	for _, h := range hs {
		for i := range h.emissions {
			all = append(all, em{h.emissions[i], h.records[i]})
		}
		res.Windows = append(res.Windows, h.windows...)
	}
	slices.SortStableFunc(all, func(a, b em) int { return a.e.At.Compare(b.e.At) })
	for _, x := range all {
		res.Emissions = append(res.Emissions, x.e)
		res.Records = append(res.Records, x.r)
	}
	slices.SortStableFunc(res.Windows, func(a, b WindowScore) int {
		return cmp.Or(cmp.Compare(a.Start, b.Start), strings.Compare(a.Workload, b.Workload), strings.Compare(a.Instance, b.Instance))
	})
	res.Stats = scorer.Stats{EventsByKind: map[trace.Kind]uint64{}, Findings: map[string]uint64{}}
	res.Coverage = scorer.Coverage{ContainersByWorkload: map[string]int{}, ModelStates: map[string]string{}}
	withModel, learning := map[string]bool{}, map[string]bool{}
	for _, h := range hs {
		s := h.eng.Stats()
		t := &res.Stats
		t.Events += s.Events
		t.RuleMatches += s.RuleMatches
		t.RuleErrors += s.RuleErrors
		t.Suppressed += s.Suppressed
		t.AutoSuppressed += s.AutoSuppressed
		t.Aggregated += s.Aggregated
		t.RateLimited += s.RateLimited
		t.WindowsScored += s.WindowsScored
		t.WindowsLearning += s.WindowsLearning
		t.ActivityPartial += s.ActivityPartial
		t.LateEvents += s.LateEvents
		t.Processes += s.Processes
		t.ProcsEvicted += s.ProcsEvicted
		t.WorkloadsEvicted += s.WorkloadsEvicted
		for k, v := range s.EventsByKind {
			t.EventsByKind[k] += v
		}
		for k, v := range s.Findings {
			t.Findings[k] += v
		}
		c := h.eng.Coverage()
		res.Coverage.Containers += c.Containers
		res.Coverage.Rules = c.Rules
		for w, n := range c.ContainersByWorkload {
			res.Coverage.ContainersByWorkload[w] += n
		}
		for w, st := range c.ModelStates {
			res.Coverage.ModelStates[w] = st
		}
		for _, w := range c.WithModel {
			withModel[w] = true
		}
		for _, w := range c.Learning {
			learning[w] = true
		}
		if h.windowsOn {
			x := h.eng.WindowStats()
			res.WindowStats.Events += x.Events
			res.WindowStats.Late += x.Late
			res.WindowStats.UnknownKind += x.UnknownKind
			res.WindowStats.Windows += x.Windows
			res.WindowStats.Streams += x.Streams
			res.WindowStats.ProcsEvicted += x.ProcsEvicted
		}
	}
	res.Coverage.WithModel, res.Coverage.Learning = sortedKeys(withModel), sortedKeys(learning)
	res.Coverage.Workloads = len(res.Coverage.ContainersByWorkload)
	res.Hosts = len(hs)
}

// lockedSink serialises the hosts' engines' emissions to one sink.
type lockedSink struct {
	mu sync.Mutex
	s  scorer.Sink
}

func (l *lockedSink) Emit(f *finding.Finding, update bool) {
	l.mu.Lock()
	l.s.Emit(f, update)
	l.mu.Unlock()
}

// windowScore records a closed window with its baseline's scores (s nil:
// the workload has no baseline).
func windowScore(w *features.Window, s *models.Scores, dets []models.Detector, numeric bool) WindowScore {
	ws := WindowScore{Workload: w.Workload, Instance: w.Instance, Start: w.Start, End: w.End, Events: w.Events,
		Scores: make([]float64, len(dets)), Thresholds: make([]float64, len(dets))}
	for i := range dets {
		ws.Scores[i], ws.Thresholds[i] = math.NaN(), math.NaN()
	}
	if numeric {
		ws.Numeric = w.Numeric(nil)
	}
	if s == nil {
		return ws
	}
	ws.Modelled = true
	for _, d := range s.Detectors {
		for i := range dets {
			if dets[i] == d.Detector {
				ws.Scores[i], ws.Thresholds[i] = d.Score, d.Threshold
			}
		}
	}
	return ws
}
