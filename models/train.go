package models

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/vigilsec/vigil/features"
)

// TrainConfig sets how baselines are learned. The zero value means the
// defaults.
type TrainConfig struct {
	Features features.Config `json:"features"`
	// BudgetPerDay is the false-alarm budget per workload per day the
	// thresholds target (default 1).
	BudgetPerDay float64 `json:"budget_per_day"`
	// HoldOutEvery sets one window in this many aside, by a hash of the
	// window's key, for calibration (default 5).
	HoldOutEvery int `json:"hold_out_every"`
	// Sample bounds the windows per workload kept for the rate and
	// multivariate fits (default 2048), HourSample per hour of day (default
	// 128), HoldOut the held-out windows kept for calibration (default 512).
	// With the defaults a workload's trainer holds a few MiB at most. Samples are the windows with the smallest key hashes, so they
	// do not depend on event order and memory does not grow with the trace.
	Sample     int `json:"sample"`
	HourSample int `json:"hour_sample"`
	HoldOut    int `json:"hold_out"`
	// Smoothing of the syscall n-gram model: SmoothWittenBell (default) or
	// SmoothKneserNey.
	Smoothing string `json:"smoothing"`
	// LeaveOut is how many containers per workload (default 8, negative:
	// none) the sequence detector's calibration also scores as new ones: a
	// sample of each one's windows against the model less everything that
	// container contributed. Held-out windows come from containers the
	// model trained on; a new container, with its own start-up and its own
	// timing, looks stranger, and its windows set the threshold.
	LeaveOut int `json:"leave_out"`
}

// leaveOutWindows bounds the windows kept per left-out container.
const leaveOutWindows = 16

func (c TrainConfig) withDefaults() TrainConfig {
	c.Features = c.Features.WithDefaults()
	if c.BudgetPerDay == 0 {
		c.BudgetPerDay = 1
	}
	if c.HoldOutEvery == 0 {
		c.HoldOutEvery = 5
	}
	if c.Sample == 0 {
		c.Sample = 2048
	}
	if c.HourSample == 0 {
		c.HourSample = 128
	}
	if c.HoldOut == 0 {
		c.HoldOut = 512
	}
	if c.LeaveOut == 0 {
		c.LeaveOut = 8
	}
	return c
}

// Trainer accumulates windows of any number of workloads. Memory is
// O(workloads x (profile size + samples)), independent of trace length.
// It is not safe for concurrent use.
type Trainer struct {
	cfg    TrainConfig
	schema string
	names  []string
	w      map[string]*wtrainer
	num    []float64 // scratch for a window's counts
}

type wtrainer struct {
	workload  string
	profiles  []*Profile
	sample    bottomK[[]float64]
	hourly    [24]bottomK[[]float64]
	holdout   bottomK[*features.Window]
	seq       *SequenceModel
	seqGrams  int64
	from, to  int64
	events    int64
	windows   int64
	heldOut   int64
	instances map[string]struct{}
	// leftOut samples containers by hash for leave-one-container-out
	// calibration of the sequence detector.
	leftOut []*containerGrams
}

// containerGrams is what one sampled container gave the sequence model.
type containerGrams struct {
	instance string
	hash     uint64
	counts   map[uint64]uint64         // top-order n-gram counts of its trained windows
	windows  bottomK[[]features.NGram] // a sample of those windows
}

// leftOutOf returns inst's sample entry, adding it when its hash is among
// the limit smallest seen (evicting the largest); nil when not sampled.
func (wt *wtrainer) leftOutOf(workload, inst string, limit int) *containerGrams {
	for _, c := range wt.leftOut {
		if c.instance == inst {
			return c
		}
	}
	if limit <= 0 {
		return nil
	}
	h := windowHash(features.Key{Workload: workload, Instance: inst})
	c := &containerGrams{instance: inst, hash: h, counts: make(map[uint64]uint64), windows: bottomK[[]features.NGram]{k: leaveOutWindows}}
	if len(wt.leftOut) < limit {
		wt.leftOut = append(wt.leftOut, c)
		return c
	}
	i := 0
	for j, o := range wt.leftOut {
		if o.hash > wt.leftOut[i].hash {
			i = j
		}
	}
	if h >= wt.leftOut[i].hash {
		return nil
	}
	wt.leftOut[i] = c
	return c
}

