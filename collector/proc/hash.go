package proc

import (
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/vigilsec/vigil/internal/logkey"
)

// fileKey identifies one version of one file: a rewrite in place changes
// mtime or size, a replacement changes the inode.
type fileKey struct {
	dev, ino uint64
	mtime    int64
	size     int64
}

// lru is a bounded map from file versions to their SHA-256.
type lru struct {
	max   int
	ll    *list.List
	items map[fileKey]*list.Element
}

type lruItem struct {
	key fileKey
	sum string
}

func newLRU(max int) *lru {
	return &lru{max: max, ll: list.New(), items: make(map[fileKey]*list.Element, max)}
}

func (c *lru) get(k fileKey) (string, bool) {
	el, ok := c.items[k]
	if !ok {
		return "", false
	}
	c.ll.MoveToFront(el)
	return el.Value.(*lruItem).sum, true
}

func (c *lru) add(k fileKey, sum string) {
	if el, ok := c.items[k]; ok {
		el.Value.(*lruItem).sum = sum
		c.ll.MoveToFront(el)
		return
	}
	c.items[k] = c.ll.PushFront(&lruItem{key: k, sum: sum})
	for c.ll.Len() > c.max {
		old := c.ll.Back()
		c.ll.Remove(old)
		delete(c.items, old.Value.(*lruItem).key)
	}
}

func (c *lru) len() int { return c.ll.Len() }

// hashJob asks the worker to hash an open executable for the processes
// waiting on it.
type hashJob struct {
	f   *os.File
	key fileKey
}

// openExe opens a process's executable through /proc/<pid>/exe, which works
// whatever mount namespace the process is in and even when the file was
// deleted or replaced since exec, and returns its version key.
func openExe(procRoot string, pid int32) (*os.File, fileKey, error) {
	f, err := os.Open(filepath.Join(procRoot, strconv.Itoa(int(pid)), "exe"))
	if err != nil {
		return nil, fileKey{}, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		f.Close()
		return nil, fileKey{}, err
	}
	return f, fileKey{dev: st.Dev, ino: st.Ino, mtime: st.Mtim.Nano(), size: st.Size}, nil
}

// requestHash looks the exe of pid up in the cache, or queues it for the
// worker. wait makes the request block on a full queue (Seed); the event
// path never waits, and counts what it could not queue.
func (t *Table) requestHash(pid int32, x *exeInfo, wait bool) {
	if t.cfg.DisableHash {
		return
	}
	f, key, err := openExe(t.cfg.ProcRoot, pid)
	if err != nil {
		t.c.hashFailures.Add(1)
		return
	}
	if key.size > t.cfg.MaxHashBytes {
		f.Close()
		t.c.hashTooLarge.Add(1)
		return
	}
	t.hmu.Lock()
	if sum, ok := t.cache.get(key); ok {
		t.hmu.Unlock()
		f.Close()
		t.c.hashHits.Add(1)
		t.setHash(x, sum)
		return
	}
	if waiters, ok := t.inflight[key]; ok {
		// Another process with the same file is already queued: wait on
		// its result rather than hash the file twice.
		t.inflight[key] = append(waiters, x)
		t.hmu.Unlock()
		f.Close()
		t.c.hashHits.Add(1)
		return
	}
	t.inflight[key] = []*exeInfo{x}
	t.hmu.Unlock()
	job := hashJob{f: f, key: key}
	if wait {
		select {
		case t.jobs <- job:
			t.c.hashQueued.Add(1)
			return
		case <-t.done:
		}
	} else {
		select {
		case t.jobs <- job:
			t.c.hashQueued.Add(1)
			return
		default:
		}
	}
	t.hmu.Lock()
	delete(t.inflight, key)
	t.hmu.Unlock()
	f.Close()
	t.c.hashDropped.Add(1)
}

func (t *Table) setHash(x *exeInfo, sum string) {
	t.mu.Lock()
	x.sha256 = sum
	t.mu.Unlock()
}

// hashWorker hashes queued executables until the table is closed.
func (t *Table) hashWorker() {
	defer t.wg.Done()
	buf := make([]byte, 256<<10)
	for {
		select {
		case <-t.done:
			// Close what is still queued.
			for {
				select {
				case j := <-t.jobs:
					j.f.Close()
				default:
					return
				}
			}
		case j := <-t.jobs:
			sum, err := hashFile(j.f, buf, t.cfg.MaxHashBytes)
			j.f.Close()
			t.hmu.Lock()
			waiters := t.inflight[j.key]
			delete(t.inflight, j.key)
			if err == nil {
				t.cache.add(j.key, sum)
			}
			t.hmu.Unlock()
			if err != nil {
				t.c.hashFailures.Add(1)
				t.log.Debug("hashing executable failed", logkey.Err, err)
				continue
			}
			t.c.hashes.Add(1)
			t.mu.Lock()
			for _, x := range waiters {
				x.sha256 = sum
			}
			t.mu.Unlock()
		}
	}
}

func hashFile(f *os.File, buf []byte, limit int64) (string, error) {
	h := sha256.New()
	n, err := io.CopyBuffer(h, io.LimitReader(f, limit+1), buf)
	if err != nil {
		return "", err
	}
	if n > limit {
		return "", errTooLarge
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

type hashError string

func (e hashError) Error() string { return string(e) }

const errTooLarge = hashError("executable larger than MaxHashBytes")
