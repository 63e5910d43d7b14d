package lake_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	aparquet "github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/parquet-go/parquet-go"

	"github.com/vigilsec/vigil/trace"
	"github.com/vigilsec/vigil/trace/lake"
	"github.com/vigilsec/vigil/trace/lake/laketest"
	"github.com/vigilsec/vigil/trace/tracetest"
)

// sameEvents fails on the first event where got and want differ, naming the
// field, so a decoder bug points at its column.
func sameEvents(t *testing.T, what string, got, want []trace.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d events, want %d", what, len(got), len(want))
	}
	for i := range got {
		if reflect.DeepEqual(got[i], want[i]) {
			continue
		}
		g, w := reflect.ValueOf(got[i]), reflect.ValueOf(want[i])
		for f := range g.NumField() {
			if !reflect.DeepEqual(g.Field(f).Interface(), w.Field(f).Interface()) {
				t.Fatalf("%s: event %d, field %s = %#v, want %#v", what, i, g.Type().Field(f).Name, g.Field(f).Interface(), w.Field(f).Interface())
			}
		}
		t.Fatalf("%s: event %d differs", what, i) // nil and empty slices
	}
}

// listEdgeEvents has every shape of list and flag: nil, empty, one empty
// element, many elements, and both truncation flags.
func listEdgeEvents(n int) []trace.Event {
	out := tracetest.Events(21, n, int64(time.Millisecond))
	for i := range out {
		e := &out[i]
		switch i % 6 {
		case 0:
			e.Argv, e.DNSAnswers = nil, nil
		case 1:
			e.Argv, e.DNSAnswers = []string{}, []string{}
		case 2:
			e.Argv, e.DNSAnswers = []string{""}, []string{"", ""}
		case 3:
			e.Argv = make([]string, 300+i%50)
			for j := range e.Argv {
				e.Argv[j] = fmt.Sprintf("arg-%d-%d", i, j)
			}
			e.DNSAnswers = []string{"10.0.0.1", "fd00::1", "10.0.0.1"}
		}
		e.ArgvTruncated = i%3 == 0
		e.PathTruncated = i%5 == 0
	}
	return out
}

func randomEvents(seed uint64, n int) []trace.Event {
	r := rand.New(rand.NewPCG(seed, 7))
	out := make([]trace.Event, n)
	for i := range out {
		out[i] = randomEvent(r, tracetest.Start)
	}
	sortByTime(out)
	return out
}

// The page decoder Scan uses must give exactly the events Arrow's reader
// gives, file by file, whatever the batch size, on every shape of file the
// writer makes: several pages per row group, many small row groups, nulls,
// empty lists, non-UTF-8 bytes, and columns whose dictionary overflowed into
// plain pages.
func TestPageDecoderMatchesArrow(t *testing.T) {
	cases := []struct {
		name   string
		events []trace.Event
		cfg    lake.WriterConfig
	}{
		{"realistic", tracetest.Events(11, 100_000, benchStep), lake.WriterConfig{}},
		{"small-row-groups", tracetest.Events(12, 20_000, benchStep), lake.WriterConfig{BatchRows: 333, File: lake.FileOptions{RowGroupRows: 3001}}},
		{"random", randomEvents(13, 3000), lake.WriterConfig{File: lake.FileOptions{RowGroupRows: 700}}},
		{"dictionary-overflow", randomEvents(14, 3000), lake.WriterConfig{File: lake.FileOptions{DictionaryMaxBytes: 300}}},
		{"lists-and-flags", listEdgeEvents(5000), lake.WriterConfig{File: lake.FileOptions{RowGroupRows: 1000}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := openLake(t, t.TempDir())
			laketest.Write(t, l, tc.cfg, tc.events)
			objs, err := l.Files(context.Background(), lake.Query{})
			if err != nil || len(objs) == 0 {
				t.Fatal(objs, err)
			}
			var all []trace.Event
			for _, o := range objs {
				want, err := lake.ArrowReadFile(l, o.Key)
				if err != nil {
					t.Fatal(err)
				}
				for _, batch := range []int{1, 7, 512, 4096} {
					got, err := lake.DecodeFile(l, o.Key, batch)
					if err != nil {
						t.Fatal(err)
					}
					sameEvents(t, fmt.Sprintf("%s, batch %d", o.Key, batch), got, want)
				}
				all = append(all, want...)
			}
			// And both are what was written, but for an empty list,
			// which reads back as nil.
			written := slices.Clone(tc.events)
			for i := range written {
				if len(written[i].Argv) == 0 {
					written[i].Argv = nil
				}
				if len(written[i].DNSAnswers) == 0 {
					written[i].DNSAnswers = nil
				}
			}
			key := func(e trace.Event) string { return fmt.Sprintf("%020d/%s/%d/%d", e.Time, e.Cluster, e.PID, e.Syscall) }
			slices.SortStableFunc(written, func(a, b trace.Event) int { return strings.Compare(key(a), key(b)) })
			slices.SortStableFunc(all, func(a, b trace.Event) int { return strings.Compare(key(a), key(b)) })
			sameEvents(t, "files against the events written", all, written)
		})
	}
}

