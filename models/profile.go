package models

import (
	"bytes"
	"gonum.org/v1/gonum/stat/distuv"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"github.com/vigilsec/vigil/features"
)

// Profile is the novelty profile of one category: a trie over the items'
// segments (path components, DNS labels, address parts) whose positions
// learn wildcards while training.
//
// A position collapses when its values stop recurring: a group of at least
// collapseGroup siblings of the same shape (digit and long alphanumeric runs
// replaced by *, so "app.17.js" has shape "app.*.js") of which at least half
// were seen in a single window becomes that shape, and so does a group of
// file or executable names that differ only in numbers (backup-0042.tar.gz:
// a counter, which restarts with the container and so recurs, yet goes on
// past anything seen; ports and addresses are not counters); at least collapseAll
// siblings of which 70% are single-window become "*"; and any position
// beyond maxKids siblings becomes "*" regardless, which bounds memory.
type Profile struct {
	Cat  features.Category `json:"cat"`
	Root *PNode            `json:"root"`
	// Windows is the number of training windows the profile observed (T).
	Windows int64 `json:"windows"`
	// Q1 counts items (leaves) seen in exactly one window; Q2 in two.
	Q1 int64 `json:"q1"`
	Q2 int64 `json:"q2"`
	// Items counts distinct learned items (leaves, patterns included).
	Items int64 `json:"items"`
	// Recent is how many of the last RecentWindows training windows
	// brought something new.
	Recent        int64 `json:"recent_new"`
	RecentWindows int64 `json:"recent_windows"`
	// Lambda is the expected number of new items per window, from training
	// (Good-Turing on incidence: Q1(T-1)/T^2) or held-out windows, whichever
	// is larger; Calibrate sets it.
	Lambda float64 `json:"lambda"`
	// LambdaUpper bounds Lambda from above at 90% confidence, taking Q1 as a
	// Poisson count. Scoring uses the larger of the two: a profile that saw
	// few windows has not shown that new items are rare, and two items seen
	// once in ten windows must not make the next one a rare event.
	LambdaUpper float64 `json:"lambda_upper"`

	recent []bool // ring of last recentCap windows (training only)
	seq    int64

	// routes caches, while training, the trie nodes a recurring value
	// passes through when every one of its segments is a literal kid: the
	// value is then one hash of the whole value instead of one per segment.
	// Such a route only changes when a collapse folds one of its nodes into
	// a pattern, which marks that node folded; a route holding a folded
	// node is walked again. One entry per literal leaf that recurred (and
	// folded ones until the next sweep), so the cache is O(profile size).
	routes    map[string][]*PNode
	nextSweep int // len(routes) at which folded routes are dropped
	scratch   []*PNode
	// dirs caches, the same way, the routes of path-like values' directories.
	dirs         map[string][]*PNode
	nextDirSweep int
	lastDir      string // the directory dirRoute found last, and its route
	lastDirRoute []*PNode
	// hot answers for the strings of the last values looked up, by their
	// bytes' address: windows of one stream share a value's string, so
	// most lookups need no hashing. Holding the string keeps its memory
	// from being reused for another while the slot exists.
	hot *[routeSlots]routeSlot
}

const (
	routeBits  = 10
	routeSlots = 1 << routeBits
)

type routeSlot struct {
	p     *byte
	n     int
	route []*PNode
}

// PNode is one trie node.
type PNode struct {
	Kids     map[string]*PNode `json:"k,omitempty"`
	Patterns []*PatKid         `json:"p,omitempty"`
	// Windows in which an item ended here; Count of occurrences; Visits
	// counts windows in which any item passed through.
	Windows int64 `json:"w,omitempty"`
	Visits  int64 `json:"v,omitempty"`
	Count   int64 `json:"c,omitempty"`
	First   int64 `json:"f,omitempty"`

	last      int64 // training window seq last counted
	lastVisit int64
	// folded: merged into a pattern kid and gone from its parent's Kids,
	// so routes through it are stale.
	folded bool
	// recurred: the subtree's items were seen in more than one window in
	// all. Windows are only ever added to a subtree (merges sum them), so
	// once true it stays true and collapse need not count again.
	recurred bool
	// calm is how many more new kids a walk may add before collapse could
	// fold anything (see collapse); until then it skips the collapse.
	calm int32
}

