package rules

import (
	"strings"

	"github.com/expr-lang/expr/ast"
)

// Parts names the parts of an Env that are costly to fill and that rules
// for many kinds never read, so a caller filling one Env per event can skip
// them (see Set.Needs). Everything else in an Env is always read.
type Parts uint8

const (
	PartParent        Parts = 1 << iota // parent.*
	PartNet                             // net.*
	PartDNS                             // dns.*
	PartContainerMeta                   // container.* other than container.id
	AllParts          = PartParent | PartNet | PartDNS | PartContainerMeta
)

// partsRead returns the parts a condition reads. A reference to a whole
// group (net rather than net.dst_ip) counts as reading all of it.
func partsRead(n ast.Node) Parts {
	var v partsVisitor
	ast.Walk(&n, &v)
	var p Parts
	for _, m := range v.members {
		p |= partOf(fieldPath(m))
	}
	for _, id := range v.idents {
		if !v.bases[id] {
			p |= partOf(id.Value)
		}
	}
	return p
}

// partsVisitor collects field paths (member chains down to an identifier)
// and the identifiers that are not the start of one.
type partsVisitor struct {
	members []*ast.MemberNode
	idents  []*ast.IdentifierNode
	bases   map[*ast.IdentifierNode]bool
}

func (v *partsVisitor) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.MemberNode:
		if fieldPath(n) == "" {
			return
		}
		v.members = append(v.members, n)
		base := n.Node
		for {
			m, ok := base.(*ast.MemberNode)
			if !ok {
				break
			}
			base = m.Node
		}
		if id, ok := base.(*ast.IdentifierNode); ok {
			if v.bases == nil {
				v.bases = map[*ast.IdentifierNode]bool{}
			}
			v.bases[id] = true
		}
	case *ast.IdentifierNode:
		v.idents = append(v.idents, n)
	}
}

// partOf is the part a dotted field path (or a bare group name) belongs to.
func partOf(path string) Parts {
	group, field, _ := strings.Cut(path, ".")
	switch group {
	case "parent":
		return PartParent
	case "net":
		return PartNet
	case "dns":
		return PartDNS
	case "container":
		if field != "id" {
			return PartContainerMeta
		}
	}
	return 0
}
