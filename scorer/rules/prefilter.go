package rules

import (
	"regexp"
	"slices"
	"strings"

	"github.com/expr-lang/expr/ast"
)

// Most events match no rule, yet each rule for the event's kind used to run
// at least its first test. The prefilter finds, for each rule and kind, a
// necessary condition made of cheap string tests on single fields (equals
// one of, starts with, ends with, base name equals one of) and indexes them
// all together per field: an event reads each indexed field once, looks it
// up in a map and walks a prefix and a suffix trie, and gets the set of
// rules whose condition can hold. Only those run. Rules without such a
// condition (intel lookups, flags, booleans) always run.

// atomKind is the kind of test an atom makes on its field.
type atomKind uint8

const (
	atomEq     atomKind = iota // the field equals value
	atomPrefix                 // the field starts with value
	atomSuffix                 // the field ends with value
	atomBase                   // basename(field) equals value
)

// atom is one test of a necessary condition: the condition can only hold
// if at least one of its atoms does.
type atom struct {
	field string // a key of strFields
	kind  atomKind
	value string
}

// necessary returns atoms of which at least one holds whenever n holds, or
// ok false when it finds none. ok with no atoms means n never holds.
func necessary(n ast.Node) (atoms []atom, ok bool) {
	switch n := n.(type) {
	case *ast.BoolNode:
		return nil, !n.Value
	case *ast.BinaryNode:
		switch n.Operator {
		case "and", "&&":
			// Any operand's necessary condition is the whole's; keep the
			// most selective.
			var best []atom
			found := false
			for _, op := range chain(n, isAnd) {
				if a, ok := necessary(op); ok && (!found || weight(a) < weight(best)) {
					best, found = a, true
				}
			}
			return best, found
		case "or", "||":
			var all []atom
			for _, op := range chain(n, isOr) {
				a, ok := necessary(op)
				if !ok {
					return nil, false
				}
				all = append(all, a...)
			}
			return all, true
		case "==":
			if f, k, ok := atomOperand(n.Left); ok {
				if c, ok := n.Right.(*ast.StringNode); ok {
					return checkBase([]atom{{f, k, c.Value}})
				}
			}
			if f, k, ok := atomOperand(n.Right); ok {
				if c, ok := n.Left.(*ast.StringNode); ok {
					return checkBase([]atom{{f, k, c.Value}})
				}
			}
		case "in":
			f, k, ok := atomOperand(n.Left)
			items, isConst := constStrings(n.Right)
			if ok && isConst {
				atoms := make([]atom, len(items))
				for i, it := range items {
					atoms[i] = atom{f, k, it}
				}
				return checkBase(atoms)
			}
		case "startsWith", "endsWith":
			f, k, ok := atomOperand(n.Left)
			c, isConst := n.Right.(*ast.StringNode)
			if ok && isConst && k == atomEq {
				k = atomPrefix
				if n.Operator == "endsWith" {
					k = atomSuffix
				}
				return []atom{{f, k, c.Value}}, true
			}
		case "matches":
			// An anchored pattern's literal prefix starts every match.
			f, k, ok := atomOperand(n.Left)
			c, isConst := n.Right.(*ast.StringNode)
			if ok && isConst && k == atomEq && strings.HasPrefix(c.Value, "^") {
				if re, err := regexp.Compile(c.Value); err == nil {
					if prefix, _ := re.LiteralPrefix(); prefix != "" {
						return []atom{{f, atomPrefix, prefix}}, true
					}
				}
			}
		}
	}
	return nil, false
}

// checkBase keeps atoms only if every base name among them is one the
// index can find: a base name x (no slash, not ".") is the field's last
// element, so the field, trailing slashes trimmed, ends with x. Other
// values (basename("/") is "/") are left to the rule itself.
func checkBase(atoms []atom) ([]atom, bool) {
	for _, a := range atoms {
		if a.kind == atomBase && (a.value == "" || a.value == "." || strings.Contains(a.value, "/")) {
			return nil, false
		}
	}
	return atoms, true
}

// chain flattens a run of one boolean operator.
func chain(n ast.Node, same func(string) bool) []ast.Node {
	if b, ok := n.(*ast.BinaryNode); ok && same(b.Operator) {
		return append(chain(b.Left, same), chain(b.Right, same)...)
	}
	return []ast.Node{n}
}

