// Package scenario reads Vigil's declarative scenario files: the containers of
// one ECS-style task, the benign activity they run, and for attacks and
// anomalies the steps, the GuardDuty-style finding types they should raise and
// the events that define them.
//
// A scenario file is meant to be read by a person first. Everything a run does
// is in it; the runner adds only what the seed decides (timing, per-container
// seeds) and identifiers (container ids, task ARN).
package scenario

import (
	"fmt"
	"strings"
	"time"

	"github.com/vigilsec/vigil/trace"
	"go.yaml.in/yaml/v3"
)

// Kind tells what ground truth a scenario carries.
type Kind string

const (
	// Benign scenarios are normal workloads: everything they do is normal.
	KindBenign Kind = "benign"
	// Attack scenarios add steps a signature should catch: findings lists the
	// GuardDuty-style finding types expected.
	KindAttack Kind = "attack"
	// Anomaly scenarios add behaviour no signature matches, only a learned
	// baseline can: findings is empty by design.
	KindAnomaly Kind = "anomaly"
)

// Scenario is one file of the library.
type Scenario struct {
	Name        string `yaml:"name"`
	Kind        Kind   `yaml:"kind"`
	Description string `yaml:"description"`
	// Base names a benign scenario whose task, containers, infra and jobs this
	// one runs too, so attacks happen inside a realistic workload.
	Base       string      `yaml:"base"`
	Task       Task        `yaml:"task"`
	Containers []Container `yaml:"containers"`
	// Infra are servers an attack talks to (reverse shell listener, fake
	// mining pool), standing in for hosts outside the task. They run in the
	// remote hosts' container (InfraContainer), which shares the task's
	// network namespace, so they are reachable on loopback, but is not part
	// of the task: they are never part of the attacking process tree, nor of
	// the task's workload.
	Infra  []Step  `yaml:"infra"`
	Jobs   []Job   `yaml:"jobs"`
	Attack *Attack `yaml:"attack"`
	// Expect lists events any run of the scenario must show, each in the
	// container it names: what makes the workload itself.
	Expect []Expect `yaml:"expect"`

	// File is where the scenario was read from, for error messages.
	File string `yaml:"-"`
	Line int    `yaml:"-"`
}

// Task is the ECS identity given to the scenario's containers as Docker
// labels, the same labels the ECS agent sets.
type Task struct {
	Cluster  string `yaml:"cluster"`
	Family   string `yaml:"family"`
	Revision int    `yaml:"revision"`
	Line     int    `yaml:"-"`
}

// Container is one container of the task. All containers share the task's
// network namespace (as with awsvpc), which has loopback only.
type Container struct {
	Name    string            `yaml:"name"`
	Command Command           `yaml:"command"`
	User    string            `yaml:"user"`
	Workdir string            `yaml:"workdir"`
	Env     map[string]string `yaml:"env"`
	Files   []File            `yaml:"files"`
	Health  *Health           `yaml:"health"`
	CapAdd  []string          `yaml:"cap_add"`
	Line    int               `yaml:"-"`
}

// File is written into the container before it starts.
type File struct {
	Path    string `yaml:"path"`
	Mode    uint32 `yaml:"mode"`
	Content string `yaml:"content"`
	Line    int    `yaml:"-"`
}

// Health is a Docker health check, as an ECS task definition declares one.
type Health struct {
	Run   Command  `yaml:"run"`
	Every Duration `yaml:"every"`
}

// Job is activity started from outside the container on a schedule, the way
// ECS Exec sessions and operators' commands arrive.
type Job struct {
	Name      string   `yaml:"name"`
	Container string   `yaml:"container"`
	Every     Duration `yaml:"every"`
	Jitter    Duration `yaml:"jitter"`
	// Chance is the probability each tick actually runs (default 1): rare
	// legitimate behaviour the baseline should learn to tolerate.
	Chance float64 `yaml:"chance"`
	User   string  `yaml:"user"`
	Run    Command `yaml:"run"`
	Line   int     `yaml:"-"`
}

