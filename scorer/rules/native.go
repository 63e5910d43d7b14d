package rules

import (
	"regexp"
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
			return func(e *Env) string { return in.IP(arg(e)) }
		case "intel_domain":
			return func(e *Env) string { return in.Domain(arg(e)) }
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
				if len(items) <= 4 { // a few compares beat hashing
					return func(e *Env) bool {
						v := s(e)
						for _, it := range items {
							if v == it {
								return true
							}
						}
						return false
					}, true
				}
				set := make(map[string]struct{}, len(items))
				for _, it := range items {
					set[it] = struct{}{}
				}
				return func(e *Env) bool { _, ok := set[s(e)]; return ok }, true
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
			// An anchored pattern's literal prefix rejects most inputs
			// before the regexp engine starts.
			if prefix, _ := re.LiteralPrefix(); strings.HasPrefix(v, "^") && prefix != "" {
				return func(e *Env) bool { x := s(e); return strings.HasPrefix(x, prefix) && re.MatchString(x) }, true
			}
			return func(e *Env) bool { return re.MatchString(s(e)) }, true
		}
	}
	return always, false
}

// nativeChain compiles a run of the same boolean operator as one closure
// over its operands, cheapest first. Conditions are pure, so the order does
// not change the result; it only makes the common "no" answer cheaper.
func nativeChain(n *ast.BinaryNode, in Intel) (pred, bool) {
	and := n.Operator == "and" || n.Operator == "&&"
	var ops []ast.Node
	var flatten func(ast.Node)
	flatten = func(x ast.Node) {
		if b, ok := x.(*ast.BinaryNode); ok && (b.Operator == n.Operator || (and && b.Operator == "and") ||
			(and && b.Operator == "&&") || (!and && (b.Operator == "or" || b.Operator == "||"))) {
			flatten(b.Left)
			flatten(b.Right)
			return
		}
		ops = append(ops, x)
	}
	flatten(n)
	sort.SliceStable(ops, func(i, j int) bool { return cost(ops[i]) < cost(ops[j]) })
	fns := make([]pred, len(ops))
	exact := true
	for i, op := range ops {
		f, ok := native(op, in)
		fns[i], exact = f, exact && ok
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
		anyItems := make([]any, len(items))
		for i, it := range items {
			anyItems[i] = it
		}
		return func(e *Env) bool { return domainIn(s(e), anyItems) }, true
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
