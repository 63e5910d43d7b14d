package lake

import (
	"context"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// ReadColumns streams Arrow record batches holding only the named columns
// (Parquet column names, e.g. "time", "kind", "workload") of every trace file
// whose partition matches q. Row groups outside q's time range are skipped;
// rows are not filtered further, so callers filter on the columns they read.
// This is the fast path for offline jobs that need a few columns of many
// events. The batch is only valid during fn.
func (l *Lake) ReadColumns(ctx context.Context, q Query, columns []string, fn func(key string, rec arrow.RecordBatch) error) error {
	var ferrs []error
	report := func(key string, err error) {
		ferrs = append(ferrs, err)
		if q.OnFileError != nil {
			q.OnFileError(key, err)
		}
	}
	inner := q
	inner.OnFileError = report
	objs, err := l.Files(ctx, inner)
	if err != nil {
		return err
	}
	from, to := q.fromNS(), q.toNS()
	for _, o := range objs {
		if err := ctx.Err(); err != nil {
			return err
		}
		ferr, err := l.readColumnsFile(ctx, o.Key, columns, from, to, fn)
		if err != nil {
			return err
		}
		if ferr != nil {
			report(o.Key, ferr)
		}
	}
	if len(ferrs) > 0 {
		return &FileErrors{Errs: ferrs}
	}
	return nil
}

// readColumnsFile returns a file error (the file is bad) apart from an error
// of fn (which stops everything).
func (l *Lake) readColumnsFile(ctx context.Context, key string, columns []string, from, to int64, fn func(string, arrow.RecordBatch) error) (fileErr, fnErr error) {
	f, err := l.store.Open(ctx, key)
	if err != nil {
		return err, nil
	}
	defer f.Close()
	// Validate through the same checks as Scan (schema version, columns).
	pf, _, err := openParquet(f, f.Size(), key)
	if err != nil {
		return err, nil
	}
	var groups []int
	for i := range pf.RowGroups() {
		if lo, hi, ok := rowGroupTimeRange(pf, i); ok && (hi < from || lo >= to) {
			continue
		}
		groups = append(groups, i)
	}
	if len(groups) == 0 {
		return nil, nil
	}
	defer func() {
		if r := recover(); r != nil {
			fileErr = fmt.Errorf("%s: corrupt Parquet data: %v", key, r)
		}
	}()
	rdr, err := file.NewParquetReader(readSeeker{f, 0})
	if err != nil {
		return fmt.Errorf("%s: %w", key, err), nil
	}
	defer rdr.Close()
	sc := rdr.MetaData().Schema
	var leaves []int
	for i := 0; i < sc.NumColumns(); i++ {
		if slices.Contains(columns, sc.Column(i).ColumnPath()[0]) {
			leaves = append(leaves, i)
		}
	}
	if len(leaves) == 0 {
		return fmt.Errorf("%s: none of the columns %v", key, columns), nil
	}
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{BatchSize: 64 << 10}, memory.DefaultAllocator)
	if err != nil {
		return fmt.Errorf("%s: %w", key, err), nil
	}
	rr, err := fr.GetRecordReader(ctx, leaves, groups)
	if err != nil {
		return fmt.Errorf("%s: %w", key, err), nil
	}
	defer rr.Release()
	for rr.Next() {
		if err := fn(key, rr.RecordBatch()); err != nil {
			return nil, err
		}
	}
	if err := rr.Err(); err != nil {
		return fmt.Errorf("%s: reading columns: %w", key, err), nil
	}
	return nil, nil
}

// readSeeker adapts a blob.File to the ReaderAt+Seeker arrow wants.
type readSeeker struct {
	f interface {
		ReadAt([]byte, int64) (int, error)
		Size() int64
	}
	off int64
}

func (r readSeeker) ReadAt(p []byte, off int64) (int, error) { return r.f.ReadAt(p, off) }
func (r readSeeker) Read(p []byte) (int, error)              { panic("unused") }
func (r readSeeker) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case 0:
		return offset, nil
	case 1:
		return r.off + offset, nil
	default:
		return r.f.Size() + offset, nil
	}
}
