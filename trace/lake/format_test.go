package lake_test

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"
	"github.com/parquet-go/parquet-go/format"

	"github.com/vigilsec/vigil/trace"
	"github.com/vigilsec/vigil/trace/lake"
	"github.com/vigilsec/vigil/trace/lake/laketest"
	"github.com/vigilsec/vigil/trace/tracetest"
)

// The lake's writer encodes columns itself; these tests hold its files to
// those parquet-go's writer made before, with the same options, which every
// reader of the lake was built and tested against.

// parquetGoFile writes events with parquet-go's own writer, configured as the
// lake's writer was before it encoded columns itself: the reference for the
// file format.
func parquetGoFile(t *testing.T, events []trace.Event, host string, o lake.FileOptions) []byte {
	t.Helper()
	o.RowGroupRows = cmp.Or(o.RowGroupRows, 64<<10)
	o.Level = cmp.Or(o.Level, zstd.SpeedDefault)
	o.DictionaryMaxBytes = cmp.Or(o.DictionaryMaxBytes, 4<<20)
	opts := []parquet.WriterOption{
		parquet.Compression(&zstd.Codec{Level: o.Level}),
		parquet.MaxRowsPerRowGroup(o.RowGroupRows),
		parquet.DictionaryMaxBytes(o.DictionaryMaxBytes),
		parquet.KeyValueMetadata("vigil.schema_version", strconv.Itoa(trace.SchemaVersion)),
		parquet.KeyValueMetadata("vigil.host", host),
		parquet.CreatedBy("vigil", "", ""),
	}
	for _, path := range parquet.SchemaOf(trace.Event{}).Columns() {
		if len(path) != 1 || path[0] != "time" {
			opts = append(opts, parquet.SkipPageBounds(path...), parquet.SkipPageStatistics(path...))
		}
	}
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[trace.Event](&buf, opts...)
	for b := range slices.Chunk(events, 4096) {
		if _, err := w.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	lo, hi := events[0].Time, events[0].Time
	for _, e := range events {
		lo, hi = min(lo, e.Time), max(hi, e.Time)
	}
	w.SetKeyValueMetadata("vigil.time_min", strconv.FormatInt(lo, 10))
	w.SetKeyValueMetadata("vigil.time_max", strconv.FormatInt(hi, 10))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func columnFile(t *testing.T, events []trace.Event, host string, o lake.FileOptions, batch int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := lake.WriteColumnFile(&buf, host, o, events, batch); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func footerOf(t *testing.T, data []byte) *format.FileMetaData {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	return f.Metadata()
}

// readRows reads a file back with parquet-go's row reader.
func readRows(t *testing.T, data []byte) []trace.Event {
	t.Helper()
	r := parquet.NewGenericReader[trace.Event](bytes.NewReader(data))
	defer r.Close()
	out := make([]trace.Event, r.NumRows())
	if n, err := r.Read(out); n != len(out) {
		t.Fatalf("read %d of %d rows: %v", n, len(out), err)
	}
	return out
}

// edgeEvents adds to listEdgeEvents (every shape of list and flag) the
// other edges the writer has a path for: argv at the collector's bounds (20
// arguments, 1 KiB), paths of PATH_MAX bytes, DNS names of 512, values that
// differ only in their middle bytes (a dictionary cache keys on the ends),
// non-UTF-8 bytes, empty required strings, extreme integers and zero
// optional integers.
func edgeEvents(seed uint64, n int) []trace.Event {
	r := rand.New(rand.NewPCG(seed, 3))
	out := listEdgeEvents(n)
	long := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('a' + r.IntN(26))
		}
		return string(b)
	}
	for i := range out {
		e := &out[i]
		switch i % 7 {
		case 0:
			e.Argv = make([]string, 20)
			for j := range e.Argv {
				e.Argv[j] = long(1024/20 - 1)
			}
			e.ArgvTruncated = true
		case 1:
			e.Path, e.NewPath, e.ExePath = "/"+long(4095), "/"+long(4095), "/"+long(4095)
		case 2:
			e.Path = fmt.Sprintf("/var/cache/app/%06d/same-ends.bin", r.IntN(1000))
			e.DNSName = long(512)
		case 3:
			e.Comm, e.Cwd = "\xff\xfe\x00bin", "/tmp/\x00\x01\x80"
			e.Host, e.Kind = "", ""
		case 4:
			e.Flags, e.UID, e.Ret = math.MaxUint64, math.MaxUint32, math.MinInt64
			e.NetProto, e.SrcPort, e.DstPort, e.Mode = math.MaxUint8, math.MaxUint16, 1, math.MaxUint32
			e.PID, e.TargetPID, e.NSPID = math.MinInt32, math.MaxInt32, -1
			e.ProcStart, e.CgroupID = math.MinInt64, math.MaxUint64
		case 5:
			e.NSPID, e.FD, e.Flags, e.TargetPID, e.ProcStart = 0, 0, 0, 0, 0
			e.ExePath, e.ParentUUID, e.ContainerID, e.Workload = "", "", "", ""
		}
	}
	return out
}

type writeCase struct {
	name   string
	events []trace.Event
	o      lake.FileOptions
	batch  int
}

func writeCases() []writeCase {
	return []writeCase{
		{"realistic", tracetest.Events(31, 80_000, benchStep), lake.FileOptions{}, 4096},
		{"edges", edgeEvents(32, 20_000), lake.FileOptions{RowGroupRows: 7000}, 1000},
		{"small-groups-and-batches", edgeEvents(33, 5000), lake.FileOptions{RowGroupRows: 333}, 77},
		{"one-row-groups", edgeEvents(34, 300), lake.FileOptions{RowGroupRows: 1}, 7},
		{"dictionary-overflow", edgeEvents(35, 20_000), lake.FileOptions{RowGroupRows: 9000, DictionaryMaxBytes: 2000}, 500},
		{"fastest", tracetest.Events(36, 10_000, benchStep), lake.FileOptions{Level: zstd.SpeedFastest}, 4096},
	}
}

// The column writer's files are parquet-go's files: the same footer (schema,
// metadata, row groups, per column type, codec, encodings, value counts,
// time statistics), null counts that follow the tags, the same rows through
// parquet-go's reader, and the same columns through Arrow's.
func TestColumnWriterMatchesParquetGo(t *testing.T) {
	for _, tc := range writeCases() {
		t.Run(tc.name, func(t *testing.T) {
			got := columnFile(t, tc.events, "h1", tc.o, tc.batch)
			want := parquetGoFile(t, tc.events, "h1", tc.o)
			gf, wf := footerOf(t, got), footerOf(t, want)
			sameFooters(t, gf, wf, tc.o.DictionaryMaxBytes > 0)
			checkNullCounts(t, gf, wf, tc.events)
			rows := readRows(t, got)
			sameEvents(t, "parquet-go reader", rows, readRows(t, want))
			sameEvents(t, "against the events written", rows, tc.events)
			sameArrowTables(t, got, want)
		})
	}
}

func sameFooters(t *testing.T, got, want *format.FileMetaData, overflow bool) {
	t.Helper()
	if !reflect.DeepEqual(got.Schema, want.Schema) {
		t.Errorf("schema:\n%+v\nwant\n%+v", got.Schema, want.Schema)
	}
	if !reflect.DeepEqual(got.KeyValueMetadata, want.KeyValueMetadata) {
		t.Errorf("key/value metadata %v, want %v", got.KeyValueMetadata, want.KeyValueMetadata)
	}
	if got.Version != want.Version || got.CreatedBy != want.CreatedBy || got.NumRows != want.NumRows {
		t.Errorf("version %d, created by %q, %d rows; want %d, %q, %d", got.Version, got.CreatedBy, got.NumRows, want.Version, want.CreatedBy, want.NumRows)
	}
	if !reflect.DeepEqual(got.ColumnOrders, want.ColumnOrders) {
		t.Errorf("column orders differ")
	}
	if len(got.RowGroups) != len(want.RowGroups) {
		t.Fatalf("%d row groups, want %d", len(got.RowGroups), len(want.RowGroups))
	}
	for i, rg := range got.RowGroups {
		wrg := want.RowGroups[i]
		if rg.NumRows != wrg.NumRows || int(rg.Ordinal) != i {
			t.Fatalf("row group %d: %d rows, ordinal %d; want %d, %d", i, rg.NumRows, rg.Ordinal, wrg.NumRows, i)
		}
		for j, c := range rg.Columns {
			m, w := c.MetaData, wrg.Columns[j].MetaData
			where := fmt.Sprintf("row group %d column %v", i, m.PathInSchema)
			if m.Type != w.Type || !slices.Equal(m.PathInSchema, w.PathInSchema) || m.Codec != w.Codec || m.NumValues != w.NumValues {
				t.Fatalf("%s: type %v codec %v %d values; want %v %v %v %d", where, m.Type, m.Codec, m.NumValues, w.Type, w.PathInSchema, w.Codec, w.NumValues)
			}
			if !bytes.Equal(m.Statistics.MinValue, w.Statistics.MinValue) || !bytes.Equal(m.Statistics.MaxValue, w.Statistics.MaxValue) {
				t.Errorf("%s: bounds %x..%x, want %x..%x", where, m.Statistics.MinValue, m.Statistics.MaxValue, w.Statistics.MinValue, w.Statistics.MaxValue)
			}
			// Where a dictionary overflows mid row group depends on where
			// pages are cut, so the pages of that row group may differ.
			if !overflow && !slices.Equal(m.Encoding, w.Encoding) {
				t.Errorf("%s: encodings %v, want %v", where, m.Encoding, w.Encoding)
			}
			if (m.DictionaryPageOffset != 0) != (w.DictionaryPageOffset != 0) {
				t.Errorf("%s: dictionary page %v, want %v", where, m.DictionaryPageOffset != 0, w.DictionaryPageOffset != 0)
			}
		}
	}
}

// optionalFields lists, by leaf column, the trace.Event field of each
// optional column (nil for required ones).
func optionalFields(t *testing.T) [][]int {
	t.Helper()
	schema := parquet.SchemaOf(trace.Event{})
	byName := map[string][]int{}
	et := reflect.TypeFor[trace.Event]()
	for i := range et.NumField() {
		name, _, _ := strings.Cut(et.Field(i).Tag.Get("parquet"), ",")
		byName[name] = et.Field(i).Index
	}
	var out [][]int
	for _, path := range schema.Columns() {
		leaf, _ := schema.Lookup(path...)
		var idx []int
		if leaf.MaxDefinitionLevel > 0 {
			idx = byName[path[0]]
		}
		out = append(out, idx)
	}
	return out
}

// checkNullCounts checks each column chunk's null count against the events:
// a zero value of an optional column is null, as its tag says, and so is a
// nil or empty list. parquet-go's writer falls short of that now and then:
// it stores some zero values of optional dictionary columns as non-null
// zeros and empty strings, which every reader of the lake reads back as the
// same zero, so its counts may only be lower.
func checkNullCounts(t *testing.T, got, want *format.FileMetaData, events []trace.Event) {
	t.Helper()
	fields := optionalFields(t)
	row := 0
	for i, rg := range got.RowGroups {
		rows := events[row : row+int(rg.NumRows)]
		row += int(rg.NumRows)
		for j, c := range rg.Columns {
			var zero int64
			for k := range rows {
				if fields[j] == nil {
					break
				}
				v := reflect.ValueOf(&rows[k]).Elem().FieldByIndex(fields[j])
				if v.IsZero() || v.Kind() == reflect.Slice && v.Len() == 0 {
					zero++
				}
			}
			path := c.MetaData.PathInSchema
			if n := c.MetaData.Statistics.NullCount; n != zero {
				t.Errorf("row group %d column %v: %d nulls, want %d", i, path, n, zero)
			}
			if n := want.RowGroups[i].Columns[j].MetaData.Statistics.NullCount; n > zero {
				t.Errorf("row group %d column %v: parquet-go counts %d nulls, more than the %d zero values", i, path, n, zero)
			}
		}
	}
}

// sameArrowTables reads both files with Arrow's reader and compares every
// column. Where parquet-go's file has a non-null zero (see checkNullCounts)
// the column writer's must have null, and it must have no such zero itself.
func sameArrowTables(t *testing.T, got, want []byte) {
	t.Helper()
	read := func(data []byte) arrow.Table {
		rdr, err := file.NewParquetReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		defer rdr.Close()
		fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{BatchSize: 4096}, memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		tbl, err := fr.ReadTable(context.Background())
		if err != nil {
			t.Fatalf("arrow: %v", err)
		}
		return tbl
	}
	g, w := read(got), read(want)
	defer g.Release()
	defer w.Release()
	if g.NumRows() != w.NumRows() || g.NumCols() != w.NumCols() {
		t.Fatalf("arrow: %dx%d, want %dx%d", g.NumRows(), g.NumCols(), w.NumRows(), w.NumCols())
	}
	if !g.Schema().Equal(w.Schema()) {
		t.Fatalf("arrow schema:\n%v\nwant\n%v", g.Schema(), w.Schema())
	}
	for i := range int(g.NumCols()) {
		gc, wc := g.Column(i).Data(), w.Column(i).Data()
		if array.ChunkedEqual(gc, wc) {
			continue
		}
		f := g.Schema().Field(i)
		if !f.Nullable || f.Type.ID() == arrow.LIST {
			t.Fatalf("arrow: column %s differs", f.Name)
		}
		gs, ws := arrowValues(gc), arrowValues(wc)
		for k := range gs {
			switch g, w := gs[k], ws[k]; {
			case g.zero:
				t.Fatalf("arrow: column %s row %d: non-null zero", f.Name, k)
			case g.null && (w.null || w.zero):
			case g != w:
				t.Fatalf("arrow: column %s row %d: %+v, want %+v", f.Name, k, g, w)
			}
		}
	}
}

type arrowValue struct {
	null, zero bool
	s          string
}

// arrowValues renders a column's values.
func arrowValues(c *arrow.Chunked) []arrowValue {
	var out []arrowValue
	for _, a := range c.Chunks() {
		for i := range a.Len() {
			if a.IsNull(i) {
				out = append(out, arrowValue{null: true})
				continue
			}
			v := arrowValue{s: a.ValueStr(i)}
			switch a := a.(type) {
			case *array.String:
				v.zero = a.Value(i) == ""
			case *array.Timestamp:
				v.zero = a.Value(i) == 0
			default:
				v.zero = v.s == "0"
			}
			out = append(out, v)
		}
	}
	return out
}

// Through the whole lake (Writer, files on disk, Scan), the realistic
// generator's events and the edge cases come back as they went in, with the
// one normalisation the lake always had: an empty list reads back nil.
func TestWriterRoundTripsEvents(t *testing.T) {
	for _, tc := range writeCases() {
		t.Run(tc.name, func(t *testing.T) {
			l := openLake(t, t.TempDir())
			laketest.Write(t, l, lake.WriterConfig{BatchRows: tc.batch, File: tc.o}, tc.events)
			got := scanAll(t, l, lake.Query{})
			want := slices.Clone(tc.events)
			for i := range want {
				want[i].Argv, want[i].DNSAnswers = nilIfEmpty(want[i].Argv), nilIfEmpty(want[i].DNSAnswers)
			}
			// Files are per cluster; Scan merges them by time.
			byTime := func(a, b trace.Event) int {
				return cmp.Or(cmp.Compare(a.Time, b.Time), strings.Compare(a.Cluster, b.Cluster))
			}
			slices.SortStableFunc(got, byTime)
			slices.SortStableFunc(want, byTime)
			sameEvents(t, "scan", got, want)
		})
	}
}

func nilIfEmpty(l []string) []string {
	if len(l) == 0 {
		return nil
	}
	return l
}
