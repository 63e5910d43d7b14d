// Package importer brings public host-intrusion datasets into the trace lake
// as syscall events with labels, so Vigil's sequence models can be compared
// with published results: ADFA-LD (i386 syscall numbers, one trace per file)
// and LID-DS 2021 (sysdig recordings of containerised services, with exploit
// times).
//
// Imported events have kind syscall and x86_64 syscall numbers, like the
// collector's syscall-sequence mode. Nothing of the datasets is shipped;
// tests generate small look-alike fixtures.
package importer

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/google/uuid"

	"github.com/vigilsec/vigil/datasets/label"
	"github.com/vigilsec/vigil/internal/blob"
	"github.com/vigilsec/vigil/trace"
)

// Writer receives events; *lake.Writer is one.
type Writer interface {
	Write(*trace.Event) error
}

// Summary counts what an import did. Everything not imported is counted.
type Summary struct {
	Traces int
	Events int64
	// Runs by label kind (benign, attack) and by scenario.
	ByKind     map[string]int
	ByScenario map[string]int
	// Skipped counts events left out, by reason (e.g. a sysdig event that
	// is not a syscall).
	Skipped map[string]int64
	// AlreadyImported counts traces whose label was already in the lake:
	// importing the same dataset twice adds nothing.
	AlreadyImported int
}

func newSummary() *Summary {
	return &Summary{ByKind: map[string]int{}, ByScenario: map[string]int{}, Skipped: map[string]int64{}}
}

func (s *Summary) add(r *label.Run) {
	s.Traces++
	s.ByKind[r.Kind]++
	s.ByScenario[r.Scenario]++
}

// String is a short report for a person.
func (s *Summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d traces, %d events", s.Traces, s.Events)
	kinds := make([]string, 0, len(s.ByKind))
	for k := range s.ByKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		fmt.Fprintf(&b, ", %d %s", s.ByKind[k], k)
	}
	reasons := make([]string, 0, len(s.Skipped))
	for r := range s.Skipped {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		fmt.Fprintf(&b, "; skipped %d events (%s)", s.Skipped[r], r)
	}
	if s.AlreadyImported > 0 {
		fmt.Fprintf(&b, "; %d traces already in the lake, left as they were", s.AlreadyImported)
	}
	return b.String()
}

// FileError is a problem at a place in a dataset file.
type FileError struct {
	File string
	Line int
	Msg  string
}

func (e *FileError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// uuidNamespace keeps imported process uuids apart from the collector's.
var uuidNamespace = uuid.MustParse("6f1d0b7e-5a0c-4e8e-9a43-8c1b7d0e2a51")

func procUUID(parts ...string) string {
	return uuid.NewSHA1(uuidNamespace, []byte(strings.Join(parts, "\x00"))).String()
}

// imported reports whether the trace's label is already in the store. The
// label is written after the trace, so a trace cut short by an error is
// imported again.
func imported(ctx context.Context, store blob.Store, source, runID string) (bool, error) {
	if store == nil {
		return false, nil
	}
	key := (&label.Run{Source: source, RunID: runID}).Key()
	_, err := store.Get(ctx, key)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, blob.ErrNotFound):
		return false, nil
	}
	return false, fmt.Errorf("reading label %s: %w", key, err)
}

func putLabel(ctx context.Context, store blob.Store, r *label.Run) error {
	if store == nil {
		return nil
	}
	return label.Put(ctx, store, r)
}
