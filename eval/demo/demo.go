// Package demo is `vigil demo`, the end-to-end tour: capture benign
// scenarios in real containers, train baselines, run the agent live while
// attack scenarios run (printing findings as they happen), then replay
// everything against the labels and write the report. Without Docker or BPF
// it says so and runs the same stages on a generated, clearly labelled
// SYNTHETIC dataset instead.
package demo

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/vigilsec/vigil/datasets"
	"github.com/vigilsec/vigil/datasets/dockerapi"
	"github.com/vigilsec/vigil/datasets/image"
	"github.com/vigilsec/vigil/datasets/runner"
	"github.com/vigilsec/vigil/datasets/scenario"
	"github.com/vigilsec/vigil/eval"
	"github.com/vigilsec/vigil/features"
	"github.com/vigilsec/vigil/internal/escape"
	"github.com/vigilsec/vigil/scorer/agent"
	"github.com/vigilsec/vigil/scorer/finding"
	"github.com/vigilsec/vigil/scorer/output"
	"github.com/vigilsec/vigil/trace"
	"github.com/vigilsec/vigil/trace/lake"
)

// Options configure the demo.
type Options struct {
	// Dir holds everything the demo makes: lake, models, report.
	Dir string
	// Synthetic skips the real containers even when they would work.
	Synthetic bool
	// Benign scenarios captured for training, each for BenignDuration;
	// Attacks run live under the agent, each for AttackDuration.
	Benign         []string
	Attacks        []string
	BenignDuration time.Duration
	AttackDuration time.Duration
	Seed           int64
	Out            io.Writer
	Log            *slog.Logger
}

// Defaults: one workload captured long enough to learn a first baseline and
// five attacks on it, which fits the demo in about ten minutes on two cores.
var (
	DefaultBenign  = []string{"web-service"}
	DefaultAttacks = []string{"reverse-shell-nc", "crypto-miner-renamed", "sensitive-file-passwd", "metadata-credentials", "port-scan"}
)

func (o *Options) defaults() {
	if o.Dir == "" {
		o.Dir = "vigil-demo"
	}
	if len(o.Benign) == 0 {
		o.Benign = DefaultBenign
	}
	if len(o.Attacks) == 0 {
		o.Attacks = DefaultAttacks
	}
	if o.BenignDuration == 0 {
		o.BenignDuration = 4 * time.Minute
	}
	if o.AttackDuration == 0 {
		o.AttackDuration = 45 * time.Second
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
}

type stages struct {
	out   io.Writer
	n, of int
	start time.Time
	t     time.Time
}

func (s *stages) next(title string) {
	if s.n > 0 {
		fmt.Fprintf(s.out, "    done in %s\n", time.Since(s.t).Round(100*time.Millisecond))
	}
	s.n++
	s.t = time.Now()
	fmt.Fprintf(s.out, "\n[%d/%d] %s\n", s.n, s.of, title)
}

func (s *stages) say(format string, args ...any) { fmt.Fprintf(s.out, "    "+format+"\n", args...) }

// Run runs the demo. It returns the report directory.
func Run(ctx context.Context, o Options) (string, error) {
	o.defaults()
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return "", err
	}
	dir, _ := filepath.Abs(o.Dir)
	fmt.Fprintf(o.Out, "Vigil demo: everything goes to %s\n", dir)
	if o.Synthetic {
		fmt.Fprintln(o.Out, "--synthetic: skipping real containers.")
		return runSynthetic(ctx, o, dir)
	}
	why := preflight(ctx)
	if why != "" {
		fmt.Fprintf(o.Out, "\nThis machine cannot run the real demo: %s.\n", why)
		fmt.Fprintln(o.Out, "The real demo needs root, a Docker Engine and a kernel with BPF and BTF. Running the same stages")
		fmt.Fprintln(o.Out, "on a small SYNTHETIC dataset instead (generated events, not captured from containers).")
		return runSynthetic(ctx, o, dir)
	}
	return runReal(ctx, o, dir)
}

