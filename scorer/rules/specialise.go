package rules

import (
	"slices"

	"github.com/expr-lang/expr/ast"
)

// Every event has exactly one kind, and Set.Match already picks rules by it,
// so a condition's kind tests are known before it runs. specialise rewrites a
// condition for one kind: the tests become constants and the and/or/not
// around them simplify, which removes the string comparisons of kind from
// every evaluation, drops branches that cannot apply (the exec half of
// persistence_command for an open), and lets the closure compiler flatten
// and reorder what remains as one chain.

// specialise returns n as it reads for events of kind: equal to n for every
// event whose kind is kind. The tree n is not modified; unchanged subtrees
// are shared.
func specialise(n ast.Node, kind string) ast.Node {
	switch x := n.(type) {
	case *ast.IdentifierNode:
		if x.Value == "kind" {
			return &ast.StringNode{Value: kind}
		}
	case *ast.UnaryNode:
		if x.Operator != "not" && x.Operator != "!" {
			return n
		}
		c := specialise(x.Node, kind)
		if b, ok := c.(*ast.BoolNode); ok {
			return &ast.BoolNode{Value: !b.Value}
		}
		if c != x.Node {
			return &ast.UnaryNode{Operator: x.Operator, Node: c}
		}
	case *ast.BinaryNode:
		l, r := specialise(x.Left, kind), specialise(x.Right, kind)
		if v, ok := foldBinary(x.Operator, l, r); ok {
			return v
		}
		if l != x.Left || r != x.Right {
			return &ast.BinaryNode{Operator: x.Operator, Left: l, Right: r}
		}
	}
	return n
}

// foldBinary simplifies op over already specialised operands when a constant
// decides it.
func foldBinary(op string, l, r ast.Node) (ast.Node, bool) {
	lb, lok := l.(*ast.BoolNode)
	rb, rok := r.(*ast.BoolNode)
	switch op {
	case "and", "&&", "or", "||":
		// false decides an and, true an or; the other constant drops out.
		decides := isOr(op)
		switch {
		case lok && lb.Value == decides, rok && rb.Value == decides:
			return &ast.BoolNode{Value: decides}, true
		case lok:
			return r, true
		case rok:
			return l, true
		}
	case "==", "!=":
		ls, lok := l.(*ast.StringNode)
		rs, rok := r.(*ast.StringNode)
		if lok && rok {
			return &ast.BoolNode{Value: (ls.Value == rs.Value) == (op == "==")}, true
		}
	case "in":
		ls, lok := l.(*ast.StringNode)
		items, rok := constStrings(r)
		if lok && rok {
			return &ast.BoolNode{Value: slices.Contains(items, ls.Value)}, true
		}
	}
	return nil, false
}

// isConst reports whether n is the constant v.
func isConst(n ast.Node, v bool) bool {
	b, ok := n.(*ast.BoolNode)
	return ok && b.Value == v
}
