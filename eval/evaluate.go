package eval

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/vigilsec/vigil/datasets/label"
	"github.com/vigilsec/vigil/models"
)

// DefaultGrace extends attack intervals when matching findings: what an
// attack started may still run briefly after its labelled end.
const DefaultGrace = 30 * time.Second

// AttackRuns turns labels into attack runs: every labelled run with an attack
// (attack and anomaly runs, and imported traces holding one).
func AttackRuns(labels []*label.Run) []AttackRun {
	var out []AttackRun
	for _, l := range labels {
		if l.Attack == nil {
			continue
		}
		a := l.Attack
		r := AttackRun{RunID: l.RunID, Scenario: l.Scenario, Kind: l.Kind, AttackID: a.ID, Workload: l.Workload,
			ContainerID: a.ContainerID, Start: a.Start.UTC(), End: a.End.UTC(), Expected: slices.Clone(a.Findings)}
		if r.Start.IsZero() {
			r.Start, r.End = l.Start.UTC(), l.End.UTC()
		}
		if r.Expected == nil {
			r.Expected = []string{}
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b AttackRun) int { return a.Start.Compare(b.Start) })
	return out
}

// SimulatedContainers are the ids of the labelled runs' simulation
// infrastructure containers (label.RoleInfra): the container that stands in
// for the hosts outside a scenario's task (its DNS, the attacker's listener,
// a mining pool). What happens there is neither benign workload nor attack.
func SimulatedContainers(labels []*label.Run) map[string]bool {
	out := map[string]bool{}
	for _, l := range labels {
		for _, id := range l.InfraIDs() {
			out[simKey(id)] = true
		}
	}
	return out
}

// simKey shortens a container id to the prefix the simulated set is keyed
// by, so a short id on either side (events, labels) still matches.
func simKey(id string) string { return id[:min(len(id), 12)] }

// Simulated counts what an evaluation left out because it happened on the
// simulated remote hosts: their windows are in no curve and no benign hour,
// their findings neither detect an attack nor count as false.
type Simulated struct {
	// Containers is how many containers the labels name as simulation
	// infrastructure.
	Containers int `json:"containers"`
	Windows    int `json:"windows"`
	// Findings counts first reports, Updates the later reports.
	Findings   int            `json:"findings"`
	Updates    int            `json:"updates"`
	ByDetector map[string]int `json:"findings_by_detector,omitempty"`
	ByType     map[string]int `json:"findings_by_type,omitempty"`
}

// withoutSimulated returns res without the windows and findings of the
// simulated containers, and what it took out.
func withoutSimulated(res *Result, sim map[string]bool) (*Result, Simulated) {
	st := Simulated{Containers: len(sim)}
	if len(sim) == 0 {
		return res, st
	}
	out := *res
	out.Windows = make([]WindowScore, 0, len(res.Windows))
	for _, w := range res.Windows {
		if sim[simKey(w.Instance)] {
			st.Windows++
			continue
		}
		out.Windows = append(out.Windows, w)
	}
	out.Emissions = make([]Emission, 0, len(res.Emissions))
	for _, e := range res.Emissions {
		if e.Container == "" || !sim[simKey(e.Container)] {
			out.Emissions = append(out.Emissions, e)
			continue
		}
		if e.Update {
			st.Updates++
			continue
		}
		if st.ByType == nil {
			st.ByDetector, st.ByType = map[string]int{}, map[string]int{}
		}
		st.Findings++
		st.ByDetector[e.DetectorName()]++
		st.ByType[e.Type]++
	}
	return &out, st
}

// Evaluation is every label-aware metric of one replay.
type Evaluation struct {
	Grace time.Duration `json:"grace_ns"`
	// Runs excluded because their attack lies outside the replayed time.
	OutOfRange []string        `json:"runs_out_of_range,omitempty"`
	Runs       []RunResult     `json:"runs"`
	Detected   int             `json:"detected"`
	ByType     []TypeMetrics   `json:"by_type"`
	False      []WorkloadFalse `json:"false_findings_by_workload"`
	Modes      []ModeMetrics   `json:"modes"`
	// Curves are window-level ROC/PR per anomaly detector, plus "any", the
	// largest score-to-threshold ratio of a window.
	Curves []Curve `json:"curves"`
	// Windows counts the windows the curves are over.
	Windows         int `json:"windows"`
	PositiveWindows int `json:"positive_windows"`
	// Unmodelled counts windows of workloads without a baseline (not in the
	// curves).
	Unmodelled int `json:"unmodelled_windows"`
	// Simulated is what the simulated remote hosts did: left out of every
	// metric above, and counted here.
	Simulated Simulated `json:"simulated_remote_hosts"`
}

