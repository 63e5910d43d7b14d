// Command vigil is Vigil's one CLI: capture traces, train baselines, run the
// agent, replay and evaluate, and manage the trace lake.
package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "vigil:", err)
		os.Exit(1)
	}
}

// subcommands is filled by each command's file, so adding a command touches
// only its own file.
var subcommands []func() *cobra.Command

func newRootCmd() *cobra.Command {
	var verbose bool
	root := &cobra.Command{
		Use:           "vigil",
		Short:         "Runtime threat detection for containers that learns what is normal for each workload",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(cmd *cobra.Command, args []string) {
			level := slog.LevelInfo
			if verbose {
				level = slog.LevelDebug
			}
			slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
		},
	}
	root.PersistentFlags().BoolVarP(&verbose, "verbose", "v", false, "debug logging")
	for _, sub := range subcommands {
		root.AddCommand(sub())
	}
	return root
}
