package models

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/vigilsec/vigil/features"
	"github.com/vigilsec/vigil/trace"
)

// FormatVersion is the model file format. Loading refuses any other: a build
// that scored a bundle differently from the one that calibrated it would
// raise findings at thresholds that mean something else. 2: sequence models
// carry a unigram floor their thresholds were calibrated with.
const FormatVersion = 2

// Model is one workload's baseline: every detector plus its calibration.
type Model struct {
	Format   int             `json:"format"`
	Workload string          `json:"workload"`
	Schema   string          `json:"schema"` // features.SchemaHash of Features
	Features features.Config `json:"features"`
	Training TrainingInfo    `json:"training"`

	Profiles     []*Profile             `json:"profiles"` // one per features.Category, in order
	Rate         *RateModel             `json:"rate,omitempty"`
	Multivariate *Multivariate          `json:"multivariate,omitempty"`
	Sequence     *SequenceModel         `json:"sequence,omitempty"`
	Calibration  map[Detector]Threshold `json:"calibration"`
}

// TrainingInfo describes what a model learned from.
type TrainingInfo struct {
	From      time.Time `json:"from"` // first event
	To        time.Time `json:"to"`   // last event
	Events    int64     `json:"events"`
	Windows   int64     `json:"windows"`  // trained on
	HeldOut   int64     `json:"held_out"` // set aside for calibration
	Instances int       `json:"instances"`
	// WindowsPerDay is how many windows the workload produces per day (all
	// instances), the denominator of the false-alarm budget.
	WindowsPerDay float64 `json:"windows_per_day"`
	// BudgetPerDay is the false-alarm budget the thresholds target.
	BudgetPerDay float64 `json:"budget_per_day"`
	// SequenceGrams counts syscall n-grams trained on (0: no sequence mode).
	SequenceGrams int64 `json:"sequence_grams"`
}

// Profile returns the novelty profile of category c.
func (m *Model) Profile(c features.Category) *Profile {
	if int(c) < len(m.Profiles) {
		return m.Profiles[c]
	}
	return nil
}

// Converged reports whether every profile with data has converged.
func (m *Model) Converged() bool {
	for _, p := range m.Profiles {
		if p.Items > 0 && p.State() != StateConverged {
			return false
		}
	}
	return true
}

// validate checks a decoded model and rebuilds its in-memory tables.
func (m *Model) validate() error {
	if m.Format != FormatVersion {
		return fmt.Errorf("format %d, this build reads %d", m.Format, FormatVersion)
	}
	if m.Workload == "" {
		return fmt.Errorf("no workload key")
	}
	if want := features.SchemaHash(m.Features); m.Schema != want {
		return fmt.Errorf("feature schema %s, this build's is %s", m.Schema, want)
	}
	if len(m.Profiles) != int(features.NumCategories) {
		return fmt.Errorf("%d profiles, want %d", len(m.Profiles), features.NumCategories)
	}
	for i, p := range m.Profiles {
		if p == nil || p.Root == nil || p.Cat != features.Category(i) || !p.Root.wellFormed(0) {
			return fmt.Errorf("profile %d malformed", i)
		}
		if !(p.Lambda >= 0 && p.LambdaUpper >= 0) || math.IsInf(p.Lambda, 0) || math.IsInf(p.LambdaUpper, 0) {
			return fmt.Errorf("profile %s: new-item rate %g (upper bound %g) is not a rate", p.Cat, p.Lambda, p.LambdaUpper)
		}
	}
	if m.Rate != nil {
		if err := m.Rate.check(); err != nil {
			return err
		}
		if !slices.Equal(m.Rate.Features, features.NumericNames()) {
			return fmt.Errorf("rate model features differ from this build's")
		}
	}
	if m.Multivariate != nil {
		if err := m.Multivariate.rebuild(); err != nil {
			return err
		}
	}
	if m.Sequence != nil {
		if err := m.Sequence.rebuild(); err != nil {
			return err
		}
	}
	for _, d := range Detectors() {
		if _, ok := m.Calibration[d]; !ok && m.has(d) {
			return fmt.Errorf("detector %s has no calibration", d)
		}
	}
	return nil
}

func (m *Model) has(d Detector) bool {
	switch d {
	case DetRate:
		return m.Rate != nil
	case DetMultivariate:
		return m.Multivariate != nil
	case DetSequence:
		return m.Sequence != nil
	}
	return true
}

// Score scores one window against the baseline. Windows of another
// workload or feature schema are the caller's bug; Score still returns
// scores, computed as if they matched.
func (m *Model) Score(w *features.Window) Scores {
	return m.score(w, true)
}

