package eval

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/vigilsec/vigil/datasets/label"
	"github.com/vigilsec/vigil/trace"
	"github.com/vigilsec/vigil/trace/lake"
)

// SequenceSplits are per-process syscall traces of a lake's labelled
// scenario runs, split as the ADFA-LD protocol splits its data: one trace per
// process, in the order the process made its syscalls.
type SequenceSplits struct {
	// Training: processes of benign runs that ended before the split.
	// Validation: processes of runs that started at or after it, except the
	// attack's: benign runs, and the workload of attack and anomaly runs.
	// Attack: the labelled attack processes and every descendant.
	Training, Validation, Attack [][]int32
	// Skipped counts what fits no split, by reason, so nothing leaves the
	// evaluation silently.
	Skipped map[string]int
}

// LakeSequences reads the sequence-mode syscall events of a lake's labelled
// scenario runs (`vigil scenario run --sequence`) and splits them at split:
// ADFA-LD's protocol on traces captured by Vigil itself.
func LakeSequences(ctx context.Context, l *lake.Lake, split time.Time) (*SequenceSplits, error) {
	runs, err := label.List(ctx, l.Store())
	if err != nil {
		return nil, fmt.Errorf("reading labels: %w", err)
	}
	type proc struct {
		run    *label.Run
		parent string
		calls  []int32
	}
	// Events name their container by full id; labels do too, but a prefix
	// is enough and tolerates either being short.
	const idLen = 12
	byContainer := map[string]*label.Run{}
	// The simulated remote hosts' containers (label.RoleInfra) are not the
	// task's: their processes are neither normal traces nor attack ones.
	infra := map[string]bool{}
	attackRoots := map[string]bool{}
	for _, r := range runs {
		if r.Source != label.SourceScenario {
			continue
		}
		for _, c := range r.Containers {
			if len(c.ID) >= idLen {
				byContainer[c.ID[:idLen]] = r
				if c.Role == label.RoleInfra {
					infra[c.ID[:idLen]] = true
				}
			}
		}
		for _, u := range r.AttackUUIDs() {
			attackRoots[u] = true
		}
	}
	out := &SequenceSplits{Skipped: map[string]int{}}
	procs := map[string]*proc{}
	var order []string
	q := lake.Query{Kinds: []trace.Kind{trace.KindSyscall}}
	err = l.Scan(ctx, q, func(e *trace.Event) error {
		if len(e.ContainerID) < idLen {
			out.Skipped["syscalls outside any container"]++
			return nil
		}
		r := byContainer[e.ContainerID[:idLen]]
		if r == nil {
			out.Skipped["syscalls outside labelled runs"]++
			return nil
		}
		if infra[e.ContainerID[:idLen]] {
			out.Skipped["syscalls of simulated remote hosts"]++
			return nil
		}
		if e.ProcUUID == "" {
			out.Skipped["syscalls of processes without uuid"]++
			return nil
		}
		p := procs[e.ProcUUID]
		if p == nil {
			p = &proc{run: r, parent: e.ParentUUID}
			procs[e.ProcUUID] = p
			order = append(order, e.ProcUUID)
		}
		p.calls = append(p.calls, e.Syscall)
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Descendants of an attack process are the attack too (a reverse
	// shell's children). Parents usually come first, but a parent with no
	// syscalls of its own in the trace would break a single pass.
	attack := func(uuid string) bool {
		for range 64 { // lineage depth bound: a cycle must not hang this
			if attackRoots[uuid] {
				return true
			}
			p := procs[uuid]
			if p == nil || p.parent == "" {
				return false
			}
			uuid = p.parent
		}
		return false
	}
	at := split.UnixNano()
	for _, u := range order {
		p := procs[u]
		start, end := p.run.Start.UnixNano(), p.run.End.UnixNano()
		switch {
		case attack(u):
			if start < at {
				out.Skipped["attack processes before the split"]++
				continue
			}
			out.Attack = append(out.Attack, p.calls)
		case end <= at:
			if p.run.Attack != nil {
				out.Skipped["attack-run processes before the split"]++
				continue
			}
			out.Training = append(out.Training, p.calls)
		case start >= at:
			out.Validation = append(out.Validation, p.calls)
		default:
			out.Skipped["processes of runs across the split"]++
		}
	}
	if len(out.Training) == 0 || len(out.Validation) == 0 || len(out.Attack) == 0 {
		return out, fmt.Errorf("%s: need syscall traces of benign runs before %s and of benign and attack runs after it (have %d training, %d normal, %d attack traces; capture with vigil scenario run --sequence)",
			l.Root(), split.UTC().Format(time.RFC3339), len(out.Training), len(out.Validation), len(out.Attack))
	}
	return out, nil
}

// SkippedReasons lists Skipped in a stable order.
func (s *SequenceSplits) SkippedReasons() []string { return slices.Sorted(maps.Keys(s.Skipped)) }
