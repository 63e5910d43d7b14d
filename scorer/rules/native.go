package rules

import (
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/expr-lang/expr/ast"
)

// The expr VM reads struct fields through reflection, which costs a few
// hundred nanoseconds per condition (see BenchmarkLanguage). Most conditions
// are conjunctions of field-vs-constant tests, so they are also compiled
// here into plain Go closures. A condition the closure compiler covers fully
// never reaches the VM; for the rest the closure is a necessary condition (a
// guard) and the VM only runs when the guard passes, which for a detection
// rule is rare.

type pred func(*Env) bool

var (
	strFields = map[string]func(*Env) string{
		"kind": func(e *Env) string { return e.Kind }, "path": func(e *Env) string { return e.Path },
		"new_path": func(e *Env) string { return e.NewPath }, "module": func(e *Env) string { return e.Module },
		"proc.name": func(e *Env) string { return e.Proc.Name }, "proc.exe": func(e *Env) string { return e.Proc.Exe },
		"proc.exe_name": func(e *Env) string { return e.Proc.ExeName },
		"proc.cmdline":  func(e *Env) string { return e.Proc.Cmdline },
		"proc.cwd":      func(e *Env) string { return e.Proc.Cwd }, "proc.sha256": func(e *Env) string { return e.Proc.SHA256 },
		"parent.name": func(e *Env) string { return e.Parent.Name }, "parent.exe": func(e *Env) string { return e.Parent.Exe },
		"parent.exe_name": func(e *Env) string { return e.Parent.ExeName },
		"parent.cmdline":  func(e *Env) string { return e.Parent.Cmdline },
		"net.src_ip":      func(e *Env) string { return e.Net.SrcIP }, "net.dst_ip": func(e *Env) string { return e.Net.DstIP },
		"dns.name":     func(e *Env) string { return e.DNS.Name },
		"container.id": func(e *Env) string { return e.Container.ID }, "container.name": func(e *Env) string { return e.Container.Name },
		"container.image":       func(e *Env) string { return e.Container.Image },
		"container.workload":    func(e *Env) string { return e.Container.Workload },
		"container.cluster":     func(e *Env) string { return e.Container.Cluster },
		"container.task_family": func(e *Env) string { return e.Container.TaskFamily },
	}
	intFields = map[string]func(*Env) int{
		"syscall": func(e *Env) int { return e.Syscall }, "ret": func(e *Env) int { return e.Ret },
		"flags": func(e *Env) int { return e.Flags }, "mode": func(e *Env) int { return e.Mode },
		"target_pid": func(e *Env) int { return e.TargetPID },
		"proc.pid":   func(e *Env) int { return e.Proc.PID }, "proc.ppid": func(e *Env) int { return e.Proc.PPID },
		"proc.ns_pid": func(e *Env) int { return e.Proc.NSPID }, "proc.uid": func(e *Env) int { return e.Proc.UID },
		"proc.euid": func(e *Env) int { return e.Proc.EUID }, "proc.prev_euid": func(e *Env) int { return e.Proc.PrevEUID },
		"proc.gid":   func(e *Env) int { return e.Proc.GID },
		"net.family": func(e *Env) int { return e.Net.Family }, "net.proto": func(e *Env) int { return e.Net.Proto },
		"net.src_port": func(e *Env) int { return e.Net.SrcPort }, "net.dst_port": func(e *Env) int { return e.Net.DstPort },
		"dns.type": func(e *Env) int { return e.DNS.Type },
	}
	boolFields = map[string]func(*Env) bool{
		"path_written":     func(e *Env) bool { return e.PathWritten },
		"proc.exe_written": func(e *Env) bool { return e.Proc.ExeWritten },
		"proc.listener":    func(e *Env) bool { return e.Proc.Listener },
		"parent.listener":  func(e *Env) bool { return e.Parent.Listener },
	}
	listFields = map[string]func(*Env) []string{
		"proc.argv": func(e *Env) []string { return e.Proc.Argv }, "proc.ancestors": func(e *Env) []string { return e.Proc.Ancestors },
		"dns.answers": func(e *Env) []string { return e.DNS.Answers },
	}
)

