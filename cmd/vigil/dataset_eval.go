package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/vigilsec/vigil/datasets/importer"
	"github.com/vigilsec/vigil/models/eval"
	"github.com/vigilsec/vigil/trace/lake"
)

// newDatasetEvalADFACmd runs the usual ADFA-LD protocol on a tree in its
// layout: train on Training, score each Validation and Attack trace, and
// report per-trace ROC AUC of the n-gram sequence model next to STIDE's.
func newDatasetEvalADFACmd() *cobra.Command {
	var order int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "eval-adfa DIR",
		Short: "Sequence model vs STIDE on an ADFA-LD tree (train on Training, Validation vs Attack, AUC per trace)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := importer.ReadADFA(args[0])
			if err != nil {
				return err
			}
			if len(s.Training) == 0 || len(s.Validation) == 0 || len(s.Attack) == 0 {
				return fmt.Errorf("%s: need Training, Validation and Attack traces (have %d, %d, %d)",
					args[0], len(s.Training), len(s.Validation), len(s.Attack))
			}
			r, err := eval.CompareSequences(order, s.Training, s.Validation, s.Attack)
			if err != nil {
				return err
			}
			return printSequenceReport(cmd.OutOrStdout(), asJSON, "ADFA-LD protocol", r)
		},
	}
	cmd.Flags().IntVar(&order, "order", 6, "n-gram length (STIDE window)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

func printSequenceReport(out io.Writer, asJSON bool, title string, r eval.SequenceReport) error {
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	fmt.Fprintf(out, "%s, n=%d: trained on %d traces, scored %d normal and %d attack traces\n",
		title, r.Order, r.Train, r.Normal, r.Attack)
	fmt.Fprintf(out, "  n-gram, Witten-Bell   AUC %.3f (mean NLL)  %.3f (top NLL)\n", r.ModelMeanNLL, r.ModelTopNLL)
	fmt.Fprintf(out, "  n-gram, Kneser-Ney    AUC %.3f (mean NLL)  %.3f (top NLL)\n", r.KNMeanNLL, r.KNTopNLL)
	fmt.Fprintf(out, "  STIDE                 AUC %.3f (mismatch)  %.3f (locality frame)\n", r.STIDEMismatch, r.STIDELFC)
	return nil
}

// newDatasetEvalSequencesCmd runs the same protocol on syscall traces the
// collector captured from labelled scenario runs (`vigil scenario run
// --sequence`): one trace per process, benign runs before the split train.
func newDatasetEvalSequencesCmd() *cobra.Command {
	var (
		root, splitAt string
		order         int
		asJSON        bool
	)
	cmd := &cobra.Command{
		Use:   "eval-sequences --lake DIR --split TIME",
		Short: "Sequence model vs STIDE on captured scenario syscall traces (benign runs before --split train; later benign vs attack processes, AUC per process)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			split, err := parseTime(splitAt)
			if err != nil {
				return fmt.Errorf("--split: %w", err)
			}
			if split.IsZero() {
				return fmt.Errorf("--split is required: runs that ended before it train, runs that started after it are scored")
			}
			ctx := cmd.Context()
			l, err := lake.Open(ctx, root)
			if err != nil {
				return err
			}
			defer l.Close()
			s, err := eval.LakeSequences(ctx, l, split)
			if err != nil {
				return err
			}
			r, err := eval.CompareSequences(order, s.Training, s.Validation, s.Attack)
			if err != nil {
				return err
			}
			if err := printSequenceReport(cmd.OutOrStdout(), asJSON, "Captured scenario sequences, ADFA-LD protocol", r); err != nil {
				return err
			}
			for _, why := range s.SkippedReasons() {
				fmt.Fprintf(cmd.ErrOrStderr(), "skipped: %d %s\n", s.Skipped[why], why)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&root, "lake", lake.DefaultRoot, "trace lake root: directory or s3://bucket/prefix")
	cmd.Flags().StringVar(&splitAt, "split", "", "time split (RFC 3339, date, or duration before now)")
	cmd.Flags().IntVar(&order, "order", 6, "n-gram length (STIDE window)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}
