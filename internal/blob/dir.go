package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Dir is a Store on a local directory.
type Dir struct {
	root string
}

func openDir(root string) (*Dir, error) {
	if root == "" {
		return nil, errors.New("empty root directory")
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("creating root %s: %w", root, err)
	}
	return &Dir{root: root}, nil
}

func (d *Dir) URL() string { return d.root }

// Path is the local file path for key.
func (d *Dir) Path(key string) string { return filepath.Join(d.root, filepath.FromSlash(key)) }

func (d *Dir) List(ctx context.Context, prefix string) ([]Object, error) {
	// Walk only the directory the prefix names, so listing one partition
	// never walks the whole lake.
	base := prefix
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		base = prefix[:i]
	} else {
		base = ""
	}
	start := d.Path(base)
	var out []Object
	err := filepath.WalkDir(start, func(path string, de fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, _ := filepath.Rel(d.root, path)
		key := filepath.ToSlash(rel)
		if de.IsDir() {
			// Hidden directories hold staging files that are not objects yet.
			if path != start && strings.HasPrefix(de.Name(), ".") {
				return filepath.SkipDir
			}
			if path != start && !strings.HasPrefix(key+"/", prefix) && !strings.HasPrefix(prefix, key+"/") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasPrefix(de.Name(), ".") || !strings.HasPrefix(key, prefix) {
			return nil
		}
		info, err := de.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		out = append(out, Object{Key: key, Size: info.Size(), Modified: info.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", start, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

func (d *Dir) Get(ctx context.Context, key string) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(d.Path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", d.Path(key), ErrNotFound)
	}
	return b, err
}

func (d *Dir) Put(ctx context.Context, key string, data []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	return d.publish(key, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
}

func (d *Dir) PutFile(ctx context.Context, key, path string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	src, err := os.Open(path)
	if err != nil {
		return err
	}
	defer src.Close()
	return d.publish(key, func(f *os.File) error {
		_, err := io.Copy(f, src)
		return err
	})
}

// Rename moves a finished local file into place under key: the cheap way to
// publish when the file is already on the same file system.
func (d *Dir) Rename(key, path string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	dst := d.Path(key)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if err := os.Rename(path, dst); err != nil {
		return err
	}
	return syncDir(filepath.Dir(dst))
}

// StagingDir is a directory inside the root, hidden from List, for files that
// are being written and will be published with Rename.
func (d *Dir) StagingDir() (string, error) {
	dir := filepath.Join(d.root, ".staging")
	return dir, os.MkdirAll(dir, 0o755)
}

// publish writes through a hidden temporary file, syncs it and renames it into
// place, so a crash leaves either the old state or the whole new object.
func (d *Dir) publish(key string, write func(*os.File) error) error {
	dst := d.Path(key)
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", dst, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return err
	}
	return syncDir(dir)
}

func (d *Dir) Open(ctx context.Context, key string) (File, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	f, err := os.Open(d.Path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", d.Path(key), ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &osFile{File: f, size: info.Size()}, nil
}

func (d *Dir) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	err := os.Remove(d.Path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

type osFile struct {
	*os.File
	size int64
}

func (f *osFile) Size() int64 { return f.size }

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
