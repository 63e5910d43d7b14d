package eval

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"

	"github.com/vigilsec/vigil/features"
	"github.com/vigilsec/vigil/models"
)

// WindowReport measures a bundle on labelled windows: per-detector ROC AUC
// (benign versus attack windows), and the calibrated alarms' detection and
// false-alarm rates.
type WindowReport struct {
	Benign, Attack int      `json:"-"`
	NoModel        int      `json:"no_model"` // windows of workloads the bundle lacks
	Detectors      []DetAUC `json:"detectors"`
	// STIDEAUC is the window-level STIDE baseline (unseen n-gram share
	// under the same training counts), for comparison with the sequence
	// detector; 0 without sequence-mode data.
	STIDEAUC float64 `json:"stide_auc"`
	// AnyAUC ranks windows by their largest score/threshold ratio.
	AnyAUC float64 `json:"any_auc"`
	// Alarm rates: windows with at least one anomalous detector.
	TPR float64 `json:"tpr"`
	FPR float64 `json:"fpr"`
	// ByLabel is the detection rate per attack label.
	ByLabel map[string]float64 `json:"by_label"`
}

// DetAUC is one detector's AUC and alarm rates.
type DetAUC struct {
	Detector models.Detector `json:"detector"`
	AUC      float64         `json:"auc"`
	TPR      float64         `json:"tpr"`
	FPR      float64         `json:"fpr"`
}

// ScoreWindows scores every window with its workload's model. label returns
// "" for a benign window and the attack's name otherwise.
func ScoreWindows(b *models.Bundle, ws []*features.Window, label func(features.Key) string) WindowReport {
	acc := NewWindowScorer(b, label)
	for _, w := range ws {
		acc.Add(w)
	}
	return acc.Report()
}

// WindowScorer accumulates a WindowReport one window at a time, keeping
// only scores, so a long evaluation does not hold its windows.
type WindowScorer struct {
	b                  *models.Bundle
	label              func(features.Key) string
	r                  WindowReport
	benign, attack     map[models.Detector][]float64
	bAl, aAl           map[models.Detector]int
	anyB, anyA         []float64
	stideB, stideA     []float64
	alarmsB, alarmsA   int
	perLabel, labelHit map[string]int
}

// NewWindowScorer starts an empty report.
func NewWindowScorer(b *models.Bundle, label func(features.Key) string) *WindowScorer {
	return &WindowScorer{
		b: b, label: label,
		benign: map[models.Detector][]float64{}, attack: map[models.Detector][]float64{},
		bAl: map[models.Detector]int{}, aAl: map[models.Detector]int{},
		perLabel: map[string]int{}, labelHit: map[string]int{},
	}
}

// Add scores one window.
func (a *WindowScorer) Add(w *features.Window) {
	m := a.b.Workload(w.Workload)
	if m == nil {
		a.r.NoModel++
		return
	}
	lab := a.label(w.Key)
	s := m.Score(w)
	ratio := 0.0
	for _, d := range s.Detectors {
		if d.Threshold > 0 {
			ratio = max(ratio, d.Score/d.Threshold)
		}
		if lab == "" {
			a.benign[d.Detector] = append(a.benign[d.Detector], d.Score)
			if d.Anomalous {
				a.bAl[d.Detector]++
			}
		} else {
			a.attack[d.Detector] = append(a.attack[d.Detector], d.Score)
			if d.Anomalous {
				a.aAl[d.Detector]++
			}
		}
	}
	if m.Sequence != nil && len(w.NGrams) > 0 && w.NGramOrder == m.Sequence.Order {
		st := m.Sequence.STIDEWindow(w.NGrams)
		if lab == "" {
			a.stideB = append(a.stideB, st)
		} else {
			a.stideA = append(a.stideA, st)
		}
	}
	alarm := len(s.Anomalous()) > 0
	if lab == "" {
		a.r.Benign++
		a.anyB = append(a.anyB, ratio)
		if alarm {
			a.alarmsB++
		}
		return
	}
	a.r.Attack++
	a.anyA = append(a.anyA, ratio)
	a.perLabel[lab]++
	if alarm {
		a.alarmsA++
		a.labelHit[lab]++
	}
}

// Report computes the AUCs and rates so far.
func (a *WindowScorer) Report() WindowReport {
	r := a.r
	r.Detectors = nil
	for _, d := range models.Detectors() {
		if len(a.benign[d])+len(a.attack[d]) == 0 {
			continue
		}
		r.Detectors = append(r.Detectors, DetAUC{
			Detector: d, AUC: AUC(a.benign[d], a.attack[d]),
			TPR: rate(a.aAl[d], r.Attack), FPR: rate(a.bAl[d], r.Benign),
		})
	}
	r.AnyAUC = AUC(a.anyB, a.anyA)
	if len(a.stideB)+len(a.stideA) > 0 {
		r.STIDEAUC = AUC(a.stideB, a.stideA)
	}
	r.TPR, r.FPR = rate(a.alarmsA, r.Attack), rate(a.alarmsB, r.Benign)
	r.ByLabel = map[string]float64{}
	for l, n := range a.perLabel {
		r.ByLabel[l] = rate(a.labelHit[l], n)
	}
	return r
}

func rate(a, n int) float64 {
	if n == 0 {
		return 0
	}
	return float64(a) / float64(n)
}

// Write prints the report as a table.
func (r WindowReport) Write(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "windows: %d benign, %d attack, %d without a model\n", r.Benign, r.Attack, r.NoModel)
	fmt.Fprintln(tw, "DETECTOR\tAUC\tTPR\tFPR")
	for _, d := range r.Detectors {
		fmt.Fprintf(tw, "%s\t%.3f\t%.3f\t%.4f\n", d.Detector, d.AUC, d.TPR, d.FPR)
	}
	if r.STIDEAUC > 0 {
		fmt.Fprintf(tw, "(baseline: STIDE on windows)\t%.3f\t\t\n", r.STIDEAUC)
	}
	fmt.Fprintf(tw, "any (max score/threshold)\t%.3f\t%.3f\t%.4f\n", r.AnyAUC, r.TPR, r.FPR)
	labels := make([]string, 0, len(r.ByLabel))
	for l := range r.ByLabel {
		labels = append(labels, l)
	}
	slices.Sort(labels)
	for _, l := range labels {
		fmt.Fprintf(tw, "  detected %s\t%.3f\n", l, r.ByLabel[l])
	}
	return tw.Flush()
}
