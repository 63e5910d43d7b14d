package eval

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/trace"
)

// trainLake trains a bundle on the lake's events before to, as vigil train
// does.
func trainLake(t testing.TB, root, out string, to time.Time) {
	t.Helper()
	if err := TrainLake(context.Background(), root, out, to); err != nil {
		t.Fatal(err)
	}
}

// The synthetic dataset end to end: generate, train on the first part,
// replay the rest with labels, write the report. Numbers here are about
// the pipeline (generated data), so only coarse bounds are asserted.
func TestSyntheticEndToEnd(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	root, mdir, rdir := filepath.Join(dir, "lake"), filepath.Join(dir, "models"), filepath.Join(dir, "report")
	ds, err := GenerateSynthetic(ctx, root, SyntheticOptions{Seed: 7, TrainMinutes: 180, TestMinutes: 40})
	if err != nil {
		t.Fatal(err)
	}
	trainLake(t, root, mdir, ds.Split)
	rep, err := Run(ctx, RunOptions{Lake: root, Models: []string{mdir}, Labels: true, WindowFeatures: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Write(ctx, rdir); err != nil {
		t.Fatal(err)
	}
	if !rep.Synthetic {
		t.Error("synthetic labels not flagged")
	}
	v := rep.Variants[0]
	// Replay started after training on its own: only test events.
	if v.Discipline.Leakage || v.Replay.Events != int64(ds.TestEvents) || v.Replay.From.Before(ds.Split) {
		t.Fatalf("split: %+v, replayed %d of %d test events", v.Discipline, v.Replay.Events, ds.TestEvents)
	}
	ev := v.Evaluation
	if len(ev.Runs) != ds.Attacks || len(ev.OutOfRange) != 0 {
		t.Fatalf("judged %d runs of %d (%d out of range)", len(ev.Runs), ds.Attacks, len(ev.OutOfRange))
	}
	var anyCurve *Curve
	for i := range ev.Curves {
		if ev.Curves[i].Name == "any" {
			anyCurve = &ev.Curves[i]
		}
	}
	// One window per attack is positive; the injected attacks are blatant.
	if anyCurve == nil || anyCurve.Positives != ds.Attacks || anyCurve.ROCAUC < 0.9 {
		t.Fatalf("any-detector curve: %+v", anyCurve)
	}
	if ev.Detected < ds.Attacks/2 {
		t.Fatalf("detected only %d of %d", ev.Detected, ds.Attacks)
	}
	html, err := os.ReadFile(filepath.Join(rdir, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`src="roc.png"`, `src="pr.png"`, `src="false-alarms.png"`, `src="timeline-0.png"`, "SYNTHETIC DATA", "Time-based split"} {
		if !bytes.Contains(html, []byte(want)) {
			t.Errorf("index.html lacks %s", want)
		}
	}
	for _, f := range []string{"roc.png", "roc.svg", "pr.png", "false-alarms.png", "timeline-0.png", "windows.csv", "report.json"} {
		if st, err := os.Stat(filepath.Join(rdir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	var back map[string]any
	b, _ := os.ReadFile(filepath.Join(rdir, "report.json"))
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	csv, _ := os.ReadFile(filepath.Join(rdir, "windows.csv"))
	if n := bytes.Count(csv, []byte("\n")); n != v.Replay.Windows+1 || !bytes.Contains(csv, []byte("feature:events")) {
		t.Errorf("windows.csv: %d lines for %d windows", n, v.Replay.Windows)
	}
}

// --compare replays the same traces with two bundles; a bundle trained on
// the test period is flagged as leakage.
func TestCompareAndLeakage(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	root, a, b := filepath.Join(dir, "lake"), filepath.Join(dir, "a"), filepath.Join(dir, "b")
	ds, err := GenerateSynthetic(ctx, root, SyntheticOptions{Seed: 11, TrainMinutes: 120, TestMinutes: 30})
	if err != nil {
		t.Fatal(err)
	}
	trainLake(t, root, a, ds.Split)
	trainLake(t, root, b, ds.Split.Add(-60*time.Minute))
	rep, err := Run(ctx, RunOptions{Lake: root, Models: []string{a, b}, Labels: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Variants) != 2 || rep.Variants[0].Replay.Events != rep.Variants[1].Replay.Events {
		t.Fatalf("variants: %d", len(rep.Variants))
	}
	rdir := filepath.Join(dir, "report")
	if err := rep.Write(ctx, rdir); err != nil {
		t.Fatal(err)
	}
	html, _ := os.ReadFile(filepath.Join(rdir, "index.html"))
	for _, want := range []string{"Comparison", `src="compare-roc.png"`, "A-findings.jsonl", "B-findings.jsonl"} {
		if !bytes.Contains(html, []byte(want)) {
			t.Errorf("index.html lacks %s", want)
		}
	}
	// Replaying from the start overlaps bundle A's training data.
	rep, err = Run(ctx, RunOptions{Lake: root, Models: []string{a}, From: time.Unix(0, 1), Labels: true, NoWindows: true})
	if err != nil {
		t.Fatal(err)
	}
	if d := rep.Variants[0].Discipline; !d.Leakage || !strings.HasPrefix(d.Statement, "LEAKAGE") {
		t.Fatalf("no leakage flagged: %+v", d)
	}
}

// Attacker-controlled strings reach the HTML page only escaped.
func TestReportEscapesHostileStrings(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	root := filepath.Join(dir, "lake")
	evs, lbls := handDataset()
	g := &handGen{evs: evs}
	g.ev("c-2", 45*time.Minute, trace.Event{Kind: trace.KindExec, PID: 99, Comm: "x", ExePath: "/tmp/.x/xmrig-notls",
		Argv: []string{"xmrig", "-o", "stratum+tcp://<script>alert(1)</script>:3333"}, Syscall: 59})
	g.ev("c-3", 46*time.Minute, trace.Event{Kind: trace.KindDNS, DNSName: `"><img src=x onerror=alert(2)>.supportxmr.com`, DNSType: 1})
	lbls[2].Workload = "<b>wl</b>"
	writeLake(t, root, g.evs, lbls)
	rep, err := Run(ctx, RunOptions{Lake: root, Labels: true})
	if err != nil {
		t.Fatal(err)
	}
	rdir := filepath.Join(dir, "report")
	if err := rep.Write(ctx, rdir); err != nil {
		t.Fatal(err)
	}
	html, _ := os.ReadFile(filepath.Join(rdir, "index.html"))
	for _, bad := range []string{"<script>alert", "<img src=x", "<b>wl"} {
		if bytes.Contains(html, []byte(bad)) {
			t.Errorf("index.html contains raw %q", bad)
		}
	}
	if !bytes.Contains(html, []byte("&lt;script&gt;alert(1)&lt;/script&gt;")) {
		t.Error("the hostile argv is not in the page at all")
	}
}

// The page renders in a real browser with its plots: headless Chromium
// screenshots it, and the screenshot must be a real image of the page.
func TestReportRendersInChromium(t *testing.T) {
	bin, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium not installed (scripts/deps.sh installs it)")
		}
		t.Skip("chromium not installed; run scripts/deps.sh")
	}
	ctx := context.Background()
	dir := t.TempDir()
	root, mdir, rdir := filepath.Join(dir, "lake"), filepath.Join(dir, "models"), filepath.Join(dir, "report")
	ds, err := GenerateSynthetic(ctx, root, SyntheticOptions{Seed: 5, TrainMinutes: 120, TestMinutes: 30})
	if err != nil {
		t.Fatal(err)
	}
	trainLake(t, root, mdir, ds.Split)
	rep, err := Run(ctx, RunOptions{Lake: root, Models: []string{mdir}, Labels: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Write(ctx, rdir); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "shot.png")
	dom := runChromium(t, bin, "--dump-dom", "file://"+filepath.Join(rdir, "index.html"))
	// Every plot the page references loaded: the DOM reports natural sizes
	// only through script, so check the files the img tags name exist.
	for _, img := range []string{"roc.png", "pr.png", "false-alarms.png", "timeline-0.png"} {
		if !strings.Contains(dom, `src="`+img+`"`) {
			t.Errorf("rendered DOM lacks %s", img)
		}
	}
	runChromium(t, bin, "--screenshot="+shot, "--window-size=1280,2400", "file://"+filepath.Join(rdir, "index.html"))
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	// A blank page is one colour; a rendered report with plots has many.
	colours := map[uint32]bool{}
	bnd := img.Bounds()
	for y := bnd.Min.Y; y < bnd.Max.Y; y += 7 {
		for x := bnd.Min.X; x < bnd.Max.X; x += 7 {
			r, g, b, _ := img.At(x, y).RGBA()
			colours[r>>11<<10|g>>11<<5|b>>11] = true
		}
	}
	if len(colours) < 20 {
		t.Fatalf("screenshot has %d colours: page did not render", len(colours))
	}
	if keep := os.Getenv("VIGIL_KEEP_SCREENSHOT"); keep != "" {
		data, _ := os.ReadFile(shot)
		os.WriteFile(keep, data, 0o644)
	}
}

func runChromium(t *testing.T, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	all := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--allow-file-access-from-files", "--user-data-dir=" + t.TempDir()}, args...)
	cmd := exec.CommandContext(ctx, bin, all...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, errb.String())
	}
	return out.String()
}