func always(*Env) bool { return true }

// fieldPath turns `proc.exe` (a MemberNode) or `kind` into its dotted name.
func fieldPath(n ast.Node) string {
	switch n := n.(type) {
	case *ast.IdentifierNode:
		return n.Value
	case *ast.MemberNode:
		if n.Optional || n.Method {
			return ""
		}
		p, ok := n.Property.(*ast.StringNode)
		base := fieldPath(n.Node)
		if !ok || base == "" {
			return ""
		}
		return base + "." + p.Value
	}
	return ""
}

// strExpr compiles a string-valued node: a field, a constant, or a call of a
// pure string helper.
func strExpr(n ast.Node, in Intel) func(*Env) string {
	if f := strFields[fieldPath(n)]; f != nil {
		return f
	}
	switch n := n.(type) {
	case *ast.PointerNode:
		if n.Name == "" { // # inside any()/all() over a string list
			return func(e *Env) string { return e.elem }
		}
	case *ast.StringNode:
		v := n.Value
		return func(*Env) string { return v }
	case *ast.CallNode:
		id, ok := n.Callee.(*ast.IdentifierNode)
		if !ok || len(n.Arguments) != 1 {
			return nil
		}
		arg := strExpr(n.Arguments[0], in)
		if arg == nil {
			return nil
		}
		switch id.Value {
		case "intel_ip":
			return func(e *Env) string {
				x, m := arg(e), &e.memo
				if !m.ipOK || m.ip != x {
					m.ip, m.ipCat, m.ipOK = x, in.IP(x), true
				}
				return m.ipCat
			}
		case "intel_domain":
			return func(e *Env) string {
				x, m := arg(e), &e.memo
				if !m.domainOK || m.domain != x {
					m.domain, m.domainCat, m.domainOK = x, in.Domain(x), true
				}
				return m.domainCat
			}
		case "intel_hash":
			return func(e *Env) string { return in.Hash(arg(e)) }
		case "basename":
			return func(e *Env) string { return basename(arg(e)) }
		case "lower":
			return func(e *Env) string { return strings.ToLower(arg(e)) }
		}
	case *ast.BuiltinNode:
		if n.Name == "lower" && len(n.Arguments) == 1 {
			if arg := strExpr(n.Arguments[0], in); arg != nil {
				return func(e *Env) string { return strings.ToLower(arg(e)) }
			}
		}
	}
	return nil
}

// intExpr compiles an int-valued node: a field, a constant, len(list) or
// bitand(int, int).
func intExpr(n ast.Node, in Intel) func(*Env) int {
	if f := intFields[fieldPath(n)]; f != nil {
		return f
	}
	switch n := n.(type) {
	case *ast.IntegerNode:
		v := n.Value
		return func(*Env) int { return v }
	case *ast.UnaryNode:
		if n.Operator == "-" {
			if in, ok := n.Node.(*ast.IntegerNode); ok {
				v := -in.Value
				return func(*Env) int { return v }
			}
		}
	case *ast.BuiltinNode:
		switch {
		case n.Name == "len" && len(n.Arguments) == 1:
			if l := listFields[fieldPath(n.Arguments[0])]; l != nil {
				return func(e *Env) int { return len(l(e)) }
			}
			if s := strExpr(n.Arguments[0], in); s != nil {
				return func(e *Env) int { return len(s(e)) }
			}
		case n.Name == "bitand" && len(n.Arguments) == 2:
			a, b := intExpr(n.Arguments[0], in), intExpr(n.Arguments[1], in)
			if a != nil && b != nil {
				return func(e *Env) int { return a(e) & b(e) }
			}
		}
	}
	return nil
}

