package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/vigilsec/vigil/datasets/catalog"
	"github.com/vigilsec/vigil/datasets/importer"
	"github.com/vigilsec/vigil/internal/blob"
	"github.com/vigilsec/vigil/trace/lake"
)

func init() { subcommands = append(subcommands, newDatasetCmd) }

func newDatasetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dataset",
		Short: "Import public intrusion datasets into the lake and summarise labelled data",
	}
	cmd.AddCommand(newDatasetImportCmd(), newDatasetStatsCmd(), newDatasetEvalADFACmd(), newDatasetEvalSequencesCmd())
	return cmd
}

func newDatasetImportCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "import adfa|lidds DIR",
		Short: "Import ADFA-LD or LID-DS 2021 as syscall events with labels",
		Long: `Import a dataset directory into the lake, one trace and one label per trace file.

  adfa   ADFA-LD: Training_Data_Master/UTD-*.txt, Validation_Data_Master/UVD-*.txt,
         Attack_Data_Master/<Class>_<n>/*.txt (i386 syscall numbers).
  lidds  LID-DS 2021: <scenario>/{training,validation,test/normal,test/normal_and_attack}/<name>.zip
         (sysdig .sc lines and .json metadata with exploit times).

Syscalls are stored with their x86_64 numbers, like the collector's own
syscall-sequence mode. A malformed file stops the import with its name and line.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var imp func(context.Context, string, importer.Writer, blob.Store) (*importer.Summary, error)
			switch args[0] {
			case "adfa":
				imp = importer.ImportADFA
			case "lidds":
				imp = importer.ImportLIDDS
			default:
				return fmt.Errorf("unknown dataset %q: want adfa or lidds", args[0])
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			l, err := lake.Open(ctx, out)
			if err != nil {
				return err
			}
			defer l.Close()
			w, err := l.NewWriter(lake.WriterConfig{Host: "import-" + args[0]})
			if err != nil {
				return err
			}
			sum, ierr := imp(ctx, args[1], w, l.Store())
			// What was read before an error is published, and said so.
			if err := w.Close(); err != nil {
				return fmt.Errorf("writing traces: %w", err)
			}
			if ierr != nil {
				if sum != nil && sum.Traces > 0 {
					fmt.Fprintf(cmd.ErrOrStderr(), "imported before the error: %s\n", sum)
				}
				return ierr
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", args[0], sum)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", lake.DefaultRoot, "trace lake root (directory or s3://bucket/prefix)")
	return cmd
}

func newDatasetStatsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "stats LAKE",
		Short: "Runs, events and labels per scenario in a lake",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := lake.Open(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer l.Close()
			rep, err := catalog.Summarize(cmd.Context(), l)
			if err != nil {
				return err
			}
			return rep.Print(cmd.OutOrStdout())
		},
	}
}
