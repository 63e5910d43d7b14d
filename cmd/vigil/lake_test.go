package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/trace"
	"github.com/vigilsec/vigil/trace/lake"
	"github.com/vigilsec/vigil/trace/tracetest"
)

// runVigil runs the CLI in-process, as a user would from a shell.
func runVigil(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func sampleLake(t *testing.T, events []trace.Event) string {
	t.Helper()
	root := t.TempDir()
	l, err := lake.Open(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	w, err := l.NewWriter(lake.WriterConfig{Host: "cli-test"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range events {
		w.Write(&events[i])
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestLakeCommands(t *testing.T) {
	events := tracetest.Events(1, 5000, int64(time.Millisecond))
	hostile := events[0]
	hostile.Time = events[len(events)-1].Time + 1
	hostile.Kind = trace.KindExec
	hostile.Path = "/tmp/\x1b[2Jevil\nname\xff"
	hostile.Argv = []string{"sh", "-c", "echo \x07bell"}
	events = append(events, hostile)
	root := sampleLake(t, events)

	out, err := runVigil(t, "lake", "ls", "--lake", root)
	if err != nil {
		t.Fatal(err, out)
	}
	if !strings.Contains(out, "5001") || !strings.Contains(out, "cluster=prod") {
		t.Errorf("lake ls:\n%s", out)
	}

	out, err = runVigil(t, "lake", "stats", "--lake", root)
	if err != nil {
		t.Fatal(err, out)
	}
	if !strings.Contains(out, "5001 events") || !strings.Contains(out, "bytes/event") || !strings.Contains(out, "web/app") {
		t.Errorf("lake stats:\n%s", out)
	}

	out, err = runVigil(t, "lake", "cat", "--lake", root, "--kind", "exec")
	if err != nil {
		t.Fatal(err, out)
	}
	var execs int
	for _, e := range events {
		if e.Kind == trace.KindExec {
			execs++
		}
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != execs {
		t.Fatalf("cat --kind exec printed %d lines, want %d", len(lines), execs)
	}
	last := lines[len(lines)-1]
	if strings.ContainsAny(last, "\x1b\x07\xff") || !strings.Contains(last, `\\x1b[2Jevil\\nname\\xff`) {
		t.Errorf("hostile path not escaped: %s", last)
	}
	var back trace.Event
	if err := json.Unmarshal([]byte(last), &back); err != nil {
		t.Fatalf("cat output is not JSON: %v", err)
	}

	csvPath := filepath.Join(t.TempDir(), "out.csv")
	if out, err := runVigil(t, "lake", "export", "--lake", root, "--format", "csv", "--workload", "web/app", "-o", csvPath); err != nil {
		t.Fatal(err, out)
	}
	f, _ := os.Open(csvPath)
	recs, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	var webApp int
	for _, e := range events {
		if e.Workload == "web/app" {
			webApp++
		}
	}
	if len(recs) != webApp+1 || recs[0][0] != "time" || len(recs[1]) != len(exportColumns) {
		t.Fatalf("csv has %d rows (want %d + header), header %v", len(recs), webApp, recs[0])
	}

	if _, err := runVigil(t, "lake", "export", "--lake", root, "--format", "xml"); err == nil {
		t.Error("export accepted --format xml")
	}
	if _, err := runVigil(t, "lake", "cat", "--lake", root, "--kind", "nonsense"); err == nil || !strings.Contains(err.Error(), "nonsense") {
		t.Errorf("bad --kind error = %v", err)
	}
}

func TestLakeCatReportsBadFiles(t *testing.T) {
	events := tracetest.Events(2, 1000, int64(time.Millisecond))
	root := sampleLake(t, events)
	dir := filepath.Join(root, "traces", "cluster=prod", "date=2026-01-05", "hour=09")
	os.WriteFile(filepath.Join(dir, "junk-20260101T000000.000Z-000001.parquet"), []byte("junk"), 0o644)
	out, err := runVigil(t, "lake", "cat", "--lake", root)
	if err == nil || !strings.Contains(err.Error(), "1 trace files could not be read") {
		t.Fatalf("err = %v", err)
	}
	if n := strings.Count(out, "\n"); n != len(events) {
		t.Fatalf("printed %d events, want all %d readable ones", n, len(events))
	}
}
