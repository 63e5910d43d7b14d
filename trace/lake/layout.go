package lake

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// TracesPrefix is where trace files live under a lake root. Other prefixes
// (labels/, reports/) hold side objects and are never read as traces.
const TracesPrefix = "traces/"

// NoCluster is the Hive convention for a null partition value; Athena, Spark
// and DuckDB read it back as NULL.
const NoCluster = "__HIVE_DEFAULT_PARTITION__"

// Partition is one Hive partition: events of one ECS cluster in one UTC hour.
type Partition struct {
	Cluster string    // "" for events outside ECS
	Hour    time.Time // truncated to the hour, UTC
}

// PartitionOf returns the partition an event at time ns in cluster goes to.
func PartitionOf(cluster string, ns int64) Partition {
	return Partition{Cluster: cluster, Hour: time.Unix(0, ns).UTC().Truncate(time.Hour)}
}

// Dir is the partition's key prefix, without a trailing slash:
// traces/cluster=<c>/date=YYYY-MM-DD/hour=HH.
func (p Partition) Dir() string {
	c := NoCluster
	if p.Cluster != "" {
		c = escapePartitionValue(p.Cluster)
	}
	return fmt.Sprintf("%scluster=%s/date=%s/hour=%02d", TracesPrefix, c, p.Hour.Format("2006-01-02"), p.Hour.Hour())
}

// FileKey names a trace file: <dir>/<host>-<start>-<writer>-<seq>.parquet.
func (p Partition) FileKey(host string, start time.Time, writer string, seq uint64) string {
	return fmt.Sprintf("%s/%s-%s-%s-%06d.parquet", p.Dir(), safeName(host), start.UTC().Format("20060102T150405.000Z"), writer, seq)
}

// ParseFileKey reads the partition back from a trace file key. ok is false for
// keys that are not trace files (wrong prefix, depth or extension).
func ParseFileKey(key string) (p Partition, ok bool) {
	rest, found := strings.CutPrefix(key, TracesPrefix)
	if !found || !strings.HasSuffix(rest, ".parquet") {
		return p, false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 4 {
		return p, false
	}
	cluster, ok1 := strings.CutPrefix(parts[0], "cluster=")
	date, ok2 := strings.CutPrefix(parts[1], "date=")
	hour, ok3 := strings.CutPrefix(parts[2], "hour=")
	if !ok1 || !ok2 || !ok3 || strings.HasPrefix(parts[3], ".") {
		return p, false
	}
	day, err := time.Parse("2006-01-02", date)
	if err != nil {
		return p, false
	}
	h, err := strconv.Atoi(hour)
	if err != nil || h < 0 || h > 23 {
		return p, false
	}
	if cluster == NoCluster {
		cluster = ""
	} else if cluster, err = url.PathUnescape(cluster); err != nil {
		return p, false
	}
	return Partition{Cluster: cluster, Hour: day.Add(time.Duration(h) * time.Hour)}, true
}

// escapePartitionValue percent-encodes what Hive escapes in partition values
// (slash, colon, equals, percent and friends): ECS cluster ARNs hold ':' and '/'.
func escapePartitionValue(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if isPlain(c) {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func isPlain(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
}

// safeName keeps host names usable as file names on every store.
func safeName(s string) string {
	if s == "" {
		return "unknown"
	}
	b := []byte(s)
	for i, c := range b {
		if !isPlain(c) {
			b[i] = '_'
		}
	}
	return string(b)
}
