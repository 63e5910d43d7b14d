package models_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/features"
	"github.com/vigilsec/vigil/features/synth"
	"github.com/vigilsec/vigil/models"
	"github.com/vigilsec/vigil/models/eval"
	"github.com/vigilsec/vigil/trace"
)

// trainSynth trains on a SYNTHETIC benign stream.
func trainSynth(t testing.TB, minutes int) ([]*models.Model, []trace.Event) {
	t.Helper()
	events, _ := synth.Generate(synth.Options{Seed: 1, Minutes: minutes, Rate: 0.5, Sequence: true})
	ms, _, err := models.TrainScan(context.Background(), models.RunConfig{}, features.SliceScan(events))
	if err != nil {
		t.Fatal(err)
	}
	return ms, events
}

func byWorkload(ms []*models.Model) map[string]*models.Model {
	out := map[string]*models.Model{}
	for _, m := range ms {
		out[m.Workload] = m
	}
	return out
}

// TestDetectSynthetic trains on three hours of synthetic benign activity and
// scores a later hour with injected attacks: per-detector ROC AUC over
// windows, and the calibrated alarms' detection and false-alarm rates.
func TestDetectSynthetic(t *testing.T) {
	ms, _ := trainSynth(t, 180)
	mw := byWorkload(ms)
	if len(mw) != 2 {
		t.Fatalf("trained %d workloads", len(mw))
	}
	for _, m := range ms {
		t.Logf("%s: %d windows, %d held out, wpd %.0f, exe %s, file_read %s", m.Workload, m.Training.Windows, m.Training.HeldOut,
			m.Training.WindowsPerDay, m.Profile(features.CatExe).State(), m.Profile(features.CatFileRead).State())
	}
	test, labels := synth.Generate(synth.Options{Seed: 2, Minutes: 90, Rate: 0.5, Sequence: true, AttackEvery: 5,
		Start: time.Date(2026, 1, 5, 3, 0, 0, 0, time.UTC)})
	attack := map[features.Key]string{}
	for _, l := range labels {
		attack[features.Key{Workload: l.Workload, Instance: l.Instance, Start: l.Start}] = l.Attack
	}
	ws, _, err := features.Extract(features.Config{}, test)
	if err != nil {
		t.Fatal(err)
	}
	label := func(k features.Key) string { return attack[k] }
	rep := eval.ScoreWindows(models.NewBundle(ms), ws, label)
	var buf strings.Builder
	rep.Write(&buf)
	t.Logf("SYNTHETIC data, trained on 3 h, tested on the next 1.5 h:\n%s", buf.String())
	// One example of what each attack looks like to the scorer.
	shown := map[string]bool{}
	for _, w := range ws {
		a := attack[w.Key]
		s := mw[w.Workload].Score(w)
		if a != "" && !shown[a] {
			shown[a] = true
			for _, d := range s.Anomalous() {
				t.Logf("attack %s -> %s %.1f/%.1f: %v", a, d.FindingType, d.Score, d.Threshold, d.Evidence)
			}
		}
		if a == "" {
			for _, d := range s.Anomalous() {
				t.Logf("false alarm %s %s: %s score %.2f >= %.2f %v", w.Workload, time.Unix(0, w.Start).UTC().Format("15:04"), d.Detector, d.Score, d.Threshold, d.Evidence)
			}
		}
	}
	for _, a := range synth.Attacks {
		if rep.ByLabel[a] < 0.8 {
			t.Errorf("attack %s: detected in %.2f of its windows", a, rep.ByLabel[a])
		}
	}
	if rep.FPR > 0.02 || rep.Benign < 200 {
		t.Errorf("false-alarm rate %.3f over %d benign windows", rep.FPR, rep.Benign)
	}
	if rep.AnyAUC < 0.95 {
		t.Errorf("combined AUC %.3f", rep.AnyAUC)
	}
	for _, d := range rep.Detectors {
		switch d.Detector {
		case models.NoveltyDetector(features.CatExe), models.NoveltyDetector(features.CatNetDst), models.DetSequence, models.DetRate:
			if d.AUC < 0.7 {
				t.Errorf("%s AUC %.3f", d.Detector, d.AUC)
			}
		}
	}
}