// NewTrainer returns an empty trainer.
func NewTrainer(cfg TrainConfig) (*Trainer, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Features.Validate(); err != nil {
		return nil, err
	}
	switch cfg.Smoothing {
	case "", SmoothWittenBell, SmoothKneserNey:
	default:
		return nil, fmt.Errorf("train config: smoothing %q: want %s or %s", cfg.Smoothing, SmoothWittenBell, SmoothKneserNey)
	}
	if cfg.BudgetPerDay < 0 || cfg.HoldOutEvery < 2 {
		return nil, fmt.Errorf("train config: budget %g, hold-out 1/%d: need budget > 0 and hold-out >= 2", cfg.BudgetPerDay, cfg.HoldOutEvery)
	}
	return &Trainer{cfg: cfg, schema: features.SchemaHash(cfg.Features), names: features.NumericNames(), w: make(map[string]*wtrainer)}, nil
}

// Config returns the configuration in effect.
func (t *Trainer) Config() TrainConfig { return t.cfg }

func (t *Trainer) workload(key string) *wtrainer {
	wt := t.w[key]
	if wt == nil {
		wt = &wtrainer{
			workload:  key,
			sample:    bottomK[[]float64]{k: t.cfg.Sample},
			holdout:   bottomK[*features.Window]{k: t.cfg.HoldOut},
			instances: make(map[string]struct{}),
			from:      math.MaxInt64,
			to:        math.MinInt64,
		}
		for h := range wt.hourly {
			wt.hourly[h].k = t.cfg.HourSample
		}
		for c := features.Category(0); c < features.NumCategories; c++ {
			wt.profiles = append(wt.profiles, newProfile(c))
		}
		t.w[key] = wt
	}
	return wt
}

// Add learns from one closed window.
func (t *Trainer) Add(w *features.Window) { t.add(w) }

// Extractor returns a feature extractor that feeds t (TrainScan's): the
// windows t does not keep are recycled into the extractor.
func (t *Trainer) Extractor() (*features.Extractor, error) {
	var x *features.Extractor
	x, err := features.NewExtractor(t.cfg.Features, func(w *features.Window) {
		if !t.add(w) {
			x.Recycle(w)
		}
	})
	return x, err
}

// add learns from w and reports whether t holds on to it.
func (t *Trainer) add(w *features.Window) (kept bool) {
	wt := t.workload(w.Workload)
	wt.events += w.Events
	wt.from = min(wt.from, w.Start)
	wt.to = max(wt.to, w.End)
	wt.instances[w.Instance] = struct{}{}
	h := windowHash(w.Key)
	if h%uint64(t.cfg.HoldOutEvery) == 0 {
		wt.heldOut++
		// Kept until a window with a smaller hash pushes it out; then it
		// is only garbage, so calling it kept is merely conservative.
		wt.holdout.add(h, w)
		return true
	}
	wt.windows++
	for c := features.Category(0); c < features.NumCategories; c++ {
		p := wt.profiles[c]
		discovered := false
		for _, it := range w.ItemsOf(c) {
			if p.observe(it.Value, it.Count, it.First) {
				discovered = true
			}
		}
		p.endWindow(discovered)
	}
	t.num = w.Numeric(t.num[:0])
	hour := &wt.hourly[time.Unix(0, w.Start).UTC().Hour()]
	if wt.sample.keeps(h) || hour.keeps(h) {
		x := logCounts(t.num)
		wt.sample.add(h, x)
		hour.add(h, x)
	}
	if len(w.NGrams) > 0 && w.NGramOrder == t.cfg.Features.NGram {
		if wt.seq == nil {
			wt.seq, _ = NewSequenceModel(t.cfg.Features.NGram)
			if t.cfg.Smoothing != SmoothWittenBell {
				wt.seq.Smoothing = t.cfg.Smoothing
			}
		}
		wt.seq.AddGrams(w.NGrams)
		for _, g := range w.NGrams {
			wt.seqGrams += g.Count
		}
		if c := wt.leftOutOf(w.Workload, w.Instance, t.cfg.LeaveOut); c != nil {
			for _, g := range w.NGrams {
				c.counts[g.Gram] += uint64(g.Count)
			}
			if c.windows.keeps(h) {
				c.windows.add(h, slices.Clone(w.NGrams))
			}
		}
	}
	return false
}