// PatKid is a learned wildcard position: Any matches every segment, else the
// segment's shape must equal Shape.
type PatKid struct {
	Shape string `json:"s"`
	Any   bool   `json:"any,omitempty"`
	Node  *PNode `json:"n"`
}

const (
	collapseGroup = 8
	collapseAll   = 32
	maxKids       = 1024
	recentCap     = 256
)

func newProfile(c features.Category) *Profile {
	return &Profile{Cat: c, Root: &PNode{}, seq: 1}
}

// Segments splits a value of category c into trie segments.
func Segments(c features.Category, v string) []string {
	switch c {
	case features.CatExe, features.CatFileRead, features.CatFileWrite, features.CatExecPair:
		return strings.Split(v, "/")
	case features.CatDNS:
		// Windows store names lower-cased without the root dot; callers
		// asking about a raw event's name get the same answer.
		s := strings.Split(normDNS(v), ".")
		slices.Reverse(s)
		return s
	case features.CatNetDst:
		if strings.HasPrefix(v, "unix:") {
			return append([]string{"unix:"}, strings.Split(v[len("unix:"):], "/")...)
		}
		host, port := v, ""
		if i := strings.LastIndexByte(v, ':'); i >= 0 {
			host, port = v[:i], v[i+1:]
		}
		sep := "."
		if strings.HasPrefix(host, "[") {
			host, sep = strings.Trim(host, "[]"), ":"
		}
		return append([]string{sep + port}, strings.Split(host, sep)...)
	default:
		return []string{v}
	}
}

// joinSegments is the inverse of Segments, also for pattern segments.
func joinSegments(c features.Category, segs []string) string {
	switch c {
	case features.CatExe, features.CatFileRead, features.CatFileWrite, features.CatExecPair:
		return strings.Join(segs, "/")
	case features.CatDNS:
		s := slices.Clone(segs)
		slices.Reverse(s)
		return strings.Join(s, ".")
	case features.CatNetDst:
		if len(segs) == 0 {
			return ""
		}
		if segs[0] == "unix:" {
			return "unix:" + strings.Join(segs[1:], "/")
		}
		sep, port := segs[0][:1], segs[0][1:]
		host := strings.Join(segs[1:], sep)
		if sep == ":" {
			host = "[" + host + "]"
		}
		if len(segs) == 1 {
			return host
		}
		return host + ":" + port
	default:
		return strings.Join(segs, "")
	}
}

// Shape replaces runs of letters and digits that look generated (contain a
// digit, or are 16+ long) by "*": the form a learned wildcard matches.
func Shape(seg string) string {
	return string(appendShape(nil, seg))
}

// appendShape appends Shape(seg) to dst: on a stack buffer, comparing a
// segment's shape to the learned ones allocates nothing.
func appendShape(dst []byte, seg string) []byte {
	i := 0
	for i < len(seg) {
		if !isAlnum(seg[i]) {
			dst = append(dst, seg[i])
			i++
			continue
		}
		j, digit := i, false
		for j < len(seg) && isAlnum(seg[j]) {
			if seg[j] >= '0' && seg[j] <= '9' {
				digit = true
			}
			j++
		}
		if digit || j-i >= 16 {
			dst = append(dst, '*')
		} else {
			dst = append(dst, seg[i:j]...)
		}
		i = j
	}
	return dst
}

