// Package blob is the small object-store surface Vigil needs, over a local
// directory or an S3 bucket: the trace lake, model bundles, threat
// intelligence and labels all go through it, so every stage reads and writes
// local and S3 roots the same way.
//
// Keys are slash-separated and relative to the root. Puts are atomic: a
// reader never sees half an object.
package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Object describes one stored object.
type Object struct {
	Key      string
	Size     int64
	Modified time.Time
}

// File is an opened object for random-access reads (Parquet needs them).
type File interface {
	io.ReaderAt
	io.Closer
	Size() int64
}

// Store is a local directory or an S3 prefix.
type Store interface {
	// URL is the root as a user wrote it, for messages.
	URL() string
	// List returns every object whose key starts with prefix, sorted by key.
	List(ctx context.Context, prefix string) ([]Object, error)
	Get(ctx context.Context, key string) ([]byte, error)
	Put(ctx context.Context, key string, data []byte) error
	// PutFile stores the local file at path under key; the file is left in
	// place. Large files go up in parts on S3.
	PutFile(ctx context.Context, key, path string) error
	Open(ctx context.Context, key string) (File, error)
	Delete(ctx context.Context, key string) error
}

// ErrNotFound is returned (wrapped) for a key that does not exist.
var ErrNotFound = errors.New("object not found")

// Open returns the store for root: "s3://bucket/prefix" or a local directory
// (created if missing). S3 roots take optional query parameters
// endpoint=URL, region=R and path_style=true for S3-compatible servers; the
// standard AWS environment (credentials chain, AWS_REGION,
// AWS_ENDPOINT_URL_S3) applies otherwise.
func Open(ctx context.Context, root string) (Store, error) {
	if strings.HasPrefix(root, "s3://") {
		return openS3(ctx, root)
	}
	if strings.Contains(root, "://") {
		return nil, fmt.Errorf("root %q: only local directories and s3:// are supported", root)
	}
	return openDir(root)
}

// IsS3 reports whether root names an S3 location.
func IsS3(root string) bool { return strings.HasPrefix(root, "s3://") }

// Join joins key parts with slashes, ignoring empty parts.
func Join(parts ...string) string {
	var nonEmpty []string
	for _, p := range parts {
		p = strings.Trim(p, "/")
		if p != "" {
			nonEmpty = append(nonEmpty, p)
		}
	}
	return strings.Join(nonEmpty, "/")
}

func checkKey(key string) error {
	if key == "" || strings.HasPrefix(key, "/") || strings.Contains(key, "\\") {
		return fmt.Errorf("invalid key %q", key)
	}
	for _, part := range strings.Split(key, "/") {
		if part == "" || part == "." || part == ".." {
			return fmt.Errorf("invalid key %q", key)
		}
	}
	return nil
}
