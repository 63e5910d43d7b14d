package lake

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"unsafe"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/encoding"
	"github.com/parquet-go/parquet-go/format"

	"github.com/vigilsec/vigil/trace"
)

// Events are decoded straight from Parquet pages with parquet-go's low-level
// API, column by column into a batch of trace.Event: a dictionary page becomes
// Go strings once per row group, and each data page is one tight loop from its
// dictionary indexes or typed values into the batch. Replay and training read
// every event of the lake, so this path must cost a small fraction of what
// scoring an event costs; a general-purpose reader (Arrow's record batches
// copied into events) costs several times more.

// fieldKind is how a column lands in trace.Event.
type fieldKind uint8

const (
	intField fieldKind = iota
	stringField
	boolField
	listField // []string
)

// eventField is one column of trace.Event and where its value lives.
type eventField struct {
	name string
	off  uintptr // offset in trace.Event
	kind fieldKind
	// putInts decodes rows of an integer column into the field, converted
	// to its Go type (intField only).
	putInts func(c *colReader, ev []trace.Event)
}

// eventFields is derived from trace.Event's parquet tags, so the reader
// follows the schema the writer uses without a second list to keep in step.
var eventFields = func() []eventField {
	t := reflect.TypeFor[trace.Event]()
	var out []eventField
	for i := range t.NumField() {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("parquet"), ",")
		if name == "" || name == "-" {
			continue
		}
		f := eventField{name: name, off: sf.Offset}
		switch sf.Type.Kind() {
		case reflect.String:
			f.kind = stringField
		case reflect.Bool:
			f.kind = boolField
		case reflect.Slice:
			if sf.Type.Elem().Kind() != reflect.String {
				panic("lake: no decoder for trace.Event." + sf.Name)
			}
			f.kind = listField
		default:
			f.kind = intField
			f.putInts = intPutters[sf.Type.Kind()]
			if f.putInts == nil {
				panic("lake: no decoder for trace.Event." + sf.Name)
			}
		}
		out = append(out, f)
	}
	return out
}()

var intPutters = map[reflect.Kind]func(*colReader, []trace.Event){
	reflect.Int8: putInts[int8], reflect.Int16: putInts[int16], reflect.Int32: putInts[int32], reflect.Int64: putInts[int64],
	reflect.Uint8: putInts[uint8], reflect.Uint16: putInts[uint16], reflect.Uint32: putInts[uint32], reflect.Uint64: putInts[uint64],
}

type integer interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64
}

// fieldAt points at the field at offset off of ev[i]. Fields are reached by
// offset rather than through accessor functions: an indirect call per value
// and column would cost as much as the decoding itself.
func fieldAt[F any](ev []trace.Event, i int, off uintptr) *F {
	return (*F)(unsafe.Add(unsafe.Pointer(&ev[i]), off))
}

// present counts the non-null rows of def. A top-level optional column's
// levels are 0 or 1, so eight rows at a time add up as bytes of a word.
func present(def []byte, maxDef byte) int {
	k := 0
	if maxDef == 1 {
		for len(def) >= 8 {
			k += int(binary.LittleEndian.Uint64(def) * 0x0101010101010101 >> 56)
			def = def[8:]
		}
	}
	for _, d := range def {
		k += b2i(d == maxDef)
	}
	return k
}

// b2i is 1 for true: the compiler makes it a flag move, not a branch, which
// matters where nulls and values alternate unpredictably.
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// errColumnEnded is returned when a column chunk has fewer rows than its row
// group says.
var errColumnEnded = errors.New("column ends before the row group's last row")

// maxIntern bounds the intern table of one column; past it, it starts over.
const maxIntern = 1 << 16

