package features

import (
	"hash/maphash"
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
// the value given; the table starts over instead of growing past its bound.
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
		if it.n > maxInterned || len(it.slots) > 2*maxInterned {
			t.Fatalf("%d strings in %d slots, bound %d", it.n, len(it.slots), maxInterned)
		}
	}
}
