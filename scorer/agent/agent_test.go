package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/features"
	"github.com/vigilsec/vigil/features/synth"
	"github.com/vigilsec/vigil/internal/blob"
	"github.com/vigilsec/vigil/models"
	"github.com/vigilsec/vigil/scorer/finding"
	"github.com/vigilsec/vigil/scorer/output"
	"github.com/vigilsec/vigil/trace"
	"github.com/vigilsec/vigil/trace/lake"
	"github.com/vigilsec/vigil/trace/lake/laketest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestConfigErrorsNameTheProblem(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ yaml, want string }{
		{"listen: 127.0.0.1:1\noutputz: {}\n", "line 2"},
		{"suppressions:\n  - name: x\n    match: {service.nosuch: y}\n", "service.nosuch"},
		{"response:\n  policies:\n    - name: all\n      actions: [kill]\n", "would match every finding"},
		{"outputs:\n  stdout: {format: xml}\n", `"xml"`},
	} {
		p := filepath.Join(dir, "agent.yaml")
		os.WriteFile(p, []byte(c.yaml), 0o644)
		if _, err := Load(p); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("config %q: error %v, want one naming %s and %q", c.yaml, err, p, c.want)
		}
	}
}

// readFindings reads the JSON lines of the findings file.
func readFindings(t *testing.T, path string) []finding.Finding {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []finding.Finding
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var x finding.Finding
		if err := json.Unmarshal(sc.Bytes(), &x); err != nil {
			t.Fatal(err)
		}
		out = append(out, x)
	}
	return out
}

func fileConfig(dir string) Config {
	c := Default()
	c.Outputs.Stdout = nil
	c.Outputs.File = &struct {
		Path     string        `yaml:"path"`
		MaxBytes int64         `yaml:"max_bytes"`
		Keep     int           `yaml:"keep"`
		Format   output.Format `yaml:"format"`
	}{Path: filepath.Join(dir, "findings.jsonl")}
	c.Outputs.Queue.Linger = time.Millisecond
	return c
}

const goodRule = `
- rule: custom_tool
  name: Custom tool
  type: Execution:Runtime/SuspiciousTool
  severity: 6
  condition: kind == "exec" and proc.exe_name == "frobnicate"
`

func execEvent(exe string) *trace.Event {
	return &trace.Event{Time: time.Now().UnixNano(), Kind: trace.KindExec, PID: 42, ProcUUID: "u42", Comm: "x", ExePath: exe,
		Argv: []string{exe}, ContainerID: "c1", Image: "web:1", TaskFamily: "web", ContainerName: "app", Cluster: "prod",
		TaskARN: "arn:aws:ecs:us-east-1:1:task/prod/t1"}
}

