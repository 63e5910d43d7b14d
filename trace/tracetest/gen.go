// Package tracetest generates realistic, reproducible event streams for tests
// and benchmarks: several ECS workloads whose processes exec helpers, open
// varied files, talk to peers and resolve names, with the skew of real
// traces (a few hot paths, a long tail of temp names and ids).
package tracetest

import (
	"fmt"
	"math/rand/v2"

	"github.com/google/uuid"

	"github.com/vigilsec/vigil/trace"
)

// Generator yields events in time order. It is deterministic for a seed.
type Generator struct {
	rng       *rand.Rand
	now       int64
	step      int64 // mean ns between events
	workloads []workload
	seq       int
}

type workload struct {
	cluster, family, container, image, taskARN, containerID string
	procs                                                   []proc
	hotFiles                                                []string
	peers                                                   []string
	names                                                   []string
	tools                                                   []string
}

type proc struct {
	pid, ppid        int32
	uuid, parentUUID string
	comm, exe        string
	start            int64
}

// Start is the first event time of a generator: 2026-01-05 09:00 UTC.
const Start = int64(1767603600) * 1e9

// New returns a generator of events spaced step ns apart on average.
func New(seed uint64, step int64) *Generator {
	g := &Generator{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), now: Start, step: step}
	specs := []struct{ cluster, family, container, image, exe string }{
		{"prod", "web", "nginx", "public.ecr.aws/nginx/nginx:1.27", "/usr/sbin/nginx"},
		{"prod", "web", "app", "123456789012.dkr.ecr.us-east-1.amazonaws.com/shop-api:4.2.1", "/app/shop-api"},
		{"prod", "worker", "batch", "123456789012.dkr.ecr.us-east-1.amazonaws.com/batch:2.0", "/usr/local/bin/batch"},
		{"prod", "cache", "redis", "public.ecr.aws/docker/library/redis:7", "/usr/local/bin/redis-server"},
		{"staging", "web", "app", "123456789012.dkr.ecr.us-east-1.amazonaws.com/shop-api:4.3.0-rc1", "/app/shop-api"},
		{"staging", "ops", "cron", "123456789012.dkr.ecr.us-east-1.amazonaws.com/ops:1", "/bin/busybox"},
	}
	for i, s := range specs {
		task := fmt.Sprintf("%016x%016x", g.rng.Uint64(), g.rng.Uint64())
		w := workload{
			cluster: s.cluster, family: s.family, container: s.container, image: s.image,
			taskARN:     fmt.Sprintf("arn:aws:ecs:us-east-1:123456789012:task/%s/%s", s.cluster, task),
			containerID: fmt.Sprintf("%016x%016x%016x%016x", g.rng.Uint64(), g.rng.Uint64(), g.rng.Uint64(), g.rng.Uint64()),
			hotFiles: []string{"/etc/hosts", "/etc/resolv.conf", "/etc/ssl/certs/ca-certificates.crt",
				"/proc/self/stat", "/app/config.yaml", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/var/log/app.log"},
			peers: []string{fmt.Sprintf("10.0.%d.%d", i, 10+i), fmt.Sprintf("10.0.%d.%d", i+1, 20), "172.16.3.4",
				"52.94.5.100", fmt.Sprintf("fd00::%x", i+1)},
			names: []string{"db.internal", "cache.internal", "sqs.us-east-1.amazonaws.com",
				fmt.Sprintf("svc-%d.prod.local", i), "api.stripe.com"},
			tools: []string{"/bin/sh", "/usr/bin/gzip", "/bin/ls", "/usr/bin/curl", "/bin/cat"},
		}
		root := g.newProc(&w, 1, 0, "", s.exe)
		w.procs = append(w.procs, root)
		for k := 0; k < 3; k++ {
			w.procs = append(w.procs, g.newProc(&w, int32(10+k), 1, root.uuid, s.exe))
		}
		g.workloads = append(g.workloads, w)
	}
	return g
}

