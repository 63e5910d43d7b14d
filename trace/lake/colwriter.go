package lake

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"reflect"
	"slices"
	"strings"
	"unsafe"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/delta"
	"github.com/parquet-go/parquet-go/encoding/plain"
	"github.com/parquet-go/parquet-go/format"

	"github.com/vigilsec/vigil/trace"
)

// Events are encoded column by column, straight from a batch of trace.Event
// into Parquet pages: each column is one tight loop over a slice of the batch
// that reads its field at a fixed offset. Dictionary columns keep their own
// per-row-group dictionary: a value equal to the row before's (the same host,
// container, process) costs a compare, others a small cache probe, and only
// values the cache has not seen are hashed whole. parquet-go's generic row
// writer spent most of the write path hashing every value of every
// dictionary column. The file format is the same (see file.go).

// column encodes one leaf column of trace.Event for one file.
type column interface {
	// add appends the rows to the current page.
	add(ev []trace.Event) error
	// pending is the size of the current page before encoding, to cut pages.
	pending() int
	// flushPage encodes the current page into the column chunk.
	flushPage() error
	// chunk is the column chunk of the current row group.
	chunk() *chunk
	// dictPage returns the PLAIN dictionary page of the row group, if any
	// data page refers to one, and forgets the dictionary.
	dictPage() (values []byte, n int, ok bool)
}

// eventSchema is the Parquet schema the lake's files have, derived from
// trace.Event's tags by parquet-go, so both writers agree on it.
var eventSchema = parquet.SchemaOf(trace.Event{})

// leafSpec says how one Go field of trace.Event becomes a leaf column.
type leafSpec struct {
	name   string
	path   []string // in the schema; a list's leaf is <name>.list.element
	field  reflect.StructField
	leaf   parquet.LeafColumn
	dict   bool
	delta  bool
	newCol func(s *leafSpec, pw *pageWriter, o FileOptions) column
}

// leafSpecs lists the columns of trace.Event in schema order. A field type
// or tag this writer cannot encode stops the program at start-up rather than
// writing files that readers would misread.
var leafSpecs = func() []leafSpec {
	t := reflect.TypeFor[trace.Event]()
	var out []leafSpec
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("parquet")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" || name == "-" {
			continue
		}
		s := leafSpec{name: name, field: sf}
		var list bool
		for _, o := range strings.Split(opts, ",") {
			switch o {
			case "dict":
				s.dict = true
			case "delta":
				s.delta = true
			case "list":
				list = true
			}
		}
		path := []string{name}
		if list {
			path = []string{name, "list", "element"}
		}
		leaf, ok := eventSchema.Lookup(path...)
		if !ok {
			panic(fmt.Sprintf("lake: no column %v for trace.Event.%s", path, sf.Name))
		}
		s.leaf, s.path = leaf, path
		s.newCol = columnMaker(&s, list)
		if s.newCol == nil {
			panic(fmt.Sprintf("lake: no column writer for trace.Event.%s (%s, tag %q)", sf.Name, sf.Type, tag))
		}
		out = append(out, s)
	}
	if len(out) != len(eventSchema.Columns()) {
		panic(fmt.Sprintf("lake: %d columns in trace.Event's schema, %d writable", len(eventSchema.Columns()), len(out)))
	}
	for i := range out {
		if out[i].leaf.ColumnIndex != i {
			panic("lake: trace.Event's columns are not in field order")
		}
	}
	return out
}()

func columnMaker(s *leafSpec, list bool) func(*leafSpec, *pageWriter, FileOptions) column {
	kind := s.leaf.Node.Type().Kind()
	opt := s.leaf.MaxDefinitionLevel > 0
	switch t := s.field.Type; {
	case list:
		if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String && kind == parquet.ByteArray && !s.dict {
			return newListColumn
		}
	case t.Kind() == reflect.String:
		if kind == parquet.ByteArray && s.dict {
			return newStringColumn
		}
	case t.Kind() == reflect.Bool:
		if kind == parquet.Boolean && !opt {
			return newBoolColumn
		}
	case s.delta:
		if t.Kind() == reflect.Int64 && kind == parquet.Int64 && !opt && !s.dict {
			return newTimeColumn
		}
	case kind == parquet.Int32 || kind == parquet.Int64:
		return intColumns[intKind{kind, t.Kind()}]
	}
	return nil
}