// floatExpr compiles a float-valued node: a number or dga(string).
func floatExpr(n ast.Node, in Intel) func(*Env) float64 {
	switch n := n.(type) {
	case *ast.FloatNode:
		v := n.Value
		return func(*Env) float64 { return v }
	case *ast.IntegerNode:
		v := float64(n.Value)
		return func(*Env) float64 { return v }
	case *ast.CallNode:
		id, ok := n.Callee.(*ast.IdentifierNode)
		if ok && id.Value == "dga" && len(n.Arguments) == 1 {
			if arg := strExpr(n.Arguments[0], in); arg != nil {
				return func(e *Env) float64 { return in.DGA(arg(e)) }
			}
		}
	}
	return nil
}

// constStrings returns the items of an array literal of strings.
func constStrings(n ast.Node) ([]string, bool) {
	arr, ok := n.(*ast.ArrayNode)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(arr.Nodes))
	for _, e := range arr.Nodes {
		s, ok := e.(*ast.StringNode)
		if !ok {
			return nil, false
		}
		out = append(out, s.Value)
	}
	return out, true
}

func constInts(n ast.Node) ([]int, bool) {
	arr, ok := n.(*ast.ArrayNode)
	if !ok {
		return nil, false
	}
	out := make([]int, 0, len(arr.Nodes))
	for _, e := range arr.Nodes {
		i, ok := e.(*ast.IntegerNode)
		if !ok {
			return nil, false
		}
		out = append(out, i.Value)
	}
	return out, true
}

// native compiles a boolean node. exact reports whether fn computes the
// node's value; when it does not, fn is only a necessary condition (it
// returns true whenever the node might be true).
func native(n ast.Node, in Intel) (fn pred, exact bool) {
	if f := boolFields[fieldPath(n)]; f != nil {
		return f, true
	}
	switch n := n.(type) {
	case *ast.BoolNode:
		v := n.Value
		return func(*Env) bool { return v }, true
	case *ast.UnaryNode:
		if n.Operator == "not" || n.Operator == "!" {
			if f, ok := native(n.Node, in); ok {
				return func(e *Env) bool { return !f(e) }, true
			}
		}
	case *ast.BinaryNode:
		return nativeBinary(n, in)
	case *ast.CallNode:
		return nativeCall(n, in)
	case *ast.BuiltinNode:
		return nativeBuiltin(n, in)
	}
	return always, false
}

// nativeBuiltin compiles any(list, {pred}) and all(list, {pred}) over a
// string list field; the predicate sees the element as #.
func nativeBuiltin(n *ast.BuiltinNode, in Intel) (pred, bool) {
	if (n.Name != "any" && n.Name != "all") || len(n.Arguments) != 2 {
		return always, false
	}
	list := listFields[fieldPath(n.Arguments[0])]
	body, ok := n.Arguments[1].(*ast.PredicateNode)
	if list == nil || !ok {
		return always, false
	}
	p, exact := native(body.Node, in)
	if !exact {
		return always, false
	}
	if n.Name == "any" {
		return func(e *Env) bool {
			for _, x := range list(e) {
				e.elem = x
				if p(e) {
					return true
				}
			}
			return false
		}, true
	}
	return func(e *Env) bool {
		for _, x := range list(e) {
			e.elem = x
			if !p(e) {
				return false
			}
		}
		return true
	}, true
}

