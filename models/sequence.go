package models

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/vigilsec/vigil/features"
)

// vocab is the size of the syscall symbol space (features.SymbolBits).
const vocab = 1 << features.SymbolBits

// SequenceModel is an interpolated Witten-Bell n-gram model of syscall
// sequences. Witten-Bell gives a context's unseen continuations the share
// T(h)/(c(h)+T(h)) — many distinct followers mean novelty is expected there
// — and backs off to shorter contexts down to a uniform over all syscalls,
// so no sequence has probability zero and rare-but-seen behaviour is scored
// by how rare it is, where STIDE only knows seen or unseen.
//
// Contexts at the start of a thread are padded with features.SymBOS, so the
// first syscalls are scored too. The serialised form is the top-order gram
// counts; lower orders are rebuilt on load.
//
// A context seen thousands of times with one follower (a polling loop)
// leaves almost nothing for another: the chain of escape shares makes a
// known syscall in a new place far less likely than a syscall the workload
// never made. Floor mixes each estimate with the syscall's own frequency,
// P = (1-Floor)·P_n-gram + Floor·P_unigram, so a new order of known syscalls
// costs at most about -log2(Floor·P_unigram) bits and a new syscall stays
// the surprise it is.
type SequenceModel struct {
	Order int `json:"order"`
	// Smoothing is SmoothWittenBell (default, also "") or SmoothKneserNey.
	Smoothing string `json:"smoothing,omitempty"`
	// Floor is the unigram's weight in every estimate (0: none; training
	// sets DefaultFloor).
	Floor float64     `json:"floor,omitempty"`
	Grams []GramCount `json:"grams"` // sorted by Gram

	top   map[uint64]uint64
	cnt   []map[uint64]uint64 // [k] k-gram counts, k = 1..Order
	ctx   []map[uint64]uint64 // [k] counts of (k-1)-symbol contexts
	types []map[uint64]uint64 // [k] distinct followers of each context
	total uint64              // unigram tokens
	t1    uint64              // distinct unigrams

	// Kneser-Ney: continuation counts of lower orders (distinct left
	// extensions), their context sums and types, and per-order discounts.
	cont      []map[uint64]uint64
	contCtx   []map[uint64]uint64
	contTypes []map[uint64]uint64
	contTotal uint64
	contT1    uint64
	discount  []float64
}

// DefaultFloor is the unigram weight training gives sequence models.
const DefaultFloor = 1e-3

// Smoothing methods.
const (
	SmoothWittenBell = "witten-bell"
	SmoothKneserNey  = "kneser-ney"
)

// GramCount is a packed n-gram (see features.PackNGram) and its count.
type GramCount struct {
	Gram  uint64 `json:"g"`
	Count uint64 `json:"c"`
}

// NewSequenceModel returns an empty model of order n (1..features.MaxNGram)
// with DefaultFloor.
func NewSequenceModel(n int) (*SequenceModel, error) {
	if n < 1 || n > features.MaxNGram {
		return nil, fmt.Errorf("sequence model order %d: must be between 1 and %d", n, features.MaxNGram)
	}
	return &SequenceModel{Order: n, Floor: DefaultFloor, top: make(map[uint64]uint64)}, nil
}

func mask(k int) uint64 { return 1<<(features.SymbolBits*k) - 1 }

func bos(k int) uint64 {
	var c uint64
	for i := 0; i < k; i++ {
		c = c<<features.SymbolBits | features.SymBOS
	}
	return c
}

// AddTrace counts one trace's n-grams (call Build after the last one).
func (m *SequenceModel) AddTrace(trace []int32) {
	ctx := bos(m.Order - 1)
	for _, nr := range trace {
		g := (ctx<<features.SymbolBits | features.Symbol(nr)) & mask(m.Order)
		m.top[g]++
		ctx = g & mask(m.Order-1)
	}
}

