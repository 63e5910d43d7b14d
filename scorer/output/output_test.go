package output

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"

	"github.com/vigilsec/vigil/internal/s3test"
	"github.com/vigilsec/vigil/scorer/finding"
	"github.com/vigilsec/vigil/trace"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func sampleFinding(i int) *finding.Finding {
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second)
	ev := &trace.Event{Kind: trace.KindExec, PID: int32(100 + i), Comm: "sh", ExePath: "/bin/sh",
		Argv: []string{"sh", "-c", "echo \x1b[2J evil\nline"}, ContainerID: "c0ffee", Image: "web:1", Cluster: "prod",
		TaskARN: "arn:aws:ecs:us-east-1:123456789012:task/prod/abc", TaskFamily: "web", TaskRevision: "3", Workload: "web/app"}
	p := finding.ProcessFromEvent(ev)
	return &finding.Finding{
		SchemaVersion: finding.SchemaVersion, ID: finding.ID("web/app", "Execution:Runtime/ReverseShell", fmt.Sprint(i)),
		AccountID: "123456789012", Region: "us-east-1", Type: "Execution:Runtime/ReverseShell", Severity: 8,
		Title: finding.Safe("Reverse shell: "+p.CommandLine, 256), Description: "A shell connected out.",
		CreatedAt: t0, UpdatedAt: t0, Resource: finding.ResourceFromEvent(ev),
		Service: finding.Service{ServiceName: "vigil", FeatureName: "RuntimeMonitoring", EventFirstSeen: t0, EventLastSeen: t0, Count: 1,
			RuntimeDetails: finding.RuntimeDetails{Process: p, Context: finding.ContextFromEvent(ev)},
			Detection:      finding.Detection{Source: "rule", RuleID: "reverse_shell_command", Key: fmt.Sprint(i)}, Workload: "web/app"},
	}
}

func emitN(d *Dispatcher, n int) {
	for i := 0; i < n; i++ {
		d.Emit(sampleFinding(i), false)
	}
}

func closeD(t *testing.T, d *Dispatcher) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestStreamAndRotatingFile(t *testing.T) {
	var buf bytes.Buffer
	dir := t.TempDir()
	path := filepath.Join(dir, "findings.jsonl")
	f, err := NewFile(path, 8<<10, 3, Encoder{Format: FormatOCSF})
	if err != nil {
		t.Fatal(err)
	}
	d := NewDispatcher(quiet, QueueConfig{Linger: time.Millisecond}, NewStream("stdout", &buf, Encoder{}), f)
	emitN(d, 20)
	closeD(t, d)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 20 {
		t.Fatalf("stdout has %d lines", len(lines))
	}
	for _, l := range lines {
		var f finding.Finding
		if err := json.Unmarshal([]byte(l), &f); err != nil || f.Type == "" {
			t.Fatalf("bad line %q: %v", l, err)
		}
		if strings.ContainsAny(l, "\x1b\n") {
			t.Fatalf("raw control bytes in output: %q", l)
		}
	}
	// 20 OCSF findings of ~2 KB over 8 KB files: rotated, at most 3 kept.
	files, _ := filepath.Glob(path + "*")
	if len(files) != 4 {
		t.Fatalf("files %v, want findings.jsonl and 3 rotations", files)
	}
	total := 0
	for _, p := range files {
		fh, _ := os.Open(p)
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			var o finding.OCSF
			if err := json.Unmarshal(sc.Bytes(), &o); err != nil || o.ClassUID != 2004 {
				t.Fatalf("%s: bad OCSF line: %v", p, err)
			}
			total++
		}
		fh.Close()
		if st, _ := os.Stat(p); st.Size() > 8<<10 {
			t.Errorf("%s is %d bytes, over the rotation size", p, st.Size())
		}
	}
	if total == 0 || total > 20 {
		t.Fatalf("%d findings across files", total)
	}
	if c := d.Counters()["file:"+path]; c.Delivered != 20 {
		t.Fatalf("file counters %+v", c)
	}
}