// colReader decodes one leaf column of a file into its field, page by page. It
// lives as long as the file's cursor, so its buffers and the intern table of
// plain-encoded strings carry over between row groups.
type colReader struct {
	field    *eventField
	path     string
	maxDef   byte
	maxRep   byte
	elemDef  byte // lists: definition levels below this mean no element
	unsigned bool // int32 values are unsigned: widen without sign extension
	// zeroed: the batch is cleared before each read (the decoder leaves
	// some fields out), so rows that are null need no write. Columns of
	// other event kinds are null in most rows of a sequence-mode trace.
	zeroed bool

	pages parquet.Pages
	page  parquet.Page
	eof   bool // pages is exhausted

	// The current page: levels (nil when the column has none), the index of
	// the next level and of the next non-null value, and the values.
	def, rep []byte
	nlev     int
	lev, val int
	idx      []int32 // dictionary indexes
	i32      []int32
	i64      []int64
	bits     []byte
	data     []byte
	offs     []uint32

	dict   parquet.Dictionary
	dstr   []string // dict as strings, then ""
	dnum   []int64  // dict as numbers
	intern map[string]string

	scratch   []int64
	elemBytes []byte // one row's list elements, end to end
	elemEnds  []int  // where each ends in elemBytes
}

// newColReader checks that a file's leaf column can fill field f; nil when it
// cannot (another type or shape, e.g. a column of that name in an older or
// foreign file), which leaves the field zero.
func newColReader(f *eventField, path []string, leaf parquet.LeafColumn) *colReader {
	typ := leaf.Node.Type()
	kind := typ.Kind()
	c := &colReader{
		field:  f,
		path:   strings.Join(path, "."),
		maxDef: byte(leaf.MaxDefinitionLevel),
		maxRep: byte(leaf.MaxRepetitionLevel),
	}
	flat := len(path) == 1 && leaf.MaxRepetitionLevel == 0
	switch f.kind {
	case intField:
		if !flat || (kind != parquet.Int32 && kind != parquet.Int64) {
			return nil
		}
		c.unsigned = isUnsigned(typ)
	case stringField:
		if !flat || kind != parquet.ByteArray {
			return nil
		}
	case boolField:
		if !flat || kind != parquet.Boolean {
			return nil
		}
	case listField:
		if leaf.MaxRepetitionLevel != 1 || len(path) < 2 || kind != parquet.ByteArray {
			return nil
		}
		// An element exists from the repeated node's level on; an
		// optional element one level below maxDef is a null element.
		c.elemDef = c.maxDef
		if leaf.Node.Optional() {
			c.elemDef--
		}
	}
	return c
}

// isUnsigned says whether an integer column holds unsigned values, by its
// logical type or, in older files, its converted type.
func isUnsigned(typ parquet.Type) bool {
	if lt := typ.LogicalType(); lt != nil {
		if it, ok := lt.Value.(*format.IntType); ok {
			return !it.IsSigned
		}
	}
	if ct := typ.ConvertedType(); ct != nil {
		switch *ct {
		case deprecated.Uint8, deprecated.Uint16, deprecated.Uint32, deprecated.Uint64:
			return true
		}
	}
	return false
}

// start begins a row group's column chunk.
func (c *colReader) start(chunk parquet.ColumnChunk) {
	c.pages = chunk.Pages()
	c.eof = false
	c.nlev, c.lev = 0, 0
}

// stop releases the column chunk.
func (c *colReader) stop() {
	if c.page != nil {
		parquet.Release(c.page)
		c.page = nil
	}
	if c.pages != nil {
		c.pages.Close()
		c.pages = nil
	}
	c.def, c.rep, c.idx, c.i32, c.i64, c.bits, c.data, c.offs = nil, nil, nil, nil, nil, nil, nil, nil
}

// nextPage reads the column chunk's next data page; io.EOF at its end.
func (c *colReader) nextPage() error {
	if c.page != nil {
		parquet.Release(c.page)
		c.page = nil
	}
	c.def, c.rep, c.idx, c.i32, c.i64, c.bits, c.data, c.offs = nil, nil, nil, nil, nil, nil, nil, nil
	c.nlev, c.lev, c.val = 0, 0, 0
	if c.eof {
		return io.EOF
	}
	p, err := c.pages.ReadPage()
	if err != nil {
		if err == io.EOF {
			c.eof = true
		}
		return err
	}
	c.page = p
	c.nlev = int(p.NumValues())
	if c.maxDef > 0 {
		c.def = p.DefinitionLevels()
		if len(c.def) != c.nlev {
			return fmt.Errorf("page has %d definition levels for %d values", len(c.def), c.nlev)
		}
	}
	if c.maxRep > 0 {
		c.rep = p.RepetitionLevels()
		if len(c.rep) != c.nlev {
			return fmt.Errorf("page has %d repetition levels for %d values", len(c.rep), c.nlev)
		}
	}
	vals := p.Data()
	if d := p.Dictionary(); d != nil {
		if d != c.dict {
			if err := c.loadDict(d); err != nil {
				return err
			}
		}
		c.idx = vals.Int32()
		return nil
	}
	switch vals.Kind() {
	case encoding.Int32:
		c.i32 = vals.Int32()
	case encoding.Int64:
		c.i64 = vals.Int64()
	case encoding.Boolean:
		c.bits = vals.Boolean()
	case encoding.ByteArray:
		c.data, c.offs = vals.ByteArray()
	default:
		return fmt.Errorf("page of %s values", vals.Kind())
	}
	return nil
}