// Attack is the labelled part of an attack or anomaly scenario.
type Attack struct {
	ID        string `yaml:"id"`
	Container string `yaml:"container"`
	// At is when the steps start, as a fraction of the run; zero lets the
	// seed choose a point between 30% and 60%.
	At       float64  `yaml:"at"`
	Findings []string `yaml:"findings"`
	Mitre    []string `yaml:"mitre"`
	// Seccomp "unconfined" creates the attack's container without Docker's
	// seccomp filter, so a syscall the filter would stop before any
	// tracepoint (mount, init_module) reaches the kernel and is recorded.
	// The container still lacks the capabilities, so the kernel refuses it.
	Seccomp string `yaml:"seccomp"`
	// Setup runs in the victim container before the steps and is not part of
	// the attack (e.g. a fake Docker socket the attack then finds).
	Setup []Step `yaml:"setup"`
	Steps []Step `yaml:"steps"`
	// Expect lists events that define the attack: each must appear in the
	// trace, from the attacking process tree, inside the attack window.
	Expect []Expect `yaml:"expect"`
	Line   int      `yaml:"-"`
}

// Step is one command run in a container.
type Step struct {
	Name    string   `yaml:"name"`
	Run     Command  `yaml:"run"`
	User    string   `yaml:"user"`
	Detach  bool     `yaml:"detach"`
	Timeout Duration `yaml:"timeout"`
	// Ignore lets a step fail without failing the run: attacks that are
	// meant to be refused (module load, mount) exit non-zero.
	Ignore bool `yaml:"ignore_failure"`
	Line   int  `yaml:"-"`
}

// Expect matches events of the trace. Empty fields match anything; Comm,
// Argv, Exe, Path and DNS are globs (* is any run of characters, / included).
type Expect struct {
	// Container is set for scenario-level expectations only.
	Container string     `yaml:"container"`
	Kind      trace.Kind `yaml:"kind"`
	Comm      string     `yaml:"comm"`
	// Argv matches the arguments joined by spaces ("nc *").
	Argv    string `yaml:"argv"`
	Exe     string `yaml:"exe"`
	Path    string `yaml:"path"`
	DNS     string `yaml:"dns"`
	DstAddr string `yaml:"dst_addr"`
	DstPort uint16 `yaml:"dst_port"`
	// Result is "ok", "failed" or empty for either.
	Result string `yaml:"result"`
	// Stdio, on exec expectations, says what fds 0, 1 and 2 of the new
	// program must be, in order, from the exec's stdio bits
	// (trace.ExecStdin*): "inet" a TCP/IP socket, "socket" any socket,
	// "pipe" a pipe or FIFO, "other" none of these (a file, a terminal,
	// closed), "any" or a shorter list for no constraint.
	Stdio []string `yaml:"stdio"`
	// Min is how many matching events are needed (default 1).
	Min  int `yaml:"min"`
	Line int `yaml:"-"`
}

// Matches reports whether e satisfies every set field of x.
func (x *Expect) Matches(e *trace.Event) bool {
	if x.Kind != "" && e.Kind != x.Kind {
		return false
	}
	if !globMatch(x.Comm, e.Comm) || !globMatch(x.Exe, e.ExePath) || !globMatch(x.DNS, e.DNSName) {
		return false
	}
	if x.Argv != "" && !globMatch(x.Argv, strings.Join(e.Argv, " ")) {
		return false
	}
	if x.Path != "" && !globMatch(x.Path, e.Path) && !globMatch(x.Path, e.NewPath) {
		return false
	}
	if x.DstAddr != "" && e.DstAddr != x.DstAddr {
		return false
	}
	if x.DstPort != 0 && e.DstPort != x.DstPort {
		return false
	}
	for fd, want := range x.Stdio {
		if !stdioIs(e.Flags, fd, want) {
			return false
		}
	}
	switch x.Result {
	case "ok":
		return e.Ret >= 0
	case "failed":
		return e.Ret < 0
	}
	return true
}

// StdioKinds are the values an Expect's Stdio entries may take.
var StdioKinds = []string{"any", "inet", "socket", "pipe", "other"}

// stdioIs reports whether fd (0-2) is of kind want in an exec's flags.
func stdioIs(flags uint64, fd int, want string) bool {
	socket := flags&(trace.ExecStdinSocket<<fd) != 0
	pipe := flags&(trace.ExecStdinPipe<<fd) != 0
	switch want {
	case "inet":
		return flags&(trace.ExecStdinInet<<fd) != 0
	case "socket":
		return socket
	case "pipe":
		return pipe
	case "other":
		return !socket && !pipe
	}
	return true
}

