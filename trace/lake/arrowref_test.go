package lake

import (
	"bytes"
	"context"
	"io"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/vigilsec/vigil/trace"
)

// The reader Scan used before decoding pages itself: Apache Arrow's pqarrow
// record reader, its batches copied into events column by column. It is an
// independent implementation of the same file format, kept as the reference
// the page decoder must agree with, event for event.

// ArrowReadFile reads every event of one lake file through Arrow, in file order.
func ArrowReadFile(l *Lake, key string) ([]trace.Event, error) {
	ctx := context.Background()
	f, err := l.store.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rdr, err := file.NewParquetReader(readSeeker{f: f})
	if err != nil {
		return nil, err
	}
	defer rdr.Close()
	props := pqarrow.ArrowReadProperties{BatchSize: 1000}
	sc := rdr.MetaData().Schema
	for i := 0; i < sc.NumColumns(); i++ {
		col := sc.Column(i)
		if col.PhysicalType() == parquet.Types.ByteArray && col.MaxRepetitionLevel() == 0 {
			props.SetReadDict(i, true)
		}
	}
	fr, err := pqarrow.NewFileReader(rdr, props, memory.DefaultAllocator)
	if err != nil {
		return nil, err
	}
	rr, err := fr.GetRecordReader(ctx, nil, nil)
	if err != nil {
		return nil, err
	}
	defer rr.Release()
	decs := newArrowDecoders()
	var cols []arrowDecoder
	for _, field := range rr.Schema().Fields() {
		cols = append(cols, decs[field.Name])
	}
	out := make([]trace.Event, 0, rdr.NumRows())
	for rr.Next() {
		rec := rr.RecordBatch()
		batch := make([]trace.Event, rec.NumRows())
		for j, d := range cols {
			if d != nil {
				d.decode(batch, rec.Column(j))
			}
		}
		out = append(out, batch...)
	}
	if err := rr.Err(); err != nil && err != io.EOF {
		return nil, err
	}
	return out, nil
}

// arrowDecoder fills one field of a batch of events from one Arrow column.
type arrowDecoder interface {
	decode(ev []trace.Event, col arrow.Array)
}

