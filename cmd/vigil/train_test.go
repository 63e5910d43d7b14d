package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/features/synth"
	"github.com/vigilsec/vigil/models"
)

func bundleFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".") || strings.HasPrefix(d.Name(), "index-shard-") {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[rel], _ = os.ReadFile(p)
		return nil
	})
	return out
}

// TestTrainCommand: vigil train over a lake, as one run and as two shards
// merged, gives the same bytes; ls and show describe it.
func TestTrainCommand(t *testing.T) {
	events, _ := synth.Generate(synth.Options{Seed: 11, Minutes: 45, Rate: 0.3, Sequence: true, Instances: 2})
	// Extra workload names so both shards get some.
	for i := range events {
		if i%4 == 0 {
			events[i].Workload += "-" + string(rune('a'+i%7))
		}
	}
	root := sampleLake(t, events)
	one := filepath.Join(t.TempDir(), "one")
	out, err := runVigil(t, "train", "--lake", root, "--out", one, "--workers", "2")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "web/nginx") || !strings.Contains(out, "wrote") {
		t.Fatalf("train output:\n%s", out)
	}
	sharded := filepath.Join(t.TempDir(), "sharded")
	for _, s := range []string{"0/2", "1/2"} {
		if out, err := runVigil(t, "train", "--lake", root, "--out", sharded, "--shard", s); err != nil {
			t.Fatalf("shard %s: %v\n%s", s, err, out)
		}
	}
	if out, err := runVigil(t, "models", "merge", sharded); err != nil {
		t.Fatalf("merge: %v\n%s", err, out)
	}
	a, b := bundleFiles(t, one), bundleFiles(t, sharded)
	if len(a) < 5 || len(a) != len(b) {
		t.Fatalf("%d files from one run, %d from shards", len(a), len(b))
	}
	for k := range a {
		if !bytes.Equal(a[k], b[k]) {
			t.Errorf("%s differs between one run and two shards", k)
		}
	}
	out, err = runVigil(t, "models", "ls", one)
	if err != nil || !strings.Contains(out, "worker/app") || !strings.Contains(out, "CONVERGED") {
		t.Fatalf("ls: %v\n%s", err, out)
	}
	out, err = runVigil(t, "models", "show", one, "web/nginx")
	if err != nil || !strings.Contains(out, "/usr/share/nginx/html/static/app.*.js") || !strings.Contains(out, "novelty.exe") {
		t.Fatalf("show: %v\n%s", err, out)
	}
	if _, err := runVigil(t, "models", "show", one, "nope"); err == nil {
		t.Fatal("show of an unknown workload succeeded")
	}
	if _, err := runVigil(t, "train", "--lake", root, "--out", t.TempDir(), "--workload", "nope"); err == nil || !strings.Contains(err.Error(), "nothing to train") {
		t.Fatalf("training nothing: %v", err)
	}
	if _, err := runVigil(t, "train", "--lake", root, "--out", one, "--shard", "2/2"); err == nil {
		t.Fatal("--shard 2/2 accepted")
	}
	os.WriteFile(filepath.Join(one, models.ModelFile("web/nginx")), []byte("{}"), 0o644)
	if _, err := runVigil(t, "models", "ls", one); err == nil || !strings.Contains(err.Error(), models.ModelFile("web/nginx")) {
		t.Fatalf("ls of a damaged bundle: %v", err)
	}
}
