// Package eval judges detectors against labels: it replays recorded traces
// through the production scorer (see Replay), matches the findings it
// reports to labelled attack runs, and computes the metrics a detection
// engineer asks for: which runs were caught and by what, how fast, precision
// and recall per finding type, false findings per workload-hour, and ROC/PR
// curves of every anomaly score over feature windows.
//
// The metric functions are pure and work on small plain types, so every
// number in a report can be checked by hand against a tiny input.
package eval

import (
	"cmp"
	"math"
	"slices"
	"sort"
	"strconv"
	"time"
)

// AttackRun is one labelled attack (or injected anomaly): where and when it
// happened and which findings it should raise.
type AttackRun struct {
	RunID    string `json:"run_id"`
	Scenario string `json:"scenario"`
	Kind     string `json:"kind"` // attack or anomaly
	AttackID string `json:"attack_id"`
	Workload string `json:"workload,omitempty"`
	// ContainerID is the attacking container; when empty the run is matched
	// on Workload instead (imported traces without containers).
	ContainerID string    `json:"container_id,omitempty"`
	Start       time.Time `json:"start"`
	End         time.Time `json:"end"`
	Expected    []string  `json:"expected_findings"`
}

// Emission is one report of a finding as an output would receive it: its
// first report, or a later update carrying more occurrences.
type Emission struct {
	FindingID string  `json:"finding_id"`
	Type      string  `json:"type"`
	Source    string  `json:"source"`   // rule or anomaly
	Detector  string  `json:"detector"` // rule id, or the baseline detector
	Severity  float64 `json:"severity"`
	Workload  string  `json:"workload"`
	Container string  `json:"container_id,omitempty"`
	// First and Last bound the occurrences this emission reports: for a
	// first report the finding's whole span, for an update only what was
	// added since the previous report of the same finding.
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
	// At is when the emission happened on the event-time clock: the event
	// (or watermark) whose processing produced it.
	At     time.Time `json:"at"`
	Update bool      `json:"update"`
}

// DetectorName is how metrics name the detector behind an emission: "rules"
// for every signature rule, "baseline:<detector>" for each anomaly detector.
func (e *Emission) DetectorName() string {
	if e.Source == "anomaly" {
		return "baseline:" + e.Detector
	}
	return "rules"
}

// Match returns, for every emission, the index of the attack run it belongs
// to, or -1 when it belongs to none (a false finding). An emission belongs to
// a run when it is about the run's attacking container (or workload, for
// runs without one) and its occurrences overlap the attack interval extended
// by grace at the end (activity the attack left running, windows closing).
// When several runs qualify the earliest-starting one wins.
func Match(runs []AttackRun, ems []Emission, grace time.Duration) []int {
	out := make([]int, len(ems))
	for i := range ems {
		out[i] = -1
		e := &ems[i]
		for j := range runs {
			r := &runs[j]
			if r.ContainerID != "" {
				if e.Container != r.ContainerID {
					continue
				}
			} else if r.Workload == "" || e.Workload != r.Workload {
				continue
			}
			if e.Last.Before(r.Start) || e.First.After(r.End.Add(grace)) {
				continue
			}
			if out[i] < 0 || r.Start.Before(runs[out[i]].Start) {
				out[i] = j
			}
		}
	}
	return out
}

// RunResult says whether one attack run was detected, by what and how fast.
type RunResult struct {
	AttackRun
	Detected bool `json:"detected"`
	// Detectors that reported something about the run ("rules",
	// "baseline:<detector>"), sorted; Rules the rule ids.
	Detectors []string `json:"detectors"`
	Rules     []string `json:"rules,omitempty"`
	Types     []string `json:"finding_types"`
	// Missing lists expected finding types no emission had.
	Missing []string `json:"missing_types,omitempty"`
	// FirstAt is the first emission's time; Latency its distance from the
	// attack start (0 when detected before the labelled start, which a
	// setup step can cause).
	FirstAt  time.Time     `json:"first_at,omitzero"`
	Latency  time.Duration `json:"latency_ns"`
	Findings int           `json:"emissions"`
	// FirstBy is the latency of each detector's first emission.
	FirstBy map[string]time.Duration `json:"latency_by_detector_ns,omitempty"`
}

