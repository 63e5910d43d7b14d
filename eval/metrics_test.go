package eval

import (
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/vigilsec/vigil/models"
	meval "github.com/vigilsec/vigil/models/eval"
)

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func at(d string) time.Time {
	x, err := time.ParseDuration(d)
	if err != nil {
		panic(err)
	}
	return t0.Add(x)
}

// Three attack runs; two are detected, one is missed. Every expected number
// below was worked out by hand from this table.
func handRuns() []AttackRun {
	return []AttackRun{
		{RunID: "r0", Scenario: "miner", ContainerID: "c1", Workload: "web/app", Start: at("0s"), End: at("1m"), Expected: []string{"A", "B"}},
		{RunID: "r1", Scenario: "shell", ContainerID: "c2", Workload: "web/app", Start: at("10m"), End: at("11m"), Expected: []string{"A"}},
		{RunID: "r2", Scenario: "quiet", ContainerID: "c3", Workload: "web/app", Start: at("20m"), End: at("21m"), Expected: []string{"C"}},
	}
}

func rule(typ, ctr, wl string, t time.Time) Emission {
	return Emission{FindingID: typ + ctr + t.String(), Type: typ, Source: "rule", Detector: "R1", Workload: wl, Container: ctr, First: t, Last: t, At: t}
}

func handEmissions() []Emission {
	e1 := Emission{FindingID: "x", Type: "X", Source: "anomaly", Detector: "novelty.exe", Workload: "web/app", Container: "c1",
		First: at("0s"), Last: at("1m"), At: at("1m5s")}
	e3 := rule("A", "c2", "web/app", at("10m30s"))
	e3.Update, e3.First, e3.Last, e3.At = true, at("10m31s"), at("12m"), at("15m")
	e5 := Emission{FindingID: "y", Type: "B", Source: "anomaly", Detector: "rate", Workload: "db/pg", Container: "c4",
		First: at("20m"), Last: at("21m"), At: at("20m30s")}
	return []Emission{
		rule("A", "c1", "web/app", at("5s")),     // e0 -> r0, 5 s
		e1,                                       // e1 -> r0 (window overlaps), 65 s
		rule("A", "c2", "web/app", at("10m30s")), // e2 -> r1, 30 s
		e3,                                       // e3 -> r1 (update)
		rule("A", "c1", "web/app", at("-30m")),   // e4: before the attack: false
		e5,                                       // e5: other container: false
		rule("A", "c3", "web/app", at("21m10s")), // e6: after r2 ended: false (grace 0)
	}
}

func TestMatch(t *testing.T) {
	runs, ems := handRuns(), handEmissions()
	got := Match(runs, ems, 0)
	want := []int{0, 0, 1, 1, -1, -1, -1}
	if !slices.Equal(got, want) {
		t.Fatalf("match = %v, want %v", got, want)
	}
	// 15 s of grace brings the late rule finding into r2.
	if got := Match(runs, ems, 15*time.Second); got[6] != 2 {
		t.Fatalf("with grace, e6 -> %d, want 2", got[6])
	}
	// A run without a container matches on workload.
	noCtr := []AttackRun{{RunID: "w", Workload: "db/pg", Start: at("20m"), End: at("21m")}}
	if got := Match(noCtr, ems, 0); !slices.Equal(got, []int{-1, -1, -1, -1, -1, 0, -1}) {
		t.Fatalf("workload match = %v", got)
	}
}

func TestRuns(t *testing.T) {
	runs, ems := handRuns(), handEmissions()
	rr := Runs(runs, ems, Match(runs, ems, 0))
	r0, r1, r2 := rr[0], rr[1], rr[2]
	if !r0.Detected || r0.Latency != 5*time.Second || !r0.FirstAt.Equal(at("5s")) || r0.Findings != 2 {
		t.Errorf("r0 = %+v", r0)
	}
	if !slices.Equal(r0.Detectors, []string{"baseline:novelty.exe", "rules"}) || !slices.Equal(r0.Types, []string{"A", "X"}) ||
		!slices.Equal(r0.Missing, []string{"B"}) || !slices.Equal(r0.Rules, []string{"R1"}) {
		t.Errorf("r0 detectors %v types %v missing %v rules %v", r0.Detectors, r0.Types, r0.Missing, r0.Rules)
	}
	if r0.FirstBy["rules"] != 5*time.Second || r0.FirstBy["baseline:novelty.exe"] != 65*time.Second {
		t.Errorf("r0 latency by detector %v", r0.FirstBy)
	}
	if !r1.Detected || r1.Latency != 30*time.Second || r1.Findings != 2 || len(r1.Missing) != 0 {
		t.Errorf("r1 = %+v", r1)
	}
	if r2.Detected || r2.Latency != 0 || !slices.Equal(r2.Missing, []string{"C"}) || len(r2.Detectors) != 0 {
		t.Errorf("r2 = %+v", r2)
	}
}

