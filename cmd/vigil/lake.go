package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/spf13/cobra"

	"github.com/vigilsec/vigil/internal/escape"
	"github.com/vigilsec/vigil/internal/logkey"
	"github.com/vigilsec/vigil/trace"
	"github.com/vigilsec/vigil/trace/lake"
)

func init() { subcommands = append(subcommands, newLakeCmd) }

// lakeFlags are the selection flags every lake command shares.
type lakeFlags struct {
	root, from, to, cluster, workload string
	kinds                             []string
}

func (f *lakeFlags) register(cmd *cobra.Command) {
	def := os.Getenv("VIGIL_LAKE")
	if def == "" {
		def = lake.DefaultRoot
	}
	cmd.Flags().StringVar(&f.root, "lake", def, "lake root: a directory or s3://bucket/prefix (env VIGIL_LAKE)")
	cmd.Flags().StringVar(&f.from, "from", "", "first event time (RFC 3339, date, or duration before now)")
	cmd.Flags().StringVar(&f.to, "to", "", "end of the time range, exclusive")
	cmd.Flags().StringVar(&f.cluster, "cluster", "", "ECS cluster ("+lake.NoCluster+" for events outside ECS)")
	cmd.Flags().StringVar(&f.workload, "workload", "", "workload key, e.g. web/app")
	cmd.Flags().StringSliceVar(&f.kinds, "kind", nil, "event kinds (repeat or comma-separate)")
}

func (f *lakeFlags) open(ctx context.Context) (*lake.Lake, lake.Query, error) {
	var q lake.Query
	var err error
	if q.From, err = parseTime(f.from); err != nil {
		return nil, q, fmt.Errorf("--from: %w", err)
	}
	if q.To, err = parseTime(f.to); err != nil {
		return nil, q, fmt.Errorf("--to: %w", err)
	}
	for _, k := range f.kinds {
		kind := trace.Kind(k)
		if !kind.Valid() {
			return nil, q, fmt.Errorf("--kind %q: unknown kind (known: %v)", k, trace.Kinds)
		}
		q.Kinds = append(q.Kinds, kind)
	}
	q.Cluster, q.Workload = f.cluster, f.workload
	q.OnFileError = func(key string, err error) {
		slog.Error("skipping unreadable trace file", logkey.Key, key, logkey.Err, err)
	}
	l, err := lake.Open(ctx, f.root)
	return l, q, err
}

// scanErr turns per-file errors, already logged one by one, into a short
// final error so the command exits non-zero without repeating them.
func scanErr(err error) error {
	if fe, ok := err.(*lake.FileErrors); ok {
		return fmt.Errorf("%d trace files could not be read (see the errors above); everything else was", len(fe.Errs))
	}
	return err
}

func newLakeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lake",
		Short: "Inspect the trace lake: list files, print, count and export events",
	}
	cmd.AddCommand(newLakeLsCmd(), newLakeCatCmd(), newLakeStatsCmd(), newLakeExportCmd())
	return cmd
}

func newLakeLsCmd() *cobra.Command {
	var f lakeFlags
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List trace files with their sizes, event counts and time ranges",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			l, q, err := f.open(ctx)
			if err != nil {
				return err
			}
			objs, err := l.Files(ctx, q)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "FILE\tSIZE\tEVENTS\tFROM\tTO\tHOST")
			var bad int
			var size, rows int64
			for _, o := range objs {
				info, err := l.Stat(ctx, o.Key)
				if err != nil {
					bad++
					q.OnFileError(o.Key, err)
					continue
				}
				size += info.Size
				rows += info.Rows
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", escape.String(o.Key), humanBytes(info.Size), info.Rows,
					fmtNS(info.TimeMin), fmtNS(info.TimeMax), escape.String(info.Host))
			}
			fmt.Fprintf(tw, "%d files\t%s\t%d\t\t\t\n", len(objs)-bad, humanBytes(size), rows)
			tw.Flush()
			if bad > 0 {
				return fmt.Errorf("%d trace files could not be read (see the errors above)", bad)
			}
			return nil
		},
	}
	f.register(cmd)
	return cmd
}

