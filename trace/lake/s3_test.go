package lake_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/vigilsec/vigil/internal/s3test"
	"github.com/vigilsec/vigil/trace"
	"github.com/vigilsec/vigil/trace/lake"
	"github.com/vigilsec/vigil/trace/lake/laketest"
	"github.com/vigilsec/vigil/trace/tracetest"
)

func testS3RoundTrip(t *testing.T, srv *s3test.Server) {
	l := openLake(t, srv.Root("vigil/lake"))
	events := tracetest.Events(11, 20000, int64(time.Millisecond))
	w := laketest.Write(t, l, lake.WriterConfig{SpoolDir: t.TempDir(), MaxFileBytes: 256 << 10, BatchRows: 1000, File: lake.FileOptions{RowGroupRows: 2000}}, events)
	st := w.Stats()
	if st.FilesUploaded.Load() != st.FilesPublished.Load() || st.FilesUploaded.Load() < 2 {
		t.Fatalf("uploaded %d of %d files", st.FilesUploaded.Load(), st.FilesPublished.Load())
	}
	got := scanAll(t, l, lake.Query{Workload: "web/app"})
	want := 0
	for _, e := range events {
		if e.Workload == "web/app" {
			want++
		}
	}
	if len(got) != want {
		t.Fatalf("read %d web/app events from S3, want %d", len(got), want)
	}
	objs, err := l.Files(context.Background(), lake.Query{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if !strings.HasPrefix(o.Key, "traces/cluster=") {
			t.Errorf("unexpected key %s", o.Key)
		}
	}
}

func TestS3InProcess(t *testing.T) { testS3RoundTrip(t, s3test.InProcess(t)) }
func TestS3Moto(t *testing.T)      { testS3RoundTrip(t, s3test.Moto(t)) }

// s3OnPort serves gofakes3 on a fixed loopback port, so a test can make S3
// unreachable and then bring it back at the same address.
func s3OnPort(t *testing.T, port int, backend gofakes3.Backend) func() {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: gofakes3.New(backend).Server()}
	go srv.Serve(l)
	return func() { srv.Close() }
}