// Workloads lists the workloads seen so far, sorted.
func (t *Trainer) Workloads() []string {
	out := make([]string, 0, len(t.w))
	for k := range t.w {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Models fits and calibrates every workload's model, sorted by workload.
func (t *Trainer) Models() []*Model {
	var out []*Model
	for _, k := range t.Workloads() {
		out = append(out, t.fit(t.w[k]))
	}
	return out
}

func (t *Trainer) fit(wt *wtrainer) *Model {
	m := &Model{
		Format:   FormatVersion,
		Workload: wt.workload,
		Schema:   t.schema,
		Features: t.cfg.Features,
		Profiles: wt.profiles,
	}
	span := time.Duration(wt.to - wt.from)
	total := wt.windows + wt.heldOut
	wpd := float64(total) * float64(24*time.Hour) / float64(max(span, t.cfg.Features.Window))
	m.Training = TrainingInfo{
		From: time.Unix(0, wt.from).UTC(), To: time.Unix(0, wt.to).UTC(),
		Events: wt.events, Windows: wt.windows, HeldOut: wt.heldOut, Instances: len(wt.instances),
		WindowsPerDay: wpd, BudgetPerDay: t.cfg.BudgetPerDay, SequenceGrams: wt.seqGrams,
	}
	for _, p := range m.Profiles {
		p.finish()
	}
	xs := wt.sample.items()
	if len(xs) >= 10 {
		var hourly [24][][]float64
		for h := range wt.hourly {
			hourly[h] = wt.hourly[h].items()
		}
		m.Rate = fitRate(t.names, xs, hourly)
	}
	if len(xs) >= 30 {
		if mv, err := fitMultivariate(t.names, xs); err == nil {
			m.Multivariate = mv
		}
	}
	if wt.seq != nil {
		wt.seq.Build()
		m.Sequence = wt.seq
	}

	held := wt.holdout.items()
	// Novelty rates measured on windows the profiles never saw: a profile
	// that still discovers on fresh data must not look converged.
	if len(held) > 0 {
		for _, p := range m.Profiles {
			novel := 0
			for _, w := range held {
				for _, it := range w.ItemsOf(p.Cat) {
					if !p.Known(it.Value) {
						novel++
					}
				}
			}
			p.Lambda = max(p.Lambda, float64(novel)/float64(len(held)))
		}
	}
	dets := 0
	for _, d := range Detectors() {
		if m.has(d) {
			dets++
		}
	}
	alpha := t.cfg.BudgetPerDay / (max(wpd, 1) * float64(dets))
	scores := map[Detector][]float64{}
	for _, w := range held {
		for _, d := range m.score(w, false).Detectors {
			scores[d.Detector] = append(scores[d.Detector], d.Score)
		}
	}
	leftOut := 0
	if m.Sequence != nil && len(wt.instances) > 1 {
		for _, c := range wt.leftOut {
			out := m.Sequence.leftOut(c.counts)
			if out == nil || out.total == m.Sequence.total {
				continue // the model has nothing but this container
			}
			for _, grams := range c.windows.items() {
				scores[DetSequence] = append(scores[DetSequence], m.Sequence.windowScore(grams, out))
				leftOut++
			}
		}
	}
	m.Calibration = map[Detector]Threshold{}
	for _, d := range Detectors() {
		if !m.has(d) {
			continue
		}
		parametric := d == DetRate || d == DetMultivariate || len(scores[d]) == 0
		th := calibrate(scores[d], alpha, parametric)
		if d == DetSequence {
			th.LeftOut = leftOut
		}
		m.Calibration[d] = th
	}
	// The model may be scored from several goroutines: nothing mutable stays.
	for _, p := range m.Profiles {
		p.release()
	}
	return m
}
