package lake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/vigilsec/vigil/internal/blob"
	"github.com/vigilsec/vigil/internal/logkey"
)

// spool keeps completed trace files on local disk until S3 has them. Files
// survive a crash: the next writer on the same spool uploads them first.
type spool struct {
	dir      string
	store    blob.Store
	maxBytes int64
	stats    *Stats
	log      *slog.Logger
	lock     *os.File

	mu       sync.Mutex
	queue    []spoolItem // oldest first
	inFlight string      // key being uploaded; never dropped
	bytes    int64
	wake     chan struct{}
	idle     chan struct{} // closed and replaced whenever the queue empties

	cancel context.CancelFunc
	done   chan struct{}
}

type spoolItem struct {
	key  string
	path string
	size int64
	rows int64 // -1 when unknown (found on disk at start)
}

// defaultSpoolDir is stable for a given root, so a restarted agent finds
// what its predecessor left.
func defaultSpoolDir(root string) string {
	sum := sha256.Sum256([]byte(root))
	name := hex.EncodeToString(sum[:6])
	base := "/var/lib/vigil/spool"
	if os.MkdirAll(base, 0o700) != nil {
		if cache, err := os.UserCacheDir(); err == nil {
			base = filepath.Join(cache, "vigil", "spool")
		} else {
			base = filepath.Join(os.TempDir(), "vigil-spool")
		}
	}
	return filepath.Join(base, name)
}