func TestS3UnreachableThenBack(t *testing.T) {
	s3test.Credentials(t)
	port := s3test.FreePort(t)
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	root := fmt.Sprintf("s3://bucket/lake?endpoint=%s", endpoint)
	l := openLake(t, root)
	w, err := l.NewWriter(lake.WriterConfig{Host: "h", SpoolDir: t.TempDir(), DrainTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	events := tracetest.Events(12, 5000, int64(time.Millisecond))
	for i := range events {
		w.Write(&events[i])
	}
	if err := w.Flush(); err != nil {
		t.Fatalf("Flush must succeed into the spool while S3 is down: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for w.Stats().UploadErrors.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no upload error counted while S3 is unreachable")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if w.Stats().SpoolFiles.Load() == 0 {
		t.Fatal("spool is empty while S3 is unreachable")
	}

	backend := s3mem.New()
	backend.CreateBucket("bucket")
	stop := s3OnPort(t, port, backend)
	defer stop()
	if err := w.Close(); err != nil {
		t.Fatalf("Close after S3 came back: %v", err)
	}
	if n := len(scanAll(t, l, lake.Query{})); n != len(events) {
		t.Fatalf("S3 has %d events, wrote %d", n, len(events))
	}
	if w.Stats().SpoolFiles.Load() != 0 {
		t.Fatal("spool not drained")
	}
}

func TestSpoolLimitCountsLoss(t *testing.T) {
	s3test.Credentials(t)
	root := fmt.Sprintf("s3://bucket/lake?endpoint=http://127.0.0.1:%d", s3test.FreePort(t))
	l := openLake(t, root)
	w, err := l.NewWriter(lake.WriterConfig{Host: "h", SpoolDir: t.TempDir(), SpoolMaxBytes: 300 << 10, DrainTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	events := tracetest.Events(13, 40000, int64(time.Millisecond))
	var flushedFiles int64
	for i := range events {
		w.Write(&events[i])
		if i%4000 == 3999 {
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			flushedFiles = w.Stats().FilesPublished.Load()
		}
	}
	err = w.Close()
	if !errors.Is(err, lake.ErrNotUploaded) {
		t.Fatalf("Close with S3 down = %v, want ErrNotUploaded", err)
	}
	st := w.Stats()
	if st.SpoolDroppedFiles.Load() == 0 || st.SpoolDroppedEvents.Load() == 0 {
		t.Fatalf("spool over its limit dropped nothing: %+v", st)
	}
	if st.SpoolBytes.Load() > 300<<10 {
		t.Fatalf("spool holds %d bytes over its 300 KiB limit", st.SpoolBytes.Load())
	}
	// Every published event is either still spooled or counted as dropped.
	spooled := st.EventsPublished.Load() - st.SpoolDroppedEvents.Load()
	if spooled <= 0 || flushedFiles == 0 {
		t.Fatalf("published %d, dropped %d", st.EventsPublished.Load(), st.SpoolDroppedEvents.Load())
	}
}

// The crash tests run a writer in a child process (this test binary again),
// tell it when to flush, and SIGKILL it while it is in the middle of a file.

const crashChildEnv = "VIGIL_LAKE_CRASH_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		crashChild()
		return
	}
	os.Exit(m.Run())
}

// crashChild writes events forever-ish; "flush" on stdin makes it flush and
// print "acked N"; "write" makes it write a batch without flushing.
func crashChild() {
	root, spoolDir := os.Getenv("VIGIL_LAKE_ROOT"), os.Getenv("VIGIL_LAKE_SPOOL")
	l, err := lake.Open(context.Background(), root)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	w, err := l.NewWriter(lake.WriterConfig{Host: "child", SpoolDir: spoolDir, BatchRows: 500, File: lake.FileOptions{RowGroupRows: 1000}})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	g := tracetest.New(21, int64(time.Millisecond))
	var e trace.Event
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch in.Text() {
		case "write":
			for range 3000 {
				g.Next(&e)
				w.Write(&e)
			}
			fmt.Println("wrote")
		case "flush":
			if err := w.Flush(); err != nil {
				fmt.Println("error", err)
				os.Exit(2)
			}
			fmt.Println("acked", w.Stats().EventsPublished.Load())
		}
	}
}

type child struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

func startChild(t *testing.T, root, spoolDir string) *child {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"=1", "VIGIL_LAKE_ROOT="+root, "VIGIL_LAKE_SPOOL="+spoolDir)
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return &child{cmd: cmd, in: in, out: bufio.NewScanner(out)}
}

func (c *child) say(t *testing.T, cmd string) string {
	t.Helper()
	fmt.Fprintln(c.in, cmd)
	if !c.out.Scan() {
		t.Fatalf("child gave no answer to %q", cmd)
	}
	line := c.out.Text()
	if strings.HasPrefix(line, "error") {
		t.Fatalf("child: %s", line)
	}
	return line
}

// killMidFile leaves the child with written but unflushed events in its
// staging file, then kills it without any chance to clean up.
func (c *child) killMidFile(t *testing.T) (acked int64) {
	for range 3 {
		c.say(t, "write")
		line := c.say(t, "flush")
		acked, _ = strconv.ParseInt(strings.TrimPrefix(line, "acked "), 10, 64)
	}
	c.say(t, "write")
	c.say(t, "write")
	c.cmd.Process.Signal(syscall.SIGKILL)
	c.cmd.Wait()
	return acked
}

func TestCrashLocalLeavesNoHalfFile(t *testing.T) {
	root := t.TempDir()
	acked := startChild(t, root, "").killMidFile(t)
	if acked != 9000 {
		t.Fatalf("child acked %d", acked)
	}
	staged, _ := filepath.Glob(filepath.Join(root, ".staging", "*"))
	if len(staged) == 0 {
		t.Fatal("the child was not killed mid-file (no staging file): the test proves nothing")
	}
	l := openLake(t, root)
	if n := len(scanAll(t, l, lake.Query{})); int64(n) != acked {
		t.Fatalf("lake holds %d events after the crash, %d were acknowledged", n, acked)
	}
	// A new writer clears the dead writer's half file and counts it.
	w, err := l.NewWriter(lake.WriterConfig{Host: "next"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if w.Stats().StaleTempFiles.Load() == 0 {
		t.Fatal("stale staging file not removed")
	}
}

func TestCrashS3SpoolUploadedAfterRestart(t *testing.T) {
	s3test.Credentials(t)
	port := s3test.FreePort(t)
	root := fmt.Sprintf("s3://bucket/lake?endpoint=http://127.0.0.1:%d", port)
	spoolDir := t.TempDir()
	// S3 is down while the child runs: everything it acknowledges is in the
	// spool when it dies.
	acked := startChild(t, root, spoolDir).killMidFile(t)
	if tmp, _ := os.ReadDir(filepath.Join(spoolDir, "tmp")); len(tmp) == 0 {
		t.Fatal("the child was not killed mid-file: the test proves nothing")
	}

	backend := s3mem.New()
	backend.CreateBucket("bucket")
	stop := s3OnPort(t, port, backend)
	defer stop()
	l := openLake(t, root)
	w, err := l.NewWriter(lake.WriterConfig{Host: "restarted", SpoolDir: spoolDir})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("draining the spool after restart: %v", err)
	}
	if w.Stats().StaleTempFiles.Load() == 0 {
		t.Error("half file of the dead writer not removed from the spool")
	}
	n := len(scanAll(t, l, lake.Query{}))
	if int64(n) != acked {
		t.Fatalf("S3 holds %d events after restart, %d were acknowledged", n, acked)
	}
	// Nothing half-written was ever uploaded: every object reads cleanly.
	out, err := (&s3test.Server{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port), Bucket: "bucket"}).Client(t).
		ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("bucket")})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range out.Contents {
		if strings.Contains(aws.ToString(o.Key), ".tmp") {
			t.Errorf("temporary object uploaded: %s", aws.ToString(o.Key))
		}
	}
}

