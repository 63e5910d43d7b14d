package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/vigilsec/vigil/collector"
	"github.com/vigilsec/vigil/datasets"
	"github.com/vigilsec/vigil/datasets/dockerapi"
	"github.com/vigilsec/vigil/datasets/image"
	"github.com/vigilsec/vigil/datasets/runner"
	"github.com/vigilsec/vigil/datasets/scenario"
	"github.com/vigilsec/vigil/internal/escape"
	"github.com/vigilsec/vigil/trace/lake"
)

func init() { subcommands = append(subcommands, newScenarioCmd) }

func newScenarioCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "scenario",
		Short: "Labelled benign workloads and attacks, run in real containers and captured",
	}
	cmd.AddCommand(newScenarioListCmd(), newScenarioShowCmd(), newScenarioRunCmd(), newScenarioCleanCmd())
	return cmd
}

// loadLibrary is the built-in library plus scenario files given with --file.
func loadLibrary(files []string) (*scenario.Library, error) {
	lib, err := datasets.Library()
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		s, err := scenario.Parse(f, data)
		if err != nil {
			return nil, err
		}
		if err := lib.Add(s); err != nil {
			return nil, err
		}
	}
	return lib, nil
}

func newScenarioListCmd() *cobra.Command {
	var files []string
	var kind string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List scenarios: name, kind, expected findings",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			lib, err := loadLibrary(files)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tKIND\tBASE\tEXPECTED FINDINGS")
			for _, n := range lib.Names() {
				s, _ := lib.Get(n)
				if kind != "" && string(s.Kind) != kind {
					continue
				}
				var f []string
				if s.Attack != nil {
					f = s.Attack.Findings
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Name, s.Kind, orDash(s.Base), orDash(strings.Join(f, ", ")))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringArrayVar(&files, "file", nil, "also load this scenario file (repeatable)")
	cmd.Flags().StringVar(&kind, "kind", "", "only benign, attack or anomaly")
	return cmd
}

