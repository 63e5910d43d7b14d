package models

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/vigilsec/vigil/features"
)

// TestLeftOutIsTheModelWithoutThem: a model of traces A and B, with B's
// counts left out, gives every n-gram exactly the probability a model of A
// alone gives, including syscalls and contexts only B had.
func TestLeftOutIsTheModelWithoutThem(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	trace := func(alphabet int) []int32 {
		var tr []int32
		for range 300 {
			tr = append(tr, int32(r.IntN(alphabet)*r.IntN(3)))
		}
		return tr
	}
	var a, b [][]int32
	for range 20 {
		a = append(a, trace(10))
		b = append(b, trace(14)) // syscalls 20..26 only in B
	}
	for _, n := range []int{1, 2, 4} {
		both, _ := NewSequenceModel(n)
		both.Train(append(append([][]int32{}, a...), b...))
		onlyA, _ := NewSequenceModel(n)
		onlyA.Train(a)
		bs, _ := NewSequenceModel(n)
		for _, tr := range b {
			bs.AddTrace(tr)
		}
		out := both.leftOut(bs.top)
		for _, tr := range append(b, trace(16)) {
			ctx := bos(n - 1)
			for _, nr := range tr {
				g := (ctx<<features.SymbolBits | features.Symbol(nr)) & mask(n)
				if got, want := both.probWB(g, out), onlyA.Prob(g); got != want {
					t.Fatalf("n=%d gram %v: %g with B left out, %g trained without B", n, features.UnpackNGram(g, n), got, want)
				}
				ctx = g & mask(n-1)
			}
		}
	}
	kn, _ := NewSequenceModel(2)
	kn.Smoothing = SmoothKneserNey
	kn.Train(a)
	if kn.leftOut(kn.top) != nil {
		t.Error("a Kneser-Ney model left counts out; only Witten-Bell can")
	}
}

// TestLeaveOutSampleIsOrderFree: the containers kept for leave-one-out
// calibration are those with the smallest hashes, each with every trained
// window's counts, whatever order their windows arrive in.
func TestLeaveOutSampleIsOrderFree(t *testing.T) {
	var windows []*features.Window
	for i := range 20 {
		for j := range 6 {
			windows = append(windows, &features.Window{
				Key:        features.Key{Workload: "w", Instance: string(rune('a' + i)), Start: int64(j) * 60e9},
				End:        int64(j+1) * 60e9,
				Kinds:      make([]int64, features.NumKinds),
				NGrams:     []features.NGram{{Gram: uint64(i), Count: 1}, {Gram: 99, Count: int64(j + 1)}},
				NGramOrder: features.DefaultNGram,
			})
		}
	}
	sample := func(ws []*features.Window) map[string]map[uint64]uint64 {
		tr, err := NewTrainer(TrainConfig{HoldOutEvery: 1 << 30}) // nothing held out
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range ws {
			tr.Add(w)
		}
		out := map[string]map[uint64]uint64{}
		for _, c := range tr.w["w"].leftOut {
			out[c.instance] = c.counts
		}
		return out
	}
	inOrder := sample(windows)
	r := rand.New(rand.NewPCG(1, 1))
	shuffled := append([]*features.Window{}, windows...)
	r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	if got := sample(shuffled); len(inOrder) != 8 || !reflect.DeepEqual(got, inOrder) {
		t.Fatalf("samples differ with the order of windows:\n%v\n%v", inOrder, got)
	}
	for inst, c := range inOrder {
		if c[99] != 21 { // 1+2+...+6
			t.Errorf("container %s: %d of 21 counts of gram 99", inst, c[99])
		}
	}
}
