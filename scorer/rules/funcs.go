package rules

import (
	"net/netip"
	"path"
	"strings"
	"sync"

	"github.com/expr-lang/expr"
)

// Intel answers reputation questions about what an event touches. Each
// lookup returns the category of the list that matched ("" when none), so a
// rule can tell a mining pool from a C&C server.
type Intel interface {
	IP(ip string) string
	Domain(name string) string
	Hash(sha256 string) string
	// DGA returns how likely a domain name was made by a domain generation
	// algorithm, in [0, 1].
	DGA(name string) float64
}

// noIntel answers "unknown" to everything, so rules using intel helpers still
// compile and run when no intel is configured.
type noIntel struct{}

func (noIntel) IP(string) string     { return "" }
func (noIntel) Domain(string) string { return "" }
func (noIntel) Hash(string) string   { return "" }
func (noIntel) DGA(string) float64   { return 0 }

// prefixes caches parsed CIDRs: conditions pass them as constants, so the
// cache stays as small as the rule pack.
var prefixes sync.Map // string -> netip.Prefix (or error)

func inCIDR(ip, cidr string) bool {
	v, ok := prefixes.Load(cidr)
	if !ok {
		p, err := netip.ParsePrefix(cidr)
		if err != nil {
			v = err
		} else {
			v = p.Masked()
		}
		prefixes.Store(cidr, v)
	}
	p, ok := v.(netip.Prefix)
	if !ok {
		return false
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	return p.Contains(a.Unmap())
}

// domainIn reports whether name is one of the domains or a subdomain of one.
func domainIn(name string, domains []any) bool {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	for _, d := range domains {
		s, _ := d.(string)
		if s == "" {
			continue
		}
		if name == s || (len(name) > len(s) && strings.HasSuffix(name, s) && name[len(name)-len(s)-1] == '.') {
			return true
		}
	}
	return false
}

// domainMatcher is domainIn for a fixed list, walking the name backwards
// through a trie of the reversed domains, lowercasing ASCII as it goes (no
// copy of the name, no pass per domain). A domain matches where it ends at
// the name's start or at a dot. Names with other than ASCII bytes take
// domainIn itself: strings.ToLower treats them as Unicode.
func domainMatcher(domains []string) func(string) bool {
	var t trie
	anyItems := make([]any, len(domains))
	for i, d := range domains {
		anyItems[i] = d
		if d != "" {
			t.add(reverse(d), 1)
		}
	}
	return func(name string) bool {
		n := len(name)
		for i := 0; i < n; i++ {
			if name[i] >= 0x80 {
				return domainIn(name, anyItems)
			}
		}
		if n > 0 && name[n-1] == '.' {
			n--
		}
		node := &t
		for i := n - 1; i >= 0; i-- {
			c := name[i]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			j := indexByte(node.bytes, c)
			if j < 0 {
				return false
			}
			node = node.next[j]
			if node.mask != 0 && (i == 0 || name[i-1] == '.') {
				return true
			}
		}
		return false
	}
}

func basename(p string) string {
	if p == "" {
		return ""
	}
	return path.Base(p)
}

// functions are the helpers conditions may call, on top of expr's builtins
// (startsWith, endsWith, contains, matches, lower, any, all, ...). Typed
// signatures let the checker reject bad calls at load time.
func functions(in Intel) []expr.Option {
	if in == nil {
		in = noIntel{}
	}
	str := func(p any) string { s, _ := p.(string); return s }
	return []expr.Option{
		expr.Function("basename", func(p ...any) (any, error) { return basename(str(p[0])), nil },
			new(func(string) string)),
		expr.Function("dirname", func(p ...any) (any, error) { return path.Dir(str(p[0])), nil },
			new(func(string) string)),
		expr.Function("glob", func(p ...any) (any, error) {
			ok, _ := path.Match(str(p[1]), str(p[0]))
			return ok, nil
		}, new(func(string, string) bool)),
		expr.Function("cidr", func(p ...any) (any, error) { return inCIDR(str(p[0]), str(p[1])), nil },
			new(func(string, string) bool)),
		expr.Function("in_cidrs", func(p ...any) (any, error) {
			ip := str(p[0])
			for _, c := range p[1].([]any) {
				if inCIDR(ip, str(c)) {
					return true, nil
				}
			}
			return false, nil
		}, new(func(string, []any) bool)),
		expr.Function("domain_in", func(p ...any) (any, error) { return domainIn(str(p[0]), p[1].([]any)), nil },
			new(func(string, []any) bool)),
		// argv_has: one argument equals s exactly.
		expr.Function("argv_has", func(p ...any) (any, error) {
			s := str(p[1])
			for _, a := range p[0].([]string) {
				if a == s {
					return true, nil
				}
			}
			return false, nil
		}, new(func([]string, string) bool)),
		// argv_contains: one argument contains s.
		expr.Function("argv_contains", func(p ...any) (any, error) {
			s := str(p[1])
			for _, a := range p[0].([]string) {
				if strings.Contains(a, s) {
					return true, nil
				}
			}
			return false, nil
		}, new(func([]string, string) bool)),
		// has_ancestor: an ancestor's executable basename is in names.
		expr.Function("has_ancestor", func(p ...any) (any, error) {
			names := p[1].([]any)
			for _, a := range p[0].([]string) {
				b := basename(a)
				for _, n := range names {
					if b == str(n) {
						return true, nil
					}
				}
			}
			return false, nil
		}, new(func([]string, []any) bool)),
		expr.Function("intel_ip", func(p ...any) (any, error) { return in.IP(str(p[0])), nil },
			new(func(string) string)),
		expr.Function("intel_domain", func(p ...any) (any, error) { return in.Domain(str(p[0])), nil },
			new(func(string) string)),
		expr.Function("intel_hash", func(p ...any) (any, error) { return in.Hash(str(p[0])), nil },
			new(func(string) string)),
		expr.Function("dga", func(p ...any) (any, error) { return in.DGA(str(p[0])), nil },
			new(func(string) float64)),
	}
}
