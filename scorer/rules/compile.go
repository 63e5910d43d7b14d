package rules

import (
	"fmt"
	"math/bits"
	"slices"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"

	"github.com/vigilsec/vigil/trace"
)

// Rule is one compiled signature rule.
type Rule struct {
	ID          string
	Name        string
	Type        string // finding type, as GuardDuty names it
	Severity    float64
	Description string
	Tags        []string
	Enabled     bool
	// Kinds are the event kinds the condition can match; nil means every kind.
	Kinds []trace.Kind
	// Condition is the rule's condition with macros and lists expanded and
	// exceptions appended, as compiled.
	Condition string
	File      string
	Line      int

	program *vm.Program
	// guard is the condition compiled to Go closures (see native.go); when
	// exact is set it is the whole condition and the VM is never run.
	guard pred
	exact bool
	// byKind is the condition specialised to each event kind (see
	// specialise.go), by trace.Kind.Index.
	byKind []kindCheck
}

// kindCheck is a rule's condition compiled for events of one kind.
type kindCheck struct {
	rule  *Rule
	guard pred
	exact bool
	// never: the condition is false for every event of the kind.
	never bool
	// parts are what the check reads (all of them when the VM decides).
	parts Parts
	// indexed: the condition can only hold when one of atoms does (see
	// prefilter.go).
	indexed bool
	atoms   []atom
}

// Options configure compilation.
type Options struct {
	Intel Intel
}

// Set is a compiled rule set, indexed by event kind. A Set is immutable; a
// reload builds a new one. Match is not safe for concurrent use (it reuses
// one VM); use one Set per goroutine or Clone.
type Set struct {
	rules  []*Rule
	byKind [][]*Rule // by trace.Kind.Index(); plus a last slot for unknown kinds
	// spec holds, by kind index, byKind's rules specialised to that kind,
	// without those that cannot match it; parts what they read.
	spec  [][]kindCheck
	parts []Parts
	pre   []prefilter
	vm    vm.VM
}

// Load parses and compiles srcs. It always returns a usable Set with every
// rule that compiled; the error (of type Errors) lists the rest.
func Load(srcs []Source, opts Options) (*Set, error) {
	set, errs, _ := load(srcs, opts)
	if len(errs) > 0 {
		return set, errs
	}
	return set, nil
}

// Reload is Load for a running agent: a rule whose new definition is broken,
// and every rule of a file that no longer parses, keeps its version from prev,
// so a typo never disables detection. The error lists what was kept and why.
func Reload(prev *Set, srcs []Source, opts Options) (*Set, error) {
	set, errs, p := load(srcs, opts)
	if prev != nil {
		have := map[string]bool{}
		for _, r := range set.rules {
			have[r.ID] = true
		}
		var kept []*Rule
		for _, r := range prev.rules {
			if have[r.ID] {
				continue
			}
			if p.badFiles[r.File] || p.badRules[r.ID] {
				kept = append(kept, r)
			}
		}
		if len(kept) > 0 {
			set = newSet(append(slices.Clone(set.rules), kept...))
		}
	}
	if len(errs) > 0 {
		return set, errs
	}
	return set, nil
}

func load(srcs []Source, opts Options) (*Set, Errors, *parsed) {
	p := parseSources(srcs)
	in := opts.Intel
	if in == nil {
		in = noIntel{}
	}
	fns := functions(in)
	// Check every macro alone first, so an error points at the macro rather
	// than at each rule that uses it.
	for _, name := range sortedKeys(p.macros) {
		m := p.macros[name]
		src, err := p.expand(m.condition, nil)
		if err == nil {
			_, err = expr.Compile(src, append([]expr.Option{expr.Env(&Env{}), expr.AsBool()}, fns...)...)
		}
		if err != nil {
			p.errs = append(p.errs, &Error{File: m.file, Line: m.line, Col: m.col, Item: "macro " + name, Msg: oneLine(err)})
		}
	}
	var compiled []*Rule
	for _, s := range p.rules {
		r, err := p.compile(s, fns, in)
		if err != nil {
			p.errs = append(p.errs, err)
			p.badRules[s.ID] = true
			continue
		}
		compiled = append(compiled, r)
	}
	return newSet(compiled), p.errs, p
}

