package eval

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/datasets/label"
	"github.com/vigilsec/vigil/scorer/agent"
	"github.com/vigilsec/vigil/scorer/output"
	"github.com/vigilsec/vigil/trace"
	"github.com/vigilsec/vigil/trace/lake"
	"github.com/vigilsec/vigil/trace/lake/laketest"
)

// handLake is a small labelled lake written event by event:
//
//   - web/app container c-1: benign minutes, then an attack at 10:10:00
//     whose miner exec comes 2 s in (detected by rules, latency 2 s);
//   - c-2: an attack at 10:20:00 whose mining-pool DNS query comes 7 s in
//     (latency 7 s);
//   - c-3: an attack at 10:30:00 that only reads a file the app reads
//     anyway (missed);
//   - c-1 again at 10:40:00, outside every attack: the same pool lookup from
//     a benign process, which is one false finding.
//
// Rules only (no baselines), so every number is checkable by hand.
var handStart = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

type handGen struct {
	evs []trace.Event
	pid int32
}

func (g *handGen) ev(ctr string, at time.Duration, e trace.Event) {
	e.Time = handStart.Add(at).UnixNano()
	e.Host = "ip-10-0-1-5"
	e.ContainerID, e.Runtime, e.Image = ctr, "docker", "registry.local/web:1"
	e.ContainerName, e.TaskFamily, e.ECSContainerName, e.Cluster = "ecs-web-"+ctr, "web", "app", "prod"
	e.TaskARN = "arn:aws:ecs:us-east-1:123456789012:task/prod/" + ctr
	if e.PID == 0 {
		e.PID = 7
	}
	e.TID = e.PID
	if e.ProcUUID == "" {
		e.ProcUUID = fmt.Sprintf("%s-p%d", ctr, e.PID)
	}
	if e.Comm == "" {
		e.Comm = "node"
		e.ExePath = "/usr/local/bin/node"
	}
	e.Workload = trace.WorkloadKey(&e)
	g.evs = append(g.evs, e)
}

// benign is one minute of the app's usual activity in ctr.
func (g *handGen) benign(ctr string, minute int) {
	base := time.Duration(minute) * time.Minute
	for i := 0; i < 5; i++ {
		at := base + time.Duration(i)*10*time.Second + time.Duration(len(ctr))*time.Millisecond
		g.ev(ctr, at, trace.Event{Kind: trace.KindOpen, Path: "/srv/app/index.html", Syscall: 257})
		g.ev(ctr, at+time.Millisecond, trace.Event{Kind: trace.KindConnect, DstAddr: "10.0.2.9", DstPort: 5432, NetFamily: 2, NetProto: 6, Syscall: 42})
	}
}

func handDataset() ([]trace.Event, []*label.Run) {
	g := &handGen{}
	for m := 0; m < 50; m++ {
		for _, c := range []string{"c-1", "c-2", "c-3"} {
			g.benign(c, m)
		}
	}
	// r1: miner exec 2 s into the attack.
	g.ev("c-1", 10*time.Minute+2*time.Second, trace.Event{Kind: trace.KindExec, PID: 66, Comm: "xmrig", ExePath: "/tmp/xmrig",
		Argv: []string{"/tmp/xmrig", "-o", "stratum+tcp://pool.local:3333"}, Syscall: 59})
	// r2: pool lookup 7 s in.
	g.ev("c-2", 20*time.Minute+7*time.Second, trace.Event{Kind: trace.KindDNS, DNSName: "xmr.supportxmr.com", DNSType: 1})
	// r3: nothing a rule knows.
	g.ev("c-3", 30*time.Minute+3*time.Second, trace.Event{Kind: trace.KindOpen, Path: "/srv/app/index.html", Syscall: 257})
	// False: the pool lookup again, 10 minutes after every attack.
	g.ev("c-1", 40*time.Minute, trace.Event{Kind: trace.KindDNS, DNSName: "pool.supportxmr.com", DNSType: 1})
	slices.SortStableFunc(g.evs, func(a, b trace.Event) int { return int(a.Time - b.Time) })

	mk := func(id, ctr string, start time.Duration, expect ...string) *label.Run {
		s := handStart.Add(start)
		return &label.Run{Source: label.SourceScenario, Scenario: id, Kind: "attack", RunID: "run-" + id, Start: s, End: s.Add(time.Minute),
			Attack: &label.Attack{ID: id, Findings: expect, Start: s, End: s.Add(time.Minute), ContainerID: ctr}}
	}
	return g.evs, []*label.Run{
		mk("miner", "c-1", 10*time.Minute, "Impact:Runtime/CryptoMinerExecuted"),
		mk("pool-dns", "c-2", 20*time.Minute, "CryptoCurrency:Runtime/BitcoinTool.B!DNS"),
		mk("quiet", "c-3", 30*time.Minute, "Discovery:Runtime/SuspiciousCommand"),
		{Source: label.SourceScenario, Scenario: "web", Kind: "benign", RunID: "run-benign", Start: handStart, End: handStart.Add(50 * time.Minute)},
	}
}