func TestByType(t *testing.T) {
	runs, ems := handRuns(), handEmissions()
	got := ByType(runs, ems, Match(runs, ems, 0))
	type row struct {
		typ                     string
		emitted, tp, exp, found int
		precision, recall       Float
		precisionNaN, recallNaN bool
	}
	want := []row{
		{typ: "A", emitted: 4, tp: 2, exp: 2, found: 2, precision: 0.5, recall: 1},
		{typ: "B", emitted: 1, tp: 0, exp: 1, found: 0, precision: 0, recall: 0},
		{typ: "C", emitted: 0, tp: 0, exp: 1, found: 0, precisionNaN: true, recall: 0},
		{typ: "X", emitted: 1, tp: 1, exp: 0, found: 0, precision: 1, recallNaN: true},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d types: %+v", len(got), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Type != w.typ || g.Emitted != w.emitted || g.TruePositives != w.tp || g.ExpectedRuns != w.exp || g.FoundRuns != w.found {
			t.Errorf("%s: got %+v", w.typ, g)
		}
		if !same(g.Precision, w.precision, w.precisionNaN) || !same(g.Recall, w.recall, w.recallNaN) {
			t.Errorf("%s: precision %v recall %v", w.typ, g.Precision, g.Recall)
		}
	}
}

func same(got, want Float, wantNaN bool) bool {
	if wantNaN {
		return math.IsNaN(float64(got))
	}
	return math.Abs(float64(got-want)) < 1e-12
}