func (g *Generator) newProc(w *workload, pid, ppid int32, parent, exe string) proc {
	u := uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "%s/%d/%d", w.containerID, pid, g.now))
	comm := exe[lastSlash(exe)+1:]
	if len(comm) > 15 {
		comm = comm[:15]
	}
	return proc{pid: pid, ppid: ppid, uuid: u.String(), parentUUID: parent, comm: comm, exe: exe, start: g.now}
}

func lastSlash(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '/' {
			return i
		}
	}
	return -1
}

// Next fills e with the next event, overwriting every field.
func (g *Generator) Next(e *trace.Event) {
	g.seq++
	g.now += 1 + g.rng.Int64N(2*g.step)
	w := &g.workloads[g.zipf(len(g.workloads))]
	p := &w.procs[g.rng.IntN(len(w.procs))]
	*e = trace.Event{
		Time: g.now, Host: "ip-10-0-1-17.ec2.internal", BootID: "4c7f7c1e-6a59-4f59-9d6c-0a6c1d0b7d11",
		PID: p.pid + 4000, TID: p.pid + 4000, PPID: p.ppid + 4000, NSPID: p.pid,
		UID: 1000, EUID: 1000, GID: 1000, EGID: 1000,
		Comm: p.comm, ExePath: p.exe, Cwd: "/app", ProcStart: p.start, ProcUUID: p.uuid, ParentUUID: p.parentUUID,
		CgroupID: 0x1000 + uint64(len(w.containerID)), ContainerID: w.containerID, Runtime: "docker",
		Image: w.image, ContainerName: "ecs-" + w.family + "-1-" + w.container,
		Cluster: w.cluster, TaskARN: w.taskARN, TaskFamily: w.family, TaskRevision: "7",
		ECSContainerName: w.container, LaunchType: "EC2",
	}
	e.Workload = trace.WorkloadKey(e)
	switch r := g.rng.IntN(100); {
	case r < 45:
		e.Kind, e.Syscall = trace.KindOpen, 257
		e.Path = g.path(w)
		e.Flags = 0o2000000 // O_CLOEXEC
		if g.rng.IntN(5) == 0 {
			e.Flags |= 0o101 // O_WRONLY|O_CREAT
			e.Mode = 0o644
		}
		e.FD = int32(3 + g.rng.IntN(20))
		e.Ret = int64(e.FD)
		if g.rng.IntN(20) == 0 {
			e.Ret, e.FD = -2, 0 // ENOENT
		}
	case r < 55:
		e.Kind, e.Syscall = trace.KindConnect, 42
		e.NetFamily, e.NetProto = trace.FamilyInet, 6
		e.DstAddr = w.peers[g.zipf(len(w.peers))]
		if e.DstAddr[0] == 'f' {
			e.NetFamily = trace.FamilyInet6
		}
		e.DstPort = []uint16{443, 5432, 6379, 80, 8080}[g.zipf(5)]
		e.SrcAddr, e.SrcPort = "10.0.1.17", uint16(32768+g.rng.IntN(28000))
		e.FD = int32(3 + g.rng.IntN(50))
	case r < 60:
		e.Kind, e.Syscall = trace.KindAccept, 288
		e.NetFamily, e.NetProto = trace.FamilyInet, 6
		e.SrcAddr, e.SrcPort = fmt.Sprintf("10.0.%d.%d", g.rng.IntN(4), g.rng.IntN(254)+1), uint16(32768+g.rng.IntN(28000))
		e.DstAddr, e.DstPort = "10.0.1.17", 8080
		e.FD = int32(3 + g.rng.IntN(50))
		e.Ret = int64(e.FD)
	case r < 66:
		e.Kind, e.Syscall = trace.KindDNS, 44
		e.DNSName = w.names[g.zipf(len(w.names))]
		e.DNSType = 1
		if g.rng.IntN(2) == 0 {
			e.DNSType = 28
		}
		e.DstAddr, e.DstPort, e.NetFamily, e.NetProto = "169.254.169.253", 53, trace.FamilyInet, 17
	case r < 72:
		e.Kind, e.Syscall = trace.KindExec, 59
		tool := w.tools[g.zipf(len(w.tools))]
		e.Path, e.ExePath = tool, tool
		e.Comm = tool[lastSlash(tool)+1:]
		e.Argv = g.argv(tool)
	case r < 78:
		e.Kind, e.Syscall = trace.KindFork, 56
		e.TargetPID = int32(5000 + g.rng.IntN(30000))
		e.Ret = int64(e.TargetPID)
	case r < 84:
		e.Kind, e.Syscall = trace.KindExit, 231
		e.Ret = int64(g.rng.IntN(2))
	case r < 88:
		e.Kind, e.Syscall = trace.KindRename, 82
		e.Path = fmt.Sprintf("/var/log/app.log.%d", g.rng.IntN(5))
		e.NewPath = fmt.Sprintf("/var/log/app.log.%d", g.rng.IntN(5)+1)
	case r < 92:
		e.Kind, e.Syscall = trace.KindUnlink, 87
		e.Path = fmt.Sprintf("/tmp/tmp%08x", g.rng.Uint32())
	case r < 95:
		e.Kind, e.Syscall = trace.KindExecMapping, 9
		e.Path = "/usr/lib/x86_64-linux-gnu/libssl.so.3"
		e.Flags = 0x5 // PROT_READ|PROT_EXEC
	case r < 97:
		e.Kind, e.Syscall = trace.KindSignal, 62
		e.TargetPID, e.Flags = p.pid+4000, 15
	case r < 99:
		e.Kind, e.Syscall = trace.KindChmod, 90
		e.Path, e.Mode = fmt.Sprintf("/app/data/out-%d.csv", g.rng.IntN(100)), 0o640
	default:
		e.Kind, e.Syscall = trace.KindBind, 49
		e.NetFamily, e.NetProto, e.SrcAddr, e.SrcPort = trace.FamilyInet, 6, "0.0.0.0", 8080
	}
}

