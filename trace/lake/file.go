package lake

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"

	kzstd "github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"
	"github.com/parquet-go/parquet-go/encoding/rle"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"

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
	// rows in memory per open file (a column chunk is only written once its
	// row group is complete), and readers can skip a row group by its time
	// range.
	RowGroupRows int64
	// Level is the zstd level.
	Level zstd.Level
	// DictionaryMaxBytes caps each column's dictionary per row group.
	DictionaryMaxBytes int64
}

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

// fileWriter writes one Parquet trace file with the column encoders of
// colwriter.go. The file is what parquet-go's writer made of trace.Event
// with these options (colwriter_test.go compares them): the same schema and
// key/value metadata, data pages v2, zstd, dictionary encoding where the tags
// ask for it (PLAIN past DictionaryMaxBytes), DELTA_BINARY_PACKED time,
// DELTA_LENGTH_BYTE_ARRAY list elements, min/max statistics on time only.
// It differs in three ways no reader of the lake depends on: a zero value of
// an optional column is always null (parquet-go wrote some as non-null
// zeros, which read back the same), a page that zstd does not shrink is
// stored uncompressed, and there is no page index.
type fileWriter struct {
	out  *countingWriter
	o    FileOptions
	host string
	pw   *pageWriter
	cols []column

	rowGroups []format.RowGroup
	rgRows    int64 // rows of the row group being built
	rows      int64
	minTime   int64
	maxTime   int64
	// rawOut and packedOut relate the size of pages before and after
	// encoding, to estimate the file size from what is still buffered.
	rawOut, packedOut int64
	buf               []byte
}

// pageBytes is where a column's page is cut, counted before encoding: small
// enough to bound the memory of an open file, large enough for zstd.
const pageBytes = 128 << 10

// encodeRows is how many rows each column takes in one go: a slice of
// events this long stays in the CPU cache while every column reads it.
const encodeRows = 128

