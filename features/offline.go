package features

import (
	"context"
	"slices"

	"github.com/vigilsec/vigil/trace"
)

// ScanFunc replays events in order, calling fn for each; lake.Lake.Scan
// bound to a query has this shape. It stops at fn's first error.
type ScanFunc func(ctx context.Context, fn func(*trace.Event) error) error

// Run drives one extractor over a whole scan and flushes it at the end: the
// offline path (training, replay). It is the same Add/Flush the agent calls.
func Run(ctx context.Context, cfg Config, scan ScanFunc, emit func(*Window)) (Stats, error) {
	x, err := NewExtractor(cfg, emit)
	if err != nil {
		return Stats{}, err
	}
	err = scan(ctx, func(e *trace.Event) error {
		x.Add(e)
		return nil
	})
	if err != nil {
		return x.Stats(), err
	}
	st := x.Stats()
	x.Flush()
	st.Windows = x.Stats().Windows
	return st, nil
}

// Extract runs events, in the order given, through one extractor and
// returns every window sorted by key.
func Extract(cfg Config, events []trace.Event) ([]*Window, Stats, error) {
	var out []*Window
	st, err := Run(context.Background(), cfg, SliceScan(events), func(w *Window) { out = append(out, w) })
	SortWindows(out)
	return out, st, err
}

// SliceScan replays an in-memory slice.
func SliceScan(events []trace.Event) ScanFunc {
	return func(ctx context.Context, fn func(*trace.Event) error) error {
		for i := range events {
			if i&0xffff == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			if err := fn(&events[i]); err != nil {
				return err
			}
		}
		return nil
	}
}

// SortWindows orders windows by key (workload, instance, start).
func SortWindows(ws []*Window) {
	slices.SortFunc(ws, func(a, b *Window) int {
		switch {
		case a.Key.Less(b.Key):
			return -1
		case b.Key.Less(a.Key):
			return 1
		}
		return 0
	})
}
