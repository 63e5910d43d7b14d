package agent

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/dockertest"
	"github.com/vigilsec/vigil/scorer/finding"
	"github.com/vigilsec/vigil/scorer/output"
)

// BenchmarkLiveEventToFinding measures, with the real collector, the time
// from a process's exec in a container (the kernel's event timestamp) to its
// finding arriving at a webhook: ring buffer, decoding, enrichment, rules,
// aggregation, queue and HTTP delivery. The container runs 200 distinct new
// binaries, each a new NewBinaryExecuted finding.
//
//	sudo go test -run '^$' -bench LiveEventToFinding ./scorer/agent/
func BenchmarkLiveEventToFinding(b *testing.B) {
	var mu sync.Mutex
	var lat []time.Duration
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		var batch []finding.Finding
		json.NewDecoder(r.Body).Decode(&batch)
		mu.Lock()
		for _, f := range batch {
			if f.Type == "Execution:Runtime/NewBinaryExecuted" {
				lat = append(lat, now.Sub(f.Service.EventFirstSeen))
			}
		}
		mu.Unlock()
	}))
	defer srv.Close()
	for b.Loop() {
		a, _ := startLiveB(b, func(c *Config) {
			c.Outputs.Webhooks = append(c.Outputs.Webhooks, struct {
				URL     string            `yaml:"url"`
				Headers map[string]string `yaml:"headers"`
				Format  output.Format     `yaml:"format"`
			}{URL: srv.URL})
			c.Outputs.Queue.Linger = time.Millisecond
			c.Aggregation.Burst = 1000
			c.Aggregation.RatePerMinute = 1000
		})
		img := dockertest.BusyboxImage(b)
		script := "sleep 2; i=0; while [ $i -lt 200 ]; do cp /bin/busybox /tmp/b$i; /tmp/b$i true; i=$((i+1)); sleep 0.01; done; sleep 30"
		dockertest.Run(b, img, "sh", "-c", script)
		deadline := time.Now().Add(60 * time.Second)
		for {
			mu.Lock()
			n := len(lat)
			mu.Unlock()
			if n >= 200 || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		_ = a
	}
	mu.Lock()
	defer mu.Unlock()
	if len(lat) == 0 {
		b.Fatal("no findings arrived")
	}
	slices.Sort(lat)
	b.ReportMetric(float64(len(lat)), "findings")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
