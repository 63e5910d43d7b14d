//go:build amd64 && !amd64.v3

package models_test

// goldenBundles are the bundle hashes of goldenInputs. Where the compiler
// may fuse multiply-adds (arm64, amd64.v3) the fitted floats can differ in
// the last bit, so they are pinned only here.
var goldenBundles = map[string]string{
	"synth-plain":    "a7a04191928e48b4a7a5299be48e33de7c1180a3ee75ddba9ac0778ade02723f",
	"synth-sequence": "875a7bf9ca4a7d913a89d5468c232b446481b220b229d2abff556c296a923243",
	"tracetest-mix":  "f8a3741730259e772317ce15d8bec3b7484b065b7651ad91bb46488484e247b1",
}
