package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigilsec/vigil/internal/logkey"
	"github.com/vigilsec/vigil/scorer/agent"
	"github.com/vigilsec/vigil/scorer/intel"
	"github.com/vigilsec/vigil/scorer/output"
	"github.com/vigilsec/vigil/trace/lake"
)

func init() { subcommands = append(subcommands, newAgentCmd) }

func newAgentCmd() *cobra.Command {
	var (
		configPath, listen, models, lakeRoot, stdoutFormat, findingsFile, region, account, host string
		replayRoot, replayFrom, replayTo, replayWorkload                                        string
		ruleDirs, intelLists, webhooks                                                          []string
		noDefaultRules, noStdout, eventBridge, securityHub                                      bool
	)
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Watch this host's containers live: collector, rules, baselines, findings, outputs",
		Long: `The agent loads the eBPF collector (root, Linux with BTF), scores every event with the
signature rules and each workload's baseline, and delivers findings to the configured outputs.
Rules, intel lists and model bundles reload when they change. /metrics and /healthz are served
on --listen (loopback by default).

Flags override the YAML file given with --config.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg := agent.Default()
			if configPath != "" {
				var err error
				if cfg, err = agent.Load(configPath); err != nil {
					return err
				}
			}
			f := cmd.Flags()
			set := func(name string, dst *string, v string) {
				if f.Changed(name) {
					*dst = v
				}
			}
			set("listen", &cfg.Listen, listen)
			set("models", &cfg.Models.Root, models)
			set("lake", &cfg.Lake.Root, lakeRoot)
			set("region", &cfg.Region, region)
			set("account-id", &cfg.AccountID, account)
			set("host", &cfg.Host, host)
			cfg.Rules.Dirs = append(cfg.Rules.Dirs, ruleDirs...)
			if noDefaultRules {
				off := false
				cfg.Rules.DefaultPack = &off
			}
			for _, l := range intelLists {
				cat, url, ok := strings.Cut(l, "=")
				if !ok {
					return fmt.Errorf("--intel %q: want category=url", l)
				}
				cfg.Intel.Lists = append(cfg.Intel.Lists, intel.List{URL: url, Category: cat})
			}
			if noStdout {
				cfg.Outputs.Stdout = nil
			} else if f.Changed("stdout-format") {
				cfg.Outputs.Stdout = &struct {
					Format output.Format `yaml:"format"`
				}{Format: output.Format(stdoutFormat)}
			}
			if findingsFile != "" {
				cfg.Outputs.File = &struct {
					Path     string        `yaml:"path"`
					MaxBytes int64         `yaml:"max_bytes"`
					Keep     int           `yaml:"keep"`
					Format   output.Format `yaml:"format"`
				}{Path: findingsFile}
			}
			for _, u := range webhooks {
				cfg.Outputs.Webhooks = append(cfg.Outputs.Webhooks, struct {
					URL     string            `yaml:"url"`
					Headers map[string]string `yaml:"headers"`
					Format  output.Format     `yaml:"format"`
				}{URL: u})
			}
			if eventBridge && cfg.Outputs.EventBridge == nil {
				cfg.Outputs.EventBridge = &struct {
					Bus        string `yaml:"bus"`
					Source     string `yaml:"source"`
					DetailType string `yaml:"detail_type"`
					Endpoint   string `yaml:"endpoint"`
				}{}
			}
			if securityHub && cfg.Outputs.SecurityHub == nil {
				cfg.Outputs.SecurityHub = &struct {
					ProductArn string `yaml:"product_arn"`
					Endpoint   string `yaml:"endpoint"`
				}{}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			a, err := agent.New(ctx, cfg, slog.Default())
			if err != nil {
				return err
			}
			if replayRoot != "" {
				from, err := parseTime(replayFrom)
				if err != nil {
					return err
				}
				to, err := parseTime(replayTo)
				if err != nil {
					return err
				}
				n, err := a.Replay(ctx, replayRoot, lake.Query{From: from, To: to, Workload: replayWorkload, Progress: true})
				slog.Info("replay done", logkey.Events, n)
				return errors.Join(err, a.Close())
			}
			runErr := a.RunLive(ctx)
			return errors.Join(runErr, a.Close())
		},
	}
	cmd.AddCommand(newAgentHealthCmd())
	f := cmd.Flags()
	f.StringVarP(&configPath, "config", "c", "", "agent YAML configuration")
	f.StringVar(&listen, "listen", "127.0.0.1:9464", "address for /metrics and /healthz")
	f.StringVar(&models, "models", "", "model bundle root (dir or s3://bucket/prefix); empty: rules only")
	f.StringVar(&lakeRoot, "lake", "", "also upload every event to this trace lake (dir or s3://)")
	f.StringSliceVar(&ruleDirs, "rules", nil, "extra rule directories (repeatable)")
	f.BoolVar(&noDefaultRules, "no-default-rules", false, "do not load the embedded default rule pack")
	f.StringSliceVar(&intelLists, "intel", nil, "intel list as category=path-or-s3-url (repeatable), e.g. c2=/etc/vigil/c2.txt")
	f.StringVar(&stdoutFormat, "stdout-format", "finding", "stdout JSON format: finding, asff or ocsf")
	f.BoolVar(&noStdout, "no-stdout", false, "do not print findings on stdout")
	f.StringVar(&findingsFile, "findings-file", "", "also append findings to this rotating file")
	f.StringSliceVar(&webhooks, "webhook", nil, "POST findings to this URL (repeatable)")
	f.BoolVar(&eventBridge, "eventbridge", false, "put findings on the default EventBridge bus")
	f.BoolVar(&securityHub, "securityhub", false, "import findings into Security Hub (ASFF)")
	f.StringVar(&region, "region", "", "AWS region for findings and outputs")
	f.StringVar(&account, "account-id", "", "AWS account id for findings")
	f.StringVar(&host, "host", "", "host name on events (default: hostname)")
	f.StringVar(&replayRoot, "replay", "", "instead of watching live, replay this trace lake through the same scorer and outputs")
	f.StringVar(&replayFrom, "from", "", "with --replay: first event time (RFC 3339, date, or duration ago)")
	f.StringVar(&replayTo, "to", "", "with --replay: end of the time range")
	f.StringVar(&replayWorkload, "workload", "", "with --replay: only this workload")
	return cmd
}

// newAgentHealthCmd is the container health check: the agent image has no
// shell or curl, so the binary asks its own /healthz.
func newAgentHealthCmd() *cobra.Command {
	var url string
	var degradedOK bool
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Query a running agent's /healthz and exit non-zero unless it is healthy",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Second)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return err
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return fmt.Errorf("agent health: %w", err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			cmd.OutOrStdout().Write(body)
			var h struct{ Status string }
			json.Unmarshal(body, &h)
			if h.Status == "ok" || (degradedOK && h.Status == "degraded") {
				return nil
			}
			return fmt.Errorf("agent status %q (%s)", h.Status, resp.Status)
		},
	}
	cmd.Flags().StringVar(&url, "url", "http://127.0.0.1:9464/healthz", "the agent's health endpoint")
	cmd.Flags().BoolVar(&degradedOK, "degraded-ok", true, "treat degraded (running on last good rules/intel/models) as healthy")
	return cmd
}