func (x *Expect) String() string {
	var b strings.Builder
	b.WriteString(string(x.Kind))
	add := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, " %s=%q", k, v)
		}
	}
	add("comm", x.Comm)
	add("argv", x.Argv)
	add("exe", x.Exe)
	add("path", x.Path)
	add("dns", x.DNS)
	add("dst_addr", x.DstAddr)
	if x.DstPort != 0 {
		fmt.Fprintf(&b, " dst_port=%d", x.DstPort)
	}
	add("result", x.Result)
	if len(x.Stdio) > 0 {
		fmt.Fprintf(&b, " stdio=%q", x.Stdio)
	}
	return b.String()
}

// globMatch matches s against a pattern where * stands for any run of
// characters, "/" included (paths and argv are matched whole), and ? for
// one character. An empty pattern matches anything.
func globMatch(pattern, s string) bool {
	if pattern == "" {
		return true
	}
	// Iterative wildcard matching with one backtrack point: linear in
	// practice, no recursion on attacker-controlled input.
	p, i, star, mark := 0, 0, -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// Command is argv. In YAML it is either a list (argv as written) or a string,
// which runs through /bin/sh -c as a person typing it would.
type Command []string

func (c *Command) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if strings.TrimSpace(n.Value) == "" {
			return fmt.Errorf("line %d: empty command", n.Line)
		}
		*c = Command{"/bin/sh", "-c", n.Value}
		return nil
	case yaml.SequenceNode:
		var argv []string
		if err := n.Decode(&argv); err != nil {
			return err
		}
		if len(argv) == 0 {
			return fmt.Errorf("line %d: empty command", n.Line)
		}
		*c = argv
		return nil
	}
	return fmt.Errorf("line %d: command must be a string or a list of strings", n.Line)
}

// String renders the command as a person would type it.
func (c Command) String() string {
	if len(c) == 3 && c[0] == "/bin/sh" && c[1] == "-c" {
		return c[2]
	}
	return strings.Join(c, " ")
}

// Duration is a time.Duration written as "30s", "5m".
type Duration time.Duration

func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: bad duration %q (want e.g. 30s, 5m)", n.Line, n.Value)
	}
	if v < 0 {
		return fmt.Errorf("line %d: negative duration %q", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

func (d Duration) D() time.Duration { return time.Duration(d) }

// Line-recording decoders: validation errors point at the line of the
// offending item, not just the file.

func (s *Scenario) UnmarshalYAML(n *yaml.Node) error {
	type plain Scenario
	if err := n.Decode((*plain)(s)); err != nil {
		return err
	}
	s.Line = n.Line
	return nil
}

func (t *Task) UnmarshalYAML(n *yaml.Node) error {
	type plain Task
	if err := n.Decode((*plain)(t)); err != nil {
		return err
	}
	t.Line = n.Line
	return nil
}

func (c *Container) UnmarshalYAML(n *yaml.Node) error {
	type plain Container
	if err := n.Decode((*plain)(c)); err != nil {
		return err
	}
	c.Line = n.Line
	return nil
}

func (f *File) UnmarshalYAML(n *yaml.Node) error {
	type plain File
	if err := n.Decode((*plain)(f)); err != nil {
		return err
	}
	f.Line = n.Line
	return nil
}

func (j *Job) UnmarshalYAML(n *yaml.Node) error {
	type plain Job
	if err := n.Decode((*plain)(j)); err != nil {
		return err
	}
	j.Line = n.Line
	return nil
}

func (a *Attack) UnmarshalYAML(n *yaml.Node) error {
	type plain Attack
	if err := n.Decode((*plain)(a)); err != nil {
		return err
	}
	a.Line = n.Line
	return nil
}

func (s *Step) UnmarshalYAML(n *yaml.Node) error {
	type plain Step
	if err := n.Decode((*plain)(s)); err != nil {
		return err
	}
	s.Line = n.Line
	return nil
}

func (x *Expect) UnmarshalYAML(n *yaml.Node) error {
	type plain Expect
	if err := n.Decode((*plain)(x)); err != nil {
		return err
	}
	x.Line = n.Line
	return nil
}
