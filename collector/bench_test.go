package collector

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vigilsec/vigil/trace"
	"github.com/vigilsec/vigil/trace/lake"
)

// Overhead benchmarks run the same loop with the collector off and on. "on"
// watches the benchmark itself (no self-exclusion), and a goroutine decodes
// every event, as an agent would: both costs are in the figure.
//
//	go test -run '^$' -bench . -benchtime 2s ./collector/

func benchCollector(b *testing.B) (stop func() Stats) {
	b.Helper()
	c, err := New(Config{})
	requireBPF(b, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		c.Run(ctx, func(*trace.Event) {})
		close(done)
	}()
	return func() Stats {
		cancel()
		<-done
		st := c.Stats()
		c.Close()
		return st
	}
}

func overhead(b *testing.B, loop func(b *testing.B)) {
	b.Run("off", loop)
	b.Run("on", func(b *testing.B) {
		stop := benchCollector(b)
		b.ResetTimer()
		loop(b)
		b.StopTimer()
		st := stop()
		b.ReportMetric(float64(st.TotalRingDrops()), "drops")
	})
	// The kernel's own account of the programs' cost per loop iteration
	// (all tasks' runs during the loop, ours included): independent of how
	// busy the machine is, unlike the wall-clock ns/op.
	b.Run("bpf-time", func(b *testing.B) {
		statsOn, err := EnableBPFStats()
		requireBPF(b, err)
		defer statsOn.Close()
		stop := benchCollector(b)
		b.ResetTimer()
		loop(b)
		b.StopTimer()
		st := stop()
		b.ReportMetric(float64(st.BPFRuntime.Nanoseconds())/float64(b.N), "bpf-ns/op")
		b.ReportMetric(float64(st.BPFRuns)/float64(b.N), "bpf-runs/op")
	})
}

// BenchmarkGetpid is an unwatched syscall: what every syscall on the host
// pays for the collector being there.
func BenchmarkGetpid(b *testing.B) {
	overhead(b, func(b *testing.B) {
		for range b.N {
			unix.RawSyscall(unix.SYS_GETPID, 0, 0, 0)
		}
	})
}

// BenchmarkOpenClose is a watched syscall (openat) plus close.
func BenchmarkOpenClose(b *testing.B) {
	overhead(b, func(b *testing.B) {
		for range b.N {
			fd, err := unix.Open("/etc/hostname", unix.O_RDONLY, 0)
			if err != nil {
				b.Fatal(err)
			}
			unix.Close(fd)
		}
	})
}

