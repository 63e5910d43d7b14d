package lake

import (
	"container/heap"
	"context"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/vigilsec/vigil/internal/blob"
	"github.com/vigilsec/vigil/trace"
)

// Query selects events. Zero fields select everything.
type Query struct {
	From, To time.Time // [From, To)
	Cluster  string    // ECS cluster; NoCluster selects events outside ECS
	Workload string
	Kinds    []trace.Kind
	// Fields, when set, are the only event fields decoded, by Parquet column
	// name (trace.Event's tags); the others stay zero. A job that reads a
	// few fields (training reads features.Fields) skips the cost of the
	// rest. Time, workload and kind are always decoded: the scan merges
	// and filters on them.
	Fields []string

	// Progress shows a progress bar on stderr when it is a terminal.
	Progress bool
	// OnFileError is told about each file that cannot be read; the scan goes
	// on with the others. Scan also returns them all as a *FileErrors.
	OnFileError func(key string, err error)
}

func (q Query) fromNS() int64 {
	if q.From.IsZero() {
		return minInt64
	}
	return q.From.UnixNano()
}

func (q Query) toNS() int64 {
	if q.To.IsZero() {
		return maxInt64
	}
	return q.To.UnixNano()
}

const (
	minInt64 = -1 << 63
	maxInt64 = 1<<63 - 1
)

// decoded says which of eventFields q decodes: nil for all of them.
func (q Query) decoded() ([]bool, error) {
	if q.Fields == nil {
		return nil, nil
	}
	keep := make([]bool, len(eventFields))
	for _, name := range append([]string{"time", "workload", "kind"}, q.Fields...) {
		i := slices.IndexFunc(eventFields, func(f eventField) bool { return f.name == name })
		if i < 0 {
			return nil, fmt.Errorf("lake query: trace events have no field %q", name)
		}
		keep[i] = true
	}
	return keep, nil
}

func (q Query) matches(e *trace.Event, from, to int64) bool {
	if e.Time < from || e.Time >= to {
		return false
	}
	if q.Workload != "" && e.Workload != q.Workload {
		return false
	}
	if len(q.Kinds) > 0 && !slices.Contains(q.Kinds, e.Kind) {
		return false
	}
	return true
}

// partitionMatches prunes by the partition in the key alone.
func (q Query) partitionMatches(p Partition) bool {
	switch {
	case q.Cluster == NoCluster && p.Cluster != "":
		return false
	case q.Cluster != "" && q.Cluster != NoCluster && p.Cluster != q.Cluster:
		return false
	}
	if !q.From.IsZero() && !p.Hour.Add(time.Hour).After(q.From) {
		return false
	}
	if !q.To.IsZero() && !p.Hour.Before(q.To) {
		return false
	}
	return true
}

// FileErrors lists the files a scan could not read.
type FileErrors struct {
	Errs []error
}

func (e *FileErrors) Error() string {
	msgs := make([]string, len(e.Errs))
	for i, err := range e.Errs {
		msgs[i] = err.Error()
	}
	return fmt.Sprintf("%d unreadable trace files:\n  %s", len(e.Errs), strings.Join(msgs, "\n  "))
}

func (e *FileErrors) Unwrap() []error { return e.Errs }

// Files lists trace files whose partition may hold events of q, in time
// order. Objects under traces/ that are not trace files are reported through
// OnFileError and skipped.
func (l *Lake) Files(ctx context.Context, q Query) ([]blob.Object, error) {
	prefix := TracesPrefix
	if q.Cluster != "" {
		c := NoCluster
		if q.Cluster != NoCluster {
			c = escapePartitionValue(q.Cluster)
		}
		prefix += "cluster=" + c + "/"
	}
	objs, err := l.store.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	type keyed struct {
		obj blob.Object
		p   Partition
	}
	var out []keyed
	for _, o := range objs {
		p, ok := ParseFileKey(o.Key)
		if !ok {
			if q.OnFileError != nil && !strings.HasSuffix(o.Key, "/") {
				q.OnFileError(o.Key, fmt.Errorf("%s: not a trace file name (expected %scluster=C/date=D/hour=H/NAME.parquet)", o.Key, TracesPrefix))
			}
			continue
		}
		if q.partitionMatches(p) {
			out = append(out, keyed{o, p})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].p.Hour.Equal(out[j].p.Hour) {
			return out[i].p.Hour.Before(out[j].p.Hour)
		}
		return out[i].obj.Key < out[j].obj.Key
	})
	res := make([]blob.Object, len(out))
	for i, k := range out {
		res[i] = k.obj
	}
	return res, nil
}