type intKind struct {
	parquet parquet.Kind
	gotype  reflect.Kind
}

// intColumns are the integer columns by Parquet type and Go type.
var intColumns = map[intKind]func(*leafSpec, *pageWriter, FileOptions) column{
	{parquet.Int32, reflect.Int8}:   newIntColumn[int8, int32],
	{parquet.Int32, reflect.Int16}:  newIntColumn[int16, int32],
	{parquet.Int32, reflect.Int32}:  newIntColumn[int32, int32],
	{parquet.Int32, reflect.Uint8}:  newIntColumn[uint8, int32],
	{parquet.Int32, reflect.Uint16}: newIntColumn[uint16, int32],
	{parquet.Int32, reflect.Uint32}: newIntColumn[uint32, int32],
	{parquet.Int64, reflect.Int64}:  newIntColumn[int64, int64],
	{parquet.Int64, reflect.Uint64}: newIntColumn[uint64, int64],
}

func newColumns(pw *pageWriter, o FileOptions) []column {
	cols := make([]column, len(leafSpecs))
	for i := range leafSpecs {
		s := &leafSpecs[i]
		cols[i] = s.newCol(s, pw, o)
	}
	return cols
}

func newChunk(s *leafSpec, pw *pageWriter) chunk {
	return chunk{
		pw:     pw,
		path:   s.path,
		typ:    format.Type(s.leaf.Node.Type().Kind()),
		maxDef: byte(s.leaf.MaxDefinitionLevel),
		maxRep: byte(s.leaf.MaxRepetitionLevel),
	}
}

// fieldOf points at the field at offset off of ev[i].
func fieldOf[F any](ev []trace.Event, i int, off uintptr) *F {
	return (*F)(unsafe.Add(unsafe.Pointer(&ev[i]), off))
}

type goInt interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64
}

// physical is a Parquet integer type; unsigned Go fields are stored as their
// bit pattern, as parquet-go stores them.
type physical interface{ int32 | int64 }

// stringColumn is a dictionary-encoded BYTE_ARRAY column, required or
// optional (the empty string is null, as parquet-go writes it).
type stringColumn struct {
	c       chunk
	off     uintptr
	opt     bool
	maxDict int
	dict    strDict
	// plain is set once the dictionary outgrew maxDict: the rest of the
	// row group is written PLAIN, as parquet-go does.
	plain    bool
	dictUsed bool // a data page of this row group refers to the dictionary

	rows   int
	def    []uint8
	idx    []int32
	values []byte // PLAIN values when plain
	nval   int
}

func newStringColumn(s *leafSpec, pw *pageWriter, o FileOptions) column {
	return &stringColumn{
		c: newChunk(s, pw), off: s.field.Offset, opt: s.leaf.MaxDefinitionLevel > 0,
		maxDict: int(o.DictionaryMaxBytes), dict: newStrDict(),
	}
}

func (c *stringColumn) chunk() *chunk { return &c.c }

func (c *stringColumn) pending() int { return len(c.def) + 4*len(c.idx) + len(c.values) }

func (c *stringColumn) add(ev []trace.Event) error {
	c.rows += len(ev)
	if c.plain {
		for i := range ev {
			s := *fieldOf[string](ev, i, c.off)
			if c.opt {
				if s == "" {
					c.def = append(c.def, 0)
					continue
				}
				c.def = append(c.def, 1)
			}
			c.values = plain.AppendByteArrayString(c.values, s)
			c.nval++
		}
		return nil
	}
	d := &c.dict
	last := d.last
	if c.opt {
		n := len(c.idx)
		def, idx := extend(&c.def, len(ev)), extend(&c.idx, len(ev))
		k := 0
		for i := range def {
			s := *fieldOf[string](ev, i, c.off)
			if s == "" {
				def[i] = 0
				continue
			}
			def[i] = 1
			if !last.same(s) {
				last = d.find(s)
			}
			idx[k] = last.idx - 1
			k++
		}
		c.idx = c.idx[:n+k]
	} else {
		idx := extend(&c.idx, len(ev))
		for i := range idx {
			s := *fieldOf[string](ev, i, c.off)
			if !last.same(s) {
				last = d.find(s)
			}
			idx[i] = last.idx - 1
		}
	}
	d.last = last
	c.nval = len(c.idx)
	if c.dict.size > c.maxDict {
		if err := c.flushPage(); err != nil {
			return err
		}
		c.plain = true
	}
	return nil
}

