// Package synth generates SYNTHETIC event streams for unit tests and
// benchmarks of features and models: two made-up workloads (a web server and
// a queue worker) with daily rhythm, pid-like and hash-like path segments,
// health checks, sequence-mode syscalls, and optionally labelled attack
// windows injected into them. Nothing here was recorded from a real system;
// measured quality on real workloads comes from the datasets package.
package synth

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/vigilsec/vigil/trace"
)

// Attack names the injected behaviours.
const (
	AttackMiner       = "miner"       // dropped binary runs, talks to a pool
	AttackRevShell    = "revshell"    // server spawns a shell wired to a socket
	AttackPersistence = "persistence" // cron file written and made executable
	AttackRecon       = "recon"       // burst of discovery commands, secret files read
	AttackBurst       = "burst"       // eight times the usual request rate
	AttackExfil       = "exfil"       // random-label DNS names and a new destination
)

// Attacks lists every attack Generate can inject.
var Attacks = []string{AttackMiner, AttackRevShell, AttackPersistence, AttackRecon, AttackBurst, AttackExfil}

// Options shape a stream.
type Options struct {
	Seed      uint64
	Start     time.Time // first minute; default 2026-01-05T00:00:00Z
	Minutes   int       // per instance; default 60
	Instances int       // per workload; default 2
	Rate      float64   // request-rate multiplier; default 1
	Sequence  bool      // emit sequence-mode syscall events
	// AttackEvery injects one attack into every AttackEvery-th minute of
	// each instance (0: none), cycling through Attacks.
	AttackEvery int
}

// Label marks a window that holds an attack.
type Label struct {
	Workload, Instance string
	Start              int64 // minute start, ns
	Attack             string
}

// Workloads are the keys Generate uses.
var Workloads = []string{"web/nginx", "worker/app"}

type gen struct {
	r      *rand.Rand
	events []trace.Event
	nproc  int
}

// Generate returns events sorted by time, and the attack labels.
func Generate(o Options) ([]trace.Event, []Label) {
	if o.Start.IsZero() {
		o.Start = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	}
	if o.Minutes == 0 {
		o.Minutes = 60
	}
	if o.Instances == 0 {
		o.Instances = 2
	}
	if o.Rate == 0 {
		o.Rate = 1
	}
	g := &gen{r: rand.New(rand.NewPCG(o.Seed, 0x5eed))}
	var labels []Label
	for wi, wl := range Workloads {
		for inst := 0; inst < o.Instances; inst++ {
			c := g.container(wl, inst)
			for m := 0; m < o.Minutes; m++ {
				t0 := o.Start.Add(time.Duration(m) * time.Minute).UnixNano()
				hour := float64(o.Start.Add(time.Duration(m)*time.Minute).Hour()) + float64(m%60)/60
				diurnal := 1 + 0.5*math.Sin(2*math.Pi*(hour-9)/24)
				attack := ""
				if o.AttackEvery > 0 && (m+inst*7+wi*3)%o.AttackEvery == o.AttackEvery-1 {
					attack = Attacks[(m/o.AttackEvery+inst+wi)%len(Attacks)]
					labels = append(labels, Label{Workload: wl, Instance: c.id, Start: t0, Attack: attack})
				}
				rate := o.Rate * diurnal
				if attack == AttackBurst {
					rate *= 8
				}
				if wl == "web/nginx" {
					g.webMinute(c, t0, rate, o.Sequence)
				} else {
					g.workerMinute(c, t0, rate, o.Sequence)
				}
				if attack != "" {
					g.attack(c, t0, attack, o.Sequence)
				}
			}
		}
	}
	slices.SortStableFunc(g.events, func(a, b trace.Event) int {
		switch {
		case a.Time < b.Time:
			return -1
		case a.Time > b.Time:
			return 1
		}
		return 0
	})
	return g.events, labels
}

type container struct {
	workload, id, family, name, image string
	main, workers                     []proc
	host                              string
}

type proc struct {
	uuid, exe, comm string
	pid             int32
	parent          string
}