// Runs summarises every run from the matched emissions.
func Runs(runs []AttackRun, ems []Emission, match []int) []RunResult {
	out := make([]RunResult, len(runs))
	for j := range runs {
		out[j] = RunResult{AttackRun: runs[j], Detectors: []string{}, Types: []string{}}
	}
	for i, j := range match {
		if j < 0 {
			continue
		}
		e, r := &ems[i], &out[j]
		r.Detected = true
		r.Findings++
		lat := max(0, e.At.Sub(r.Start))
		if r.FirstAt.IsZero() || e.At.Before(r.FirstAt) {
			r.FirstAt, r.Latency = e.At, lat
		}
		d := e.DetectorName()
		if r.FirstBy == nil {
			r.FirstBy = map[string]time.Duration{}
		}
		if old, ok := r.FirstBy[d]; !ok || lat < old {
			r.FirstBy[d] = lat
		}
		r.Detectors = addSorted(r.Detectors, d)
		r.Types = addSorted(r.Types, e.Type)
		if e.Source != "anomaly" {
			r.Rules = addSorted(r.Rules, e.Detector)
		}
	}
	for j := range out {
		for _, t := range out[j].Expected {
			if !slices.Contains(out[j].Types, t) {
				out[j].Missing = append(out[j].Missing, t)
			}
		}
	}
	return out
}

func addSorted(s []string, v string) []string {
	i, found := slices.BinarySearch(s, v)
	if found {
		return s
	}
	return slices.Insert(s, i, v)
}

// TypeMetrics is precision and recall for one finding type.
type TypeMetrics struct {
	Type string `json:"type"`
	// Emitted counts first reports of findings of this type (updates repeat
	// a finding and are not counted again); TruePositives those about an
	// attack run.
	Emitted       int `json:"emitted"`
	TruePositives int `json:"true_positives"`
	// Precision is TruePositives/Emitted (NaN when nothing was emitted).
	Precision Float `json:"precision"`
	// ExpectedRuns counts runs that list this type; Found those that got it.
	ExpectedRuns int   `json:"expected_runs"`
	FoundRuns    int   `json:"found_runs"`
	Recall       Float `json:"recall"` // FoundRuns/ExpectedRuns (NaN when none expected)
}

// ByType computes precision (over first reports) and recall (over runs that
// expect the type) per finding type, sorted by type.
func ByType(runs []AttackRun, ems []Emission, match []int) []TypeMetrics {
	m := map[string]*TypeMetrics{}
	get := func(t string) *TypeMetrics {
		if m[t] == nil {
			m[t] = &TypeMetrics{Type: t}
		}
		return m[t]
	}
	found := map[int]map[string]bool{}
	for i := range ems {
		e := &ems[i]
		if j := match[i]; j >= 0 {
			if found[j] == nil {
				found[j] = map[string]bool{}
			}
			found[j][e.Type] = true
		}
		if e.Update {
			continue
		}
		t := get(e.Type)
		t.Emitted++
		if match[i] >= 0 {
			t.TruePositives++
		}
	}
	for j := range runs {
		for _, typ := range uniq(runs[j].Expected) {
			t := get(typ)
			t.ExpectedRuns++
			if found[j][typ] {
				t.FoundRuns++
			}
		}
	}
	out := make([]TypeMetrics, 0, len(m))
	for _, t := range m {
		t.Precision = ratio(t.TruePositives, t.Emitted)
		t.Recall = ratio(t.FoundRuns, t.ExpectedRuns)
		out = append(out, *t)
	}
	slices.SortFunc(out, func(a, b TypeMetrics) int { return cmp.Compare(a.Type, b.Type) })
	return out
}

