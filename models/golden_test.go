package models_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"testing"
	"time"

	"github.com/vigilsec/vigil/features"
	"github.com/vigilsec/vigil/features/synth"
	"github.com/vigilsec/vigil/models"
	"github.com/vigilsec/vigil/trace"
	"github.com/vigilsec/vigil/trace/tracetest"
)

// goldenInputs are the traces whose bundles TestGoldenBundles pins: plain
// and sequence-mode synthetic workloads with attacks, and the lake's
// realistic mix (six ECS workloads, a long tail of temp and hashed names).
func goldenInputs() map[string][]trace.Event {
	plain, _ := synth.Generate(synth.Options{Seed: 11, Minutes: 150, AttackEvery: 7})
	seq, _ := synth.Generate(synth.Options{Seed: 12, Minutes: 90, Sequence: true, AttackEvery: 9, Instances: 3})
	return map[string][]trace.Event{
		"synth-plain":    plain,
		"synth-sequence": seq,
		"tracetest-mix":  tracetest.Events(13, 200_000, int64(20*time.Millisecond)),
	}
}

// bundleHash trains on events as one run and hashes the bundle it writes
// (every file's name and bytes).
func bundleHash(t *testing.T, rc models.RunConfig, events []trace.Event) string {
	t.Helper()
	ms, _, err := models.TrainScan(context.Background(), rc, features.SliceScan(events))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeBundle(t, dir, ms, 0, 1)
	tree := readTree(t, dir)
	names := make([]string, 0, len(tree))
	for k := range tree {
		names = append(names, k)
	}
	slices.Sort(names)
	h := sha256.New()
	for _, k := range names {
		h.Write([]byte(k))
		h.Write([]byte{0})
		h.Write(tree[k])
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestGoldenBundles pins the exact bytes training writes for fixed inputs,
// so that work on training speed cannot change what is learned. A change
// that means to alter the models updates the hashes in golden_hashes_test.go
// and says why in its commit.
func TestGoldenBundles(t *testing.T) {
	if goldenBundles == nil {
		t.Skip("bundle bytes depend on floating-point contraction; pinned for amd64 (v1/v2) only")
	}
	for name, events := range goldenInputs() {
		got := bundleHash(t, models.RunConfig{}, events)
		if want := goldenBundles[name]; got != want {
			t.Errorf("%s: bundle hash %s, want %s", name, got, want)
		}
		if par := bundleHash(t, models.RunConfig{Workers: 2}, events); par != got {
			t.Errorf("%s: 2 workers wrote a different bundle than 1", name)
		}
	}
}
