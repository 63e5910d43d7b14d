package rules

import "github.com/vigilsec/vigil/trace"

// KindIndex is trace.Kind.Index without hashing the kind: the scorer looks
// up every event's kind, and a map lookup costs more than the rules of most
// kinds. Kinds are found by length and first letter, then one comparison.
func KindIndex(k trace.Kind) int {
	for _, i := range kindSlots[kindSlot(k)] {
		if trace.Kinds[i] == k {
			return i
		}
	}
	return -1
}

var kindSlots = func() (t [16 * 32][]int) {
	for i, k := range trace.Kinds {
		s := kindSlot(k)
		t[s] = append(t[s], i)
	}
	return t
}()

func kindSlot(k trace.Kind) int {
	if k == "" {
		return 0
	}
	return (len(k)&15)<<5 | int(k[0]&31)
}
