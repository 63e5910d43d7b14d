package lake

import (
	"context"
	"io"
	"testing"

	"github.com/vigilsec/vigil/internal/benchutil"
	"github.com/vigilsec/vigil/trace"
	"github.com/vigilsec/vigil/trace/tracetest"
)

// BenchmarkEncodeFile measures the Parquet encoder alone: batches of the
// realistic mix into a file that goes nowhere, without the Writer's
// buffering, partitioning or disk. Quieter than BenchmarkWrite, for
// profiling the encoder.
func BenchmarkEncodeFile(b *testing.B) {
	events := tracetest.Events(1, 1<<18, 500_000)
	const batch = 4096
	b.ReportAllocs()
	b.ResetTimer()
	cpu := benchutil.StartCPU()
	fw := newFileWriter(io.Discard, "bench", FileOptions{}, nil)
	for done := 0; done < b.N; {
		off := done % len(events)
		n := min(batch, b.N-done, len(events)-off)
		if err := fw.write(events[off : off+n]); err != nil {
			b.Fatal(err)
		}
		done += n
		if fw.rows >= 1<<21 {
			if err := fw.close(); err != nil {
				b.Fatal(err)
			}
			fw = newFileWriter(io.Discard, "bench", FileOptions{}, nil)
		}
	}
	if err := fw.close(); err != nil {
		b.Fatal(err)
	}
	cpu.Report(b, float64(b.N), "events")
}

// BenchmarkWriteNoCopy is BenchmarkWrite without its per-event heap copy:
// BenchmarkWrite moves each event's time forward in a copy that escapes to
// the heap, so part of what it measures is the allocator and the collector
// working for the benchmark. Here the copy lives outside the loop.
func BenchmarkWriteNoCopy(b *testing.B) {
	const step = 500_000
	events := tracetest.Events(1, 1<<18, step)
	l, err := Open(context.Background(), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	w, err := l.NewWriter(WriterConfig{Host: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	var c trace.Event
	b.ReportAllocs()
	b.ResetTimer()
	cpu := benchutil.StartCPU()
	for i := 0; i < b.N; i++ {
		c = events[i%len(events)]
		c.Time += int64(i/len(events)) * int64(len(events)) * step
		if err := w.Write(&c); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	st := w.Stats()
	cpu.Report(b, float64(b.N), "events")
	b.ReportMetric(float64(st.BytesPublished.Load())/float64(st.EventsPublished.Load()), "B/event")
}