// extend lengthens *s by n elements and returns them.
func extend[T any](s *[]T, n int) []T {
	l := len(*s)
	*s = slices.Grow(*s, n)[:l+n]
	return (*s)[l:]
}

func (c *stringColumn) flushPage() error {
	if c.rows == 0 {
		return nil
	}
	// A page is all indexes or all values: the page that made the
	// dictionary overflow is flushed before plain is set.
	var err error
	if c.plain {
		err = c.c.dataPage(nil, c.def, c.values, format.Plain, c.rows, c.rows-c.nval, c.rows, nil)
	} else {
		err = c.c.dictDataPage(c.def, c.idx, c.rows, c.rows-c.nval, len(c.dict.vals))
		c.dictUsed = true
	}
	c.rows, c.nval = 0, 0
	c.def, c.idx, c.values = c.def[:0], c.idx[:0], c.values[:0]
	return err
}

func (c *stringColumn) dictPage() ([]byte, int, bool) {
	used := c.dictUsed
	c.dictUsed, c.plain = false, false
	if !used {
		c.dict.reset()
		return nil, 0, false
	}
	b := c.c.pw.dict[:0]
	for _, v := range c.dict.vals {
		b = plain.AppendByteArrayString(b, v)
	}
	c.c.pw.dict = b
	n := len(c.dict.vals)
	c.dict.reset()
	return b, n, true
}

// intColumn is an integer column of Go type F stored as Parquet type P,
// dictionary-encoded or PLAIN, required or optional (zero is null, as
// parquet-go writes it).
type intColumn[F goInt, P physical] struct {
	c        chunk
	off      uintptr
	opt      bool
	useDict  bool
	maxDict  int
	dict     intDict[P]
	plain    bool
	dictUsed bool

	rows int
	def  []uint8
	idx  []int32
	vals []P
}

func newIntColumn[F goInt, P physical](s *leafSpec, pw *pageWriter, o FileOptions) column {
	c := &intColumn[F, P]{
		c: newChunk(s, pw), off: s.field.Offset, opt: s.leaf.MaxDefinitionLevel > 0,
		useDict: s.dict, plain: !s.dict, maxDict: int(o.DictionaryMaxBytes),
	}
	c.dict.grow()
	return c
}

func (c *intColumn[F, P]) chunk() *chunk { return &c.c }

func (c *intColumn[F, P]) pending() int {
	return len(c.def) + 4*len(c.idx) + int(unsafe.Sizeof(P(0)))*len(c.vals)
}

func (c *intColumn[F, P]) add(ev []trace.Event) error {
	c.rows += len(ev)
	var def []uint8
	if c.opt {
		def = extend(&c.def, len(ev))
	}
	n := len(c.vals)
	vals := extend(&c.vals, len(ev))
	k := 0
	for i := range vals {
		v := P(*fieldOf[F](ev, i, c.off))
		if def != nil {
			if v == 0 {
				def[i] = 0
				continue
			}
			def[i] = 1
		}
		vals[k] = v
		k++
	}
	c.vals = c.vals[:n+k]
	if c.plain {
		return nil
	}
	// With a dictionary, vals only stage the batch's values for this loop.
	d := &c.dict
	last, lastIdx := d.last, d.lastIdx
	idx := extend(&c.idx, k)
	for i, v := range vals[:k] {
		if v != last || lastIdx == 0 {
			last, lastIdx = v, d.probe(v)
			if lastIdx == 0 {
				lastIdx = d.index(v) + 1
			}
		}
		idx[i] = lastIdx - 1
	}
	d.last, d.lastIdx = last, lastIdx
	c.vals = c.vals[:n]
	if len(d.vals)*int(unsafe.Sizeof(P(0))) > c.maxDict {
		if err := c.flushPage(); err != nil {
			return err
		}
		c.plain = true
	}
	return nil
}