func (m *Model) score(w *features.Window, withEvidence bool) Scores {
	s := Scores{Key: w.Key, Detectors: make([]DetectorScore, 0, numDetectors)}
	add := func(d Detector, score float64, converged bool, ev []Evidence) {
		th := m.Calibration[d]
		ds := DetectorScore{
			Detector: d, FindingType: d.FindingType(), Score: score, Threshold: th.Value,
			Anomalous: th.Value > 0 && score >= th.Value, Converged: converged,
		}
		if withEvidence && ds.Anomalous {
			ds.Evidence = ev
		}
		s.Detectors = append(s.Detectors, ds)
	}
	// Evidence is attached only to anomalous scores: the activity detectors
	// work it out only then.
	explain := func(d Detector, score float64) bool {
		th := m.Calibration[d].Value
		return withEvidence && th > 0 && score >= th
	}
	for c := features.Category(0); c < features.NumCategories; c++ {
		p := m.Profiles[c]
		sc, ev := p.scoreItems(w.ItemsOf(c), withEvidence)
		add(NoveltyDetector(c), sc, p.State() == StateConverged, ev)
	}
	var x []float64
	if m.Rate != nil || m.Multivariate != nil {
		x = logCounts(w.Numeric(nil))
	}
	if m.Rate != nil {
		hour := time.Unix(0, w.Start).UTC().Hour()
		sc := m.Rate.score(x, hour)
		var ev []Evidence
		if explain(DetRate, sc) {
			ev = m.Rate.evidence(x, hour, m.Calibration[DetRate].Value)
			attribute(ev, w)
		}
		add(DetRate, sc, m.Rate.Global.Windows >= minHourly, ev)
	}
	if m.Multivariate != nil {
		sc, ev := m.Multivariate.score(x, false)
		if explain(DetMultivariate, sc) {
			_, ev = m.Multivariate.score(x, true)
			attribute(ev, w)
		}
		add(DetMultivariate, sc, true, ev)
	}
	if m.Sequence != nil {
		var sc float64
		var ev []Evidence
		if w.NGramOrder == m.Sequence.Order && len(w.NGrams) > 0 {
			sc = m.Sequence.windowScore(w.NGrams, nil)
			if explain(DetSequence, sc) {
				_, ev = m.Sequence.scoreGrams(w.NGrams, true)
			}
		}
		add(DetSequence, sc, true, ev)
	}
	return s
}

// scoreItems scores the novel items of one category in a window.
func (p *Profile) scoreItems(items []features.Item, withEvidence bool) (float64, []Evidence) {
	var ev []Evidence
	novel := 0
	for _, it := range items {
		if p.Known(it.Value) {
			continue
		}
		novel++
		if withEvidence && len(ev) < MaxEvidence {
			_, nearest := p.Lookup(it.Value)
			ev = append(ev, Evidence{
				Category: p.Cat.String(), Item: it.Value, Nearest: nearest, PNew: p.novelRate(),
				Proc: it.Proc, Exe: it.Exe, Time: it.First, Count: it.Count,
			})
		}
	}
	if novel == 0 {
		return 0, nil
	}
	s := clampScore(poissonTailLog10(novel, p.novelRate()))
	for i := range ev {
		ev[i].Surprise = s / float64(novel)
	}
	slices.SortStableFunc(ev, func(a, b Evidence) int {
		switch {
		case a.Time < b.Time:
			return -1
		case a.Time > b.Time:
			return 1
		}
		return 0
	})
	return s, ev
}

// attribute names, for activity evidence, the process that contributed most
// to the feature in the window.
func attribute(ev []Evidence, w *features.Window) {
	for i := range ev {
		count := func(p *features.Proc) int64 { return p.Events }
		if k, ok := strings.CutPrefix(ev[i].Feature, "kind:"); ok {
			idx := trace.Kind(k).Index()
			if idx < 0 {
				continue
			}
			count = func(p *features.Proc) int64 {
				if idx < len(p.Kinds) {
					return p.Kinds[idx]
				}
				return 0
			}
		} else if ev[i].Feature != "events" {
			continue
		}
		var best *features.Proc
		var bc int64
		for j := range w.Procs {
			if c := count(&w.Procs[j]); c > bc {
				best, bc = &w.Procs[j], c
			}
		}
		if best != nil {
			ev[i].Proc, ev[i].Exe, ev[i].Count = best.UUID, best.Exe, bc
		}
	}
}