// preflight says why the real demo cannot run here, or "".
func preflight(ctx context.Context) string {
	if os.Geteuid() != 0 {
		return "it does not run as root (BPF and Docker need it)"
	}
	dc, err := dockerapi.New()
	if err != nil {
		return "no Docker Engine: " + err.Error()
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := dc.Ping(pctx); err != nil {
		return "the Docker Engine does not answer: " + err.Error()
	}
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		return "the kernel has no BTF (/sys/kernel/btf/vmlinux)"
	}
	return ""
}

func runReal(ctx context.Context, o Options, dir string) (string, error) {
	st := &stages{out: o.Out, of: 6, start: time.Now()}
	lakeDir, modelsDir, reportDir := filepath.Join(dir, "lake"), filepath.Join(dir, "models"), filepath.Join(dir, "report")
	for _, p := range []string{lakeDir, modelsDir, reportDir} {
		if err := os.RemoveAll(p); err != nil {
			return "", err
		}
	}
	lib, err := datasets.Library()
	if err != nil {
		return "", err
	}
	resolve := func(names []string) ([]*scenario.Scenario, error) {
		var out []*scenario.Scenario
		for _, n := range names {
			s, err := lib.Resolve(n)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	}
	benign, err := resolve(o.Benign)
	if err != nil {
		return "", err
	}
	attacks, err := resolve(o.Attacks)
	if err != nil {
		return "", err
	}

	st.next("Loading the eBPF collector and building the scenario images")
	dc, err := dockerapi.New()
	if err != nil {
		return "", err
	}
	defer func() {
		// Whatever happened, no demo container outlives the demo.
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := runner.Cleanup(cctx, dc, ""); err != nil {
			fmt.Fprintf(o.Out, "cleanup: %v (run: vigil scenario clean)\n", err)
		}
	}()
	capture, err := runner.NewCollector(ctx, o.Log)
	if err != nil {
		fmt.Fprintf(o.Out, "\nThe eBPF collector does not load here (%v).\nFalling back to the SYNTHETIC demo.\n", err)
		return runSynthetic(ctx, o, dir)
	}
	defer capture.Close()
	ref, err := image.Build(ctx, dc, image.Options{})
	if err != nil {
		return "", fmt.Errorf("building scenario images: %w", err)
	}
	st.say("collector loaded; image %s", ref)

	l, err := lake.Open(ctx, lakeDir)
	if err != nil {
		return "", err
	}
	defer l.Close()
	host, _ := os.Hostname()
	w, err := l.NewWriter(lake.WriterConfig{Host: host})
	if err != nil {
		return "", err
	}
	defer w.Close()
	var sinkMu sync.Mutex
	var live func(*trace.Event)
	sink := func(ev *trace.Event) error {
		sinkMu.Lock()
		fn := live
		sinkMu.Unlock()
		if fn != nil {
			fn(ev)
		}
		return w.Write(ev)
	}
	runOne := func(s *scenario.Scenario, d time.Duration, seed int64) (*runner.Result, error) {
		cfg := runner.Config{Docker: dc, Image: ref, Seed: seed, Duration: d, Source: capture, Sink: sink,
			Labels: l.Store(), Host: host, Log: o.Log}
		res, err := runner.Run(ctx, cfg, s)
		if err != nil {
			return nil, fmt.Errorf("scenario %s: %w", s.Name, err)
		}
		if err := w.Flush(); err != nil {
			return nil, fmt.Errorf("writing traces: %w", err)
		}
		return res, nil
	}

	st.next(fmt.Sprintf("Capturing benign workloads in real containers (%s each)", o.BenignDuration))
	for i, s := range benign {
		st.say("running %s: %s", s.Name, oneLine(s.Description, 100))
		res, err := runOne(s, o.BenignDuration, o.Seed+int64(i))
		if err != nil {
			return "", err
		}
		st.say("captured %d events (run %s)", res.Captured, res.Label.RunID)
	}
	// Train up to a window boundary: a bundle's training range ends where
	// its last window ends, and replay evaluates only what follows it, so a
	// partial last minute would hide the first attack from the evaluation.
	trainTo := time.Now().UTC().Truncate(features.DefaultWindow)

	st.next("Training per-workload baselines on the benign traces")
	if err := eval.TrainLake(ctx, lakeDir, modelsDir, trainTo); err != nil {
		return "", err
	}
	st.say("models written to %s", modelsDir)

	st.next("Running the agent live while attacks run (findings print as they happen)")
	a, stopAgent, err := startAgent(ctx, o, modelsDir, dir, true)
	if err != nil {
		return "", err
	}
	sinkMu.Lock()
	live = a.Process
	sinkMu.Unlock()
	for i, s := range attacks {
		st.say("attack %d/%d: %s — %s", i+1, len(attacks), s.Name, oneLine(s.Description, 90))
		res, err := runOne(s, o.AttackDuration, o.Seed+100+int64(i))
		if err != nil {
			stopAgent()
			return "", err
		}
		st.say("  run %s: %d events captured", res.Label.RunID, res.Captured)
	}
	sinkMu.Lock()
	live = nil
	sinkMu.Unlock()
	n := stopAgent()
	st.say("the agent reported %d findings live", n)

	if err := w.Close(); err != nil {
		return "", fmt.Errorf("writing traces: %w", err)
	}
	return reportStage(ctx, st, o, lakeDir, modelsDir, reportDir)
}

// startAgent builds the agent exactly as `vigil agent` does (rules, intel,
// models, outputs), with a findings file the demo tails to print findings
// as they are delivered. The caller feeds it events; stop closes it and
// returns how many findings it delivered.
//
// wallClock runs the agent's own maintenance timer, which advances event
// time by the wall clock: right for live events, wrong for generated ones,
// whose feeder advances the engine on their clock instead.
func startAgent(ctx context.Context, o Options, modelsDir, dir string, wallClock bool) (*agent.Agent, func() int, error) {
	cfg := agent.Default()
	cfg.Outputs.Stdout = nil
	cfg.Models.Root = modelsDir
	file := filepath.Join(dir, "agent-findings.jsonl")
	os.Remove(file)
	cfg.Outputs.File = &struct {
		Path     string        `yaml:"path"`
		MaxBytes int64         `yaml:"max_bytes"`
		Keep     int           `yaml:"keep"`
		Format   output.Format `yaml:"format"`
	}{Path: file}
	cfg.Outputs.Queue.Linger = 100 * time.Millisecond
	a, err := agent.New(ctx, cfg, o.Log)
	if err != nil {
		return nil, nil, fmt.Errorf("starting the agent: %w", err)
	}
	actx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	if wallClock {
		wg.Add(1)
		go func() { defer wg.Done(); a.Maintain(actx) }()
	}
	count := 0
	done := make(chan struct{})
	go func() {
		defer wg.Done()
		count = tail(file, o.Out, done)
	}()
	var once sync.Once
	stop := func() int {
		once.Do(func() {
			cancel()
			if err := a.Close(); err != nil {
				fmt.Fprintf(o.Out, "    agent: %v\n", err)
			}
			close(done)
			wg.Wait()
		})
		return count
	}
	return a, stop, nil
}

// tail prints each finding appended to path until done, then drains.
func tail(path string, out io.Writer, done <-chan struct{}) int {
	var f *os.File
	var r *bufio.Reader
	n := 0
	var partial strings.Builder
	for {
		if f == nil {
			if g, err := os.Open(path); err == nil {
				f, r = g, bufio.NewReaderSize(g, 1<<20)
			}
		}
		if r != nil {
			for {
				line, err := r.ReadString('\n')
				partial.WriteString(line)
				if err != nil {
					break
				}
				printFinding(out, partial.String())
				partial.Reset()
				n++
			}
		}
		select {
		case <-done:
			if r != nil {
				for {
					line, err := r.ReadString('\n')
					partial.WriteString(line)
					if err != nil {
						break
					}
					printFinding(out, partial.String())
					partial.Reset()
					n++
				}
				f.Close()
			}
			return n
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func printFinding(out io.Writer, line string) {
	var f finding.Finding
	if err := json.Unmarshal([]byte(line), &f); err != nil {
		fmt.Fprintf(out, "    ! unreadable finding line: %v\n", err)
		return
	}
	// Titles were escaped by the scorer; escape again for the terminal.
	fmt.Fprintf(out, "    >>> %-8s %-50s %s\n", finding.SeverityLabel(f.Severity), f.Type, escape.String(oneLine(f.Title, 110)))
}

func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		s = s[:max-1] + "…"
	}
	return s
}

func reportStage(ctx context.Context, st *stages, o Options, lakeDir, modelsDir, reportDir string) (string, error) {
	st.next("Replaying every recorded event through the scorer and evaluating against the labels")
	// No From: replay starts after the bundle's training data by itself.
	rep, err := eval.Run(ctx, eval.RunOptions{Lake: lakeDir, Models: []string{modelsDir}, Labels: true, WindowFeatures: true, Log: o.Log})
	if err != nil {
		return "", err
	}
	if err := rep.Write(ctx, reportDir); err != nil {
		return "", err
	}
	v := rep.Variants[0]
	st.say("%d events replayed at %.0f events/s; %d findings", v.Replay.Events, v.Replay.EventsPerSecond, v.Replay.NewFindings)
	if ev := v.Evaluation; ev != nil {
		for _, r := range ev.Runs {
			state := "MISSED"
			if r.Detected {
				state = fmt.Sprintf("detected after %s by %s", r.Latency.Round(100*time.Millisecond), strings.Join(r.Detectors, ", "))
			}
			st.say("%-28s %s", r.Scenario, state)
		}
		for _, m := range ev.Modes {
			st.say("%-15s %d/%d runs detected, %d false findings", m.Mode, m.Detected, m.Runs, m.False)
		}
	}
	st.say("train/test: %s", v.Discipline.Statement)
	st.next("Done")
	if rep.Synthetic {
		st.say("REMINDER: this report is about SYNTHETIC data; run `make demo` as root with Docker for the real one.")
	}
	st.say("total %s", time.Since(st.start).Round(time.Second))
	abs, _ := filepath.Abs(filepath.Join(reportDir, "index.html"))
	fmt.Fprintf(o.Out, "\nOpen the report: file://%s\n", abs)
	return reportDir, nil
}

// runSynthetic runs the stages on generated data: the agent is fed the test
// period's events at accelerated speed instead of live ones.
func runSynthetic(ctx context.Context, o Options, dir string) (string, error) {
	st := &stages{out: o.Out, of: 5, start: time.Now()}
	lakeDir, modelsDir, reportDir := filepath.Join(dir, "synthetic-lake"), filepath.Join(dir, "synthetic-models"), filepath.Join(dir, "report")
	for _, p := range []string{lakeDir, modelsDir, reportDir} {
		if err := os.RemoveAll(p); err != nil {
			return "", err
		}
	}
	st.next("Generating a SYNTHETIC labelled dataset (two made-up workloads, 4 h benign, 1 h with injected attacks)")
	ds, err := eval.GenerateSynthetic(ctx, lakeDir, eval.SyntheticOptions{Seed: uint64(o.Seed)})
	if err != nil {
		return "", err
	}
	st.say("%d training events, %d test events, %d injected attacks -> %s", ds.TrainEvents, ds.TestEvents, ds.Attacks, lakeDir)

	st.next("Training per-workload baselines on the benign period")
	if err := eval.TrainLake(ctx, lakeDir, modelsDir, ds.Split); err != nil {
		return "", err
	}

	st.next("Streaming the test period through the agent (accelerated; findings print as they are delivered)")
	a, stop, err := startAgent(ctx, o, modelsDir, dir, false)
	if err != nil {
		return "", err
	}
	l, err := lake.Open(ctx, lakeDir)
	if err != nil {
		stop()
		return "", err
	}
	tick := int64(eval.DefaultTick)
	var next int64
	err = l.Scan(ctx, lake.Query{From: ds.Split}, func(ev *trace.Event) error {
		a.Process(ev)
		if ev.Time >= next {
			if next != 0 {
				a.Engine.Advance(ev.Time)
			}
			next = ev.Time - ev.Time%tick + tick
		}
		return ctx.Err()
	})
	l.Close()
	n := stop()
	if err != nil && !errors.Is(err, context.Canceled) {
		return "", err
	}
	st.say("the agent reported %d findings", n)
	return reportStage(ctx, st, o, lakeDir, modelsDir, reportDir)
}