// atomOperand recognises a string field, or basename of one.
func atomOperand(n ast.Node) (field string, kind atomKind, ok bool) {
	if f := fieldPath(n); strFields[f] != nil {
		return f, atomEq, true
	}
	if c, ok := n.(*ast.CallNode); ok && len(c.Arguments) == 1 {
		if id, ok := c.Callee.(*ast.IdentifierNode); ok && id.Value == "basename" {
			if f := fieldPath(c.Arguments[0]); strFields[f] != nil {
				return f, atomBase, true
			}
		}
	}
	return "", 0, false
}

// weight is how often a set of atoms roughly lets an event through: exact
// values are rarer than prefixes and suffixes, short ones the commonest.
func weight(atoms []atom) float64 {
	w := 0.0
	for _, a := range atoms {
		switch a.kind {
		case atomEq, atomBase:
			w++
		default:
			w += 1 + 8/float64(len(a.value)+1)
		}
	}
	return w
}

// maxIndexed is how many of a kind's rules the prefilter tracks (one bit
// each); any beyond always run.
const maxIndexed = 64

// prefilter is one kind's index: candidates returns the rules (as bits over
// the kind's checks) that can match an event.
type prefilter struct {
	always uint64
	fields []*fieldIndex
}

// fieldIndex tests one field against every atom on it.
type fieldIndex struct {
	get    func(*Env) string
	eq     map[string]uint64
	eqLens uint64 // lengths (below 64) of the eq values, to skip the map
	prefix trie
	suffix trie
	// base holds base names as suffixes of the field with its trailing
	// slashes trimmed (see checkBase).
	base trie
}

// newPrefilter indexes the necessary conditions of a kind's checks.
func newPrefilter(checks []kindCheck) prefilter {
	var p prefilter
	byField := map[string]*fieldIndex{}
	for i, c := range checks[:min(len(checks), maxIndexed)] {
		bit := uint64(1) << i
		if !c.indexed {
			p.always |= bit
			continue
		}
		for _, a := range c.atoms {
			f := byField[a.field]
			if f == nil {
				f = &fieldIndex{get: strFields[a.field], eq: map[string]uint64{}}
				byField[a.field] = f
				p.fields = append(p.fields, f)
			}
			switch a.kind {
			case atomEq:
				f.eq[a.value] |= bit
				f.eqLens |= 1 << min(len(a.value), 63)
			case atomBase:
				f.base.add(reverse(a.value), bit)
			case atomPrefix:
				f.prefix.add(a.value, bit)
			case atomSuffix:
				f.suffix.add(reverse(a.value), bit)
			}
		}
	}
	return p
}

// candidates returns the bits of the checks that can match env.
func (p *prefilter) candidates(env *Env) uint64 {
	m := p.always
	for _, f := range p.fields {
		v := f.get(env)
		if len(f.eq) > 0 && f.eqLens&(1<<min(len(v), 63)) != 0 {
			m |= f.eq[v]
		}
		if !f.prefix.empty() {
			m |= f.prefix.match(v, 0, 1)
		}
		if !f.suffix.empty() {
			m |= f.suffix.match(v, len(v)-1, -1)
		}
		if !f.base.empty() {
			if n := len(v); n > 0 && v[n-1] == '/' {
				v = strings.TrimRight(v, "/")
			}
			m |= f.base.match(v, len(v)-1, -1)
		}
	}
	return m
}

// trie holds strings byte by byte; mask at a node marks the rules whose
// string ends there.
type trie struct {
	mask  uint64
	bytes []byte // edge labels, parallel to next
	next  []*trie
}

func (t *trie) empty() bool { return t.mask == 0 && len(t.bytes) == 0 }

func (t *trie) add(s string, bit uint64) {
	for i := 0; i < len(s); i++ {
		j := slices.Index(t.bytes, s[i])
		if j < 0 {
			t.bytes = append(t.bytes, s[i])
			t.next = append(t.next, &trie{})
			j = len(t.next) - 1
		}
		t = t.next[j]
	}
	t.mask |= bit
}

// match walks t along v's bytes from index i in steps of step (1: the
// strings in t that v starts with; -1 from the end, t holding reversed
// strings: those v ends with) and returns their rules.
func (t *trie) match(v string, i, step int) uint64 {
	m := t.mask
	for ; uint(i) < uint(len(v)); i += step {
		j := indexByte(t.bytes, v[i])
		if j < 0 {
			break
		}
		t = t.next[j]
		m |= t.mask
	}
	return m
}

func indexByte(bs []byte, b byte) int {
	for i, x := range bs {
		if x == b {
			return i
		}
	}
	return -1
}

func reverse(s string) string {
	b := []byte(s)
	slices.Reverse(b)
	return string(b)
}
