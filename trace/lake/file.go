package lake

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/vigilsec/vigil/trace"
)

// Keys in each file's Parquet key/value metadata.
const (
	metaSchemaVersion = "vigil.schema_version"
	metaTimeMin       = "vigil.time_min" // ns, first event
	metaTimeMax       = "vigil.time_max" // ns, last event
	metaHost          = "vigil.host"
)

// ErrNewerSchema is returned (wrapped) for a file written by a newer Vigil.
var ErrNewerSchema = errors.New("file has a newer schema version than this reader")

// FileOptions shape the Parquet files the writer produces.
type FileOptions struct {
	// RowGroupRows bounds a row group: the writer holds at most this many
	// rows in memory per open file, and readers can skip a row group by its
	// time range. parquet-go would otherwise put the whole file in one.
	RowGroupRows int64
	// Level is the zstd level.
	Level zstd.Level
	// DictionaryMaxBytes caps each column's dictionary per row group.
	DictionaryMaxBytes int64
}

// skipBounds leaves min/max bounds out of every column but time: readers
// prune by time only, and computing bounds of string columns costs a large
// share of the write path.
var skipBounds = func() []parquet.WriterOption {
	var opts []parquet.WriterOption
	for _, path := range parquet.SchemaOf(trace.Event{}).Columns() {
		if len(path) != 1 || path[0] != "time" {
			opts = append(opts, parquet.SkipPageBounds(path...), parquet.SkipPageStatistics(path...))
		}
	}
	return opts
}()

func (o FileOptions) withDefaults() FileOptions {
	if o.RowGroupRows <= 0 {
		o.RowGroupRows = 64 << 10
	}
	if o.Level == 0 {
		o.Level = zstd.SpeedDefault
	}
	if o.DictionaryMaxBytes <= 0 {
		o.DictionaryMaxBytes = 4 << 20
	}
	return o
}

// fileWriter writes one Parquet trace file.
type fileWriter struct {
	pw      *parquet.GenericWriter[trace.Event]
	out     *countingWriter
	rows    int64
	minTime int64
	maxTime int64
}

func newFileWriter(w io.Writer, host string, o FileOptions) *fileWriter {
	o = o.withDefaults()
	cw := &countingWriter{w: w}
	opts := []parquet.WriterOption{
		parquet.Compression(&zstd.Codec{Level: o.Level}),
		parquet.MaxRowsPerRowGroup(o.RowGroupRows),
		// A column whose values are too varied for a dictionary falls back
		// to plain encoding instead of growing without bound.
		parquet.DictionaryMaxBytes(o.DictionaryMaxBytes),
		parquet.KeyValueMetadata(metaSchemaVersion, strconv.Itoa(trace.SchemaVersion)),
		parquet.KeyValueMetadata(metaHost, host),
		parquet.CreatedBy("vigil", "", ""),
	}
	opts = append(opts, skipBounds...)
	pw := parquet.NewGenericWriter[trace.Event](cw, opts...)
	return &fileWriter{pw: pw, out: cw}
}

func (f *fileWriter) write(events []trace.Event) error {
	if len(events) == 0 {
		return nil
	}
	for i := range events {
		t := events[i].Time
		if f.rows == 0 && i == 0 {
			f.minTime, f.maxTime = t, t
			continue
		}
		f.minTime = min(f.minTime, t)
		f.maxTime = max(f.maxTime, t)
	}
	n, err := f.pw.Write(events)
	f.rows += int64(n)
	return err
}

// size estimates the finished file: bytes already flushed plus what sits in
// the current row group.
func (f *fileWriter) size() int64 { return f.out.n + f.pw.Size() }

func (f *fileWriter) close() error {
	f.pw.SetKeyValueMetadata(metaTimeMin, strconv.FormatInt(f.minTime, 10))
	f.pw.SetKeyValueMetadata(metaTimeMax, strconv.FormatInt(f.maxTime, 10))
	return f.pw.Close()
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// FileInfo is what a trace file's footer says about it.
type FileInfo struct {
	Key       string
	Partition Partition
	Size      int64
	Rows      int64
	RowGroups int
	TimeMin   int64
	TimeMax   int64
	Host      string
	Schema    int
}

// openParquet opens and validates a trace file: it must be Parquet, carry a
// schema version this reader knows, and have the columns of trace.Event.
func openParquet(r io.ReaderAt, size int64, key string) (*parquet.File, FileInfo, error) {
	info := FileInfo{Key: key, Size: size}
	info.Partition, _ = ParseFileKey(key)
	f, err := parquet.OpenFile(r, size, parquet.SkipBloomFilters(true), parquet.SkipPageIndex(true))
	if err != nil {
		return nil, info, fmt.Errorf("%s: not a readable Parquet file: %w", key, err)
	}
	v, ok := f.Lookup(metaSchemaVersion)
	if !ok {
		return nil, info, fmt.Errorf("%s: no %s in file metadata: not a Vigil trace file", key, metaSchemaVersion)
	}
	info.Schema, err = strconv.Atoi(v)
	if err != nil {
		return nil, info, fmt.Errorf("%s: bad %s %q", key, metaSchemaVersion, v)
	}
	if info.Schema > trace.SchemaVersion {
		return nil, info, fmt.Errorf("%s: schema version %d, this reader knows up to %d: %w", key, info.Schema, trace.SchemaVersion, ErrNewerSchema)
	}
	if _, ok := f.Schema().Lookup("time"); !ok {
		return nil, info, fmt.Errorf("%s: no time column", key)
	}
	info.Rows = f.NumRows()
	info.RowGroups = len(f.RowGroups())
	info.Host, _ = f.Lookup(metaHost)
	if s, ok := f.Lookup(metaTimeMin); ok {
		info.TimeMin, _ = strconv.ParseInt(s, 10, 64)
	}
	if s, ok := f.Lookup(metaTimeMax); ok {
		info.TimeMax, _ = strconv.ParseInt(s, 10, 64)
	}
	return f, info, nil
}

// rowGroupTimeRange reads a row group's min and max event time from its
// column statistics, so readers can skip row groups outside a query.
func rowGroupTimeRange(f *parquet.File, i int) (lo, hi int64, ok bool) {
	leaf, found := f.Schema().Lookup("time")
	if !found {
		return 0, 0, false
	}
	md := f.Metadata()
	if i >= len(md.RowGroups) || leaf.ColumnIndex >= len(md.RowGroups[i].Columns) {
		return 0, 0, false
	}
	st := md.RowGroups[i].Columns[leaf.ColumnIndex].MetaData.Statistics
	if len(st.MinValue) != 8 || len(st.MaxValue) != 8 {
		return 0, 0, false
	}
	return int64(binary.LittleEndian.Uint64(st.MinValue)), int64(binary.LittleEndian.Uint64(st.MaxValue)), true
}
