package intel

import (
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/benign-domains.txt")

// The corpus the default model learns from is written to testdata so a reader
// can see it; the test fails if the generator drifts from the checked-in copy.
func TestBenignCorpusGolden(t *testing.T) {
	got := strings.Join(BenignCorpus(500, 1), "\n") + "\n"
	p := filepath.Join("testdata", "benign-domains.txt")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -run Golden -update ./scorer/intel)", err)
	}
	if string(want) != got {
		t.Fatal("BenignCorpus changed; rerun with -update and review the diff")
	}
}

func TestDGASeparatesHeldOutNames(t *testing.T) {
	m := DefaultDGA()
	// Held out: a different seed than training, and random labels drawn
	// from a different generator state.
	benign := BenignCorpus(2000, 99)
	r := rand.New(rand.NewPCG(42, 43))
	fp, tp := 0, 0
	for _, d := range benign {
		if m.Score(d) >= 0.95 {
			fp++
		}
	}
	for range 2000 {
		if m.Score(randomLabel(r)+".com") >= 0.95 {
			tp++
		}
	}
	fpr, tpr := float64(fp)/2000, float64(tp)/2000
	t.Logf("threshold 0.95: false positive rate %.4f, true positive rate %.4f", fpr, tpr)
	if fpr > 0.01 || tpr < 0.8 {
		t.Errorf("DGA model does not separate: fpr %.4f tpr %.4f", fpr, tpr)
	}
	for _, d := range []string{"www.google.com", "github.com", "api.stripe.com", "weather.co.uk", "s3.amazonaws.com", "db.internal", "10.in-addr.arpa"} {
		if s := m.Score(d); s >= 0.95 {
			t.Errorf("%s scores %.3f, want benign", d, s)
		}
	}
	for _, d := range []string{"xjq3kz9vbw0p.com", "qwkfhzjxpl.net", "a3f9c0d1e8b7a6f5.info", "vbz8x2kq4tmw.org"} {
		if s := m.Score(d); s < 0.95 {
			t.Errorf("%s scores %.3f, want DGA-like", d, s)
		}
	}
}

func BenchmarkDGAScore(b *testing.B) {
	m := DefaultDGA()
	names := []string{"api.stripe.com", "xjq3kz9vbw0p.com", "cdn.greenfield-market.io"}
	for i := 0; b.Loop(); i++ {
		m.Score(names[i%len(names)])
	}
}
