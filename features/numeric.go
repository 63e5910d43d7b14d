package features

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vigilsec/vigil/trace"
)

// numericNames is the fixed layout of Window.Numeric.
var numericNames = sync.OnceValue(func() []string {
	names := []string{"events", "procs"}
	for _, k := range trace.Kinds {
		names = append(names, "kind:"+string(k))
	}
	for c := Category(0); c < NumCategories; c++ {
		names = append(names, "distinct:"+c.String())
	}
	names = append(names, "distinct:ngram")
	return names
})

// NumericNames names the entries of Window.Numeric, in order.
func NumericNames() []string { return numericNames() }

// Numeric appends the window's activity counts to dst, in NumericNames
// order: total events, distinct processes, events per kind, distinct items
// per category, distinct n-grams. Counts are raw; models choose transforms.
func (w *Window) Numeric(dst []float64) []float64 {
	dst = slices.Grow(dst, len(numericNames()))
	dst = append(dst, float64(w.Events), float64(len(w.Procs)))
	for i := 0; i < NumKinds; i++ {
		var v int64
		if i < len(w.Kinds) {
			v = w.Kinds[i]
		}
		dst = append(dst, float64(v))
	}
	var per [NumCategories]int
	for i := range w.Items {
		per[w.Items[i].Cat]++
	}
	for _, n := range per {
		dst = append(dst, float64(n))
	}
	return append(dst, float64(len(w.NGrams)))
}

// SchemaHash identifies the feature schema a configuration produces: bundles
// store it and scoring refuses windows from a different one.
func SchemaHash(cfg Config) string {
	cfg = cfg.withDefaults()
	h := sha256.New()
	fmt.Fprintf(h, "vigil-features v%d\nwindow=%s\nngram=%d\n", SchemaVersion, time.Duration(cfg.Window), cfg.NGram)
	fmt.Fprintf(h, "numeric=%s\n", strings.Join(NumericNames(), ","))
	for c := Category(0); c < NumCategories; c++ {
		fmt.Fprintf(h, "cat=%s\n", c)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}