// loadDict turns a column chunk's dictionary into Go values once. Each string
// is its own allocation, not interned: a map lookup per entry cost more than
// the allocation, and a value a consumer keeps holds on to nothing else.
func (c *colReader) loadDict(d parquet.Dictionary) error {
	c.dict = d
	vals := d.Page().Data()
	n := d.Len()
	c.dstr, c.dnum = c.dstr[:0], c.dnum[:0]
	switch vals.Kind() {
	case encoding.ByteArray:
		data, offs := vals.ByteArray()
		for i := range n {
			c.dstr = append(c.dstr, string(data[offs[i]:offs[i+1]]))
		}
		c.dstr = append(c.dstr, "") // what null rows take
	case encoding.Int32:
		for _, v := range vals.Int32()[:n] {
			c.dnum = append(c.dnum, c.widen(v))
		}
	case encoding.Int64:
		c.dnum = append(c.dnum, vals.Int64()[:n]...)
	default:
		// Writers do not dictionary-encode booleans.
		return fmt.Errorf("dictionary of %s values", vals.Kind())
	}
	return nil
}

func (c *colReader) widen(v int32) int64 {
	if c.unsigned {
		return int64(uint32(v))
	}
	return int64(v)
}

// internBytes returns b as a string shared with earlier equal values, so a
// value repeated across row groups and batches is one allocation.
func (c *colReader) internBytes(b []byte) string {
	if s, ok := c.intern[string(b)]; ok {
		return s
	}
	if c.intern == nil || len(c.intern) >= maxIntern {
		c.intern = make(map[string]string, 256)
	}
	s := string(b)
	c.intern[s] = s
	return s
}

// decode fills the column's field of every event of ev with the column
// chunk's next len(ev) rows.
func (c *colReader) decode(ev []trace.Event) error {
	if c.field.kind == listField {
		return c.decodeLists(ev)
	}
	for len(ev) > 0 {
		if c.lev == c.nlev {
			if err := c.nextPage(); err != nil {
				if err == io.EOF {
					return errColumnEnded
				}
				return err
			}
			continue
		}
		m := min(len(ev), c.nlev-c.lev)
		switch c.field.kind {
		case intField:
			c.field.putInts(c, ev[:m])
		case stringField:
			c.putStrings(ev[:m])
		case boolField:
			c.putBools(ev[:m])
		}
		ev = ev[m:]
	}
	return nil
}