func (c *intColumn[F, P]) flushPage() error {
	if c.rows == 0 {
		return nil
	}
	var err error
	if !c.plain {
		err = c.c.dictDataPage(c.def, c.idx, c.rows, c.rows-len(c.idx), len(c.dict.vals))
		c.dictUsed = true
	} else {
		b := c.c.pw.values[:0]
		for _, v := range c.vals {
			b = appendLE(b, v)
		}
		c.c.pw.values = b
		err = c.c.dataPage(nil, c.def, b, format.Plain, c.rows, c.rows-len(c.vals), c.rows, nil)
	}
	c.rows = 0
	c.def, c.idx, c.vals = c.def[:0], c.idx[:0], c.vals[:0]
	return err
}

func (c *intColumn[F, P]) dictPage() ([]byte, int, bool) {
	used := c.dictUsed
	c.dictUsed, c.plain = false, !c.useDict
	if !used {
		c.dict.reset()
		return nil, 0, false
	}
	b := c.c.pw.dict[:0]
	for _, v := range c.dict.vals {
		b = appendLE(b, v)
	}
	c.c.pw.dict = b
	n := len(c.dict.vals)
	c.dict.reset()
	return b, n, true
}

func appendLE[P physical](b []byte, v P) []byte {
	if unsafe.Sizeof(v) == 4 {
		return binary.LittleEndian.AppendUint32(b, uint32(v))
	}
	return binary.LittleEndian.AppendUint64(b, uint64(v))
}

// timeColumn is the required event time, DELTA_BINARY_PACKED, with min/max
// statistics on every page and chunk: readers skip row groups by them.
type timeColumn struct {
	c        chunk
	off      uintptr
	vals     []int64
	min, max int64
}

func newTimeColumn(s *leafSpec, pw *pageWriter, _ FileOptions) column {
	return &timeColumn{c: newChunk(s, pw), off: s.field.Offset}
}

func (c *timeColumn) chunk() *chunk                 { return &c.c }
func (c *timeColumn) pending() int                  { return 8 * len(c.vals) }
func (c *timeColumn) dictPage() ([]byte, int, bool) { return nil, 0, false }

func (c *timeColumn) add(ev []trace.Event) error {
	if len(c.vals) == 0 {
		c.min = *fieldOf[int64](ev, 0, c.off)
		c.max = c.min
	}
	vals := extend(&c.vals, len(ev))
	for i := range vals {
		t := *fieldOf[int64](ev, i, c.off)
		c.min, c.max = min(c.min, t), max(c.max, t)
		vals[i] = t
	}
	return nil
}

func (c *timeColumn) flushPage() error {
	if len(c.vals) == 0 {
		return nil
	}
	var err error
	c.c.pw.values, err = timeEncoding.EncodeInt64(c.c.pw.values[:0], c.vals)
	if err != nil {
		return err
	}
	st := &format.Statistics{
		MinValue: binary.LittleEndian.AppendUint64(nil, uint64(c.min)),
		MaxValue: binary.LittleEndian.AppendUint64(nil, uint64(c.max)),
	}
	err = c.c.dataPage(nil, nil, c.c.pw.values, format.DeltaBinaryPacked, len(c.vals), 0, len(c.vals), st)
	c.vals = c.vals[:0]
	return err
}

var timeEncoding delta.BinaryPackedEncoding

// boolColumn is a required BOOLEAN column, PLAIN (bit-packed).
type boolColumn struct {
	c    chunk
	off  uintptr
	bits []byte
	n    int
}

func newBoolColumn(s *leafSpec, pw *pageWriter, _ FileOptions) column {
	return &boolColumn{c: newChunk(s, pw), off: s.field.Offset}
}

func (c *boolColumn) chunk() *chunk                 { return &c.c }
func (c *boolColumn) pending() int                  { return len(c.bits) }
func (c *boolColumn) dictPage() ([]byte, int, bool) { return nil, 0, false }

func (c *boolColumn) add(ev []trace.Event) error {
	for i := range ev {
		if c.n%8 == 0 {
			c.bits = append(c.bits, 0)
		}
		if *fieldOf[bool](ev, i, c.off) {
			c.bits[c.n/8] |= 1 << (c.n % 8)
		}
		c.n++
	}
	return nil
}

