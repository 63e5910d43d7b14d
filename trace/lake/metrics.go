package lake

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector exports a Writer's Stats to Prometheus. Losses (spool drops,
// write errors) have their own series so an alert can watch them.
type Collector struct {
	stats *Stats
	descs []metric
}

type metric struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value *atomic.Int64
}

// NewCollector returns a collector over w's live stats.
func NewCollector(w *Writer) *Collector {
	s := w.Stats()
	m := func(name, help string, kind prometheus.ValueType, v *atomic.Int64) metric {
		return metric{prometheus.NewDesc("vigil_lake_"+name, help, nil, nil), kind, v}
	}
	c, g := prometheus.CounterValue, prometheus.GaugeValue
	return &Collector{stats: s, descs: []metric{
		m("events_written_total", "Events accepted by the lake writer.", c, &s.EventsWritten),
		m("events_published_total", "Events in complete, published trace files.", c, &s.EventsPublished),
		m("events_lost_total", "Events lost to write errors.", c, &s.EventsLost),
		m("files_published_total", "Trace files completed and published.", c, &s.FilesPublished),
		m("bytes_published_total", "Bytes of published trace files.", c, &s.BytesPublished),
		m("write_errors_total", "Trace files that could not be written.", c, &s.WriteErrors),
		m("stale_temp_files_total", "Half-written files of crashed writers removed at start.", c, &s.StaleTempFiles),
		m("files_uploaded_total", "Trace files uploaded to S3.", c, &s.FilesUploaded),
		m("bytes_uploaded_total", "Bytes uploaded to S3.", c, &s.BytesUploaded),
		m("upload_errors_total", "Failed upload attempts (retried).", c, &s.UploadErrors),
		m("spool_files", "Trace files waiting in the spool for upload.", g, &s.SpoolFiles),
		m("spool_bytes", "Bytes waiting in the spool for upload.", g, &s.SpoolBytes),
		m("spool_dropped_files_total", "Trace files dropped because the spool was full: data lost.", c, &s.SpoolDroppedFiles),
		m("spool_dropped_events_total", "Events dropped because the spool was full: data lost.", c, &s.SpoolDroppedEvents),
	}}
}

func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.descs {
		ch <- m.desc
	}
}

func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c.descs {
		ch <- prometheus.MustNewConstMetric(m.desc, m.kind, float64(m.value.Load()))
	}
}
