package models_test

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/vigilsec/vigil/features"
	"github.com/vigilsec/vigil/models"
)

// TestSequenceCalibrationLeavesContainersOut: every container of a workload
// runs the same loop, but each one, by its own timing, now and then puts two
// syscalls of its own into it. Held-out windows come from containers the
// model trained on, so their quirks look normal and the threshold ends up
// below what any new container scores. Calibrating also on containers left
// out of the model sets it where a new container stays quiet, while a
// window running syscalls the workload never made still reaches it.
func TestSequenceCalibrationLeavesContainersOut(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	const window = int64(time.Minute)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	container := func(inst string, windows int, extra func() []int32) []*features.Window {
		a, b := int32(40+r.IntN(4)), int32(40+r.IntN(4))
		var out []*features.Window
		for i := range windows {
			var calls []int32
			for range 200 {
				calls = append(calls, 0, 1, 2)
				if r.IntN(10) == 0 {
					calls = append(calls, a, b)
				}
				calls = append(calls, 3)
			}
			if extra != nil {
				calls = append(calls, extra()...)
			}
			out = append(out, &features.Window{
				Key:   features.Key{Workload: "svc/app", Instance: inst, Start: start + int64(i)*window},
				End:   start + int64(i+1)*window,
				Kinds: make([]int64, features.NumKinds), Events: int64(len(calls)),
				NGrams: grams(calls, features.DefaultNGram), NGramOrder: features.DefaultNGram,
			})
		}
		return out
	}
	var training []*features.Window
	for c := range 6 {
		training = append(training, container(fmt.Sprint("c", c), 30, nil)...)
	}
	fresh := container("new", 30, nil)
	attack := container("attacked", 1, func() []int32 {
		var s []int32
		for range 40 {
			s = append(s, int32(100+r.IntN(10)))
		}
		return s
	})[0]

	exceed := func(leaveOut int) (n int, th models.Threshold, attacked bool) {
		tr, err := models.NewTrainer(models.TrainConfig{LeaveOut: leaveOut})
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range training {
			tr.Add(w)
		}
		m := tr.Models()[0]
		score := func(w *features.Window) bool {
			for _, d := range m.Score(w).Detectors {
				if d.Detector == models.DetSequence {
					return d.Anomalous
				}
			}
			t.Fatal("no sequence score")
			return false
		}
		for _, w := range fresh {
			if score(w) {
				n++
			}
		}
		return n, m.Calibration[models.DetSequence], score(attack)
	}
	n, th, attacked := exceed(-1)
	if n == 0 || th.LeftOut != 0 {
		t.Fatalf("held-out windows alone: %d of %d windows of a new container reach threshold %.2f (%d left out); the test shows nothing", n, len(fresh), th.Value, th.LeftOut)
	}
	if !attacked {
		t.Fatal("held-out windows alone: the attack window stays below the threshold")
	}
	n, th, attacked = exceed(0)
	if th.LeftOut == 0 {
		t.Fatal("no window of a left-out container was scored")
	}
	if n != 0 {
		t.Errorf("with containers left out: %d of %d windows of a new container reach threshold %.2f", n, len(fresh), th.Value)
	}
	if !attacked {
		t.Errorf("with containers left out: the attack window stays below threshold %.2f", th.Value)
	}
}

// grams counts a thread's n-grams as the extractor does, padded at the start.
func grams(calls []int32, n int) []features.NGram {
	count := map[uint64]int64{}
	ctx := make([]uint64, n-1)
	for i := range ctx {
		ctx[i] = features.SymBOS
	}
	for _, c := range calls {
		g := append(slices.Clone(ctx), features.Symbol(c))
		count[features.PackNGram(g...)]++
		ctx = g[1:]
	}
	var out []features.NGram
	for g, c := range count {
		out = append(out, features.NGram{Gram: g, Count: c})
	}
	slices.SortFunc(out, func(a, b features.NGram) int { return cmp.Compare(a.Gram, b.Gram) })
	return out
}
