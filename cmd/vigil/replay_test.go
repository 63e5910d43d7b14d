package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/eval"
)

func TestReplayCommand(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	root, a, b := filepath.Join(dir, "lake"), filepath.Join(dir, "a"), filepath.Join(dir, "b")
	ds, err := eval.GenerateSynthetic(ctx, root, eval.SyntheticOptions{Seed: 2, TrainMinutes: 90, TestMinutes: 20})
	if err != nil {
		t.Fatal(err)
	}
	if err := eval.TrainLake(ctx, root, a, ds.Split); err != nil {
		t.Fatal(err)
	}
	if err := eval.TrainLake(ctx, root, b, ds.Split.Add(-30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(dir, "report")
	out, err := runVigil(t, "replay", "--lake", root, "--models", a, "--labels", "--report", report)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"Time-based split", "rules only", "baselines only", "SYNTHETIC", "report: file://"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, f := range []string{"report.json", "index.html", "findings.jsonl", "findings.asff.jsonl", "findings.ocsf.jsonl", "roc.png"} {
		if _, err := os.Stat(filepath.Join(report, f)); err != nil {
			t.Error(err)
		}
	}
	out, err = runVigil(t, "replay", "--lake", root, "--labels", "--report", filepath.Join(dir, "cmp"), "--compare", a, b)
	if err != nil || !strings.Contains(out, "A: ") || !strings.Contains(out, "B: ") {
		t.Fatalf("compare: %v\n%s", err, out)
	}
	// Bad input is named.
	if _, err := runVigil(t, "replay", "--lake", root, "--compare", a); err == nil || !strings.Contains(err.Error(), "two model bundles") {
		t.Errorf("--compare with one bundle: %v", err)
	}
	if _, err := runVigil(t, "replay", "--lake", root, "--models", filepath.Join(dir, "nope"), "--report", report); err == nil ||
		!strings.Contains(err.Error(), "nope") {
		t.Errorf("missing bundle: %v", err)
	}
	if _, err := runVigil(t, "replay", "--lake", t.TempDir(), "--labels", "--report", report); err == nil ||
		!strings.Contains(err.Error(), "no labels") {
		t.Errorf("no labels: %v", err)
	}
}