// putFile writes rows with parquet-go options of the test's choosing, as
// another writer or an older Vigil would, as a trace file of l's hour.
func putFile[T any](t *testing.T, root string, rows []T, opts ...parquet.WriterOption) string {
	t.Helper()
	var buf bytes.Buffer
	opts = append(opts, parquet.KeyValueMetadata("vigil.schema_version", fmt.Sprint(trace.SchemaVersion)))
	w := parquet.NewGenericWriter[T](&buf, opts...)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	key, path := newFilePath(t, root, "other")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return key
}

// newFilePath names a trace file of the test events' hour, by host, and
// makes its directory.
func newFilePath(t *testing.T, root, host string) (key, path string) {
	t.Helper()
	key = lake.PartitionOf("prod", tracetest.Start).FileKey(host, time.Unix(0, tracetest.Start), "w", 1)
	path = filepath.Join(root, key)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	return key, path
}

// Data pages v1 and v2, many small pages per column chunk, and dictionaries
// that overflow into plain pages part way through a column chunk: the
// layouts of other writers. Batches then cross page boundaries everywhere.
func TestScanReadsOtherPageLayouts(t *testing.T) {
	events := listEdgeEvents(3000)
	for i := range events {
		events[i].Cluster = "prod"
		if len(events[i].Argv) == 0 {
			events[i].Argv = nil
		}
		if len(events[i].DNSAnswers) == 0 {
			events[i].DNSAnswers = nil
		}
	}
	for _, v := range []int{1, 2} {
		t.Run(fmt.Sprint("v", v), func(t *testing.T) {
			root := t.TempDir()
			l := openLake(t, root)
			key := putFile(t, root, events, parquet.DataPageVersion(v), parquet.PageBufferSize(2048),
				parquet.MaxRowsPerRowGroup(1100), parquet.DictionaryMaxBytes(256))
			checkFileReads(t, l, key, events)
		})
	}
}

// oldEvent is a trace file row of an older schema or another writer: fewer
// columns, one (pid) of another type, and others without dictionaries or with
// other optionality. Fields it lacks read as zero values.
type oldEvent struct {
	Time          int64    `parquet:"time,timestamp(nanosecond)"`
	Host          string   `parquet:"host"`
	Kind          string   `parquet:"kind,dict"`
	PID           string   `parquet:"pid"`
	UID           uint32   `parquet:"uid"`
	Syscall       int32    `parquet:"syscall"`
	Ret           int64    `parquet:"ret,optional"`
	FD            int32    `parquet:"fd,optional"`
	ProcStart     int64    `parquet:"proc_start"`
	Path          string   `parquet:"path,optional"`
	PathTruncated bool     `parquet:"path_truncated,optional"`
	Argv          []string `parquet:"argv,list,optional"`
	DNSAnswers    []string `parquet:"dns_answers,list,dict"`
	Cluster       string   `parquet:"ecs_cluster,optional"`
	Workload      string   `parquet:"workload,dict"`
	Extra         string   `parquet:"not_in_trace_event"`
}