func newLakeCatCmd() *cobra.Command {
	var f lakeFlags
	var limit int64
	cmd := &cobra.Command{
		Use:   "cat",
		Short: "Print events as JSON lines (attacker-controlled strings escaped)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			l, q, err := f.open(ctx)
			if err != nil {
				return err
			}
			out := bufio.NewWriterSize(cmd.OutOrStdout(), 64<<10)
			defer out.Flush()
			enc := json.NewEncoder(out)
			enc.SetEscapeHTML(false)
			var n int64
			errLimit := fmt.Errorf("limit reached")
			err = l.Scan(ctx, q, func(e *trace.Event) error {
				if limit > 0 && n >= limit {
					return errLimit
				}
				n++
				return enc.Encode(escapedEvent(e))
			})
			if err == errLimit {
				return nil
			}
			return scanErr(err)
		},
	}
	f.register(cmd)
	cmd.Flags().Int64Var(&limit, "limit", 0, "stop after this many events (0: all)")
	return cmd
}

// escapedEvent copies e with every string a watched process could choose
// escaped, so output never carries raw control characters or invalid UTF-8.
func escapedEvent(e *trace.Event) *trace.Event {
	c := *e
	for _, s := range []*string{&c.Host, &c.Comm, &c.ExePath, &c.Cwd, &c.Path, &c.NewPath, &c.DNSName, &c.Module,
		&c.ContainerName, &c.Image, &c.ECSContainerName, &c.TaskFamily, &c.Cluster, &c.TaskARN, &c.Workload,
		&c.SrcAddr, &c.DstAddr, &c.ContainerID, &c.ImageDigest, &c.Runtime, &c.TaskRevision, &c.LaunchType,
		&c.ProcUUID, &c.ParentUUID, &c.ExeSHA256, &c.BootID} {
		*s = escape.String(*s)
	}
	c.Kind = trace.Kind(escape.String(string(c.Kind)))
	c.Argv = escape.Strings(c.Argv)
	c.DNSAnswers = escape.Strings(c.DNSAnswers)
	return &c
}

func newLakeStatsCmd() *cobra.Command {
	var f lakeFlags
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Count events by kind and workload, and bytes per event on disk",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			l, q, err := f.open(ctx)
			if err != nil {
				return err
			}
			objs, err := l.Files(ctx, q)
			if err != nil {
				return err
			}
			var bytes int64
			for _, o := range objs {
				bytes += o.Size
			}
			byKind := map[string]int64{}
			byWorkload := map[string]int64{}
			var total int64
			from, to := q.From, q.To
			kinds := map[string]bool{}
			for _, k := range q.Kinds {
				kinds[string(k)] = true
			}
			// Three columns through Arrow: stats over a large lake stay fast.
			err = l.ReadColumns(ctx, q, []string{"time", "kind", "workload"}, func(_ string, rec arrow.RecordBatch) error {
				ts := rec.Column(0).(*array.Timestamp)
				kc := rec.Column(1)
				wc := rec.Column(2)
				for i := 0; i < int(rec.NumRows()); i++ {
					t := time.Unix(0, int64(ts.Value(i)))
					if (!from.IsZero() && t.Before(from)) || (!to.IsZero() && !t.Before(to)) {
						continue
					}
					k, w := stringAt(kc, i), stringAt(wc, i)
					if (len(kinds) > 0 && !kinds[k]) || (q.Workload != "" && w != q.Workload) {
						continue
					}
					byKind[k]++
					byWorkload[w]++
					total++
				}
				return nil
			})
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%d events in %d files, %s", total, len(objs), humanBytes(bytes))
			if total > 0 && len(q.Kinds) == 0 && q.Workload == "" && q.From.IsZero() && q.To.IsZero() {
				fmt.Fprintf(out, ", %.1f bytes/event", float64(bytes)/float64(total))
			}
			fmt.Fprintln(out)
			printCounts(out, "KIND", byKind, total)
			printCounts(out, "WORKLOAD", byWorkload, total)
			return scanErr(err)
		},
	}
	f.register(cmd)
	return cmd
}

func stringAt(col arrow.Array, i int) string {
	switch c := col.(type) {
	case *array.String:
		return c.Value(i)
	case *array.Binary:
		return string(c.Value(i))
	case *array.Dictionary:
		return stringAt(c.Dictionary(), c.GetValueIndex(i))
	default:
		return col.ValueStr(i)
	}
}

func printCounts(w io.Writer, title string, counts map[string]int64, total int64) {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if counts[keys[i]] != counts[keys[j]] {
			return counts[keys[i]] > counts[keys[j]]
		}
		return keys[i] < keys[j]
	})
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "\n%s\tEVENTS\tSHARE\t\n", title)
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%d\t%.1f%%\t\n", escape.String(k), counts[k], 100*float64(counts[k])/float64(max(total, 1)))
	}
	tw.Flush()
}