// newFileWriter starts a file. Files that are never encoded at the same
// time may share pw; nil gives the file its own.
func newFileWriter(w io.Writer, host string, o FileOptions, pw *pageWriter) *fileWriter {
	o = o.withDefaults()
	if pw == nil {
		pw = newPageWriter(o.Level)
	}
	return &fileWriter{out: &countingWriter{w: w}, o: o, host: host, pw: pw, cols: newColumns(pw, o)}
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
	for len(events) > 0 {
		n := min(len(events), encodeRows, int(f.o.RowGroupRows-f.rgRows))
		for _, c := range f.cols {
			if err := c.add(events[:n]); err != nil {
				return fmt.Errorf("encoding column %s: %w", strings.Join(c.chunk().path, "."), err)
			}
			if c.pending() >= pageBytes {
				if err := f.flushPage(c); err != nil {
					return err
				}
			}
		}
		f.rgRows += int64(n)
		f.rows += int64(n)
		events = events[n:]
		if f.rgRows >= f.o.RowGroupRows {
			if err := f.flushRowGroup(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (f *fileWriter) flushPage(c column) error {
	raw, before := c.pending(), len(c.chunk().pages)
	if err := c.flushPage(); err != nil {
		return fmt.Errorf("encoding column %s: %w", strings.Join(c.chunk().path, "."), err)
	}
	f.rawOut += int64(raw)
	f.packedOut += int64(len(c.chunk().pages) - before)
	return nil
}

// size estimates the finished file: bytes written, pages buffered for the
// current row group, and what the pending values should encode to.
func (f *fileWriter) size() int64 {
	n := f.out.n
	var pending int64
	for _, c := range f.cols {
		n += int64(len(c.chunk().pages))
		pending += int64(c.pending())
	}
	if f.rawOut > 0 {
		pending = pending * f.packedOut / f.rawOut
	}
	return n + pending
}

func (f *fileWriter) writeOut(b []byte) error {
	_, err := f.out.Write(b)
	return err
}

// flushRowGroup writes each column chunk of the current row group: its
// dictionary page, then its data pages.
func (f *fileWriter) flushRowGroup() error {
	if f.rgRows == 0 {
		return nil
	}
	if len(f.rowGroups) == math.MaxInt16 {
		return fmt.Errorf("more than %d row groups in one file", math.MaxInt16)
	}
	if f.out.n == 0 {
		if err := f.writeOut([]byte(parquetMagic)); err != nil {
			return err
		}
	}
	rg := format.RowGroup{
		Columns:    make([]format.ColumnChunk, len(f.cols)),
		NumRows:    f.rgRows,
		FileOffset: f.out.n,
		Ordinal:    int16(len(f.rowGroups)),
	}
	for i, col := range f.cols {
		if err := f.flushPage(col); err != nil {
			return err
		}
		c := col.chunk()
		md := format.ColumnMetaData{
			Type:         c.typ,
			PathInSchema: c.path,
			Codec:        format.Zstd,
			NumValues:    c.numValues,
			Statistics:   format.Statistics{NullCount: c.nulls},
		}
		if c.bounds {
			md.Statistics.MinValue = binary.LittleEndian.AppendUint64(nil, uint64(c.lo))
			md.Statistics.MaxValue = binary.LittleEndian.AppendUint64(nil, uint64(c.hi))
		}
		if vals, n, ok := col.dictPage(); ok {
			md.DictionaryPageOffset = f.out.n
			var err error
			f.buf, err = c.dictionaryPage(f.buf[:0], vals, n)
			if err != nil {
				return fmt.Errorf("encoding dictionary of column %s: %w", strings.Join(c.path, "."), err)
			}
			if err := f.writeOut(f.buf); err != nil {
				return err
			}
		}
		md.DataPageOffset = f.out.n
		if err := f.writeOut(c.pages); err != nil {
			return err
		}
		md.TotalUncompressedSize, md.TotalCompressedSize = c.unc, c.comp
		md.Encoding = slices.Sorted(maps.Keys(c.encodings))
		for k, n := range c.pageCounts {
			md.EncodingStats = append(md.EncodingStats, format.PageEncodingStats{PageType: k.typ, Encoding: k.enc, Count: n})
		}
		slices.SortFunc(md.EncodingStats, func(a, b format.PageEncodingStats) int {
			return cmp.Or(cmp.Compare(a.PageType, b.PageType), cmp.Compare(a.Encoding, b.Encoding))
		})
		rg.Columns[i].MetaData = md
		rg.TotalByteSize += c.unc
		rg.TotalCompressedSize += c.comp
		c.reset()
	}
	f.rowGroups = append(f.rowGroups, rg)
	f.rgRows = 0
	return nil
}

func (f *fileWriter) close() error {
	if err := f.flushRowGroup(); err != nil {
		return err
	}
	if f.out.n == 0 {
		if err := f.writeOut([]byte(parquetMagic)); err != nil {
			return err
		}
	}
	md := format.FileMetaData{
		Version:   2,
		Schema:    schemaElements,
		NumRows:   f.rows,
		RowGroups: f.rowGroups,
		// Sorted by key, as parquet-go writes them.
		KeyValueMetadata: []format.KeyValue{
			{Key: metaHost, Value: f.host},
			{Key: metaSchemaVersion, Value: strconv.Itoa(trace.SchemaVersion)},
			{Key: metaTimeMax, Value: strconv.FormatInt(f.maxTime, 10)},
			{Key: metaTimeMin, Value: strconv.FormatInt(f.minTime, 10)},
		},
		CreatedBy:    createdBy,
		ColumnOrders: columnOrders,
	}
	var footer bytes.Buffer
	if err := thrift.NewEncoder(new(thrift.CompactProtocol).NewWriter(&footer)).Encode(&md); err != nil {
		return fmt.Errorf("encoding file footer: %w", err)
	}
	footer.Write(binary.LittleEndian.AppendUint32(nil, uint32(footer.Len())))
	footer.WriteString(parquetMagic)
	return f.writeOut(footer.Bytes())
}

const (
	parquetMagic = "PAR1"
	createdBy    = "vigil version (build )" // as parquet.CreatedBy("vigil", "", "") had it
)

// schemaElements is trace.Event's schema as a file footer lists it, built
// the way parquet-go's writer builds it: depth first, the root unnamed by
// repetition.
var schemaElements = func() []format.SchemaElement {
	var out []format.SchemaElement
	var walk func(name string, n parquet.Node, root bool)
	walk = func(name string, n parquet.Node, root bool) {
		t := n.Type()
		e := format.SchemaElement{Name: name, FieldID: int32(n.ID())}
		if !root {
			switch {
			case n.Required():
				e.RepetitionType = thrift.New(format.Required)
			case n.Optional():
				e.RepetitionType = thrift.New(format.Optional)
			case n.Repeated():
				e.RepetitionType = thrift.New(format.Repeated)
			}
		}
		if lt := t.LogicalType(); lt != nil {
			e.LogicalType = *lt
		}
		if l := int32(t.Length()); l > 0 {
			e.TypeLength.Set(l)
		}
		if !n.Leaf() {
			e.NumChildren.Set(int32(len(n.Fields())))
		}
		if pt := t.PhysicalType(); pt != nil {
			e.Type.Set(*pt)
		}
		if ct := t.ConvertedType(); ct != nil {
			e.ConvertedType.Set(*ct)
		}
		out = append(out, e)
		for _, f := range n.Fields() {
			walk(f.Name(), f, false)
		}
	}
	walk(eventSchema.Name(), eventSchema, true)
	return out
}()

var columnOrders = func() []format.ColumnOrder {
	out := make([]format.ColumnOrder, len(leafSpecs))
	for i := range leafSpecs {
		out[i] = *leafSpecs[i].leaf.Node.Type().ColumnOrder()
	}
	return out
}()

// pageWriter is the scratch space and zstd encoder with which pages are
// encoded and compressed. A Writer's files share one: they are encoded one
// at a time, under its lock. The encoder is held rather than taken from
// parquet-go's codec pool, which the garbage collector empties, so that a
// few megabytes of encoder state are not built again and again.
type pageWriter struct {
	zstd   *kzstd.Encoder
	hdr    bytes.Buffer
	enc    *thrift.Encoder
	rep    []byte
	def    []byte
	packed []byte
	idx    []byte
	values []byte
	dict   []byte
}

type pageKind struct {
	typ format.PageType
	enc format.Encoding
}

// chunk accumulates one column's pages for the current row group: they can
// only be written once the row group is complete, because a column chunk is
// contiguous in the file.
type chunk struct {
	pw     *pageWriter
	path   []string
	typ    format.Type
	maxDef byte
	maxRep byte

	pages      []byte
	numValues  int64
	nulls      int64
	unc, comp  int64
	encodings  map[format.Encoding]struct{}
	pageCounts map[pageKind]int32
	bounds     bool // lo and hi hold the INT64 min and max
	lo, hi     int64
}

func (c *chunk) reset() {
	c.pages = c.pages[:0]
	c.numValues, c.nulls, c.unc, c.comp = 0, 0, 0, 0
	clear(c.encodings)
	clear(c.pageCounts)
	c.bounds = false
}

// page counts a page of the chunk; levels add RLE to its encodings.
func (c *chunk) page(typ format.PageType, enc format.Encoding, levels bool) {
	if c.encodings == nil {
		c.encodings = make(map[format.Encoding]struct{})
		c.pageCounts = make(map[pageKind]int32)
	}
	c.encodings[enc] = struct{}{}
	if levels {
		c.encodings[format.RLE] = struct{}{}
	}
	c.pageCounts[pageKind{typ, enc}]++
}

// dictDataPage writes a page of indexes into a dictionary of dictLen
// values. Their bit width follows from dictLen, which spares a pass over
// the indexes to find the largest.
func (c *chunk) dictDataPage(def []uint8, idx []int32, rows, nulls, dictLen int) error {
	pw := c.pw
	w := bits.Len32(uint32(max(dictLen-1, 0)))
	var err error
	if pw.idx, err = (&rle.Encoding{BitWidth: w}).EncodeInt32(pw.idx[:0], idx); err != nil {
		return err
	}
	pw.values = append(append(pw.values[:0], byte(w)), pw.idx...)
	return c.dataPage(nil, def, pw.values, format.RLEDictionary, rows, nulls, rows, nil)
}

// dataPage appends a v2 data page: levels RLE-encoded and left
// uncompressed, values compressed, CRC over both as the format says.
func (c *chunk) dataPage(rep, def []uint8, values []byte, enc format.Encoding, numValues, numNulls, numRows int, st *format.Statistics) error {
	pw := c.pw
	var err error
	pw.rep, pw.def = pw.rep[:0], pw.def[:0]
	if c.maxRep > 0 {
		if pw.rep, err = levelEncoding(c.maxRep).EncodeLevels(pw.rep, rep); err != nil {
			return err
		}
	}
	if c.maxDef > 0 {
		if pw.def, err = levelEncoding(c.maxDef).EncodeLevels(pw.def, def); err != nil {
			return err
		}
	}
	levels := len(pw.rep) + len(pw.def)
	if int64(levels)+int64(len(values)) > math.MaxInt32 {
		return fmt.Errorf("page of %d bytes is too large", int64(levels)+int64(len(values)))
	}
	// Values that zstd does not shrink (bit-packed dictionary indexes of
	// varied columns, delta-packed times) are stored as they are, which v2
	// pages allow: readers then skip decompressing them.
	pw.packed = pw.zstd.EncodeAll(values, pw.packed[:0])
	body, compressed := pw.packed, true
	if len(pw.packed) >= len(values) {
		body, compressed = values, false
	}
	crc := crc32.Update(crc32.ChecksumIEEE(pw.rep), crc32.IEEETable, pw.def)
	crc = crc32.Update(crc, crc32.IEEETable, body)
	h := format.PageHeader{
		Type:                 format.DataPageV2,
		UncompressedPageSize: int32(levels + len(values)),
		CompressedPageSize:   int32(levels + len(body)),
		CRC:                  int32(crc),
		DataPageHeaderV2: thrift.New(format.DataPageHeaderV2{
			NumValues:                  int32(numValues),
			NumNulls:                   int32(numNulls),
			NumRows:                    int32(numRows),
			Encoding:                   enc,
			DefinitionLevelsByteLength: int32(len(pw.def)),
			RepetitionLevelsByteLength: int32(len(pw.rep)),
			IsCompressed:               thrift.New(compressed),
		}),
	}
	if st != nil {
		h.DataPageHeaderV2.V.Statistics = *st
		h.DataPageHeaderV2.V.Statistics.NullCount = int64(numNulls)
		lo := int64(binary.LittleEndian.Uint64(st.MinValue))
		hi := int64(binary.LittleEndian.Uint64(st.MaxValue))
		if !c.bounds {
			c.lo, c.hi, c.bounds = lo, hi, true
		}
		c.lo, c.hi = min(c.lo, lo), max(c.hi, hi)
	}
	if err := pw.header(&h); err != nil {
		return err
	}
	c.pages = append(c.pages, pw.hdr.Bytes()...)
	c.pages = append(c.pages, pw.rep...)
	c.pages = append(c.pages, pw.def...)
	c.pages = append(c.pages, body...)
	c.unc += int64(pw.hdr.Len()) + int64(h.UncompressedPageSize)
	c.comp += int64(pw.hdr.Len()) + int64(h.CompressedPageSize)
	c.numValues += int64(numValues)
	c.nulls += int64(numNulls)
	c.page(format.DataPageV2, enc, c.maxDef > 0 || c.maxRep > 0)
	return nil
}

// dictionaryPage appends the row group's dictionary page to b.
func (c *chunk) dictionaryPage(b, values []byte, n int) ([]byte, error) {
	pw := c.pw
	if len(values) > math.MaxInt32 {
		return b, fmt.Errorf("dictionary page of %d bytes is too large", len(values))
	}
	pw.packed = pw.zstd.EncodeAll(values, pw.packed[:0])
	h := format.PageHeader{
		Type:                 format.DictionaryPage,
		UncompressedPageSize: int32(len(values)),
		CompressedPageSize:   int32(len(pw.packed)),
		CRC:                  int32(crc32.ChecksumIEEE(pw.packed)),
		DictionaryPageHeader: thrift.New(format.DictionaryPageHeader{NumValues: int32(n), Encoding: format.Plain}),
	}
	if err := pw.header(&h); err != nil {
		return b, err
	}
	b = append(b, pw.hdr.Bytes()...)
	b = append(b, pw.packed...)
	c.unc += int64(pw.hdr.Len()) + int64(h.UncompressedPageSize)
	c.comp += int64(pw.hdr.Len()) + int64(h.CompressedPageSize)
	c.page(format.DictionaryPage, format.Plain, false)
	return b, nil
}

// newPageWriter makes a zstd encoder set as parquet-go's codec sets its own.
func newPageWriter(level zstd.Level) *pageWriter {
	enc, err := kzstd.NewWriter(nil,
		kzstd.WithEncoderConcurrency(1),
		kzstd.WithEncoderLevel(level),
		kzstd.WithZeroFrames(true),
		kzstd.WithEncoderCRC(false),
	)
	if err != nil {
		panic(fmt.Sprintf("lake: zstd level %v: %v", level, err))
	}
	pw := &pageWriter{zstd: enc}
	pw.enc = thrift.NewEncoder(new(thrift.CompactProtocol).NewWriter(&pw.hdr))
	return pw
}

func (pw *pageWriter) header(h *format.PageHeader) error {
	pw.hdr.Reset()
	if err := pw.enc.Encode(h); err != nil {
		return fmt.Errorf("encoding page header: %w", err)
	}
	return nil
}

func levelEncoding(maxLevel byte) *rle.Encoding {
	return &rle.Encoding{BitWidth: bits.Len8(maxLevel)}
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
