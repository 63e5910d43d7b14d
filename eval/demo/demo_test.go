package demo

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The synthetic demo runs every stage and says plainly that it is synthetic.
func TestSyntheticDemo(t *testing.T) {
	var out bytes.Buffer
	dir := t.TempDir()
	rdir, err := Run(context.Background(), Options{Dir: dir, Synthetic: true, Out: &out})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	s := out.String()
	for _, want := range []string{"[1/5]", "[5/5]", "SYNTHETIC", "Time-based split", ">>> ", "Open the report: file://"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	for _, f := range []string{"index.html", "report.json", "findings.jsonl", "windows.csv"} {
		if _, err := os.Stat(filepath.Join(rdir, f)); err != nil {
			t.Error(err)
		}
	}
}

// The real demo, shortened: needs root, Docker and BPF, so it runs when CI
// asks for both (VIGIL_REQUIRE_DOCKER=1 and VIGIL_REQUIRE_BPF=1) and fails
// then if the machine cannot do it.
func TestRealDemoShort(t *testing.T) {
	if os.Getenv("VIGIL_REQUIRE_DOCKER") == "" || os.Getenv("VIGIL_REQUIRE_BPF") == "" {
		t.Skip("the real demo needs Docker and BPF: set VIGIL_REQUIRE_DOCKER=1 VIGIL_REQUIRE_BPF=1")
	}
	if why := preflight(context.Background()); why != "" {
		t.Fatalf("cannot run the real demo: %s", why)
	}
	var out bytes.Buffer
	rdir, err := Run(context.Background(), Options{Dir: t.TempDir(), Out: &out, BenignDuration: 75 * time.Second,
		AttackDuration: 30 * time.Second, Attacks: []string{"reverse-shell-nc", "sensitive-file-passwd"}})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	s := out.String()
	if strings.Contains(s, "SYNTHETIC") || !strings.Contains(s, "[6/6] Done") {
		t.Fatalf("real demo fell back or did not finish:\n%s", s)
	}
	if !strings.Contains(s, "reverse-shell-nc             detected") {
		t.Errorf("the reverse shell was not detected:\n%s", s)
	}
	if _, err := os.Stat(filepath.Join(rdir, "index.html")); err != nil {
		t.Error(err)
	}
	t.Log(s)
}
