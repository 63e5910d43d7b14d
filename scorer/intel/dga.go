package intel

import (
	"math"
	"math/rand/v2"
	"strings"
	"sync"
)

// DGA scoring: a character trigram model of ordinary domain labels gives the
// average log-likelihood of a label; a logistic regression over that and
// three shape features (length, digit share, longest consonant run), trained
// to separate the benign corpus from random strings, turns it into a score in
// [0, 1]. Both are learned from data at start-up (a few milliseconds);
// nothing is a hand-written list of bad names.
//
// The default corpus is synthetic (BenignCorpus): names built from an English
// word list. It teaches the model what pronounceable, word-like labels look
// like; it has never seen real DGA families, and real brand names that are not
// word-like (e.g. "xkcd") score higher than they should. Train on a real
// domain list with TrainDGA for better precision.

const (
	alphabet = "abcdefghijklmnopqrstuvwxyz0123456789-" // plus '^' and '$' as boundaries
	nsym     = len(alphabet) + 2
	bos      = len(alphabet)
	eos      = len(alphabet) + 1
	minLabel = 6 // shorter labels carry too little evidence either way
)

var symIndex = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = int8(i)
	}
	return t
}()

var consonant = func() (t [256]bool) {
	for _, c := range []byte("bcdfghjklmnpqrstvwxz") {
		t[c] = true
	}
	return t
}()

// DGAModel is a trained scorer. It is immutable and safe for concurrent use.
type DGAModel struct {
	logp    []float32 // [nsym*nsym*nsym] log P(c | a b), Laplace-smoothed
	weights [5]float64
	mean    [4]float64
	std     [4]float64
}

// TrainDGA learns a model from benign domain names. The negative class is
// generated: uniformly random labels and hexadecimal labels, the two shapes
// most DGAs produce. seed makes training reproducible.
func TrainDGA(benign []string, seed uint64) *DGAModel {
	m := &DGAModel{logp: make([]float32, nsym*nsym*nsym)}
	counts := make([]float64, nsym*nsym*nsym)
	var labels []string
	for _, d := range benign {
		if l := scoredLabel(d); l != "" {
			labels = append(labels, l)
		}
	}
	for _, l := range labels {
		a, b := bos, bos
		for i := 0; i <= len(l); i++ {
			c := eos
			if i < len(l) {
				c = int(symIndex[l[i]])
			}
			counts[(a*nsym+b)*nsym+c]++
			a, b = b, c
		}
	}
	for ab := 0; ab < nsym*nsym; ab++ {
		total := 0.0
		for c := 0; c < nsym; c++ {
			total += counts[ab*nsym+c]
		}
		for c := 0; c < nsym; c++ {
			m.logp[ab*nsym+c] = float32(math.Log((counts[ab*nsym+c] + 0.1) / (total + 0.1*float64(nsym))))
		}
	}

	// Labelled training set for the logistic regression: every benign label
	// and as many random ones. With five parameters it cannot memorise, so
	// the tests score names from other seeds as the held-out check.
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var xs [][4]float64
	var ys []float64
	for _, l := range labels {
		xs = append(xs, m.features(l))
		ys = append(ys, 0)
	}
	for range len(labels) {
		xs = append(xs, m.features(randomLabel(r)))
		ys = append(ys, 1)
	}
	for j := range 4 {
		var s, ss float64
		for _, x := range xs {
			s += x[j]
			ss += x[j] * x[j]
		}
		n := float64(len(xs))
		m.mean[j] = s / n
		m.std[j] = math.Sqrt(math.Max(ss/n-m.mean[j]*m.mean[j], 1e-9))
	}
	zs := make([][4]float64, len(xs))
	for i, x := range xs {
		zs[i] = m.norm(x)
	}
	// Batch gradient descent on the log loss; the problem is convex and tiny.
	for range 300 {
		var grad [5]float64
		for i, z := range zs {
			g := sigmoid(m.linear(z)) - ys[i]
			for j := range 4 {
				grad[j] += g * z[j]
			}
			grad[4] += g
		}
		for j := range grad {
			m.weights[j] -= 0.5 * grad[j] / float64(len(xs))
		}
	}
	return m
}

