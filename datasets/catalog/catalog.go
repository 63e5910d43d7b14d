// Package catalog summarises what labelled data a lake holds: runs, events
// and labels per scenario, next to the lake's own file and row counts.
package catalog

import (
	"context"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/vigilsec/vigil/datasets/label"
	"github.com/vigilsec/vigil/internal/escape"
	"github.com/vigilsec/vigil/trace/lake"
)

// Scenario is one scenario's line of the report.
type Scenario struct {
	Source   string
	Name     string
	Runs     int
	ByKind   map[string]int
	Attacks  map[string]int // attack id -> runs
	Findings map[string]int // expected finding type -> runs
	Events   int64          // events the labels account for
	First    time.Time
	Last     time.Time
	Notes    int // runs with notes (losses, failed jobs)
}

// Report is the whole lake.
type Report struct {
	Files     int
	Rows      int64
	Bytes     int64
	From, To  time.Time
	BadFiles  int
	Labels    int
	Scenarios []*Scenario
}

// Summarize reads every label and every trace file footer of the lake.
func Summarize(ctx context.Context, l *lake.Lake) (*Report, error) {
	rep := &Report{}
	bad := 0
	files, err := l.Files(ctx, lake.Query{OnFileError: func(string, error) { bad++ }})
	if err != nil {
		return nil, fmt.Errorf("listing trace files: %w", err)
	}
	for _, f := range files {
		fi, err := l.Stat(ctx, f.Key)
		if err != nil {
			bad++
			continue
		}
		rep.Files++
		rep.Rows += fi.Rows
		rep.Bytes += fi.Size
		from, to := time.Unix(0, fi.TimeMin).UTC(), time.Unix(0, fi.TimeMax).UTC()
		if rep.From.IsZero() || from.Before(rep.From) {
			rep.From = from
		}
		if to.After(rep.To) {
			rep.To = to
		}
	}
	rep.BadFiles = bad
	runs, err := label.List(ctx, l.Store())
	if err != nil {
		return nil, err
	}
	rep.Labels = len(runs)
	by := map[string]*Scenario{}
	for _, r := range runs {
		key := r.Source + "\x00" + r.Scenario
		s := by[key]
		if s == nil {
			s = &Scenario{Source: r.Source, Name: r.Scenario, ByKind: map[string]int{}, Attacks: map[string]int{}, Findings: map[string]int{}}
			by[key] = s
		}
		s.Runs++
		s.ByKind[r.Kind]++
		s.Events += r.Events
		if len(r.Notes) > 0 {
			s.Notes++
		}
		if s.First.IsZero() || r.Start.Before(s.First) {
			s.First = r.Start
		}
		if r.End.After(s.Last) {
			s.Last = r.End
		}
		if r.Attack != nil {
			s.Attacks[r.Attack.ID]++
			for _, f := range r.Attack.Findings {
				s.Findings[f]++
			}
		}
	}
	for _, s := range by {
		rep.Scenarios = append(rep.Scenarios, s)
	}
	sort.Slice(rep.Scenarios, func(i, j int) bool {
		a, b := rep.Scenarios[i], rep.Scenarios[j]
		if a.Source != b.Source {
			return a.Source < b.Source
		}
		return a.Name < b.Name
	})
	return rep, nil
}

// Print writes the report as a table. Scenario names come from labels,
// which may come from imported data: they are escaped.
func (rep *Report) Print(w io.Writer) error {
	fmt.Fprintf(w, "traces: %d files, %d events, %.1f MiB", rep.Files, rep.Rows, float64(rep.Bytes)/(1<<20))
	if rep.Files > 0 {
		fmt.Fprintf(w, ", %s .. %s", rep.From.Format(time.RFC3339), rep.To.Format(time.RFC3339))
	}
	if rep.BadFiles > 0 {
		fmt.Fprintf(w, ", %d unreadable files", rep.BadFiles)
	}
	fmt.Fprintf(w, "\nlabels: %d runs in %d scenarios\n\n", rep.Labels, len(rep.Scenarios))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tSCENARIO\tRUNS\tBENIGN\tATTACK\tANOMALY\tLABELLED EVENTS\tRUNS WITH NOTES")
	for _, s := range rep.Scenarios {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\n", escape.String(s.Source), escape.String(s.Name), s.Runs,
			s.ByKind["benign"], s.ByKind["attack"], s.ByKind["anomaly"], s.Events, s.Notes)
	}
	return tw.Flush()
}
