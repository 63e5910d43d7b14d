package catalog

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/datasets/importer"
	"github.com/vigilsec/vigil/trace/lake"
)

// An import into a real lake, then the report over it.
func TestSummarizeImportedADFA(t *testing.T) {
	src := t.TempDir()
	files := map[string]string{
		"Training_Data_Master/UTD-0001.txt":                  "5 3 3 4 6\n",
		"Training_Data_Master/UTD-0002.txt":                  "5 3 6\n",
		"Attack_Data_Master/Adduser_1/UAD-Adduser-1-1.txt":   "11 5 4 6\n",
		"Attack_Data_Master/Adduser_2/UAD-Adduser-2-1.txt":   "11 5 4 6 1\n",
		"Attack_Data_Master/Meterpreter_1/UAD-Meter-1-1.txt": "102 102 11\n",
	}
	for p, c := range files {
		full := filepath.Join(src, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	l, err := lake.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	w, err := l.NewWriter(lake.WriterConfig{Host: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := importer.ImportADFA(ctx, src, w, l.Store()); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := Summarize(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rows != 20 || rep.Labels != 5 || rep.BadFiles != 0 || len(rep.Scenarios) != 3 {
		t.Fatalf("report %+v", rep)
	}
	var adduser *Scenario
	for _, s := range rep.Scenarios {
		if s.Name == "adfa-ld/attack/Adduser" {
			adduser = s
		}
	}
	if adduser == nil || adduser.Runs != 2 || adduser.ByKind["attack"] != 2 || adduser.Events != 9 || adduser.Attacks["Adduser"] != 2 {
		t.Fatalf("Adduser: %+v", adduser)
	}
	var out bytes.Buffer
	if err := rep.Print(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"traces: ", "20 events", "labels: 5 runs in 3 scenarios", "adfa-ld/training", "adfa-ld/attack/Meterpreter"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}