func nativeBinary(n *ast.BinaryNode, in Intel) (pred, bool) {
	switch n.Operator {
	case "and", "&&", "or", "||":
		return nativeChain(n, in)
	case "==", "!=":
		eq := n.Operator == "=="
		if a, b := strExpr(n.Left, in), strExpr(n.Right, in); a != nil && b != nil {
			return func(e *Env) bool { return (a(e) == b(e)) == eq }, true
		}
		if a, b := intExpr(n.Left, in), intExpr(n.Right, in); a != nil && b != nil {
			return func(e *Env) bool { return (a(e) == b(e)) == eq }, true
		}
	case "<", "<=", ">", ">=":
		a, b := intExpr(n.Left, in), intExpr(n.Right, in)
		if a == nil || b == nil {
			fa, fb := floatExpr(n.Left, in), floatExpr(n.Right, in)
			if fa == nil || fb == nil {
				break
			}
			switch n.Operator {
			case "<":
				return func(e *Env) bool { return fa(e) < fb(e) }, true
			case "<=":
				return func(e *Env) bool { return fa(e) <= fb(e) }, true
			case ">":
				return func(e *Env) bool { return fa(e) > fb(e) }, true
			default:
				return func(e *Env) bool { return fa(e) >= fb(e) }, true
			}
		}
		switch n.Operator {
		case "<":
			return func(e *Env) bool { return a(e) < b(e) }, true
		case "<=":
			return func(e *Env) bool { return a(e) <= b(e) }, true
		case ">":
			return func(e *Env) bool { return a(e) > b(e) }, true
		default:
			return func(e *Env) bool { return a(e) >= b(e) }, true
		}
	case "in":
		if items, ok := constStrings(n.Right); ok {
			if s := strExpr(n.Left, in); s != nil {
				member := stringSet(items)
				return func(e *Env) bool { return member(s(e)) }, true
			}
		}
		if items, ok := constInts(n.Right); ok {
			if i := intExpr(n.Left, in); i != nil {
				if len(items) <= 16 {
					return func(e *Env) bool {
						v := i(e)
						for _, it := range items {
							if v == it {
								return true
							}
						}
						return false
					}, true
				}
				set := make(map[int]struct{}, len(items))
				for _, it := range items {
					set[it] = struct{}{}
				}
				return func(e *Env) bool { _, ok := set[i(e)]; return ok }, true
			}
		}
	case "startsWith", "endsWith", "contains", "matches":
		s := strExpr(n.Left, in)
		c, ok := n.Right.(*ast.StringNode)
		if s == nil || !ok {
			break
		}
		v := c.Value
		switch n.Operator {
		case "startsWith":
			return func(e *Env) bool { return strings.HasPrefix(s(e), v) }, true
		case "endsWith":
			return func(e *Env) bool { return strings.HasSuffix(s(e), v) }, true
		case "contains":
			return func(e *Env) bool { return strings.Contains(s(e), v) }, true
		default:
			re, err := regexp.Compile(v)
			if err != nil {
				break // the VM compile reports it
			}
			// Every match starts with the pattern's literal prefix, so an
			// input must start with it (anchored pattern) or contain it:
			// that rejects most inputs before the regexp engine starts.
			if prefix, _ := re.LiteralPrefix(); prefix != "" {
				if strings.HasPrefix(v, "^") {
					return func(e *Env) bool { x := s(e); return strings.HasPrefix(x, prefix) && re.MatchString(x) }, true
				}
				return func(e *Env) bool { x := s(e); return strings.Contains(x, prefix) && re.MatchString(x) }, true
			}
			return func(e *Env) bool { return re.MatchString(s(e)) }, true
		}
	}
	return always, false
}

// nativeChain compiles a run of the same boolean operator as one closure
// over its operands, the most promising first: for an and, the operands
// most likely to answer "no" for their price (cost over the chance of
// false), for an or those most likely to answer "yes". Conditions are pure,
// so the order does not change the result; it only makes the common answer
// cheaper. In an or, tests of one string against constants (==, in,
// startsWith, endsWith) and flag tests of one number (bitand(x, c) != 0)
// merge into a single test that reads the operand once.
func nativeChain(n *ast.BinaryNode, in Intel) (pred, bool) {
	and := isAnd(n.Operator)
	nodes := chain(n, isAnd)
	if !and {
		nodes = chain(n, isOr)
	}
	var ops []operand
	if !and {
		ops, nodes = mergeTests(nodes, in)
	}
	for _, x := range nodes {
		f, ok := native(x, in)
		ops = append(ops, operand{fn: f, exact: ok, cost: float64(cost(x)), pass: pass(x)})
	}
	rank := func(o operand) float64 {
		p := o.pass
		if and {
			p = 1 - p
		}
		return (o.cost + 1) / max(p, 1e-3)
	}
	sort.SliceStable(ops, func(i, j int) bool { return rank(ops[i]) < rank(ops[j]) })
	fns := make([]pred, len(ops))
	exact := true
	for i, op := range ops {
		fns[i], exact = op.fn, exact && op.exact
	}
	if len(fns) == 1 {
		return fns[0], exact
	}
	if and {
		if len(fns) == 2 {
			a, b := fns[0], fns[1]
			return func(e *Env) bool { return a(e) && b(e) }, exact
		}
		return func(e *Env) bool {
			for _, f := range fns {
				if !f(e) {
					return false
				}
			}
			return true
		}, exact
	}
	if len(fns) == 2 {
		a, b := fns[0], fns[1]
		return func(e *Env) bool { return a(e) || b(e) }, exact
	}
	return func(e *Env) bool {
		for _, f := range fns {
			if f(e) {
				return true
			}
		}
		return false
	}, exact
}

