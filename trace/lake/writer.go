package lake

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vigilsec/vigil/internal/blob"
	"github.com/vigilsec/vigil/internal/logkey"
	"github.com/vigilsec/vigil/trace"
)

// WriterConfig configures a Writer. Zero values take the defaults, which are
// sized for S3: few, large, columnar files.
type WriterConfig struct {
	Host string // goes into file names and metadata; default os.Hostname

	MaxFileBytes int64         // roll a file at this size; default 128 MiB
	MaxFileAge   time.Duration // roll a file this long after it was opened; default 5 min
	MaxOpenFiles int           // partitions written at once; the least recent rolls first; default 8
	BatchRows    int           // rows buffered before they are encoded; default 4096
	File         FileOptions

	// SpoolDir holds completed files until they are uploaded (S3 roots only);
	// default /var/lib/vigil/spool/<bucket>-<hash> when writable, else under
	// the user cache directory.
	SpoolDir string
	// SpoolMaxBytes caps the spool. Past it the oldest files are dropped,
	// counted and logged as errors; default 2 GiB.
	SpoolMaxBytes int64
	// DrainTimeout is how long Close waits for uploads; what is left stays
	// in the spool for the next start. Default 30 s.
	DrainTimeout time.Duration

	Logger *slog.Logger
}

func (c WriterConfig) withDefaults() WriterConfig {
	if c.Host == "" {
		c.Host, _ = os.Hostname()
	}
	if c.MaxFileBytes <= 0 {
		c.MaxFileBytes = 128 << 20
	}
	if c.MaxFileAge <= 0 {
		c.MaxFileAge = 5 * time.Minute
	}
	if c.MaxOpenFiles <= 0 {
		c.MaxOpenFiles = 8
	}
	if c.BatchRows <= 0 {
		c.BatchRows = 4096
	}
	if c.SpoolMaxBytes <= 0 {
		c.SpoolMaxBytes = 2 << 30
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Stats counts what a Writer did. Every loss has its own counter.
type Stats struct {
	EventsWritten   atomic.Int64 // accepted by Write
	EventsPublished atomic.Int64 // in complete, published files: acknowledged
	EventsLost      atomic.Int64 // accepted but lost to a write error
	FilesPublished  atomic.Int64
	BytesPublished  atomic.Int64
	WriteErrors     atomic.Int64
	StaleTempFiles  atomic.Int64 // half files of a crashed writer, removed at start

	FilesUploaded      atomic.Int64
	BytesUploaded      atomic.Int64
	UploadErrors       atomic.Int64
	SpoolFiles         atomic.Int64
	SpoolBytes         atomic.Int64
	SpoolDroppedFiles  atomic.Int64
	SpoolDroppedEvents atomic.Int64
}

// Writer appends events to the lake. Write is for one goroutine; a
// background timer rolls files by age.
type Writer struct {
	cfg     WriterConfig
	lake    *Lake
	staging string
	publish func(key, path string, rows int64) error
	spool   *spool // nil for local roots
	stats   *Stats
	pages   *pageWriter // shared by the open files, which mu serialises

	mu      sync.Mutex
	open    map[partKey]*openFile
	last    *openFile
	uses    uint64 // recency clock for MaxOpenFiles eviction
	fileSeq uint64
	// id tells this writer's files from those of another writer of the
	// same host (a second agent, a capture beside a scenario run) that
	// opens a file in the same millisecond: without it, one publish would
	// silently replace the other's file.
	id     string
	closed bool

	stop chan struct{}
	done chan struct{}
}

type partKey struct {
	cluster string
	hour    int64 // ns / hour
}

type openFile struct {
	pk       partKey
	key      string
	tmpPath  string
	tmp      *os.File
	fw       *fileWriter
	buf      []trace.Event
	opened   time.Time
	lastUsed uint64
}

const hourNS = int64(time.Hour)

func hourOf(ns int64) int64 {
	h := ns / hourNS
	if ns < 0 && ns%hourNS != 0 {
		h--
	}
	return h
}

// NewWriter starts a writer. For S3 roots it also starts the uploader, which
// first uploads whatever an earlier run left in the spool.
func (l *Lake) NewWriter(cfg WriterConfig) (*Writer, error) {
	cfg = cfg.withDefaults()
	w := &Writer{
		cfg:   cfg,
		lake:  l,
		stats: new(Stats),
		id:    fmt.Sprintf("%08x", rand.Uint32()),
		open:  make(map[partKey]*openFile),
		pages: newPageWriter(cfg.File.withDefaults().Level),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	if dir, ok := l.store.(*blob.Dir); ok {
		staging, err := dir.StagingDir()
		if err != nil {
			return nil, fmt.Errorf("creating staging directory: %w", err)
		}
		w.staging = staging
		w.publish = func(key, path string, rows int64) error { return dir.Rename(key, path) }
	} else {
		sp, err := openSpool(l.store, cfg, w.stats)
		if err != nil {
			return nil, err
		}
		w.spool = sp
		w.staging = sp.tmpDir()
		w.publish = sp.add
	}
	w.removeStaleTemp()
	go w.ageLoop()
	return w, nil
}

// Stats is live: counters keep moving while the writer runs.
func (w *Writer) Stats() *Stats { return w.stats }

// Write buffers one event. The event is copied; slices it holds (Argv,
// DNSAnswers) must not be changed afterwards.
func (w *Writer) Write(e *trace.Event) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return errors.New("lake writer is closed")
	}
	f := w.last
	if f == nil || f.pk.cluster != e.Cluster || f.pk.hour != hourOf(e.Time) {
		var err error
		if f, err = w.fileFor(e); err != nil {
			w.stats.EventsLost.Add(1)
			return err
		}
		w.last = f
	}
	w.stats.EventsWritten.Add(1)
	f.buf = append(f.buf, *e)
	if len(f.buf) < w.cfg.BatchRows {
		return nil
	}
	if err := w.encode(f); err != nil {
		return err
	}
	if f.fw.size() >= w.cfg.MaxFileBytes {
		return w.roll(f)
	}
	return nil
}

// Flush publishes every open file. When it returns nil, every event written
// before it is in a complete file: on local disk in the lake, on S3 in the
// spool or already uploaded.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.rollAll()
}