// Stat reads a trace file's footer.
func (l *Lake) Stat(ctx context.Context, key string) (FileInfo, error) {
	f, err := l.store.Open(ctx, key)
	if err != nil {
		return FileInfo{Key: key}, err
	}
	defer f.Close()
	_, info, err := openParquet(f, f.Size(), key)
	return info, err
}

// Scan calls fn for every event matching q. Files of one hour are merged by
// event time; hours go in order, so events reach fn in time order as long as
// each file is. Memory is bounded by the number of files in one hour times
// the read batch, never by the size of the lake.
//
// Unreadable files are skipped and reported (OnFileError and the returned
// *FileErrors) after every readable event was delivered. An error from fn
// stops the scan and is returned as is.
func (l *Lake) Scan(ctx context.Context, q Query, fn func(*trace.Event) error) error {
	var ferrs []error
	report := func(key string, err error) {
		ferrs = append(ferrs, err)
		if q.OnFileError != nil {
			q.OnFileError(key, err)
		}
	}
	keep, err := q.decoded()
	if err != nil {
		return err
	}
	inner := q
	inner.OnFileError = report
	objs, err := l.Files(ctx, inner)
	if err != nil {
		return err
	}
	var bar *progressbar.ProgressBar
	if q.Progress && term.IsTerminal(int(os.Stderr.Fd())) {
		var total int64
		for _, o := range objs {
			total += o.Size
		}
		bar = progressbar.DefaultBytes(total, "reading traces")
		defer bar.Finish()
	}
	from, to := q.fromNS(), q.toNS()
	for i := 0; i < len(objs); {
		// One group per partition hour, merged.
		p, _ := ParseFileKey(objs[i].Key)
		j := i + 1
		for j < len(objs) {
			pj, _ := ParseFileKey(objs[j].Key)
			if !pj.Hour.Equal(p.Hour) {
				break
			}
			j++
		}
		if err := l.scanGroup(ctx, objs[i:j], q, keep, from, to, fn, report); err != nil {
			return err
		}
		if bar != nil {
			for _, o := range objs[i:j] {
				bar.Add64(o.Size)
			}
		}
		i = j
	}
	if len(ferrs) > 0 {
		return &FileErrors{Errs: ferrs}
	}
	return nil
}

func (l *Lake) scanGroup(ctx context.Context, objs []blob.Object, q Query, keep []bool, from, to int64, fn func(*trace.Event) error, report func(string, error)) error {
	var cursors cursorHeap
	defer func() {
		for _, c := range cursors {
			c.close()
		}
	}()
	for _, o := range objs {
		if err := ctx.Err(); err != nil {
			return err
		}
		c, err := l.openCursor(ctx, o.Key, q, keep, from, to)
		if err != nil {
			report(o.Key, err)
			continue
		}
		ok, err := c.next()
		if err != nil {
			report(o.Key, err)
			c.close()
			continue
		}
		if !ok {
			c.close()
			continue
		}
		cursors = append(cursors, c)
	}
	heap.Init(&cursors)
	for len(cursors) > 0 {
		c := cursors[0]
		// The file first in line gives events without the heap until it
		// passes the next file's: a host's files rarely overlap, so most
		// events skip the heap's compares.
		var rival *cursor
		switch {
		case len(cursors) == 2:
			rival = cursors[1]
		case len(cursors) > 2:
			rival = cursors[1]
			if cursors.Less(2, 1) {
				rival = cursors[2]
			}
		}
		var ok bool
		var err error
		for {
			if err = fn(c.cur()); err != nil {
				return err
			}
			if ok, err = c.next(); !ok || err != nil || rival != nil && !c.before(rival) {
				break
			}
		}
		if err != nil {
			report(c.key, err)
		}
		if !ok || err != nil {
			c.close()
			heap.Pop(&cursors)
			continue
		}
		heap.Fix(&cursors, 0)
	}
	return ctx.Err()
}