// AddGrams counts window n-grams of the model's order.
func (m *SequenceModel) AddGrams(grams []features.NGram) {
	for _, g := range grams {
		m.top[g.Gram] += uint64(g.Count)
	}
}

// Train builds a model of order n from traces.
func (m *SequenceModel) Train(traces [][]int32) {
	for _, t := range traces {
		m.AddTrace(t)
	}
	m.Build()
}

// Build derives the lower orders and the serialised form from the counts.
func (m *SequenceModel) Build() {
	n := m.Order
	m.cnt = make([]map[uint64]uint64, n+1)
	m.ctx = make([]map[uint64]uint64, n+1)
	m.types = make([]map[uint64]uint64, n+1)
	for k := 1; k <= n; k++ {
		m.cnt[k] = make(map[uint64]uint64)
		m.ctx[k] = make(map[uint64]uint64)
		m.types[k] = make(map[uint64]uint64)
	}
	m.Grams = m.Grams[:0]
	for g, c := range m.top {
		m.Grams = append(m.Grams, GramCount{g, c})
		for k := 1; k <= n; k++ {
			m.cnt[k][g&mask(k)] += c
		}
	}
	slices.SortFunc(m.Grams, func(a, b GramCount) int { return cmp.Compare(a.Gram, b.Gram) })
	m.total, m.t1 = 0, uint64(len(m.cnt[1]))
	for _, c := range m.cnt[1] {
		m.total += c
	}
	for k := 2; k <= n; k++ {
		for g, c := range m.cnt[k] {
			h := g >> features.SymbolBits
			m.ctx[k][h] += c
			m.types[k][h]++
		}
	}
	if m.Smoothing == SmoothKneserNey {
		m.buildKN()
	}
}

// buildKN derives the continuation counts interpolated Kneser-Ney uses
// below the top order: how many distinct syscalls precede a gram, rather
// than how often it occurs.
func (m *SequenceModel) buildKN() {
	n := m.Order
	m.cont = make([]map[uint64]uint64, n+1)
	m.contCtx = make([]map[uint64]uint64, n+1)
	m.contTypes = make([]map[uint64]uint64, n+1)
	for k := 1; k < n; k++ {
		m.cont[k] = make(map[uint64]uint64)
		for g := range m.cnt[k+1] {
			m.cont[k][g&mask(k)]++
		}
		m.contCtx[k] = make(map[uint64]uint64)
		m.contTypes[k] = make(map[uint64]uint64)
		if k >= 2 {
			for g, c := range m.cont[k] {
				h := g >> features.SymbolBits
				m.contCtx[k][h] += c
				m.contTypes[k][h]++
			}
		}
	}
	m.contTotal, m.contT1 = 0, 0
	if n > 1 {
		for _, c := range m.cont[1] {
			m.contTotal += c
			m.contT1++
		}
	}
	// Discount per order from counts of counts: D = n1 / (n1 + 2 n2).
	m.discount = make([]float64, n+1)
	for k := 1; k <= n; k++ {
		src := m.cnt[k]
		if k < n {
			src = m.cont[k]
		}
		var n1, n2 float64
		for _, c := range src {
			switch c {
			case 1:
				n1++
			case 2:
				n2++
			}
		}
		d := 0.75
		if n1 > 0 && n1+2*n2 > 0 {
			d = n1 / (n1 + 2*n2)
		}
		m.discount[k] = min(max(d, 0.05), 0.95)
	}
}

// rebuild restores the in-memory tables from Grams after decoding.
func (m *SequenceModel) rebuild() error {
	if m.Order < 1 || m.Order > features.MaxNGram {
		return fmt.Errorf("sequence order %d out of range", m.Order)
	}
	switch m.Smoothing {
	case "", SmoothWittenBell, SmoothKneserNey:
	default:
		return fmt.Errorf("sequence smoothing %q unknown", m.Smoothing)
	}
	if !(m.Floor >= 0 && m.Floor < 1) {
		return fmt.Errorf("sequence floor %g out of range [0, 1)", m.Floor)
	}
	m.top = make(map[uint64]uint64, len(m.Grams))
	for _, g := range m.Grams {
		m.top[g.Gram] += g.Count
	}
	m.Build()
	return nil
}

