// Package logkey keeps every log/slog field key in one place, so logs from all
// of Vigil's stages can be queried by the same names.
package logkey

const (
	Err       = "err"
	File      = "file"
	Key       = "key"
	Bucket    = "bucket"
	Bytes     = "bytes"
	Events    = "events"
	Dropped   = "dropped"
	Attempt   = "attempt"
	Backoff   = "backoff"
	Path      = "path"
	Root      = "root"
	Workload  = "workload"
	Container = "container"
	Cgroup    = "cgroup"
	PID       = "pid"
	Kind      = "kind"
	Rule      = "rule"
	Finding   = "finding"
	Model     = "model"
	Scenario  = "scenario"
	Duration  = "duration"
	Count     = "count"
	Addr      = "addr"
	Output    = "output"
)

// Scorer, response and agent keys.
const (
	Action = "action"
	Target = "target"
	DryRun = "dry_run"
	Type   = "type"
	URL    = "url"
	Errors = "errors"
)

// Dataset and scenario keys.
const (
	Run    = "run"
	Attack = "attack"
	Task   = "task"
	Step   = "step"
	Exit   = "exit"
)

// Feature extraction and training keys.
const (
	Late    = "late"
	Skipped = "skipped"
)
