package main

import (
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigilsec/vigil/eval/demo"
)

func init() { subcommands = append(subcommands, newDemoCmd) }

func newDemoCmd() *cobra.Command {
	var o demo.Options
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "End to end: capture benign containers, train, watch attacks live, replay and report",
		Long: `Runs Vigil's whole loop on this machine in about ten minutes:

  1. loads the eBPF collector and builds the scenario images (no image is pulled),
  2. captures benign scenarios in real containers into a trace lake,
  3. trains per-workload baselines on them,
  4. runs the agent while attack scenarios run, printing findings as they happen,
  5. replays everything through the scorer and evaluates it against the labels,
  6. writes the report (report.json, index.html) and prints where to open it.

It needs root, a Docker Engine and a kernel with BPF and BTF. Without them it
says why and runs the same stages on a small SYNTHETIC dataset it generates
(--synthetic forces that). Containers are removed at the end, also on Ctrl-C.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			o.Out = cmd.OutOrStdout()
			_, err := demo.Run(ctx, o)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Dir, "dir", "vigil-demo", "where the lake, models and report go")
	f.BoolVar(&o.Synthetic, "synthetic", false, "use the generated SYNTHETIC dataset even if real containers would work")
	f.StringSliceVar(&o.Benign, "benign", demo.DefaultBenign, "benign scenarios captured for training")
	f.StringSliceVar(&o.Attacks, "attacks", demo.DefaultAttacks, "attack scenarios run under the live agent")
	f.DurationVar(&o.BenignDuration, "benign-duration", 4*time.Minute, "how long each benign scenario is captured")
	f.DurationVar(&o.AttackDuration, "attack-duration", 45*time.Second, "how long each attack scenario runs")
	f.Int64Var(&o.Seed, "seed", 1, "seed for scenario timing and the synthetic data")
	return cmd
}