func (g *gen) newProc(exe, parent string) proc {
	g.nproc++
	comm := exe
	if i := lastSlash(exe); i >= 0 {
		comm = exe[i+1:]
	}
	return proc{uuid: fmt.Sprintf("p%07d", g.nproc), exe: exe, comm: comm, pid: int32(100 + g.nproc%30000), parent: parent}
}

func lastSlash(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '/' {
			return i
		}
	}
	return -1
}

func (g *gen) container(wl string, inst int) *container {
	c := &container{workload: wl, id: fmt.Sprintf("%s-%d-%08x", wl[:3], inst, g.r.Uint32()), host: fmt.Sprintf("ip-10-0-0-%d", 10+inst)}
	switch wl {
	case "web/nginx":
		c.family, c.name, c.image = "web", "nginx", "nginx:1.27"
		m := g.newProc("/usr/sbin/nginx", "")
		c.main = []proc{m}
		c.workers = []proc{g.newProc("/usr/sbin/nginx", m.uuid), g.newProc("/usr/sbin/nginx", m.uuid)}
	default:
		c.family, c.name, c.image = "worker", "app", "registry.local/app:3"
		m := g.newProc("/usr/local/bin/python3.12", "")
		c.main = []proc{m}
		c.workers = []proc{m}
	}
	return c
}

func (g *gen) ev(c *container, p proc, t int64, kind trace.Kind) *trace.Event {
	g.events = append(g.events, trace.Event{
		Time: t, Host: c.host, Kind: kind, PID: p.pid, TID: p.pid, Comm: p.comm, ExePath: p.exe,
		ProcUUID: p.uuid, ParentUUID: p.parent, ContainerID: c.id, Image: c.image, ContainerName: c.name,
		TaskFamily: c.family, ECSContainerName: c.name, Workload: c.workload,
	})
	return &g.events[len(g.events)-1]
}

func (g *gen) at(t0 int64) int64 { return t0 + g.r.Int64N(int64(time.Minute)) }

