// Package lake is Vigil's trace lake: Hive-partitioned Parquet files of
// trace.Event on a local directory or S3,
//
//	<root>/traces/cluster=<c>/date=YYYY-MM-DD/hour=HH/<host>-<start>-<writer>-<seq>.parquet
//
// so Athena, DuckDB and Spark read it as a table. The Writer publishes only
// complete files; the reader streams events in bounded memory with partition
// and row-group pruning, and reports bad files by name while reading the rest.
package lake

import (
	"context"
	"fmt"

	"github.com/vigilsec/vigil/internal/blob"
)

// DefaultRoot is where the lake lives when no root is given.
const DefaultRoot = "./vigil-data"

// Lake is an opened lake root.
type Lake struct {
	root  string
	store blob.Store
}

// Open opens the lake at root: a local directory (created if missing) or
// s3://bucket/prefix (see blob.Open for endpoint and path-style options).
func Open(ctx context.Context, root string) (*Lake, error) {
	if root == "" {
		root = DefaultRoot
	}
	s, err := blob.Open(ctx, root)
	if err != nil {
		return nil, fmt.Errorf("opening lake: %w", err)
	}
	return &Lake{root: root, store: s}, nil
}

// Root is the root as given to Open.
func (l *Lake) Root() string { return l.root }

// Store gives access to side objects next to the traces (labels, reports).
func (l *Lake) Store() blob.Store { return l.store }

// Close releases the lake. Writers must be closed first.
func (l *Lake) Close() error { return nil }
