package lake_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/vigilsec/vigil/trace"
	"github.com/vigilsec/vigil/trace/lake"
	"github.com/vigilsec/vigil/trace/lake/laketest"
	"github.com/vigilsec/vigil/trace/tracetest"
)

func openLake(t *testing.T, root string) *lake.Lake {
	t.Helper()
	l, err := lake.Open(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func scanAll(t *testing.T, l *lake.Lake, q lake.Query) []trace.Event {
	t.Helper()
	var out []trace.Event
	if err := l.Scan(context.Background(), q, func(e *trace.Event) error {
		out = append(out, *e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// randomEvent fills every field with random values, including bytes that
// are not UTF-8, control characters and long strings: the lake must keep
// attacker-controlled bytes exactly.
func randomEvent(r *rand.Rand, base int64) trace.Event {
	str := func() string {
		if r.IntN(4) == 0 {
			return ""
		}
		b := make([]byte, r.IntN(40))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		if r.IntN(10) == 0 {
			b = append(b, strings.Repeat("x", 5000)...)
		}
		return string(b)
	}
	strs := func() []string {
		n := r.IntN(4)
		if n == 0 {
			return nil
		}
		out := make([]string, n)
		for i := range out {
			out[i] = str()
		}
		return out
	}
	e := trace.Event{
		Time: base + r.Int64N(int64(time.Hour)), Host: str(), BootID: str(),
		Kind: trace.Kinds[r.IntN(len(trace.Kinds))],
		PID:  r.Int32(), TID: r.Int32(), PPID: r.Int32(), NSPID: r.Int32(),
		UID: r.Uint32(), EUID: r.Uint32(), GID: r.Uint32(), EGID: r.Uint32(),
		Comm: str(), ExePath: str(), Argv: strs(), ArgvTruncated: r.IntN(2) == 0, Cwd: str(),
		ProcStart: r.Int64(), ProcUUID: str(), ParentUUID: str(), ExeSHA256: str(),
		CgroupID: r.Uint64(), ContainerID: str(), Runtime: str(), Image: str(), ImageDigest: str(),
		ContainerName: str(), TaskARN: str(), TaskFamily: str(), TaskRevision: str(),
		ECSContainerName: str(), LaunchType: str(), Workload: str(),
		Syscall: r.Int32(), Ret: r.Int64() - r.Int64(), Path: str(), NewPath: str(), PathTruncated: r.IntN(2) == 0,
		Flags: r.Uint64(), Mode: r.Uint32(), FD: r.Int32(), NetFamily: uint16(r.Uint32()), NetProto: uint8(r.Uint32()),
		SrcAddr: str(), SrcPort: uint16(r.Uint32()), DstAddr: str(), DstPort: uint16(r.Uint32()),
		DNSName: str(), DNSType: uint16(r.Uint32()), DNSAnswers: strs(), TargetPID: r.Int32(), Module: str(),
	}
	if r.IntN(3) == 0 {
		e.Cluster = "prod"
	}
	return e
}

func sortByTime(es []trace.Event) {
	slices.SortStableFunc(es, func(a, b trace.Event) int { return int(a.Time>>1 - b.Time>>1) })
}

func TestRoundTripRandomEvents(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 99))
			in := make([]trace.Event, 500+r.IntN(2000))
			for i := range in {
				in[i] = randomEvent(r, tracetest.Start)
			}
			sortByTime(in)
			l := openLake(t, t.TempDir())
			laketest.Write(t, l, lake.WriterConfig{BatchRows: 1 + r.IntN(300), File: lake.FileOptions{RowGroupRows: int64(1 + r.IntN(700))}}, in)
			out := scanAll(t, l, lake.Query{})
			if len(out) != len(in) {
				t.Fatalf("read %d events, wrote %d", len(out), len(in))
			}
			// Files are per cluster; the merge orders by time, ties by file.
			key := func(e trace.Event) string { return fmt.Sprintf("%d/%s/%d", e.Time, e.Cluster, e.PID) }
			slices.SortFunc(in, func(a, b trace.Event) int { return strings.Compare(key(a), key(b)) })
			slices.SortFunc(out, func(a, b trace.Event) int { return strings.Compare(key(a), key(b)) })
			for i := range in {
				if !reflect.DeepEqual(in[i], out[i]) {
					t.Fatalf("event %d differs:\nwrote %+v\nread  %+v", i, in[i], out[i])
				}
			}
		})
	}
}

func TestLayoutIsHivePartitioned(t *testing.T) {
	root := t.TempDir()
	l := openLake(t, root)
	hour := time.Date(2026, 3, 4, 5, 0, 0, 0, time.UTC).UnixNano()
	events := []trace.Event{
		{Time: hour + 1, Cluster: "prod", Kind: trace.KindExec},
		{Time: hour + 2, Cluster: "arn:aws:ecs:us-east-1:1:cluster/a b", Kind: trace.KindOpen},
		{Time: hour + 3, Kind: trace.KindOpen},
		{Time: hour + int64(time.Hour), Cluster: "prod", Kind: trace.KindExit},
	}
	laketest.Write(t, l, lake.WriterConfig{Host: "ip-10-0-0-1/evil"}, events)
	var keys []string
	filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if !d.IsDir() {
			rel, _ := filepath.Rel(root, path)
			keys = append(keys, rel)
		}
		return nil
	})
	slices.Sort(keys)
	want := []*regexp.Regexp{
		regexp.MustCompile(`^traces/cluster=__HIVE_DEFAULT_PARTITION__/date=2026-03-04/hour=05/ip-10-0-0-1_evil-\d{8}T\d{6}\.\d{3}Z-[0-9a-f]{8}-\d{6}\.parquet$`),
		regexp.MustCompile(`^traces/cluster=arn%3Aaws%3Aecs%3Aus-east-1%3A1%3Acluster%2Fa%20b/date=2026-03-04/hour=05/.*\.parquet$`),
		regexp.MustCompile(`^traces/cluster=prod/date=2026-03-04/hour=05/.*\.parquet$`),
		regexp.MustCompile(`^traces/cluster=prod/date=2026-03-04/hour=06/.*\.parquet$`),
	}
	if len(keys) != len(want) {
		t.Fatalf("files:\n%s", strings.Join(keys, "\n"))
	}
	for i, re := range want {
		if !re.MatchString(keys[i]) {
			t.Errorf("file %q does not match %s", keys[i], re)
		}
		p, ok := lake.ParseFileKey(keys[i])
		if !ok {
			t.Errorf("ParseFileKey(%q) failed", keys[i])
		}
		if !strings.HasPrefix(keys[i], p.Dir()+"/") {
			t.Errorf("ParseFileKey(%q) = %+v, Dir %q", keys[i], p, p.Dir())
		}
	}
	got := scanAll(t, l, lake.Query{Cluster: "arn:aws:ecs:us-east-1:1:cluster/a b"})
	if len(got) != 1 || got[0].Kind != trace.KindOpen {
		t.Fatalf("cluster query = %+v", got)
	}
	if got := scanAll(t, l, lake.Query{Cluster: lake.NoCluster}); len(got) != 1 || got[0].Time != hour+3 {
		t.Fatalf("no-cluster query = %+v", got)
	}
}