func TestWebhookRetriesWithBackoff(t *testing.T) {
	var calls atomic.Int32
	var got atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			http.Error(w, "no auth", http.StatusUnauthorized)
			return
		}
		if n <= 2 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		var batch []finding.Finding
		if err := json.NewDecoder(r.Body).Decode(&batch); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		got.Add(int32(len(batch)))
	}))
	defer srv.Close()
	qc := QueueConfig{Linger: time.Millisecond, BaseDelay: 10 * time.Millisecond}
	wh := NewWebhook(srv.URL, map[string]string{"Authorization": "Bearer s3cret"}, Encoder{}, time.Second)
	d := NewDispatcher(quiet, qc, wh)
	emitN(d, 5)
	closeD(t, d)
	c := d.Counters()[wh.Name()]
	if got.Load() != 5 || c.Delivered != 5 || c.Retries != 2 || c.Failed != 0 {
		t.Fatalf("received %d, counters %+v", got.Load(), c)
	}
	// A 4xx is not retried.
	calls.Store(10)
	d = NewDispatcher(quiet, qc, NewWebhook(srv.URL, nil, Encoder{}, time.Second))
	emitN(d, 1)
	closeD(t, d)
	if c := d.Counters()[wh.Name()]; c.Failed != 1 || c.Retries != 0 {
		t.Fatalf("401 counters %+v", c)
	}
}

func TestQueueFullDropsAreCounted(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer srv.Close()
	defer close(block)
	d := NewDispatcher(quiet, QueueConfig{Size: 2, Batch: 1, Linger: time.Millisecond}, NewWebhook(srv.URL, nil, Encoder{}, 5*time.Second))
	emitN(d, 50)
	if c := d.Counters()["webhook:"+srv.URL]; c.Dropped < 40 {
		t.Fatalf("dropped %d of 50 with a queue of 2", c.Dropped)
	}
}

// recorder sits between the SDK and moto_server and keeps every request
// body per target operation.
type recorder struct {
	mu    sync.Mutex
	calls map[string][][]byte
}

func newRecorder(t *testing.T, upstream string) (*recorder, string) {
	u, _ := url.Parse(upstream)
	rec := &recorder{calls: map[string][][]byte{}}
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b))
		op := r.Header.Get("X-Amz-Target")
		if op == "" {
			op = r.Method + " " + r.URL.Path
		}
		rec.mu.Lock()
		rec.calls[op] = append(rec.calls[op], b)
		rec.mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return rec, srv.URL
}

