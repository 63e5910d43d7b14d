package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// adfaLike writes a tree in ADFA-LD's layout whose normal traces follow one
// program's loop and whose attacks splice in a foreign burst (execve, socket
// calls), so the sequence models have something real to separate.
func adfaLike(t *testing.T) string {
	root := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	normal := func() string {
		var b strings.Builder
		for range 30 + rng.IntN(30) {
			loop := []int{5, 3, 3, 4, 6} // open read read write close (i386)
			if rng.IntN(4) == 0 {
				loop = []int{5, 3, 6, 45, 91} // open read close brk munmap
			}
			for _, nr := range loop {
				fmt.Fprintf(&b, "%d ", nr)
			}
		}
		return b.String()
	}
	put := func(rel, content string) {
		p := filepath.Join(root, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 20 {
		put(fmt.Sprintf("Training_Data_Master/UTD-%04d.txt", i), normal())
	}
	for i := range 10 {
		put(fmt.Sprintf("Validation_Data_Master/UVD-%04d.txt", i), normal())
		put(fmt.Sprintf("Attack_Data_Master/Web_Shell_%d/UAD-WS-%d.txt", i, i), normal()+" 102 102 11 63 63 11 "+normal())
	}
	return root
}

func TestDatasetEvalADFA(t *testing.T) {
	out, err := runVigil(t, "dataset", "eval-adfa", adfaLike(t), "--order", "3")
	if err != nil {
		t.Fatal(err, out)
	}
	for _, want := range []string{"trained on 20 traces", "10 normal and 10 attack", "Witten-Bell", "STIDE"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// The foreign burst is unseen by both: both must separate perfectly.
	if !strings.Contains(out, "Witten-Bell   AUC 1.000") || !strings.Contains(out, "STIDE                 AUC 1.000") {
		t.Errorf("expected perfect separation of the spliced attacks:\n%s", out)
	}
	if _, err := runVigil(t, "dataset", "eval-adfa", t.TempDir()); err == nil || !strings.Contains(err.Error(), "not an ADFA-LD directory") {
		t.Errorf("empty dir error = %v", err)
	}
}

func TestDatasetEvalSequencesNeedsCaptures(t *testing.T) {
	if _, err := runVigil(t, "dataset", "eval-sequences", "--lake", t.TempDir()); err == nil || !strings.Contains(err.Error(), "--split is required") {
		t.Errorf("no --split: err = %v", err)
	}
	_, err := runVigil(t, "dataset", "eval-sequences", "--lake", t.TempDir(), "--split", "2026-01-01")
	if err == nil || !strings.Contains(err.Error(), "vigil scenario run --sequence") {
		t.Errorf("empty lake: err = %v", err)
	}
}
