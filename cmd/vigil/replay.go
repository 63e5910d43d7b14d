package main

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigilsec/vigil/eval"
	"github.com/vigilsec/vigil/scorer/agent"
	"github.com/vigilsec/vigil/scorer/intel"
	"github.com/vigilsec/vigil/trace/lake"
)

func init() { subcommands = append(subcommands, newReplayCmd) }

func newReplayCmd() *cobra.Command {
	var (
		o                             eval.RunOptions
		modelsDir, report, configPath string
		ruleDirs, intelLists          []string
		from, to                      string
		compare, noDefaultRules       bool
		account, region               string
	)
	cmd := &cobra.Command{
		Use:   "replay --lake <traces> [--models <models>] [--labels] --report <dir> [--compare A B]",
		Short: "Replay recorded traces through the scorer and evaluate the findings against labels",
		Long: `Feeds the lake's events, in time order, through the same scorer engine the agent
runs (rules, feature windows, baselines, suppression and aggregation) on the
events' own clock, as fast as they can be read. Findings are written in every
format the agent emits (GuardDuty-shaped JSON, ASFF, OCSF).

With --labels, each labelled attack run is judged detected or missed, by which
detector and how fast; precision and recall per finding type, false findings
per workload-hour on benign traces, and window-level ROC/PR curves of every
anomaly score are computed, for rules only, baselines only and both.

With models and no --from, replay starts after the bundle's training data so
nothing the baselines learned from is evaluated (time-based split); the report
states the split and flags any overlap as leakage.

--compare A B replays the same traces with two model bundles side by side.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if compare && len(args) != 2 {
				return errors.New("--compare takes two model bundles: --compare A B")
			}
			if !compare && len(args) > 0 {
				return fmt.Errorf("unexpected arguments %q (did you mean --compare A B?)", args)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			var err error
			if o.From, err = parseTime(from); err != nil {
				return fmt.Errorf("--from: %w", err)
			}
			if o.To, err = parseTime(to); err != nil {
				return fmt.Errorf("--to: %w", err)
			}
			switch {
			case compare && modelsDir != "":
				return errors.New("use either --models or --compare A B")
			case compare:
				o.Models = args
			case modelsDir != "":
				o.Models = []string{modelsDir}
			}
			// The agent's YAML gives the same rules, intel, windows,
			// aggregation and suppressions the agent runs with.
			if configPath != "" {
				cfg, err := agent.Load(configPath)
				if err != nil {
					return err
				}
				ruleDirs = append(cfg.Rules.Dirs, ruleDirs...)
				if cfg.Rules.DefaultPack != nil && !*cfg.Rules.DefaultPack {
					noDefaultRules = true
				}
				o.Intel = cfg.Intel.Lists
				o.Engine = eval.EngineConfig(cfg)
				if len(o.Models) == 0 && cfg.Models.Root != "" {
					o.Models = []string{cfg.Models.Root}
				}
			}
			if f := cmd.Flags(); f.Changed("account-id") || f.Changed("region") {
				o.Engine.AccountID, o.Engine.Region = account, region
			}
			if o.NoRules && (len(ruleDirs) > 0 || noDefaultRules) {
				return errors.New("--no-rules contradicts --rules and --no-default-rules")
			}
			for _, l := range intelLists {
				cat, url, ok := strings.Cut(l, "=")
				if !ok {
					return fmt.Errorf("--intel %q: want category=url", l)
				}
				o.Intel = append(o.Intel, intel.List{URL: url, Category: cat})
			}
			if !o.NoRules {
				if o.Rules, err = readRuleSources(ruleDirs, noDefaultRules); err != nil {
					return fmt.Errorf("--rules: %w", err)
				}
				if len(o.Rules) == 0 {
					return errors.New("--no-default-rules without --rules: no rules to run (use --no-rules for baselines only)")
				}
			}
			if o.NoRules && len(o.Models) == 0 {
				return errors.New("--no-rules without --models leaves nothing to detect with")
			}
			o.Progress = true
			rep, err := eval.Run(ctx, o)
			if err != nil {
				return err
			}
			if err := rep.Write(ctx, report); err != nil {
				return fmt.Errorf("writing report: %w", err)
			}
			printSummary(cmd, rep, report)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Lake, "lake", lake.DefaultRoot, "trace lake root: directory or s3://bucket/prefix")
	f.StringVar(&modelsDir, "models", "", "model bundle (directory or s3://); none: rules only")
	f.StringVarP(&configPath, "config", "c", "", "the agent's YAML configuration (rules, intel, windows, aggregation, suppressions, models)")
	f.StringSliceVar(&ruleDirs, "rules", nil, "extra rule files or directories, as the agent's --rules (repeatable)")
	f.BoolVar(&noDefaultRules, "no-default-rules", false, "do not load the embedded default rule pack")
	f.StringSliceVar(&intelLists, "intel", nil, "intel list as category=path-or-s3-url (repeatable), as the agent's --intel")
	f.BoolVar(&o.NoRules, "no-rules", false, "no rules at all: baselines only")
	f.BoolVar(&o.Labels, "labels", false, "evaluate against the labelled runs stored in the lake (labels/)")
	f.StringVar(&o.LabelStore, "label-store", "", "read labels from this directory or s3:// prefix instead of the lake")
	f.StringVar(&report, "report", "vigil-report", "report directory (report.json, index.html, findings)")
	f.BoolVar(&compare, "compare", false, "compare two model bundles given as arguments: --compare A B")
	f.StringVar(&from, "from", "", "first event time (RFC 3339, date, or duration before now); default: after the models' training data")
	f.StringVar(&to, "to", "", "end of the time range, exclusive")
	f.StringVar(&o.Cluster, "cluster", "", "only this ECS cluster")
	f.StringVar(&o.Workload, "workload", "", "only this workload key")
	f.DurationVar(&o.Grace, "grace", eval.DefaultGrace, "how long after a labelled attack ends its findings still count")
	f.DurationVar(&o.Tick, "tick", eval.DefaultTick, "event time between the engine's idle ticks (the agent's timer)")
	f.BoolVar(&o.NoWindows, "no-windows", false, "skip per-window scoring (no ROC/PR curves; faster)")
	f.BoolVar(&o.WindowFeatures, "window-features", false, "write each window's numeric features to windows.csv")
	f.StringVar(&account, "account-id", "", "AWS account id put in findings")
	f.StringVar(&region, "region", "", "AWS region put in findings")
	return cmd
}

func printSummary(cmd *cobra.Command, rep *eval.Report, dir string) {
	w := cmd.OutOrStdout()
	for _, v := range rep.Variants {
		fmt.Fprintf(w, "%s: %d events in %s (%.0f events/s), %d findings (+%d updates)\n", v.Name, v.Replay.Events,
			time.Duration(v.Replay.Seconds*float64(time.Second)).Round(time.Millisecond), v.Replay.EventsPerSecond,
			v.Replay.NewFindings, v.Replay.Updates)
		fmt.Fprintf(w, "  train/test: %s\n", v.Discipline.Statement)
		if ev := v.Evaluation; ev != nil {
			for _, m := range ev.Modes {
				fmt.Fprintf(w, "  %-15s detected %d/%d runs, precision %s, %d false findings (%s per workload-hour), median latency %s\n",
					m.Mode, m.Detected, m.Runs, fmtPct(m.Precision), m.False, fmtF(m.FalsePerHour), m.MedianLatency.Round(time.Millisecond))
			}
			for _, c := range ev.Curves {
				if c.Name == "any" {
					fmt.Fprintf(w, "  anomaly windows: ROC AUC %s, PR AUC %s (%d positive of %d windows)\n", fmtF(c.ROCAUC), fmtF(c.AP), c.Positives, c.Positives+c.Negatives)
				}
			}
			// Left out of every number above, so said here.
			if sim := ev.Simulated; sim.Containers > 0 {
				fmt.Fprintf(w, "  findings on simulated remote hosts (not judged): %d (+%d updates) in %d windows of %d containers%s\n",
					sim.Findings, sim.Updates, sim.Windows, sim.Containers, byDetector(sim.ByDetector))
			}
		}
	}
	if rep.Synthetic {
		fmt.Fprintln(w, "NOTE: the labels are SYNTHETIC (generated traces); these numbers are not a measure of real-world detection.")
	}
	abs, _ := filepath.Abs(filepath.Join(dir, "index.html"))
	fmt.Fprintf(w, "report: file://%s\n", abs)
}

func fmtF(f eval.Float) string {
	if f != f {
		return "n/a"
	}
	return fmt.Sprintf("%.3f", float64(f))
}

func fmtPct(f eval.Float) string {
	if f != f {
		return "n/a"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(f))
}

// byDetector renders counts per detector, sorted by name: ", baseline:ngram 5, rules 2".
func byDetector(m map[string]int) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(&b, ", %s %d", k, m[k])
	}
	return b.String()
}