// cursor walks the matching events of one file, a batch at a time.
type cursor struct {
	key    string
	file   blob.File
	q      Query
	from   int64
	to     int64
	dec    *fileDecoder
	batch  []trace.Event
	n, pos int
	done   bool
}

// readBatch rows are decoded at a time: a batch of events (about 620 bytes
// each) then stays in the core's L2 cache while each column is written into
// it; 4096 rows did not, and decoded at two thirds of the speed.
const readBatch = 512

func (l *Lake) openCursor(ctx context.Context, key string, q Query, keep []bool, from, to int64) (c *cursor, err error) {
	f, err := l.store.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	cur := &cursor{key: key, file: f, q: q, from: from, to: to, done: true}
	c = cur
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: corrupt Parquet data: %v", key, r)
		}
		if err != nil {
			cur.close()
			c = nil
		}
	}()
	// The footer is validated the same way for every reader (schema
	// version, columns); row-group statistics prune by time.
	pf, info, err := openParquet(f, f.Size(), key)
	if err != nil {
		return nil, err
	}
	if info.TimeMax != 0 && (info.TimeMax < from || info.TimeMin >= to) {
		return c, nil
	}
	var groups []int
	for i := range pf.RowGroups() {
		if lo, hi, ok := rowGroupTimeRange(pf, i); ok && (hi < from || lo >= to) {
			continue
		}
		groups = append(groups, i)
	}
	if len(groups) == 0 {
		return c, nil
	}
	c.dec = newFileDecoder(pf, groups, keep)
	c.done = false
	return c, nil
}

func (c *cursor) cur() *trace.Event { return &c.batch[c.pos] }

// next advances to the next matching event; false at the end of the file.
func (c *cursor) next() (bool, error) {
	if c.batch != nil {
		c.pos++
	}
	for {
		for ; c.pos < c.n; c.pos++ {
			if c.q.matches(&c.batch[c.pos], c.from, c.to) {
				return true, nil
			}
		}
		if err := c.fill(); err != nil {
			return false, err
		}
		if c.n == 0 {
			return false, nil
		}
	}
}

func (c *cursor) fill() (err error) {
	defer func() {
		// A bad file must not take the whole scan down, whatever the
		// decoder does with it.
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: corrupt Parquet data: %v", c.key, r)
		}
		if err != nil {
			c.done = true
		}
	}()
	c.pos, c.n = 0, 0
	if c.done {
		return nil
	}
	if c.batch == nil {
		c.batch = make([]trace.Event, readBatch)
	}
	n, err := c.dec.read(c.batch)
	if err != nil {
		return fmt.Errorf("%s: reading rows: %w", c.key, err)
	}
	if n == 0 {
		c.done = true
	}
	c.n = n
	return nil
}

func (c *cursor) close() {
	if c.dec != nil {
		c.dec.close()
	}
	c.file.Close()
}

// before orders cursors by their current event's time, then file name.
func (c *cursor) before(o *cursor) bool {
	a, b := c.cur().Time, o.cur().Time
	if a != b {
		return a < b
	}
	return c.key < o.key
}

type cursorHeap []*cursor

func (h cursorHeap) Len() int           { return len(h) }
func (h cursorHeap) Less(i, j int) bool { return h[i].before(h[j]) }
func (h cursorHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *cursorHeap) Push(x any)        { *h = append(*h, x.(*cursor)) }
func (h *cursorHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}
