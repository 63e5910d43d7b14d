package lake_test

import (
	"context"
	"testing"
	"time"

	"github.com/vigilsec/vigil/trace"
	"github.com/vigilsec/vigil/trace/lake"
)

// Two writers of one host (two agents, or a capture beside a scenario run)
// open their files in the same instant with the same sequence number; each
// file must land under its own key.
func TestWritersOfOneHostKeepEachOthersFiles(t *testing.T) {
	ctx := context.Background()
	l := openLake(t, t.TempDir())
	defer l.Close()
	const writers, rounds = 4, 20
	base := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC).UnixNano()
	var ws []*lake.Writer
	for range writers {
		w, err := l.NewWriter(lake.WriterConfig{Host: "one-host"})
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
	}
	// Every round opens one new file per writer, back to back: the same
	// millisecond and sequence number for all of them most of the time.
	n := 0
	for r := range rounds {
		for _, w := range ws {
			ev := trace.Event{Time: base + int64(n), Host: "one-host", Kind: trace.KindExec, PID: int32(r)}
			n++
			if err := w.Write(&ev); err != nil {
				t.Fatal(err)
			}
		}
		for _, w := range ws {
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, w := range ws {
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	files, err := l.Files(ctx, lake.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != writers*rounds {
		t.Errorf("%d files, want %d (one per writer per round)", len(files), writers*rounds)
	}
	if got := len(scanAll(t, l, lake.Query{})); got != n {
		t.Errorf("read back %d events, want %d", got, n)
	}
}