func TestRulesHotReloadKeepsLastGood(t *testing.T) {
	dir := t.TempDir()
	rulesDir := filepath.Join(dir, "rules")
	os.MkdirAll(rulesDir, 0o755)
	os.WriteFile(filepath.Join(rulesDir, "custom.yaml"), []byte(goodRule), 0o644)
	cfg := fileConfig(dir)
	cfg.Rules.Dirs = []string{rulesDir}
	a, err := New(context.Background(), cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	// Break the file: the rule keeps its last good version, health says so.
	os.WriteFile(filepath.Join(rulesDir, "custom.yaml"), []byte("- rule: custom_tool\n  name: [oops\n"), 0o644)
	if err := a.ReloadRules(); err == nil {
		t.Fatal("broken rules file not reported")
	}
	h := a.Health()
	if h.Status != "degraded" || !strings.Contains(h.Loads["rules"].Error, "custom.yaml") {
		t.Fatalf("health %+v", h.Loads)
	}
	a.Process(execEvent("/usr/bin/frobnicate"))
	a.Process(execEvent("/usr/bin/nmap")) // default pack still loaded
	// A new, good version replaces it.
	os.WriteFile(filepath.Join(rulesDir, "custom.yaml"), []byte(strings.ReplaceAll(goodRule, "frobnicate", "wibble")), 0o644)
	if err := a.ReloadRules(); err != nil {
		t.Fatal(err)
	}
	a.Process(execEvent("/usr/bin/frobnicate"))
	// No model bundle: the workload is scored by rules only and reported as
	// learning.
	if cov := a.Health().Coverage; cov.Containers != 1 || len(cov.Learning) != 1 || cov.Learning[0] != "web/app" || len(cov.WithModel) != 0 {
		t.Fatalf("coverage %+v", cov)
	}
	if a.Health().Status != "ok" {
		t.Fatalf("health after fix: %+v", a.Health().Loads)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	var rulesHit []string
	for _, f := range readFindings(t, filepath.Join(dir, "findings.jsonl")) {
		rulesHit = append(rulesHit, f.Service.Detection.RuleID+":"+f.Service.Detection.Key)
	}
	want := "custom_tool:/usr/bin/frobnicate,suspicious_tool:/usr/bin/nmap"
	if strings.Join(rulesHit, ",") != want {
		t.Fatalf("findings %v, want %s (the second frobnicate after the fix must not match)", rulesHit, want)
	}
}

// trainBundle trains baselines on synthetic benign traffic and writes the
// bundle to dir.
func trainBundle(t *testing.T, dir string) {
	events, _ := synth.Generate(synth.Options{Seed: 1, Minutes: 240, Instances: 2})
	ms, _, err := models.TrainScan(context.Background(), models.RunConfig{}, features.SliceScan(events))
	if err != nil {
		t.Fatal(err)
	}
	st, err := blob.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := models.Write(context.Background(), st, ms, 0, 1); err != nil {
		t.Fatal(err)
	}
}

func TestModelsScoreAndBrokenBundleKeepsState(t *testing.T) {
	dir := t.TempDir()
	bundle := filepath.Join(dir, "models")
	trainBundle(t, bundle)
	cfg := fileConfig(dir)
	cfg.Models.Root = bundle
	a, err := New(context.Background(), cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if h := a.Health(); h.Loads["models"].Error != "" {
		t.Fatalf("models: %+v", h.Loads["models"])
	}
	// Attack traffic of the same workloads, later in time.
	events, labels := synth.Generate(synth.Options{Seed: 7, Minutes: 60, Instances: 1, AttackEvery: 15,
		Start: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)})
	if len(labels) == 0 {
		t.Fatal("no attacks generated")
	}
	for i := range events {
		a.Process(&events[i])
	}
	cov := a.Health().Coverage
	// Break the bundle: the reload fails, the agent keeps scoring with the
	// bundle it has.
	os.WriteFile(filepath.Join(bundle, models.IndexFile), []byte("{not json"), 0o644)
	if err := a.reloadModels(context.Background()); err == nil {
		t.Fatal("broken bundle not reported")
	}
	if a.models.Get() == nil || a.Health().Status != "degraded" {
		t.Fatal("broken bundle dropped the loaded models or was not reported")
	}
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{"vigil_scorer_events_total", "vigil_findings_total", "vigil_scorer_event_seconds", "vigil_reload_ok{what=\"models\"} 0", "go_memstats_heap_alloc_bytes"} {
		if !strings.Contains(string(body), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if len(cov.WithModel) == 0 {
		t.Fatalf("coverage %+v: no workload scored with a model", cov)
	}
	types := map[string]int{}
	for _, f := range readFindings(t, filepath.Join(dir, "findings.jsonl")) {
		types[f.Type]++
		if strings.HasPrefix(f.Type, "Anomaly:") && (f.Service.Evidence == nil || f.Service.Evidence.Score <= 0) {
			t.Errorf("anomaly finding without evidence: %+v", f)
		}
	}
	anomalies := 0
	for ty, n := range types {
		if strings.HasPrefix(ty, "Anomaly:") {
			anomalies += n
		}
	}
	t.Logf("finding types: %v", types)
	if anomalies == 0 {
		t.Fatalf("no anomaly findings from attack windows: %v", types)
	}
}

// TestAutoSuppression: a rule finding about something the workload's
// baseline has learned as normal is dropped when auto-suppression is on.
func TestAutoSuppression(t *testing.T) {
	dir := t.TempDir()
	bundle := filepath.Join(dir, "models")
	trainBundle(t, bundle)
	rulesDir := filepath.Join(dir, "rules")
	os.MkdirAll(rulesDir, 0o755)
	os.WriteFile(filepath.Join(rulesDir, "curl.yaml"), []byte(`
- rule: curl_in_container
  name: curl executed
  type: Execution:Runtime/SuspiciousTool
  severity: 4
  condition: kind == "exec" and proc.exe_name == "curl"
`), 0o644)
	// Benign traffic of the trained workloads (another seed, later).
	events, _ := synth.Generate(synth.Options{Seed: 3, Minutes: 30, Instances: 1, Start: time.Date(2026, 2, 2, 0, 0, 0, 0, time.UTC)})
	count := func(auto bool) (n int, suppressed uint64) {
		cfg := fileConfig(t.TempDir())
		cfg.Models.Root = bundle
		cfg.Rules.Dirs = []string{rulesDir}
		cfg.AutoSuppress.Enabled = auto
		a, err := New(context.Background(), cfg, quiet)
		if err != nil {
			t.Fatal(err)
		}
		for i := range events {
			ev := events[i]
			a.Process(&ev)
		}
		suppressed = a.Engine.Stats().AutoSuppressed
		a.Close()
		for _, f := range readFindings(t, cfg.Outputs.File.Path) {
			if f.Service.Detection.RuleID == "curl_in_container" {
				n++
			}
		}
		return n, suppressed
	}
	off, _ := count(false)
	on, suppressed := count(true)
	if off == 0 {
		t.Fatal("the rule never fired; the test does not exercise auto-suppression")
	}
	if on != 0 || suppressed == 0 {
		t.Fatalf("auto-suppression on: %d findings, %d suppressed (off: %d findings)", on, suppressed, off)
	}
}

// TestReplayMatchesDirectProcessing: events written to a lake and replayed
// raise the same findings as the same events processed directly.
func TestReplayMatchesDirectProcessing(t *testing.T) {
	dir := t.TempDir()
	events, _ := synth.Generate(synth.Options{Seed: 5, Minutes: 30, Instances: 1, AttackEvery: 10})
	root := filepath.Join(dir, "lake")
	l, err := lake.Open(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	laketest.Write(t, l, lake.WriterConfig{Host: "h1", Logger: quiet}, events)
	l.Close()

	summary := func(path string) []string {
		var out []string
		for _, f := range readFindings(t, path) {
			out = append(out, fmt.Sprintf("%s %s %d", f.Type, f.Service.Detection.Key, f.Service.Count))
		}
		sort.Strings(out)
		return out
	}
	direct := fileConfig(filepath.Join(dir, "direct"))
	a, err := New(context.Background(), direct, quiet)
	if err != nil {
		t.Fatal(err)
	}
	for i := range events {
		ev := events[i]
		a.Process(&ev)
	}
	a.Close()
	replayed := fileConfig(filepath.Join(dir, "replay"))
	b, err := New(context.Background(), replayed, quiet)
	if err != nil {
		t.Fatal(err)
	}
	n, err := b.Replay(context.Background(), root, lake.Query{})
	if err != nil || n != int64(len(events)) {
		t.Fatalf("replayed %d of %d events: %v", n, len(events), err)
	}
	b.Close()
	d, r := summary(direct.Outputs.File.Path), summary(replayed.Outputs.File.Path)
	if len(d) == 0 || strings.Join(d, "\n") != strings.Join(r, "\n") {
		t.Fatalf("direct:\n%s\nreplayed:\n%s", strings.Join(d, "\n"), strings.Join(r, "\n"))
	}
}

// TestLakeUploadAndModelSwap: with lake.root set every event is also
// written to the lake; a new good bundle replaces the loaded one on reload.
func TestLakeUploadAndModelSwap(t *testing.T) {
	dir := t.TempDir()
	bundle := filepath.Join(dir, "models")
	trainBundle(t, bundle)
	cfg := fileConfig(dir)
	cfg.Lake.Root = filepath.Join(dir, "lake")
	cfg.Models.Root = bundle
	a, err := New(context.Background(), cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	first := a.models.Get()
	if err := a.reloadModels(context.Background()); err != nil || a.models.Get() != first {
		t.Fatalf("an unchanged bundle was reloaded (err %v)", err)
	}
	// Retrain on other data and publish over the old bundle.
	events, _ := synth.Generate(synth.Options{Seed: 11, Minutes: 120, Instances: 1})
	ms, _, err := models.TrainScan(context.Background(), models.RunConfig{}, features.SliceScan(events))
	if err != nil {
		t.Fatal(err)
	}
	st, _ := blob.Open(context.Background(), bundle)
	if _, err := models.Write(context.Background(), st, ms, 0, 1); err != nil {
		t.Fatal(err)
	}
	if err := a.reloadModels(context.Background()); err != nil || a.models.Get() == first {
		t.Fatalf("new bundle not swapped in (err %v)", err)
	}
	for i := range events[:5000] {
		ev := events[i]
		a.Process(&ev)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	l, err := lake.Open(context.Background(), cfg.Lake.Root)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	n := 0
	if err := l.Scan(context.Background(), lake.Query{}, func(*trace.Event) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 5000 {
		t.Fatalf("lake holds %d of 5000 events", n)
	}
}

// The example configuration shipped in deploy/ must stay loadable.
func TestDeployExampleConfigLoads(t *testing.T) {
	c, err := Load(filepath.Join("..", "..", "deploy", "agent.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Outputs.EventBridge == nil || len(c.Response.Policies) != 1 || c.Collector.ProcRoot != "/host/proc" ||
		c.Aggregation.UpdateInterval != 15*time.Minute || len(c.Intel.Lists) != 3 {
		t.Fatalf("deploy/agent.yaml read as %+v", c)
	}
}
