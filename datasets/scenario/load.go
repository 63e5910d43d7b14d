package scenario

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/vigilsec/vigil/trace"
	"go.yaml.in/yaml/v3"
)

// Error is a problem with a scenario file, at a line when one is known.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Parse reads one scenario file. It checks everything that can be checked
// without the rest of the library; Library checks bases.
func Parse(file string, data []byte) (*Scenario, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{File: file, Msg: "empty scenario file"}
		}
		return nil, yamlError(file, err)
	}
	if len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return nil, &Error{File: file, Line: root.Line, Msg: "a scenario file is a YAML mapping (name:, kind:, ...)"}
	}
	// yaml.v3 forgets KnownFields inside custom unmarshalers, so unknown keys
	// are checked here against the struct tags: a typo must not silently drop
	// an attack step.
	if err := checkKeys(root.Content[0], reflect.TypeOf(Scenario{}), ""); err != nil {
		err.File = file
		return nil, err
	}
	var s Scenario
	if err := root.Content[0].Decode(&s); err != nil {
		return nil, yamlError(file, err)
	}
	s.File = file
	if err := s.validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?(?:unmarshal errors:\n\s*)?line (\d+): (.*)$`)

func yamlError(file string, err error) error {
	msg := strings.TrimSpace(err.Error())
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		var line int
		fmt.Sscan(m[1], &line)
		return &Error{File: file, Line: line, Msg: m[2]}
	}
	return &Error{File: file, Msg: msg}
}

func checkKeys(n *yaml.Node, t reflect.Type, where string) *Error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return nil // the decoder reports the type mismatch with its line
		}
		fields := map[string]reflect.Type{}
		for i := 0; i < t.NumField(); i++ {
			tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
			if tag != "" && tag != "-" {
				fields[tag] = t.Field(i).Type
			}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			ft, ok := fields[k.Value]
			if !ok {
				known := make([]string, 0, len(fields))
				for f := range fields {
					known = append(known, f)
				}
				sort.Strings(known)
				return &Error{Line: k.Line, Msg: fmt.Sprintf("unknown key %q in %s (known: %s)", k.Value, orRoot(where), strings.Join(known, ", "))}
			}
			if err := checkKeys(n.Content[i+1], ft, joinKey(where, k.Value)); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if t == reflect.TypeOf(Command{}) || n.Kind != yaml.SequenceNode {
			return nil
		}
		for i, c := range n.Content {
			if err := checkKeys(c, t.Elem(), fmt.Sprintf("%s[%d]", where, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

func orRoot(where string) string {
	if where == "" {
		return "scenario"
	}
	return where
}

func joinKey(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

var (
	nameRE      = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	findingRE   = regexp.MustCompile(`^[A-Za-z]+:Runtime/[A-Za-z&.!]+$`)
	capRE       = regexp.MustCompile(`^[A-Z_]+$`)
	forbiddenCP = []string{"ALL", "SYS_MODULE", "SYS_ADMIN", "SYS_RAWIO", "SYS_BOOT", "NET_ADMIN", "SYS_TIME", "MAC_ADMIN", "DAC_READ_SEARCH"}
)

// KnownFindings are the GuardDuty Runtime Monitoring finding types a
// scenario may expect (see shared/reference/guardduty-runtime.md).
var KnownFindings = []string{
	"Backdoor:Runtime/C&CActivity.B", "Backdoor:Runtime/C&CActivity.B!DNS",
	"CryptoCurrency:Runtime/BitcoinTool.B", "CryptoCurrency:Runtime/BitcoinTool.B!DNS",
	"DefenseEvasion:Runtime/FilelessExecution", "DefenseEvasion:Runtime/KernelModuleLoaded",
	"DefenseEvasion:Runtime/ProcessInjection.Proc", "DefenseEvasion:Runtime/ProcessInjection.Ptrace",
	"DefenseEvasion:Runtime/ProcessInjection.VirtualMemoryWrite", "DefenseEvasion:Runtime/PtraceAntiDebugging",
	"DefenseEvasion:Runtime/SuspiciousCommand", "DefenseEvasion:Runtime/SensitiveFileModified",
	"Discovery:Runtime/SuspiciousCommand",
	"Execution:Runtime/MaliciousFileExecuted", "Execution:Runtime/MaliciousFileExecuted.Custom",
	"Execution:Runtime/NewBinaryExecuted", "Execution:Runtime/NewLibraryLoaded", "Execution:Runtime/ReverseShell",
	"Execution:Runtime/SuspiciousCommand", "Execution:Runtime/SuspiciousShellCreated", "Execution:Runtime/SuspiciousTool",
	"Impact:Runtime/AbusedDomainRequest.Reputation", "Impact:Runtime/BitcoinDomainRequest.Reputation",
	"Impact:Runtime/CryptoMinerExecuted", "Impact:Runtime/MaliciousDomainRequest.Reputation",
	"Impact:Runtime/SuspiciousDomainRequest.Reputation",
	"Persistence:Runtime/SuspiciousCommand", "Persistence:Runtime/SensitiveFileModified",
	"PrivilegeEscalation:Runtime/CGroupsReleaseAgentModified", "PrivilegeEscalation:Runtime/ContainerMountsHostDirectory",
	"PrivilegeEscalation:Runtime/DockerSocketAccessed", "PrivilegeEscalation:Runtime/ElevationToRoot",
	"PrivilegeEscalation:Runtime/RuncContainerEscape", "PrivilegeEscalation:Runtime/SuspiciousCommand",
	"PrivilegeEscalation:Runtime/SensitiveFileModified", "PrivilegeEscalation:Runtime/UserfaultfdUsage",
	"Trojan:Runtime/BlackholeTraffic", "Trojan:Runtime/BlackholeTraffic!DNS", "Trojan:Runtime/DGADomainRequest.C!DNS",
	"Trojan:Runtime/DriveBySourceTraffic!DNS", "Trojan:Runtime/DropPoint", "Trojan:Runtime/DropPoint!DNS",
	"Trojan:Runtime/PhishingDomainRequest!DNS",
	"UnauthorizedAccess:Runtime/MetadataDNSRebind", "UnauthorizedAccess:Runtime/TorClient", "UnauthorizedAccess:Runtime/TorRelay",
}

func (s *Scenario) errf(line int, format string, args ...any) error {
	return &Error{File: s.File, Line: line, Msg: fmt.Sprintf(format, args...)}
}

func (s *Scenario) validate() error {
	if !nameRE.MatchString(s.Name) {
		return s.errf(s.Line, "name %q: want lower-case letters, digits and dashes", s.Name)
	}
	if base := strings.TrimSuffix(path.Base(s.File), ".yaml"); s.File != "" && base != s.Name && !strings.HasPrefix(s.File, "<") {
		return s.errf(s.Line, "name %q does not match the file name %q", s.Name, path.Base(s.File))
	}
	switch s.Kind {
	case KindBenign:
		if s.Attack != nil {
			return s.errf(s.Attack.Line, "a benign scenario has no attack section")
		}
	case KindAttack, KindAnomaly:
		if s.Attack == nil {
			return s.errf(s.Line, "kind %s needs an attack section", s.Kind)
		}
	default:
		return s.errf(s.Line, "kind %q: want benign, attack or anomaly", s.Kind)
	}
	if strings.TrimSpace(s.Description) == "" {
		return s.errf(s.Line, "description is empty: say what the scenario does and why")
	}
	if s.Base == "" {
		if s.Task.Cluster == "" || s.Task.Family == "" || s.Task.Revision <= 0 {
			return s.errf(s.Task.Line, "task needs cluster, family and a positive revision (or use base:)")
		}
		if len(s.Containers) == 0 {
			return s.errf(s.Line, "no containers (or use base:)")
		}
	} else if !nameRE.MatchString(s.Base) {
		return s.errf(s.Line, "base %q is not a scenario name", s.Base)
	}
	seen := map[string]bool{}
	for _, c := range s.Containers {
		if !nameRE.MatchString(c.Name) {
			return s.errf(c.Line, "container name %q: want lower-case letters, digits and dashes", c.Name)
		}
		switch c.Name {
		case PauseContainer:
			return s.errf(c.Line, "container name %q is reserved for the task's pause container", c.Name)
		case InfraContainer:
			return s.errf(c.Line, "container name %q is reserved for the simulated remote hosts' container", c.Name)
		}
		if seen[c.Name] {
			return s.errf(c.Line, "container %q declared twice", c.Name)
		}
		seen[c.Name] = true
		if len(c.Command) == 0 {
			return s.errf(c.Line, "container %q has no command", c.Name)
		}
		for _, f := range c.Files {
			if !path.IsAbs(f.Path) || path.Clean(f.Path) != f.Path {
				return s.errf(f.Line, "file path %q must be absolute and clean", f.Path)
			}
		}
		for _, cp := range c.CapAdd {
			if !capRE.MatchString(cp) || slices.Contains(forbiddenCP, cp) {
				return s.errf(c.Line, "cap_add %q is not allowed: scenarios must not be able to reach the host", cp)
			}
		}
		if c.Health != nil && (len(c.Health.Run) == 0 || c.Health.Every <= 0) {
			return s.errf(c.Line, "health needs run and every")
		}
	}
	for _, j := range s.Jobs {
		if j.Name == "" || len(j.Run) == 0 || j.Container == "" {
			return s.errf(j.Line, "job needs name, container and run")
		}
		if j.Every.D() < 100_000_000 {
			return s.errf(j.Line, "job %q: every must be at least 100ms", j.Name)
		}
		if j.Chance < 0 || j.Chance > 1 {
			return s.errf(j.Line, "job %q: chance %v must be within [0, 1]", j.Name, j.Chance)
		}
	}
	for _, st := range s.Infra {
		if len(st.Run) == 0 {
			return s.errf(st.Line, "infra step has no run")
		}
	}
	if a := s.Attack; a != nil {
		if !nameRE.MatchString(a.ID) {
			return s.errf(a.Line, "attack id %q: want lower-case letters, digits and dashes", a.ID)
		}
		if a.Container == "" {
			return s.errf(a.Line, "attack needs the container it runs in")
		}
		if a.Seccomp != "" && a.Seccomp != "unconfined" {
			return s.errf(a.Line, "seccomp %q: only unconfined may be asked for", a.Seccomp)
		}
		if a.At < 0 || a.At >= 1 {
			return s.errf(a.Line, "attack at %v must be within [0, 1)", a.At)
		}
		switch {
		case s.Kind == KindAttack && len(a.Findings) == 0:
			return s.errf(a.Line, "an attack scenario lists the finding types it should raise")
		case s.Kind == KindAnomaly && len(a.Findings) > 0:
			return s.errf(a.Line, "an anomaly scenario raises no signature finding: findings must be empty")
		}
		for _, f := range a.Findings {
			if !findingRE.MatchString(f) || !slices.Contains(KnownFindings, f) {
				return s.errf(a.Line, "unknown finding type %q (see shared/reference/guardduty-runtime.md)", f)
			}
		}
		if len(a.Steps) == 0 {
			return s.errf(a.Line, "attack has no steps")
		}
		for _, st := range append(slices.Clone(a.Setup), a.Steps...) {
			if len(st.Run) == 0 {
				return s.errf(st.Line, "step has no run")
			}
		}
		if len(a.Expect) == 0 {
			return s.errf(a.Line, "attack has no expect: list the events that define it")
		}
		for _, x := range a.Expect {
			if x.Container != "" {
				return s.errf(x.Line, "attack expectations come from the attacking processes: drop container")
			}
			if err := s.validateExpect(&x); err != nil {
				return err
			}
		}
	}
	for _, x := range s.Expect {
		if x.Container == "" {
			return s.errf(x.Line, "scenario-level expect needs the container it is about")
		}
		if err := s.validateExpect(&x); err != nil {
			return err
		}
	}
	return nil
}

func (s *Scenario) validateExpect(x *Expect) error {
	if !x.Kind.Valid() {
		return s.errf(x.Line, "expect kind %q is not an event kind (%v)", x.Kind, trace.Kinds)
	}
	if x.Result != "" && x.Result != "ok" && x.Result != "failed" {
		return s.errf(x.Line, "result %q: want ok, failed or nothing", x.Result)
	}
	if x.Min < 0 {
		return s.errf(x.Line, "min must not be negative")
	}
	if len(x.Stdio) > 0 && x.Kind != trace.KindExec {
		return s.errf(x.Line, "stdio is known only for exec events, not %q", x.Kind)
	}
	if len(x.Stdio) > 3 {
		return s.errf(x.Line, "stdio lists %d fds; there are three (stdin, stdout, stderr)", len(x.Stdio))
	}
	for _, k := range x.Stdio {
		if !slices.Contains(StdioKinds, k) {
			return s.errf(x.Line, "stdio %q: want one of %v", k, StdioKinds)
		}
	}
	return nil
}

// Containers every run adds to the scenario's own. Expectations may name
// them; jobs and attacks run in the scenario's containers only.
const (
	// PauseContainer is the task's pause container, started first as ECS
	// starts it: it carries the task's ECS labels, owns the task's network
	// namespace (loopback only) and runs nothing but pause.
	PauseContainer = "pause"
	// InfraContainer stands in for the hosts outside the task: it serves DNS
	// on 127.0.0.1:53 and runs the scenario's infra servers (the attacker's
	// listener, a mining pool). It joins the pause container's network
	// namespace, so they are reachable on loopback, but carries no ECS
	// labels: it is not part of the task, and its label role
	// (label.RoleInfra) keeps it out of evaluations.
	InfraContainer = "sim-remote"
)

// Library is a set of scenarios with bases resolved.
type Library struct {
	byName map[string]*Scenario
}

// LoadFS reads every *.yaml under dir of fsys.
func LoadFS(fsys fs.FS, dir string) (*Library, error) {
	lib := &Library{byName: map[string]*Scenario{}}
	err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ".yaml") {
			return nil
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return fmt.Errorf("reading %s: %w", p, err)
		}
		s, err := Parse(p, data)
		if err != nil {
			return err
		}
		if prev, ok := lib.byName[s.Name]; ok {
			return s.errf(s.Line, "scenario %q also defined in %s", s.Name, prev.File)
		}
		lib.byName[s.Name] = s
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, s := range lib.byName {
		if err := lib.check(s); err != nil {
			return nil, err
		}
	}
	return lib, nil
}

// Add puts a scenario (e.g. a file given on the command line) into the
// library and checks it against the others.
func (l *Library) Add(s *Scenario) error {
	if prev, ok := l.byName[s.Name]; ok && prev.File != s.File {
		return s.errf(s.Line, "scenario %q also defined in %s", s.Name, prev.File)
	}
	l.byName[s.Name] = s
	return l.check(s)
}

func (l *Library) check(s *Scenario) error {
	r, err := l.Resolve(s.Name)
	if err != nil {
		return err
	}
	names := map[string]bool{}
	for _, c := range r.Containers {
		names[c.Name] = true
	}
	// The runner's own containers are not the task's workload: the pause
	// container runs nothing but pause, and what runs in the remote hosts'
	// container is outside the task (an attack there would be labelled on a
	// container every evaluation leaves out).
	added := func(name string) bool { return name == PauseContainer || name == InfraContainer }
	for _, j := range r.Jobs {
		if added(j.Container) {
			return s.errf(j.Line, "job %q runs in %q: jobs run in the scenario's own containers (infra: for the remote hosts' servers)", j.Name, j.Container)
		}
		if !names[j.Container] {
			return s.errf(j.Line, "job %q runs in unknown container %q", j.Name, j.Container)
		}
	}
	if a := r.Attack; a != nil {
		if added(a.Container) {
			return s.errf(a.Line, "attack runs in %q: attacks run in the scenario's own containers", a.Container)
		}
		if !names[a.Container] {
			return s.errf(a.Line, "attack runs in unknown container %q", a.Container)
		}
	}
	for _, x := range r.Expect {
		if !names[x.Container] && !added(x.Container) {
			return s.errf(x.Line, "expect names unknown container %q", x.Container)
		}
	}
	return nil
}

// Names lists the scenarios, sorted.
func (l *Library) Names() []string {
	out := make([]string, 0, len(l.byName))
	for n := range l.byName {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Get returns the scenario as written.
func (l *Library) Get(name string) (*Scenario, bool) {
	s, ok := l.byName[name]
	return s, ok
}

// Resolve returns the scenario with its base folded in: the base's task,
// containers, infra and jobs first, then the scenario's own.
func (l *Library) Resolve(name string) (*Scenario, error) {
	s, ok := l.byName[name]
	if !ok {
		return nil, fmt.Errorf("no scenario %q (see vigil scenario list)", name)
	}
	if s.Base == "" {
		return s, nil
	}
	b, ok := l.byName[s.Base]
	if !ok {
		return nil, s.errf(s.Line, "base %q: no such scenario", s.Base)
	}
	if b.Kind != KindBenign || b.Base != "" {
		return nil, s.errf(s.Line, "base %q must be a benign scenario without a base of its own", s.Base)
	}
	r := *s
	if r.Task.Cluster == "" {
		r.Task = b.Task
	}
	r.Containers = append(slices.Clone(b.Containers), s.Containers...)
	r.Infra = append(slices.Clone(b.Infra), s.Infra...)
	r.Jobs = append(slices.Clone(b.Jobs), s.Jobs...)
	r.Expect = append(slices.Clone(b.Expect), s.Expect...)
	seen := map[string]bool{}
	for _, c := range r.Containers {
		if seen[c.Name] {
			return nil, s.errf(c.Line, "container %q is already in base %q", c.Name, s.Base)
		}
		seen[c.Name] = true
	}
	return &r, nil
}
