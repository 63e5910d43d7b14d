package main

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/vigilsec/vigil/collector"
	"github.com/vigilsec/vigil/trace/lake"
)

func init() { subcommands = append(subcommands, newCaptureCmd) }

func newCaptureCmd() *cobra.Command {
	var cfg collector.CaptureConfig
	cmd := &cobra.Command{
		Use:   "capture",
		Short: "Record a trace of this host's (or one container's) activity into the trace lake",
		Long: `capture loads Vigil's eBPF programs, records process, file, network, DNS and
privilege events with their container and ECS task, and writes them to the trace
lake until --duration ends or it is interrupted. It prints what it saw and what
it lost. Needs root (CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			sum, err := collector.Capture(ctx, cfg)
			if sum != nil {
				sum.Print(cmd.OutOrStdout())
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Out, "out", lake.DefaultRoot, "trace lake: a directory or s3://bucket/prefix")
	f.DurationVar(&cfg.Duration, "duration", 0, "how long to capture (default: until interrupted)")
	f.StringVar(&cfg.Container, "container", "", "capture only this container (Docker name or id)")
	f.StringVar(&cfg.Cgroup, "cgroup", "", "capture only this cgroup (cgroupfs directory or /proc/<pid>/cgroup path)")
	f.BoolVar(&cfg.Sequence, "sequence", false, "also record every syscall number of the selected container or cgroup")
	f.IntVar(&cfg.RateLimit, "rate-limit", 0, "events per second per process, enforced in the kernel (0: no limit)")
	f.IntVar(&cfg.RingSize, "ring-size", collector.DefaultRingSize, "ring buffer bytes (a power of two)")
	cmd.MarkFlagsMutuallyExclusive("container", "cgroup")
	return cmd
}