func TestProfileLearnsWildcards(t *testing.T) {
	tr, err := models.NewTrainer(models.TrainConfig{HoldOutEvery: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 200; i++ {
		w := &features.Window{Key: features.Key{Workload: "w", Instance: "i", Start: int64(i) * int64(time.Minute)}, End: int64(i+1) * int64(time.Minute), Events: 5, Kinds: make([]int64, features.NumKinds)}
		add := func(c features.Category, v string) {
			w.Items = append(w.Items, features.Item{Cat: c, Value: v, Count: 1})
		}
		add(features.CatFileRead, fmt.Sprintf("/proc/%d/stat", 1000+i*7))
		add(features.CatFileRead, "/etc/hosts")
		add(features.CatFileWrite, fmt.Sprintf("/app/cache/%016x.json", uint64(i)*0x9e3779b97f4a7c15))
		add(features.CatDNS, fmt.Sprintf("x%dq.cdn.example.com", i*31))
		add(features.CatNetDst, fmt.Sprintf("10.1.2.%d:443", i%250))
		add(features.CatExe, "/usr/bin/python3")
		for nr := 0; nr < 16; nr++ { // many digit-shaped values, but recurring
			add(features.CatSyscall, fmt.Sprint(nr))
		}
		// A backup counter that restarts with each container, so every
		// name recurs (each written in two windows, as kv-store's are); and
		// connections to a host's ports, which are not a counter however
		// many there are.
		add(features.CatFileWrite, fmt.Sprintf("/var/lib/kv/backup-%04d.tar.gz", i/2%10*5+5))
		for port := 8000; port < 8010; port++ {
			add(features.CatNetDst, fmt.Sprintf("10.9.9.9:%d", port))
		}
		w.Items = sortItems(w.Items)
		tr.Add(w)
	}
	m := tr.Models()[0]
	cases := []struct {
		c       features.Category
		v       string
		known   bool
		pattern string
	}{
		{features.CatFileRead, "/proc/424242/stat", true, "/proc/*/stat"},
		{features.CatFileRead, "/proc/self/stat", false, "/proc"}, // digits were generated; a word was never seen
		{features.CatFileRead, "/etc/hosts", true, "/etc/hosts"},
		{features.CatFileRead, "/etc/shadow", false, "/etc"},
		{features.CatFileWrite, "/app/cache/00000000deadbeef.json", true, "/app/cache/*.json"},
		{features.CatFileWrite, "/app/cache/evil.sh", false, "/app/cache"},
		{features.CatDNS, "z99q.cdn.example.com", true, "*.cdn.example.com"},
		{features.CatDNS, "evil.example.org", false, ""},
		{features.CatDNS, "Z99Q.CDN.Example.COM.", true, "*.cdn.example.com"},
		{features.CatNetDst, "10.1.2.77:443", true, "10.1.2.*:443"},
		{features.CatNetDst, "10.1.2.77:4444", false, ""},
		{features.CatFileWrite, "/var/lib/kv/backup-0090.tar.gz", true, "/var/lib/kv/backup-*.tar.gz"},
		{features.CatFileWrite, "/var/lib/kv/backup-0090.sh", false, "/var/lib/kv"},
		{features.CatNetDst, "10.9.9.9:8004", true, "10.9.9.9:8004"},
		{features.CatNetDst, "10.9.9.9:4444", false, ""},
		{features.CatExe, "/usr/bin/python3", true, "/usr/bin/python3"},
		{features.CatExe, "/tmp/x", false, ""},
		{features.CatSyscall, "7", true, "7"},
		{features.CatSyscall, "59", false, ""},
	}
	for _, c := range cases {
		known, pat := m.Profile(c.c).Lookup(c.v)
		if known != c.known || (c.pattern != "" && pat != c.pattern) {
			t.Errorf("%s %q: known %v pattern %q, want %v %q", c.c, c.v, known, pat, c.known, c.pattern)
		}
	}
	if p := m.Profile(features.CatExe); p.State() != models.StateConverged || p.Lambda != 0 {
		t.Errorf("exe profile %s lambda %g", p.State(), p.Lambda)
	}
}

func sortItems(items []features.Item) []features.Item {
	sort.Slice(items, func(i, j int) bool {
		if items[i].Cat != items[j].Cat {
			return items[i].Cat < items[j].Cat
		}
		return items[i].Value < items[j].Value
	})
	return items
}

func TestCalibrationRespectsBudget(t *testing.T) {
	ms, _ := trainSynth(t, 180)
	for _, m := range ms {
		for d, th := range m.Calibration {
			if th.Alpha <= 0 || th.Alpha > 1/m.Training.WindowsPerDay {
				t.Errorf("%s %s: alpha %g for %g windows/day", m.Workload, d, th.Alpha, m.Training.WindowsPerDay)
			}
			if th.HeldOut > 0 && float64(th.Exceed) > math.Max(1, th.Alpha*float64(th.HeldOut)) {
				t.Errorf("%s %s: %d of %d held-out windows exceed the threshold", m.Workload, d, th.Exceed, th.HeldOut)
			}
		}
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestTimeOfDay: a workload busy at 03:00 and quiet at 04:00 gets an hourly
// baseline, so the 03:00 level is normal at 03:00 and abnormal at 04:00.
func TestTimeOfDay(t *testing.T) {
	tr, err := models.NewTrainer(models.TrainConfig{})
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	mk := func(start time.Time, inst string, opens int64) *features.Window {
		k := make([]int64, features.NumKinds)
		k[trace.KindOpen.Index()] = opens
		return &features.Window{Key: features.Key{Workload: "w", Instance: inst, Start: start.UnixNano()},
			End: start.Add(time.Minute).UnixNano(), Events: opens, Kinds: k,
			Procs: []features.Proc{{UUID: "p", Exe: "/bin/app", Events: opens, Kinds: k}}}
	}
	r := rand.New(rand.NewPCG(1, 1))
	for d := 0; d < 3; d++ {
		for m := 0; m < 120; m++ {
			for _, inst := range []string{"a", "b"} {
				at := day.Add(time.Duration(d)*24*time.Hour + 3*time.Hour + time.Duration(m)*time.Minute)
				level := int64(1000)
				if at.Hour() == 4 {
					level = 50
				}
				tr.Add(mk(at, inst, level+r.Int64N(level/5)))
			}
		}
	}
	m := tr.Models()[0]
	if m.Rate.Hourly[3] == nil || m.Rate.Hourly[4] == nil || m.Rate.Hourly[5] != nil {
		t.Fatalf("hourly baselines: 3:%v 4:%v 5:%v", m.Rate.Hourly[3] != nil, m.Rate.Hourly[4] != nil, m.Rate.Hourly[5] != nil)
	}
	busy := day.Add(4*24*time.Hour + 3*time.Hour + 30*time.Minute)
	if s, _ := m.Score(mk(busy, "a", 1100)).Get(models.DetRate); s.Anomalous {
		t.Errorf("03:30 at the 03:00 level flagged: %.1f >= %.1f", s.Score, s.Threshold)
	}
	quiet := busy.Add(time.Hour)
	if s, _ := m.Score(mk(quiet, "a", 1100)).Get(models.DetRate); !s.Anomalous {
		t.Errorf("04:30 at the 03:00 level not flagged: %.1f < %.1f", s.Score, s.Threshold)
	} else if len(s.Evidence) == 0 || s.Evidence[0].Exe != "/bin/app" {
		t.Errorf("evidence %v", s.Evidence)
	}
}