func newScenarioShowCmd() *cobra.Command {
	var files []string
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Print a scenario's file (and say which base it runs in)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			lib, err := loadLibrary(files)
			if err != nil {
				return err
			}
			s, ok := lib.Get(args[0])
			if !ok {
				return fmt.Errorf("no scenario %q (see vigil scenario list)", args[0])
			}
			data, err := datasets.ReadFile(s.File)
			if err != nil {
				if data, err = os.ReadFile(s.File); err != nil {
					return err
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "# %s\n%s", s.File, data)
			if s.Base != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "\n# runs inside %q: vigil scenario show %s\n", s.Base, s.Base)
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&files, "file", nil, "also load this scenario file (repeatable)")
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newScenarioRunCmd() *cobra.Command {
	var (
		files     []string
		out       string
		seed      int64
		duration  time.Duration
		noCapture bool
		check     bool
		parallel  int
		sequence  bool
	)
	cmd := &cobra.Command{
		Use:   "run NAME...",
		Short: "Run scenarios in Docker, capture them into the lake and write their labels",
		Long: `Run each named scenario in turn (or --parallel N at a time, sharing one
collector): build the scenario image (cached by content),
start the task's containers on a network namespace with loopback only, run the
benign activity and the attack, capture with the collector, stop and remove
everything, and write a label next to the traces (labels/scenario/<run>.json).
The same --seed gives the same timing, data and choices.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			if sequence && noCapture {
				return fmt.Errorf("--sequence records syscalls with the collector: it cannot go with --no-capture")
			}
			if check && noCapture {
				return fmt.Errorf("--check reads the captured traces: it cannot go with --no-capture")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			lib, err := loadLibrary(files)
			if err != nil {
				return err
			}
			var todo []*scenario.Scenario
			for _, n := range args {
				s, err := lib.Resolve(n)
				if err != nil {
					return err
				}
				todo = append(todo, s)
			}
			dc, err := dockerapi.New()
			if err != nil {
				return err
			}
			if err := dc.Ping(ctx); err != nil {
				return fmt.Errorf("docker engine: %w", err)
			}
			ref, err := image.Build(ctx, dc, image.Options{})
			if err != nil {
				return err
			}
			l, err := lake.Open(ctx, out)
			if err != nil {
				return err
			}
			defer l.Close()
			host, _ := os.Hostname()
			var src runner.Source
			if !noCapture {
				newCollector := runner.NewCollector
				if sequence {
					newCollector = runner.NewSequenceCollector
				}
				c, err := newCollector(ctx, slog.Default())
				if err != nil {
					return fmt.Errorf("%w (vigil scenario run needs root and BPF; --no-capture runs without traces)", err)
				}
				defer c.Close()
				src = c
			}
			w, err := l.NewWriter(lake.WriterConfig{Host: host})
			if err != nil {
				return err
			}
			defer w.Close()
			if parallel > 1 && src != nil {
				// One collector for every concurrent run.
				sh := runner.Share(ctx, src)
				defer sh.Close()
				src = sh
			}
			var (
				mu     sync.Mutex // output, failed
				failed int
			)
			defer func() {
				if failed > 0 && err == nil {
					err = fmt.Errorf("%d of %d runs failed their check", failed, len(todo))
				}
			}()
			runOne := func(ctx context.Context, s *scenario.Scenario) error {
				cfg := runner.Config{Docker: dc, Image: ref, Seed: seed, Duration: duration, Source: src,
					Sink: w.Write, Labels: l.Store(), Host: host, BootID: bootID(), Sequence: sequence}
				res, err := runner.Run(ctx, cfg, s)
				if err != nil {
					return fmt.Errorf("scenario %s: %w", s.Name, err)
				}
				if err := w.Flush(); err != nil {
					return fmt.Errorf("writing traces: %w", err)
				}
				lb := res.Label
				var problems []string
				if check && src != nil {
					events, err := runner.RunEvents(ctx, l, lb)
					if err != nil {
						return err
					}
					chk := runner.WithoutKinds(s, runner.Unobservable(s, src.(interface{ Stats() collector.Stats }).Stats().Missing))
					problems = runner.Check(chk, lb, events)
				}
				mu.Lock()
				defer mu.Unlock()
				fmt.Fprintf(cmd.OutOrStdout(), "%s\trun %s\t%d events\tlabel %s\n", s.Name, lb.RunID, res.Captured, lb.Key())
				for _, n := range lb.Notes {
					fmt.Fprintf(cmd.ErrOrStderr(), "  note: %s\n", escape.String(n))
				}
				for _, p := range problems {
					fmt.Fprintf(cmd.ErrOrStderr(), "  check: %s\n", escape.String(p))
				}
				if len(problems) > 0 {
					failed++
				}
				return nil
			}
			// A run that fails (an attack step that errs) does not stop the
			// others: a batch of hours loses one run, not the rest. Every
			// failure is printed as it happens and makes the exit non-zero.
			var (
				g    errgroup.Group
				errs []error
			)
			g.SetLimit(max(parallel, 1))
			for _, s := range todo {
				g.Go(func() error {
					if ctx.Err() != nil {
						return nil // interrupted: start nothing new
					}
					if err := runOne(ctx, s); err != nil {
						mu.Lock()
						errs = append(errs, err)
						fmt.Fprintf(cmd.ErrOrStderr(), "%s\tFAILED: %s\n", s.Name, escape.String(err.Error()))
						mu.Unlock()
					}
					return nil
				})
			}
			g.Wait()
			if err := ctx.Err(); err != nil {
				return err
			}
			if len(errs) > 0 {
				return fmt.Errorf("%d of %d runs failed: %w", len(errs), len(todo), errors.Join(errs...))
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&files, "file", nil, "also load this scenario file (repeatable)")
	cmd.Flags().StringVar(&out, "out", lake.DefaultRoot, "trace lake root (directory or s3://bucket/prefix)")
	cmd.Flags().Int64Var(&seed, "seed", 1, "seed for timing, data and choices")
	cmd.Flags().DurationVar(&duration, "duration", 2*time.Minute, "how long each scenario runs (hours are fine for baselines)")
	cmd.Flags().BoolVar(&noCapture, "no-capture", false, "run without the collector (labels get PIDs, no uuids, no traces)")
	cmd.Flags().IntVar(&parallel, "parallel", 1, "run up to this many scenarios at the same time (each its own task; one collector for all)")
	cmd.Flags().BoolVar(&sequence, "sequence", false, "also record every syscall of the scenario's containers (sequence mode, for the n-gram model)")
	cmd.Flags().BoolVar(&check, "check", false, "read each run back from the lake and check its events against the scenario's expectations")
	return cmd
}

func newScenarioCleanCmd() *cobra.Command {
	var images bool
	cmd := &cobra.Command{
		Use:   "clean",
		Short: "Remove containers left by scenario runs that were killed (and, with --images, the scenario images)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			dc, err := dockerapi.New()
			if err != nil {
				return err
			}
			if err := runner.Cleanup(ctx, dc, ""); err != nil {
				return err
			}
			if !images {
				return nil
			}
			refs, err := dc.ListImages(ctx, image.Label)
			if err != nil {
				return err
			}
			for _, ref := range refs {
				if err := dc.RemoveImage(ctx, ref); err != nil {
					return fmt.Errorf("removing %s: %w", ref, err)
				}
				fmt.Fprintln(cmd.OutOrStdout(), "removed", ref)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&images, "images", false, "also remove every scenario image (they are rebuilt on the next run)")
	return cmd
}

func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
