package eval

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/vigilsec/vigil/features"
	"github.com/vigilsec/vigil/internal/escape"
	"github.com/vigilsec/vigil/models"
	"github.com/vigilsec/vigil/scorer"
	"github.com/vigilsec/vigil/scorer/finding"
	"github.com/vigilsec/vigil/scorer/output"
)

// ReportFormat versions report.json.
const ReportFormat = 1

// Report is report.json: one variant per model bundle replayed (two with
// --compare), each over the same traces and labels.
type Report struct {
	Format    int       `json:"format"`
	Generated time.Time `json:"generated"`
	Lake      string    `json:"lake"`
	// Labels is how many labelled runs were loaded; 0 without labels.
	Labels int `json:"labels"`
	// Synthetic is set when any label comes from generated traces.
	Synthetic bool       `json:"synthetic"`
	Variants  []*Variant `json:"variants"`
}

// Variant is one replay and its evaluation.
type Variant struct {
	Name       string        `json:"name"`
	Models     string        `json:"models,omitempty"`
	Rules      int           `json:"rules_enabled"`
	Discipline Discipline    `json:"train_test"`
	Replay     ReplaySummary `json:"replay"`
	Evaluation *Evaluation   `json:"evaluation,omitempty"`
	// Files written for this variant, relative to the report directory.
	Files map[string]string `json:"files"`

	res    *Result
	window time.Duration
	// sim are the simulated remote hosts' containers (SimulatedContainers).
	sim map[string]bool
}

// ReplaySummary is what the replay did.
type ReplaySummary struct {
	Events          int64           `json:"events"`
	From            time.Time       `json:"from"`
	To              time.Time       `json:"to"`
	Seconds         float64         `json:"seconds"`
	EventsPerSecond float64         `json:"events_per_second"`
	NewFindings     int             `json:"new_findings"`
	Updates         int             `json:"updates"`
	ByType          map[string]int  `json:"new_findings_by_type"`
	Windows         int             `json:"windows"`
	Engine          scorer.Stats    `json:"engine"`
	Coverage        scorer.Coverage `json:"coverage"`
}

// NewVariant summarises a replay, evaluating it when runs are given
// (labelled is false without labels); sim are the containers the labels name
// as simulated remote hosts (SimulatedContainers), which the evaluation
// leaves out.
func NewVariant(name, modelsURL string, b *models.Bundle, rulesEnabled int, res *Result, runs []AttackRun, sim map[string]bool, labelled bool, grace time.Duration) *Variant {
	window := features.DefaultWindow
	if b != nil && b.Index.Features.Window > 0 {
		window = b.Index.Features.Window
	}
	v := &Variant{Name: name, Models: modelsURL, Rules: rulesEnabled, Discipline: CheckDiscipline(b, res.First, res.Last),
		res: res, window: window, sim: sim, Files: map[string]string{}}
	s := &v.Replay
	s.Events, s.Seconds = res.Events, res.Elapsed.Seconds()
	if res.Events > 0 {
		s.From, s.To = time.Unix(0, res.First).UTC(), time.Unix(0, res.Last).UTC()
	}
	if s.Seconds > 0 {
		s.EventsPerSecond = float64(res.Events) / s.Seconds
	}
	s.ByType = map[string]int{}
	for i := range res.Emissions {
		if res.Emissions[i].Update {
			s.Updates++
		} else {
			s.NewFindings++
			s.ByType[res.Emissions[i].Type]++
		}
	}
	s.Windows, s.Engine, s.Coverage = len(res.Windows), res.Stats, res.Coverage
	if labelled {
		v.Evaluation = Evaluate(res, runs, sim, grace, window)
	}
	return v
}

