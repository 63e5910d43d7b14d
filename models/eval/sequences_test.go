package eval_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/datasets/label"
	"github.com/vigilsec/vigil/models/eval"
	"github.com/vigilsec/vigil/trace"
	"github.com/vigilsec/vigil/trace/lake"
)

// TestLakeSequences builds a lake of three labelled runs around a split and
// checks every process's trace lands in the right ADFA-LD split, with what
// fits none counted.
func TestLakeSequences(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	split := t0.Add(time.Hour)
	cid := func(c byte) string { return strings.Repeat(string(c), 64) }
	runs := []*label.Run{
		{Source: label.SourceScenario, Scenario: "web", Kind: "benign", RunID: "train", Start: t0, End: t0.Add(30 * time.Minute),
			Containers: []label.Container{{Name: "web", ID: cid('a')}}},
		{Source: label.SourceScenario, Scenario: "web", Kind: "benign", RunID: "test", Start: split, End: split.Add(10 * time.Minute),
			Containers: []label.Container{{Name: "web", ID: cid('b')}, {Name: "sim-remote", ID: cid('f'), Role: label.RoleInfra}}},
		{Source: label.SourceScenario, Scenario: "shell", Kind: "attack", RunID: "attack", Start: split.Add(10 * time.Minute), End: split.Add(20 * time.Minute),
			Containers: []label.Container{{Name: "web", ID: cid('c')}},
			Attack: &label.Attack{ID: "shell", Start: split.Add(12 * time.Minute), End: split.Add(13 * time.Minute),
				Processes: []label.Process{{Role: "setup", UUID: "setup-1"}, {Role: "attack", UUID: "shell-1"}}}},
		{Source: label.SourceScenario, Scenario: "web", Kind: "benign", RunID: "across", Start: split.Add(-time.Minute), End: split.Add(time.Minute),
			Containers: []label.Container{{Name: "web", ID: cid('d')}}},
	}
	l, err := lake.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, r := range runs {
		if err := label.Put(ctx, l.Store(), r); err != nil {
			t.Fatal(err)
		}
	}
	w, err := l.NewWriter(lake.WriterConfig{Host: "h"})
	if err != nil {
		t.Fatal(err)
	}
	at := t0
	emit := func(container, uuid, parent string, calls ...int32) {
		for _, nr := range calls {
			at = at.Add(time.Millisecond)
			e := trace.Event{Time: at.UnixNano(), Host: "h", Kind: trace.KindSyscall, ContainerID: container,
				ProcUUID: uuid, ParentUUID: parent, Syscall: nr}
			if err := w.Write(&e); err != nil {
				t.Fatal(err)
			}
		}
	}
	emit(cid('a'), "train-1", "", 0, 1, 2)
	emit(cid('a'), "train-2", "train-1", 3, 4)
	emit(cid('a'), "", "", 5) // no uuid
	emit("", "host-1", "", 6) // not in a container
	emit(cid('e'), "other", "", 7)
	at = split
	emit(cid('b'), "test-1", "", 0, 1, 2)
	emit(cid('f'), "listener-1", "", 43, 44) // the remote hosts: neither normal nor attack
	emit(cid('c'), "workload-1", "", 0, 1)
	emit(cid('c'), "setup-1", "", 8)
	emit(cid('c'), "shell-1", "", 59, 33)
	// A child whose parent comes later in the trace is the attack too.
	emit(cid('c'), "nc-1", "sh-child", 41, 42)
	emit(cid('c'), "sh-child", "shell-1", 57)
	emit(cid('d'), "across-1", "", 9)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := eval.LakeSequences(ctx, l, split)
	if err != nil {
		t.Fatal(err)
	}
	same := func(name string, got, want [][]int32) {
		t.Helper()
		if !slices.EqualFunc(got, want, slices.Equal[[]int32]) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	same("Training", s.Training, [][]int32{{0, 1, 2}, {3, 4}})
	same("Validation", s.Validation, [][]int32{{0, 1, 2}, {0, 1}, {8}})
	same("Attack", s.Attack, [][]int32{{59, 33}, {41, 42}, {57}})
	want := map[string]int{
		"syscalls of processes without uuid": 1,
		"syscalls outside any container":     1,
		"syscalls outside labelled runs":     1,
		"processes of runs across the split": 1,
		"syscalls of simulated remote hosts": 2,
	}
	for k, v := range want {
		if s.Skipped[k] != v {
			t.Errorf("Skipped[%q] = %d, want %d (all: %v)", k, s.Skipped[k], v, s.Skipped)
		}
	}
	if len(s.Skipped) != len(want) {
		t.Errorf("Skipped = %v", s.Skipped)
	}

	// Without attack traces after the split the protocol cannot run.
	if _, err := eval.LakeSequences(ctx, l, t0.Add(-time.Hour)); err == nil || !strings.Contains(err.Error(), "--sequence") {
		t.Errorf("no training data: err = %v", err)
	}
}
