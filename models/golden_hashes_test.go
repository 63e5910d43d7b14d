//go:build amd64 && !amd64.v3

package models_test

// goldenBundles are the bundle hashes of goldenInputs. Where the compiler
// may fuse multiply-adds (arm64, amd64.v3) the fitted floats can differ in
// the last bit, so they are pinned only here.
var goldenBundles = map[string]string{
	"synth-plain":    "91a9adce44e4d07fc3f8b1aba32a910f601a86f52f03c2a062f594b94479924e",
	"synth-sequence": "6e48c33946136de3b0f667f92adc14faabf7200c45c0e5b58934df8bf86aa478",
	"tracetest-mix":  "87baef21f7bbce64f42e805346660c631e803e798927098ad7eb70bd16b2b701",
}