func TestFalseRates(t *testing.T) {
	runs, ems := handRuns(), handEmissions()
	got := FalseRates(ems, Match(runs, ems, 0), map[string]float64{"web/app": 2, "db/pg": 4, "idle/svc": 1})
	want := []WorkloadFalse{
		{Workload: "db/pg", Hours: 4, False: 1, PerHour: 0.25},
		{Workload: "idle/svc", Hours: 1, False: 0, PerHour: 0},
		{Workload: "web/app", Hours: 2, False: 2, PerHour: 1},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i, w := range want {
		g := got[i]
		if g.Workload != w.Workload || g.Hours != w.Hours || g.False != w.False || g.PerHour != w.PerHour {
			t.Errorf("got %+v, want %+v", g, w)
		}
	}
	if got[2].ByType["A"] != 2 || got[0].ByType["B"] != 1 {
		t.Errorf("by type: %v %v", got[2].ByType, got[0].ByType)
	}
}

func TestModes(t *testing.T) {
	runs, ems := handRuns(), handEmissions()
	got := Modes(runs, ems, 0, map[string]float64{"web/app": 2, "db/pg": 4})
	want := []ModeMetrics{
		{Mode: "rules only", Runs: 3, Detected: 2, Recall: 2.0 / 3, False: 2, BenignHours: 6, FalsePerHour: 2.0 / 6, Precision: 0.5,
			MedianLatency: 17500 * time.Millisecond, MaxLatency: 30 * time.Second},
		{Mode: "baselines only", Runs: 3, Detected: 1, Recall: 1.0 / 3, False: 1, BenignHours: 6, FalsePerHour: 1.0 / 6, Precision: 0.5,
			MedianLatency: 65 * time.Second, MaxLatency: 65 * time.Second},
		{Mode: "both", Runs: 3, Detected: 2, Recall: 2.0 / 3, False: 3, BenignHours: 6, FalsePerHour: 0.5, Precision: 0.5,
			MedianLatency: 17500 * time.Millisecond, MaxLatency: 30 * time.Second},
	}
	if len(got) != 3 {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Mode != w.Mode || g.Detected != w.Detected || g.False != w.False || g.MedianLatency != w.MedianLatency ||
			g.MaxLatency != w.MaxLatency || !same(g.Recall, w.Recall, false) || !same(g.FalsePerHour, w.FalsePerHour, false) ||
			!same(g.Precision, w.Precision, false) {
			t.Errorf("got %+v\nwant %+v", g, w)
		}
	}
}

func TestCurvesByHand(t *testing.T) {
	// Sorted by score: 0.8+, 0.4-, 0.35+, 0.1-. ROC points (0,.5) (.5,.5)
	// (.5,1) (1,1): area .25+.5 = .75. AP = .5*1 + .5*(2/3) = 5/6.
	c := Curves("s", []float64{0.1, 0.4, 0.35, 0.8}, []bool{false, false, true, true})
	if !same(c.ROCAUC, 0.75, false) || !same(c.AP, 5.0/6, false) || c.Positives != 2 || c.Negatives != 2 {
		t.Fatalf("auc %v ap %v", c.ROCAUC, c.AP)
	}
	wantROC := []Point{{Float(math.Inf(1)), 0, 0}, {0.8, 0, 0.5}, {0.4, 0.5, 0.5}, {0.35, 0.5, 1}, {0.1, 1, 1}}
	if !slices.Equal(c.ROC, wantROC) {
		t.Fatalf("roc %v", c.ROC)
	}
	wantPR := []PRPoint{{0.8, 0.5, 1}, {0.4, 0.5, 0.5}, {0.35, 1, 2.0 / 3}, {0.1, 1, 0.5}}
	if !slices.Equal(c.PR, wantPR) {
		t.Fatalf("pr %v", c.PR)
	}
	// Ties are one threshold: the positive ties a negative (half credit)
	// and beats the other: AUC 1.5/2.
	if c := Curves("t", []float64{1, 1, 0}, []bool{true, false, false}); !same(c.ROCAUC, 0.75, false) || !same(c.AP, 0.5, false) {
		t.Fatalf("ties: auc %v ap %v", c.ROCAUC, c.AP)
	}
	// One class only: AUC undefined.
	if c := Curves("u", []float64{1, 2}, []bool{false, false}); !math.IsNaN(float64(c.ROCAUC)) || !math.IsNaN(float64(c.AP)) {
		t.Fatalf("no positives: %v %v", c.ROCAUC, c.AP)
	}
	// NaN scores rank below everything.
	if c := Curves("n", []float64{math.NaN(), 0}, []bool{true, false}); !same(c.ROCAUC, 0, false) {
		t.Fatalf("nan: %v", c.ROCAUC)
	}
}

// The trapezoid area over the step curve equals the Mann-Whitney statistic
// models/eval computes independently.
func TestCurvesAgreeWithMannWhitney(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 50; trial++ {
		var scores, ben, att []float64
		var pos []bool
		for i := 0; i < 1+r.IntN(200); i++ {
			s := float64(r.IntN(20)) // many ties
			p := r.IntN(3) == 0
			if p {
				s += 3
				att = append(att, s)
			} else {
				ben = append(ben, s)
			}
			scores, pos = append(scores, s), append(pos, p)
		}
		if len(att) == 0 || len(ben) == 0 {
			continue
		}
		if got, want := Curves("r", scores, pos).ROCAUC, meval.AUC(ben, att); math.Abs(float64(got)-want) > 1e-9 {
			t.Fatalf("trial %d: curve AUC %v, Mann-Whitney %v", trial, got, want)
		}
	}
}

func TestOperatingPointAndThin(t *testing.T) {
	tpr, fpr := OperatingPoint([]float64{0.1, 0.4, 0.35, 0.8}, []bool{false, false, true, true}, 0.35)
	if tpr != 1 || fpr != 0.5 {
		t.Fatalf("tpr %v fpr %v", tpr, fpr)
	}
	pts := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	if got := Thin(pts, 3); !slices.Equal(got, []int{0, 5, 10}) {
		t.Fatalf("thin %v", got)
	}
	if got := Thin(pts, 20); len(got) != 11 {
		t.Fatalf("thin kept %d", len(got))
	}
}

// Windows and findings of the simulated remote hosts are neither benign nor
// attack: Evaluate leaves them out of every metric and counts them apart.
func TestEvaluateLeavesOutSimulatedHosts(t *testing.T) {
	window := time.Minute
	win := func(inst, wl string, start string, score float64) WindowScore {
		s := at(start).UnixNano()
		return WindowScore{Workload: wl, Instance: inst, Start: s, End: s + int64(window), Events: 10, Modelled: true,
			Scores: []float64{score}, Thresholds: []float64{1}}
	}
	remote := "5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e"
	res := &Result{Events: 100, First: at("-1m").UnixNano(), Last: at("30m").UnixNano(), Detectors: []models.Detector{"ngram"},
		Windows: []WindowScore{
			win("c1", "web/app", "0s", 2),          // the attack's window: positive, alarms
			win("c1", "web/app", "5m", 0.5),        // benign, quiet
			win("c2", "web/app", "5m", 0.2),        // benign, quiet
			win(remote, "vigil-scenario", "0s", 9), // remote hosts: would be a false alarm
			win(remote, "vigil-scenario", "5m", 9),
		},
		Emissions: []Emission{
			rule("A", "c1", "web/app", at("5s")), // detects r0
			{FindingID: "s", Type: "X", Source: "anomaly", Detector: "ngram", Workload: "vigil-scenario", Container: remote,
				First: at("0s"), Last: at("1m"), At: at("1m")},
			{FindingID: "s", Type: "X", Source: "anomaly", Detector: "ngram", Workload: "vigil-scenario", Container: remote,
				First: at("5m"), Last: at("6m"), At: at("6m"), Update: true},
			rule("B", remote[:12], "vigil-scenario", at("10m")), // a short id still matches
		},
	}
	runs := []AttackRun{{RunID: "r0", ContainerID: "c1", Workload: "web/app", Start: at("0s"), End: at("1m"), Expected: []string{"A"}}}
	sim := map[string]bool{simKey(remote): true}
	ev := Evaluate(res, runs, sim, 0, window)
	want := Simulated{Containers: 1, Windows: 2, Findings: 2, Updates: 1,
		ByDetector: map[string]int{"baseline:ngram": 1, "rules": 1}, ByType: map[string]int{"X": 1, "B": 1}}
	if !reflect.DeepEqual(ev.Simulated, want) {
		t.Errorf("simulated %+v, want %+v", ev.Simulated, want)
	}
	if ev.Detected != 1 || ev.Windows != 3 || ev.PositiveWindows != 1 {
		t.Errorf("detected %d, windows %d (%d positive), want 1, 3 (1)", ev.Detected, ev.Windows, ev.PositiveWindows)
	}
	if len(ev.False) != 1 || ev.False[0].Workload != "web/app" || ev.False[0].False != 0 || ev.False[0].Hours != 1.0/60 {
		t.Errorf("false findings %+v, want web/app alone: none in 1/60 h", ev.False)
	}
	for _, m := range ev.Modes {
		if m.False != 0 || (m.Precision != 1 && m.Mode != "baselines only") {
			t.Errorf("%s: %d false, precision %v", m.Mode, m.False, m.Precision)
		}
	}
	for _, c := range ev.Curves {
		if c.Positives != 1 || c.Negatives != 2 || c.ROCAUC != 1 {
			t.Errorf("curve %s: %d positive, %d negative, AUC %v: want 1, 2, 1", c.Name, c.Positives, c.Negatives, c.ROCAUC)
		}
	}
	// Without the labels' word, the same remote hosts are a workload like
	// any other: their findings are false and their windows negatives.
	ev = Evaluate(res, runs, nil, 0, window)
	if ev.Simulated.Findings != 0 || ev.Windows != 5 || len(ev.False) != 2 || ev.False[0].Workload != "vigil-scenario" || ev.False[0].False != 2 {
		t.Errorf("unlabelled remote hosts: simulated %+v, windows %d, false %+v", ev.Simulated, ev.Windows, ev.False)
	}
}
