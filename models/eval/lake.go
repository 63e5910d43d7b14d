package eval

import (
	"context"
	"fmt"
	"slices"

	"github.com/vigilsec/vigil/datasets/label"
	"github.com/vigilsec/vigil/features"
	"github.com/vigilsec/vigil/models"
	"github.com/vigilsec/vigil/trace"
	"github.com/vigilsec/vigil/trace/lake"
)

// AttackLabeler labels a window with the attack ID of the first labelled run
// whose attack overlaps the window in time and ran in the window's instance
// (the attack's container, or any container of its run when the label names
// none). Benign windows get "".
func AttackLabeler(runs []*label.Run, window int64) func(features.Key) string {
	type span struct {
		id         string
		start, end int64
		containers []string
	}
	var spans []span
	for _, r := range runs {
		a := r.Attack
		if a == nil {
			continue
		}
		sp := span{id: a.ID, start: a.Start.UnixNano(), end: a.End.UnixNano()}
		if sp.id == "" {
			sp.id = r.Scenario
		}
		if a.ContainerID != "" {
			sp.containers = []string{a.ContainerID}
		} else {
			for _, c := range r.Containers {
				sp.containers = append(sp.containers, c.ID)
			}
		}
		spans = append(spans, sp)
	}
	return func(k features.Key) string {
		for _, sp := range spans {
			if k.Start < sp.end && k.Start+window > sp.start && slices.Contains(sp.containers, k.Instance) {
				return sp.id
			}
		}
		return ""
	}
}

// Lake scores the windows of a lake query with a bundle and labels them from
// the lake's labelled runs: the per-detector AUC and alarm rates of a
// trained bundle on later, labelled traffic.
func Lake(ctx context.Context, l *lake.Lake, b *models.Bundle, q lake.Query) (WindowReport, error) {
	runs, err := label.List(ctx, l.Store())
	if err != nil {
		return WindowReport{}, fmt.Errorf("reading labels: %w", err)
	}
	cfg := b.Index.Features
	acc := NewWindowScorer(b, AttackLabeler(runs, int64(cfg.WithDefaults().Window)))
	scan := func(ctx context.Context, fn func(*trace.Event) error) error { return l.Scan(ctx, q, fn) }
	if _, err := features.Run(ctx, cfg, scan, acc.Add); err != nil {
		return WindowReport{}, err
	}
	return acc.Report(), nil
}
