package eval

import (
	"context"
	"fmt"
	"math"
	"time"

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
	// Windows also builds every feature window beside the engine and scores
	// it with every detector, for ROC/PR curves and benign hours: the engine
	// only reports windows that cross a threshold. WindowFeatures keeps
	// each window's numeric feature vector too.
	Windows        bool
	WindowFeatures bool
	// Sink, when set, also receives every finding (outputs).
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
	// WindowStats are the side extractor's counters (Windows only).
	WindowStats features.Stats `json:"-"`
}

type fixedModels struct{ b *models.Bundle }

func (f fixedModels) Get() *models.Bundle { return f.b }

// Replay feeds the events of scan, in scan order, through a scorer engine
// built exactly as the agent builds one, on the events' own clock: Process
// per event, Advance every Tick of event time, Flush at the end. Findings
// are recorded as the engine emits them, with the event time of emission.
func Replay(ctx context.Context, scan features.ScanFunc, cfg ReplayConfig) (*Result, error) {
	if cfg.Tick <= 0 {
		cfg.Tick = DefaultTick
	}
	var ms scorer.Models
	if cfg.Bundle != nil {
		ms = fixedModels{cfg.Bundle}
		if cfg.Engine.Features == (features.Config{}) {
			cfg.Engine.Features = cfg.Bundle.Index.Features
		}
		if err := cfg.Bundle.CheckFeatures(cfg.Engine.Features); err != nil {
			return nil, fmt.Errorf("model bundle %s: %w", cfg.Bundle.URL, err)
		}
	}
	set := cfg.Rules
	if set == nil {
		var err error
		if set, err = rules.Load(nil, rules.Options{}); err != nil {
			return nil, err
		}
	}
	res := &Result{Detectors: models.Detectors()}
	var now int64
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
			At: time.Unix(0, now).UTC(), Update: update,
		}
		if cd := f.Resource.ContainerDetails; cd != nil {
			e.Container = cd.ID
		}
		res.Emissions = append(res.Emissions, e)
		res.Records = append(res.Records, output.Record{Finding: f, Update: update})
		if cfg.Sink != nil {
			cfg.Sink.Emit(f, update)
		}
	})
	eng, err := scorer.New(cfg.Engine, set, ms, sink)
	if err != nil {
		return nil, err
	}
	var side *features.Extractor
	if cfg.Windows {
		side, err = features.NewExtractor(cfg.Engine.Features, func(w *features.Window) {
			res.Windows = append(res.Windows, scoreWindow(cfg.Bundle, w, res.Detectors, cfg.WindowFeatures))
		})
		if err != nil {
			return nil, err
		}
	}
	tick := int64(cfg.Tick)
	var next int64
	start := time.Now()
	err = scan(ctx, func(ev *trace.Event) error {
		now = ev.Time
		if res.Events == 0 {
			res.First = ev.Time
		}
		res.Events++
		if ev.Time > res.Last {
			res.Last = ev.Time
		}
		eng.Process(ev)
		if side != nil {
			side.Add(ev)
		}
		if ev.Time >= next {
			if next != 0 {
				eng.Advance(ev.Time)
				if side != nil {
					side.Advance(ev.Time)
				}
			}
			next = ev.Time - ev.Time%tick + tick
		}
		if res.Events&0xfff == 0 {
			return ctx.Err()
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	now = res.Last
	eng.Flush()
	if side != nil {
		side.Flush()
		res.WindowStats = side.Stats()
	}
	res.Elapsed = time.Since(start)
	res.Stats = eng.Stats()
	res.Coverage = eng.Coverage()
	return res, nil
}

func scoreWindow(b *models.Bundle, w *features.Window, dets []models.Detector, numeric bool) WindowScore {
	ws := WindowScore{Workload: w.Workload, Instance: w.Instance, Start: w.Start, End: w.End, Events: w.Events,
		Scores: make([]float64, len(dets)), Thresholds: make([]float64, len(dets))}
	for i := range dets {
		ws.Scores[i], ws.Thresholds[i] = math.NaN(), math.NaN()
	}
	if numeric {
		ws.Numeric = w.Numeric(nil)
	}
	var m *models.Model
	if b != nil {
		m = b.Workload(w.Workload)
	}
	if m == nil {
		return ws
	}
	ws.Modelled = true
	s := m.Score(w)
	for _, d := range s.Detectors {
		for i := range dets {
			if dets[i] == d.Detector {
				ws.Scores[i], ws.Thresholds[i] = d.Score, d.Threshold
			}
		}
	}
	return ws
}
