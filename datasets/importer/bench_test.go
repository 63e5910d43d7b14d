package importer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/trace"
)

type countWriter struct{ n int64 }

func (c *countWriter) Write(*trace.Event) error { c.n++; return nil }

// BenchmarkImportADFA measures syscalls per second through the ADFA reader
// and the i386 -> x86_64 mapping (100 traces of 2,000 syscalls).
func BenchmarkImportADFA(b *testing.B) {
	root := b.TempDir()
	r := rand.New(rand.NewPCG(1, 2))
	common := []int{3, 4, 5, 6, 11, 45, 91, 102, 140, 192, 195, 197, 240, 265}
	for i := 0; i < 100; i++ {
		var sb strings.Builder
		for j := 0; j < 2000; j++ {
			fmt.Fprintf(&sb, "%d ", common[r.IntN(len(common))])
		}
		write(b, filepath.Join(root, "Training_Data_Master", fmt.Sprintf("UTD-%04d.txt", i)), sb.String()+"\n")
	}
	b.ResetTimer()
	var w countWriter
	for i := 0; i < b.N; i++ {
		if _, err := ImportADFA(context.Background(), root, &w, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(w.n)/b.Elapsed().Seconds(), "syscalls/s")
}

// BenchmarkImportLIDDS measures sysdig lines per second through the zip,
// line parser and enter/exit pairing (one recording of 100,000 lines).
func BenchmarkImportLIDDS(b *testing.B) {
	root := b.TempDir()
	var sb strings.Builder
	ts := int64(1631610689151834015)
	names := []string{"read", "write", "open", "close", "poll", "epoll_wait", "switch"}
	for i := 0; i < 50000; i++ {
		name := names[i%len(names)]
		tid := 175683 + i%8
		fmt.Fprintf(&sb, "%d 33 175683 apache2 %d %s > fd=13(<f>/var/www/html/index.html) size=8192\n", ts, tid, name)
		ts += 700
		fmt.Fprintf(&sb, "%d 33 175683 apache2 %d %s < res=612 data=...\n", ts, tid, name)
		ts += 900
	}
	writeZip(b, filepath.Join(root, "CVE-2017-7529", "training", "r.zip"), map[string]string{"r.sc": sb.String(), "r.json": "{}"})
	b.ResetTimer()
	var w countWriter
	for i := 0; i < b.N; i++ {
		if _, err := ImportLIDDS(context.Background(), root, &w, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*100000/b.Elapsed().Seconds(), "lines/s")
}
