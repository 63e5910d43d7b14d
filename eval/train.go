package eval

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/vigilsec/vigil/features"
	"github.com/vigilsec/vigil/internal/blob"
	"github.com/vigilsec/vigil/models"
	"github.com/vigilsec/vigil/trace"
	"github.com/vigilsec/vigil/trace/lake"
)

// TrainLake learns baselines from the lake's events before to (everything
// when zero) and writes the bundle to out, as vigil train does: the demo
// and tests train with it so replay can evaluate on what follows.
func TrainLake(ctx context.Context, root, out string, to time.Time) error {
	l, err := lake.Open(ctx, root)
	if err != nil {
		return fmt.Errorf("opening lake: %w", err)
	}
	defer l.Close()
	scan := func(ctx context.Context, fn func(*trace.Event) error) error {
		return l.Scan(ctx, lake.Query{To: to, Fields: features.Fields}, fn)
	}
	ms, _, err := models.TrainScan(ctx, models.RunConfig{Workers: runtime.GOMAXPROCS(0)}, scan)
	if err != nil {
		return fmt.Errorf("training: %w", err)
	}
	if len(ms) == 0 {
		return fmt.Errorf("training: no workload had events before %s", to.Format(time.RFC3339))
	}
	st, err := blob.Open(ctx, out)
	if err != nil {
		return err
	}
	_, err = models.Write(ctx, st, ms, 0, 1)
	return err
}
