package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigilsec/vigil/features"
	"github.com/vigilsec/vigil/internal/blob"
	"github.com/vigilsec/vigil/internal/escape"
	"github.com/vigilsec/vigil/internal/logkey"
	"github.com/vigilsec/vigil/models"
	"github.com/vigilsec/vigil/trace"
	"github.com/vigilsec/vigil/trace/lake"
)

func init() { subcommands = append(subcommands, newTrainCmd) }

func newTrainCmd() *cobra.Command {
	var (
		lakeRoot, out, from, to, workload, shard string
		workers, ngram                           int
		window                                   time.Duration
		budget                                   float64
		smoothing                                string
		allowBadFiles                            bool
	)
	cmd := &cobra.Command{
		Use:   "train --lake <root> --out <models>",
		Short: "Learn per-workload baselines from the trace lake and write a model bundle",
		Long: `Streams the trace lake once, builds feature windows exactly as the agent does,
and learns one baseline per workload: novelty profiles, activity rates, a
multivariate model and, where sequence-mode syscalls were captured, an n-gram
model. Thresholds are calibrated on held-out windows for --budget false alarms
per workload per day. Output is deterministic: the same traces give the same
bytes. --shard i/N trains only the workloads of shard i (0-based) so N runs,
e.g. AWS Batch array jobs, together produce exactly one run's bundle; run
'vigil models merge' afterwards (or load the shard indexes directly).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if out == "" {
				return errors.New("--out is required")
			}
			// Only the columns feature extraction reads are decoded.
			q := lake.Query{Workload: workload, Progress: true, Fields: features.Fields}
			var err error
			if q.From, err = parseTrainTime(from); err != nil {
				return fmt.Errorf("--from: %w", err)
			}
			if q.To, err = parseTrainTime(to); err != nil {
				return fmt.Errorf("--to: %w", err)
			}
			si, sn, err := parseShard(shard)
			if err != nil {
				return fmt.Errorf("--shard: %w", err)
			}
			rc := models.RunConfig{
				Train: models.TrainConfig{
					Features:     features.Config{Window: window, NGram: ngram},
					BudgetPerDay: budget,
					Smoothing:    smoothing,
				},
				Workers: workers, Workload: workload, Shard: si, Shards: sn,
			}
			l, err := lake.Open(ctx, lakeRoot)
			if err != nil {
				return fmt.Errorf("opening lake: %w", err)
			}
			defer l.Close()
			dst, err := blob.Open(ctx, out)
			if err != nil {
				return fmt.Errorf("opening output: %w", err)
			}
			start := time.Now()
			var badFiles *lake.FileErrors
			scan := func(ctx context.Context, fn func(*trace.Event) error) error {
				err := l.Scan(ctx, q, fn)
				if errors.As(err, &badFiles) && allowBadFiles {
					for _, e := range badFiles.Errs {
						slog.Warn("skipped unreadable trace file", logkey.Err, e)
					}
					return nil
				}
				return err
			}
			ms, st, err := models.TrainScan(ctx, rc, scan)
			if err != nil {
				if badFiles != nil {
					return fmt.Errorf("%w (rerun with --allow-bad-files to train on the readable ones)", err)
				}
				return err
			}
			if len(ms) == 0 && sn == 1 {
				return fmt.Errorf("no events in %s matched (from %s, to %s, workload %q): nothing to train", l.Root(), orAny(from), orAny(to), workload)
			}
			// An empty shard still writes its index, so the merge knows it ran.
			idx, err := models.Write(ctx, dst, ms, si, sn)
			if err != nil {
				return err
			}
			el := time.Since(start)
			slog.Info("trained", logkey.Events, st.Scanned, logkey.Count, len(ms), logkey.Output, dst.URL(),
				logkey.Duration, el.Round(time.Millisecond), logkey.Late, st.Features.Late, logkey.Skipped, st.Skipped)
			w := cmd.OutOrStdout()
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "WORKLOAD\tEVENTS\tWINDOWS\tHELD OUT\tINSTANCES\tSEQUENCE\tCONVERGED")
			for _, m := range ms {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%v\t%s\n", escape.String(m.Workload), m.Training.Events, m.Training.Windows,
					m.Training.HeldOut, m.Training.Instances, m.Sequence != nil, convergedSummary(m))
			}
			tw.Flush()
			rate := float64(st.Scanned) / el.Seconds()
			fmt.Fprintf(w, "%d events (%d late, %d with truncated paths, %d other shards/workloads) -> %d windows -> %d models in %s (%.0f events/s)\n",
				st.Scanned, st.Features.Late, st.Features.Truncated, st.Skipped, st.Features.Windows, len(ms), el.Round(time.Millisecond), rate)
			if idx.Shard != "" {
				fmt.Fprintf(w, "wrote shard %s to %s; after every shard: vigil models merge %s\n", idx.Shard, dst.URL(), out)
			} else {
				fmt.Fprintf(w, "wrote %s\n", dst.URL())
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&lakeRoot, "lake", lake.DefaultRoot, "trace lake root: directory or s3://bucket/prefix")
	f.StringVar(&out, "out", "", "model bundle destination: directory or s3://bucket/prefix")
	f.StringVar(&from, "from", "", "first event time (RFC 3339, YYYY-MM-DD, or a duration before now like 72h)")
	f.StringVar(&to, "to", "", "end of the time range, exclusive (same forms as --from)")
	f.StringVar(&workload, "workload", "", "train only this workload key")
	f.StringVar(&shard, "shard", "0/1", "train shard i of N (0-based), workloads split by a stable hash")
	f.IntVar(&workers, "workers", runtime.GOMAXPROCS(0), "workloads trained in parallel")
	f.DurationVar(&window, "window", features.DefaultWindow, "feature window")
	f.IntVar(&ngram, "ngram", features.DefaultNGram, "syscall n-gram order for sequence-mode traces")
	f.Float64Var(&budget, "budget", 1, "target false alarms per workload per day")
	f.StringVar(&smoothing, "smoothing", models.SmoothWittenBell, "syscall n-gram smoothing: witten-bell or kneser-ney")
	f.BoolVar(&allowBadFiles, "allow-bad-files", false, "train on the readable trace files when some cannot be read")
	return cmd
}

func convergedSummary(m *models.Model) string {
	var learning []string
	for _, p := range m.Profiles {
		if p.Items > 0 && p.State() != models.StateConverged {
			learning = append(learning, p.Cat.String())
		}
	}
	if len(learning) == 0 {
		return "yes"
	}
	return "no: " + strings.Join(learning, ",")
}

func parseTrainTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return time.Now().Add(-d.Abs()).UTC(), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q: want RFC 3339, YYYY-MM-DD[THH:MM] or a duration", s)
}

func parseShard(s string) (int, int, error) {
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return 0, 0, fmt.Errorf("%q: want i/N with 0 <= i < N", s)
	}
	return i, n, nil
}

func orAny(s string) string {
	if s == "" {
		return "any time"
	}
	return s
}
