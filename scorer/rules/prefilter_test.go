package rules

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/trace"
)

// TestPrefilterAgreesWithReference builds a pack with more open rules than
// the prefilter indexes (so some always run), each testing paths, base
// names or programs in one of the ways it indexes (equality, lists, prefixes,
// suffixes, anchored patterns, base names) or in ways it cannot (negation,
// contains, unanchored patterns), and compares Match with the VM-only reference on paths built
// from the same constants: exact, extended, truncated, with trailing
// slashes, and longer than 64 bytes.
func TestPrefilterAgreesWithReference(t *testing.T) {
	// The first six constants' rules are indexed (one bit each), the rest
	// always run.
	consts := []string{"/" + strings.Repeat("long/", 14) + "x", strings.Repeat("x", 63), "release_agent", "/etc/cron",
		"/", ".", "/etc/cron.d/job", "/proc/", "runc", ".so", "/a", "sh", ""}
	forms := []func(c string) string{
		func(c string) string { return fmt.Sprintf("path == %q", c) },
		func(c string) string { return fmt.Sprintf("path in [%q, \"/zz\"]", c) },
		func(c string) string { return fmt.Sprintf("path startsWith %q", c) },
		func(c string) string { return fmt.Sprintf("path endsWith %q", c) },
		func(c string) string { return fmt.Sprintf("basename(path) == %q", c) },
		func(c string) string { return fmt.Sprintf("basename(path) in [%q, \"x\"]", c) },
		func(c string) string { return fmt.Sprintf("path matches %q", "^"+regexpQuote(c)+"[0-9]*$") },
		func(c string) string { return fmt.Sprintf("path matches %q", regexpQuote(c)+"[0-9]*/*$") },
		func(c string) string { return fmt.Sprintf("proc.exe_name == %q or path startsWith %q", c, c) },
		func(c string) string { return fmt.Sprintf("not (path startsWith %q)", c) },
		func(c string) string { return fmt.Sprintf("path contains %q", c) },
	}
	// A condition that holds for every open.
	b := strings.Builder{}
	b.WriteString("- rule: every_open\n  name: every open\n  type: Execution:Runtime/SuspiciousCommand\n  severity: 5\n" +
		"  condition: kind in [\"open\", \"exec\"]\n")
	n := 1
	for _, c := range consts {
		for _, f := range forms {
			fmt.Fprintf(&b, "- rule: r%d\n  name: r%d\n  type: Execution:Runtime/SuspiciousCommand\n  severity: 5\n"+
				"  condition: 'kind == \"open\" and bitand(flags, 1) == 0 and (%s)'\n", n, n, strings.ReplaceAll(f(c), "'", "''"))
			n++
		}
	}
	set, err := Load([]Source{{Name: "pre.yaml", Data: []byte(b.String())}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	open := trace.KindOpen.Index()
	if len(set.spec[open]) <= maxIndexed {
		t.Fatalf("%d open rules; the test needs more than %d", len(set.spec[open]), maxIndexed)
	}
	r := rand.New(rand.NewPCG(13, 14))
	fired := map[string]bool{}
	for i := 0; i < 30000; i++ {
		c := consts[r.IntN(len(consts))]
		path := []string{c, c + "7", c + "/", c + "//", "/x/" + c, "/x/" + c + "/", "q" + c, c[:len(c)/2], "/etc/hosts"}[r.IntN(9)]
		env := &Env{Kind: "open", Path: path, Flags: r.IntN(2), Proc: Proc{ExeName: consts[r.IntN(len(consts))]}}
		got := matchIDs(t, func(fn func(*Rule, error)) { set.Match(trace.KindOpen, env, fn) })
		want := matchIDs(t, func(fn func(*Rule, error)) { set.MatchReference(env, fn) })
		if !slices.Equal(got, want) {
			t.Fatalf("path %q exe %q: Match %v, reference %v", env.Path, env.Proc.ExeName, got, want)
		}
		for _, id := range got {
			fired[id] = true
		}
	}
	if len(fired) < n*3/4 {
		t.Errorf("only %d of %d rules ever matched: the comparison hardly exercised them", len(fired), n)
	}
}

func regexpQuote(s string) string {
	var b strings.Builder
	for _, c := range s {
		if strings.ContainsRune(`\.+*?()|[]{}^$`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// TestPrefilterSkipsUnrelatedEvents checks that the default pack's open
// rules are all indexed and that an ordinary open reaches none of them.
func TestPrefilterSkipsUnrelatedEvents(t *testing.T) {
	set, err := Load(DefaultSources(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	open := trace.KindOpen.Index()
	for _, c := range set.spec[open] {
		if !c.indexed {
			t.Errorf("%s is not indexed for opens", c.rule.ID)
		}
	}
	for _, path := range []string{"/usr/lib/x86_64-linux-gnu/libssl.so.3", "/etc/hosts", "/app/static/index.html", "/tmp/upload-123"} {
		env := &Env{Kind: "open", Path: path, Flags: 577, Container: Container{ID: "c1"}, Proc: Proc{ExeName: "node"}}
		if m := set.pre[open].candidates(env); m != 0 {
			t.Errorf("open of %s: candidates %b, want none", path, m)
		}
	}
	env := &Env{Kind: "open", Path: "/etc/cron.d/job", Flags: 577}
	if m := set.pre[open].candidates(env); m == 0 {
		t.Errorf("open of /etc/cron.d/job reaches no rule")
	}
}