func isAnd(op string) bool { return op == "and" || op == "&&" }
func isOr(op string) bool  { return op == "or" || op == "||" }

// operand is one compiled member of an and/or chain with what ordering
// needs to know about it.
type operand struct {
	fn         pred
	exact      bool
	cost, pass float64
}

// mergeTests takes the operands of an or that test one string operand
// against constants, or one number for flag bits, and compiles each such
// group of two or more into one operand; it returns those and the nodes
// left to compile one by one, in their original order.
func mergeTests(nodes []ast.Node, in Intel) ([]operand, []ast.Node) {
	// A group is the operands testing one string (eq, prefix, suffix) or
	// one number's bits (mask), keyed by the operand's source text.
	type group struct {
		operand            ast.Node
		flags              bool
		eq, prefix, suffix []string
		mask               int
		members            []int
		cost, fail         float64
	}
	var groups []*group
	byKey := map[string]*group{}
	join := func(key string, o ast.Node, flags bool, i int) *group {
		g := byKey[key]
		if g == nil {
			g = &group{operand: o, flags: flags, fail: 1}
			byKey[key] = g
			groups = append(groups, g)
		}
		g.members = append(g.members, i)
		g.cost += float64(cost(nodes[i]))
		g.fail *= 1 - pass(nodes[i])
		return g
	}
	for i, x := range nodes {
		if o, op, consts, ok := stringTest(x); ok && strExpr(o, in) != nil {
			g := join("s:"+o.String(), o, false, i)
			switch op {
			case "startsWith":
				g.prefix = append(g.prefix, consts...)
			case "endsWith":
				g.suffix = append(g.suffix, consts...)
			default:
				g.eq = append(g.eq, consts...)
			}
		} else if o, mask, ok := bitTest(x); ok && intExpr(o, in) != nil {
			join("b:"+o.String(), o, true, i).mask |= mask
		}
	}
	merged := make([]bool, len(nodes))
	var ops []operand
	for _, g := range groups {
		if len(g.members) < 2 {
			continue
		}
		for _, i := range g.members {
			merged[i] = true
		}
		if g.flags {
			v, mask := intExpr(g.operand, in), g.mask
			ops = append(ops, operand{fn: func(e *Env) bool { return v(e)&mask != 0 }, exact: true, cost: 2, pass: 1 - g.fail})
			continue
		}
		// Reading the operand once is the saving; the tests cost as before.
		s, m := strExpr(g.operand, in), stringMatcher(g.eq, g.prefix, g.suffix)
		ops = append(ops, operand{fn: func(e *Env) bool { return m(s(e)) }, exact: true, cost: g.cost, pass: 1 - g.fail})
	}
	var rest []ast.Node
	for i, x := range nodes {
		if !merged[i] {
			rest = append(rest, x)
		}
	}
	return ops, rest
}

