package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/vigilsec/vigil/scorer"
	"github.com/vigilsec/vigil/scorer/finding"
	"github.com/vigilsec/vigil/scorer/intel"
	"github.com/vigilsec/vigil/scorer/rules"
	"github.com/vigilsec/vigil/trace"
)

func init() { subcommands = append(subcommands, newRulesCmd) }

func newRulesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "Check and list signature rules (the embedded default pack plus your files)",
	}
	cmd.AddCommand(newRulesCheckCmd(), newRulesListCmd(), newRulesTestCmd())
	return cmd
}

// readRuleSources reads the default pack (unless noDefault) and every file
// or directory in paths, in that order, the way the agent does.
func readRuleSources(paths []string, noDefault bool) ([]rules.Source, error) {
	var srcs []rules.Source
	if !noDefault {
		srcs = rules.DefaultSources()
	}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if st.IsDir() {
			s, err := rules.ReadDir(p)
			if err != nil {
				return nil, err
			}
			srcs = append(srcs, s...)
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, rules.Source{Name: p, Data: data})
	}
	return srcs, nil
}

func newRulesCheckCmd() *cobra.Command {
	var noDefault bool
	cmd := &cobra.Command{
		Use:   "check [file|dir]...",
		Short: "Validate rule files; errors name the file, rule and line:column",
		RunE: func(cmd *cobra.Command, args []string) error {
			srcs, err := readRuleSources(args, noDefault)
			if err != nil {
				return err
			}
			set, err := rules.Load(srcs, rules.Options{})
			var es rules.Errors
			if errors.As(err, &es) {
				for _, e := range es {
					fmt.Fprintln(cmd.ErrOrStderr(), e)
				}
				return fmt.Errorf("%d problems in %d files; %d rules are fine", len(es), len(srcs), len(set.Rules()))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d files, %d rules: ok\n", len(srcs), len(set.Rules()))
			return nil
		},
	}
	cmd.Flags().BoolVar(&noDefault, "no-default", false, "check only the given files, without the default pack")
	return cmd
}

func newRulesListCmd() *cobra.Command {
	var noDefault bool
	cmd := &cobra.Command{
		Use:   "list [file|dir]...",
		Short: "List rules: id, finding type, severity, event kinds and how each is evaluated",
		RunE: func(cmd *cobra.Command, args []string) error {
			srcs, err := readRuleSources(args, noDefault)
			if err != nil {
				return err
			}
			set, err := rules.Load(srcs, rules.Options{})
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "RULE\tTYPE\tSEVERITY\tKINDS\tEVAL\tENABLED\tFILE")
			for _, r := range set.Rules() {
				kinds := "all"
				if r.Kinds != nil {
					ks := make([]string, len(r.Kinds))
					for i, k := range r.Kinds {
						ks[i] = string(k)
					}
					kinds = strings.Join(ks, ",")
				}
				eval := "native"
				if !r.Native() {
					eval = "native guard + expr"
				}
				fmt.Fprintf(tw, "%s\t%s\t%.1f\t%s\t%s\t%v\t%s:%d\n", r.ID, r.Type, r.Severity, kinds, eval, r.Enabled, r.File, r.Line)
			}
			tw.Flush()
			return err
		},
	}
	cmd.Flags().BoolVar(&noDefault, "no-default", false, "list only the given files, without the default pack")
	return cmd
}

func newRulesTestCmd() *cobra.Command {
	var noDefault bool
	var eventsPath string
	cmd := &cobra.Command{
		Use:   "test --events <events.jsonl> [file|dir]...",
		Short: "Run recorded events (JSON lines of trace.Event) through the rules and print the findings",
		RunE: func(cmd *cobra.Command, args []string) error {
			srcs, err := readRuleSources(args, noDefault)
			if err != nil {
				return err
			}
			set, err := rules.Load(srcs, rules.Options{Intel: intel.NewHolder(nil, intel.DefaultDGA())})
			if err != nil {
				return err
			}
			f, err := os.Open(eventsPath)
			if err != nil {
				return err
			}
			defer f.Close()
			out := cmd.OutOrStdout()
			eng, err := scorer.New(scorer.Config{}, set, nil, scorer.SinkFunc(func(fd *finding.Finding, update bool) {
				if !update {
					fmt.Fprintf(out, "%s\t%s\t%.1f\t%s\n", fd.Service.Detection.RuleID, fd.Type, fd.Severity, fd.Title)
				}
			}))
			if err != nil {
				return err
			}
			dec := json.NewDecoder(f)
			for n := 1; ; n++ {
				var ev trace.Event
				if err := dec.Decode(&ev); err == io.EOF {
					break
				} else if err != nil {
					return fmt.Errorf("%s: event %d: %w", eventsPath, n, err)
				}
				eng.Process(&ev)
			}
			eng.Flush()
			return nil
		},
	}
	cmd.Flags().StringVar(&eventsPath, "events", "", "JSON lines of trace.Event (required)")
	cmd.MarkFlagRequired("events")
	cmd.Flags().BoolVar(&noDefault, "no-default", false, "test only the given files, without the default pack")
	return cmd
}
