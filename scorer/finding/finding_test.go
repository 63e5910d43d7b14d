package finding

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/trace"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func evilEvent() *trace.Event {
	return &trace.Event{
		Time: t0.UnixNano(), Host: "ip-10-0-0-1", Kind: trace.KindExec, PID: 42, Comm: "sh\x1b[31m",
		ExePath: "/bin/sh", Argv: []string{"sh", "-c", "echo pwned\n\x1b]0;title\x07"}, ProcUUID: "u1",
		ContainerID: "abc123", Image: "123.dkr.ecr.us-east-1.amazonaws.com/web:1.2", ContainerName: "ecs-web-1-app",
		Cluster: "prod", TaskARN: "arn:aws:ecs:us-east-1:123456789012:task/prod/0f1e2d", TaskFamily: "web", TaskRevision: "7",
		ECSContainerName: "app", LaunchType: "EC2", Workload: "web/app",
	}
}

func sample() *Finding {
	ev := evilEvent()
	p := ProcessFromEvent(ev)
	p.Lineage = []Process{{Name: "node", ExecutablePath: "/usr/bin/node", Pid: 7}, {Name: "tini", ExecutablePath: "/tini", Pid: 1}}
	return &Finding{
		SchemaVersion: SchemaVersion, ID: ID("web/app", "Execution:Runtime/ReverseShell", "/bin/sh"),
		AccountID: "123456789012", Region: "us-east-1", Type: "Execution:Runtime/ReverseShell", Severity: 8,
		Title:       Safe("Reverse shell: "+p.CommandLine, 256),
		Description: Safe("Process "+p.Name+" ran "+p.CommandLine, 1024),
		CreatedAt:   t0, UpdatedAt: t0, Resource: ResourceFromEvent(ev),
		Service: Service{ServiceName: "vigil", FeatureName: "RuntimeMonitoring", EventFirstSeen: t0, EventLastSeen: t0, Count: 1,
			RuntimeDetails: RuntimeDetails{Process: p, Context: ContextFromEvent(ev)},
			Detection:      Detection{Source: "rule", RuleID: "reverse_shell_command", Key: "/bin/sh"}, Workload: "web/app"},
	}
}

func TestAttackerStringsAreEscapedEverywhere(t *testing.T) {
	f := sample()
	asff := ToASFF(f, ASFFConfig{AccountID: "123456789012", Region: "us-east-1"})
	ocsf := ToOCSF(f, false)
	for name, v := range map[string]any{"finding": f, "asff": asff, "ocsf": ocsf} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var decoded any
		json.Unmarshal(b, &decoded)
		var walk func(any)
		walk = func(x any) {
			switch x := x.(type) {
			case string:
				for _, r := range x {
					if r < 0x20 || r == 0x7f {
						t.Errorf("%s: control character %q survives in %q", name, r, x)
					}
				}
			case map[string]any:
				for _, y := range x {
					walk(y)
				}
			case []any:
				for _, y := range x {
					walk(y)
				}
			}
		}
		walk(decoded)
	}
	if !strings.Contains(f.Title, `echo pwned\n\x1b]0;title\x07`) {
		t.Errorf("title does not show the escaped bytes: %s", f.Title)
	}
}

func TestResourceCarriesECSAndContainer(t *testing.T) {
	f := sample()
	r := f.Resource
	if r.ResourceType != "ECSCluster" || r.EcsClusterDetails.Name != "prod" ||
		r.EcsClusterDetails.Arn != "arn:aws:ecs:us-east-1:123456789012:cluster/prod" ||
		r.EcsClusterDetails.TaskDetails.Containers[0].Name != "app" || r.ContainerDetails.ImagePrefix != "123.dkr.ecr.us-east-1.amazonaws.com/web" {
		b, _ := json.MarshalIndent(r, "", " ")
		t.Errorf("resource: %s", b)
	}
}

