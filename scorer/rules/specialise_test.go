package rules

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/expr-lang/expr/parser"

	"github.com/vigilsec/vigil/trace"
)

// matchIDs lists the rules match reports, in order, failing on an error.
func matchIDs(t *testing.T, match func(fn func(*Rule, error))) []string {
	t.Helper()
	var ids []string
	match(func(r *Rule, err error) {
		if err != nil {
			t.Fatalf("%s: %v", r.ID, err)
		}
		ids = append(ids, r.ID)
	})
	return ids
}

// TestMatchAgreesWithReference runs the default pack both ways, through
// Match (kind index, specialisation, closures, merged tests, intel memo) and
// through MatchReference (every rule on the VM), and wants the same rules
// in the same order for every event. When the kind passed to Match is not
// the event's, Match keeps its old meaning: the rules indexed under the
// kind passed, decided on the event as it is.
func TestMatchAgreesWithReference(t *testing.T) {
	set, err := Load(DefaultSources(), Options{Intel: fakeIntel{}})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 8))
	matches := 0
	for i := 0; i < 100000; i++ {
		env := randomEnv(r)
		got := matchIDs(t, func(fn func(*Rule, error)) { set.Match(trace.Kind(env.Kind), env, fn) })
		want := matchIDs(t, func(fn func(*Rule, error)) { set.MatchReference(env, fn) })
		if !slices.Equal(got, want) {
			t.Fatalf("Match %v, reference %v on %+v", got, want, env)
		}
		matches += len(got)

		other := trace.Kinds[r.IntN(len(trace.Kinds))]
		got = matchIDs(t, func(fn func(*Rule, error)) { set.Match(other, env, fn) })
		want = matchIDs(t, func(fn func(*Rule, error)) {
			set.MatchReference(env, func(r *Rule, err error) {
				if slices.Contains(set.ForKind(other), r) {
					fn(r, err)
				}
			})
		})
		if !slices.Equal(got, want) {
			t.Fatalf("Match as %s: %v, reference %v on %+v", other, got, want, env)
		}
	}
	if matches < 10000 {
		t.Fatalf("only %d matches in 100000 events: the comparison hardly exercised the pack", matches)
	}
}