func TestScanFilters(t *testing.T) {
	events := tracetest.Events(7, 50000, int64(100*time.Millisecond)) // about 1.4 h
	l := openLake(t, t.TempDir())
	laketest.Write(t, l, lake.WriterConfig{File: lake.FileOptions{RowGroupRows: 2000}}, events)

	from := time.Unix(0, tracetest.Start).Add(40 * time.Minute)
	to := from.Add(30 * time.Minute)
	q := lake.Query{From: from, To: to, Cluster: "prod", Workload: "web/app", Kinds: []trace.Kind{trace.KindExec, trace.KindConnect}}
	var want []trace.Event
	for _, e := range events {
		if e.Time >= from.UnixNano() && e.Time < to.UnixNano() && e.Cluster == "prod" && e.Workload == "web/app" &&
			(e.Kind == trace.KindExec || e.Kind == trace.KindConnect) {
			want = append(want, e)
		}
	}
	got := scanAll(t, l, q)
	if len(want) == 0 || len(got) != len(want) {
		t.Fatalf("got %d events, want %d", len(got), len(want))
	}
	for i := range got {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("event %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

func TestScanMergesHostsInTimeOrder(t *testing.T) {
	l := openLake(t, t.TempDir())
	a := tracetest.Events(1, 3000, int64(time.Millisecond))
	b := tracetest.Events(2, 3000, int64(time.Millisecond))
	for i := range b {
		b[i].Host = "other"
	}
	laketest.Write(t, l, lake.WriterConfig{Host: "a", BatchRows: 100}, a)
	laketest.Write(t, l, lake.WriterConfig{Host: "b", BatchRows: 100}, b)
	got := scanAll(t, l, lake.Query{})
	if len(got) != 6000 {
		t.Fatalf("got %d events", len(got))
	}
	if !slices.IsSortedFunc(got, func(x, y trace.Event) int { return int(x.Time - y.Time) }) {
		t.Fatal("events of two hosts in one hour are not merged in time order")
	}
}

func TestArrowReadsTraceFiles(t *testing.T) {
	root := t.TempDir()
	l := openLake(t, root)
	events := tracetest.Events(3, 5000, int64(time.Millisecond))
	laketest.Write(t, l, lake.WriterConfig{File: lake.FileOptions{RowGroupRows: 1000}}, events)
	objs, err := l.Files(context.Background(), lake.Query{})
	if err != nil || len(objs) == 0 {
		t.Fatal(objs, err)
	}
	total := 0
	var kinds []string
	var argvSeen bool
	for _, o := range objs {
		pf, err := file.OpenParquetFile(filepath.Join(root, o.Key), false)
		if err != nil {
			t.Fatalf("arrow cannot open %s: %v", o.Key, err)
		}
		if v := pf.MetaData().KeyValueMetadata().FindValue("vigil.schema_version"); v == nil || *v != fmt.Sprint(trace.SchemaVersion) {
			t.Errorf("schema version metadata = %v", v)
		}
		fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 512}, memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		tbl, err := fr.ReadTable(context.Background())
		if err != nil {
			t.Fatalf("arrow cannot read %s: %v", o.Key, err)
		}
		total += int(tbl.NumRows())
		sc := tbl.Schema()
		for _, name := range []string{"time", "kind", "workload", "argv", "net_dst_port", "proc_uuid"} {
			if len(sc.FieldIndices(name)) != 1 {
				t.Errorf("arrow schema has no column %q: %v", name, sc)
			}
		}
		tr := array.NewTableReader(tbl, 1000)
		for tr.Next() {
			rec := tr.RecordBatch()
			kc := rec.Column(sc.FieldIndices("kind")[0])
			for i := 0; i < kc.Len(); i++ {
				kinds = append(kinds, kc.ValueStr(i))
			}
			ac := rec.Column(sc.FieldIndices("argv")[0]).(*array.List)
			for i := 0; i < ac.Len(); i++ {
				if !ac.IsNull(i) && strings.Contains(ac.ValueStr(i), "gzip") {
					argvSeen = true
				}
			}
		}
		tr.Release()
		tbl.Release()
		pf.Close()
	}
	if total != len(events) {
		t.Fatalf("arrow read %d rows, wrote %d", total, len(events))
	}
	want := map[string]int{}
	for _, e := range events {
		want[string(e.Kind)]++
	}
	got := map[string]int{}
	for _, k := range kinds {
		got[k]++
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("kinds via arrow %v, want %v", got, want)
	}
	if !argvSeen {
		t.Error("no argv list read back through arrow")
	}
}

func TestReadColumnsProjection(t *testing.T) {
	l := openLake(t, t.TempDir())
	events := tracetest.Events(4, 20000, int64(time.Millisecond))
	laketest.Write(t, l, lake.WriterConfig{}, events)
	n := 0
	err := l.ReadColumns(context.Background(), lake.Query{}, []string{"time", "kind"}, func(key string, rec arrowRecord) error {
		if rec.NumCols() != 2 {
			t.Fatalf("projected batch has %d columns", rec.NumCols())
		}
		n += int(rec.NumRows())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != len(events) {
		t.Fatalf("read %d rows, want %d", n, len(events))
	}
}

func TestRollsBySizeAndAge(t *testing.T) {
	l := openLake(t, t.TempDir())
	events := tracetest.Events(5, 30000, int64(time.Microsecond))
	w := laketest.Write(t, l, lake.WriterConfig{MaxFileBytes: 64 << 10, BatchRows: 500, File: lake.FileOptions{RowGroupRows: 1000}}, events)
	if n := w.Stats().FilesPublished.Load(); n < 5 {
		t.Fatalf("published %d files with a 64 KiB limit", n)
	}
	if got := len(scanAll(t, l, lake.Query{})); got != len(events) {
		t.Fatalf("read %d, wrote %d", got, len(events))
	}

	l2 := openLake(t, t.TempDir())
	w2, err := l2.NewWriter(lake.WriterConfig{Host: "h", MaxFileAge: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	for i := range 10 {
		w2.Write(&events[i])
	}
	deadline := time.Now().Add(10 * time.Second)
	for w2.Stats().EventsPublished.Load() < 10 {
		if time.Now().After(deadline) {
			t.Fatal("file not published by age")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := len(scanAll(t, l2, lake.Query{})); got != 10 {
		t.Fatalf("read %d after age roll", got)
	}
}

func TestNoHalfFileIsVisible(t *testing.T) {
	root := t.TempDir()
	l := openLake(t, root)
	w, err := l.NewWriter(lake.WriterConfig{Host: "h", BatchRows: 10, File: lake.FileOptions{RowGroupRows: 20}})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range tracetest.Events(6, 1000, int64(time.Microsecond)) {
		w.Write(&e)
	}
	objs, err := l.Files(context.Background(), lake.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 0 {
		t.Fatalf("files visible before publication: %v", objs)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if objs, _ = l.Files(context.Background(), lake.Query{}); len(objs) == 0 {
		t.Fatalf("after Flush: %v", objs)
	}
	w.Close()
}

func TestBadFilesAreNamedAndSkipped(t *testing.T) {
	root := t.TempDir()
	l := openLake(t, root)
	events := tracetest.Events(8, 4000, int64(time.Millisecond))
	good := events[:2000]
	laketest.Write(t, l, lake.WriterConfig{Host: "good"}, good)
	laketest.Write(t, l, lake.WriterConfig{Host: "victim"}, events[2000:])
	objs, _ := l.Files(context.Background(), lake.Query{})
	var victim string
	for _, o := range objs {
		if strings.Contains(o.Key, "/victim-") {
			victim = filepath.Join(root, o.Key)
		}
	}
	data, err := os.ReadFile(victim)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(victim)
	put := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return name
	}
	truncated := put("trunc-20260101T000000.000Z-000001.parquet", data[:len(data)/2])
	notParquet := put("text-20260101T000000.000Z-000001.parquet", []byte("hello, I am not parquet\n"))
	corrupt := append([]byte(nil), data...)
	for i := 100; i < len(corrupt)-2000; i += 7 {
		corrupt[i] ^= 0x5a
	}
	corruptName := put("corrupt-20260101T000000.000Z-000001.parquet", corrupt)
	stray := put("README.txt", []byte("stray"))
	os.Remove(victim)

	// A file from a newer Vigil: same rows, newer schema version in metadata.
	newer := filepath.Join(t.TempDir(), "n")
	ln := openLake(t, newer)
	laketest.Write(t, ln, lake.WriterConfig{Host: "newer"}, good[:10])
	nobjs, _ := ln.Files(context.Background(), lake.Query{})
	nb, _ := os.ReadFile(filepath.Join(newer, nobjs[0].Key))
	nb = bumpSchemaVersion(t, nb)
	newerName := put("newer-20260101T000000.000Z-000001.parquet", nb)

	var got int
	err = l.Scan(context.Background(), lake.Query{}, func(*trace.Event) error { got++; return nil })
	var ferrs *lake.FileErrors
	if !errors.As(err, &ferrs) {
		t.Fatalf("Scan error = %v, want *FileErrors", err)
	}
	msg := err.Error()
	for _, name := range []string{truncated, notParquet, corruptName, stray, newerName} {
		if !strings.Contains(msg, name) {
			t.Errorf("error does not name %s:\n%s", name, msg)
		}
	}
	if !errors.Is(err, lake.ErrNewerSchema) {
		t.Errorf("newer schema not reported as ErrNewerSchema: %v", err)
	}
	// The corrupt file may yield some rows before the damage; all good rows
	// must be there.
	if got < len(good) {
		t.Fatalf("read %d events, want at least the %d of the good file", got, len(good))
	}
}

// bumpSchemaVersion rewrites the version digit in the footer's key/value
// metadata. Same length, so offsets stay valid.
func bumpSchemaVersion(t *testing.T, b []byte) []byte {
	key := []byte("vigil.schema_version")
	i := strings.LastIndex(string(b), string(key))
	if i < 0 {
		t.Fatal("no schema version in footer")
	}
	// Thrift compact: the value string follows as <len byte><digits>.
	j := i + len(key)
	for j < len(b) && b[j] != '1' {
		j++
	}
	out := append([]byte(nil), b...)
	out[j] = '9'
	return out
}

func TestScanDecodesOnlyTheFieldsAsked(t *testing.T) {
	events := tracetest.Events(9, 20000, int64(10*time.Millisecond))
	l := openLake(t, t.TempDir())
	laketest.Write(t, l, lake.WriterConfig{File: lake.FileOptions{RowGroupRows: 3000}}, events)

	// Time, workload and kind come whatever is asked: the scan needs them.
	q := lake.Query{Fields: []string{"path", "argv", "pid", "net_dst_port"}, Kinds: []trace.Kind{trace.KindOpen, trace.KindExec, trace.KindConnect}}
	var want []trace.Event
	for _, e := range events {
		if slices.Contains(q.Kinds, e.Kind) {
			want = append(want, trace.Event{Time: e.Time, Workload: e.Workload, Kind: e.Kind, Path: e.Path, Argv: e.Argv, PID: e.PID, DstPort: e.DstPort})
		}
	}
	got := scanAll(t, l, q)
	if len(want) == 0 {
		t.Fatal("no events to compare")
	}
	sameEvents(t, "projected scan", got, want)

	q.Fields = []string{"path", "exe"}
	err := l.Scan(context.Background(), q, func(*trace.Event) error { return nil })
	if err == nil || !strings.Contains(err.Error(), `"exe"`) {
		t.Fatalf("unknown field: err = %v, want one naming \"exe\"", err)
	}
}
