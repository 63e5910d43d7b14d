package models

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"
)

// logCounts maps raw window counts to the scale the rate models work on:
// log(1+x) tames heavy tails and makes rates multiplicative.
func logCounts(raw []float64) []float64 {
	out := make([]float64, len(raw))
	for i, x := range raw {
		out[i] = math.Log1p(x)
	}
	return out
}

// RateModel is a per-feature robust baseline of log window counts:
// median and MAD, globally and per hour of day (UTC) where an hour has
// enough windows.
type RateModel struct {
	Features []string     `json:"features"`
	Global   RateStats    `json:"global"`
	Hourly   []*RateStats `json:"hourly"` // 24 entries, nil where too few windows
}

// RateStats is one baseline.
type RateStats struct {
	Windows int       `json:"windows"`
	Median  []float64 `json:"median"`
	Scale   []float64 `json:"scale"`
}

// minHourly is how many windows an hour needs to get its own baseline.
const minHourly = 30

// scaleFloor keeps a near-constant feature from turning noise into huge z:
// Poisson noise on the log scale is about 1/sqrt(mean).
func scaleFloor(m float64) float64 {
	return max(0.1, 1/math.Sqrt(1+math.Expm1(m)))
}

func fitStats(xs [][]float64, d int) RateStats {
	st := RateStats{Windows: len(xs), Median: make([]float64, d), Scale: make([]float64, d)}
	col := make([]float64, len(xs))
	for j := 0; j < d; j++ {
		for i, x := range xs {
			col[i] = x[j]
		}
		m, d := medianMAD(col)
		st.Median[j] = m
		st.Scale[j] = max(d, scaleFloor(m))
	}
	return st
}

func fitRate(names []string, xs [][]float64, byHour [24][][]float64) *RateModel {
	r := &RateModel{Features: names, Global: fitStats(xs, len(names)), Hourly: make([]*RateStats, 24)}
	for h, hx := range byHour {
		if len(hx) >= minHourly {
			st := fitStats(hx, len(names))
			r.Hourly[h] = &st
		}
	}
	return r
}

func (r *RateModel) check() error {
	d := len(r.Features)
	ok := func(s *RateStats) bool { return len(s.Median) == d && len(s.Scale) == d }
	if !ok(&r.Global) || len(r.Hourly) != 24 {
		return fmt.Errorf("rate model: inconsistent dimensions")
	}
	for _, h := range r.Hourly {
		if h != nil && !ok(h) {
			return fmt.Errorf("rate model: inconsistent hourly dimensions")
		}
	}
	return nil
}

// score is the Bonferroni-combined upper-tail surprise of the most
// elevated feature; x is on the log scale.
func (r *RateModel) score(x []float64, hour int) float64 {
	st := r.stats(hour)
	d := len(r.Features)
	zmax := (x[0] - st.Median[0]) / st.Scale[0]
	for j := 1; j < d; j++ {
		if z := (x[j] - st.Median[j]) / st.Scale[j]; cmp.Compare(z, zmax) > 0 {
			zmax = z
		}
	}
	return clampScore(normalTailLog10(zmax) - math.Log10(float64(d)))
}

func (r *RateModel) stats(hour int) *RateStats {
	if hour >= 0 && hour < 24 && r.Hourly[hour] != nil {
		return r.Hourly[hour]
	}
	return &r.Global
}

// evidence lists the most elevated features (z >= 2), most elevated first,
// with the bound of normal at threshold.
func (r *RateModel) evidence(x []float64, hour int, threshold float64) []Evidence {
	st := r.stats(hour)
	d := len(r.Features)
	type fz struct {
		j int
		z float64
	}
	zs := make([]fz, 0, d)
	for j := 0; j < d; j++ {
		zs = append(zs, fz{j, (x[j] - st.Median[j]) / st.Scale[j]})
	}
	slices.SortStableFunc(zs, func(a, b fz) int { return cmp.Compare(b.z, a.z) })
	bonf := math.Log10(float64(d))
	var ev []Evidence
	var zt float64
	for _, f := range zs {
		if f.z < 2 || len(ev) >= MaxEvidence {
			break
		}
		if ev == nil {
			// The z at which a feature alone would reach the threshold,
			// for "upper".
			zt = zForScore(threshold + bonf)
		}
		j := f.j
		ev = append(ev, Evidence{
			Feature:  r.Features[j],
			Observed: math.Expm1(x[j]),
			Expected: math.Expm1(st.Median[j]),
			Upper:    math.Expm1(st.Median[j] + zt*st.Scale[j]),
			Surprise: clampScore(normalTailLog10(f.z) - bonf),
		})
	}
	return ev
}

// zForScore inverts normalTailLog10 by bisection.
func zForScore(s float64) float64 {
	lo, hi := -10.0, 40.0
	for i := 0; i < 60; i++ {
		m := (lo + hi) / 2
		if normalTailLog10(m) < s {
			lo = m
		} else {
			hi = m
		}
	}
	return (lo + hi) / 2
}

// Multivariate scores the joint log-count vector by Mahalanobis distance
// under a Ledoit-Wolf shrinkage covariance, which stays well-conditioned
// with few windows and many correlated features.
type Multivariate struct {
	Features  []string  `json:"features"` // the non-constant features used
	Index     []int     `json:"index"`    // their positions in the full vector
	Mean      []float64 `json:"mean"`
	Std       []float64 `json:"std"`
	Precision []float64 `json:"precision"` // row-major inverse covariance of the standardised vector
	Shrinkage float64   `json:"shrinkage"`

	prec *mat.SymDense
}

