package eval_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vigilsec/vigil/models/eval"
)

func TestAUC(t *testing.T) {
	cases := []struct {
		benign, attack []float64
		want           float64
	}{
		{[]float64{1, 2, 3}, []float64{4, 5}, 1},
		{[]float64{4, 5}, []float64{1, 2, 3}, 0},
		{[]float64{1, 1}, []float64{1, 1}, 0.5},
		// Pairs (b,a): (1,2)+ (1,0.5)- (3,2)- (3,0.5)- -> 1/4; with a tie (2,2) half.
		{[]float64{1, 3}, []float64{2, 0.5}, 0.25},
		{[]float64{1, 2}, []float64{2}, 0.75},
	}
	for _, c := range cases {
		if got := eval.AUC(c.benign, c.attack); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("AUC(%v, %v) = %g, want %g", c.benign, c.attack, got, c.want)
		}
	}
	roc := eval.ROC([]float64{1, 2}, []float64{2, 3})
	if len(roc) != 3 || roc[0].TPR != 0.5 || roc[0].FPR != 0 || roc[2].TPR != 1 || roc[2].FPR != 1 {
		t.Fatalf("roc %+v", roc)
	}
}

// chain is a SYNTHETIC program model: a Markov chain over syscall numbers
// with a few frequent and some rare transitions.
type chain map[int32][]struct {
	next int32
	p    float64
}

func (c chain) walk(r *rand.Rand, n int) []int32 {
	out := make([]int32, 0, n)
	s := int32(0)
	for len(out) < n {
		out = append(out, s)
		u, acc := r.Float64(), 0.0
		nexts := c[s]
		s = nexts[len(nexts)-1].next
		for _, x := range nexts {
			acc += x.p
			if u < acc {
				s = x.next
				break
			}
		}
	}
	return out
}

func syntheticChain() chain {
	// A server loop: epoll_wait(232) accept(43) read(0) openat(257) fstat(5)
	// read(0)/sendfile(40) write(1) close(3), with rare detours through
	// mmap(9), munmap(11), futex(202), brk(12), stat(4).
	c := chain{}
	add := func(from int32, to ...any) {
		for i := 0; i < len(to); i += 2 {
			c[from] = append(c[from], struct {
				next int32
				p    float64
			}{int32(to[i].(int)), to[i+1].(float64)})
		}
	}
	add(0, 232, 1.0)
	add(232, 43, 0.9, 202, 0.1)
	add(202, 232, 0.95, 12, 0.05)
	add(12, 232, 1.0)
	add(43, 0, 0.97, 4, 0.03)
	add(4, 257, 1.0)
	add(257, 5, 0.98, 9, 0.02)
	add(9, 5, 0.7, 11, 0.3)
	add(11, 5, 1.0)
	add(5, 40, 0.7, 1, 0.3)
	add(40, 3, 1.0)
	add(1, 3, 1.0)
	add(3, 232, 0.999, 0, 0.001)
	// state 0 doubles as read: after accept it reads the request.
	return c
}

// TestSequenceModelVersusSTIDE runs the ADFA-LD protocol on SYNTHETIC
// traces: attacks splice in short runs of syscalls a server never makes in
// that order (a shell: socket, connect, dup2 x3, execve) into otherwise
// normal traces. Normal validation traces contain rare benign transitions
// unseen in training, which STIDE counts as anomalies and the smoothed model
// does not.
func TestSequenceModelVersusSTIDE(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	c := syntheticChain()
	gen := func(n int) [][]int32 {
		var out [][]int32
		for i := 0; i < n; i++ {
			out = append(out, c.walk(r, 200+r.IntN(600)))
		}
		return out
	}
	train, normal := gen(150), gen(300)
	var attack [][]int32
	for _, tr := range gen(60) {
		at := r.IntN(len(tr) - 10)
		inj := []int32{41, 42, 33, 33, 33, 59}
		if r.IntN(2) == 0 {
			inj = []int32{0, 1, 0, 1, 61, 0, 1} // an interactive loop
		}
		attack = append(attack, append(append(append([]int32{}, tr[:at]...), inj...), tr[at:]...))
	}
	for _, n := range []int{3, 4, 6} {
		rep, err := eval.CompareSequences(n, train, normal, attack)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("SYNTHETIC foreign syscalls: %s", rep)
		if rep.ModelTopNLL < 0.95 {
			t.Errorf("n=%d: sequence model top-NLL AUC %.3f", n, rep.ModelTopNLL)
		}
	}
	// Mimicry: the injected run uses only transitions seen in training,
	// each of them rare; STIDE's unseen-n-gram test barely sees it.
	var mimic [][]int32
	for _, tr := range gen(60) {
		at := 1 + r.IntN(len(tr)-10)
		for tr[at-1] != 232 {
			at++ // splice where 232 -> 43 is natural, so the seams are normal too
		}
		var inj []int32
		for k := 0; k < 6; k++ {
			inj = append(inj, 43, 4, 257, 9, 11, 5, 1, 3, 232, 202, 12, 232)
		}
		mimic = append(mimic, append(append(append([]int32{}, tr[:at]...), inj...), tr[at:]...))
	}
	// A longer training set makes every rare n-gram of the chain "seen".
	long := append(train, gen(850)...)
	better := 0
	for _, n := range []int{3, 4, 6} {
		rep, err := eval.CompareSequences(n, long, normal, mimic)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("SYNTHETIC mimicry: %s", rep)
		best, stide := math.Max(rep.ModelMeanNLL, rep.ModelTopNLL), math.Max(rep.STIDEMismatch, rep.STIDELFC)
		if best < stide {
			t.Errorf("n=%d: sequence model (%.3f) worse than STIDE (%.3f)", n, best, stide)
		}
		if best > stide+0.02 {
			better++
		}
	}
	if better == 0 {
		t.Error("the sequence model never clearly beats STIDE on mimicry")
	}
}