func (p *parsed) compile(s *spec, fns []expr.Option, in Intel) (*Rule, *Error) {
	fail := func(format string, args ...any) *Error {
		return &Error{File: s.file, Line: s.condLine, Col: s.condCol, Item: "rule " + s.ID, Msg: fmt.Sprintf(format, args...)}
	}
	cond, err := p.expand(s.Condition, nil)
	if err != nil {
		return nil, fail("condition: %v", err)
	}
	full := "(" + cond + ")"
	for _, ex := range s.Exceptions {
		exc, err := p.expand(ex.Condition, nil)
		if err != nil {
			return nil, fail("exception %s: %v", ex.Name, err)
		}
		if _, err := expr.Compile(exc, append([]expr.Option{expr.Env(&Env{}), expr.AsBool()}, fns...)...); err != nil {
			return nil, fail("exception %s: %s", ex.Name, oneLine(err))
		}
		full += " and not (" + exc + ")"
	}
	prog, err := expr.Compile(full, append([]expr.Option{expr.Env(&Env{}), expr.AsBool()}, fns...)...)
	if err != nil {
		return nil, fail("condition: %s", oneLine(err))
	}
	tree, err := parser.Parse(full)
	if err != nil {
		return nil, fail("condition: %s", oneLine(err))
	}
	kinds, restricted := kindsOf(tree.Node)
	guard, exact := native(tree.Node, in)
	r := &Rule{
		ID: s.ID, Name: s.Name, Type: s.Type, Severity: s.Severity, Description: s.Description,
		Tags: s.Tags, Enabled: s.Enabled, Condition: full, File: s.file, Line: s.line, program: prog,
		guard: guard, exact: exact, byKind: make([]kindCheck, len(trace.Kinds)),
	}
	for i, k := range trace.Kinds {
		if restricted && !slices.Contains(kinds, string(k)) {
			r.byKind[i] = kindCheck{rule: r, never: true}
			continue
		}
		sn := specialise(tree.Node, string(k))
		if isConst(sn, false) {
			r.byKind[i] = kindCheck{rule: r, never: true}
			continue
		}
		g, ex := native(sn, in)
		parts := AllParts
		if ex {
			parts = partsRead(sn)
		}
		atoms, indexed := necessary(sn)
		r.byKind[i] = kindCheck{rule: r, guard: g, exact: ex, parts: parts, indexed: indexed, atoms: atoms}
	}
	if restricted {
		for _, k := range kinds {
			if !trace.Kind(k).Valid() {
				return nil, fail("condition compares kind with %q, which is not an event kind", k)
			}
			r.Kinds = append(r.Kinds, trace.Kind(k))
		}
		slices.Sort(r.Kinds)
		r.Kinds = slices.Compact(r.Kinds)
	}
	return r, nil
}

func newSet(rules []*Rule) *Set {
	s := &Set{rules: rules, byKind: make([][]*Rule, len(trace.Kinds)+1), spec: make([][]kindCheck, len(trace.Kinds)),
		parts: make([]Parts, len(trace.Kinds)), pre: make([]prefilter, len(trace.Kinds))}
	for _, r := range rules {
		if !r.Enabled {
			continue
		}
		if r.Kinds == nil {
			for i := range s.byKind {
				s.byKind[i] = append(s.byKind[i], r)
			}
			continue
		}
		for _, k := range r.Kinds {
			s.byKind[k.Index()] = append(s.byKind[k.Index()], r)
		}
	}
	for i := range s.spec {
		for _, r := range s.byKind[i] {
			if c := r.byKind[i]; !c.never {
				s.spec[i] = append(s.spec[i], c)
				s.parts[i] |= c.parts
			}
		}
		s.pre[i] = newPrefilter(s.spec[i])
	}
	return s
}

// Native reports whether the rule's condition runs entirely as compiled Go
// closures (true) or falls back to the expr VM after a native guard.
func (r *Rule) Native() bool { return r.exact }

// Rules returns every rule, enabled or not, in load order.
func (s *Set) Rules() []*Rule { return s.rules }

// ForKind returns the enabled rules an event of kind k is evaluated against.
func (s *Set) ForKind(k trace.Kind) []*Rule {
	i := k.Index()
	if i < 0 {
		i = len(trace.Kinds)
	}
	return s.byKind[i]
}

// Clone returns a Set sharing the compiled rules but with its own VM, for use
// by another goroutine.
func (s *Set) Clone() *Set {
	return &Set{rules: s.rules, byKind: s.byKind, spec: s.spec, parts: s.parts, pre: s.pre}
}

// Match evaluates the rules relevant to env's kind and calls fn for each rule
// that matches, in load order. A rule whose evaluation fails (a bug in a
// helper, never bad input) is reported through fn's err, so it is counted,
// not ignored.
func (s *Set) Match(kind trace.Kind, env *Env, fn func(r *Rule, err error)) {
	s.MatchIndex(KindIndex(kind), env, fn)
}

// HasRules reports whether any enabled rule looks at the kind with index i.
func (s *Set) HasRules(i int) bool {
	if i < 0 || i >= len(trace.Kinds) {
		i = len(trace.Kinds)
	}
	return len(s.byKind[i]) > 0
}

// Needs reports which costly parts of an Env the rules for the kind with
// index i read, when the Env's Kind is that kind: a caller may leave the
// other parts as they were (from an earlier event) and Match answers as if
// they were filled. For an unknown kind it is AllParts.
func (s *Set) Needs(i int) Parts {
	if i < 0 || i >= len(trace.Kinds) {
		return AllParts
	}
	return s.parts[i]
}