func fitMultivariate(names []string, xs [][]float64) (*Multivariate, error) {
	n := len(xs)
	if n < 10 {
		return nil, fmt.Errorf("multivariate: %d windows, need at least 10", n)
	}
	mv := &Multivariate{}
	var mean, std []float64
	for j := range names {
		m, v := 0.0, 0.0
		for _, x := range xs {
			m += x[j]
		}
		m /= float64(n)
		for _, x := range xs {
			v += (x[j] - m) * (x[j] - m)
		}
		v /= float64(n)
		if v < 1e-12 {
			continue
		}
		mv.Features = append(mv.Features, names[j])
		mv.Index = append(mv.Index, j)
		mean = append(mean, m)
		// A near-constant count would otherwise turn one unit of Poisson
		// noise into a huge distance.
		std = append(std, max(math.Sqrt(v), scaleFloor(m)))
	}
	p := len(mv.Index)
	if p == 0 {
		return nil, fmt.Errorf("multivariate: every feature is constant")
	}
	mv.Mean, mv.Std = mean, std
	z := mat.NewDense(n, p, nil)
	for i, x := range xs {
		for k, j := range mv.Index {
			z.Set(i, k, (x[j]-mean[k])/std[k])
		}
	}
	var s mat.SymDense
	s.SymOuterK(1/float64(n), z.T())
	// s.At(a, b) as a full p*p array: the b2 loop below reads it n times.
	full := make([]float64, p*p)
	for a := 0; a < p; a++ {
		for b := 0; b < p; b++ {
			full[a*p+b] = s.At(a, b)
		}
	}
	// Ledoit-Wolf (2004) towards mu*I.
	mu := mat.Trace(&s) / float64(p)
	d2 := 0.0
	for a := 0; a < p; a++ {
		for b := 0; b < p; b++ {
			v := full[a*p+b]
			if a == b {
				v -= mu
			}
			d2 += v * v
		}
	}
	b2 := 0.0
	zraw := z.RawMatrix()
	for i := 0; i < n; i++ {
		row := zraw.Data[i*zraw.Stride : i*zraw.Stride+p]
		for a := 0; a < p; a++ {
			sa := full[a*p : a*p+p]
			ra := row[a]
			for b, rb := range row {
				v := ra*rb - sa[b]
				b2 += v * v
			}
		}
	}
	b2 /= float64(n) * float64(n)
	delta := 1.0
	if d2 > 0 {
		delta = min(1, b2/d2)
	}
	mv.Shrinkage = delta
	sh := mat.NewSymDense(p, nil)
	for a := 0; a < p; a++ {
		for b := a; b < p; b++ {
			v := (1 - delta) * s.At(a, b)
			if a == b {
				v += delta * mu
			}
			sh.SetSym(a, b, v)
		}
	}
	var ch mat.Cholesky
	if !ch.Factorize(sh) {
		return nil, fmt.Errorf("multivariate: shrunk covariance not positive definite")
	}
	var inv mat.SymDense
	if err := ch.InverseTo(&inv); err != nil {
		return nil, fmt.Errorf("multivariate: inverting covariance: %w", err)
	}
	mv.Precision = make([]float64, p*p)
	for a := 0; a < p; a++ {
		for b := 0; b < p; b++ {
			mv.Precision[a*p+b] = inv.At(a, b)
		}
	}
	mv.prec = &inv
	return mv, nil
}

func (mv *Multivariate) rebuild() error {
	p := len(mv.Index)
	if p == 0 || len(mv.Mean) != p || len(mv.Std) != p || len(mv.Precision) != p*p || len(mv.Features) != p {
		return fmt.Errorf("multivariate: inconsistent dimensions")
	}
	mv.prec = mat.NewSymDense(p, slices.Clone(mv.Precision))
	return nil
}

// score returns the chi-squared tail surprise of the squared Mahalanobis
// distance, and the features that contribute most. Only activity above the
// baseline counts (standardised deviations are clipped at zero): a quieter
// window is not a threat, and clipping only makes the chi-squared tail
// conservative.
func (mv *Multivariate) score(x []float64, withEvidence bool) (float64, []Evidence) {
	p := len(mv.Index)
	z := make([]float64, p)
	for k, j := range mv.Index {
		if j >= len(x) {
			return 0, nil
		}
		z[k] = max(0, (x[j]-mv.Mean[k])/mv.Std[k])
	}
	zv := mat.NewVecDense(p, z)
	var pz mat.VecDense
	pz.MulVec(mv.prec, zv)
	d2 := mat.Dot(zv, &pz)
	s := clampScore(chi2TailLog10(d2, p))
	if !withEvidence {
		return s, nil
	}
	type contrib struct {
		k int
		c float64
	}
	cs := make([]contrib, p)
	for k := 0; k < p; k++ {
		cs[k] = contrib{k, z[k] * pz.AtVec(k)}
	}
	slices.SortStableFunc(cs, func(a, b contrib) int { return cmp.Compare(b.c, a.c) })
	var ev []Evidence
	for _, c := range cs {
		if c.c <= 0 || len(ev) >= MaxEvidence || c.c < d2/20 {
			break
		}
		j := mv.Index[c.k]
		ev = append(ev, Evidence{
			Feature:  mv.Features[c.k],
			Observed: math.Expm1(x[j]),
			Expected: math.Expm1(mv.Mean[c.k]),
			// The feature's own 3-sigma band; the score itself is joint.
			Upper:    math.Expm1(mv.Mean[c.k] + 3*mv.Std[c.k]),
			Surprise: s * c.c / d2,
		})
	}
	return s, ev
}