// Write writes the report into dir: report.json, index.html with its plots,
// and per variant the findings in every agent format and the scored windows.
func (r *Report) Write(ctx context.Context, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, v := range r.Variants {
		prefix := ""
		if len(r.Variants) > 1 {
			prefix = safeName(v.Name) + "-"
		}
		if err := v.writeFiles(ctx, dir, prefix); err != nil {
			return err
		}
	}
	plots, err := r.writePlots(dir)
	if err != nil {
		return fmt.Errorf("plots: %w", err)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding report: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "report.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	return r.writeHTML(filepath.Join(dir, "index.html"), plots)
}

func safeName(s string) string {
	out := []byte(s)
	for i, c := range out {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			out[i] = '_'
		}
	}
	return string(out)
}

func (v *Variant) writeFiles(ctx context.Context, dir, prefix string) error {
	for _, f := range []struct {
		key  string
		name string
		fmt  output.Format
	}{
		{"findings", "findings.jsonl", output.FormatFinding},
		{"findings_asff", "findings.asff.jsonl", output.FormatASFF},
		{"findings_ocsf", "findings.ocsf.jsonl", output.FormatOCSF},
	} {
		name := prefix + f.name
		file, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		enc := output.Encoder{Format: f.fmt, ASFF: finding.ASFFConfig{}}
		if len(v.res.Records) > 0 {
			fd := v.res.Records[0].Finding
			enc.ASFF = finding.ASFFConfig{AccountID: fd.AccountID, Region: fd.Region}
		}
		s := output.NewStream(name, file, enc)
		err = s.Write(ctx, v.res.Records)
		if cerr := file.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("writing %s: %w", name, err)
		}
		v.Files[f.key] = name
	}
	if len(v.res.Windows) > 0 {
		name := prefix + "windows.csv"
		if err := v.writeWindows(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("writing %s: %w", name, err)
		}
		v.Files["windows"] = name
	}
	return nil
}

// writeWindows writes one row per window: key, label (attack, or simulated:
// a window of the simulated remote hosts, which the evaluation leaves out),
// every detector's score and threshold, and the numeric features when kept.
// Workload and instance names are escaped: they come from the traced system.
func (v *Variant) writeWindows(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 256<<10)
	w := csv.NewWriter(bw)
	var pos []bool
	if v.Evaluation != nil {
		pos = WindowLabels(v.res.Windows, v.evalRuns())
	}
	head := []string{"workload", "instance", "start", "end", "events", "modelled", "attack", "simulated"}
	for _, d := range v.res.Detectors {
		head = append(head, "score:"+string(d), "threshold:"+string(d))
	}
	withNumeric := len(v.res.Windows) > 0 && v.res.Windows[0].Numeric != nil
	if withNumeric {
		for _, n := range features.NumericNames() {
			head = append(head, "feature:"+n)
		}
	}
	w.Write(head)
	row := make([]string, 0, len(head))
	num := func(x float64) string {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return ""
		}
		return strconv.FormatFloat(x, 'g', 6, 64)
	}
	for i := range v.res.Windows {
		ws := &v.res.Windows[i]
		row = append(row[:0], escape.String(ws.Workload), escape.String(ws.Instance),
			time.Unix(0, ws.Start).UTC().Format(time.RFC3339), time.Unix(0, ws.End).UTC().Format(time.RFC3339),
			strconv.FormatInt(ws.Events, 10), strconv.FormatBool(ws.Modelled), strconv.FormatBool(pos != nil && pos[i]),
			strconv.FormatBool(v.sim[simKey(ws.Instance)]))
		for d := range v.res.Detectors {
			row = append(row, num(ws.Scores[d]), num(ws.Thresholds[d]))
		}
		if withNumeric {
			for _, x := range ws.Numeric {
				row = append(row, num(x))
			}
		}
		w.Write(row)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	return bw.Flush()
}

// evalRuns are the runs the evaluation judged.
func (v *Variant) evalRuns() []AttackRun {
	if v.Evaluation == nil {
		return nil
	}
	out := make([]AttackRun, len(v.Evaluation.Runs))
	for i := range v.Evaluation.Runs {
		out[i] = v.Evaluation.Runs[i].AttackRun
	}
	return out
}

// sortedKeys returns m's keys sorted.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
