package finding

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestGolden pins the JSON of a finding and its ASFF and OCSF forms: a
// change to any output's shape shows up as a reviewed diff of testdata/.
func TestGolden(t *testing.T) {
	f := sample()
	for name, v := range map[string]any{
		"finding.json": f,
		"asff.json":    ToASFF(f, ASFFConfig{AccountID: "123456789012", Region: "us-east-1"}),
		"ocsf.json":    ToOCSF(f, false),
	} {
		got, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, '\n')
		p := filepath.Join("testdata", name)
		if *update {
			os.MkdirAll("testdata", 0o755)
			if err := os.WriteFile(p, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("%v (go test ./scorer/finding -run Golden -update)", err)
		}
		if string(got) != string(want) {
			t.Errorf("%s changed; rerun with -update and review the diff:\n%s", name, got)
		}
	}
}
