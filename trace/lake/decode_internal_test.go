package lake

import (
	"math/rand/v2"
	"testing"
)

func TestPresentCountsNonNullRows(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 3))
	for n := range 70 {
		for _, maxDef := range []byte{1, 2} {
			def := make([]byte, n)
			want := 0
			for i := range def {
				def[i] = byte(r.IntN(int(maxDef) + 1))
				if def[i] == maxDef {
					want++
				}
			}
			if got := present(def, maxDef); got != want {
				t.Fatalf("%d levels, max %d: %d present, want %d (%v)", n, maxDef, got, want, def)
			}
		}
	}
}
