package models

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync"

	"github.com/vigilsec/vigil/features"
	"github.com/vigilsec/vigil/trace"
)

// RunConfig drives training over an event scan.
type RunConfig struct {
	Train TrainConfig
	// Workers extract and train in parallel, each owning a fixed subset of
	// workloads (default 1: everything on the scanning goroutine).
	Workers int
	// Workload, when set, trains only that workload.
	Workload string
	// Shard and Shards split workloads by ShardOf so that Shards runs
	// together train exactly what one run trains (default 0 of 1).
	Shard, Shards int
	// Progress, when set, is called now and then with events scanned so far.
	Progress func(events int64)
}

// RunStats says what a training run consumed.
type RunStats struct {
	Scanned  int64          `json:"scanned"`  // events the scan delivered
	Skipped  int64          `json:"skipped"`  // other shards' or workloads' events
	Features features.Stats `json:"features"` // summed over workers
}

const batchSize = 2048

// TrainScan streams events from scan through the feature extractor into
// trainers and returns the fitted models sorted by workload. A workload's
// events always go to the same worker in scan order, so the result does not
// depend on Workers, and a shard's models are byte-identical to the same
// workloads' models from an unsharded run.
func TrainScan(ctx context.Context, rc RunConfig, scan features.ScanFunc) ([]*Model, RunStats, error) {
	if rc.Workers < 1 {
		rc.Workers = 1
	}
	if rc.Shards < 1 {
		rc.Shards = 1
	}
	if rc.Shard < 0 || rc.Shard >= rc.Shards {
		return nil, RunStats{}, fmt.Errorf("shard %d/%d out of range", rc.Shard, rc.Shards)
	}
	type worker struct {
		x  *features.Extractor
		t  *Trainer
		in chan []trace.Event
	}
	ws := make([]*worker, rc.Workers)
	free := make(chan []trace.Event, rc.Workers*4)
	for i := range ws {
		t, err := NewTrainer(rc.Train)
		if err != nil {
			return nil, RunStats{}, err
		}
		x, err := t.Extractor()
		if err != nil {
			return nil, RunStats{}, err
		}
		ws[i] = &worker{x: x, t: t, in: make(chan []trace.Event, 2)}
	}
	var wg sync.WaitGroup
	if rc.Workers > 1 {
		for _, w := range ws {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for b := range w.in {
					for i := range b {
						w.x.Add(&b[i])
					}
					select {
					case free <- b[:0]:
					default:
					}
				}
			}()
		}
	}
	batches := make([][]trace.Event, rc.Workers)
	var st RunStats
	var scanned int64 // only the scanning goroutine counts
	type routeTo struct {
		worker int
		keep   bool
	}
	routes := map[string]routeTo{}
	var lastWL string
	var last routeTo
	route := func(wl string) (int, bool) {
		if wl == lastWL && wl != "" {
			return last.worker, last.keep
		}
		r, ok := routes[wl]
		if !ok {
			h := fnv.New32a()
			h.Write([]byte(wl))
			r = routeTo{int(h.Sum32() % uint32(rc.Workers)), (rc.Workload == "" || wl == rc.Workload) && ShardOf(wl, rc.Shards) == rc.Shard}
			wl = strings.Clone(wl)
			routes[wl] = r
		}
		lastWL, last = wl, r
		return r.worker, r.keep
	}
	// One worker for every workload: nothing to route, and the extractor is
	// the first to read the event.
	everything := rc.Workers == 1 && rc.Workload == "" && rc.Shards == 1
	scanErr := scan(ctx, func(e *trace.Event) error {
		scanned++
		if rc.Progress != nil && scanned&0xffff == 0 {
			rc.Progress(scanned)
		}
		if everything {
			ws[0].x.Add(e)
			return nil
		}
		wi, keep := route(features.WorkloadOf(e))
		if !keep {
			st.Skipped++
			return nil
		}
		if rc.Workers == 1 {
			ws[0].x.Add(e)
			return nil
		}
		b := batches[wi]
		if b == nil {
			select {
			case b = <-free:
			default:
				b = make([]trace.Event, 0, batchSize)
			}
		}
		b = append(b, *e)
		if len(b) == batchSize {
			select {
			case ws[wi].in <- b:
			case <-ctx.Done():
				return ctx.Err()
			}
			b = nil
		}
		batches[wi] = b
		return nil
	})
	for i, b := range batches {
		if len(b) > 0 && scanErr == nil {
			ws[i].in <- b
		}
	}
	if rc.Workers > 1 {
		for _, w := range ws {
			close(w.in)
		}
		wg.Wait()
	}
	st.Scanned = scanned
	if rc.Progress != nil {
		rc.Progress(st.Scanned)
	}
	if scanErr != nil {
		return nil, st, fmt.Errorf("scanning events: %w", scanErr)
	}
	var out []*Model
	for _, w := range ws {
		fs := w.x.Stats()
		w.x.Flush()
		fs.Windows = w.x.Stats().Windows
		st.Features.Events += fs.Events
		st.Features.Late += fs.Late
		st.Features.UnknownKind += fs.UnknownKind
		st.Features.Windows += fs.Windows
		st.Features.Streams += fs.Streams
		st.Features.ProcsEvicted += fs.ProcsEvicted
		st.Features.Truncated += fs.Truncated
		out = append(out, w.t.Models()...)
	}
	slices.SortFunc(out, func(a, b *Model) int { return strings.Compare(a.Workload, b.Workload) })
	return out, st, nil
}