// newArrowDecoders returns a fresh arrowDecoder for each column of trace.Event; fresh
// because string decoders cache the dictionary of the current row group.
func newArrowDecoders() map[string]arrowDecoder {
	s := func(get func(*trace.Event) *string) arrowDecoder { return &arrowStrDecoder{get: get} }
	l := func(get func(*trace.Event) *[]string) arrowDecoder { return arrowListDecoder(get) }
	b := func(get func(*trace.Event) *bool) arrowDecoder { return arrowBoolDecoder(get) }
	return map[string]arrowDecoder{
		"time":                   arrowNum(func(e *trace.Event) *int64 { return &e.Time }),
		"host":                   s(func(e *trace.Event) *string { return &e.Host }),
		"boot_id":                s(func(e *trace.Event) *string { return &e.BootID }),
		"kind":                   &arrowStrDecoder{getKind: func(e *trace.Event) *trace.Kind { return &e.Kind }},
		"pid":                    arrowNum(func(e *trace.Event) *int32 { return &e.PID }),
		"tid":                    arrowNum(func(e *trace.Event) *int32 { return &e.TID }),
		"ppid":                   arrowNum(func(e *trace.Event) *int32 { return &e.PPID }),
		"ns_pid":                 arrowNum(func(e *trace.Event) *int32 { return &e.NSPID }),
		"uid":                    arrowNum(func(e *trace.Event) *uint32 { return &e.UID }),
		"euid":                   arrowNum(func(e *trace.Event) *uint32 { return &e.EUID }),
		"gid":                    arrowNum(func(e *trace.Event) *uint32 { return &e.GID }),
		"egid":                   arrowNum(func(e *trace.Event) *uint32 { return &e.EGID }),
		"comm":                   s(func(e *trace.Event) *string { return &e.Comm }),
		"exe_path":               s(func(e *trace.Event) *string { return &e.ExePath }),
		"argv":                   l(func(e *trace.Event) *[]string { return &e.Argv }),
		"argv_truncated":         b(func(e *trace.Event) *bool { return &e.ArgvTruncated }),
		"cwd":                    s(func(e *trace.Event) *string { return &e.Cwd }),
		"proc_start":             arrowNum(func(e *trace.Event) *int64 { return &e.ProcStart }),
		"proc_uuid":              s(func(e *trace.Event) *string { return &e.ProcUUID }),
		"parent_uuid":            s(func(e *trace.Event) *string { return &e.ParentUUID }),
		"exe_sha256":             s(func(e *trace.Event) *string { return &e.ExeSHA256 }),
		"cgroup_id":              arrowNum(func(e *trace.Event) *uint64 { return &e.CgroupID }),
		"container_id":           s(func(e *trace.Event) *string { return &e.ContainerID }),
		"container_runtime":      s(func(e *trace.Event) *string { return &e.Runtime }),
		"container_image":        s(func(e *trace.Event) *string { return &e.Image }),
		"container_image_digest": s(func(e *trace.Event) *string { return &e.ImageDigest }),
		"container_name":         s(func(e *trace.Event) *string { return &e.ContainerName }),
		"ecs_cluster":            s(func(e *trace.Event) *string { return &e.Cluster }),
		"ecs_task_arn":           s(func(e *trace.Event) *string { return &e.TaskARN }),
		"ecs_task_family":        s(func(e *trace.Event) *string { return &e.TaskFamily }),
		"ecs_task_revision":      s(func(e *trace.Event) *string { return &e.TaskRevision }),
		"ecs_container_name":     s(func(e *trace.Event) *string { return &e.ECSContainerName }),
		"ecs_launch_type":        s(func(e *trace.Event) *string { return &e.LaunchType }),
		"workload":               s(func(e *trace.Event) *string { return &e.Workload }),
		"syscall":                arrowNum(func(e *trace.Event) *int32 { return &e.Syscall }),
		"ret":                    arrowNum(func(e *trace.Event) *int64 { return &e.Ret }),
		"path":                   s(func(e *trace.Event) *string { return &e.Path }),
		"new_path":               s(func(e *trace.Event) *string { return &e.NewPath }),
		"path_truncated":         b(func(e *trace.Event) *bool { return &e.PathTruncated }),
		"flags":                  arrowNum(func(e *trace.Event) *uint64 { return &e.Flags }),
		"mode":                   arrowNum(func(e *trace.Event) *uint32 { return &e.Mode }),
		"fd":                     arrowNum(func(e *trace.Event) *int32 { return &e.FD }),
		"net_family":             arrowNum(func(e *trace.Event) *uint16 { return &e.NetFamily }),
		"net_protocol":           arrowNum(func(e *trace.Event) *uint8 { return &e.NetProto }),
		"net_src_addr":           s(func(e *trace.Event) *string { return &e.SrcAddr }),
		"net_src_port":           arrowNum(func(e *trace.Event) *uint16 { return &e.SrcPort }),
		"net_dst_addr":           s(func(e *trace.Event) *string { return &e.DstAddr }),
		"net_dst_port":           arrowNum(func(e *trace.Event) *uint16 { return &e.DstPort }),
		"dns_name":               s(func(e *trace.Event) *string { return &e.DNSName }),
		"dns_type":               arrowNum(func(e *trace.Event) *uint16 { return &e.DNSType }),
		"dns_answers":            l(func(e *trace.Event) *[]string { return &e.DNSAnswers }),
		"target_pid":             arrowNum(func(e *trace.Event) *int32 { return &e.TargetPID }),
		"module":                 s(func(e *trace.Event) *string { return &e.Module }),
	}
}

type arrowNumDecoder[F integer] func(*trace.Event) *F

func arrowNum[F integer](get func(*trace.Event) *F) arrowDecoder { return arrowNumDecoder[F](get) }

func (get arrowNumDecoder[F]) decode(ev []trace.Event, col arrow.Array) {
	switch a := col.(type) {
	case *array.Int8:
		arrowFill(ev, a, a.Int8Values(), get)
	case *array.Int16:
		arrowFill(ev, a, a.Int16Values(), get)
	case *array.Int32:
		arrowFill(ev, a, a.Int32Values(), get)
	case *array.Int64:
		arrowFill(ev, a, a.Int64Values(), get)
	case *array.Uint8:
		arrowFill(ev, a, a.Uint8Values(), get)
	case *array.Uint16:
		arrowFill(ev, a, a.Uint16Values(), get)
	case *array.Uint32:
		arrowFill(ev, a, a.Uint32Values(), get)
	case *array.Uint64:
		arrowFill(ev, a, a.Uint64Values(), get)
	case *array.Timestamp:
		arrowFill(ev, a, a.TimestampValues(), get)
	}
}

func arrowFill[V integer, F integer](ev []trace.Event, a arrow.Array, vals []V, get func(*trace.Event) *F) {
	vals = vals[:len(ev)]
	if a.NullN() == 0 {
		for i := range ev {
			*get(&ev[i]) = F(vals[i])
		}
		return
	}
	for i := range ev {
		if a.IsValid(i) {
			*get(&ev[i]) = F(vals[i])
		} else {
			*get(&ev[i]) = 0
		}
	}
}

