package lake

import (
	"io"
	"testing"

	"github.com/vigilsec/vigil/internal/benchutil"
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
