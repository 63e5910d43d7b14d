package rules

import (
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/vigilsec/vigil/scorer/internal/cputime"
	"github.com/vigilsec/vigil/trace"
)

// benchEnvs is an event mix shaped like a busy container: mostly opens,
// then connects, DNS and execs of an ordinary service, with 2% of events
// drawn from the attack-heavy pool of the native test.
func benchEnvs() []*Env {
	r := rand.New(rand.NewPCG(3, 4))
	var envs []*Env
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	for i := 0; i < 4096; i++ {
		if r.IntN(100) < 2 {
			envs = append(envs, randomEnv(r))
			continue
		}
		e := &Env{
			Path:  pick("/usr/lib/x86_64-linux-gnu/libssl.so.3", "/etc/ld.so.cache", "/app/static/index.html", "/tmp/upload-123", "/proc/self/stat", "/etc/hosts"),
			Flags: []int{0, 0, 0, 524288, 577}[r.IntN(5)],
			Proc: Proc{Name: "node", Exe: "/usr/local/bin/node", ExeName: pick("node", "python3", "nginx", "sh"), Cmdline: "node server.js",
				Argv: []string{"node", "server.js"}, PID: 7, UID: 1000, EUID: 1000, PrevEUID: 1000, Ancestors: []string{"/usr/bin/tini"}},
			Parent:    Parent{ExeName: pick("tini", "node", "sh")},
			Net:       Net{Family: 2, DstIP: pick("10.0.3.7", "172.31.9.12", "127.0.0.1"), DstPort: []int{443, 5432, 6379, 80}[r.IntN(4)]},
			DNS:       DNS{Name: pick("api.stripe.com", "db.internal", "s3.us-east-1.amazonaws.com", "www.google.com"), Type: 1},
			Container: Container{ID: "c1", Workload: "web/app"},
		}
		switch x := r.IntN(100); {
		case x < 55:
			e.Kind = "open"
		case x < 70:
			e.Kind = "connect"
		case x < 80:
			e.Kind = "dns"
		case x < 90:
			e.Kind = "exec"
		case x < 95:
			e.Kind = "exit"
		default:
			e.Kind = "fork"
		}
		envs = append(envs, e)
	}
	return envs
}

// BenchmarkMatchDefaultPack is the per-event cost of the whole default pack
// (kind index, native closures, VM fallback).
//
//	go test -run '^$' -bench MatchDefaultPack -benchmem ./scorer/rules/
func BenchmarkMatchDefaultPack(b *testing.B) {
	set, err := Load(DefaultSources(), Options{Intel: fakeIntel{}})
	if err != nil {
		b.Fatal(err)
	}
	envs := benchEnvs()
	matched := 0
	fn := func(r *Rule, err error) { matched++ }
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu0 := cputime.Thread()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		e := envs[i%len(envs)]
		set.Match(trace.Kind(e.Kind), e, fn)
	}
	b.ReportMetric(float64((cputime.Thread()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/event")
	b.ReportMetric(float64(matched)/float64(b.N), "matches/event")
	// The median matters more than the mean for a per-event budget; time
	// single events (thread CPU time, so waiting for a core on a shared
	// machine does not count) to report it.
	p50, p99 := cputime.Quantiles(len(envs), func(i int) { set.Match(trace.Kind(envs[i].Kind), envs[i], fn) })
	b.ReportMetric(float64(p50.Nanoseconds()), "p50-cpu-ns/event")
	b.ReportMetric(float64(p99.Nanoseconds()), "p99-cpu-ns/event")
}

func TestRulesPerKind(t *testing.T) {
	set, err := Load(DefaultSources(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range trace.Kinds {
		t.Logf("%-12s %d rules", k, len(set.ForKind(k)))
	}
}