// TestSpecialiseEdgeCases covers conditions the default pack does not
// write: kind tests under not and !=, a rule with no kind restriction whose
// kind test specialisation removes, a condition part the closures cannot
// compile (so the VM decides after the guard), a kind test the folding
// leaves alone, and or-chains whose string and flag tests merge.
func TestSpecialiseEdgeCases(t *testing.T) {
	src := Source{Name: "edge.yaml", Data: []byte(`
- rule: not_kind
  name: a
  type: Execution:Runtime/SuspiciousCommand
  severity: 5
  condition: not (kind in ["open", "exec"]) and path == "/a"
- rule: kind_ne
  name: b
  type: Execution:Runtime/SuspiciousCommand
  severity: 5
  condition: kind != "open" and (path startsWith "/etc/" or kind == "exec")
- rule: unrestricted
  name: c
  type: Execution:Runtime/SuspiciousCommand
  severity: 5
  condition: kind == "exec" or path == "/b" or new_path endsWith ".so"
- rule: vm_part
  name: d
  type: Execution:Runtime/SuspiciousCommand
  severity: 5
  condition: kind in ["exec", "open"] and len(proc.argv) > 1 and proc.argv[1] == "-e"
- rule: kind_prefix
  name: e
  type: Execution:Runtime/SuspiciousCommand
  severity: 5
  condition: (kind startsWith "ex" and ret == 0) or (kind == "open" and not (kind == "open"))
- rule: merged
  name: f
  type: Execution:Runtime/SuspiciousCommand
  severity: 5
  condition: >
    (path startsWith "/etc/cron" or path == "/etc/rc.local" or path in ["/a", "/b", "/c", "/d", "/e"]
     or path endsWith ".sh" or bitand(flags, 1) != 0 or bitand(flags, 64) != 0 or 0 != bitand(512, flags)
     or proc.exe_name == "nc" or kind == "dns")
    and path != "/etc/cron.d/ok"
- rule: memo
  name: g
  type: Execution:Runtime/SuspiciousCommand
  severity: 5
  condition: >
    (intel_ip(net.dst_ip) == "c2" or intel_ip(net.src_ip) == "tor")
    and intel_ip(net.dst_ip) != "mining" and intel_domain(dns.name) in ["c2", "malicious"]
`)}
	set, err := Load([]Source{src}, Options{Intel: fakeIntel{}})
	if err != nil {
		t.Fatal(err)
	}
	var nonExact []string
	for _, rule := range set.Rules() {
		for i, c := range rule.byKind {
			if !c.never && !c.exact {
				nonExact = append(nonExact, rule.ID+"/"+string(trace.Kinds[i]))
			}
		}
	}
	if len(nonExact) == 0 || !slices.Contains(nonExact, "vm_part/exec") {
		t.Fatalf("vm_part should need the VM after its guard; not exact: %v", nonExact)
	}
	if c := set.Rules()[0].byKind[trace.KindOpen.Index()]; !c.never {
		t.Errorf("not_kind can never match an open but is evaluated for it")
	}
	r := rand.New(rand.NewPCG(9, 10))
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	fired := map[string]int{}
	for i := 0; i < 50000; i++ {
		env := &Env{
			Kind:    pick("open", "exec", "dns", "connect", "exit", "rename"),
			Path:    pick("/a", "/b", "/e", "/f", "/etc/cron.d/x", "/etc/cron.d/ok", "/etc/rc.local", "/etc/hosts", "/x.sh", ""),
			NewPath: pick("", "/lib/x.so", "/b"),
			Flags:   []int{0, 1, 2, 64, 512, 524288}[r.IntN(6)],
			Ret:     []int{0, -1}[r.IntN(2)],
			Proc:    Proc{ExeName: pick("nc", "sh"), Argv: [][]string{nil, {"nc"}, {"nc", "-e"}, {"nc", "-l"}}[r.IntN(4)]},
			Net:     Net{DstIP: pick("203.0.113.9", "198.51.100.7", "192.0.2.50", "10.0.0.1"), SrcIP: pick("192.0.2.50", "10.0.0.2")},
			DNS:     DNS{Name: pick("cc.example", "evil.example", "example.com")},
		}
		got := matchIDs(t, func(fn func(*Rule, error)) { set.Match(trace.Kind(env.Kind), env, fn) })
		want := matchIDs(t, func(fn func(*Rule, error)) { set.MatchReference(env, fn) })
		if !slices.Equal(got, want) {
			t.Fatalf("Match %v, reference %v on %+v", got, want, env)
		}
		for _, id := range got {
			fired[id]++
		}
	}
	for _, rule := range set.Rules() {
		if fired[rule.ID] == 0 {
			t.Errorf("%s never matched: the comparison did not exercise it", rule.ID)
		}
	}
}

// swappableIntel answers every IP with cat, which the test changes between
// matches, as a reloaded intel generation does.
type swappableIntel struct {
	noIntel
	cat *string
}

func (s swappableIntel) IP(string) string { return *s.cat }

// TestIntelMemoIsPerMatch checks that intel answers remembered within one
// Match are not reused by the next one on the same Env: intel reloads while
// the agent runs.
func TestIntelMemoIsPerMatch(t *testing.T) {
	src := Source{Name: "memo.yaml", Data: []byte(`
- rule: c2
  name: c2
  type: Backdoor:Runtime/C&CActivity.B
  severity: 8
  condition: kind == "connect" and intel_ip(net.dst_ip) == "c2"
- rule: c2_again
  name: c2 again
  type: Backdoor:Runtime/C&CActivity.B
  severity: 8
  condition: kind == "connect" and intel_ip(net.dst_ip) == "c2" and net.dst_port == 443
`)}
	cat := ""
	set, err := Load([]Source{src}, Options{Intel: swappableIntel{cat: &cat}})
	if err != nil {
		t.Fatal(err)
	}
	env := &Env{Kind: "connect", Net: Net{DstIP: "203.0.113.9", DstPort: 443}}
	match := func() []string {
		return matchIDs(t, func(fn func(*Rule, error)) { set.Match(trace.KindConnect, env, fn) })
	}
	if got := match(); len(got) != 0 {
		t.Fatalf("before the address is listed: %v", got)
	}
	cat = "c2"
	if got := match(); !slices.Equal(got, []string{"c2", "c2_again"}) {
		t.Fatalf("after the address is listed: %v", got)
	}
}