func TestASFFRequiredFieldsAndLimits(t *testing.T) {
	f := sample()
	a := ToASFF(f, ASFFConfig{AccountID: "123456789012", Region: "us-east-1"})
	b, _ := json.Marshal(a)
	var m map[string]any
	json.Unmarshal(b, &m)
	for _, k := range []string{"AwsAccountId", "CreatedAt", "Description", "GeneratorId", "Id", "ProductArn", "Resources", "SchemaVersion", "Severity", "Title", "Types", "UpdatedAt"} {
		if m[k] == nil || m[k] == "" {
			t.Errorf("ASFF lacks required %s", k)
		}
	}
	if a.Types[0] != "TTPs/Execution/Execution:Runtime-ReverseShell" || a.Severity.Label != "HIGH" || a.Severity.Normalized != 80 {
		t.Errorf("types %v severity %+v", a.Types, a.Severity)
	}
	if a.Resources[0].Type != "AwsEcsTask" || a.Resources[1].Type != "Container" {
		t.Errorf("resources %+v", a.Resources)
	}
	// A huge command line must not push the finding over 240 KB.
	f.Service.RuntimeDetails.Process.CommandLine = strings.Repeat("A", 300<<10)
	for i := 0; i < 200; i++ {
		f.Service.RuntimeDetails.Process.Lineage = append(f.Service.RuntimeDetails.Process.Lineage, Process{ExecutablePath: strings.Repeat("/x", 1000)})
	}
	a = ToASFF(f, ASFFConfig{AccountID: "123456789012", Region: "us-east-1"})
	b, _ = json.Marshal(a)
	if len(b) > ASFFMaxBytes || a.ProductFields["vigil/process/commandLine"] == "" && a.ProductFields["vigil/truncated"] != "true" {
		t.Errorf("ASFF is %d bytes (limit %d), truncated=%q", len(b), ASFFMaxBytes, a.ProductFields["vigil/truncated"])
	}
	batches := BatchASFF(make([]ASFF, 250))
	if len(batches) != 3 || len(batches[0]) != 100 || len(batches[2]) != 50 {
		t.Errorf("batches of 250: %d", len(batches))
	}
}

func TestOCSFDetectionFinding(t *testing.T) {
	o := ToOCSF(sample(), true)
	if o.ClassUID != 2004 || o.CategoryUID != 2 || o.TypeUID != 200402 || o.SeverityID != 4 || o.ActivityName != "Update" {
		t.Errorf("ocsf header %+v", o)
	}
	if p := o.Evidences[0].Process; p == nil || p.Parent == nil || p.Parent.Name != "node" || p.Parent.Parent.Name != "tini" {
		t.Errorf("lineage not in parent_process chain: %+v", p)
	}
}

func TestAggregatorCountsRepeatsAndRateLimits(t *testing.T) {
	a := NewAggregator(AggregatorConfig{UpdateInterval: time.Minute, RatePerMinute: 1, Burst: 2, MaxFindings: 100})
	occ := func(key string, at time.Time) *Finding {
		return &Finding{ID: ID("w", "T:R/x", key), Type: "T:R/x", CreatedAt: at, UpdatedAt: at,
			Service: Service{Workload: "w", Count: 1, EventFirstSeen: at, EventLastSeen: at}}
	}
	if _, o := a.Observe(occ("k", t0)); o != New {
		t.Fatal(o)
	}
	for i := 1; i <= 5; i++ {
		if _, o := a.Observe(occ("k", t0.Add(time.Duration(i)*time.Second))); o != Aggregated {
			t.Fatalf("repeat %d: %v", i, o)
		}
	}
	f, o := a.Observe(occ("k", t0.Add(61*time.Second)))
	if o != Updated || f.Service.Count != 7 || !f.Service.EventLastSeen.Equal(t0.Add(61*time.Second)) || !f.Service.EventFirstSeen.Equal(t0) {
		t.Fatalf("update: %v %+v", o, f)
	}
	a.Observe(occ("k", t0.Add(62*time.Second)))
	if got := a.Flush(t0.Add(63*time.Second), true); len(got) != 1 || got[0].Service.Count != 8 {
		t.Fatalf("flush: %v", got)
	}
	if got := a.Flush(t0.Add(64*time.Second), true); len(got) != 0 {
		t.Fatalf("second flush re-reported: %d", len(got))
	}
	// Burst 2 per (workload, type), refilled at one a minute: by 62s the
	// bucket is full again, k2 and k3 take both tokens, k4 is over the limit
	// until another minute passes.
	for _, k := range []string{"k2", "k3"} {
		if _, o := a.Observe(occ(k, t0.Add(62*time.Second))); o != New {
			t.Fatalf("%s: %v", k, o)
		}
	}
	if _, o := a.Observe(occ("k4", t0.Add(62*time.Second))); o != RateLimited {
		t.Fatalf("k4: %v", o)
	}
	if _, o := a.Observe(occ("k4", t0.Add(130*time.Second))); o != New {
		t.Fatalf("k4 after refill: %v", o)
	}
}

