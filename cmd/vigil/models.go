package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigilsec/vigil/internal/blob"
	"github.com/vigilsec/vigil/internal/escape"
	"github.com/vigilsec/vigil/models"
)

func init() { subcommands = append(subcommands, newModelsCmd) }

func newModelsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "models",
		Short: "Describe, verify and merge model bundles",
	}
	cmd.AddCommand(newModelsLsCmd(), newModelsShowCmd(), newModelsMergeCmd())
	return cmd
}

func newModelsLsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "ls <bundle>",
		Short: "List a bundle's workloads: training range, size, convergence (verifies every file)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := models.Load(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "bundle %s: format %d, feature schema %s (window %s, n-gram %d), %d workloads, %d events %s .. %s\n",
				escape.String(b.URL), b.Index.Format, b.Index.Schema, b.Index.Features.Window, b.Index.Features.NGram,
				len(b.Index.Workloads), b.Index.Events, fmtTime(b.Index.From), fmtTime(b.Index.To))
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "WORKLOAD\tFROM\tTO\tEVENTS\tWINDOWS\tBYTES\tCONVERGED")
			for _, e := range b.Index.Workloads {
				m := b.Workload(e.Workload)
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\n", escape.String(e.Workload), fmtTime(e.From), fmtTime(e.To),
					e.Events, e.Windows, e.Bytes, convergedSummary(m))
			}
			return tw.Flush()
		},
	}
}

func newModelsShowCmd() *cobra.Command {
	var top int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show <bundle> [workload...]",
		Short: "Show what a workload's baseline learned: items and wildcards, rates, thresholds",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := models.Load(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			names := args[1:]
			if len(names) == 0 {
				names = b.Workloads()
			}
			w := cmd.OutOrStdout()
			for _, n := range names {
				m := b.Workload(n)
				if m == nil {
					return fmt.Errorf("bundle %s has no workload %q (have: %s)", b.URL, escape.String(n), strings.Join(escape.Strings(b.Workloads()), ", "))
				}
				if asJSON {
					enc := json.NewEncoder(w)
					enc.SetIndent("", "  ")
					if err := enc.Encode(m); err != nil {
						return err
					}
					continue
				}
				showModel(w, m, top)
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&top, "top", 8, "learned items to show per category")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the whole model as JSON")
	return cmd
}

func showModel(w io.Writer, m *models.Model, top int) {
	t := m.Training
	fmt.Fprintf(w, "workload %s\n", escape.String(m.Workload))
	fmt.Fprintf(w, "  trained on %s .. %s: %d events, %d windows (+%d held out), %d instances, %.0f windows/day\n",
		fmtTime(t.From), fmtTime(t.To), t.Events, t.Windows, t.HeldOut, t.Instances, t.WindowsPerDay)
	fmt.Fprintf(w, "  false-alarm budget %.3g per day; feature schema %s\n", t.BudgetPerDay, m.Schema)
	fmt.Fprintln(w, "  novelty profiles (lambda = expected new items per window, Good-Turing Q1(T-1)/T^2 or held-out rate; scoring uses the larger of it and its 90% bound):")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "    CATEGORY\tSTATE\tITEMS\tSEEN ONCE\tLAMBDA\t(90% BOUND)\tNEW IN RECENT\tTHRESHOLD\tLEARNED (most frequent; * = learned wildcard)")
	for _, p := range m.Profiles {
		pats := p.Patterns()
		var shown []string
		for i, pt := range pats {
			if i == top {
				shown = append(shown, fmt.Sprintf("... %d more", len(pats)-top))
				break
			}
			shown = append(shown, escape.String(pt.Value))
		}
		th := m.Calibration[models.NoveltyDetector(p.Cat)]
		fmt.Fprintf(tw, "    %s\t%s\t%d\t%d\t%.3g\t%.3g\t%d/%d\t%.2f\t%s\n", p.Cat, p.State(), p.Items, p.Q1, p.Lambda, p.LambdaUpper,
			p.Recent, p.RecentWindows, th.Value, strings.Join(shown, "  "))
	}
	tw.Flush()
	if r := m.Rate; r != nil {
		hours := 0
		for _, h := range r.Hourly {
			if h != nil {
				hours++
			}
		}
		fmt.Fprintf(w, "  activity per %s window (median [robust sigma on log scale]), %d hours of day with their own baseline:\n", m.Features.Window, hours)
		type fv struct {
			name string
			med  float64
			sc   float64
		}
		var fs []fv
		for i, n := range r.Features {
			if r.Global.Median[i] > 0 {
				fs = append(fs, fv{n, r.Global.Median[i], r.Global.Scale[i]})
			}
		}
		slices.SortFunc(fs, func(a, b fv) int { return strings.Compare(a.name, b.name) })
		var parts []string
		for _, f := range fs {
			parts = append(parts, fmt.Sprintf("%s %.0f [%.2f]", f.name, expm1(f.med), f.sc))
		}
		fmt.Fprintf(w, "    %s\n", strings.Join(parts, ", "))
	}
	if mv := m.Multivariate; mv != nil {
		fmt.Fprintf(w, "  multivariate: %d features, Ledoit-Wolf shrinkage %.3f\n", len(mv.Features), mv.Shrinkage)
	}
	if s := m.Sequence; s != nil {
		smoothing := s.Smoothing
		if smoothing == "" {
			smoothing = models.SmoothWittenBell
		}
		fmt.Fprintf(w, "  syscall sequences: %d-gram %s model, unigram floor %g, %d distinct grams from %d syscalls\n", s.Order, smoothing, s.Floor, len(s.Grams), t.SequenceGrams)
	}
	fmt.Fprintln(w, "  calibration (score = -log10 probability under the baseline):")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "    DETECTOR\tTHRESHOLD\tALPHA/WINDOW\tNOMINAL\tHELD-OUT MAX+\tTAIL FIT\tHELD OUT\tEXCEED")
	for _, d := range models.Detectors() {
		th, ok := m.Calibration[d]
		if !ok {
			continue
		}
		fmt.Fprintf(tw, "    %s\t%.2f\t%.2g\t%.2f\t%.2f\t%.2f\t%d\t%d\n", d, th.Value, th.Alpha, th.Nominal, th.Empirical, th.Tail, th.HeldOut, th.Exceed)
	}
	tw.Flush()
	if th := m.Calibration[models.DetSequence]; th.LeftOut > 0 {
		fmt.Fprintf(w, "  %d of the sequence detector's held-out windows are from containers left out of the model, scored as new ones\n", th.LeftOut)
	}
	fmt.Fprintln(w)
}

func expm1(x float64) float64 {
	// The rate model keeps log(1+count).
	return math.Expm1(x)
}

func newModelsMergeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "merge <bundle>",
		Short: "Write index.json from the shard indexes of 'vigil train --shard' runs",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := blob.Open(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			idx, err := models.MergeShards(cmd.Context(), st)
			if err != nil {
				return err
			}
			if _, err := models.LoadStore(cmd.Context(), st); err != nil {
				return fmt.Errorf("merged index does not verify: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "merged %d workloads into %s/%s\n", len(idx.Workloads), escape.String(st.URL()), models.IndexFile)
			return nil
		},
	}
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02T15:04Z")
}
