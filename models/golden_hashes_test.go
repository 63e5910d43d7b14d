//go:build amd64 && !amd64.v3

package models_test

// goldenBundles are the bundle hashes of goldenInputs. Where the compiler
// may fuse multiply-adds (arm64, amd64.v3) the fitted floats can differ in
// the last bit, so they are pinned only here.
var goldenBundles = map[string]string{
	"synth-plain":    "62c82efa554b90dfbe6274f72453d1da9aa57cf0be2bc7aa209bfbedd8068f7b",
	"synth-sequence": "0b2b6b84ae307b0aae28b6e589040f858987cbfd17130688b0b53b86907a49ca",
	"tracetest-mix":  "a8dab3e544787b2df985f542f27447fc012c5ebede70752eeb6b4a351efe106a",
}
