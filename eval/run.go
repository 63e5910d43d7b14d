package eval

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/vigilsec/vigil/datasets/label"
	"github.com/vigilsec/vigil/internal/blob"
	"github.com/vigilsec/vigil/internal/logkey"
	"github.com/vigilsec/vigil/models"
	"github.com/vigilsec/vigil/scorer"
	"github.com/vigilsec/vigil/scorer/intel"
	"github.com/vigilsec/vigil/scorer/rules"
	"github.com/vigilsec/vigil/trace"
	"github.com/vigilsec/vigil/trace/lake"
)

// RunOptions configure a replay evaluation from a lake (vigil replay).
type RunOptions struct {
	Lake string
	// Models lists bundles: none (rules only), one, or two to compare.
	Models []string
	// Rules are rule sources; nil uses the default pack. NoRules runs
	// baselines only.
	Rules   []rules.Source
	NoRules bool
	// Intel lists the rules query, as the agent loads them; the built-in
	// DGA model is always there.
	Intel []intel.List
	// Labels reads labelled runs from the lake's side store, or from
	// LabelStore when set.
	Labels     bool
	LabelStore string
	// From and To bound the replay. A zero From with models starts at the
	// end of the (latest) bundle's training data: a time-based split.
	From, To          time.Time
	Cluster, Workload string
	Grace             time.Duration
	Tick              time.Duration
	// NoWindows skips the per-window scoring (curves, benign hours).
	NoWindows bool
	// WindowFeatures keeps each window's numeric features in windows.csv.
	WindowFeatures bool
	Engine         scorer.Config
	Progress       bool
	Log            *slog.Logger
}

// Run replays the lake through the scorer once per model bundle, evaluates
// against labels when asked, and returns the report (not yet written).
func Run(ctx context.Context, o RunOptions) (*Report, error) {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Grace == 0 {
		o.Grace = DefaultGrace
	}
	if len(o.Models) > 2 {
		return nil, errors.New("at most two model bundles (--compare A B)")
	}
	l, err := lake.Open(ctx, o.Lake)
	if err != nil {
		return nil, fmt.Errorf("opening lake: %w", err)
	}
	defer l.Close()

	var set *rules.Set
	nRules := 0
	if !o.NoRules {
		srcs := o.Rules
		if srcs == nil {
			srcs = rules.DefaultSources()
		}
		h := intel.NewHolder(o.Intel, intel.DefaultDGA())
		if len(o.Intel) > 0 {
			if _, err := h.Reload(ctx); err != nil {
				return nil, fmt.Errorf("loading intel: %w", err)
			}
		}
		if set, err = rules.Load(srcs, rules.Options{Intel: h}); err != nil {
			return nil, fmt.Errorf("loading rules: %w", err)
		}
		for _, r := range set.Rules() {
			if r.Enabled {
				nRules++
			}
		}
	}

	bundles := make([]*models.Bundle, len(o.Models))
	for i, m := range o.Models {
		if bundles[i], err = models.Load(ctx, m); err != nil {
			return nil, fmt.Errorf("loading models %s: %w", m, err)
		}
	}
	q := lake.Query{From: o.From, To: o.To, Cluster: o.Cluster, Workload: o.Workload, Progress: o.Progress}
	if q.From.IsZero() {
		for _, b := range bundles {
			if d := CheckDiscipline(b, 0, 0); d.TrainTo.After(q.From) {
				q.From = d.TrainTo
			}
		}
		if !q.From.IsZero() {
			// Training covered events up to and including TrainTo.
			q.From = q.From.Add(time.Nanosecond)
			o.Log.Info("replaying after the baselines' training data (time-based split)", "from", q.From.Format(time.RFC3339Nano))
		}
	}

	rep := &Report{Format: ReportFormat, Generated: time.Now().UTC(), Lake: l.Root()}
	var runs []AttackRun
	var sim map[string]bool
	if o.Labels {
		st := l.Store()
		if o.LabelStore != "" {
			if st, err = blob.Open(ctx, o.LabelStore); err != nil {
				return nil, fmt.Errorf("opening labels %s: %w", o.LabelStore, err)
			}
		}
		lbls, err := label.List(ctx, st)
		if err != nil {
			return nil, err
		}
		if len(lbls) == 0 {
			return nil, fmt.Errorf("--labels: no labels under %s in %s (scenario runs write them; see vigil scenario run)", label.Prefix, st.URL())
		}
		rep.Labels = len(lbls)
		for _, x := range lbls {
			if x.Source == SourceSynthetic {
				rep.Synthetic = true
			}
		}
		runs, sim = AttackRuns(lbls), SimulatedContainers(lbls)
	}

	scan := func(ctx context.Context, fn func(*trace.Event) error) error { return l.Scan(ctx, q, fn) }
	variants := []string{"models"}
	switch {
	case len(o.Models) == 0:
		variants = []string{"rules only"}
		bundles = []*models.Bundle{nil}
	case len(o.Models) == 2:
		variants = []string{"A", "B"}
	}
	for i, b := range bundles {
		res, err := Replay(ctx, scan, ReplayConfig{Engine: o.Engine, Rules: set, Bundle: b, Tick: o.Tick,
			Windows: !o.NoWindows, WindowFeatures: o.WindowFeatures})
		if err != nil {
			var fe *lake.FileErrors
			if errors.As(err, &fe) {
				return nil, fmt.Errorf("reading the lake: %w", err)
			}
			return nil, err
		}
		url := ""
		if b != nil {
			url = o.Models[i]
		}
		v := NewVariant(variants[i], url, b, nRules, res, runs, sim, o.Labels, o.Grace)
		o.Log.Info("replayed", logkey.Events, res.Events, logkey.Count, v.Replay.NewFindings, logkey.Model, url,
			logkey.Duration, res.Elapsed.Round(time.Millisecond))
		rep.Variants = append(rep.Variants, v)
	}
	return rep, nil
}
