// Package laketest fills lakes for tests and benchmarks of the packages
// that read them.
package laketest

import (
	"testing"

	"github.com/vigilsec/vigil/trace"
	"github.com/vigilsec/vigil/trace/lake"
)

// Write writes events through one writer of l configured by cfg (host
// "test-host" when cfg names none), closes it and returns it for its
// stats. Any error fails tb.
func Write(tb testing.TB, l *lake.Lake, cfg lake.WriterConfig, events []trace.Event) *lake.Writer {
	tb.Helper()
	if cfg.Host == "" {
		cfg.Host = "test-host"
	}
	w, err := l.NewWriter(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	for i := range events {
		if err := w.Write(&events[i]); err != nil {
			tb.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return w
}
