package models

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/features"
)

// TestMedianMAD: the one-sort median and MAD are bit-identical to median
// and mad, on odd and even lengths, ties, constant and skewed columns.
func TestMedianMAD(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 2000; trial++ {
		n := 1 + r.IntN(60)
		xs := make([]float64, n)
		for i := range xs {
			switch trial % 4 {
			case 0:
				xs[i] = r.NormFloat64()
			case 1:
				xs[i] = float64(r.IntN(4)) // many ties
			case 2:
				xs[i] = 3.25 // constant
			default:
				xs[i] = r.ExpFloat64() * r.ExpFloat64() // heavy tail
			}
		}
		wantM := median(xs)
		wantD := mad(xs, wantM)
		gotM, gotD := medianMAD(slices.Clone(xs))
		if gotM != wantM || gotD != wantD {
			t.Fatalf("%v: medianMAD = %v, %v; median, mad = %v, %v", xs, gotM, gotD, wantM, wantD)
		}
	}
	if m, d := medianMAD(nil); m != 0 || d != 0 {
		t.Fatalf("empty: %v %v", m, d)
	}
}

// cachedRoutes lists the routes p keeps, in its map and in its slots.
func cachedRoutes(p *Profile) [][]*PNode {
	var out [][]*PNode
	for _, r := range p.routes {
		out = append(out, r)
	}
	if p.hot != nil {
		for _, sl := range p.hot {
			if sl.route != nil {
				out = append(out, sl.route)
			}
		}
	}
	return out
}

// TestRouteCacheSameTrie: a profile that reuses cached routes learns the
// same trie, and reports the same novelty, as one that walks every value,
// while collapses keep moving literal kids into patterns under it; and
// skipping the collapses that calm says cannot fold changes nothing.
func TestRouteCacheSameTrie(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	values := map[features.Category]func() string{
		features.CatFileRead: func() string {
			switch r.IntN(6) {
			case 0:
				return fmt.Sprintf("/proc/%d/stat", r.IntN(400))
			case 1:
				return fmt.Sprintf("/tmp/tmp%08x", r.Uint32())
			case 2:
				return fmt.Sprintf("/var/cache/app/%02x/%x.bin", r.IntN(40), r.IntN(3000))
			case 3:
				return fmt.Sprintf("/srv/data/d%d/part-%d.csv", r.IntN(12), r.IntN(50))
			default:
				return []string{"/etc/hosts", "/etc/resolv.conf", "/app/config.yaml", "/usr/lib/libc.so.6"}[r.IntN(4)]
			}
		},
		features.CatDNS: func() string {
			if r.IntN(3) == 0 {
				return fmt.Sprintf("x%dq.cdn.example.com", r.IntN(500))
			}
			return []string{"db.internal", "api.stripe.com", "sqs.us-east-1.amazonaws.com"}[r.IntN(3)]
		},
		features.CatNetDst: func() string {
			switch r.IntN(4) {
			case 0:
				return fmt.Sprintf("10.0.%d.%d:%d", r.IntN(3), r.IntN(200), []int{80, 443, 5432}[r.IntN(3)])
			case 1:
				return fmt.Sprintf("[fd00::%x]:443", r.IntN(300))
			case 2:
				return fmt.Sprintf("unix:/run/app/s%d.sock", r.IntN(100))
			default:
				return "172.16.3.4:6379"
			}
		},
	}
	for c, gen := range values {
		// Drawn from a pool, so that the same strings come back (as the
		// extractor's do) and exercise the lookups by address too.
		pool := make([]string, 3000)
		for i := range pool {
			pool[i] = gen()
		}
		cached, walked := newProfile(c), newProfile(c)
		stale, staleDirs, calm := 0, 0, 0
		for w := 0; w < 400; w++ {
			if w%100 == 50 {
				for _, r := range cachedRoutes(cached) {
					if !live(r) {
						stale++
					}
				}
				for _, r := range cached.dirs {
					if !live(r) {
						staleDirs++
					}
				}
				// Sweep folded routes out now and then.
				cached.nextSweep, cached.nextDirSweep = 0, 0
			}
			seen := map[string]bool{}
			for i := 0; i < 30; i++ {
				v := pool[r.IntN(len(pool))]
				if r.IntN(4) == 0 {
					v = strings.Clone(v) // equal bytes elsewhere
				}
				if seen[v] {
					continue
				}
				seen[v] = true
				a := cached.observe(v, 1, int64(w))
				calm += countCalm(cached.Root)
				walked.routes, walked.hot, walked.dirs = nil, nil, nil
				clearCalm(walked.Root) // collapse at every new kid
				b := walked.observe(v, 1, int64(w))
				if a != b {
					t.Fatalf("%s window %d: %q new=%v with routes, %v without", c, w, v, a, b)
				}
				walked.routes, walked.hot, walked.dirs = nil, nil, nil
				if cached.Known(v) != walked.Known(v) {
					t.Fatalf("%s: Known(%q) differs", c, v)
				}
			}
			cached.endWindow(len(seen) > 0)
			walked.endWindow(len(seen) > 0)
		}
		if c == features.CatFileRead && calm == 0 {
			t.Fatalf("%s: no collapse was skipped", c)
		}
		if stale == 0 || len(cachedRoutes(cached)) == 0 {
			t.Fatalf("%s: %d routes, %d through folded nodes: the test did not exercise the cache", c, len(cachedRoutes(cached)), stale)
		}
		if c == features.CatFileRead && (staleDirs == 0 || len(cached.dirs) == 0) {
			t.Fatalf("%s: %d directories, %d through folded nodes: the test did not exercise them", c, len(cached.dirs), staleDirs)
		}
		ja, _ := json.Marshal(cached.Root)
		jb, _ := json.Marshal(walked.Root)
		if string(ja) != string(jb) {
			t.Fatalf("%s: tries differ", c)
		}
	}
}

func countCalm(n *PNode) int {
	c := 0
	if n.calm > 0 {
		c++
	}
	for _, k := range n.Kids {
		c += countCalm(k)
	}
	for _, p := range n.Patterns {
		c += countCalm(p.Node)
	}
	return c
}

func clearCalm(n *PNode) {
	n.calm = 0
	for _, k := range n.Kids {
		clearCalm(k)
	}
	for _, p := range n.Patterns {
		clearCalm(p.Node)
	}
}

// TestWindowHashIsFNV: the inlined hash is hash/fnv's FNV-1a over
// workload, 0, instance, 0, decimal start, then the splitmix64 finaliser.
func TestWindowHashIsFNV(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 1000; i++ {
		k := features.Key{Workload: fmt.Sprintf("wl/%x", r.Uint32()), Instance: fmt.Sprintf("%016x", r.Uint64()), Start: r.Int64() - r.Int64()}
		if i%7 == 0 {
			k.Workload, k.Instance = "", ""
		}
		h := fnv.New64a()
		h.Write([]byte(k.Workload))
		h.Write([]byte{0})
		h.Write([]byte(k.Instance))
		h.Write([]byte{0})
		h.Write(strconv.AppendInt(nil, k.Start, 10))
		x := h.Sum64()
		x ^= x >> 30
		x *= 0xbf58476d1ce4e5b9
		x ^= x >> 27
		x *= 0x94d049bb133111eb
		x ^= x >> 31
		if got := windowHash(k); got != x {
			t.Fatalf("%+v: windowHash %x, fnv %x", k, got, x)
		}
	}
}

func TestNumDetectors(t *testing.T) {
	if n := len(Detectors()); n != numDetectors {
		t.Fatalf("numDetectors %d, Detectors() has %d", numDetectors, n)
	}
}