// Close publishes open files, stops the age timer and, for S3, waits up to
// DrainTimeout for uploads.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	err := w.rollAll()
	w.mu.Unlock()
	close(w.stop)
	<-w.done
	if w.spool != nil {
		ctx, cancel := context.WithTimeout(context.Background(), w.cfg.DrainTimeout)
		defer cancel()
		err = errors.Join(err, w.spool.close(ctx))
	}
	return err
}

func (w *Writer) fileFor(e *trace.Event) (*openFile, error) {
	pk := partKey{cluster: e.Cluster, hour: hourOf(e.Time)}
	w.uses++
	if f, ok := w.open[pk]; ok {
		f.lastUsed = w.uses
		return f, nil
	}
	if len(w.open) >= w.cfg.MaxOpenFiles {
		var oldest *openFile
		for _, f := range w.open {
			if oldest == nil || f.lastUsed < oldest.lastUsed {
				oldest = f
			}
		}
		if err := w.roll(oldest); err != nil {
			return nil, err
		}
	}
	now := time.Now()
	part := PartitionOf(e.Cluster, e.Time)
	w.fileSeq++
	key := part.FileKey(w.cfg.Host, now, w.id, w.fileSeq)
	tmp, err := os.CreateTemp(w.staging, fmt.Sprintf("%d-*.parquet.tmp", os.Getpid()))
	if err != nil {
		return nil, fmt.Errorf("creating staging file: %w", err)
	}
	f := &openFile{
		pk: pk, key: key, tmpPath: tmp.Name(), tmp: tmp,
		fw:     newFileWriter(tmp, w.cfg.Host, w.cfg.File, w.pages),
		buf:    make([]trace.Event, 0, w.cfg.BatchRows),
		opened: now, lastUsed: w.uses,
	}
	w.open[pk] = f
	return f, nil
}

