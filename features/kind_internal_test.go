package features

import (
	"testing"

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
