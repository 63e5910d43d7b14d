package models_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/features"
	"github.com/vigilsec/vigil/features/synth"
	"github.com/vigilsec/vigil/internal/blob"
	"github.com/vigilsec/vigil/models"
)

func writeBundle(t *testing.T, dir string, ms []*models.Model, shard, shards int) {
	t.Helper()
	st, err := blob.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := models.Write(context.Background(), st, ms, shard, shards); err != nil {
		t.Fatal(err)
	}
}

func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if strings.HasPrefix(filepath.Base(rel), ".") {
			return nil
		}
		b, err := os.ReadFile(p)
		out[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestBundleRoundTrip(t *testing.T) {
	ms, events := trainSynth(t, 60)
	dir := t.TempDir()
	writeBundle(t, dir, ms, 0, 1)
	b, err := models.Load(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Workloads(); !reflect.DeepEqual(got, synth.Workloads) {
		t.Fatalf("workloads %v", got)
	}
	if err := b.CheckFeatures(features.Config{}); err != nil {
		t.Fatal(err)
	}
	if err := b.CheckFeatures(features.Config{NGram: 3}); err == nil {
		t.Fatal("a different n-gram order was accepted")
	}
	ws, _, _ := features.Extract(features.Config{}, events)
	for _, m := range ms {
		lm := b.Workload(m.Workload)
		for _, w := range ws {
			if w.Workload != m.Workload {
				continue
			}
			if a, c := m.Score(w), lm.Score(w); !reflect.DeepEqual(a, c) {
				t.Fatalf("%s: loaded model scores differently:\n%+v\n%+v", m.Workload, a, c)
			}
		}
	}
	// Writing the loaded models again gives the same bytes.
	var ms2 []*models.Model
	for _, k := range b.Workloads() {
		ms2 = append(ms2, b.Workload(k))
	}
	dir2 := t.TempDir()
	writeBundle(t, dir2, ms2, 0, 1)
	if !reflect.DeepEqual(readTree(t, dir), readTree(t, dir2)) {
		t.Fatal("re-encoding a loaded bundle changed its bytes")
	}
}

func TestBundleRejectsDamage(t *testing.T) {
	ms, _ := trainSynth(t, 30)
	dir := t.TempDir()
	writeBundle(t, dir, ms, 0, 1)
	file := models.ModelFile(ms[0].Workload)
	path := filepath.Join(dir, filepath.FromSlash(file))
	orig, _ := os.ReadFile(path)
	origIdx, _ := os.ReadFile(filepath.Join(dir, models.IndexFile))

	restore := func() {
		os.WriteFile(path, orig, 0o644)
		os.WriteFile(filepath.Join(dir, models.IndexFile), origIdx, 0o644)
	}
	cases := []struct {
		name, want string
		damage     func()
	}{
		{"flipped byte", "checksum", func() {
			b := bytes.Clone(orig)
			b[len(b)/2] ^= 1
			os.WriteFile(path, b, 0o644)
		}},
		{"truncated", "truncated", func() { os.WriteFile(path, orig[:len(orig)/3], 0o644) }},
		{"missing", "reading", func() { os.Remove(path) }},
		{"older format", fmt.Sprintf("format %d", models.FormatVersion-1), func() {
			var m map[string]any
			json.Unmarshal(orig, &m)
			m["format"] = models.FormatVersion - 1
			b, _ := json.Marshal(m)
			b = append(b, '\n')
			os.WriteFile(path, b, 0o644)
			fixIndex(t, dir, file, b)
		}},
		{"newer format", fmt.Sprintf("format %d", models.FormatVersion+1), func() {
			var m map[string]any
			json.Unmarshal(orig, &m)
			m["format"] = models.FormatVersion + 1
			b, _ := json.Marshal(m)
			b = append(b, '\n')
			os.WriteFile(path, b, 0o644)
			fixIndex(t, dir, file, b)
		}},
		{"other schema", "feature schema", func() {
			var m map[string]any
			json.Unmarshal(orig, &m)
			m["schema"] = "0123456789abcdef"
			b, _ := json.Marshal(m)
			b = append(b, '\n')
			os.WriteFile(path, b, 0o644)
			fixIndex(t, dir, file, b)
		}},
		{"garbage index", models.IndexFile, func() { os.WriteFile(filepath.Join(dir, models.IndexFile), []byte("{not json"), 0o644) }},
		{"no index", "no index.json", func() { os.Remove(filepath.Join(dir, models.IndexFile)) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			defer restore()
			c.damage()
			b, err := models.Load(context.Background(), dir)
			if err == nil || b != nil {
				t.Fatalf("damaged bundle loaded")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not say %q", err, c.want)
			}
			if c.name != "garbage index" && c.name != "no index" && !strings.Contains(err.Error(), file) {
				t.Fatalf("error %q does not name %s", err, file)
			}
		})
	}
	// The holder keeps the good bundle when a reload fails.
	var h models.Holder
	if _, err := h.Reload(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	good := h.Get()
	os.WriteFile(path, orig[:10], 0o644)
	if _, err := h.Reload(context.Background(), dir); err == nil || h.Get() != good {
		t.Fatal("failed reload replaced the bundle")
	}
}

// fixIndex rewrites the index entry's checksum so that only the content
// check can catch the damage.
func fixIndex(t *testing.T, dir, file string, data []byte) {
	t.Helper()
	st, _ := blob.Open(context.Background(), dir)
	idx, err := models.ReadIndex(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	for i := range idx.Workloads {
		if idx.Workloads[i].File == file {
			idx.Workloads[i].SHA256 = sha(data)
			idx.Workloads[i].Bytes = int64(len(data))
		}
	}
	b, _ := json.Marshal(idx)
	os.WriteFile(filepath.Join(dir, models.IndexFile), append(b, '\n'), 0o644)
}

// TestShardsEqualOneRun: N shard runs over the same events, plus the index
// merge, produce byte-for-byte the bundle one run produces; and so does a
// run with several workers.
func TestShardsEqualOneRun(t *testing.T) {
	events, _ := synth.Generate(synth.Options{Seed: 4, Minutes: 40, Rate: 0.3, Sequence: true, Instances: 3})
	// More workloads than synth's two, so shards are not trivially whole.
	for i := range events {
		if i%3 == 0 {
			events[i].Workload += "-" + string(rune('a'+events[i].Time%5))
		}
	}
	ctx := context.Background()
	one := t.TempDir()
	ms, _, err := models.TrainScan(ctx, models.RunConfig{}, features.SliceScan(events))
	if err != nil {
		t.Fatal(err)
	}
	writeBundle(t, one, ms, 0, 1)

	par := t.TempDir()
	ms, _, err = models.TrainScan(ctx, models.RunConfig{Workers: 3}, features.SliceScan(events))
	if err != nil {
		t.Fatal(err)
	}
	writeBundle(t, par, ms, 0, 1)
	if !reflect.DeepEqual(readTree(t, one), readTree(t, par)) {
		t.Fatal("3 workers produced a different bundle than 1")
	}

	const n = 3
	sharded := t.TempDir()
	nonEmpty := 0
	for i := 0; i < n; i++ {
		ms, _, err := models.TrainScan(ctx, models.RunConfig{Shard: i, Shards: n, Workers: 2}, features.SliceScan(events))
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) > 0 {
			nonEmpty++
		}
		writeBundle(t, sharded, ms, i, n)
	}
	if nonEmpty < 2 {
		t.Fatalf("only %d shards got workloads; the test proves nothing", nonEmpty)
	}
	st, _ := blob.Open(ctx, sharded)
	// Loadable before the merge, from the shard indexes.
	if _, err := models.LoadStore(ctx, st); err != nil {
		t.Fatal(err)
	}
	if _, err := models.MergeShards(ctx, st); err != nil {
		t.Fatal(err)
	}
	got := readTree(t, sharded)
	for k := range got {
		if strings.HasPrefix(k, "index-shard-") {
			delete(got, k)
		}
	}
	want := readTree(t, one)
	if len(want) < 6 || !reflect.DeepEqual(got, want) {
		for k := range want {
			if !bytes.Equal(got[k], want[k]) {
				t.Errorf("%s differs", k)
			}
		}
		t.Fatalf("sharded bundle differs from one run (%d vs %d files)", len(got), len(want))
	}
	// A missing shard is an error naming it.
	os.Remove(filepath.Join(sharded, models.IndexFile))
	os.Remove(filepath.Join(sharded, models.ShardIndexFile(1, n)))
	if _, err := models.LoadStore(ctx, st); err == nil || !strings.Contains(err.Error(), models.ShardIndexFile(1, n)) {
		t.Fatalf("missing shard: %v", err)
	}
}

func TestBundleKneserNey(t *testing.T) {
	events, _ := synth.Generate(synth.Options{Seed: 6, Minutes: 30, Rate: 0.3, Sequence: true})
	ms, _, err := models.TrainScan(context.Background(), models.RunConfig{Train: models.TrainConfig{Smoothing: models.SmoothKneserNey}}, features.SliceScan(events))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeBundle(t, dir, ms, 0, 1)
	b, err := models.Load(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	ws, _, _ := features.Extract(features.Config{}, events)
	for _, m := range ms {
		if m.Sequence == nil || m.Sequence.Smoothing != models.SmoothKneserNey {
			t.Fatalf("%s: smoothing not kept", m.Workload)
		}
		lm := b.Workload(m.Workload)
		for _, w := range ws {
			if w.Workload == m.Workload && !reflect.DeepEqual(m.Score(w), lm.Score(w)) {
				t.Fatalf("%s: Kneser-Ney model scores differently after loading", m.Workload)
			}
		}
	}
	if _, _, err := models.TrainScan(context.Background(), models.RunConfig{Train: models.TrainConfig{Smoothing: "laplace"}}, features.SliceScan(events)); err == nil {
		t.Fatal("unknown smoothing accepted")
	}
}