func openSpool(store blob.Store, cfg WriterConfig, stats *Stats) (*spool, error) {
	dir := cfg.SpoolDir
	if dir == "" {
		dir = defaultSpoolDir(store.URL())
	}
	for _, sub := range []string{"ready", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("creating spool %s: %w", dir, err)
		}
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening spool lock: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("spool %s is in use by another writer (give each writer its own spool directory): %w", dir, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &spool{
		dir: dir, store: store, maxBytes: cfg.SpoolMaxBytes, stats: stats, log: cfg.Logger, lock: lock,
		wake: make(chan struct{}, 1), idle: make(chan struct{}), cancel: cancel, done: make(chan struct{}),
	}
	// With the lock held, anything in tmp/ belongs to a writer that died.
	tmps, _ := os.ReadDir(s.tmpDir())
	for _, e := range tmps {
		if os.Remove(filepath.Join(s.tmpDir(), e.Name())) == nil {
			stats.StaleTempFiles.Add(1)
			s.log.Warn("removed half-written trace file of a writer that died", logkey.File, e.Name())
		}
	}
	if err := s.recover(); err != nil {
		cancel()
		lock.Close()
		return nil, err
	}
	go s.run(ctx)
	return s, nil
}

func (s *spool) tmpDir() string   { return filepath.Join(s.dir, "tmp") }
func (s *spool) readyDir() string { return filepath.Join(s.dir, "ready") }

// recover queues complete files an earlier run did not get to upload.
func (s *spool) recover() error {
	var found []spoolItem
	err := filepath.WalkDir(s.readyDir(), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(s.readyDir(), path)
		found = append(found, spoolItem{key: filepath.ToSlash(rel), path: path, size: info.Size(), rows: -1})
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading spool %s: %w", s.dir, err)
	}
	sort.Slice(found, func(i, j int) bool { return found[i].key < found[j].key })
	for _, it := range found {
		s.queue = append(s.queue, it)
		s.bytes += it.size
	}
	s.publishGauges()
	if len(found) > 0 {
		s.log.Info("uploading trace files left in the spool by an earlier run", logkey.Count, len(found), logkey.Path, s.dir)
	}
	return nil
}

// add moves a complete file into the spool and queues it.
func (s *spool) add(key, path string, rows int64) error {
	dst := filepath.Join(s.readyDir(), filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	if err := os.Rename(path, dst); err != nil {
		return err
	}
	s.mu.Lock()
	s.queue = append(s.queue, spoolItem{key: key, path: dst, size: info.Size(), rows: rows})
	s.bytes += info.Size()
	s.enforceLimit()
	s.publishGauges()
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return nil
}

// enforceLimit drops the oldest queued files while the spool is over its
// limit. This loses data, so it is counted and logged as an error every time.
func (s *spool) enforceLimit() {
	for s.bytes > s.maxBytes {
		i := 0
		if len(s.queue) > 0 && s.queue[0].key == s.inFlight {
			i = 1
		}
		if i >= len(s.queue) {
			return
		}
		it := s.queue[i]
		s.queue = append(s.queue[:i], s.queue[i+1:]...)
		s.bytes -= it.size
		rows := it.rows
		if rows < 0 {
			rows = countRows(it.path)
		}
		os.Remove(it.path)
		s.stats.SpoolDroppedFiles.Add(1)
		s.stats.SpoolDroppedEvents.Add(rows)
		s.log.Error("SPOOL FULL: dropped a trace file that was never uploaded",
			logkey.Key, it.key, logkey.Events, rows, logkey.Bytes, it.size, "spool_max_bytes", s.maxBytes)
	}
}

func countRows(path string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return 0
	}
	pf, _, err := openParquet(f, info.Size(), path)
	if err != nil {
		return 0
	}
	return pf.NumRows()
}

func (s *spool) publishGauges() {
	s.stats.SpoolFiles.Store(int64(len(s.queue)))
	s.stats.SpoolBytes.Store(s.bytes)
	if len(s.queue) == 0 {
		close(s.idle)
		s.idle = make(chan struct{})
	}
}

// run uploads queued files oldest first, retrying with capped exponential
// backoff while S3 is unreachable. Nothing is dropped here; only the spool
// limit drops files.
func (s *spool) run(ctx context.Context) {
	defer close(s.done)
	backoff := time.Duration(0)
	for {
		s.mu.Lock()
		var it spoolItem
		have := len(s.queue) > 0
		if have {
			it = s.queue[0]
			s.inFlight = it.key
		}
		s.mu.Unlock()
		if !have {
			select {
			case <-ctx.Done():
				return
			case <-s.wake:
				continue
			}
		}
		err := s.store.PutFile(ctx, it.key, it.path)
		s.mu.Lock()
		s.inFlight = ""
		if err == nil {
			if len(s.queue) > 0 && s.queue[0].key == it.key {
				s.queue = s.queue[1:]
				s.bytes -= it.size
			}
			os.Remove(it.path)
			s.stats.FilesUploaded.Add(1)
			s.stats.BytesUploaded.Add(it.size)
			s.publishGauges()
		}
		s.mu.Unlock()
		if err == nil {
			backoff = 0
			continue
		}
		if ctx.Err() != nil {
			return
		}
		s.stats.UploadErrors.Add(1)
		backoff = nextBackoff(backoff)
		s.log.Warn("trace upload failed; will retry", logkey.Key, it.key, logkey.Err, err, logkey.Backoff, backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
	}
}

func nextBackoff(d time.Duration) time.Duration {
	const first, limit = 500 * time.Millisecond, time.Minute
	if d == 0 {
		d = first
	} else {
		d *= 2
	}
	d = min(d, limit)
	// Jitter spreads a fleet of agents that lost S3 at the same moment.
	return d/2 + rand.N(d/2+1)
}

// close waits until the queue is empty or ctx ends, then stops the uploader.
// Files not uploaded stay in the spool for the next run.
func (s *spool) close(ctx context.Context) error {
	s.mu.Lock()
	idle := s.idle
	empty := len(s.queue) == 0
	s.mu.Unlock()
	if !empty {
		select {
		case <-idle:
		case <-ctx.Done():
		}
	}
	s.cancel()
	<-s.done
	s.mu.Lock()
	left := len(s.queue)
	s.mu.Unlock()
	s.lock.Close()
	if left > 0 {
		s.log.Warn("trace files not uploaded yet stay in the spool for the next run", logkey.Count, left, logkey.Path, s.dir)
		return fmt.Errorf("%d trace files not uploaded, kept in spool %s: %w", left, s.dir, ErrNotUploaded)
	}
	return nil
}

// ErrNotUploaded is returned by Writer.Close when files remain in the spool.
var ErrNotUploaded = errors.New("uploads pending")
