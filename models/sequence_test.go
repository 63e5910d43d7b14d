package models_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vigilsec/vigil/features"
	"github.com/vigilsec/vigil/models"
)

// TestSequenceModelIsADistribution: for seen and unseen contexts, the
// smoothed probabilities of every next syscall sum to one.
func TestSequenceModelIsADistribution(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	var traces [][]int32
	for i := 0; i < 40; i++ {
		var tr []int32
		for j := 0; j < 200; j++ {
			tr = append(tr, int32(r.IntN(12)*r.IntN(3)))
		}
		traces = append(traces, tr)
	}
	for _, c := range []struct {
		n      int
		smooth string
	}{{1, ""}, {2, ""}, {4, ""}, {1, models.SmoothKneserNey}, {2, models.SmoothKneserNey}, {4, models.SmoothKneserNey}} {
		n := c.n
		m, err := models.NewSequenceModel(n)
		if err != nil {
			t.Fatal(err)
		}
		m.Smoothing = c.smooth
		m.Train(traces)
		for _, ctx := range [][]uint64{{0, 1, 2}, {5, 5, 5}, {300, 301, 302}, {features.SymBOS, features.SymBOS, features.SymBOS}} {
			sum := 0.0
			for w := uint64(0); w < features.SymBOS; w++ {
				syms := append(append([]uint64{}, ctx[len(ctx)-(n-1):]...), w)
				sum += m.Prob(features.PackNGram(syms...))
			}
			// SymBOS is never predicted but holds its uniform share.
			syms := append(append([]uint64{}, ctx[len(ctx)-(n-1):]...), features.SymBOS)
			sum += m.Prob(features.PackNGram(syms...))
			if math.Abs(sum-1) > 1e-9 {
				t.Errorf("n=%d %s context %v: probabilities sum to %.12f", n, c.smooth, ctx, sum)
			}
		}
	}
}
