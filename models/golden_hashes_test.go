//go:build amd64 && !amd64.v3

package models_test

// goldenBundles are the bundle hashes of goldenInputs. Where the compiler
// may fuse multiply-adds (arm64, amd64.v3) the fitted floats can differ in
// the last bit, so they are pinned only here.
var goldenBundles = map[string]string{
	"synth-plain":    "e6cdbc8aa1c39e850c34e48492312679404362247688b9d3eb243f73c7e42ae7",
	"synth-sequence": "93a57266346f95de5806156063181b85069ae3ec976175b52d60606d682f93b4",
	"tracetest-mix":  "41bd5b984cb708a75e336f9820085558251ded983a26405db0a816fbfb4a9762",
}