func (c *boolColumn) flushPage() error {
	if c.n == 0 {
		return nil
	}
	err := c.c.dataPage(nil, nil, c.bits, format.Plain, c.n, 0, c.n, nil)
	c.bits, c.n = c.bits[:0], 0
	return err
}

// listColumn is an optional list of strings, DELTA_LENGTH_BYTE_ARRAY.
type listColumn struct {
	c       chunk
	off     uintptr
	rows    int
	rep     []uint8
	def     []uint8
	data    []byte
	offsets []uint32
}

func newListColumn(s *leafSpec, pw *pageWriter, _ FileOptions) column {
	if s.leaf.MaxDefinitionLevel != 2 || s.leaf.MaxRepetitionLevel != 1 {
		panic(fmt.Sprintf("lake: list column %s has levels %d/%d, want an optional list of required strings", s.name, s.leaf.MaxDefinitionLevel, s.leaf.MaxRepetitionLevel))
	}
	return &listColumn{c: newChunk(s, pw), off: s.field.Offset, offsets: []uint32{0}}
}

func (c *listColumn) chunk() *chunk                 { return &c.c }
func (c *listColumn) pending() int                  { return 2*len(c.def) + len(c.data) + 4*len(c.offsets) }
func (c *listColumn) dictPage() ([]byte, int, bool) { return nil, 0, false }

func (c *listColumn) add(ev []trace.Event) error {
	c.rows += len(ev)
	for i := range ev {
		l := *fieldOf[[]string](ev, i, c.off)
		if len(l) == 0 {
			// A nil list is null, an empty one an empty list, as
			// parquet-go writes them (the lake reads both back nil).
			c.rep, c.def = append(c.rep, 0), append(c.def, b2u8(l != nil))
			continue
		}
		for j, s := range l {
			c.rep, c.def = append(c.rep, uint8(min(j, 1))), append(c.def, 2)
			c.data = append(c.data, s...)
			c.offsets = append(c.offsets, uint32(len(c.data)))
		}
	}
	return nil
}

func (c *listColumn) flushPage() error {
	if c.rows == 0 {
		return nil
	}
	var err error
	c.c.pw.values, err = listEncoding.EncodeByteArray(c.c.pw.values[:0], c.data, c.offsets)
	if err != nil {
		return err
	}
	nulls := len(c.def) - (len(c.offsets) - 1)
	err = c.c.dataPage(c.rep, c.def, c.c.pw.values, format.DeltaLengthByteArray, len(c.def), nulls, c.rows, nil)
	c.rows = 0
	c.rep, c.def, c.data, c.offsets = c.rep[:0], c.def[:0], c.data[:0], c.offsets[:1]
	return err
}

var listEncoding delta.LengthByteArrayEncoding

// strDict is a string column's dictionary for one row group.
type strDict struct {
	m    map[string]int32
	vals []string // by index; they point into blocks, not at callers' strings
	size int      // bytes of the PLAIN dictionary page
	// block is where new values are copied: a value keeps no caller memory
	// alive, and copying costs no allocation per value.
	block []byte
	// cache is a direct-mapped table in front of m, indexed by a hash of a
	// string's length and first and last 8 bytes. Events repeat the same
	// host, process and container strings; a hit costs that hash and one
	// compare, which is a pointer compare when the event holds the very same
	// string, instead of hashing the whole string for m.
	cache [strCacheSize]strSlot
	// last is the previous row's value: many columns (host, cluster, the
	// process's strings in a burst of its events) repeat it, and an event
	// built from the same record holds the very same string.
	last strSlot
}

type strSlot struct {
	s   string
	idx int32 // index+1; 0 is an empty slot
}

// same reports whether s is the very string of the slot: same address and
// length, hence same bytes, since Go strings are immutable.
func (e *strSlot) same(s string) bool {
	return e.idx != 0 && len(e.s) == len(s) && unsafe.StringData(e.s) == unsafe.StringData(s)
}

const (
	strCacheSize  = 256
	dictBlockSize = 64 << 10
)