type arrowBoolDecoder func(*trace.Event) *bool

func (get arrowBoolDecoder) decode(ev []trace.Event, col arrow.Array) {
	a, ok := col.(*array.Boolean)
	if !ok {
		return
	}
	for i := range ev {
		*get(&ev[i]) = a.IsValid(i) && a.Value(i)
	}
}

// arrowStrDecoder copies strings out of Arrow's buffers, which are reused after
// the batch. Values are interned: a dictionary value seen in an earlier batch
// or row group costs a map lookup, not an allocation.
type arrowStrDecoder struct {
	get     func(*trace.Event) *string
	getKind func(*trace.Event) *trace.Kind
	intern  map[string]string
	dict    arrow.Array // the dictionary strs was built from
	strs    []string    // that dictionary, interned
	// Arrow hands out a new dictionary object with every batch even when
	// the row group's dictionary is the same; its bytes tell.
	dictBytes []byte
	dictOffs  []int32
}

// sameDict reports whether dict holds exactly the values strs was built from,
// and remembers dict's bytes when it does not.
func (d *arrowStrDecoder) sameDict(dict arrow.Array) bool {
	if dict == d.dict {
		return true
	}
	d.dict = dict
	sa, ok := dict.(*array.String)
	if !ok {
		d.dictBytes, d.dictOffs = nil, nil
		return false
	}
	vb, offs := sa.ValueBytes(), sa.ValueOffsets()
	if d.dictOffs != nil && slices.Equal(offs, d.dictOffs) && bytes.Equal(vb, d.dictBytes) {
		return true
	}
	d.dictBytes = append(d.dictBytes[:0], vb...)
	d.dictOffs = append(d.dictOffs[:0], offs...)
	return false
}

func (d *arrowStrDecoder) set(e *trace.Event, s string) {
	if d.getKind != nil {
		*d.getKind(e) = trace.Kind(s)
	} else {
		*d.get(e) = s
	}
}

func (d *arrowStrDecoder) internString(v string) string {
	if s, ok := d.intern[v]; ok {
		return s
	}
	if d.intern == nil || len(d.intern) >= maxIntern {
		d.intern = make(map[string]string, 256)
	}
	s := strings.Clone(v)
	d.intern[s] = s
	return s
}

func (d *arrowStrDecoder) decode(ev []trace.Event, col arrow.Array) {
	switch a := col.(type) {
	case *array.Dictionary:
		// Batches of one row group share its dictionary.
		if dict := a.Dictionary(); !d.sameDict(dict) {
			d.strs = d.strs[:0]
			for i := 0; i < dict.Len(); i++ {
				d.strs = append(d.strs, d.internString(arrowValueString(dict, i)))
			}
		}
		if idx, ok := a.Indices().(*array.Int32); ok {
			vals := idx.Int32Values()
			for i := range ev {
				if a.IsValid(i) {
					d.set(&ev[i], d.strs[vals[i]])
				} else {
					d.set(&ev[i], "")
				}
			}
			return
		}
		for i := range ev {
			if a.IsValid(i) {
				d.set(&ev[i], d.strs[a.GetValueIndex(i)])
			} else {
				d.set(&ev[i], "")
			}
		}
	case *array.String, *array.Binary, *array.LargeString:
		for i := range ev {
			if a.IsValid(i) {
				d.set(&ev[i], d.internString(arrowValueString(a, i)))
			} else {
				d.set(&ev[i], "")
			}
		}
	}
}

func arrowValueString(a arrow.Array, i int) string {
	switch a := a.(type) {
	case *array.String:
		return a.Value(i)
	case *array.LargeString:
		return a.Value(i)
	case *array.Binary:
		return string(a.Value(i))
	}
	return ""
}

type arrowListDecoder func(*trace.Event) *[]string

func (get arrowListDecoder) decode(ev []trace.Event, col arrow.Array) {
	a, ok := col.(*array.List)
	if !ok {
		return
	}
	vals := a.ListValues()
	offsets := a.Offsets()
	for i := range ev {
		*get(&ev[i]) = nil
		if !a.IsValid(i) {
			continue
		}
		lo, hi := int(offsets[i]), int(offsets[i+1])
		if lo == hi {
			continue
		}
		out := make([]string, hi-lo)
		for j := lo; j < hi; j++ {
			out[j-lo] = strings.Clone(arrowValueString(vals, j))
		}
		*get(&ev[i]) = out
	}
}