// exportColumns is the flat column order of CSV exports; notebooks rely on it.
var exportColumns = []string{"time", "host", "kind", "workload", "pid", "tid", "ppid", "ns_pid", "uid", "euid",
	"gid", "egid", "comm", "exe_path", "argv", "argv_truncated", "cwd", "proc_uuid", "parent_uuid", "exe_sha256",
	"cgroup_id", "container_id", "container_image", "container_name", "ecs_cluster", "ecs_task_arn",
	"ecs_task_family", "ecs_task_revision", "ecs_container_name", "ecs_launch_type", "syscall", "ret", "path",
	"new_path", "flags", "mode", "fd", "net_family", "net_protocol", "net_src_addr", "net_src_port",
	"net_dst_addr", "net_dst_port", "dns_name", "dns_type", "target_pid", "module"}

func csvRow(e *trace.Event, row []string) []string {
	argv, _ := json.Marshal(escape.Strings(e.Argv))
	if e.Argv == nil {
		argv = nil
	}
	i64 := func(v int64) string { return strconv.FormatInt(v, 10) }
	u64 := func(v uint64) string { return strconv.FormatUint(v, 10) }
	s := escape.String
	return append(row[:0],
		time.Unix(0, e.Time).UTC().Format(time.RFC3339Nano), s(e.Host), string(e.Kind), s(e.Workload),
		i64(int64(e.PID)), i64(int64(e.TID)), i64(int64(e.PPID)), i64(int64(e.NSPID)),
		u64(uint64(e.UID)), u64(uint64(e.EUID)), u64(uint64(e.GID)), u64(uint64(e.EGID)),
		s(e.Comm), s(e.ExePath), string(argv), strconv.FormatBool(e.ArgvTruncated), s(e.Cwd),
		s(e.ProcUUID), s(e.ParentUUID), s(e.ExeSHA256), u64(e.CgroupID), s(e.ContainerID), s(e.Image),
		s(e.ContainerName), s(e.Cluster), s(e.TaskARN), s(e.TaskFamily), s(e.TaskRevision),
		s(e.ECSContainerName), s(e.LaunchType), i64(int64(e.Syscall)), i64(e.Ret), s(e.Path), s(e.NewPath),
		u64(e.Flags), u64(uint64(e.Mode)), i64(int64(e.FD)), u64(uint64(e.NetFamily)), u64(uint64(e.NetProto)),
		s(e.SrcAddr), u64(uint64(e.SrcPort)), s(e.DstAddr), u64(uint64(e.DstPort)), s(e.DNSName),
		u64(uint64(e.DNSType)), i64(int64(e.TargetPID)), s(e.Module))
}

func newLakeExportCmd() *cobra.Command {
	var f lakeFlags
	var format, outPath string
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Export events as CSV or JSON lines (for notebooks and tools without Parquet)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "csv" && format != "jsonl" {
				return fmt.Errorf("--format %q: use csv or jsonl", format)
			}
			ctx := cmd.Context()
			l, q, err := f.open(ctx)
			if err != nil {
				return err
			}
			var w io.Writer = cmd.OutOrStdout()
			if outPath != "" && outPath != "-" {
				q.Progress = true // stdout is free of the bar: it goes to stderr, on a terminal only
				file, err := os.Create(outPath)
				if err != nil {
					return err
				}
				defer file.Close()
				w = file
			}
			bw := bufio.NewWriterSize(w, 256<<10)
			var n int64
			switch format {
			case "csv":
				cw := csv.NewWriter(bw)
				cw.Write(exportColumns)
				row := make([]string, 0, len(exportColumns))
				err = l.Scan(ctx, q, func(e *trace.Event) error {
					n++
					row = csvRow(e, row)
					return cw.Write(row)
				})
				cw.Flush()
				if err == nil {
					err = cw.Error()
				}
			case "jsonl":
				enc := json.NewEncoder(bw)
				enc.SetEscapeHTML(false)
				err = l.Scan(ctx, q, func(e *trace.Event) error {
					n++
					return enc.Encode(escapedEvent(e))
				})
			}
			if ferr := bw.Flush(); ferr != nil && err == nil {
				err = ferr
			}
			if outPath != "" && outPath != "-" {
				slog.Info("exported", logkey.Events, n, logkey.File, outPath)
			}
			return scanErr(err)
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&format, "format", "csv", "csv or jsonl")
	cmd.Flags().StringVarP(&outPath, "out", "o", "", "output file (default stdout)")
	return cmd
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func fmtNS(ns int64) string {
	if ns == 0 {
		return "-"
	}
	return time.Unix(0, ns).UTC().Format("2006-01-02T15:04:05Z")
}