// Evaluate computes every metric of res against runs. Window labels: a
// window is positive when it is a window of the attacking container (or
// workload) that overlaps the attack interval. Windows and findings of the
// sim containers (SimulatedContainers) are neither: they are left out and
// counted in Evaluation.Simulated.
func Evaluate(res *Result, runs []AttackRun, sim map[string]bool, grace time.Duration, window time.Duration) *Evaluation {
	ev := &Evaluation{Grace: grace}
	res, ev.Simulated = withoutSimulated(res, sim)
	// Only runs inside the replayed range can be judged.
	var in []AttackRun
	for _, r := range runs {
		if res.Events == 0 || r.End.UnixNano() < res.First || r.Start.UnixNano() > res.Last {
			ev.OutOfRange = append(ev.OutOfRange, r.RunID)
			continue
		}
		in = append(in, r)
	}
	// Fill the attacking container's workload from the windows it has.
	ctrWorkload := map[string]string{}
	for i := range res.Windows {
		ctrWorkload[res.Windows[i].Instance] = res.Windows[i].Workload
	}
	for i := range res.Emissions {
		if e := &res.Emissions[i]; e.Container != "" {
			ctrWorkload[e.Container] = e.Workload
		}
	}
	for i := range in {
		if in[i].Workload == "" {
			in[i].Workload = ctrWorkload[in[i].ContainerID]
		}
	}
	pos := WindowLabels(res.Windows, in)
	hours := BenignHours(res.Windows, pos, window)
	match := Match(in, res.Emissions, grace)
	ev.Runs = Runs(in, res.Emissions, match)
	for _, r := range ev.Runs {
		if r.Detected {
			ev.Detected++
		}
	}
	ev.ByType = ByType(in, res.Emissions, match)
	ev.False = FalseRates(res.Emissions, match, hours)
	ev.Modes = Modes(in, res.Emissions, grace, hours)
	ev.Curves, ev.Windows, ev.PositiveWindows, ev.Unmodelled = DetectorCurves(res.Windows, res.Detectors, pos)
	return ev
}

// WindowLabels marks the windows that overlap an attack of their instance.
func WindowLabels(ws []WindowScore, runs []AttackRun) []bool {
	byCtr := map[string][]int{}
	byWl := map[string][]int{}
	for j, r := range runs {
		if r.ContainerID != "" {
			byCtr[r.ContainerID] = append(byCtr[r.ContainerID], j)
		} else if r.Workload != "" {
			byWl[r.Workload] = append(byWl[r.Workload], j)
		}
	}
	pos := make([]bool, len(ws))
	for i := range ws {
		w := &ws[i]
		for _, j := range append(byCtr[w.Instance], byWl[w.Workload]...) {
			// Attack intervals are half-open like windows; an instant
			// attack (End at Start) marks the window holding it.
			s, e := runs[j].Start.UnixNano(), runs[j].End.UnixNano()
			if e <= s {
				e = s + 1
			}
			if w.Start < e && w.End > s {
				pos[i] = true
			}
		}
	}
	return pos
}

// BenignHours is each workload's benign observation time: the distinct
// window spans of the workload (replicas count once) in which at least one
// of its instances had no attack, times the window length. False findings
// of a replica running next to an attacked one are still false.
func BenignHours(ws []WindowScore, pos []bool, window time.Duration) map[string]float64 {
	type k struct {
		wl    string
		start int64
	}
	benign := map[k]bool{}
	for i := range ws {
		if !pos[i] {
			benign[k{ws[i].Workload, ws[i].Start}] = true
		}
	}
	out := map[string]float64{}
	for key := range benign {
		out[key.wl] += window.Hours()
	}
	return out
}