func TestAggregatorIsBounded(t *testing.T) {
	a := NewAggregator(AggregatorConfig{MaxFindings: 50, RatePerMinute: 1e9, Burst: 1e9})
	for i := 0; i < 1000; i++ {
		at := t0.Add(time.Duration(i) * time.Second)
		a.Observe(&Finding{ID: ID("w", "T:R/x", string(rune(i))), Type: "T:R/x", Service: Service{Workload: "w", Count: 1, EventFirstSeen: at, EventLastSeen: at}})
	}
	if a.Len() > 50 || a.Evicted == 0 {
		t.Errorf("len %d evicted %d", a.Len(), a.Evicted)
	}
}

// TestFlushMatchesScanOfAllFindings pins Flush, which only visits findings
// with unreported repeats, to the plain rule of looking at every finding
// remembered, through updates, forced flushes and evictions.
func TestFlushMatchesScanOfAllFindings(t *testing.T) {
	cfg := AggregatorConfig{UpdateInterval: time.Minute, MaxFindings: 20, RatePerMinute: 1e9, Burst: 1e9}
	a, ref := NewAggregator(cfg), NewAggregator(cfg)
	scanAll := func(now time.Time, force bool) []*Finding {
		var out []*Finding
		for _, e := range ref.entries {
			if e.f.Service.Count == e.emitedCount || (!force && now.Sub(e.lastEmit) < ref.cfg.UpdateInterval) {
				continue
			}
			e.lastEmit, e.emitedCount = now, e.f.Service.Count
			snap := *e.f
			out = append(out, &snap)
		}
		slices.SortFunc(out, func(x, y *Finding) int {
			return cmp.Or(x.Service.EventFirstSeen.Compare(y.Service.EventFirstSeen), strings.Compare(x.ID, y.ID))
		})
		return out
	}
	summary := func(fs []*Finding) string {
		var b strings.Builder
		for _, f := range fs {
			fmt.Fprintf(&b, "%s:%d:%v ", f.ID[:8], f.Service.Count, f.Service.EventLastSeen.Unix())
		}
		return b.String()
	}
	r := rand.New(rand.NewPCG(3, 3))
	flushed := 0
	for i := 0; i < 20000; i++ {
		now := t0.Add(time.Duration(i) * time.Second)
		if r.IntN(10) == 0 {
			force := r.IntN(5) == 0
			got, want := summary(a.Flush(now, force)), summary(scanAll(now, force))
			if got != want {
				t.Fatalf("step %d: Flush %s, scan of all %s", i, got, want)
			}
			flushed += len(got)
			continue
		}
		key := fmt.Sprint("k", r.IntN(30))
		occ := func() *Finding {
			return &Finding{ID: ID("w", "T:R/x", key), Type: "T:R/x", Service: Service{Workload: "w", Count: 1, EventFirstSeen: now, EventLastSeen: now}}
		}
		f1, o1 := a.Observe(occ())
		f2, o2 := ref.Observe(occ())
		if o1 != o2 || (f1 == nil) != (f2 == nil) {
			t.Fatalf("step %d: Observe %v, reference %v", i, o1, o2)
		}
	}
	if flushed == 0 || a.Evicted == 0 {
		t.Fatalf("flushed %d, evicted %d: the comparison did not exercise flushing and eviction", flushed, a.Evicted)
	}
}