func newStrDict() strDict { return strDict{m: make(map[string]int32)} }

// find returns the cache slot of s, which holds s's index.
func (d *strDict) find(s string) strSlot {
	slot := &d.cache[quickHash(s)%strCacheSize]
	if !slot.same(s) {
		d.lookup(slot, s)
	}
	return *slot
}

// lookup fills slot with s and its index.
func (d *strDict) lookup(slot *strSlot, s string) {
	if slot.idx != 0 && slot.s == s {
		return
	}
	i, ok := d.m[s]
	if !ok {
		i = d.insert(s)
	}
	slot.s, slot.idx = s, i+1
}

// quickHash mixes a string's length with its first and last 8 bytes: what
// tells apart the values of a column (ids, names, paths) at the cost of two
// loads.
func quickHash(s string) uint64 {
	n := uint64(len(s))
	var a, b uint64
	if n >= 8 {
		p := unsafe.Pointer(unsafe.StringData(s))
		a, b = *(*uint64)(p), *(*uint64)(unsafe.Add(p, n-8))
	} else if n > 0 {
		a, b = uint64(s[0]), uint64(s[n-1])
	}
	h := (a^n)*0x9e3779b97f4a7c15 ^ b*0xc2b2ae3d27d4eb4f
	return h ^ h>>32
}

func (d *strDict) insert(s string) int32 {
	k := ""
	switch {
	case len(s) > dictBlockSize/4:
		k = strings.Clone(s)
	case len(s) > 0:
		if len(d.block)+len(s) > cap(d.block) {
			d.block = make([]byte, 0, dictBlockSize)
		}
		off := len(d.block)
		d.block = append(d.block, s...)
		k = unsafe.String(&d.block[off], len(s))
	}
	i := int32(len(d.vals))
	d.vals = append(d.vals, k)
	d.m[k] = i
	d.size += 4 + len(s)
	return i
}

func (d *strDict) reset() {
	clear(d.m)
	clear(d.vals)
	d.vals = d.vals[:0]
	d.size = 0
	clear(d.cache[:])
	d.last = strSlot{}
	// Nothing refers to the current block any more; older blocks are
	// dropped so a row group with a large dictionary does not pin it.
	d.block = d.block[:0]
}

// intDict is an integer column's dictionary for one row group: an
// open-addressing table. The column's loops remember the last value,
// because consecutive events repeat pids, cgroups and syscalls.
type intDict[P physical] struct {
	slots   []int32 // index+1 into vals; 0 is empty
	vals    []P
	shift   uint
	last    P
	lastIdx int32 // index+1 of last; 0: none
}

// probe returns v's index+1 if v sits in the first slot it hashes to, 0
// otherwise: the loops inline it and call index only when it fails.
func (d *intDict[P]) probe(v P) int32 {
	if s := d.slots[(uint64(v)*0x9e3779b97f4a7c15)>>d.shift]; s != 0 && d.vals[s-1] == v {
		return s
	}
	return 0
}

func (d *intDict[P]) index(v P) int32 {
	if len(d.vals)*2 >= len(d.slots) {
		d.grow()
	}
	mask := uint64(len(d.slots) - 1)
	h := (uint64(v) * 0x9e3779b97f4a7c15) >> d.shift
	for {
		s := d.slots[h]
		if s == 0 {
			d.vals = append(d.vals, v)
			s = int32(len(d.vals))
			d.slots[h] = s
		} else if d.vals[s-1] != v {
			h = (h + 1) & mask
			continue
		}
		return s - 1
	}
}

func (d *intDict[P]) grow() {
	n := max(64, 2*len(d.slots))
	d.slots = make([]int32, n)
	d.shift = uint(64 - bits.TrailingZeros(uint(n)))
	mask := uint64(n - 1)
	for i, v := range d.vals {
		h := (uint64(v) * 0x9e3779b97f4a7c15) >> d.shift
		for d.slots[h] != 0 {
			h = (h + 1) & mask
		}
		d.slots[h] = int32(i + 1)
	}
}

func (d *intDict[P]) reset() {
	clear(d.slots)
	d.vals = d.vals[:0]
	d.lastIdx = 0
}

func b2u8(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}