// randomLabel draws a DGA-shaped label: random letters and digits, or hex.
func randomLabel(r *rand.Rand) string {
	n := 8 + r.IntN(17)
	var b strings.Builder
	hex := r.IntN(4) == 0
	for range n {
		if hex {
			b.WriteByte("0123456789abcdef"[r.IntN(16)])
		} else if r.IntN(6) == 0 {
			b.WriteByte(byte('0' + r.IntN(10)))
		} else {
			b.WriteByte(byte('a' + r.IntN(26)))
		}
	}
	return b.String()
}

func (m *DGAModel) features(l string) [4]float64 {
	var ll float64
	a, b := bos, bos
	digits, run, maxRun := 0, 0, 0
	for i := 0; i <= len(l); i++ {
		c := eos
		if i < len(l) {
			ch := l[i]
			c = int(symIndex[ch])
			if ch >= '0' && ch <= '9' {
				digits++
			}
			if consonant[ch] {
				run++
				maxRun = max(maxRun, run)
			} else {
				run = 0
			}
		}
		ll += float64(m.logp[(a*nsym+b)*nsym+c])
		a, b = b, c
	}
	n := float64(len(l))
	return [4]float64{ll / (n + 1), math.Log(n), float64(digits) / n, float64(maxRun)}
}

func (m *DGAModel) norm(x [4]float64) [4]float64 {
	for j := range x {
		x[j] = (x[j] - m.mean[j]) / m.std[j]
	}
	return x
}

func (m *DGAModel) linear(z [4]float64) float64 {
	s := m.weights[4]
	for j := range z {
		s += m.weights[j] * z[j]
	}
	return s
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// Score returns how likely name's registered label was generated by an
// algorithm, in [0, 1]. Names without a label to judge (IP literals, reverse
// lookups, single labels, labels under six characters) score 0.
func (m *DGAModel) Score(name string) float64 {
	l := scoredLabel(name)
	if l == "" {
		return 0
	}
	return sigmoid(m.linear(m.norm(m.features(l))))
}

// secondLevel are public suffixes under which the registered label is one
// further left (example.co.uk).
var secondLevel = map[string]bool{"co": true, "com": true, "net": true, "org": true, "ac": true, "gov": true, "edu": true}

// scoredLabel picks the label a DGA controls: the one left of the public
// suffix. It returns "" when there is nothing worth scoring.
func scoredLabel(name string) string {
	name = strings.TrimSuffix(name, ".")
	if strings.HasSuffix(name, ".arpa") || strings.HasSuffix(name, ".local") || strings.HasSuffix(name, ".internal") {
		return ""
	}
	// Walk labels from the right without splitting (no allocation).
	end := strings.LastIndexByte(name, '.')
	if end <= 0 {
		return ""
	}
	tld := name[end+1:]
	start := strings.LastIndexByte(name[:end], '.') + 1
	if len(tld) == 2 && start > 0 && secondLevel[name[start:end]] {
		end = start - 1
		start = strings.LastIndexByte(name[:end], '.') + 1
	}
	l := name[start:end]
	if len(l) < minLabel {
		return ""
	}
	for j := 0; j < len(l); j++ {
		if symIndex[l[j]] < 0 {
			if c := l[j]; c >= 'A' && c <= 'Z' {
				return strings.ToLower(l)
			}
			return ""
		}
	}
	return l
}

// BenignCorpus generates n ordinary-looking domain names from the English
// word list: one or two words, sometimes a hyphen, a digit suffix or a
// subdomain, under a common TLD. It is deterministic for a seed.
func BenignCorpus(n int, seed uint64) []string {
	r := rand.New(rand.NewPCG(seed, seed+1))
	w := func() string { return englishWords[r.IntN(len(englishWords))] }
	out := make([]string, 0, n)
	for len(out) < n {
		var label string
		switch x := r.IntN(10); {
		case x < 3:
			label = w()
		case x < 8:
			label = w() + w()
		case x < 9:
			label = w() + "-" + w()
		default:
			label = w() + w() + string(byte('0'+r.IntN(10)))
		}
		d := label + "." + tlds[r.IntN(len(tlds))]
		if r.IntN(4) == 0 {
			d = []string{"www", "api", "mail", "cdn", "app", "static"}[r.IntN(6)] + "." + d
		}
		out = append(out, d)
	}
	return out
}

var (
	defaultOnce  sync.Once
	defaultModel *DGAModel
)

// DefaultDGA returns the model trained on BenignCorpus (built once).
func DefaultDGA() *DGAModel {
	defaultOnce.Do(func() { defaultModel = TrainDGA(BenignCorpus(10000, 1), 1) })
	return defaultModel
}