func (w *Writer) encode(f *openFile) error {
	if len(f.buf) == 0 {
		return nil
	}
	err := f.fw.write(f.buf)
	// The next batch overwrites the events; clearing them to drop their
	// strings sooner would cost a pass over the whole batch, and they hold
	// no more than a full batch holds anyway.
	f.buf = f.buf[:0]
	if err != nil {
		return w.fail(f, fmt.Errorf("encoding %s: %w", f.tmpPath, err))
	}
	return nil
}

// roll completes f and publishes it.
func (w *Writer) roll(f *openFile) error {
	delete(w.open, f.pk)
	if w.last == f {
		w.last = nil
	}
	if err := w.encode(f); err != nil {
		return err
	}
	if f.fw.rows == 0 {
		f.tmp.Close()
		os.Remove(f.tmpPath)
		return nil
	}
	if err := f.fw.close(); err != nil {
		return w.fail(f, fmt.Errorf("finishing %s: %w", f.tmpPath, err))
	}
	if err := f.tmp.Sync(); err != nil {
		return w.fail(f, fmt.Errorf("syncing %s: %w", f.tmpPath, err))
	}
	if err := f.tmp.Close(); err != nil {
		return w.fail(f, fmt.Errorf("closing %s: %w", f.tmpPath, err))
	}
	size := f.fw.out.n
	if err := w.publish(f.key, f.tmpPath, f.fw.rows); err != nil {
		return w.fail(f, fmt.Errorf("publishing %s: %w", f.key, err))
	}
	w.stats.FilesPublished.Add(1)
	w.stats.BytesPublished.Add(size)
	w.stats.EventsPublished.Add(f.fw.rows)
	w.cfg.Logger.Debug("trace file published", logkey.Key, f.key, logkey.Events, f.fw.rows, logkey.Bytes, size)
	return nil
}

// fail gives up on a file whose write failed: its events are counted lost and
// the half file removed, and the writer goes on with new files.
func (w *Writer) fail(f *openFile, err error) error {
	delete(w.open, f.pk)
	if w.last == f {
		w.last = nil
	}
	lost := f.fw.rows + int64(len(f.buf))
	w.stats.WriteErrors.Add(1)
	w.stats.EventsLost.Add(lost)
	f.tmp.Close()
	os.Remove(f.tmpPath)
	w.cfg.Logger.Error("trace file lost", logkey.Err, err, logkey.Events, lost)
	return err
}

func (w *Writer) rollAll() error {
	var errs []error
	for _, f := range w.open {
		errs = append(errs, w.roll(f))
	}
	return errors.Join(errs...)
}

func (w *Writer) ageLoop() {
	defer close(w.done)
	tick := time.NewTicker(min(w.cfg.MaxFileAge/4, 10*time.Second))
	defer tick.Stop()
	for {
		select {
		case <-w.stop:
			return
		case now := <-tick.C:
			w.mu.Lock()
			for _, f := range w.open {
				if now.Sub(f.opened) >= w.cfg.MaxFileAge {
					if err := w.roll(f); err != nil {
						w.cfg.Logger.Error("rolling trace file by age", logkey.Err, err)
					}
				}
			}
			w.mu.Unlock()
		}
	}
}

// removeStaleTemp deletes half-written files of writers that died: staging
// names start with the writer's pid, and a pid with no process behind it
// will never finish its file.
func (w *Writer) removeStaleTemp() {
	entries, _ := os.ReadDir(w.staging)
	for _, e := range entries {
		pidStr, _, ok := strings.Cut(e.Name(), "-")
		pid, err := strconv.Atoi(pidStr)
		if !ok || err != nil || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		if os.Remove(filepath.Join(w.staging, e.Name())) == nil {
			w.stats.StaleTempFiles.Add(1)
			w.cfg.Logger.Warn("removed half-written trace file of a writer that died", logkey.File, e.Name())
		}
	}
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
