package features

import (
	"hash/maphash"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/vigilsec/vigil/trace"
)

// TestKindIndex: the switch agrees with trace's own index for every kind,
// and knows no kind trace does not.
func TestKindIndex(t *testing.T) {
	for _, k := range trace.Kinds {
		if got := kindIndex(k); got != k.Index() {
			t.Errorf("%s: kindIndex %d, Index %d", k, got, k.Index())
		}
	}
	if got := kindIndex("no_such_kind"); got != -1 {
		t.Errorf("unknown kind: %d", got)
	}
}

// TestInternTable: equal values share one copy that shares no memory with
// the value given; the table stays within its bound, and a value that keeps
// coming back keeps its copy however many one-off values pass through.
func TestInternTable(t *testing.T) {
	var it internTable
	buf := []byte("/var/lib/app/state.db")
	v := string(buf)
	a := it.get(maphash.String(itemSeed, v), v)
	b := it.get(maphash.String(itemSeed, v), strings.Clone(v))
	if a != v || unsafe.StringData(a) != unsafe.StringData(b) || unsafe.StringData(a) == unsafe.StringData(v) {
		t.Fatalf("get: %q %q: want one copy of %q, apart from it", a, b, v)
	}
	for i := 0; i < 10*maxInterned; i++ {
		s := strconv.Itoa(i)
		if got := it.get(maphash.String(itemSeed, s), s); got != s {
			t.Fatalf("get(%q) = %q", s, got)
		}
		if it.cur.n > maxInterned || it.old.n > maxInterned || len(it.cur.slots) > 2*maxInterned || len(it.old.slots) > 2*maxInterned {
			t.Fatalf("%d+%d strings in %d+%d slots, bound %d each", it.cur.n, it.old.n, len(it.cur.slots), len(it.old.slots), maxInterned)
		}
		if i%(maxInterned/2) == 0 {
			if c := it.get(maphash.String(itemSeed, v), strings.Clone(v)); unsafe.StringData(c) != unsafe.StringData(a) {
				t.Fatalf("after %d one-off values, %q got a new copy", i, v)
			}
		}
	}
}

// TestSortByValue: the radix sort orders item indices exactly as
// compareItems does, on values with long shared prefixes, prefixes of each
// other, NUL and high bytes, and equal values told apart by first sight
// and process; runs past maxRun take the comparator path.
func TestSortByValue(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"", "\x00", "/", "a", "b", "\xff", "tmp", "/var/lib/app/", "0123456789ab"}
	for _, n := range []int{0, 1, 2, 3, 17, 300, maxRun + 5} {
		a := newAgg()
		for p := range 3 {
			a.procs = append(a.procs, procAgg{uuid: "proc-" + strconv.Itoa(2-p)})
		}
		for range n {
			var b strings.Builder
			for range rng.IntN(6) {
				b.WriteString(alphabet[rng.IntN(len(alphabet))])
			}
			a.items = append(a.items, itemAgg{value: b.String(), first: int64(rng.IntN(3)), proc: int32(rng.IntN(3))})
		}
		idx := make([]int32, n)
		for i := range idx {
			idx[i] = int32(i)
		}
		rng.Shuffle(n, func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		want := slices.Clone(idx)
		slices.SortStableFunc(want, a.compareItems)
		a.sortByValue(idx, make([]uint64, n), make([]uint64, n), make([]int32, n), 0)
		for p := range idx {
			if a.compareItems(idx[p], want[p]) != 0 {
				t.Fatalf("n=%d: position %d holds %q, want %q", n, p, a.items[idx[p]].value, a.items[want[p]].value)
			}
		}
	}
}