// DetectorCurves computes each detector's curves over modelled windows, and
// the "any" curve over the largest score/threshold ratio.
func DetectorCurves(ws []WindowScore, dets []models.Detector, pos []bool) (curves []Curve, n, npos, unmodelled int) {
	anyScore := make([]float64, 0, len(ws))
	var anyPos []bool
	for i := range ws {
		if !ws[i].Modelled {
			unmodelled++
			continue
		}
		n++
		if pos[i] {
			npos++
		}
		best := math.Inf(-1)
		for d := range dets {
			s, t := ws[i].Scores[d], ws[i].Thresholds[d]
			if !math.IsNaN(s) && t > 0 {
				best = max(best, s/t)
			}
		}
		anyScore = append(anyScore, best)
		anyPos = append(anyPos, pos[i])
	}
	for d, det := range dets {
		var scores, thr []float64
		var p []bool
		for i := range ws {
			if !ws[i].Modelled || math.IsNaN(ws[i].Scores[d]) {
				continue
			}
			scores = append(scores, ws[i].Scores[d])
			thr = append(thr, ws[i].Thresholds[d])
			p = append(p, pos[i])
		}
		if len(scores) == 0 {
			continue
		}
		c := Curves(string(det), scores, p)
		c.Threshold = Float(median(thr))
		c.ThresholdTPR, c.ThresholdFPR = operatingPerWindow(scores, thr, p)
		c.ROC, c.PR = Thin(c.ROC, 400), Thin(c.PR, 400)
		curves = append(curves, c)
	}
	if n > 0 {
		c := Curves("any", anyScore, anyPos)
		c.Threshold = 1
		c.ThresholdTPR, c.ThresholdFPR = OperatingPoint(anyScore, anyPos, 1)
		c.ROC, c.PR = Thin(c.ROC, 400), Thin(c.PR, 400)
		curves = append(curves, c)
	}
	return curves, n, npos, unmodelled
}

// operatingPerWindow is the operating point of alarming at each window's
// own calibrated threshold (thresholds differ per workload).
func operatingPerWindow(scores, thr []float64, pos []bool) (tpr, fpr Float) {
	var tp, fp, p, n float64
	for i, s := range scores {
		alarm := s >= thr[i]
		if pos[i] {
			p++
			if alarm {
				tp++
			}
		} else {
			n++
			if alarm {
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

func median(xs []float64) float64 {
	var v []float64
	for _, x := range xs {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return math.NaN()
	}
	sort.Float64s(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// Discipline states how training and test data were separated.
type Discipline struct {
	TrainFrom time.Time `json:"train_from"`
	TrainTo   time.Time `json:"train_to"`
	TestFrom  time.Time `json:"test_from"`
	TestTo    time.Time `json:"test_to"`
	// Leakage is set when replayed events fall inside the bundle's training
	// range (its own or any workload's).
	Leakage   bool   `json:"leakage"`
	Statement string `json:"statement"`
}

// CheckDiscipline compares the bundle's training range with the replayed
// events' range.
func CheckDiscipline(b *models.Bundle, first, last int64) Discipline {
	d := Discipline{TestFrom: time.Unix(0, first).UTC(), TestTo: time.Unix(0, last).UTC()}
	if b == nil {
		d.Statement = "Rules only: no baselines were trained, so there is nothing to leak."
		return d
	}
	d.TrainFrom, d.TrainTo = b.Index.From.UTC(), b.Index.To.UTC()
	for _, w := range b.Index.Workloads {
		if !w.From.IsZero() && (d.TrainFrom.IsZero() || w.From.Before(d.TrainFrom)) {
			d.TrainFrom = w.From.UTC()
		}
		if w.To.After(d.TrainTo) {
			d.TrainTo = w.To.UTC()
		}
	}
	d.Leakage = !d.TrainTo.IsZero() && d.TestFrom.Before(d.TrainTo) && d.TestTo.After(d.TrainFrom)
	if d.Leakage {
		d.Statement = fmt.Sprintf("LEAKAGE: the replayed events (%s to %s) overlap the baselines' training data (%s to %s); "+
			"anomaly metrics are optimistic. Replay from %s on for a clean time-based split.",
			fmtT(d.TestFrom), fmtT(d.TestTo), fmtT(d.TrainFrom), fmtT(d.TrainTo), fmtT(d.TrainTo))
	} else {
		d.Statement = fmt.Sprintf("Time-based split: baselines were trained on events from %s to %s; every replayed event "+
			"(%s to %s) is later, so no test event was seen in training or calibration.",
			fmtT(d.TrainFrom), fmtT(d.TrainTo), fmtT(d.TestFrom), fmtT(d.TestTo))
	}
	return d
}

func fmtT(t time.Time) string { return t.UTC().Format(time.RFC3339) }
