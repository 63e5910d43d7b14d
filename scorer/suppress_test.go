package scorer

import (
	"strings"
	"testing"

	"github.com/vigilsec/vigil/scorer/finding"
	"github.com/vigilsec/vigil/scorer/rules"
)

func TestWildcard(t *testing.T) {
	for _, c := range []struct {
		pat, s string
		ok     bool
	}{
		{"Execution:*", "Execution:Runtime/ReverseShell", true}, {"*Shell", "Execution:Runtime/ReverseShell", true},
		{"/usr/*/nmap", "/usr/local/bin/nmap", true}, {"a?c", "abc", true}, {"a?c", "ac", false},
		{"web/*", "api/app", false}, {"*", "", true}, {"x", "xy", false},
	} {
		if got := finding.Wildcard(c.pat, c.s); got != c.ok {
			t.Errorf("Wildcard(%q, %q) = %v", c.pat, c.s, got)
		}
	}
}

func TestSuppressionsAndAggregation(t *testing.T) {
	evs := app().exec(40, 7, "/usr/bin/nmap", "nmap", "127.0.0.1").exec(41, 7, "/usr/bin/nmap", "nmap", "10.0.0.1").
		exec(42, 7, "/usr/bin/masscan", "masscan", "10.0.0.0/8").evs
	set, _ := rules.Load(rules.DefaultSources(), rules.Options{})
	collect := func(cfg Config) (fs []*finding.Finding) {
		e, err := New(cfg, set, nil, SinkFunc(func(f *finding.Finding, update bool) { fs = append(fs, f) }))
		if err != nil {
			t.Fatal(err)
		}
		for i := range evs {
			e.Process(&evs[i])
		}
		e.Flush()
		return fs
	}
	// Two nmap runs aggregate into one finding (count 2, reported again at
	// flush); masscan is another key.
	got := collect(Config{})
	counts := map[string]int64{}
	for _, f := range got {
		counts[f.Service.Detection.Key] = f.Service.Count
	}
	if counts["/usr/bin/nmap"] != 2 || counts["/usr/bin/masscan"] != 1 {
		t.Fatalf("counts %v", counts)
	}
	sup := Suppression{Name: "scanner-allowed", Match: map[string]string{
		"type": "Execution:Runtime/SuspiciousTool", "service.runtimeDetails.process.executablePath": "*/nmap",
		"resource.ecsClusterDetails.taskDetails.family": "web",
	}}
	if err := sup.Validate(); err != nil {
		t.Fatal(err)
	}
	got = collect(Config{Suppressions: []Suppression{sup}})
	if len(got) != 1 || got[0].Service.Detection.Key != "/usr/bin/masscan" {
		t.Fatalf("suppression left %d findings", len(got))
	}
	sup.MaxSeverity = 2 // SuspiciousTool is medium: no longer suppressed
	if got = collect(Config{Suppressions: []Suppression{sup}}); len(got) < 2 {
		t.Fatalf("max_severity ignored: %d findings", len(got))
	}
	bad := Suppression{Name: "typo", Match: map[string]string{"service.runtimeDetails.proces.pid": "1"}}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "proces.pid") {
		t.Fatalf("bad field accepted: %v", err)
	}
}
