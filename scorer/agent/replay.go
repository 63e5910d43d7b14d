package agent

import (
	"context"
	"fmt"

	"github.com/vigilsec/vigil/trace"
	"github.com/vigilsec/vigil/trace/lake"
)

// Replay feeds recorded events from a trace lake through the same path as
// live ones (Process), on the events' own clock, then flushes: windows close
// and pending updates are reported exactly as a live agent would have.
// Scan yields events in time order within a file; the scorer tolerates the
// small disorder across files (late events are folded, never dropped).
func (a *Agent) Replay(ctx context.Context, root string, q lake.Query) (int64, error) {
	l, err := lake.Open(ctx, root)
	if err != nil {
		return 0, fmt.Errorf("replay: %w", err)
	}
	defer l.Close()
	var n int64
	err = l.Scan(ctx, q, func(e *trace.Event) error {
		a.Process(e)
		n++
		return nil
	})
	a.Engine.Flush()
	if err != nil {
		return n, fmt.Errorf("replay %s: %w", root, err)
	}
	return n, nil
}
