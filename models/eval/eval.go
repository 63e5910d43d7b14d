// Package eval measures detectors: ROC AUC over benign and attack scores,
// and the sequence-model-versus-STIDE protocol used on ADFA-LD style data.
package eval

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/vigilsec/vigil/models"
)

// AUC is the area under the ROC curve for scores where higher means more
// anomalous: the probability that a random attack scores above a random
// benign sample, ties counting half (Mann-Whitney U). NaN-free inputs only.
func AUC(benign, attack []float64) float64 {
	if len(benign) == 0 || len(attack) == 0 {
		return 0.5
	}
	type s struct {
		v   float64
		pos bool
	}
	all := make([]s, 0, len(benign)+len(attack))
	for _, v := range benign {
		all = append(all, s{v, false})
	}
	for _, v := range attack {
		all = append(all, s{v, true})
	}
	slices.SortFunc(all, func(a, b s) int { return cmp.Compare(a.v, b.v) })
	// Sum of (mid-)ranks of the positives.
	rankSum := 0.0
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].v == all[i].v {
			j++
		}
		mid := float64(i+j+1) / 2 // ranks i+1..j
		for k := i; k < j; k++ {
			if all[k].pos {
				rankSum += mid
			}
		}
		i = j
	}
	np, nn := float64(len(attack)), float64(len(benign))
	return (rankSum - np*(np+1)/2) / (np * nn)
}

// Point is one ROC operating point.
type Point struct {
	Threshold float64 `json:"threshold"`
	FPR       float64 `json:"fpr"`
	TPR       float64 `json:"tpr"`
}

// ROC returns the curve's points, one per distinct score, threshold
// descending (alarm when score >= threshold).
func ROC(benign, attack []float64) []Point {
	vals := append(slices.Clone(benign), attack...)
	slices.Sort(vals)
	vals = slices.Compact(vals)
	slices.Reverse(vals)
	out := make([]Point, 0, len(vals))
	for _, t := range vals {
		out = append(out, Point{t, frac(benign, t), frac(attack, t)})
	}
	return out
}

func frac(xs []float64, t float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	n := 0
	for _, x := range xs {
		if x >= t {
			n++
		}
	}
	return float64(n) / float64(len(xs))
}

// SequenceReport compares the n-gram sequence model with STIDE on the same
// traces, scored per trace.
type SequenceReport struct {
	Order          int `json:"order"`
	Train          int `json:"train_traces"`
	Normal, Attack int `json:"-"`
	// AUCs of each per-trace score; the sequence model's MeanNLL and TopNLL
	// against STIDE's mismatch rate and locality frame count.
	ModelMeanNLL float64 `json:"model_mean_nll_auc"`
	ModelTopNLL  float64 `json:"model_top_nll_auc"`
	// The same model with interpolated Kneser-Ney smoothing.
	KNMeanNLL     float64 `json:"kn_mean_nll_auc"`
	KNTopNLL      float64 `json:"kn_top_nll_auc"`
	STIDEMismatch float64 `json:"stide_mismatch_auc"`
	STIDELFC      float64 `json:"stide_lfc_auc"`
}

func (r SequenceReport) String() string {
	return fmt.Sprintf("n=%d train=%d normal=%d attack=%d  Witten-Bell AUC mean-nll %.3f top-nll %.3f | Kneser-Ney %.3f %.3f | STIDE AUC mismatch %.3f lfc %.3f",
		r.Order, r.Train, r.Normal, r.Attack, r.ModelMeanNLL, r.ModelTopNLL, r.KNMeanNLL, r.KNTopNLL, r.STIDEMismatch, r.STIDELFC)
}

// CompareSequences runs the usual ADFA-LD protocol: train both detectors on
// train, score every normal (validation) and attack trace, report AUC per
// trace score.
func CompareSequences(order int, train, normal, attack [][]int32) (SequenceReport, error) {
	m, err := models.NewSequenceModel(order)
	if err != nil {
		return SequenceReport{}, err
	}
	m.Train(train)
	kn, _ := models.NewSequenceModel(order)
	kn.Smoothing = models.SmoothKneserNey
	kn.Train(train)
	st, err := models.NewSTIDE(order)
	if err != nil {
		return SequenceReport{}, err
	}
	st.Train(train)
	r := SequenceReport{Order: order, Train: len(train), Normal: len(normal), Attack: len(attack)}
	score := func(traces [][]int32) (mean, top, kmean, ktop, mis, lfc []float64) {
		for _, t := range traces {
			a := m.ScoreTrace(t)
			k := kn.ScoreTrace(t)
			b := st.ScoreTrace(t)
			mean = append(mean, a.MeanNLL)
			top = append(top, a.TopNLL)
			kmean = append(kmean, k.MeanNLL)
			ktop = append(ktop, k.TopNLL)
			mis = append(mis, b.Mismatch)
			lfc = append(lfc, float64(b.LFC))
		}
		return
	}
	nm, nt, nkm, nkt, ns, nl := score(normal)
	am, at, akm, akt, as, al := score(attack)
	r.ModelMeanNLL, r.ModelTopNLL = AUC(nm, am), AUC(nt, at)
	r.KNMeanNLL, r.KNTopNLL = AUC(nkm, akm), AUC(nkt, akt)
	r.STIDEMismatch, r.STIDELFC = AUC(ns, as), AUC(nl, al)
	return r, nil
}
