package features

// Fields are the event fields the extractor reads, by Parquet column name (as
// trace.Event's tags name them). An offline job asks the lake for these alone
// (lake.Query.Fields) and skips decoding the rest, about half the columns.
// TestFieldsAreAllTheExtractorReads fails when the extractor starts reading a
// field missing here.
var Fields = []string{
	"time", "host", "kind",
	"pid", "tid", "comm", "exe_path", "argv", "proc_uuid", "parent_uuid",
	// The workload and instance keys, and trace.WorkloadKey's fallbacks.
	"workload", "container_id", "container_image", "container_name", "ecs_task_family", "ecs_container_name",
	"syscall", "path", "new_path", "path_truncated", "flags",
	"net_family", "net_protocol", "net_src_port", "net_dst_addr", "net_dst_port", "dns_name",
}