func TestScanOlderFileLeavesMissingFieldsZero(t *testing.T) {
	root := t.TempDir()
	l := openLake(t, root)
	var rows []oldEvent
	var want []trace.Event
	for i := range 5000 {
		o := oldEvent{
			Time: tracetest.Start + int64(i)*int64(time.Millisecond), Host: fmt.Sprint("h", i%3), Kind: string(trace.KindOpen),
			PID: "nope", UID: uint32(1 << 31), Syscall: -int32(i), ProcStart: -int64(i) << 20,
			Cluster: "prod", Workload: "web/app", Extra: "x",
		}
		if i%2 == 0 {
			o.Kind, o.Argv = string(trace.KindExec), []string{"sh", "-c", fmt.Sprint(i)}
		} else {
			o.Path, o.PathTruncated, o.FD, o.Ret = fmt.Sprintf("/tmp/f%d", i%17), i%3 == 0, -int32(i%5), -int64(i%7)
		}
		if i%5 == 0 {
			o.DNSAnswers = []string{"10.0.0.1", fmt.Sprint("10.0.0.", i%4)}
		}
		rows = append(rows, o)
		want = append(want, trace.Event{
			Time: o.Time, Host: o.Host, Kind: trace.Kind(o.Kind), UID: o.UID, Syscall: o.Syscall, Ret: o.Ret, FD: o.FD,
			ProcStart: o.ProcStart, Path: o.Path, PathTruncated: o.PathTruncated, Argv: o.Argv, DNSAnswers: o.DNSAnswers,
			Cluster: o.Cluster, Workload: o.Workload,
		})
	}
	key := putFile(t, root, rows, parquet.MaxRowsPerRowGroup(1500), parquet.PageBufferSize(4096))
	sameEvents(t, "scan", scanAll(t, l, lake.Query{}), want)
	got, err := lake.DecodeFile(l, key, 333)
	if err != nil {
		t.Fatal(err)
	}
	sameEvents(t, "decode", got, want)
	var execs []trace.Event
	for _, e := range want {
		if e.Kind == trace.KindExec {
			execs = append(execs, e)
		}
	}
	sameEvents(t, "kind query", scanAll(t, l, lake.Query{Kinds: []trace.Kind{trace.KindExec}}), execs)
}

