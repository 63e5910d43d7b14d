package models

import (
	"math"
	"slices"
	"strconv"

	"gonum.org/v1/gonum/mathext"

	"github.com/vigilsec/vigil/features"
)

// maxScore caps surprise scores, so an impossible-under-the-baseline window
// still serialises as a number.
const maxScore = 300

func clampScore(s float64) float64 {
	switch {
	case math.IsNaN(s) || s < 0:
		return 0
	case s > maxScore:
		return maxScore
	}
	return s
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// mad is the median absolute deviation scaled to a normal sigma.
func mad(xs []float64, m float64) float64 {
	d := make([]float64, len(xs))
	for i, x := range xs {
		d[i] = math.Abs(x - m)
	}
	return 1.4826 * median(d)
}

// medianMAD is median(xs) and mad(xs, median(xs)) with one sort of xs, in
// place: the deviations of a sorted slice from its median fall in two
// sorted runs (leftwards and rightwards from the median), so their median
// is found by merging the runs up to the middle.
func medianMAD(xs []float64) (m, d float64) {
	n := len(xs)
	if n == 0 {
		return 0, 0
	}
	slices.Sort(xs)
	if n%2 == 1 {
		m = xs[n/2]
	} else {
		m = (xs[n/2-1] + xs[n/2]) / 2
	}
	// Left run: xs[l], xs[l-1], ... (below m); right run: xs[r], xs[r+1], ...
	r, _ := slices.BinarySearch(xs, m)
	l := r - 1
	var prev, cur float64
	for k := 0; k <= n/2; k++ {
		prev = cur
		if l >= 0 && (r >= n || math.Abs(xs[l]-m) <= math.Abs(xs[r]-m)) {
			cur = math.Abs(xs[l] - m)
			l--
		} else {
			cur = math.Abs(xs[r] - m)
			r++
		}
	}
	if n%2 == 1 {
		return m, 1.4826 * cur
	}
	return m, 1.4826 * ((prev + cur) / 2)
}

// normalTailLog10 is -log10 P(Z >= z) for a standard normal.
func normalTailLog10(z float64) float64 {
	if z <= 0 {
		return -math.Log10(0.5 * math.Erfc(z/math.Sqrt2))
	}
	if z < 25 {
		return -math.Log10(0.5 * math.Erfc(z/math.Sqrt2))
	}
	// Mills ratio asymptote.
	ln := -z*z/2 - math.Log(z*math.Sqrt(2*math.Pi))
	return -ln / math.Ln10
}

// chi2TailLog10 is -log10 P(X >= x) for X chi-squared with k degrees.
func chi2TailLog10(x float64, k int) float64 {
	if x <= 0 {
		return 0
	}
	a := float64(k) / 2
	q := mathext.GammaIncRegComp(a, x/2)
	if q > 1e-300 {
		return -math.Log10(q)
	}
	lg, _ := math.Lgamma(a)
	ln := (a-1)*math.Log(x/2) - x/2 - lg
	return -ln / math.Ln10
}

// poissonTailLog10 is -log10 P(N >= n) for N ~ Poisson(lambda).
func poissonTailLog10(n int, lambda float64) float64 {
	if n <= 0 {
		return 0
	}
	if lambda <= 0 {
		return maxScore
	}
	if n == 1 {
		return -math.Log10(-math.Expm1(-lambda))
	}
	// Sum the tail's terms in log space from n up; they fall fast past lambda.
	lg, _ := math.Lgamma(float64(n) + 1)
	lt := -lambda + float64(n)*math.Log(lambda) - lg
	sum := 0.0
	term := 1.0
	for k := n; k < n+1000; k++ {
		sum += term
		term *= lambda / float64(k+1)
		if term < 1e-17*sum {
			break
		}
	}
	ln := lt + math.Log(sum)
	if ln > 0 {
		ln = 0
	}
	return -ln / math.Ln10
}

// Threshold is one detector's calibration.
type Threshold struct {
	// Value is the score at and above which the detector reports.
	Value float64 `json:"value"`
	// Alpha is the per-window false-alarm probability targeted.
	Alpha float64 `json:"alpha"`
	// Nominal is -log10(Alpha): the threshold if the detector's p-values
	// were exact. Empirical is the smallest threshold the held-out windows
	// allow (above their maximum when Alpha*n < 1); Tail is the
	// exponential-tail extrapolation to Alpha, when there were enough
	// non-zero held-out scores to fit one.
	Nominal   float64 `json:"nominal"`
	Empirical float64 `json:"empirical"`
	Tail      float64 `json:"tail,omitempty"`
	// HeldOut is how many held-out windows were scored; Exceed how many of
	// them reach Value (the measured false-alarm count).
	HeldOut int `json:"held_out"`
	Exceed  int `json:"exceed"`
	// LeftOut is how many of the HeldOut windows came from containers
	// scored as if the model had never seen them (sequence detector).
	LeftOut int `json:"left_out,omitempty"`
}

// minNovelty is the smallest novelty threshold: one novel item with
// lambda ~ 0 scores far above it.
const minNovelty = 0.5

// calibrate picks a threshold for held-out benign scores at per-window
// false-alarm probability alpha. Parametric detectors (exact-ish p-values)
// also respect the nominal -log10(alpha).
func calibrate(scores []float64, alpha float64, parametric bool) Threshold {
	t := Threshold{Alpha: alpha, Nominal: -math.Log10(alpha), HeldOut: len(scores)}
	s := slices.Clone(scores)
	slices.Sort(s)
	n := len(s)
	if n > 0 {
		k := int(math.Floor(alpha * float64(n))) // exceedances allowed
		if k == 0 {
			t.Empirical = math.Nextafter(s[n-1], math.Inf(1))
		} else {
			t.Empirical = math.Nextafter(s[n-k-1], math.Inf(1))
		}
		// Peaks over threshold: above a high quantile u, exceedances are
		// modelled as exponential with the mean excess as scale. u is the
		// 90th percentile when that leaves 20 exceedances, else the lowest
		// of the 75th and 50th that leaves 10.
		for _, q := range []float64{0.9, 0.75, 0.5} {
			u := s[int(q*float64(n-1))]
			var sum float64
			var ex int
			for _, x := range s {
				if x > u {
					sum += x - u
					ex++
				}
			}
			need := 10
			if q == 0.9 {
				need = 20
			}
			if ex < need {
				continue
			}
			if u > 0 || q < 0.9 {
				beta := sum / float64(ex)
				pu := float64(ex) / float64(n)
				if pu > alpha && beta > 0 {
					t.Tail = u + beta*math.Log(pu/alpha)
				}
			}
			break
		}
	}
	t.Value = max(t.Empirical, t.Tail)
	if parametric {
		t.Value = max(t.Value, t.Nominal)
	} else {
		t.Value = max(t.Value, minNovelty)
	}
	for _, x := range s {
		if x >= t.Value {
			t.Exceed++
		}
	}
	return t
}

// windowHash is a stable hash of a window's key; it decides the held-out
// split and the bounded samples, so both are independent of event order.
func windowHash(k features.Key) uint64 {
	// FNV-1a, as hash/fnv's New64a computes it, without an allocation per
	// window.
	const prime = 1099511628211
	x := uint64(14695981039346656037)
	for i := 0; i < len(k.Workload); i++ {
		x = (x ^ uint64(k.Workload[i])) * prime
	}
	x *= prime // the 0 separator
	for i := 0; i < len(k.Instance); i++ {
		x = (x ^ uint64(k.Instance[i])) * prime
	}
	x *= prime
	var buf [20]byte
	for _, c := range strconv.AppendInt(buf[:0], k.Start, 10) {
		x = (x ^ uint64(c)) * prime
	}
	// splitmix64 finaliser: fnv's low bits are weak.
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// bottomK keeps the k entries with the smallest hashes: a uniform sample that
// does not depend on arrival order.
type bottomK[T any] struct {
	k int
	h hheap[T]
}

type hitem[T any] struct {
	hash uint64
	v    T
}

type hheap[T any] []hitem[T]

func (h hheap[T]) Less(i, j int) bool { return h[i].hash > h[j].hash } // max-heap
func (h hheap[T]) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }

// add offers v. The heap moves are container/heap's Push and Fix, written
// out so that no item is boxed into an interface.
func (b *bottomK[T]) add(hash uint64, v T) {
	if len(b.h) < b.k {
		b.h = append(b.h, hitem[T]{hash, v})
		b.h.up(len(b.h) - 1)
		return
	}
	if hash < b.h[0].hash {
		b.h[0] = hitem[T]{hash, v}
		if !b.h.down(0, len(b.h)) {
			b.h.up(0)
		}
	}
}

// keeps reports whether add(hash, ...) would keep the item.
func (b *bottomK[T]) keeps(hash uint64) bool {
	return len(b.h) < b.k || hash < b.h[0].hash
}

func (h hheap[T]) up(j int) {
	for {
		i := (j - 1) / 2 // parent
		if i == j || !h.Less(j, i) {
			break
		}
		h.Swap(i, j)
		j = i
	}
}

func (h hheap[T]) down(i0, n int) bool {
	i := i0
	for {
		j1 := 2*i + 1
		if j1 >= n || j1 < 0 { // j1 < 0 after int overflow
			break
		}
		j := j1 // left child
		if j2 := j1 + 1; j2 < n && h.Less(j2, j1) {
			j = j2 // = 2*i + 2  // right child
		}
		if !h.Less(j, i) {
			break
		}
		h.Swap(i, j)
		i = j
	}
	return i > i0
}

// items returns the sample ordered by hash.
func (b *bottomK[T]) items() []T {
	s := slices.Clone(b.h)
	slices.SortFunc(s, func(a, c hitem[T]) int {
		switch {
		case a.hash < c.hash:
			return -1
		case a.hash > c.hash:
			return 1
		}
		return 0
	})
	out := make([]T, len(s))
	for i, x := range s {
		out[i] = x.v
	}
	return out
}