func uniq(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

func ratio(a, b int) Float {
	if b == 0 {
		return Float(math.NaN())
	}
	return Float(float64(a) / float64(b))
}

// WorkloadFalse is the false-finding rate of one workload.
type WorkloadFalse struct {
	Workload string `json:"workload"`
	// Hours of benign observation (windows that overlap no attack).
	Hours float64 `json:"benign_hours"`
	// False counts first reports matching no attack run.
	False   int   `json:"false_findings"`
	PerHour Float `json:"false_per_hour"` // NaN without benign hours
	// ByType breaks False down.
	ByType map[string]int `json:"by_type,omitempty"`
}

// FalseRates counts false findings (first reports matched to no run) per
// workload and divides by each workload's benign hours. Workloads with
// benign hours and no false findings are listed with zero.
func FalseRates(ems []Emission, match []int, hours map[string]float64) []WorkloadFalse {
	m := map[string]*WorkloadFalse{}
	get := func(w string) *WorkloadFalse {
		if m[w] == nil {
			m[w] = &WorkloadFalse{Workload: w}
		}
		return m[w]
	}
	for w, h := range hours {
		get(w).Hours = h
	}
	for i := range ems {
		if ems[i].Update || match[i] >= 0 {
			continue
		}
		f := get(ems[i].Workload)
		f.False++
		if f.ByType == nil {
			f.ByType = map[string]int{}
		}
		f.ByType[ems[i].Type]++
	}
	out := make([]WorkloadFalse, 0, len(m))
	for _, f := range m {
		f.PerHour = Float(math.NaN())
		if f.Hours > 0 {
			f.PerHour = Float(float64(f.False) / f.Hours)
		}
		out = append(out, *f)
	}
	slices.SortFunc(out, func(a, b WorkloadFalse) int { return cmp.Compare(a.Workload, b.Workload) })
	return out
}

// ModeMetrics summarises one detector configuration (rules only, baselines
// only, both) over every run.
type ModeMetrics struct {
	Mode     string `json:"mode"`
	Runs     int    `json:"runs"`
	Detected int    `json:"detected"`
	Recall   Float  `json:"recall"`
	// False first reports over all benign hours.
	False        int     `json:"false_findings"`
	BenignHours  float64 `json:"benign_hours"`
	FalsePerHour Float   `json:"false_per_workload_hour"`
	// Precision of first reports (true / all).
	Precision Float `json:"precision"`
	// MedianLatency and MaxLatency over detected runs.
	MedianLatency time.Duration `json:"median_latency_ns"`
	MaxLatency    time.Duration `json:"max_latency_ns"`
}

// Modes compares rules only, baselines only and both, each computed from
// the emissions of that source alone.
func Modes(runs []AttackRun, ems []Emission, grace time.Duration, hours map[string]float64) []ModeMetrics {
	var total float64
	for _, h := range hours {
		total += h
	}
	var out []ModeMetrics
	for _, mode := range []struct {
		name string
		keep func(*Emission) bool
	}{
		{"rules only", func(e *Emission) bool { return e.Source != "anomaly" }},
		{"baselines only", func(e *Emission) bool { return e.Source == "anomaly" }},
		{"both", func(*Emission) bool { return true }},
	} {
		var sub []Emission
		for i := range ems {
			if mode.keep(&ems[i]) {
				sub = append(sub, ems[i])
			}
		}
		match := Match(runs, sub, grace)
		rr := Runs(runs, sub, match)
		mm := ModeMetrics{Mode: mode.name, Runs: len(runs), BenignHours: total}
		var lats []time.Duration
		for _, r := range rr {
			if r.Detected {
				mm.Detected++
				lats = append(lats, r.Latency)
			}
		}
		var firsts, tp int
		for i := range sub {
			if sub[i].Update {
				continue
			}
			firsts++
			if match[i] >= 0 {
				tp++
			} else {
				mm.False++
			}
		}
		mm.Recall = ratio(mm.Detected, len(runs))
		mm.Precision = ratio(tp, firsts)
		mm.FalsePerHour = Float(math.NaN())
		if total > 0 {
			mm.FalsePerHour = Float(float64(mm.False) / total)
		}
		if len(lats) > 0 {
			slices.Sort(lats)
			mm.MedianLatency = medianDuration(lats)
			mm.MaxLatency = lats[len(lats)-1]
		}
		out = append(out, mm)
	}
	return out
}

func medianDuration(s []time.Duration) time.Duration {
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Point is one ROC operating point: alarm when score >= Threshold.
type Point struct {
	Threshold Float `json:"threshold"`
	FPR       Float `json:"fpr"`
	TPR       Float `json:"tpr"`
}

// PRPoint is one precision-recall operating point.
type PRPoint struct {
	Threshold Float `json:"threshold"`
	Recall    Float `json:"recall"`
	Precision Float `json:"precision"`
}

// Curve is one score's ROC and PR curves over labelled samples.
type Curve struct {
	Name      string `json:"name"`
	Positives int    `json:"positives"`
	Negatives int    `json:"negatives"`
	ROCAUC    Float  `json:"roc_auc"`
	// AP is average precision, the step-wise area under the PR curve
	// (sum over thresholds of (R_k - R_{k-1}) P_k), which unlike trapezoids
	// does not reward interpolating between operating points.
	AP  Float     `json:"pr_auc_average_precision"`
	ROC []Point   `json:"roc"`
	PR  []PRPoint `json:"pr"`
	// Threshold is the calibrated alarm threshold when one applies (the
	// model's, per workload it may differ; then the median), with the
	// operating point it gives.
	Threshold    Float `json:"threshold"`
	ThresholdTPR Float `json:"threshold_tpr"`
	ThresholdFPR Float `json:"threshold_fpr"`
}

// Curves computes ROC (with AUC by trapezoids over the exact step curve,
// ties handled as one threshold) and PR (with average precision) for
// scores where higher means more suspicious. pos[i] labels scores[i]. NaN
// scores are treated as the lowest possible score.
func Curves(name string, scores []float64, pos []bool) Curve {
	type sp struct {
		s float64
		p bool
	}
	all := make([]sp, len(scores))
	c := Curve{Name: name, ROCAUC: Float(math.NaN()), AP: Float(math.NaN())}
	for i, s := range scores {
		if math.IsNaN(s) {
			s = math.Inf(-1)
		}
		all[i] = sp{s, pos[i]}
		if pos[i] {
			c.Positives++
		} else {
			c.Negatives++
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].s > all[j].s })
	P, N := float64(c.Positives), float64(c.Negatives)
	c.ROC = append(c.ROC, Point{Threshold: Float(math.Inf(1))})
	var tp, fp float64
	auc, ap, prevR := 0.0, 0.0, 0.0
	prev := Point{}
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].s == all[i].s {
			if all[j].p {
				tp++
			} else {
				fp++
			}
			j++
		}
		pt := Point{Threshold: Float(all[i].s)}
		if N > 0 {
			pt.FPR = Float(fp / N)
		}
		if P > 0 {
			pt.TPR = Float(tp / P)
		}
		auc += float64(pt.FPR-prev.FPR) * float64(pt.TPR+prev.TPR) / 2
		prev = pt
		c.ROC = append(c.ROC, pt)
		if P > 0 {
			prec := tp / (tp + fp)
			c.PR = append(c.PR, PRPoint{Threshold: Float(all[i].s), Recall: pt.TPR, Precision: Float(prec)})
			ap += (float64(pt.TPR) - prevR) * prec
			prevR = float64(pt.TPR)
		}
		i = j
	}
	if P > 0 && N > 0 {
		c.ROCAUC = Float(auc)
	}
	if P > 0 {
		c.AP = Float(ap)
	}
	return c
}

// OperatingPoint returns the TPR and FPR of alarming at score >= t.
func OperatingPoint(scores []float64, pos []bool, t float64) (tpr, fpr Float) {
	var tp, fp, p, n float64
	for i, s := range scores {
		if pos[i] {
			p++
			if s >= t {
				tp++
			}
		} else {
			n++
			if s >= t {
				fp++
			}
		}
	}
	if p > 0 {
		tpr = Float(tp / p)
	}
	if n > 0 {
		fpr = Float(fp / n)
	}
	return
}

// Thin keeps at most n points of a curve (the first, the last and evenly
// spaced ones between), so reports stay small on long replays; AUCs are
// always computed on the full curve.
func Thin[T any](pts []T, n int) []T {
	if len(pts) <= n || n < 2 {
		return pts
	}
	out := make([]T, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, pts[i*(len(pts)-1)/(n-1)])
	}
	return out
}

// Float is a metric value; NaN (undefined, e.g. precision of nothing) and
// infinities encode as JSON null, which encoding/json cannot do for float64.
type Float float64

func (f Float) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

func (f *Float) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = Float(math.NaN())
		return nil
	}
	v, err := strconv.ParseFloat(string(b), 64)
	*f = Float(v)
	return err
}