func TestS3BadObjectsAreNamedAndSkipped(t *testing.T) {
	s3test.Credentials(t)
	backend := s3mem.New()
	backend.CreateBucket("bucket")
	faker := gofakes3.New(backend).Server()
	// A proxy in front of the fake refuses one object, as S3 does for an
	// object encrypted with a key the reader may not use.
	handler := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "forbidden") {
			rw.WriteHeader(http.StatusForbidden)
			io.WriteString(rw, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
			return
		}
		faker.ServeHTTP(rw, r)
	})
	port := s3test.FreePort(t)
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: handler}
	go srv.Serve(ln)
	defer srv.Close()

	root := fmt.Sprintf("s3://bucket/lake?endpoint=http://127.0.0.1:%d", port)
	l := openLake(t, root)
	events := tracetest.Events(14, 3000, int64(time.Millisecond))
	laketest.Write(t, l, lake.WriterConfig{SpoolDir: t.TempDir()}, events)
	objs, _ := l.Files(context.Background(), lake.Query{})
	dir := objs[0].Key[:strings.LastIndex(objs[0].Key, "/")]
	ctx := context.Background()
	l.Store().Put(ctx, dir+"/forbidden-20260101T000000.000Z-000001.parquet", []byte("whatever"))
	l.Store().Put(ctx, dir+"/notes-20260101T000000.000Z-000001.parquet", []byte("not parquet at all"))

	var got int
	err = l.Scan(ctx, lake.Query{}, func(*trace.Event) error { got++; return nil })
	if got != len(events) {
		t.Fatalf("read %d events, want all %d from the good objects", got, len(events))
	}
	for _, name := range []string{"forbidden-", "notes-"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name the %s object: %v", name, err)
		}
	}
	if !strings.Contains(err.Error(), "AccessDenied") {
		t.Errorf("error hides S3's reason: %v", err)
	}
}
