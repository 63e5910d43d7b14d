package lake_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigilsec/vigil/trace/lake"
	"github.com/vigilsec/vigil/trace/lake/laketest"
	"github.com/vigilsec/vigil/trace/tracetest"
)

func TestCollectorExportsStats(t *testing.T) {
	l := openLake(t, t.TempDir())
	w := laketest.Write(t, l, lake.WriterConfig{}, tracetest.Events(1, 1234, int64(time.Millisecond)))
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(lake.NewCollector(w))
	want := `
# HELP vigil_lake_events_published_total Events in complete, published trace files.
# TYPE vigil_lake_events_published_total counter
vigil_lake_events_published_total 1234
# HELP vigil_lake_spool_dropped_events_total Events dropped because the spool was full: data lost.
# TYPE vigil_lake_spool_dropped_events_total counter
vigil_lake_spool_dropped_events_total 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "vigil_lake_events_published_total", "vigil_lake_spool_dropped_events_total"); err != nil {
		t.Fatal(err)
	}
}