// stringTest recognises operand == "c", "c" == operand, operand in [...],
// operand startsWith "c" and operand endsWith "c".
func stringTest(n ast.Node) (operand ast.Node, op string, consts []string, ok bool) {
	b, ok := n.(*ast.BinaryNode)
	if !ok {
		return nil, "", nil, false
	}
	switch b.Operator {
	case "==":
		if c, ok := b.Right.(*ast.StringNode); ok {
			return b.Left, "==", []string{c.Value}, true
		}
		if c, ok := b.Left.(*ast.StringNode); ok {
			return b.Right, "==", []string{c.Value}, true
		}
	case "in":
		if items, ok := constStrings(b.Right); ok {
			return b.Left, "==", items, true
		}
	case "startsWith", "endsWith":
		if c, ok := b.Right.(*ast.StringNode); ok {
			return b.Left, b.Operator, []string{c.Value}, true
		}
	}
	return nil, "", nil, false
}

// bitTest recognises bitand(operand, c) != 0 (either argument order).
func bitTest(n ast.Node) (operand ast.Node, mask int, ok bool) {
	b, ok := n.(*ast.BinaryNode)
	if !ok || b.Operator != "!=" {
		return nil, 0, false
	}
	call, zero := b.Left, b.Right
	if z, ok := zero.(*ast.IntegerNode); !ok || z.Value != 0 {
		call, zero = b.Right, b.Left
		if z, ok := zero.(*ast.IntegerNode); !ok || z.Value != 0 {
			return nil, 0, false
		}
	}
	f, ok := call.(*ast.BuiltinNode)
	if !ok || f.Name != "bitand" || len(f.Arguments) != 2 {
		return nil, 0, false
	}
	if c, ok := f.Arguments[1].(*ast.IntegerNode); ok {
		return f.Arguments[0], c.Value, true
	}
	if c, ok := f.Arguments[0].(*ast.IntegerNode); ok {
		return f.Arguments[1], c.Value, true
	}
	return nil, 0, false
}

// stringMatcher returns a test for "equals one of eq, starts with one of
// prefix or ends with one of suffix".
func stringMatcher(eq, prefix, suffix []string) func(string) bool {
	in := stringSet(eq)
	return func(v string) bool {
		if in(v) {
			return true
		}
		for _, p := range prefix {
			if strings.HasPrefix(v, p) {
				return true
			}
		}
		for _, s := range suffix {
			if strings.HasSuffix(v, s) {
				return true
			}
		}
		return false
	}
}

// stringSet returns a membership test for items: a few compares beat
// hashing, more do not; and most values (paths above all) are turned away
// by their length before either.
func stringSet(items []string) func(string) bool {
	if len(items) == 0 {
		return func(string) bool { return false }
	}
	// lens has bit n set when an item is n bytes long (n < 64); longer
	// values always go on to the full test.
	var lens uint64
	for _, it := range items {
		if len(it) < 64 {
			lens |= 1 << len(it)
		} else {
			lens |= 1 << 63
		}
	}
	fits := func(v string) bool { return lens&(1<<min(len(v), 63)) != 0 }
	if len(items) <= 4 {
		return func(v string) bool { return fits(v) && slices.Contains(items, v) }
	}
	set := make(map[string]struct{}, len(items))
	for _, it := range items {
		set[it] = struct{}{}
	}
	return func(v string) bool {
		if !fits(v) {
			return false
		}
		_, ok := set[v]
		return ok
	}
}

// pass is a rough chance that a node is true for an ordinary event, used
// with cost to order chains: tests against a specific constant rarely
// hold, tests against the empty string or zero are a toss-up, a flag bit
// is usually clear.
func pass(n ast.Node) float64 {
	switch n := n.(type) {
	case *ast.BoolNode:
		if n.Value {
			return 1
		}
		return 0
	case *ast.UnaryNode:
		if n.Operator == "not" || n.Operator == "!" {
			return 1 - pass(n.Node)
		}
	case *ast.BinaryNode:
		switch n.Operator {
		case "and", "&&":
			return pass(n.Left) * pass(n.Right)
		case "or", "||":
			return 1 - (1-pass(n.Left))*(1-pass(n.Right))
		case "==":
			return eqPass(n)
		case "!=":
			if _, _, ok := bitTest(n); ok {
				return 0.2 // a flag bit is set: most flags are clear
			}
			return 1 - eqPass(n)
		case "in", "startsWith", "endsWith", "contains", "matches":
			return 0.05
		}
	case *ast.CallNode:
		if id, ok := n.Callee.(*ast.IdentifierNode); ok {
			switch id.Value {
			case "argv_has", "argv_contains", "has_ancestor", "domain_in", "cidr", "in_cidrs", "glob":
				return 0.05
			}
		}
	case *ast.BuiltinNode:
		if n.Name == "any" {
			return 0.05
		}
	}
	return 0.5
}