// putInts decodes len(ev) rows of the current page of an integer column.
// Rows of an optional column are spread from the packed non-null values
// without branches: a null row takes a value masked to zero and does not
// advance.
func putInts[F integer](c *colReader, ev []trace.Event) {
	off, v, m := c.field.off, c.val, len(ev)
	if c.def == nil {
		switch {
		case c.idx != nil:
			dict := c.dnum
			for i, x := range c.idx[v : v+m] {
				*fieldAt[F](ev, i, off) = F(dict[x])
			}
		case c.i64 != nil:
			for i, x := range c.i64[v : v+m] {
				*fieldAt[F](ev, i, off) = F(x)
			}
		case c.unsigned:
			for i, x := range c.i32[v : v+m] {
				*fieldAt[F](ev, i, off) = F(uint32(x))
			}
		default:
			for i, x := range c.i32[v : v+m] {
				*fieldAt[F](ev, i, off) = F(x)
			}
		}
		c.lev += m
		c.val += m
		return
	}
	def := c.def[c.lev : c.lev+m]
	maxDef := c.maxDef
	k := present(def, maxDef)
	if k == 0 && c.zeroed {
		c.lev += m
		return
	}
	if cap(c.scratch) <= k {
		c.scratch = make([]int64, k+1, max(k+1, 1024))
	}
	s := c.scratch[:k+1]
	switch {
	case c.idx != nil:
		dict := c.dnum
		for i, x := range c.idx[v : v+k] {
			s[i] = dict[x]
		}
	case c.i64 != nil:
		copy(s, c.i64[v:v+k])
	case c.unsigned:
		for i, x := range c.i32[v : v+k] {
			s[i] = int64(uint32(x))
		}
	default:
		for i, x := range c.i32[v : v+k] {
			s[i] = int64(x)
		}
	}
	s[k] = 0 // read, masked, by trailing nulls
	j := 0
	for i, d := range def {
		p := b2i(d == maxDef)
		*fieldAt[F](ev, i, off) = F(s[j] & -int64(p))
		j += p
	}
	c.lev += m
	c.val += k
}

func (c *colReader) putStrings(ev []trace.Event) {
	off, v := c.field.off, c.val
	switch {
	case c.def == nil && c.idx != nil:
		dict := c.dstr
		for i, x := range c.idx[v : v+len(ev)] {
			*fieldAt[string](ev, i, off) = dict[x]
		}
		v += len(ev)
	case c.def == nil:
		for i := range ev {
			*fieldAt[string](ev, i, off) = c.internBytes(c.data[c.offs[v]:c.offs[v+1]])
			v++
		}
	case c.idx != nil:
		dict, idx, maxDef := c.dstr, c.idx[v:], c.maxDef
		def := c.def[c.lev : c.lev+len(ev)]
		k := present(def, maxDef)
		if k == 0 && c.zeroed {
			break
		}
		if k == len(ev) {
			for i, x := range idx[:k] {
				*fieldAt[string](ev, i, off) = dict[x]
			}
			v += k
			break
		}
		// As putInts, without branches: a null row reads the index of the
		// next value (or the last), masked to the empty string's.
		null := int32(len(dict) - 1)
		last, j := len(idx)-1, 0
		for i, d := range def {
			p := b2i(d == maxDef)
			mask := -int32(p)
			x := null
			if last >= 0 {
				x = idx[min(j, last)]&mask | null&^mask
			}
			*fieldAt[string](ev, i, off) = dict[x]
			j += p
		}
		v += j
	default:
		for i, d := range c.def[c.lev : c.lev+len(ev)] {
			s := ""
			if d == c.maxDef {
				s = c.internBytes(c.data[c.offs[v]:c.offs[v+1]])
				v++
			}
			*fieldAt[string](ev, i, off) = s
		}
	}
	c.lev += len(ev)
	c.val = v
}

func (c *colReader) putBools(ev []trace.Event) {
	off, v, bits := c.field.off, c.val, c.bits
	if c.def == nil {
		for i := range ev {
			*fieldAt[bool](ev, i, off) = bits[v>>3]>>(v&7)&1 != 0
			v++
		}
	} else {
		for i, d := range c.def[c.lev : c.lev+len(ev)] {
			b := false
			if d == c.maxDef {
				b = bits[v>>3]>>(v&7)&1 != 0
				v++
			}
			*fieldAt[bool](ev, i, off) = b
		}
	}
	c.lev += len(ev)
	c.val = v
}