func writeLake(t testing.TB, root string, evs []trace.Event, lbls []*label.Run) {
	t.Helper()
	ctx := context.Background()
	l, err := lake.Open(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	laketest.Write(t, l, lake.WriterConfig{Host: "test"}, evs)
	for _, r := range lbls {
		if err := label.Put(ctx, l.Store(), r); err != nil {
			t.Fatal(err)
		}
	}
}

// replayLabelled writes evs and lbls to a lake in dir, replays it rules only
// against the labels and writes the report to dir/report.
func replayLabelled(t *testing.T, dir string, evs []trace.Event, lbls []*label.Run) *Report {
	t.Helper()
	ctx := context.Background()
	root := filepath.Join(dir, "lake")
	writeLake(t, root, evs, lbls)
	rep, err := Run(ctx, RunOptions{Lake: root, Labels: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Write(ctx, filepath.Join(dir, "report")); err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestReplayHandLake(t *testing.T) {
	dir := t.TempDir()
	evs, lbls := handDataset()
	rep := replayLabelled(t, dir, evs, lbls)
	v := rep.Variants[0]
	if v.Replay.Events != int64(len(evs)) {
		t.Fatalf("replayed %d events, wrote %d", v.Replay.Events, len(evs))
	}
	ev := v.Evaluation
	if len(ev.Runs) != 3 || ev.Detected != 2 {
		t.Fatalf("runs %d detected %d: %+v", len(ev.Runs), ev.Detected, ev.Runs)
	}
	want := map[string]struct {
		detected bool
		latency  time.Duration
		typ      string
	}{
		"run-miner":    {true, 2 * time.Second, "Impact:Runtime/CryptoMinerExecuted"},
		"run-pool-dns": {true, 7 * time.Second, "CryptoCurrency:Runtime/BitcoinTool.B!DNS"},
		"run-quiet":    {false, 0, ""},
	}
	for _, r := range ev.Runs {
		w := want[r.RunID]
		if r.Detected != w.detected || r.Latency != w.latency {
			t.Errorf("%s: detected %v latency %v, want %v %v", r.RunID, r.Detected, r.Latency, w.detected, w.latency)
		}
		if w.detected && (!slices.Contains(r.Types, w.typ) || !slices.Equal(r.Detectors, []string{"rules"})) {
			t.Errorf("%s: types %v detectors %v", r.RunID, r.Types, r.Detectors)
		}
	}
	// 50 one-minute spans of web/app, each with at least one benign
	// instance: 50/60 h. One false finding: the 10:40 pool lookup.
	if len(ev.False) != 1 || ev.False[0].Workload != "web/app" || ev.False[0].False != 1 ||
		!same(Float(ev.False[0].Hours), 50.0/60, false) || !same(ev.False[0].PerHour, 1.2, false) {
		t.Fatalf("false findings %+v", ev.False)
	}
	for _, tm := range ev.ByType {
		if tm.Type == "CryptoCurrency:Runtime/BitcoinTool.B!DNS" {
			// Two reports: r2's (true) and 10:40's (false); one run expects it.
			if tm.Emitted != 2 || tm.TruePositives != 1 || tm.Precision != 0.5 || tm.ExpectedRuns != 1 || tm.Recall != 1 {
				t.Errorf("pool DNS: %+v", tm)
			}
		}
		if tm.Type == "Discovery:Runtime/SuspiciousCommand" && (tm.ExpectedRuns != 1 || tm.FoundRuns != 0 || tm.Recall != 0) {
			t.Errorf("quiet run's type: %+v", tm)
		}
	}
	if m := ev.Modes[1]; m.Mode != "baselines only" || m.Detected != 0 {
		t.Errorf("baselines only without baselines: %+v", m)
	}
	if !strings.HasPrefix(v.Discipline.Statement, "Rules only") || v.Discipline.Leakage {
		t.Errorf("discipline: %+v", v.Discipline)
	}
	// The findings files hold every emission, one JSON object a line.
	for _, name := range []string{"findings.jsonl", "findings.asff.jsonl", "findings.ocsf.jsonl"} {
		b, err := os.ReadFile(filepath.Join(dir, "report", name))
		if err != nil {
			t.Fatal(err)
		}
		if n := bytes.Count(b, []byte("\n")); n != len(v.res.Records) || n < 3 {
			t.Errorf("%s: %d lines, %d records", name, n, len(v.res.Records))
		}
	}
	var back Report
	b, err := os.ReadFile(filepath.Join(dir, "report", "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("report.json: %v", err)
	}
	if back.Variants[0].Evaluation.Detected != 2 {
		t.Fatalf("report.json round trip: %+v", back.Variants[0].Evaluation)
	}
}

// Replay and the agent's live path (agent.Process per event, the engine
// advanced on its tick) report identical findings for the same events:
// rules only on the hand lake (with a hostile process), rules and baselines
// on a synthetic one.
func TestReplayLiveParity(t *testing.T) {
	t.Run("rules", func(t *testing.T) {
		dir := t.TempDir()
		root := filepath.Join(dir, "lake")
		evs, lbls := handDataset()
		g := &handGen{evs: evs}
		g.ev("c-2", 45*time.Minute, trace.Event{Kind: trace.KindExec, PID: 99, Comm: "sh\x1b[31m", ExePath: "/tmp/xmrig",
			Argv: []string{"xmrig", "-o", "stratum+tcp://<script>alert(1)</script>:3333"}, Syscall: 59})
		writeLake(t, root, g.evs, lbls)
		n := checkParity(t, root, "")
		if n < 4 {
			t.Fatalf("only %d findings", n)
		}
	})
	t.Run("rules+baselines", func(t *testing.T) {
		dir := t.TempDir()
		root, mdir := filepath.Join(dir, "lake"), filepath.Join(dir, "models")
		ds, err := GenerateSynthetic(context.Background(), root, SyntheticOptions{Seed: 3, TrainMinutes: 120, TestMinutes: 30})
		if err != nil {
			t.Fatal(err)
		}
		trainLake(t, root, mdir, ds.Split)
		if n := checkParity(t, root, mdir); n < 10 {
			t.Fatalf("only %d findings", n)
		}
	})
}

// checkParity replays root and feeds the same events to an agent; it
// returns how many findings both reported.
func checkParity(t *testing.T, root, mdir string) int {
	t.Helper()
	ctx := context.Background()
	o := RunOptions{Lake: root, NoWindows: true, Engine: EngineConfig(agent.Default()), From: time.Unix(0, 1)}
	if mdir != "" {
		o.Models = []string{mdir}
	}
	rep, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	var replayed bytes.Buffer
	enc := output.Encoder{Format: output.FormatFinding}
	for _, r := range rep.Variants[0].res.Records {
		b, err := enc.Encode(r)
		if err != nil {
			t.Fatal(err)
		}
		replayed.Write(append(b, '\n'))
	}

	// The same events, in the lake's order, one at a time into an agent
	// writing a findings file.
	l, err := lake.Open(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	var evs []trace.Event
	if err := l.Scan(ctx, lake.Query{}, func(e *trace.Event) error { evs = append(evs, *e); return nil }); err != nil {
		t.Fatal(err)
	}
	l.Close()
	// One agent per host, as deployed; the timer ticks for all of them.
	agents := map[string]*agent.Agent{}
	var order []string
	files := map[string]string{}
	newAgent := func(host string) *agent.Agent {
		cfg := agent.Default()
		cfg.Outputs.Stdout = nil
		cfg.Listen = "127.0.0.1:0"
		cfg.Models.Root = mdir
		files[host] = filepath.Join(t.TempDir(), "live.jsonl")
		cfg.Outputs.File = &struct {
			Path     string        `yaml:"path"`
			MaxBytes int64         `yaml:"max_bytes"`
			Keep     int           `yaml:"keep"`
			Format   output.Format `yaml:"format"`
		}{Path: files[host]}
		a, err := agent.New(ctx, cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	tick := int64(DefaultTick)
	var next int64
	for i := range evs {
		a := agents[evs[i].Host]
		if a == nil {
			a = newAgent(evs[i].Host)
			agents[evs[i].Host] = a
			order = append(order, evs[i].Host)
		}
		a.Process(&evs[i])
		if tm := evs[i].Time; tm >= next {
			if next != 0 {
				for _, h := range order {
					agents[h].Engine.Advance(tm)
				}
			}
			next = tm - tm%tick + tick
		}
	}
	var live []byte
	for _, h := range order {
		if err := agents[h].Close(); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(files[h])
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		live = append(live, b...)
	}
	if hosts := rep.Variants[0].res.Hosts; hosts != len(order) {
		t.Fatalf("replay ran %d engines for %d hosts", hosts, len(order))
	}
	// Findings one Advance flushes share an event time and leave the
	// aggregator in map order (sorted by first-seen only), so order within
	// a flush may differ between any two runs; content may not.
	live, replayedB := sortedLines(live), sortedLines(replayed.Bytes())
	replayed.Reset()
	replayed.Write(replayedB)
	if replayed.Len() == 0 || !bytes.Equal(live, replayed.Bytes()) {
		ll, rl := strings.Split(string(live), "\n"), strings.Split(replayed.String(), "\n")
		i := 0
		for i < len(ll) && i < len(rl) && ll[i] == rl[i] {
			i++
		}
		t.Fatalf("live (%d lines) and replay (%d lines) differ at line %d:\nlive:\n%s\nreplay:\n%s", len(ll), len(rl), i+1,
			firstLines([]byte(strings.Join(ll[i:], "\n"))), firstLines([]byte(strings.Join(rl[i:], "\n"))))
	}
	n := bytes.Count(live, []byte("\n"))
	t.Logf("%d identical findings", n)
	return n
}

func sortedLines(b []byte) []byte {
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	slices.Sort(lines)
	return []byte(strings.Join(lines, "\n") + "\n")
}

func firstLines(b []byte) string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() && len(out) < 5 {
		out = append(out, sc.Text())
	}
	return strings.Join(out, "\n")
}

// A scenario's remote hosts (the label's infra container, outside the task)
// raise findings of their own: the evaluation counts them apart, never as
// false findings or detections, and windows.csv marks their windows.
func TestReplaySimulatedRemoteHosts(t *testing.T) {
	dir := t.TempDir()
	evs, lbls := handDataset()
	remote := "5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e"
	// The fake mining pool's container: no ECS labels, so the image is its
	// workload; a miner's name in its argv raises a rule finding.
	for m := 0; m < 50; m += 10 {
		e := trace.Event{Time: handStart.Add(time.Duration(m)*time.Minute + 30*time.Second).UnixNano(), Host: "ip-10-0-1-5",
			ContainerID: remote, Runtime: "docker", Image: "vigil-scenario:1", ContainerName: "vigil-miner-sim-remote-1",
			Kind: trace.KindExec, PID: int32(900 + m), Comm: "xmrig", ExePath: "/tmp/xmrig", Argv: []string{"/tmp/xmrig", "--help"}, Syscall: 59}
		e.TID, e.ProcUUID = e.PID, fmt.Sprintf("remote-p%d", e.PID)
		e.Workload = trace.WorkloadKey(&e)
		evs = append(evs, e)
	}
	slices.SortStableFunc(evs, func(a, b trace.Event) int { return int(a.Time - b.Time) })
	lbls[0].Containers = []label.Container{{Name: "web", ID: "c-1", Role: label.RoleWorkload}, {Name: "sim-remote", ID: remote, Role: label.RoleInfra}}
	ev := replayLabelled(t, dir, evs, lbls).Variants[0].Evaluation
	sim := ev.Simulated
	if sim.Containers != 1 || sim.Findings == 0 || sim.Windows != 5 || sim.ByType["Impact:Runtime/CryptoMinerExecuted"] != sim.Findings || sim.ByDetector["rules"] != sim.Findings {
		t.Errorf("simulated remote hosts: %+v", sim)
	}
	// What TestReplayHandLake found, unchanged: two of three runs, one
	// false finding on web/app alone.
	if ev.Detected != 2 || len(ev.False) != 1 || ev.False[0].Workload != "web/app" || ev.False[0].False != 1 {
		t.Errorf("detected %d, false findings %+v", ev.Detected, ev.False)
	}
	f, err := os.Open(filepath.Join(dir, "report", "windows.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	simulated := 0
	for _, r := range rows[1:] {
		isRemote := r[col["instance"]] == remote
		if got := r[col["simulated"]] == "true"; got != isRemote {
			t.Errorf("window %q simulated=%s", r, r[col["simulated"]])
		}
		if isRemote {
			simulated++
		}
	}
	if simulated != sim.Windows {
		t.Errorf("windows.csv: %d windows of the remote hosts, evaluation left out %d", simulated, sim.Windows)
	}
	html, err := os.ReadFile(filepath.Join(dir, "report", "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("Findings on simulated remote hosts (not judged): <b>%d</b>", sim.Findings); !strings.Contains(string(html), want) {
		t.Errorf("index.html does not say %q", want)
	}
}
