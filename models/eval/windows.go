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
	var r WindowReport
	benign := map[models.Detector][]float64{}
	attack := map[models.Detector][]float64{}
	bAl := map[models.Detector]int{}
	aAl := map[models.Detector]int{}
	var anyB, anyA []float64
	alarmsB, alarmsA := 0, 0
	perLabel, perLabelHit := map[string]int{}, map[string]int{}
	for _, w := range ws {
		m := b.Workload(w.Workload)
		if m == nil {
			r.NoModel++
			continue
		}
		lab := label(w.Key)
		s := m.Score(w)
		ratio := 0.0
		for _, d := range s.Detectors {
			if d.Threshold > 0 {
				ratio = max(ratio, d.Score/d.Threshold)
			}
			if lab == "" {
				benign[d.Detector] = append(benign[d.Detector], d.Score)
				if d.Anomalous {
					bAl[d.Detector]++
				}
			} else {
				attack[d.Detector] = append(attack[d.Detector], d.Score)
				if d.Anomalous {
					aAl[d.Detector]++
				}
			}
		}
		alarm := len(s.Anomalous()) > 0
		if lab == "" {
			r.Benign++
			anyB = append(anyB, ratio)
			if alarm {
				alarmsB++
			}
		} else {
			r.Attack++
			anyA = append(anyA, ratio)
			perLabel[lab]++
			if alarm {
				alarmsA++
				perLabelHit[lab]++
			}
		}
	}
	for _, d := range models.Detectors() {
		if len(benign[d])+len(attack[d]) == 0 {
			continue
		}
		r.Detectors = append(r.Detectors, DetAUC{
			Detector: d, AUC: AUC(benign[d], attack[d]),
			TPR: rate(aAl[d], r.Attack), FPR: rate(bAl[d], r.Benign),
		})
	}
	r.AnyAUC = AUC(anyB, anyA)
	r.TPR, r.FPR = rate(alarmsA, r.Attack), rate(alarmsB, r.Benign)
	r.ByLabel = map[string]float64{}
	for l, n := range perLabel {
		r.ByLabel[l] = rate(perLabelHit[l], n)
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
