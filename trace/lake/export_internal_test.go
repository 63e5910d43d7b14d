package lake

import (
	"context"

	"github.com/vigilsec/vigil/trace"
)

// DecodeFile reads every event of one lake file through Scan's page decoder,
// batch rows at a time, in file order.
func DecodeFile(l *Lake, key string, batch int) ([]trace.Event, error) {
	f, err := l.store.Open(context.Background(), key)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	pf, _, err := openParquet(f, f.Size(), key)
	if err != nil {
		return nil, err
	}
	groups := make([]int, len(pf.RowGroups()))
	for i := range groups {
		groups[i] = i
	}
	d := newFileDecoder(pf, groups, nil)
	defer d.close()
	buf := make([]trace.Event, batch)
	out := make([]trace.Event, 0, pf.NumRows())
	for {
		n, err := d.read(buf)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return out, nil
		}
		out = append(out, buf[:n]...)
	}
}