// MatchIndex is Match for a caller that already has the kind's index
// (KindIndex or trace.Kind.Index; -1 for unknown kinds).
func (s *Set) MatchIndex(i int, env *Env, fn func(r *Rule, err error)) {
	env.memo = memo{}
	if i >= 0 && i < len(trace.Kinds) && env.Kind == string(trace.Kinds[i]) {
		checks := s.spec[i]
		for m := s.pre[i].candidates(env); m != 0; m &= m - 1 {
			if c := &checks[bits.TrailingZeros64(m)]; c.guard(env) {
				s.matched(c.rule, c.exact, env, fn)
			}
		}
		for _, c := range checks[min(len(checks), maxIndexed):] {
			if c.guard(env) {
				s.matched(c.rule, c.exact, env, fn)
			}
		}
		return
	}
	// The kind given and the event's disagree (or the kind is unknown):
	// the specialised conditions assume they agree, so evaluate the
	// general ones.
	if i < 0 || i >= len(trace.Kinds) {
		i = len(trace.Kinds)
	}
	for _, r := range s.byKind[i] {
		if !r.guard(env) {
			continue
		}
		s.matched(r, r.exact, env, fn)
	}
}

// MatchReference evaluates every enabled rule, in load order, with expr's
// VM alone: no kind index, no specialisation, no compiled closures. It is
// the meaning Match must reproduce, at a fraction of the speed, for tests
// and for checking a rule pack.
func (s *Set) MatchReference(env *Env, fn func(r *Rule, err error)) {
	for _, r := range s.rules {
		if r.Enabled {
			s.matched(r, false, env, fn)
		}
	}
}

// matched finishes a rule whose guard passed: an exact guard is the answer,
// otherwise the VM decides.
func (s *Set) matched(r *Rule, exact bool, env *Env, fn func(r *Rule, err error)) {
	if exact {
		fn(r, nil)
		return
	}
	out, err := s.vm.Run(r.program, env)
	if err != nil {
		fn(r, err)
		return
	}
	if out.(bool) {
		fn(r, nil)
	}
}

// kindsOf finds which event kinds a condition can match: `kind == "x"` and
// `kind in [...]` restrict it, `and` intersects, `or` unites (when both sides
// restrict). Anything else leaves the condition unrestricted.
func kindsOf(n ast.Node) ([]string, bool) {
	switch n := n.(type) {
	case *ast.BinaryNode:
		switch n.Operator {
		case "and", "&&":
			l, lok := kindsOf(n.Left)
			r, rok := kindsOf(n.Right)
			switch {
			case lok && rok:
				var both []string
				for _, k := range l {
					if slices.Contains(r, k) {
						both = append(both, k)
					}
				}
				return both, true
			case lok:
				return l, true
			case rok:
				return r, true
			}
		case "or", "||":
			l, lok := kindsOf(n.Left)
			r, rok := kindsOf(n.Right)
			if lok && rok {
				return append(l, r...), true
			}
		case "==":
			if isKind(n.Left) {
				if s, ok := n.Right.(*ast.StringNode); ok {
					return []string{s.Value}, true
				}
			}
			if isKind(n.Right) {
				if s, ok := n.Left.(*ast.StringNode); ok {
					return []string{s.Value}, true
				}
			}
		case "in":
			if arr, ok := n.Right.(*ast.ArrayNode); ok && isKind(n.Left) {
				var ks []string
				for _, e := range arr.Nodes {
					s, ok := e.(*ast.StringNode)
					if !ok {
						return nil, false
					}
					ks = append(ks, s.Value)
				}
				return ks, true
			}
		}
	}
	return nil, false
}

func isKind(n ast.Node) bool {
	id, ok := n.(*ast.IdentifierNode)
	return ok && id.Value == "kind"
}

// expand replaces macro and list names in a condition with their expansions
// (macros in parentheses, lists as array literals). It works on tokens, so
// names inside strings and after a dot (proc.name) are left alone.
func (p *parsed) expand(cond string, stack []string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(cond); {
		c := cond[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			j := i + 1
			for j < len(cond) && cond[j] != c {
				if cond[j] == '\\' && c != '`' {
					j++
				}
				j++
			}
			if j >= len(cond) {
				return "", fmt.Errorf("unterminated string starting at column %d", i+1)
			}
			b.WriteString(cond[i : j+1])
			i = j + 1
		case isIdentStart(c):
			j := i + 1
			for j < len(cond) && isIdentPart(cond[j]) {
				j++
			}
			word := cond[i:j]
			if afterDot(cond, i) {
				b.WriteString(word)
			} else if m := p.macros[word]; m != nil {
				if slices.Contains(stack, word) {
					return "", fmt.Errorf("macro %s uses itself (%s)", word, strings.Join(append(stack, word), " -> "))
				}
				sub, err := p.expand(m.condition, append(stack, word))
				if err != nil {
					return "", err
				}
				b.WriteString("(" + sub + ")")
			} else if l := p.lists[word]; l != nil {
				b.WriteString(listLiteral(l.items))
			} else {
				b.WriteString(word)
			}
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), nil
}

func listLiteral(items []string) string {
	return "[" + strings.Join(items, ", ") + "]"
}

func afterDot(s string, i int) bool {
	for i--; i >= 0; i-- {
		switch s[i] {
		case ' ', '\t', '\n', '\r':
			continue
		case '.':
			return true
		default:
			return false
		}
	}
	return false
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentPart(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }

func oneLine(err error) string {
	// expr errors carry a multi-line source snippet; keep the message and the
	// position, which Error already locates.
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