// zipf picks index i with probability roughly proportional to 1/(i+1).
func (g *Generator) zipf(n int) int {
	for {
		i := int(float64(n) * g.rng.Float64() * g.rng.Float64())
		if i < n {
			return i
		}
	}
}

func (g *Generator) path(w *workload) string {
	switch g.rng.IntN(10) {
	case 0, 1, 2, 3, 4:
		return w.hotFiles[g.zipf(len(w.hotFiles))]
	case 5:
		return fmt.Sprintf("/proc/%d/stat", 4000+g.rng.IntN(60))
	case 6:
		return fmt.Sprintf("/tmp/tmp%08x", g.rng.Uint32())
	case 7:
		return fmt.Sprintf("/app/data/out-%d.csv", g.rng.IntN(100))
	case 8:
		return fmt.Sprintf("/var/cache/app/%02x/%016x.bin", g.rng.IntN(256), g.rng.Uint64())
	default:
		return fmt.Sprintf("/usr/share/zoneinfo/%s", []string{"UTC", "Europe/Paris", "America/New_York"}[g.rng.IntN(3)])
	}
}

func (g *Generator) argv(tool string) []string {
	switch tool {
	case "/bin/sh":
		return []string{"sh", "-c", fmt.Sprintf("gzip -9 /app/data/out-%d.csv && mv /app/data/out-%d.csv.gz /app/archive/", g.rng.IntN(100), g.rng.IntN(100))}
	case "/usr/bin/gzip":
		return []string{"gzip", "-9", fmt.Sprintf("/app/data/out-%d.csv", g.rng.IntN(100))}
	case "/usr/bin/curl":
		return []string{"curl", "-fsS", "http://localhost:8080/healthz"}
	case "/bin/ls":
		return []string{"ls", "-la", "/app/data"}
	default:
		return []string{"cat", fmt.Sprintf("/proc/%d/status", 4000+g.rng.IntN(60))}
	}
}

// Events returns n events from a new generator.
func Events(seed uint64, n int, step int64) []trace.Event {
	g := New(seed, step)
	out := make([]trace.Event, n)
	for i := range out {
		g.Next(&out[i])
	}
	return out
}