// decodeLists fills len(ev) rows of a list column. A null or empty list is
// nil; every other list is a new slice the caller may keep, whose elements
// share one string: one allocation per row, and keeping one element keeps
// only that row's bytes. Rows are walked level by level because one may go
// on into the next page.
func (c *colReader) decodeLists(ev []trace.Event) error {
	off := c.field.off
	for i := range ev {
		for c.lev == c.nlev {
			if err := c.nextPage(); err != nil {
				if err == io.EOF {
					return errColumnEnded
				}
				return err
			}
		}
		if c.rep[c.lev] != 0 {
			return fmt.Errorf("row starts with repetition level %d", c.rep[c.lev])
		}
		if c.def[c.lev] < c.elemDef && c.lev+1 < c.nlev && c.rep[c.lev+1] == 0 {
			// No elements, and the row ends in this page: most rows of
			// most kinds (argv is an exec's).
			c.lev++
			if !c.zeroed {
				*fieldAt[[]string](ev, i, off) = nil
			}
			continue
		}
		c.elemBytes, c.elemEnds = c.elemBytes[:0], c.elemEnds[:0]
		for {
			if d := c.def[c.lev]; d >= c.elemDef {
				if d == c.maxDef {
					if c.idx != nil {
						c.elemBytes = append(c.elemBytes, c.dstr[c.idx[c.val]]...)
					} else {
						c.elemBytes = append(c.elemBytes, c.data[c.offs[c.val]:c.offs[c.val+1]]...)
					}
					c.val++
				}
				c.elemEnds = append(c.elemEnds, len(c.elemBytes))
			}
			c.lev++
			if c.lev == c.nlev {
				// The row may go on in the next page.
				if err := c.nextPage(); err == io.EOF {
					break
				} else if err != nil {
					return err
				}
			}
			if c.lev == c.nlev || c.rep[c.lev] == 0 {
				break
			}
		}
		var list []string
		if len(c.elemEnds) > 0 {
			all := string(c.elemBytes)
			list = make([]string, len(c.elemEnds))
			start := 0
			for j, end := range c.elemEnds {
				list[j] = all[start:end]
				start = end
			}
		}
		*fieldAt[[]string](ev, i, off) = list
	}
	return nil
}

// fileDecoder reads the events of chosen row groups of one file in batches.
type fileDecoder struct {
	file    *parquet.File
	groups  []int // row groups to read, in order
	next    int   // index in groups of the next row group
	group   int   // the row group being read
	left    int64 // rows of it not yet decoded
	cols    []*colReader
	leaves  []int // file leaf column of each of cols
	partial bool  // some field has no column: batches are zeroed first
}

// newFileDecoder decodes the fields keep marks, or all of them when keep is
// nil.
func newFileDecoder(f *parquet.File, groups []int, keep []bool) *fileDecoder {
	d := &fileDecoder{file: f, groups: groups, group: -1}
	filled := make([]bool, len(eventFields))
	byName := make(map[string]int, len(eventFields))
	for i, ef := range eventFields {
		byName[ef.name] = i
	}
	sc := f.Schema()
	for _, path := range sc.Columns() {
		i, ok := byName[path[0]]
		if !ok || filled[i] || keep != nil && !keep[i] {
			continue
		}
		leaf, ok := sc.Lookup(path...)
		if !ok {
			continue
		}
		if c := newColReader(&eventFields[i], path, leaf); c != nil {
			filled[i] = true
			d.cols = append(d.cols, c)
			d.leaves = append(d.leaves, leaf.ColumnIndex)
		}
	}
	d.partial = len(d.cols) < len(eventFields)
	for _, c := range d.cols {
		c.zeroed = d.partial
	}
	return d
}

// read decodes the next events into batch and says how many; 0 at the end.
func (d *fileDecoder) read(batch []trace.Event) (int, error) {
	for d.left == 0 {
		d.stopGroup()
		if d.next == len(d.groups) {
			return 0, nil
		}
		d.group = d.groups[d.next]
		d.next++
		rg := d.file.RowGroups()[d.group]
		d.left = rg.NumRows()
		chunks := rg.ColumnChunks()
		for i, c := range d.cols {
			c.start(chunks[d.leaves[i]])
		}
	}
	ev := batch[:min(int64(len(batch)), d.left)]
	if d.partial {
		clear(ev)
	}
	for _, c := range d.cols {
		if err := c.decode(ev); err != nil {
			return 0, fmt.Errorf("row group %d, column %s: %w", d.group, c.path, err)
		}
	}
	d.left -= int64(len(ev))
	return len(ev), nil
}

func (d *fileDecoder) stopGroup() {
	for _, c := range d.cols {
		c.stop()
	}
}

func (d *fileDecoder) close() {
	d.stopGroup()
	d.left = 0
	d.next = len(d.groups)
}