// BenchmarkExec runs /bin/true: fork, exec (argv, cwd), the loader's opens
// and mmaps, exit.
func BenchmarkExec(b *testing.B) {
	overhead(b, func(b *testing.B) {
		for range b.N {
			if err := exec.Command("/bin/true").Run(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSustained measures the whole path, kernel -> ring -> decoded ->
// Parquet in a local lake: b.N openat calls of a missing file (one event
// each) are made as fast as one thread can, and the benchmark ends when
// every one is in the writer or counted as dropped. It reports the rate,
// the drops, and the process's CPU (cores) and RSS.
func BenchmarkSustained(b *testing.B) {
	c, err := New(Config{RingSize: 64 << 20})
	requireBPF(b, err)
	defer c.Close()
	l, err := lake.Open(context.Background(), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	w, err := l.NewWriter(lake.WriterConfig{})
	if err != nil {
		b.Fatal(err)
	}
	var got atomic.Int64
	self := int32(os.Getpid())
	p := newPipe(w)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		done <- c.Run(ctx, func(e *trace.Event) {
			if e.PID == self && e.Kind == trace.KindOpen {
				got.Add(1)
			}
			p.put(e)
		})
	}()
	var ru0, ru1 unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru0)
	start := time.Now()
	b.ResetTimer()
	path := []byte("/nonexistent/vigil-bench\x00")
	for range b.N {
		unix.Syscall6(unix.SYS_OPENAT, atFDCWD, uintptr(unsafe.Pointer(&path[0])), unix.O_RDONLY, 0, 0, 0)
	}
	deadline := time.Now().Add(30 * time.Second)
	for got.Load()+int64(c.Stats().TotalRingDrops()) < int64(b.N) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	unix.Getrusage(unix.RUSAGE_SELF, &ru1)
	cancel()
	<-done
	if err := p.close(); err != nil {
		b.Fatal(err)
	}
	w.Close()
	st := c.Stats()
	cpu := time.Duration(ru1.Utime.Nano()+ru1.Stime.Nano()-ru0.Utime.Nano()-ru0.Stime.Nano()) * time.Nanosecond
	b.ReportMetric(float64(got.Load())/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(st.TotalRingDrops()), "drops")
	b.ReportMetric(cpu.Seconds()/elapsed.Seconds(), "cores")
	b.ReportMetric(float64(rssKiB())/1024, "rss-MiB")
	if st.DecodeErrors > 0 {
		b.Errorf("%d decode errors", st.DecodeErrors)
	}
}

func rssKiB() int {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return 0
}

var atFDCWD = func() uintptr { fd := unix.AT_FDCWD; return uintptr(fd) }()

// BenchmarkDrain measures what user space can take: the ring is filled with
// openat events while nobody reads (timer stopped), then the time to decode
// them and write them to Parquet is measured. One op is one event. Events of
// other processes on the host are in the ring too and are decoded and written
// as well; only ours are counted.
func BenchmarkDrain(b *testing.B) {
	c, err := New(Config{RingSize: 128 << 20})
	requireBPF(b, err)
	defer c.Close()
	l, err := lake.Open(context.Background(), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	w, err := l.NewWriter(lake.WriterConfig{})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	self := int32(os.Getpid())
	path := []byte("/nonexistent/vigil-bench\x00")
	var all, ours int64
	var cpu time.Duration
	b.ResetTimer()
	for left := b.N; left > 0; {
		chunk := min(left, 250_000)
		left -= chunk
		b.StopTimer()
		for range chunk {
			unix.Syscall6(unix.SYS_OPENAT, atFDCWD, uintptr(unsafe.Pointer(&path[0])), unix.O_RDONLY, 0, 0, 0)
		}
		var ru0, ru1 unix.Rusage
		unix.Getrusage(unix.RUSAGE_SELF, &ru0)
		b.StartTimer()
		ctx, cancel := context.WithCancel(context.Background())
		p := newPipe(w)
		var got int64
		done := make(chan struct{})
		go func() {
			c.Run(ctx, func(e *trace.Event) {
				all++
				if e.PID == self && e.Kind == trace.KindOpen {
					if got++; got == int64(chunk) {
						cancel()
					}
				}
				p.put(e)
			})
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			cancel()
			<-done
		}
		tRun := b.Elapsed()
		if err := p.close(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if os.Getenv("VIGIL_BENCH_DEBUG") != "" {
			b.Logf("chunk %d: run+decode done at %v, flushed at %v, %d events", chunk, tRun, b.Elapsed(), all)
		}
		unix.Getrusage(unix.RUSAGE_SELF, &ru1)
		cpu += time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
		ours += got
		cancel()
		b.StartTimer()
	}
	b.StopTimer()
	st := c.Stats()
	if ours+int64(st.TotalRingDrops()) < int64(b.N) {
		b.Errorf("%d of %d events arrived, %d dropped", ours, b.N, st.TotalRingDrops())
	}
	el := b.Elapsed()
	b.ReportMetric(float64(all)/el.Seconds(), "events/s")
	b.ReportMetric(float64(st.TotalRingDrops()), "drops")
	b.ReportMetric(cpu.Seconds()/el.Seconds(), "cores")
	// Contention-free figure: on a shared machine the wall-clock rate is
	// what the scheduler allows; events per CPU-second is what it costs.
	b.ReportMetric(float64(all)/cpu.Seconds(), "events/cpu-s")
	b.ReportMetric(float64(rssKiB())/1024, "rss-MiB")
}