// TestNeedsCoversWhatRulesRead fills the parts of an Env that Set.Needs
// leaves out with another event's values and expects the same matches:
// a caller skipping those parts must not change any answer.
func TestNeedsCoversWhatRulesRead(t *testing.T) {
	set, err := Load(DefaultSources(), Options{Intel: fakeIntel{}})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(11, 12))
	skipped := map[Parts]int{}
	for i := 0; i < 100000; i++ {
		env, other := randomEnv(r), randomEnv(r)
		kind := trace.Kind(env.Kind)
		want := matchIDs(t, func(fn func(*Rule, error)) { set.Match(kind, env, fn) })
		needs := set.Needs(KindIndex(kind))
		if needs&PartParent == 0 {
			env.Parent = other.Parent
		}
		if needs&PartNet == 0 {
			env.Net = other.Net
		}
		if needs&PartDNS == 0 {
			env.DNS = other.DNS
		}
		if needs&PartContainerMeta == 0 {
			id := env.Container.ID
			env.Container, env.Container.ID = other.Container, id
		}
		skipped[AllParts&^needs]++
		if got := matchIDs(t, func(fn func(*Rule, error)) { set.Match(kind, env, fn) }); !slices.Equal(got, want) {
			t.Fatalf("%s with parts %04b from another event: %v, want %v", kind, AllParts&^needs, got, want)
		}
	}
	// Most kinds read none of the parts; connects read only net.
	if skipped[AllParts] == 0 || skipped[AllParts&^PartNet] == 0 {
		t.Fatalf("parts skipped: %v", skipped)
	}
}

func TestPartsRead(t *testing.T) {
	for cond, want := range map[string]Parts{
		`container.id != "" and proc.exe_name == "sh" and len(proc.argv) > 1`: 0,
		`container.image startsWith "x"`:                                      PartContainerMeta,
		`kind == "connect" and net.dst_port in [1, 2]`:                        PartNet,
		`parent.listener or parent.exe_name in ["nginx"]`:                     PartParent,
		`any(dns.answers, {# == "x"}) and path != ""`:                         PartDNS,
		`intel_ip(net.dst_ip) == "c2" and container.task_family == "web"`:     PartNet | PartContainerMeta,
	} {
		tree, err := parser.Parse(cond)
		if err != nil {
			t.Fatal(err)
		}
		if got := partsRead(tree.Node); got != want {
			t.Errorf("%s: parts %04b, want %04b", cond, got, want)
		}
	}
	// A condition the VM decides may read anything.
	set, err := Load([]Source{{Name: "vm.yaml", Data: []byte(`
- rule: vm
  name: vm
  type: Execution:Runtime/SuspiciousCommand
  severity: 5
  condition: kind == "exec" and proc.argv[1] == "-e"
`)}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := set.Needs(trace.KindExec.Index()); got != AllParts {
		t.Errorf("a rule on the VM needs every part, got %04b", got)
	}
	if got := set.Needs(trace.KindOpen.Index()); got != 0 {
		t.Errorf("no rule reads opens, yet they need %04b", got)
	}
}

// TestDomainMatcherIsDomainIn compares the trie matcher with domainIn on
// names built from the listed domains: subdomains, look-alikes without a dot
// boundary, case, trailing dots, non-ASCII and empty names and entries.
func TestDomainMatcherIsDomainIn(t *testing.T) {
	domains := []string{"nanopool.org", "c3pool.com", "xmr.example", "Upper.Example", "", "org", "é.example"}
	in := domainMatcher(domains)
	anyDomains := make([]any, len(domains))
	for i, d := range domains {
		anyDomains[i] = d
	}
	r := rand.New(rand.NewPCG(15, 16))
	parts := []string{"", "a", "xmr", "eu1", "nanopool", "pool", "org", "com", "c3pool", "example", "upper", "UPPER", "É", "é", "-"}
	matched := 0
	for i := 0; i < 200000; i++ {
		labels := make([]string, 1+r.IntN(4))
		for j := range labels {
			labels[j] = parts[r.IntN(len(parts))]
		}
		name := strings.Join(labels, []string{".", "", "."}[r.IntN(3)])
		if r.IntN(4) == 0 {
			name = domains[r.IntN(len(domains))]
		}
		if r.IntN(3) == 0 {
			name = strings.ToUpper(name)
		}
		if r.IntN(4) == 0 {
			name += "."
		}
		want := domainIn(name, anyDomains)
		if got := in(name); got != want {
			t.Fatalf("%q: matcher %v, domainIn %v", name, got, want)
		}
		if want {
			matched++
		}
	}
	if matched < 1000 {
		t.Fatalf("only %d names matched: the comparison hardly exercised matches", matched)
	}
}