// Prob is P(last symbol of g | the symbols before it).
func (m *SequenceModel) Prob(g uint64) float64 {
	if m.Smoothing == SmoothKneserNey {
		return m.probKN(g)
	}
	return m.probWB(g, nil)
}

// floored mixes p with the unigram estimate uni by the model's Floor.
func (m *SequenceModel) floored(p, uni float64) float64 {
	if m.Floor == 0 {
		return p
	}
	return (1-m.Floor)*p + m.Floor*uni
}

// probWB is Witten-Bell's estimate, from the model's counts less those of
// out (nil: all of them).
func (m *SequenceModel) probWB(g uint64, out *seqCounts) float64 {
	w := g & mask(1)
	c1, total, t1 := m.cnt[1][w], m.total, m.t1
	if out != nil {
		c1, total, t1 = c1-out.cnt[1][w], total-out.total, t1-out.t1
	}
	p := 1.0 / vocab
	if total > 0 {
		p = (float64(c1) + float64(t1)/vocab) / float64(total+t1)
	}
	uni := p
	for k := 2; k <= m.Order; k++ {
		h := (g >> features.SymbolBits) & mask(k-1)
		c, ch, t := m.cnt[k][g&mask(k)], m.ctx[k][h], m.types[k][h]
		if out != nil {
			c, ch, t = c-out.cnt[k][g&mask(k)], ch-out.ctx[k][h], t-out.types[k][h]
		}
		if ch == 0 {
			break // longer contexts share this unseen suffix
		}
		p = (float64(c) + float64(t)*p) / float64(ch+t)
	}
	return m.floored(p, uni)
}

// seqCounts are the counts one container contributed to a SequenceModel,
// at every order, so the model can score that container's windows as if it
// had never seen it (see leftOut).
type seqCounts struct {
	cnt, ctx, types []map[uint64]uint64
	total, t1       uint64
}

// leftOut returns the counts of top, a part of the model's top-order
// counts: what the model would not have learned without it. Only
// Witten-Bell models can leave counts out; others return nil.
func (m *SequenceModel) leftOut(top map[uint64]uint64) *seqCounts {
	if m.Smoothing == SmoothKneserNey || m.cnt == nil {
		return nil
	}
	n := m.Order
	o := &seqCounts{cnt: make([]map[uint64]uint64, n+1), ctx: make([]map[uint64]uint64, n+1), types: make([]map[uint64]uint64, n+1)}
	for k := 1; k <= n; k++ {
		o.cnt[k] = make(map[uint64]uint64)
		o.ctx[k] = make(map[uint64]uint64)
		o.types[k] = make(map[uint64]uint64)
	}
	for g, c := range top {
		for k := 1; k <= n; k++ {
			o.cnt[k][g&mask(k)] += c
		}
	}
	for w, c := range o.cnt[1] {
		o.total += c
		if m.cnt[1][w] == c {
			o.t1++ // a syscall only this part made
		}
	}
	for k := 2; k <= n; k++ {
		for g, c := range o.cnt[k] {
			h := g >> features.SymbolBits
			o.ctx[k][h] += c
			if m.cnt[k][g] == c {
				o.types[k][h]++
			}
		}
	}
	return o
}

