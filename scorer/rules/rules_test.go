package rules

import (
	"errors"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/trace"
)

func TestDefaultPackCompiles(t *testing.T) {
	set, err := Load(DefaultSources(), Options{})
	if err != nil {
		t.Fatalf("default pack: %v", err)
	}
	if len(set.Rules()) < 25 {
		t.Fatalf("default pack has %d rules", len(set.Rules()))
	}
	for _, r := range set.Rules() {
		if r.Kinds == nil {
			t.Errorf("rule %s applies to every event kind; restrict it with kind == ...", r.ID)
		}
	}
	if n := len(set.ForKind(trace.KindExec)); n == 0 || n == len(set.Rules()) {
		t.Errorf("exec rules: %d of %d; the index does not narrow", n, len(set.Rules()))
	}
}

func TestErrorsNameFileRuleAndPosition(t *testing.T) {
	good := Source{Name: "good.yaml", Data: []byte(`
- rule: ok
  name: ok
  type: Execution:Runtime/SuspiciousTool
  severity: 5
  condition: kind == "exec" and proc.exe_name == "nmap"
`)}
	bad := Source{Name: "bad.yaml", Data: []byte(`
- list: l
  items: [a]
- rule: broken
  name: broken
  type: Execution:Runtime/SuspiciousTool
  severity: 5
  condition: kind == "exec" and proc.nosuchfield == "x"
- rule: badkind
  name: b
  type: Execution:Runtime/SuspiciousTool
  severity: 5
  condition: kind == "exex"
- rule: badsev
  name: b
  type: Execution:Runtime/SuspiciousTool
  severity: 11
  condition: kind == "exec"
- rule: fine
  name: fine
  type: Execution:Runtime/SuspiciousTool
  severity: high
  condition: kind == "exec" and proc.exe_name in l
`)}
	broken := Source{Name: "broken.yaml", Data: []byte("- rule: x\n  name: [unclosed\n")}
	set, err := Load([]Source{good, bad, broken}, Options{})
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("want Errors, got %v", err)
	}
	msg := err.Error()
	for _, want := range []string{
		"bad.yaml:8:14: rule broken:", "nosuchfield",
		"bad.yaml:13:14: rule badkind:", `"exex"`,
		"bad.yaml:17:13: rule badsev:",
		"broken.yaml:",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("errors lack %q:\n%s", want, msg)
		}
	}
	var ids []string
	for _, r := range set.Rules() {
		ids = append(ids, r.ID)
	}
	if strings.Join(ids, ",") != "ok,fine" {
		t.Errorf("loaded %v, want the good rules ok,fine", ids)
	}
}

func TestReloadKeepsLastGoodRule(t *testing.T) {
	v1 := Source{Name: "a.yaml", Data: []byte(`
- rule: tool
  name: tool
  type: Execution:Runtime/SuspiciousTool
  severity: 5
  condition: kind == "exec" and proc.exe_name == "nmap"
- rule: other
  name: other
  type: Execution:Runtime/SuspiciousTool
  severity: 5
  condition: kind == "exec" and proc.exe_name == "hydra"
`)}
	prev, err := Load([]Source{v1}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	v2 := Source{Name: "a.yaml", Data: []byte(`
- rule: tool
  name: tool
  type: Execution:Runtime/SuspiciousTool
  severity: 5
  condition: kind == "exec" and proc.exe_name ==
- rule: other
  name: other
  type: Execution:Runtime/SuspiciousTool
  severity: 5
  condition: kind == "exec" and proc.exe_name == "masscan"
`)}
	next, err := Reload(prev, []Source{v2}, Options{})
	if err == nil {
		t.Fatal("broken rule not reported")
	}
	got := map[string]bool{}
	env := &Env{Kind: "exec"}
	for _, name := range []string{"nmap", "hydra", "masscan"} {
		env.Proc.ExeName = name
		next.Match(trace.KindExec, env, func(r *Rule, err error) {
			if err != nil {
				t.Fatal(err)
			}
			got[r.ID+"/"+name] = true
		})
	}
	if !got["tool/nmap"] || !got["other/masscan"] || got["other/hydra"] {
		t.Errorf("after reload matched %v; want tool (kept from before) on nmap and the new other on masscan", got)
	}
	// A file that no longer parses keeps all its rules.
	next2, err := Reload(next, []Source{{Name: "a.yaml", Data: []byte("- rule: [")}}, Options{})
	if err == nil || len(next2.Rules()) != 2 {
		t.Errorf("unparsable file: err=%v, rules=%d (want both kept)", err, len(next2.Rules()))
	}
}

func TestMacrosListsExceptionsAndOverrides(t *testing.T) {
	src := Source{Name: "m.yaml", Data: []byte(`
- list: shells
  items: [sh, bash]
- list: shells
  items: [zsh]
  append: true
- macro: spawned
  condition: kind == "exec"
- macro: shell
  condition: spawned and proc.exe_name in shells
- rule: shell
  name: shell
  type: Execution:Runtime/SuspiciousShellCreated
  severity: 5
  condition: shell and proc.name != "shells"
  exceptions:
    - name: entrypoint
      fields: [parent.exe_name, proc.cmdline]
      values: [[tini, "sh /entrypoint.sh"]]
    - name: ci
      condition: container.workload startsWith "ci/"
- rule: disabled
  name: d
  type: Execution:Runtime/SuspiciousTool
  severity: 5
  condition: kind == "exec"
- rule: disabled
  enabled: false
- macro: loop
  condition: loop2
- macro: loop2
  condition: loop
`)}
	set, err := Load([]Source{src}, Options{})
	if err == nil || !strings.Contains(err.Error(), "macro loop uses itself") {
		t.Fatalf("macro cycle not reported: %v", err)
	}
	match := func(env *Env) (ids []string) {
		set.Match(trace.Kind(env.Kind), env, func(r *Rule, err error) {
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, r.ID)
		})
		return ids
	}
	base := Env{Kind: "exec", Proc: Proc{ExeName: "zsh", Name: "zsh", Cmdline: "zsh"}}
	if got := match(&base); len(got) != 1 || got[0] != "shell" {
		t.Errorf("zsh: %v", got)
	}
	e := base
	e.Parent.ExeName, e.Proc.Cmdline = "tini", "sh /entrypoint.sh"
	if got := match(&e); len(got) != 0 {
		t.Errorf("fields/values exception ignored: %v", got)
	}
	e = base
	e.Container.Workload = "ci/runner"
	if got := match(&e); len(got) != 0 {
		t.Errorf("condition exception ignored: %v", got)
	}
	e = base
	e.Proc.Name = "shells" // a field value equal to a list name is not expanded
	if got := match(&e); len(got) != 0 {
		t.Errorf("string compare broken by list expansion: %v", got)
	}
}
