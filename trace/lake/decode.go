package lake

import (
	"bytes"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/vigilsec/vigil/trace"
)

// Events are decoded column by column from Arrow record batches: each column
// is one tight loop over the batch, and each dictionary value becomes a Go
// string once per row group instead of once per row. This is several times
// faster than reconstructing rows one at a time, which matters because
// training and replay read every event of the lake.

// decoder fills one field of a batch of events from one Arrow column.
type decoder interface {
	decode(ev []trace.Event, col arrow.Array)
}

// newDecoders returns a fresh decoder for each column of trace.Event; fresh
// because string decoders cache the dictionary of the current row group.
func newDecoders() map[string]decoder {
	s := func(get func(*trace.Event) *string) decoder { return &strDecoder{get: get} }
	l := func(get func(*trace.Event) *[]string) decoder { return listDecoder(get) }
	b := func(get func(*trace.Event) *bool) decoder { return boolDecoder(get) }
	return map[string]decoder{
		"time":                   num(func(e *trace.Event) *int64 { return &e.Time }),
		"host":                   s(func(e *trace.Event) *string { return &e.Host }),
		"boot_id":                s(func(e *trace.Event) *string { return &e.BootID }),
		"kind":                   &strDecoder{getKind: func(e *trace.Event) *trace.Kind { return &e.Kind }},
		"pid":                    num(func(e *trace.Event) *int32 { return &e.PID }),
		"tid":                    num(func(e *trace.Event) *int32 { return &e.TID }),
		"ppid":                   num(func(e *trace.Event) *int32 { return &e.PPID }),
		"ns_pid":                 num(func(e *trace.Event) *int32 { return &e.NSPID }),
		"uid":                    num(func(e *trace.Event) *uint32 { return &e.UID }),
		"euid":                   num(func(e *trace.Event) *uint32 { return &e.EUID }),
		"gid":                    num(func(e *trace.Event) *uint32 { return &e.GID }),
		"egid":                   num(func(e *trace.Event) *uint32 { return &e.EGID }),
		"comm":                   s(func(e *trace.Event) *string { return &e.Comm }),
		"exe_path":               s(func(e *trace.Event) *string { return &e.ExePath }),
		"argv":                   l(func(e *trace.Event) *[]string { return &e.Argv }),
		"argv_truncated":         b(func(e *trace.Event) *bool { return &e.ArgvTruncated }),
		"cwd":                    s(func(e *trace.Event) *string { return &e.Cwd }),
		"proc_start":             num(func(e *trace.Event) *int64 { return &e.ProcStart }),
		"proc_uuid":              s(func(e *trace.Event) *string { return &e.ProcUUID }),
		"parent_uuid":            s(func(e *trace.Event) *string { return &e.ParentUUID }),
		"exe_sha256":             s(func(e *trace.Event) *string { return &e.ExeSHA256 }),
		"cgroup_id":              num(func(e *trace.Event) *uint64 { return &e.CgroupID }),
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
		"syscall":                num(func(e *trace.Event) *int32 { return &e.Syscall }),
		"ret":                    num(func(e *trace.Event) *int64 { return &e.Ret }),
		"path":                   s(func(e *trace.Event) *string { return &e.Path }),
		"new_path":               s(func(e *trace.Event) *string { return &e.NewPath }),
		"path_truncated":         b(func(e *trace.Event) *bool { return &e.PathTruncated }),
		"flags":                  num(func(e *trace.Event) *uint64 { return &e.Flags }),
		"mode":                   num(func(e *trace.Event) *uint32 { return &e.Mode }),
		"fd":                     num(func(e *trace.Event) *int32 { return &e.FD }),
		"net_family":             num(func(e *trace.Event) *uint16 { return &e.NetFamily }),
		"net_protocol":           num(func(e *trace.Event) *uint8 { return &e.NetProto }),
		"net_src_addr":           s(func(e *trace.Event) *string { return &e.SrcAddr }),
		"net_src_port":           num(func(e *trace.Event) *uint16 { return &e.SrcPort }),
		"net_dst_addr":           s(func(e *trace.Event) *string { return &e.DstAddr }),
		"net_dst_port":           num(func(e *trace.Event) *uint16 { return &e.DstPort }),
		"dns_name":               s(func(e *trace.Event) *string { return &e.DNSName }),
		"dns_type":               num(func(e *trace.Event) *uint16 { return &e.DNSType }),
		"dns_answers":            l(func(e *trace.Event) *[]string { return &e.DNSAnswers }),
		"target_pid":             num(func(e *trace.Event) *int32 { return &e.TargetPID }),
		"module":                 s(func(e *trace.Event) *string { return &e.Module }),
	}
}

type integer interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64
}

type numDecoder[F integer] func(*trace.Event) *F

func num[F integer](get func(*trace.Event) *F) decoder { return numDecoder[F](get) }

func (get numDecoder[F]) decode(ev []trace.Event, col arrow.Array) {
	switch a := col.(type) {
	case *array.Int8:
		fill(ev, a, a.Int8Values(), get)
	case *array.Int16:
		fill(ev, a, a.Int16Values(), get)
	case *array.Int32:
		fill(ev, a, a.Int32Values(), get)
	case *array.Int64:
		fill(ev, a, a.Int64Values(), get)
	case *array.Uint8:
		fill(ev, a, a.Uint8Values(), get)
	case *array.Uint16:
		fill(ev, a, a.Uint16Values(), get)
	case *array.Uint32:
		fill(ev, a, a.Uint32Values(), get)
	case *array.Uint64:
		fill(ev, a, a.Uint64Values(), get)
	case *array.Timestamp:
		fill(ev, a, a.TimestampValues(), get)
	}
}

func fill[V integer, F integer](ev []trace.Event, a arrow.Array, vals []V, get func(*trace.Event) *F) {
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

type boolDecoder func(*trace.Event) *bool

func (get boolDecoder) decode(ev []trace.Event, col arrow.Array) {
	a, ok := col.(*array.Boolean)
	if !ok {
		return
	}
	for i := range ev {
		*get(&ev[i]) = a.IsValid(i) && a.Value(i)
	}
}

// strDecoder copies strings out of Arrow's buffers, which are reused after
// the batch. Values are interned: a dictionary value seen in an earlier batch
// or row group costs a map lookup, not an allocation.
type strDecoder struct {
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
func (d *strDecoder) sameDict(dict arrow.Array) bool {
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

// maxIntern bounds the intern table of one column; past it, it starts over.
const maxIntern = 1 << 16

func (d *strDecoder) set(e *trace.Event, s string) {
	if d.getKind != nil {
		*d.getKind(e) = trace.Kind(s)
	} else {
		*d.get(e) = s
	}
}

func (d *strDecoder) internString(v string) string {
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

func (d *strDecoder) decode(ev []trace.Event, col arrow.Array) {
	switch a := col.(type) {
	case *array.Dictionary:
		// Batches of one row group share its dictionary.
		if dict := a.Dictionary(); !d.sameDict(dict) {
			d.strs = d.strs[:0]
			for i := 0; i < dict.Len(); i++ {
				d.strs = append(d.strs, d.internString(valueString(dict, i)))
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
				d.set(&ev[i], d.internString(valueString(a, i)))
			} else {
				d.set(&ev[i], "")
			}
		}
	}
}

func valueString(a arrow.Array, i int) string {
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

type listDecoder func(*trace.Event) *[]string

func (get listDecoder) decode(ev []trace.Event, col arrow.Array) {
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
			out[j-lo] = strings.Clone(valueString(vals, j))
		}
		*get(&ev[i]) = out
	}
}