// Arrow's writer makes data pages v1 that begin in the middle of a list, and
// list elements that may be null: rows are put back together across pages,
// and a null element reads as "" as it does through Arrow.
func TestScanReadsArrowWrittenFile(t *testing.T) {
	events := listEdgeEvents(2000)
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "time", Type: &arrow.TimestampType{Unit: arrow.Nanosecond}},
		{Name: "kind", Type: arrow.BinaryTypes.String},
		{Name: "pid", Type: arrow.PrimitiveTypes.Int32},
		{Name: "uid", Type: arrow.PrimitiveTypes.Uint32},
		{Name: "net_dst_port", Type: arrow.PrimitiveTypes.Uint16, Nullable: true},
		{Name: "path", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "argv", Type: arrow.ListOf(arrow.BinaryTypes.String), Nullable: true},
		{Name: "argv_truncated", Type: arrow.FixedWidthTypes.Boolean},
		{Name: "ecs_cluster", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer b.Release()
	var want []trace.Event
	for _, e := range events {
		w := trace.Event{Time: e.Time, Kind: e.Kind, PID: e.PID, UID: e.UID | 1<<31, DstPort: e.DstPort,
			Path: e.Path, Argv: e.Argv, ArgvTruncated: e.ArgvTruncated, Cluster: "prod"}
		if len(w.Argv) == 0 {
			w.Argv = nil
		}
		b.Field(0).(*array.TimestampBuilder).Append(arrow.Timestamp(w.Time))
		b.Field(1).(*array.StringBuilder).Append(string(w.Kind))
		b.Field(2).(*array.Int32Builder).Append(w.PID)
		b.Field(3).(*array.Uint32Builder).Append(w.UID)
		if w.DstPort == 0 {
			b.Field(4).AppendNull()
		} else {
			b.Field(4).(*array.Uint16Builder).Append(w.DstPort)
		}
		if w.Path == "" {
			b.Field(5).AppendNull()
		} else {
			b.Field(5).(*array.StringBuilder).Append(w.Path)
		}
		lb := b.Field(6).(*array.ListBuilder)
		vb := lb.ValueBuilder().(*array.StringBuilder)
		switch {
		case e.Argv == nil:
			lb.AppendNull()
		default:
			lb.Append(true)
			for j, a := range e.Argv {
				if a == "" && j == 0 {
					vb.AppendNull()
				} else {
					vb.Append(a)
				}
			}
		}
		b.Field(7).(*array.BooleanBuilder).Append(w.ArgvTruncated)
		b.Field(8).(*array.StringBuilder).Append(w.Cluster)
		want = append(want, w)
	}
	rec := b.NewRecordBatch()
	defer rec.Release()

	root := t.TempDir()
	l := openLake(t, root)
	key, path := newFilePath(t, root, "arrow")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	props := aparquet.NewWriterProperties(aparquet.WithDataPageSize(256), aparquet.WithBatchSize(16),
		aparquet.WithDataPageVersion(aparquet.DataPageV1), aparquet.WithMaxRowGroupLength(700))
	fw, err := pqarrow.NewFileWriter(sc, f, props, pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	if err := fw.AppendKeyValueMetadata("vigil.schema_version", fmt.Sprint(trace.SchemaVersion)); err != nil {
		t.Fatal(err)
	}
	if err := fw.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	checkFileReads(t, l, key, want)
}

// checkFileReads requires want from the only file of l, key, through Arrow,
// through the page decoder at several batch sizes, and through Scan.
func checkFileReads(t *testing.T, l *lake.Lake, key string, want []trace.Event) {
	t.Helper()
	ref, err := lake.ArrowReadFile(l, key)
	if err != nil {
		t.Fatal(err)
	}
	sameEvents(t, "arrow", ref, want)
	for _, batch := range []int{1, 33, 4096} {
		got, err := lake.DecodeFile(l, key, batch)
		if err != nil {
			t.Fatal(err)
		}
		sameEvents(t, fmt.Sprint("batch ", batch), got, want)
	}
	sameEvents(t, "scan", scanAll(t, l, lake.Query{}), want)
}

// Damaged page data is a file error that names the file, never a panic out
// of Scan nor a hang, wherever the damage falls.
func TestDamagedPagesAreNamedFileErrors(t *testing.T) {
	root := t.TempDir()
	l := openLake(t, root)
	laketest.Write(t, l, lake.WriterConfig{File: lake.FileOptions{RowGroupRows: 3000}}, tracetest.Events(3, 20000, int64(time.Millisecond)))
	objs, err := l.Files(context.Background(), lake.Query{})
	if err != nil || len(objs) == 0 {
		t.Fatal(objs, err)
	}
	path := filepath.Join(root, objs[0].Key)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 6))
	failed := 0
	for range 100 {
		b := slices.Clone(orig)
		for range 1 + r.IntN(8) {
			// Before the footer, which has tests of its own.
			b[4+r.IntN(len(b)-4000)] ^= byte(1 + r.IntN(255))
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		err := l.Scan(context.Background(), lake.Query{}, func(*trace.Event) error { return nil })
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("scan of a damaged file took %v", d)
		}
		if err != nil {
			failed++
			if !strings.Contains(err.Error(), objs[0].Key) {
				t.Fatalf("error does not name the file: %v", err)
			}
		}
	}
	if failed < 50 {
		t.Fatalf("only %d of 100 damaged files were reported", failed)
	}
}