// probKN is interpolated Kneser-Ney: absolute discounting at every order,
// continuation counts below the top, a uniform over all syscalls at the
// bottom.
func (m *SequenceModel) probKN(g uint64) float64 {
	n := m.Order
	w := g & mask(1)
	c1, tot, t1 := m.cnt[1][w], m.total, m.t1
	if n > 1 {
		c1, tot, t1 = m.cont[1][w], m.contTotal, m.contT1
	}
	p := 1.0 / vocab
	if tot > 0 {
		d := m.discount[1]
		p = (math.Max(float64(c1)-d, 0) + d*float64(t1)*p) / float64(tot)
	}
	for k := 2; k <= n; k++ {
		h := (g >> features.SymbolBits) & mask(k-1)
		c, ch, t := m.cnt[k][g&mask(k)], m.ctx[k][h], m.types[k][h]
		if k < n {
			c, ch, t = m.cont[k][g&mask(k)], m.contCtx[k][h], m.contTypes[k][h]
		}
		if ch == 0 {
			break
		}
		d := m.discount[k]
		p = (math.Max(float64(c)-d, 0) + d*float64(t)*p) / float64(ch)
	}
	if m.Floor == 0 {
		return p
	}
	// The floor is the syscall's frequency, as Witten-Bell's unigram, not
	// the continuation share above.
	uni := 1.0 / vocab
	if m.total > 0 {
		uni = (float64(m.cnt[1][w]) + float64(m.t1)/vocab) / float64(m.total+m.t1)
	}
	return m.floored(p, uni)
}

// TraceScore is a trace's score under a sequence detector.
type TraceScore struct {
	N int `json:"n"`
	// MeanNLL is the mean surprise in bits per syscall.
	MeanNLL float64 `json:"mean_nll"`
	// TopNLL is the mean surprise of the TopK least likely syscalls.
	TopNLL float64 `json:"top_nll"`
	// Mismatch is the share of n-grams never seen in training (STIDE).
	Mismatch float64 `json:"mismatch"`
	// LFC is the most mismatches in any LocalityFrame consecutive n-grams
	// (STIDE's locality frame count).
	LFC int `json:"lfc"`
}

// TopK and LocalityFrame size the trace score's local views.
const (
	TopK          = 10
	LocalityFrame = 20
)

// ScoreTrace scores one trace.
func (m *SequenceModel) ScoreTrace(trace []int32) TraceScore {
	ts := TraceScore{N: len(trace)}
	if len(trace) == 0 {
		return ts
	}
	nll := make([]float64, 0, len(trace))
	miss := make([]bool, 0, len(trace))
	ctx := bos(m.Order - 1)
	sum := 0.0
	for _, nr := range trace {
		g := (ctx<<features.SymbolBits | features.Symbol(nr)) & mask(m.Order)
		s := -math.Log2(m.Prob(g))
		nll = append(nll, s)
		sum += s
		miss = append(miss, m.top[g] == 0)
		ctx = g & mask(m.Order-1)
	}
	ts.MeanNLL = sum / float64(len(trace))
	ts.TopNLL = topMean(nll, TopK)
	ts.Mismatch, ts.LFC = mismatch(miss)
	return ts
}

func topMean(xs []float64, k int) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if k > len(s) {
		k = len(s)
	}
	sum := 0.0
	for _, x := range s[len(s)-k:] {
		sum += x
	}
	return sum / float64(k)
}

func mismatch(miss []bool) (rate float64, lfc int) {
	n, cur := 0, 0
	for i, m := range miss {
		if m {
			n++
			cur++
		}
		if i >= LocalityFrame && miss[i-LocalityFrame] {
			cur--
		}
		lfc = max(lfc, cur)
	}
	return float64(n) / float64(len(miss)), lfc
}

// STIDE is the classic sequence time-delay embedding detector (Forrest,
// Hofmeyr et al.): the set of n-grams seen in training; a trace's score is
// its share of unseen n-grams, or its locality frame count. Kept as the
// baseline SequenceModel must beat.
type STIDE struct {
	Order int
	seen  map[uint64]struct{}
}

// NewSTIDE returns an empty STIDE database of window n.
func NewSTIDE(n int) (*STIDE, error) {
	if n < 1 || n > features.MaxNGram {
		return nil, fmt.Errorf("stide order %d: must be between 1 and %d", n, features.MaxNGram)
	}
	return &STIDE{Order: n, seen: make(map[uint64]struct{})}, nil
}

