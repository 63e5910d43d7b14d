package output

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// Stream writes JSON lines to a writer (stdout).
type Stream struct {
	name string
	enc  Encoder
	mu   sync.Mutex
	w    *bufio.Writer
}

// NewStream writes records to w as JSON lines.
func NewStream(name string, w io.Writer, enc Encoder) *Stream {
	return &Stream{name: name, enc: enc, w: bufio.NewWriter(w)}
}

func (s *Stream) Name() string { return s.name }

func (s *Stream) Write(_ context.Context, batch []Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range batch {
		b, err := s.enc.Encode(r)
		if err != nil {
			return Permanent(err)
		}
		s.w.Write(b)
		s.w.WriteByte('\n')
	}
	return s.w.Flush()
}

func (s *Stream) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Flush()
}

// File writes JSON lines to a file and rotates it by size: path, then
// path.1 (newest) to path.N (oldest), like logrotate.
type File struct {
	path     string
	enc      Encoder
	maxBytes int64
	keep     int
	f        *os.File
	size     int64
}

// NewFile opens path for appending; it rotates when a write would pass
// maxBytes (default 64 MiB) and keeps keep old files (default 5).
func NewFile(path string, maxBytes int64, keep int, enc Encoder) (*File, error) {
	if maxBytes <= 0 {
		maxBytes = 64 << 20
	}
	if keep <= 0 {
		keep = 5
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("findings file %s: %w", path, err)
	}
	o := &File{path: path, enc: enc, maxBytes: maxBytes, keep: keep}
	if err := o.open(); err != nil {
		return nil, err
	}
	return o, nil
}

func (o *File) open() error {
	f, err := os.OpenFile(o.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("findings file %s: %w", o.path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("findings file %s: %w", o.path, err)
	}
	o.f, o.size = f, st.Size()
	return nil
}

func (o *File) Name() string { return "file:" + o.path }

func (o *File) Write(_ context.Context, batch []Record) error {
	for _, r := range batch {
		b, err := o.enc.Encode(r)
		if err != nil {
			return Permanent(err)
		}
		b = append(b, '\n')
		if o.size > 0 && o.size+int64(len(b)) > o.maxBytes {
			if err := o.rotate(); err != nil {
				return err
			}
		}
		n, err := o.f.Write(b)
		o.size += int64(n)
		if err != nil {
			return fmt.Errorf("writing %s: %w", o.path, err)
		}
	}
	return nil
}

func (o *File) rotate() error {
	if err := o.f.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", o.path, err)
	}
	os.Remove(fmt.Sprintf("%s.%d", o.path, o.keep))
	for i := o.keep - 1; i >= 1; i-- {
		os.Rename(fmt.Sprintf("%s.%d", o.path, i), fmt.Sprintf("%s.%d", o.path, i+1))
	}
	if err := os.Rename(o.path, o.path+".1"); err != nil {
		return fmt.Errorf("rotating %s: %w", o.path, err)
	}
	return o.open()
}

func (o *File) Close() error {
	if err := o.f.Sync(); err != nil {
		return err
	}
	return o.f.Close()
}
