package runner

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vigilsec/vigil/datasets/label"
	"github.com/vigilsec/vigil/datasets/scenario"
	"github.com/vigilsec/vigil/trace"
	"github.com/vigilsec/vigil/trace/lake"
)

// Check holds a run's trace against its scenario and label, and returns what
// does not line up:
//   - every attack expectation is met by events of the attacking process
//     tree (the labelled attack processes and their descendants), inside the
//     attack window, in the attack container;
//   - every labelled attack process started inside the attack window and its
//     uuid is the one the trace gives its PID;
//   - every scenario expectation is met by events of its container during
//     the run;
//   - no event of the remote hosts' container (label.RoleInfra) is
//     attributed to an ECS task: it is not part of the task.
//
// events are the run's events in any order.
func Check(s *scenario.Scenario, lbl *label.Run, events []trace.Event) []string {
	var problems []string
	evs := slices.Clone(events)
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].Time < evs[j].Time })

	byName := map[string]string{}
	for _, c := range lbl.Containers {
		byName[c.Name] = c.ID
	}
	inContainer := func(e *trace.Event, id string) bool {
		return e.ContainerID != "" && strings.HasPrefix(id, e.ContainerID)
	}
	runFrom, runTo := lbl.Start.UnixNano(), lbl.End.Add(time.Second).UnixNano()
	for _, id := range lbl.InfraIDs() {
		for i := range evs {
			if e := &evs[i]; inContainer(e, id) && (e.TaskARN != "" || e.TaskFamily != "") {
				problems = append(problems, fmt.Sprintf("remote hosts' container %.12s: event %s of pid %d attributed to ECS task %q (family %q); it must be outside the task",
					id, e.Kind, e.PID, e.TaskARN, e.TaskFamily))
				break
			}
		}
	}
	for _, x := range s.Expect {
		id := byName[x.Container]
		n := 0
		for i := range evs {
			e := &evs[i]
			if e.Time >= runFrom && e.Time <= runTo && inContainer(e, id) && x.Matches(e) {
				n++
			}
		}
		if n < max(x.Min, 1) {
			problems = append(problems, fmt.Sprintf("%s: container %s: want %d event(s) %s, found %d", pos(s, x.Line), x.Container, max(x.Min, 1), x.String(), n))
		}
	}

	a := s.Attack
	if a == nil {
		return problems
	}
	la := lbl.Attack
	if la == nil {
		return append(problems, "label has no attack section")
	}
	from, to := la.Start.Add(-50*time.Millisecond).UnixNano(), la.End.Add(time.Second).UnixNano()
	tree := map[string]bool{}
	for _, p := range la.Processes {
		if p.Role != "attack" {
			continue
		}
		if p.UUID == "" {
			problems = append(problems, fmt.Sprintf("attack step %d (pid %d) has no process uuid", p.Step, p.PID))
			continue
		}
		tree[p.UUID] = true
		if p.StartTime.Before(la.Start.Add(-time.Second)) || p.StartTime.After(la.End) {
			problems = append(problems, fmt.Sprintf("attack step %d started at %s, outside the attack window %s..%s",
				p.Step, p.StartTime.Format(time.RFC3339Nano), la.Start.Format(time.RFC3339Nano), la.End.Format(time.RFC3339Nano)))
		}
		found := false
		for i := range evs {
			e := &evs[i]
			if int(e.PID) == p.PID && e.Time >= p.StartTime.Add(-time.Second).UnixNano() && e.Time <= to {
				found = true
				if e.ProcUUID != p.UUID {
					problems = append(problems, fmt.Sprintf("attack step %d: pid %d has uuid %s in the trace, %s in the label", p.Step, p.PID, e.ProcUUID, p.UUID))
				}
				break
			}
		}
		if !found {
			problems = append(problems, fmt.Sprintf("attack step %d: no event of pid %d in the attack window", p.Step, p.PID))
		}
	}
	// Descendants: grow the tree until no event adds a process. Forks name
	// the child in TargetPID but carry the parent's uuid, so follow
	// ParentUUID of the children's own events.
	for changed := true; changed; {
		changed = false
		for i := range evs {
			e := &evs[i]
			if e.ProcUUID != "" && !tree[e.ProcUUID] && tree[e.ParentUUID] && e.Time >= from && e.Time <= to {
				tree[e.ProcUUID] = true
				changed = true
			}
		}
	}
	for _, x := range a.Expect {
		n := 0
		for i := range evs {
			e := &evs[i]
			if e.Time >= from && e.Time <= to && tree[e.ProcUUID] && inContainer(e, la.ContainerID) && x.Matches(e) {
				n++
			}
		}
		if n < max(x.Min, 1) {
			problems = append(problems, fmt.Sprintf("%s: want %d event(s) %s from the attacking processes in the attack window, found %d",
				pos(s, x.Line), max(x.Min, 1), x.String(), n))
		}
	}
	return problems
}

func pos(s *scenario.Scenario, line int) string {
	return fmt.Sprintf("%s:%d", s.File, line)
}

// kindTracepoints are the tracepoints without which a kind cannot be seen at
// all (a kernel built without module support has no module syscalls).
var kindTracepoints = map[trace.Kind][]string{
	trace.KindModuleLoad: {"syscalls/sys_enter_init_module", "syscalls/sys_enter_finit_module"},
}

// Unobservable lists the kinds the scenario's attack expects that this
// kernel cannot show, given the collector's missing tracepoints.
func Unobservable(s *scenario.Scenario, missing []string) []trace.Kind {
	if s.Attack == nil {
		return nil
	}
	var out []trace.Kind
	for _, x := range s.Attack.Expect {
		tps, ok := kindTracepoints[x.Kind]
		if !ok || slices.Contains(out, x.Kind) {
			continue
		}
		all := true
		for _, tp := range tps {
			all = all && slices.Contains(missing, tp)
		}
		if all {
			out = append(out, x.Kind)
		}
	}
	return out
}

// WithoutKinds returns a copy of s whose attack expects nothing of kinds.
func WithoutKinds(s *scenario.Scenario, kinds []trace.Kind) *scenario.Scenario {
	if s.Attack == nil || len(kinds) == 0 {
		return s
	}
	c := *s
	a := *s.Attack
	a.Expect = nil
	for _, x := range s.Attack.Expect {
		if !slices.Contains(kinds, x.Kind) {
			a.Expect = append(a.Expect, x)
		}
	}
	c.Attack = &a
	return &c
}

// RunEvents reads a run's events back from the lake: those of its
// containers between its start and end.
func RunEvents(ctx context.Context, l *lake.Lake, lbl *label.Run) ([]trace.Event, error) {
	ids := make([]string, 0, len(lbl.Containers))
	for _, c := range lbl.Containers {
		ids = append(ids, c.ID)
	}
	var out []trace.Event
	err := l.Scan(ctx, lake.Query{From: lbl.Start.Add(-time.Second), To: lbl.End.Add(2 * time.Second)}, func(e *trace.Event) error {
		if e.ContainerID == "" {
			return nil
		}
		for _, id := range ids {
			if strings.HasPrefix(id, e.ContainerID) {
				out = append(out, *e)
				break
			}
		}
		return nil
	})
	return out, err
}
