package lake

import (
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/trace"
)

// WriteColumnFile writes events into one trace file with the column writer,
// batch rows at a time, as the Writer does.
func WriteColumnFile(w io.Writer, host string, o FileOptions, events []trace.Event, batch int) error {
	fw := newFileWriter(w, host, o, nil)
	for b := range slices.Chunk(events, batch) {
		if err := fw.write(b); err != nil {
			return err
		}
	}
	return fw.close()
}

// The caches in front of a string dictionary must never confuse two values:
// equal ends and lengths, equal bytes at another address, the very same
// string again, and a prefix of a string (same address, shorter), within a
// batch, across batches and after a row group.
func TestStringDictionaryCache(t *testing.T) {
	long := "/var/cache/app/0001/x.bin"
	vals := []string{long, "/var/cache/app/0002/x.bin", "", "a", "b", "ab", strings.Clone(long), long, long[:8], long[:8], "", "b"}
	want := []int32{0, 1, 2, 3, 4, 5, 0, 0, 6, 6, 2, 4}
	var host *leafSpec
	for i := range leafSpecs {
		if leafSpecs[i].name == "host" {
			host = &leafSpecs[i]
		}
	}
	c := host.newCol(host, &pageWriter{}, FileOptions{}.withDefaults()).(*stringColumn)
	ev := make([]trace.Event, len(vals))
	for i, v := range vals {
		ev[i].Host = v
	}
	for _, b := range [][2]int{{0, len(ev)}, {0, 3}, {3, len(ev)}, {0, len(ev)}} {
		c.idx = c.idx[:0]
		if err := c.add(ev[b[0]:b[1]]); err != nil {
			t.Fatal(err)
		}
		for i, got := range c.idx {
			if got != want[b[0]+i] {
				t.Fatalf("%q: index %d, want %d", vals[b[0]+i], got, want[b[0]+i])
			}
		}
	}
	if len(c.dict.vals) != 7 || c.dict.size != 7*4+25+25+0+1+1+2+8 {
		t.Fatalf("%d values, %d bytes", len(c.dict.vals), c.dict.size)
	}
	c.dict.reset()
	c.idx = c.idx[:0]
	if err := c.add(ev[1:2]); err != nil || c.idx[0] != 0 {
		t.Fatalf("after reset: index %v, want 0 (%v)", c.idx, err)
	}
}

func TestIntDictionary(t *testing.T) {
	var d intDict[int64]
	d.grow()
	r := rand.New(rand.NewPCG(1, 2))
	seen := map[int64]int32{}
	for range 100_000 {
		v := int64(r.IntN(5000)) - 2500
		if r.IntN(10) == 0 {
			v = r.Int64()
		}
		i := d.probe(v) - 1
		if i < 0 {
			i = d.index(v)
		}
		j, ok := seen[v]
		if ok && i != j {
			t.Fatalf("%d: index %d, then %d", v, j, i)
		}
		if !ok {
			if int(i) != len(seen) {
				t.Fatalf("new value %d got index %d, want %d", v, i, len(seen))
			}
			seen[v] = i
		}
		if d.vals[i] != v {
			t.Fatalf("index %d holds %d, want %d", i, d.vals[i], v)
		}
	}
}
