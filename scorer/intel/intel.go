// Package intel holds threat intelligence: lists of IP addresses and CIDRs,
// domains and SHA-256 hashes, each with a category ("c2", "mining",
// "malicious", ...), plus a DGA score for domain names. Lists are plain text
// files, local or on S3, and can be reloaded while the agent runs.
package intel

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/vigilsec/vigil/internal/blob"
)

// List names one intel file and the category its indicators belong to.
type List struct {
	// URL is a local path or s3://bucket/key (with blob's optional
	// endpoint=, region=, path_style= query parameters).
	URL      string `yaml:"url" json:"url"`
	Category string `yaml:"category" json:"category"`
}

// Set is one immutable generation of loaded indicators.
type Set struct {
	ips      map[netip.Addr]string
	prefixes map[int]map[netip.Prefix]string // by prefix length
	lengths  []int                           // prefix lengths present, longest first
	domains  map[string]string
	hashes   map[string]string
	dga      *DGAModel
	// Skipped counts lines that were neither an IP, a CIDR, a hash nor a
	// domain name; LoadErrors keeps the first few for the operator.
	Skipped int
	Counts  map[string]int // indicators by kind: ip, cidr, domain, sha256
}

// NewSet returns an empty set scoring DGA with model (nil: no DGA scores).
func NewSet(model *DGAModel) *Set {
	return &Set{
		ips: map[netip.Addr]string{}, prefixes: map[int]map[netip.Prefix]string{},
		domains: map[string]string{}, hashes: map[string]string{}, dga: model,
		Counts: map[string]int{},
	}
}

// Parse adds the indicators in data (one per line; '#' starts a comment) to
// the set under category. It returns the line numbers of lines it could not
// read, so a bad line is reported rather than silently dropped.
func (s *Set) Parse(data []byte, category string) (bad []int) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if !s.Add(line, category) {
			bad = append(bad, n)
			s.Skipped++
		}
	}
	return bad
}

// Add adds one indicator; it reports false when ind is not an IP, CIDR,
// SHA-256 or domain name.
func (s *Set) Add(ind, category string) bool {
	if a, err := netip.ParseAddr(ind); err == nil {
		s.ips[a.Unmap()] = category
		s.Counts["ip"]++
		return true
	}
	if p, err := netip.ParsePrefix(ind); err == nil {
		p = p.Masked()
		m := s.prefixes[p.Bits()]
		if m == nil {
			m = map[netip.Prefix]string{}
			s.prefixes[p.Bits()] = m
			s.lengths = append(s.lengths, p.Bits())
			slices.Sort(s.lengths)
			slices.Reverse(s.lengths)
		}
		m[p] = category
		s.Counts["cidr"]++
		return true
	}
	if len(ind) == 64 && isHex(ind) {
		s.hashes[strings.ToLower(ind)] = category
		s.Counts["sha256"]++
		return true
	}
	if d, ok := normDomain(ind); ok {
		s.domains[d] = category
		s.Counts["domain"]++
		return true
	}
	return false
}

// IP returns the category of the list holding ip or a CIDR containing it.
func (s *Set) IP(ip string) string {
	if len(s.ips) == 0 && len(s.lengths) == 0 {
		return ""
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ""
	}
	a = a.Unmap()
	if c, ok := s.ips[a]; ok {
		return c
	}
	for _, bits := range s.lengths {
		if bits > a.BitLen() {
			continue
		}
		p, err := a.Prefix(bits)
		if err != nil {
			continue
		}
		if c, ok := s.prefixes[bits][p]; ok {
			return c
		}
	}
	return ""
}

// Domain returns the category of the list holding name or one of its parent
// domains (a listed evil.example also matches cdn.evil.example).
func (s *Set) Domain(name string) string {
	if len(s.domains) == 0 {
		return ""
	}
	d, ok := normDomain(name)
	if !ok {
		return ""
	}
	for {
		if c, ok := s.domains[d]; ok {
			return c
		}
		i := strings.IndexByte(d, '.')
		if i < 0 {
			return ""
		}
		d = d[i+1:]
	}
}

// Hash returns the category of the list holding the SHA-256.
func (s *Set) Hash(sha string) string {
	if len(s.hashes) == 0 || len(sha) != 64 {
		return ""
	}
	if c, ok := s.hashes[sha]; ok {
		return c
	}
	return s.hashes[strings.ToLower(sha)]
}

// DGA scores name with the set's model.
func (s *Set) DGA(name string) float64 {
	if s.dga == nil {
		return 0
	}
	return s.dga.Score(name)
}

// Holder is the intel the rules query: reads always see one complete
// generation, and Reload swaps in a new one only when it loaded.
type Holder struct {
	cur   atomic.Pointer[Set]
	lists []List
	model *DGAModel
}

// NewHolder returns a holder for lists, scoring DGA with model.
func NewHolder(lists []List, model *DGAModel) *Holder {
	h := &Holder{lists: lists, model: model}
	h.cur.Store(NewSet(model))
	return h
}

// Reload reads every list again. When a list cannot be read the previous
// generation stays in place and the error says which list failed; lines that
// are not indicators are reported but do not stop the load.
func (h *Holder) Reload(ctx context.Context) (*Set, error) {
	s := NewSet(h.model)
	var warnings []string
	for _, l := range h.lists {
		data, err := Fetch(ctx, l.URL)
		if err != nil {
			return h.cur.Load(), fmt.Errorf("intel list %s: %w (keeping the previous lists)", l.URL, err)
		}
		if bad := s.Parse(data, l.Category); len(bad) > 0 {
			warnings = append(warnings, fmt.Sprintf("%s: %d lines are not indicators (first at line %d)", l.URL, len(bad), bad[0]))
		}
	}
	h.cur.Store(s)
	if len(warnings) > 0 {
		return s, fmt.Errorf("intel: %s", strings.Join(warnings, "; "))
	}
	return s, nil
}

// Current returns the live generation.
func (h *Holder) Current() *Set { return h.cur.Load() }

func (h *Holder) IP(ip string) string       { return h.cur.Load().IP(ip) }
func (h *Holder) Domain(name string) string { return h.cur.Load().Domain(name) }
func (h *Holder) Hash(sha string) string    { return h.cur.Load().Hash(sha) }
func (h *Holder) DGA(name string) float64   { return h.cur.Load().DGA(name) }

// Fetch reads one object named by a local path or an s3:// URL.
func Fetch(ctx context.Context, raw string) ([]byte, error) {
	root, key := splitURL(raw)
	st, err := blob.Open(ctx, root)
	if err != nil {
		return nil, err
	}
	return st.Get(ctx, key)
}

// splitURL splits an object URL into a blob root (its directory, keeping
// query parameters) and the key.
func splitURL(raw string) (root, key string) {
	if blob.IsS3(raw) {
		u, err := url.Parse(raw)
		if err == nil {
			dir, base := path.Split(u.Path)
			u.Path = strings.TrimSuffix(dir, "/")
			return u.String(), base
		}
	}
	dir, base := path.Split(raw)
	if dir == "" {
		dir = "."
	}
	return dir, base
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) {
			return false
		}
	}
	return true
}

// normDomain lower-cases a DNS name and drops the root dot; it reports false
// for strings that cannot be host names.
func normDomain(s string) (string, bool) {
	s = strings.TrimSuffix(strings.ToLower(s), ".")
	if s == "" || len(s) > 253 || !strings.Contains(s, ".") {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_') {
			return "", false
		}
	}
	return s, true
}
