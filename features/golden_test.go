package features_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	"github.com/vigilsec/vigil/features"
	"github.com/vigilsec/vigil/features/synth"
	"github.com/vigilsec/vigil/trace"
	"github.com/vigilsec/vigil/trace/tracetest"
)

// TestGoldenWindows pins the exact windows extraction builds for fixed
// inputs (plain and sequence-mode synthetic workloads with attacks, and the
// lake's realistic mix), so that work on extraction speed cannot change
// them. A change that means to alter windows updates the hashes and says
// why in its commit (and likely bumps SchemaVersion).
func TestGoldenWindows(t *testing.T) {
	plain, _ := synth.Generate(synth.Options{Seed: 11, Minutes: 150, AttackEvery: 7})
	seq, _ := synth.Generate(synth.Options{Seed: 12, Minutes: 90, Sequence: true, AttackEvery: 9, Instances: 3})
	for _, c := range []struct {
		name   string
		cfg    features.Config
		events []trace.Event
		want   string
	}{
		{"synth-plain", features.Config{}, plain, "d60c3ca74db1355a6dd96321d9399024aef0f5d71f22d9aae548527db5dc5240"},
		{"synth-sequence", features.Config{NGram: 3}, seq, "15e44b6c3d11b25f72732ba69d509ac5b5859b4b9d52294a3642c8ab53a784d4"},
		{"tracetest-mix", features.Config{Window: 30 * time.Second}, tracetest.Events(13, 200_000, int64(20*time.Millisecond)), "159c9681caad65318d4ece33297b5af494529d1b96cda0f674698ffc1aace5d7"},
	} {
		ws, st, err := features.Extract(c.cfg, c.events)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(struct {
			Windows []*features.Window
			Stats   features.Stats
		}{ws, st})
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); got != c.want {
			t.Errorf("%s: %d windows hash to %s, want %s", c.name, len(ws), got, c.want)
		}
	}
}