func eqPass(n *ast.BinaryNode) float64 {
	if isZero(n.Left) || isZero(n.Right) {
		return 0.5
	}
	return 0.05
}

func isZero(n ast.Node) bool {
	switch n := n.(type) {
	case *ast.StringNode:
		return n.Value == ""
	case *ast.IntegerNode:
		return n.Value == 0
	}
	return false
}

// cost is a rough relative price of evaluating a node natively, used only to
// order conjunctions and disjunctions.
func cost(n ast.Node) int {
	switch n := n.(type) {
	case *ast.BinaryNode:
		switch n.Operator {
		case "and", "&&", "or", "||":
			return cost(n.Left) + cost(n.Right)
		case "==", "!=", "<", "<=", ">", ">=":
			return 1 + cost(n.Left) + cost(n.Right)
		case "in", "startsWith", "endsWith":
			return 2 + cost(n.Left)
		case "contains":
			return 4 + cost(n.Left)
		case "matches":
			return 25 + cost(n.Left)
		}
		return 50
	case *ast.UnaryNode:
		return cost(n.Node)
	case *ast.CallNode:
		c := 0
		for _, a := range n.Arguments {
			c += cost(a)
		}
		if id, ok := n.Callee.(*ast.IdentifierNode); ok {
			switch id.Value {
			case "basename", "dirname", "lower":
				return 2 + c
			case "argv_has", "argv_contains":
				return 6 + c
			case "has_ancestor", "intel_ip", "intel_domain", "intel_hash", "domain_in":
				return 10 + c
			case "cidr", "in_cidrs", "glob":
				return 15 + c
			case "dga":
				return 60 + c
			}
		}
		return 50 + c
	case *ast.BuiltinNode:
		switch n.Name {
		case "len", "bitand":
			return 1
		}
		return 30
	case *ast.IdentifierNode, *ast.MemberNode, *ast.StringNode, *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.ArrayNode:
		return 0
	}
	return 50
}

func nativeCall(n *ast.CallNode, in Intel) (pred, bool) {
	id, ok := n.Callee.(*ast.IdentifierNode)
	if !ok || len(n.Arguments) != 2 {
		return always, false
	}
	a0, a1 := n.Arguments[0], n.Arguments[1]
	switch id.Value {
	case "argv_has", "argv_contains":
		l := listFields[fieldPath(a0)]
		c, ok := a1.(*ast.StringNode)
		if l == nil || !ok {
			break
		}
		v, has := c.Value, id.Value == "argv_has"
		return func(e *Env) bool {
			for _, a := range l(e) {
				if (has && a == v) || (!has && strings.Contains(a, v)) {
					return true
				}
			}
			return false
		}, true
	case "has_ancestor":
		l := listFields[fieldPath(a0)]
		names, ok := constStrings(a1)
		if l == nil || !ok {
			break
		}
		return func(e *Env) bool {
			for _, a := range l(e) {
				b := basename(a)
				for _, n := range names {
					if b == n {
						return true
					}
				}
			}
			return false
		}, true
	case "domain_in":
		s := strExpr(a0, in)
		items, ok := constStrings(a1)
		if s == nil || !ok {
			break
		}
		in := domainMatcher(items)
		return func(e *Env) bool { return in(s(e)) }, true
	case "cidr":
		s := strExpr(a0, in)
		c, ok := a1.(*ast.StringNode)
		if s == nil || !ok {
			break
		}
		v := c.Value
		return func(e *Env) bool { return inCIDR(s(e), v) }, true
	}
	return always, false
}