// Train adds traces to the database.
func (s *STIDE) Train(traces [][]int32) {
	for _, t := range traces {
		ctx := bos(s.Order - 1)
		for _, nr := range t {
			g := (ctx<<features.SymbolBits | features.Symbol(nr)) & mask(s.Order)
			s.seen[g] = struct{}{}
			ctx = g & mask(s.Order-1)
		}
	}
}

// ScoreTrace scores one trace; only Mismatch and LFC are set.
func (s *STIDE) ScoreTrace(trace []int32) TraceScore {
	ts := TraceScore{N: len(trace)}
	if len(trace) == 0 {
		return ts
	}
	miss := make([]bool, 0, len(trace))
	ctx := bos(s.Order - 1)
	for _, nr := range trace {
		g := (ctx<<features.SymbolBits | features.Symbol(nr)) & mask(s.Order)
		_, ok := s.seen[g]
		miss = append(miss, !ok)
		ctx = g & mask(s.Order-1)
	}
	ts.Mismatch, ts.LFC = mismatch(miss)
	return ts
}

// STIDEWindow is STIDE's score for a window's n-grams, from the same
// training counts: the share of syscall occurrences whose n-gram was never
// seen. It is not a detector of the model, only the baseline evaluations
// compare the sequence detector against.
func (m *SequenceModel) STIDEWindow(grams []features.NGram) float64 {
	var miss, n int64
	for _, g := range grams {
		n += g.Count
		if m.top[g.Gram] == 0 {
			miss += g.Count
		}
	}
	if n == 0 {
		return 0
	}
	return float64(miss) / float64(n)
}

// scoreGrams scores a window's n-grams: the mean surprise in bits of its
// TopK least likely syscall occurrences, with evidence.
func (m *SequenceModel) scoreGrams(grams []features.NGram, withEvidence bool) (float64, []Evidence) {
	return m.scoreGramsWithout(grams, nil, withEvidence)
}

// windowScore is a window's sequence score in the detectors' common unit
// (-log10 probability) under the model less out's counts (nil: none).
func (m *SequenceModel) windowScore(grams []features.NGram, out *seqCounts) float64 {
	bits, _ := m.scoreGramsWithout(grams, out, false)
	return bits * math.Log10(2)
}

// scoreGramsWithout is scoreGrams under the model less out's counts.
func (m *SequenceModel) scoreGramsWithout(grams []features.NGram, out *seqCounts, withEvidence bool) (float64, []Evidence) {
	prob := m.Prob
	if out != nil {
		prob = func(g uint64) float64 { return m.probWB(g, out) }
	}
	type gs struct {
		g     uint64
		nll   float64
		count int64
	}
	all := make([]gs, 0, len(grams))
	for _, g := range grams {
		all = append(all, gs{g.Gram, -math.Log2(prob(g.Gram)), g.Count})
	}
	slices.SortFunc(all, func(a, b gs) int {
		if c := cmp.Compare(b.nll, a.nll); c != 0 {
			return c
		}
		return cmp.Compare(a.g, b.g)
	})
	sum, n := 0.0, int64(0)
	var ev []Evidence
	for _, x := range all {
		if n >= TopK {
			break
		}
		take := min(x.count, TopK-n)
		sum += float64(take) * x.nll
		n += take
		if withEvidence && len(ev) < MaxEvidence {
			ev = append(ev, Evidence{Syscalls: decodeGram(x.g, m.Order), Prob: math.Exp2(-x.nll), Count: x.count, Surprise: x.nll})
		}
	}
	if n == 0 {
		return 0, nil
	}
	return sum / float64(n), ev
}

func decodeGram(g uint64, n int) []int32 {
	var out []int32
	for _, s := range features.UnpackNGram(g, n) {
		if s == features.SymBOS {
			continue
		}
		out = append(out, int32(s))
	}
	return out
}
