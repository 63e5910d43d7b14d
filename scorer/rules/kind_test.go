package rules

import (
	"testing"

	"github.com/vigilsec/vigil/trace"
)

func TestKindIndex(t *testing.T) {
	for _, k := range trace.Kinds {
		if got, want := KindIndex(k), k.Index(); got != want {
			t.Errorf("%s: %d, want %d", k, got, want)
		}
	}
	for _, k := range []trace.Kind{"", "e", "exe", "execc", "Exec", "opeN", "exec_mappinG", "exec_mapping_and_more_than_16"} {
		if got := KindIndex(k); got != -1 {
			t.Errorf("%q is not a kind, but KindIndex gives %d", k, got)
		}
	}
}
