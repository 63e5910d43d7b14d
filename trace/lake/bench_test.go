package lake_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/benchutil"
	"github.com/vigilsec/vigil/trace"
	"github.com/vigilsec/vigil/trace/lake"
	"github.com/vigilsec/vigil/trace/tracetest"
)

// The realistic mix (tracetest): six ECS workloads in two clusters; 45% opens
// over hot config files, /proc, temp names, hashed cache paths; 10% connects
// to a handful of peers; accepts from many clients; DNS; execs of helpers
// with varied argv; forks, exits, renames, unlinks, exec mappings, signals.
// Events are ~0.5 ms apart, as on a busy host.
const benchStep = int64(500 * time.Microsecond)

// BenchmarkWrite measures encoding throughput into a local lake and the bytes
// each event takes on disk, with the default file options.
func BenchmarkWrite(b *testing.B) {
	events := tracetest.Events(1, 1<<18, benchStep)
	l, err := lake.Open(context.Background(), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	w, err := l.NewWriter(lake.WriterConfig{Host: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := benchutil.StartCPU()
	for i := 0; i < b.N; i++ {
		e := &events[i%len(events)]
		if i >= len(events) {
			// Keep time moving forward so the mix stays realistic.
			c := *e
			c.Time += int64(i/len(events)) * int64(len(events)) * benchStep
			e = &c
		}
		if err := w.Write(e); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	st := w.Stats()
	cpu.Report(b, float64(b.N), "events")
	if st.EventsPublished.Load() > 100000 {
		b.ReportMetric(float64(st.BytesPublished.Load())/float64(st.EventsPublished.Load()), "B/event")
	}
}

func benchLake(b *testing.B, n int) *lake.Lake {
	l, err := lake.Open(context.Background(), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	w, err := l.NewWriter(lake.WriterConfig{Host: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	g := tracetest.New(2, benchStep)
	var e trace.Event
	for range n {
		g.Next(&e)
		w.Write(&e)
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	return l
}

// BenchmarkScan decodes whole events (every column) in time order.
func BenchmarkScan(b *testing.B) {
	const n = 1 << 19
	l := benchLake(b, n)
	b.ResetTimer()
	cpu := benchutil.StartCPU()
	for i := 0; i < b.N; i++ {
		var got int
		if err := l.Scan(context.Background(), lake.Query{}, func(*trace.Event) error { got++; return nil }); err != nil {
			b.Fatal(err)
		}
		if got != n {
			b.Fatalf("scanned %d", got)
		}
	}
	cpu.Report(b, float64(n)*float64(b.N), "events")
}

// BenchmarkReadColumns reads three columns (time, kind, workload) through
// Arrow, as offline jobs that count or window events do.
func BenchmarkReadColumns(b *testing.B) {
	const n = 1 << 19
	l := benchLake(b, n)
	b.ResetTimer()
	cpu := benchutil.StartCPU()
	for i := 0; i < b.N; i++ {
		var got int64
		err := l.ReadColumns(context.Background(), lake.Query{}, []string{"time", "kind", "workload"}, func(_ string, rec arrowRecord) error {
			got += rec.NumRows()
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		if got != n {
			b.Fatalf("read %d", got)
		}
	}
	cpu.Report(b, float64(n)*float64(b.N), "events")
}

// BenchmarkWriterMemory shows the writer's memory is set by its
// configuration (open files x row group rows), not by how much it writes:
// the live heap after 10x more events stays the same.
func BenchmarkWriterMemory(b *testing.B) {
	for _, n := range []int{200_000, 2_000_000} {
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			for range b.N {
				l, err := lake.Open(context.Background(), b.TempDir())
				if err != nil {
					b.Fatal(err)
				}
				w, err := l.NewWriter(lake.WriterConfig{Host: "bench", File: lake.FileOptions{RowGroupRows: 16 << 10}})
				if err != nil {
					b.Fatal(err)
				}
				g := tracetest.New(3, benchStep)
				var e trace.Event
				var peak uint64
				for i := range n {
					g.Next(&e)
					w.Write(&e)
					if i%50_000 == 49_999 {
						runtime.GC()
						var ms runtime.MemStats
						runtime.ReadMemStats(&ms)
						peak = max(peak, ms.HeapAlloc)
					}
				}
				w.Close()
				b.ReportMetric(float64(peak)/(1<<20), "peak-live-heap-MiB")
			}
		})
	}
}
