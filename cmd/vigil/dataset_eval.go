package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/vigilsec/vigil/datasets/importer"
	"github.com/vigilsec/vigil/models/eval"
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
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(r)
			}
			fmt.Fprintf(out, "ADFA-LD protocol, n=%d: trained on %d traces, scored %d normal and %d attack traces\n",
				r.Order, r.Train, len(s.Validation), len(s.Attack))
			fmt.Fprintf(out, "  n-gram, Witten-Bell   AUC %.3f (mean NLL)  %.3f (top NLL)\n", r.ModelMeanNLL, r.ModelTopNLL)
			fmt.Fprintf(out, "  n-gram, Kneser-Ney    AUC %.3f (mean NLL)  %.3f (top NLL)\n", r.KNMeanNLL, r.KNTopNLL)
			fmt.Fprintf(out, "  STIDE                 AUC %.3f (mismatch)  %.3f (locality frame)\n", r.STIDEMismatch, r.STIDELFC)
			return nil
		},
	}
	cmd.Flags().IntVar(&order, "order", 6, "n-gram length (STIDE window)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}