// numbered reports whether every run appendShape replaces in seg is a run
// of digits: a counter or sequence number, not a hash or a random name.
func numbered(seg string) bool {
	for i := 0; i < len(seg); {
		if !isAlnum(seg[i]) {
			i++
			continue
		}
		j, digits, letters := i, 0, 0
		for ; j < len(seg) && isAlnum(seg[j]); j++ {
			if seg[j] >= '0' && seg[j] <= '9' {
				digits++
			} else {
				letters++
			}
		}
		if digits > 0 && letters > 0 || j-i >= 16 {
			return false
		}
		i = j
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func (n *PNode) child(seg string) *PNode {
	if k := n.Kids[seg]; k != nil {
		return k
	}
	return n.patternChild(seg)
}

// patternChild is the pattern kid seg falls under, if any.
func (n *PNode) patternChild(seg string) *PNode {
	if len(n.Patterns) == 0 {
		return nil
	}
	var buf [64]byte
	var shape []byte
	for _, p := range n.Patterns {
		if !p.Any {
			if shape == nil {
				shape = appendShape(buf[:0], seg)
			}
			if p.Shape == string(shape) {
				return p.Node
			}
		}
	}
	for _, p := range n.Patterns {
		if p.Any {
			return p.Node
		}
	}
	return nil
}

// pathLike categories split on "/" in order, which segments can walk
// without allocating.
func pathLike(c features.Category) bool {
	switch c {
	case features.CatExe, features.CatFileRead, features.CatFileWrite, features.CatExecPair:
		return true
	}
	return false
}

// eachSegment calls fn with v's segments in trie order: Segments, without
// building the slice.
func eachSegment(c features.Category, v string, fn func(string)) {
	switch {
	case pathLike(c):
		eachSplit(v, '/', fn)
	case c == features.CatDNS:
		v = normDNS(v)
		for {
			i := strings.LastIndexByte(v, '.')
			if i < 0 {
				fn(v)
				return
			}
			fn(v[i+1:])
			v = v[:i]
		}
	case c == features.CatNetDst:
		if rest, ok := strings.CutPrefix(v, "unix:"); ok {
			fn("unix:")
			eachSplit(rest, '/', fn)
			return
		}
		host, port := v, ""
		i := strings.LastIndexByte(v, ':')
		if i >= 0 {
			host, port = v[:i], v[i+1:]
		}
		if strings.HasPrefix(host, "[") {
			if i >= 0 {
				fn(v[i:]) // ":" + port
			} else {
				fn(":")
			}
			eachSplit(strings.Trim(host, "[]"), ':', fn)
			return
		}
		fn("." + port)
		eachSplit(host, '.', fn)
	default:
		fn(v)
	}
}

// eachSplit calls fn with the strings strings.Split(v, sep) returns.
func eachSplit(v string, sep byte, fn func(string)) {
	for {
		i := strings.IndexByte(v, sep)
		if i < 0 {
			fn(v)
			return
		}
		fn(v[:i])
		v = v[i+1:]
	}
}

// observe records one window's occurrence of value. It reports whether the
// value was new to the profile.
func (p *Profile) observe(v string, count, first int64) bool {
	var n *PNode
	if route := p.route(v); route != nil {
		last := len(route) - 1
		for _, r := range route[:last] {
			if r.lastVisit != p.seq {
				r.lastVisit = p.seq
				r.Visits++
			}
		}
		n = route[last]
	} else {
		var route []*PNode
		n, route = p.walk(v)
		// Only values seen before are worth a route: most one-off names
		// are never looked up again.
		if route != nil {
			if n.Windows > 0 {
				p.keepRoute(v, route)
			}
			p.scratch = route[:0]
			clear(route)
		}
	}
	isNew := n.Windows == 0
	if n.last != p.seq {
		n.last = p.seq
		n.Windows++
	}
	n.Count += count
	if n.First == 0 || first < n.First {
		n.First = first
	}
	return isNew
}

var CntHot, CntMap, CntNone [8]int

// route returns v's cached route, or nil.
func (p *Profile) route(v string) []*PNode {
	if p.hot == nil {
		return nil // nothing kept yet, or released
	}
	b := unsafe.StringData(v)
	slot := &p.hot[routeIndex(b, len(v))]
	if slot.p == b && slot.n == len(v) && b != nil && live(slot.route) {
		return slot.route
	}
	if pathLike(p.Cat) {
		// Path-like routes live only in the slots: a value that misses
		// them walks from its cached directory, one lookup more than a
		// cached route would cost, where looking the whole value up first
		// costs every one-off name a lookup that finds nothing.
		return nil
	}
	r := p.routes[v]
	if r == nil || !live(r) {
		return nil
	}
	*slot = routeSlot{p: b, n: len(v), route: r}
	return r
}

func routeIndex(b *byte, n int) uint64 {
	h := (uint64(uintptr(unsafe.Pointer(b)))>>3 ^ uint64(n)<<7) * 0x9e3779b97f4a7c15
	return h >> (64 - routeBits)
}

// dropped reports whether a cached route passes through a folded node.
func dropped(_ string, route []*PNode) bool { return !live(route) }

// live reports whether no node of route has been folded away.
func live(route []*PNode) bool {
	for _, n := range route {
		if n.folded {
			return false
		}
	}
	return len(route) > 0
}

// keepRoute caches route (a walk's, all literal) for v.
func (p *Profile) keepRoute(v string, route []*PNode) {
	if p.hot == nil {
		p.hot = new([routeSlots]routeSlot)
	}
	if pathLike(p.Cat) {
		// The slot's own copy: no caller keeps a route past its lookup.
		b := unsafe.StringData(v)
		slot := &p.hot[routeIndex(b, len(v))]
		*slot = routeSlot{p: b, n: len(v), route: append(slot.route[:0], route...)}
		return
	}
	if p.routes == nil {
		p.routes = make(map[string][]*PNode)
	}
	if len(p.routes) >= p.nextSweep {
		maps.DeleteFunc(p.routes, dropped)
		// Slots may hold dropped routes; none holds a path-like one here.
		clear(p.hot[:])
		p.nextSweep = 2*len(p.routes) + 1024
	}
	p.routes[v] = slices.Clone(route)
}

// walk takes v down the trie, learning as it goes, and returns its leaf
// and, when every segment was a literal kid, the nodes it passed through
// (in p.scratch, valid until the next walk). A path's directory is looked
// up whole when its route is cached: one-off file names in a known
// directory cost one step, not one per segment.
func (p *Profile) walk(v string) (*PNode, []*PNode) {
	n := p.Root
	route := append(p.scratch[:0], n)
	literal := true
	step := func(s string) {
		if n.lastVisit != p.seq {
			n.lastVisit = p.seq
			n.Visits++
		}
		k := n.Kids[s]
		lit := k != nil
		if k == nil {
			k = n.patternChild(s)
		}
		if k == nil {
			if n.Kids == nil {
				n.Kids = make(map[string]*PNode)
			}
			k, lit = &PNode{}, true
			// A key of its own: s may point into a window's value.
			n.Kids[strings.Clone(s)] = k
			// Values seen in one window only mean something once the
			// position itself has been seen in several.
			if len(n.Kids) >= collapseGroup && n.Visits >= collapseGroup {
				if n.calm > 0 {
					n.calm--
				} else {
					n.collapse(pathLike(p.Cat))
					k = n.child(s) // may have moved into a pattern
					lit = n.Kids[s] == k
				}
			}
		}
		literal = literal && lit
		if literal {
			route = append(route, k)
		}
		n = k
	}
	i := -1
	if pathLike(p.Cat) {
		i = strings.LastIndexByte(v, '/')
	}
	if i < 0 {
		eachSegment(p.Cat, v, step)
	} else if dir := p.dirRoute(v[:i]); dir != nil {
		// The steps up to the directory, without their lookups.
		for _, r := range dir[:len(dir)-1] {
			if r.lastVisit != p.seq {
				r.lastVisit = p.seq
				r.Visits++
			}
		}
		route, n = append(route[:0], dir...), dir[len(dir)-1]
		step(v[i+1:])
	} else {
		eachSplit(v[:i], '/', step)
		if literal {
			p.keepDir(v[:i], route)
		}
		step(v[i+1:])
	}
	if !literal {
		p.scratch = route[:0]
		clear(route)
		return n, nil
	}
	return n, route
}

// dirRoute returns the cached route of directory dir, or nil.
func (p *Profile) dirRoute(dir string) []*PNode {
	// A window lists its items sorted, so the names of one directory come
	// one after another: most lookups are the previous one's.
	if dir == p.lastDir && live(p.lastDirRoute) {
		return p.lastDirRoute
	}
	if r := p.dirs[dir]; live(r) {
		p.lastDir, p.lastDirRoute = dir, r
		return r
	}
	return nil
}

// keepDir caches route (all literal) for directory dir.
func (p *Profile) keepDir(dir string, route []*PNode) {
	if p.dirs == nil {
		p.dirs = make(map[string][]*PNode)
	}
	if len(p.dirs) >= p.nextDirSweep {
		maps.DeleteFunc(p.dirs, dropped)
		p.nextDirSweep = 2*len(p.dirs) + 1024
	}
	p.dirs[strings.Clone(dir)] = slices.Clone(route)
}

func (n *PNode) subtreeWindows(limit int64) int64 {
	w := n.Windows
	for _, k := range n.Kids {
		if w > limit {
			return w
		}
		w += k.subtreeWindows(limit)
	}
	for _, pk := range n.Patterns {
		w += pk.Node.subtreeWindows(limit)
	}
	return w
}

// collapse folds kids into patterns where they stopped recurring. It runs
// whenever a busy position gets a new kid, so it allocates only per shape.
//
// When it folds nothing, it also works out how many new kids must come
// before it could: between collapses a kid only ever stops being single (a
// subtree gains windows, never loses them), so only new kids, each single
// and in one shape group, bring a fold nearer, one step each. A walk skips
// that many collapses, which would have folded nothing either.
func (n *PNode) collapse(counters bool) {
	n.calm = 0
	if len(n.Kids) >= maxKids {
		n.foldInto(func(string) bool { return true }, "", true, counters)
		return
	}
	type group struct {
		shape         string
		size, singles int
		numbered      bool // a path position whose members vary only in runs of digits
	}
	var groups []group
	index := map[string]int{}
	singles := 0
	var buf [64]byte
	for seg, k := range n.Kids {
		single := !k.recurred && k.subtreeWindows(1) <= 1
		if single {
			singles++
		} else {
			k.recurred = true
		}
		sh := appendShape(buf[:0], seg)
		if bytes.IndexByte(sh, '*') < 0 {
			continue
		}
		gi, ok := index[string(sh)]
		if !ok {
			gi = len(groups)
			groups = append(groups, group{shape: string(sh), numbered: true})
			index[groups[gi].shape] = gi
		}
		groups[gi].size++
		groups[gi].numbered = groups[gi].numbered && counters && numbered(seg)
		if single {
			groups[gi].singles++
		}
	}
	if len(n.Kids) >= collapseAll && singles*10 >= len(n.Kids)*7 {
		n.foldInto(func(string) bool { return true }, "", true, counters)
		return
	}
	slices.SortFunc(groups, func(a, b group) int { return strings.Compare(a.shape, b.shape) })
	kids := len(n.Kids)
	// New kids needed for: maxKids; 70% singles of at least collapseAll;
	// a new shape group of collapseGroup.
	calm := min(maxKids-kids, max(collapseAll-kids, (7*kids-10*singles+2)/3), collapseGroup)
	folded := false
	for _, g := range groups {
		if g.size >= collapseGroup && (g.singles*2 >= g.size || g.numbered) {
			n.foldInto(func(seg string) bool { return string(appendShape(buf[:0], seg)) == g.shape }, g.shape, false, counters)
			folded = true
		} else if g.numbered {
			calm = min(calm, collapseGroup-g.size)
		} else {
			calm = min(calm, max(collapseGroup-g.size, g.size-2*g.singles))
		}
	}
	if !folded {
		n.calm = int32(calm - 1)
	}
}

// foldInto moves the literal kids selected by match under one pattern kid.
func (n *PNode) foldInto(match func(string) bool, shape string, anyPat, counters bool) {
	var dst *PNode
	for _, p := range n.Patterns {
		if p.Any == anyPat && (anyPat || p.Shape == shape) {
			dst = p.Node
		}
	}
	if dst == nil {
		dst = &PNode{}
		sh := shape
		if anyPat {
			sh = "*"
		}
		n.Patterns = append(n.Patterns, &PatKid{Shape: sh, Any: anyPat, Node: dst})
	}
	segs := make([]string, 0, len(n.Kids))
	for seg := range n.Kids {
		if match(seg) {
			segs = append(segs, seg)
		}
	}
	slices.Sort(segs) // merge order fixes First/last ties deterministically
	for _, seg := range segs {
		k := n.Kids[seg]
		k.folded = true
		merge(dst, k, counters)
		delete(n.Kids, seg)
	}
	if anyPat {
		// Shape patterns are now subsumed by the wildcard.
		var keep []*PatKid
		for _, p := range n.Patterns {
			if p.Any {
				keep = append(keep, p)
			} else {
				merge(dst, p.Node, counters)
			}
		}
		n.Patterns = keep
	}
	if len(n.Kids) == 0 {
		n.Kids = nil
	}
}

func merge(dst, src *PNode, counters bool) {
	dst.calm = 0 // kids may arrive here without a walk
	dst.Windows += src.Windows
	dst.Visits += src.Visits
	dst.Count += src.Count
	if src.First != 0 && (dst.First == 0 || src.First < dst.First) {
		dst.First = src.First
	}
	dst.last = max(dst.last, src.last)
	dst.lastVisit = max(dst.lastVisit, src.lastVisit)
	segs := make([]string, 0, len(src.Kids))
	for seg := range src.Kids {
		segs = append(segs, seg)
	}
	slices.Sort(segs)
	for _, seg := range segs {
		k := src.Kids[seg]
		if d := dst.Kids[seg]; d != nil {
			merge(d, k, counters)
		} else if d := dst.child(seg); d != nil {
			merge(d, k, counters)
		} else {
			if dst.Kids == nil {
				dst.Kids = make(map[string]*PNode)
			}
			dst.Kids[seg] = k
		}
	}
	for _, p := range src.Patterns {
		var d *PNode
		for _, q := range dst.Patterns {
			if q.Any == p.Any && q.Shape == p.Shape {
				d = q.Node
			}
		}
		if d == nil {
			dst.Patterns = append(dst.Patterns, p)
		} else {
			merge(d, p.Node, counters)
		}
	}
	if len(dst.Kids) >= collapseGroup && dst.Visits >= collapseGroup {
		dst.collapse(counters)
	}
}

// Known reports whether v matches a learned item (Lookup without the
// pattern, and without allocating for path-like categories).
func (p *Profile) Known(v string) bool {
	// While training (see release), the caches answer most lookups.
	if route := p.route(v); route != nil {
		return route[len(route)-1].Windows > 0
	}
	n := p.Root
	if i := strings.LastIndexByte(v, '/'); i >= 0 && pathLike(p.Cat) && p.dirs != nil {
		if dir := p.dirRoute(v[:i]); dir != nil {
			n = dir[len(dir)-1].child(v[i+1:])
			return n != nil && n.Windows > 0
		}
	}
	eachSegment(p.Cat, v, func(s string) {
		if n != nil {
			n = n.child(s)
		}
	})
	return n != nil && n.Windows > 0
}

// Lookup reports whether v matches a learned item, the pattern it matched
// (or the deepest learned prefix when it did not).
func (p *Profile) Lookup(v string) (known bool, pattern string) {
	segs := Segments(p.Cat, v)
	n := p.Root
	path := make([]string, 0, len(segs))
	for _, s := range segs {
		k := n.Kids[s]
		name := s
		if k == nil {
			for _, pk := range n.Patterns {
				if !pk.Any && pk.Shape == Shape(s) {
					k, name = pk.Node, pk.Shape
					break
				}
			}
			if k == nil {
				for _, pk := range n.Patterns {
					if pk.Any {
						k, name = pk.Node, "*"
					}
				}
			}
		}
		if k == nil {
			return false, joinSegments(p.Cat, path)
		}
		path = append(path, name)
		n = k
	}
	return n.Windows > 0, joinSegments(p.Cat, path)
}

// endWindow closes one training window for this profile.
func (p *Profile) endWindow(discovered bool) {
	p.Windows++
	p.seq++
	if len(p.recent) < recentCap {
		p.recent = append(p.recent, discovered)
	} else {
		p.recent[int(p.Windows)%recentCap] = discovered
	}
}

// release drops what only training needs.
func (p *Profile) release() {
	p.routes, p.scratch, p.hot, p.nextSweep = nil, nil, nil, 0
	p.dirs, p.nextDirSweep = nil, 0
	p.lastDir, p.lastDirRoute = "", nil
}

// finish computes the Good-Turing statistics after training.
func (p *Profile) finish() {
	p.Q1, p.Q2, p.Items = 0, 0, 0
	var walk func(n *PNode)
	walk = func(n *PNode) {
		switch {
		case n.Windows == 1:
			p.Q1++
		case n.Windows == 2:
			p.Q2++
		}
		if n.Windows > 0 {
			p.Items++
		}
		for _, k := range n.Kids {
			walk(k)
		}
		for _, pk := range n.Patterns {
			walk(pk.Node)
		}
	}
	walk(p.Root)
	p.Recent, p.RecentWindows = 0, int64(len(p.recent))
	for _, d := range p.recent {
		if d {
			p.Recent++
		}
	}
	p.Lambda = p.GoodTuring()
	p.LambdaUpper = p.goodTuringUpper()
}

// goodTuringUpper is GoodTuring with Q1 replaced by its 90% upper Poisson
// confidence bound, (chi-squared quantile at 2(Q1+1) degrees of freedom)/2.
func (p *Profile) goodTuringUpper() float64 {
	t := float64(p.Windows)
	if t < 2 {
		return 1
	}
	q := distuv.ChiSquared{K: float64(2 * (p.Q1 + 1))}.Quantile(0.9) / 2
	return q * (t - 1) / (t * t)
}

// novelRate is the rate of new items scoring assumes.
func (p *Profile) novelRate() float64 { return max(p.Lambda, p.LambdaUpper) }

// GoodTuring is the expected number of never-seen items in one more window,
// Q1 (T-1) / T^2: the incidence-based Good-Turing (Chao) estimate.
func (p *Profile) GoodTuring() float64 {
	t := float64(p.Windows)
	if t < 2 {
		return 1
	}
	return float64(p.Q1) * (t - 1) / (t * t)
}

// Convergence states.
const (
	StateLearning   = "learning"   // new items expected in most windows
	StateConverging = "converging" // new items expected within a few hours' windows
	StateConverged  = "converged"  // new items expected less than once per 100 windows
)

// State summarises how converged the profile is.
func (p *Profile) State() string {
	switch l := p.Lambda; {
	case l < 0.01:
		return StateConverged
	case l < 0.1:
		return StateConverging
	default:
		return StateLearning
	}
}

// Pattern is one learned item for display.
type Pattern struct {
	Value   string `json:"value"`
	Windows int64  `json:"windows"`
	Count   int64  `json:"count"`
	First   int64  `json:"first"`
}

// Patterns lists the learned items, most frequent first.
func (p *Profile) Patterns() []Pattern {
	var out []Pattern
	var walk func(n *PNode, path []string)
	walk = func(n *PNode, path []string) {
		if n.Windows > 0 {
			out = append(out, Pattern{Value: joinSegments(p.Cat, path), Windows: n.Windows, Count: n.Count, First: n.First})
		}
		for seg, k := range n.Kids {
			walk(k, append(slices.Clone(path), seg))
		}
		for _, pk := range n.Patterns {
			walk(pk.Node, append(slices.Clone(path), pk.Shape))
		}
	}
	walk(p.Root, nil)
	slices.SortFunc(out, func(a, b Pattern) int {
		if a.Windows != b.Windows {
			return int(b.Windows - a.Windows)
		}
		return strings.Compare(a.Value, b.Value)
	})
	return out
}

func (p *Profile) String() string {
	return p.Cat.String() + ": " + strconv.FormatInt(p.Items, 10) + " items, lambda " + strconv.FormatFloat(p.Lambda, 'g', 3, 64)
}

func normDNS(v string) string {
	v = strings.TrimSuffix(v, ".")
	for i := 0; i < len(v); i++ {
		if c := v[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(v)
		}
	}
	return v
}

// wellFormed reports whether a decoded trie has no missing nodes and a sane
// depth, so scoring never meets a nil.
func (n *PNode) wellFormed(depth int) bool {
	if depth > 4096 {
		return false
	}
	for _, k := range n.Kids {
		if k == nil || !k.wellFormed(depth+1) {
			return false
		}
	}
	for _, p := range n.Patterns {
		if p == nil || p.Node == nil || (!p.Any && p.Shape == "") || !p.Node.wellFormed(depth+1) {
			return false
		}
	}
	return true
}