func TestEventBridgeAgainstMoto(t *testing.T) {
	moto := s3test.Moto(t)
	rec, endpoint := newRecorder(t, moto.Endpoint)
	ctx := context.Background()
	awsCfg, err := AWSConfig(ctx, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	eb := NewEventBridge(awsCfg, EventBridgeConfig{Endpoint: endpoint})
	d := NewDispatcher(quiet, QueueConfig{Linger: 50 * time.Millisecond}, eb)
	emitN(d, 25)
	closeD(t, d)
	if c := d.Counters()[eb.Name()]; c.Delivered != 25 || c.Failed != 0 {
		t.Fatalf("counters %+v", c)
	}
	calls := rec.calls["AWSEvents.PutEvents"]
	entries := 0
	for _, body := range calls {
		var in struct {
			Entries []struct{ Source, DetailType, Detail string }
		}
		if err := json.Unmarshal(body, &in); err != nil {
			t.Fatal(err)
		}
		if len(in.Entries) > EventBridgeMaxEntries || len(body) > EventBridgeMaxBytes {
			t.Fatalf("call with %d entries, %d bytes", len(in.Entries), len(body))
		}
		for _, e := range in.Entries {
			var f finding.Finding
			if e.Source != "vigil" || json.Unmarshal([]byte(e.Detail), &f) != nil || f.Type != "Execution:Runtime/ReverseShell" {
				t.Fatalf("bad entry %+v", e)
			}
		}
		entries += len(in.Entries)
	}
	if len(calls) < 3 || entries != 25 {
		t.Fatalf("%d calls carrying %d entries", len(calls), entries)
	}
}

// TestEventBridgeRetriesFailedEntries answers PutEvents itself, failing one
// entry per call the first time, as EventBridge does under throttling.
func TestEventBridgeRetriesFailedEntries(t *testing.T) {
	s3test.Credentials(t)
	var mu sync.Mutex
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Entries []struct{ Detail string } }
		json.NewDecoder(r.Body).Decode(&in)
		type entry struct {
			EventId      string `json:",omitempty"`
			ErrorCode    string `json:",omitempty"`
			ErrorMessage string `json:",omitempty"`
		}
		out := struct {
			FailedEntryCount int
			Entries          []entry
		}{}
		mu.Lock()
		for i, e := range in.Entries {
			var f finding.Finding
			json.Unmarshal([]byte(e.Detail), &f)
			seen[f.ID]++
			if i == 0 && seen[f.ID] == 1 {
				out.FailedEntryCount++
				out.Entries = append(out.Entries, entry{ErrorCode: "ThrottlingException", ErrorMessage: "slow down"})
				continue
			}
			out.Entries = append(out.Entries, entry{EventId: fmt.Sprint(i)})
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		json.NewEncoder(w).Encode(out)
	}))
	defer srv.Close()
	awsCfg, _ := AWSConfig(context.Background(), "us-east-1")
	eb := NewEventBridge(awsCfg, EventBridgeConfig{Endpoint: srv.URL, BaseDelay: time.Millisecond})
	d := NewDispatcher(quiet, QueueConfig{Linger: 50 * time.Millisecond}, eb)
	emitN(d, 12)
	closeD(t, d)
	if c := d.Counters()[eb.Name()]; c.Delivered != 12 || c.Failed != 0 {
		t.Fatalf("counters %+v", c)
	}
	retried := 0
	for _, n := range seen {
		if n == 2 {
			retried++
		}
	}
	if len(seen) != 12 || retried < 2 {
		t.Fatalf("seen %d findings, %d resent", len(seen), retried)
	}
}

func TestSecurityHubAgainstMoto(t *testing.T) {
	moto := s3test.Moto(t)
	rec, endpoint := newRecorder(t, moto.Endpoint)
	ctx := context.Background()
	awsCfg, err := AWSConfig(ctx, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	sh := NewSecurityHub(awsCfg, finding.ASFFConfig{AccountID: "123456789012", Region: "us-east-1"}, endpoint)
	d := NewDispatcher(quiet, QueueConfig{Batch: 150, Linger: 100 * time.Millisecond}, sh)
	emitN(d, 150)
	closeD(t, d)
	if c := d.Counters()[sh.Name()]; c.Delivered != 150 || c.Failed != 0 {
		t.Fatalf("counters %+v", c)
	}
	calls := rec.calls["SecurityHubAPIService.BatchImportFindings"]
	if len(calls) == 0 {
		for k := range rec.calls {
			if strings.Contains(k, "findings") {
				calls = append(calls, rec.calls[k]...)
			}
		}
	}
	for _, body := range calls {
		var in struct{ Findings []json.RawMessage }
		json.Unmarshal(body, &in)
		if len(in.Findings) > finding.ASFFMaxBatch {
			t.Fatalf("BatchImportFindings with %d findings", len(in.Findings))
		}
	}
	if len(calls) != 2 {
		t.Fatalf("%d BatchImportFindings calls for 150 findings (recorded %v)", len(calls), keys(rec.calls))
	}
	client := securityhub.NewFromConfig(awsCfg, func(o *securityhub.Options) { o.BaseEndpoint = aws.String(moto.Endpoint) })
	var all int
	var sample string
	p := securityhub.NewGetFindingsPaginator(client, &securityhub.GetFindingsInput{MaxResults: aws.Int32(100)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		all += len(out.Findings)
		if len(out.Findings) > 0 {
			sample = aws.ToString(out.Findings[0].Title) + " | " + strings.Join(out.Findings[0].Types, ",")
		}
	}
	if all != 150 || !strings.Contains(sample, "TTPs/Execution/Execution:Runtime-ReverseShell") || strings.ContainsAny(sample, "\x1b\n") {
		t.Fatalf("Security Hub holds %d findings; sample %q", all, sample)
	}
}

func keys(m map[string][][]byte) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