func (g *gen) poisson(lambda float64) int {
	if lambda > 50 {
		n := int(math.Round(lambda + math.Sqrt(lambda)*g.r.NormFloat64()))
		return max(n, 0)
	}
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= g.r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

func (g *gen) open(c *container, p proc, t int64, path string, write bool) {
	e := g.ev(c, p, t, trace.KindOpen)
	e.Syscall, e.Path = 257, path
	if write {
		e.Flags = 0x1 | 0x40 | 0x400
	}
}

func (g *gen) connect(c *container, p proc, t int64, addr string, port uint16) {
	e := g.ev(c, p, t, trace.KindConnect)
	e.Syscall, e.NetFamily, e.NetProto, e.DstAddr, e.DstPort = 42, trace.FamilyInet, 6, addr, port
}

func (g *gen) dns(c *container, p proc, t int64, name string) {
	e := g.ev(c, p, t, trace.KindDNS)
	e.DNSName, e.DNSType = name, 1
}

func (g *gen) exec(c *container, parent proc, t int64, exe string, argv ...string) proc {
	child := g.newProc(exe, parent.uuid)
	f := g.ev(c, parent, t, trace.KindFork)
	f.Syscall = 56
	e := g.ev(c, child, t+1000, trace.KindExec)
	e.Syscall, e.Argv = 59, append([]string{exe}, argv...)
	return child
}

// syscalls emits one sequence-mode syscall event per number, on p's thread.
func (g *gen) syscalls(c *container, p proc, t int64, nrs ...int32) {
	for i, nr := range nrs {
		e := g.ev(c, p, t+int64(i)*2000, trace.KindSyscall)
		e.Syscall = nr
	}
}

var pages = func() []string {
	var out []string
	for _, p := range []string{"index", "about", "pricing", "docs", "blog", "login", "signup", "contact", "faq", "terms"} {
		out = append(out, "/usr/share/nginx/html/"+p+".html")
	}
	for i := 0; i < 30; i++ {
		out = append(out, fmt.Sprintf("/usr/share/nginx/html/static/app.%d.js", i))
	}
	return out
}()

func (g *gen) zipf(n int) int {
	// Heavy head, long tail, no zipf state needed.
	x := g.r.ExpFloat64() * float64(n) / 6
	return min(int(x), n-1)
}

func (g *gen) webMinute(c *container, t0 int64, rate float64, seq bool) {
	master := c.main[0]
	for range g.poisson(120 * rate) {
		w := c.workers[g.r.IntN(len(c.workers))]
		t := g.at(t0)
		a := g.ev(c, w, t, trace.KindAccept)
		a.Syscall, a.NetFamily, a.NetProto, a.SrcAddr, a.SrcPort = 288, trace.FamilyInet, 6, "10.0.3.7", 80
		g.open(c, w, t+10_000, pages[g.zipf(len(pages))], false)
		g.open(c, w, t+20_000, "/var/log/nginx/access.log", true)
		upstream := g.r.Float64() < 0.3
		if upstream {
			g.connect(c, w, t+15_000, fmt.Sprintf("10.0.1.%d", 5+g.r.IntN(4)), 8080)
		}
		if g.r.Float64() < 0.05 {
			g.dns(c, w, t+12_000, "api.internal.example.com")
		}
		if seq {
			nrs := []int32{232, 288, 0, 257, 5}
			if g.r.Float64() < 0.7 {
				nrs = append(nrs, 40)
			} else {
				nrs = append(nrs, 0, 1)
			}
			if upstream {
				nrs = append(nrs, 41, 42, 1, 0, 3)
			}
			nrs = append(nrs, 1, 3)
			g.syscalls(c, w, t+30_000, nrs...)
		}
	}
	// ECS health check: sh from outside the task, then curl.
	t := g.at(t0)
	ext := proc{uuid: "", exe: "?"}
	sh := g.exec(c, ext, t, "/bin/sh", "-c", "curl -f http://localhost/")
	curl := g.exec(c, sh, t+50_000, "/usr/bin/curl", "-f", "http://localhost/")
	g.connect(c, curl, t+90_000, "127.0.0.1", 80)
	g.ev(c, curl, t+120_000, trace.KindExit)
	g.ev(c, sh, t+130_000, trace.KindExit)
	// A sidecar-ish monitor reads some pid's stat; nginx spills to temp files.
	if g.r.Float64() < 0.6 {
		g.open(c, master, g.at(t0), fmt.Sprintf("/proc/%d/stat", 100+g.r.IntN(60000)), false)
	}
	if g.r.Float64() < 0.4 {
		p := c.workers[0]
		g.open(c, p, g.at(t0), fmt.Sprintf("/var/cache/nginx/client_temp/%010d", g.r.IntN(1e9)), true)
	}
}

func (g *gen) workerMinute(c *container, t0 int64, rate float64, seq bool) {
	p := c.main[0]
	for range g.poisson(30 * rate) {
		t := g.at(t0)
		g.connect(c, p, t, "10.0.2.10", 6379)
		g.open(c, p, t+5_000, fmt.Sprintf("/app/cache/%016x.json", g.r.Uint64()), true)
		if g.r.Float64() < 0.2 {
			g.open(c, p, t+6_000, "/app/config.yaml", false)
		}
		if g.r.Float64() < 0.1 {
			g.dns(c, p, t+1_000, "redis.internal")
		}
		if seq {
			nrs := []int32{7, 45, 0, 257, 1, 3, 44}
			if g.r.Float64() < 0.5 {
				nrs = append(nrs, 202, 202)
			}
			g.syscalls(c, p, t+8_000, nrs...)
		}
	}
	if g.r.Float64() < 0.2 {
		t := g.at(t0)
		git := g.exec(c, p, t, "/usr/bin/git", "fetch")
		g.connect(c, git, t+10_000, "10.0.2.20", 443)
		g.ev(c, git, t+20_000, trace.KindExit)
	}
}

func (g *gen) attack(c *container, t0 int64, kind string, seq bool) {
	t := g.at(t0)
	parent := c.main[0]
	switch kind {
	case AttackMiner:
		sh := g.exec(c, parent, t, "/bin/sh", "-c", "cd /tmp && ./.x")
		m := g.exec(c, sh, t+100_000, "/tmp/.cache/kworkerd", "-o", "pool:3333")
		g.open(c, sh, t+50_000, "/tmp/.cache/kworkerd", true)
		g.dns(c, m, t+200_000, "xmr.pool.example.net")
		g.connect(c, m, t+300_000, "198.51.100.23", 3333)
		if seq {
			for i := 0; i < 50; i++ {
				g.syscalls(c, m, t+400_000+int64(i)*50_000, 202, 24, 202, 228)
			}
		}
	case AttackRevShell:
		sh := g.exec(c, parent, t, "/bin/sh", "-i")
		g.connect(c, sh, t+50_000, "203.0.113.9", 4444)
		if seq {
			g.syscalls(c, parent, t+10_000, 41, 42, 33, 33, 33, 59)
			g.syscalls(c, sh, t+60_000, 0, 0, 1, 61, 0, 1, 61)
		}
	case AttackPersistence:
		sh := g.exec(c, parent, t, "/bin/sh", "-c", "echo ... > /etc/cron.d/updater")
		g.open(c, sh, t+10_000, "/etc/cron.d/updater", true)
		e := g.ev(c, sh, t+20_000, trace.KindChmod)
		e.Path, e.Mode = "/etc/cron.d/updater", 0o755
		if seq {
			g.syscalls(c, sh, t+30_000, 257, 1, 3, 90, 231)
		}
	case AttackRecon:
		sh := g.exec(c, parent, t, "/bin/sh")
		for i, cmd := range []string{"/usr/bin/id", "/bin/uname", "/usr/bin/whoami", "/bin/cat", "/bin/ls", "/usr/bin/find"} {
			g.exec(c, sh, t+int64(i+1)*100_000, cmd)
		}
		g.open(c, sh, t+900_000, "/etc/shadow", false)
		g.open(c, sh, t+910_000, "/root/.ssh/id_rsa", false)
		if seq {
			g.syscalls(c, sh, t+920_000, 257, 0, 217, 217, 217, 3, 257, 0, 1)
		}
	case AttackBurst:
		// The rate itself is the attack; see Generate.
	case AttackExfil:
		w := c.workers[0]
		for i := 0; i < 20; i++ {
			g.dns(c, w, t+int64(i)*10_000, fmt.Sprintf("%08x.%s.exfil.example.org", g.r.Uint32(), "d4t4"))
		}
		g.connect(c, w, t+300_000, "192.0.2.77", 443)
		if seq {
			g.syscalls(c, w, t+310_000, 41, 42, 44, 44, 44, 44, 44, 3)
		}
	}
}

// Intern makes equal strings of events share one copy, as events decoded
// from the lake do (one string per dictionary value or interned value), so
// that benchmarks over generated traces see the string identity real
// training sees. Argv elements are left alone.
func Intern(events []trace.Event) {
	seen := map[string]string{}
	in := func(s *string) {
		if *s == "" {
			return
		}
		if v, ok := seen[*s]; ok {
			*s = v
			return
		}
		seen[*s] = *s
	}
	for i := range events {
		e := &events[i]
		k := string(e.Kind)
		in(&k)
		e.Kind = trace.Kind(k)
		for _, s := range []*string{&e.Host, &e.BootID, &e.Comm, &e.ExePath, &e.Cwd, &e.ProcUUID, &e.ParentUUID,
			&e.ExeSHA256, &e.ContainerID, &e.Runtime, &e.Image, &e.ImageDigest, &e.ContainerName, &e.Cluster,
			&e.TaskARN, &e.TaskFamily, &e.TaskRevision, &e.ECSContainerName, &e.LaunchType, &e.Workload,
			&e.Path, &e.NewPath, &e.SrcAddr, &e.DstAddr, &e.DNSName, &e.Module} {
			in(s)
		}
	}
}
