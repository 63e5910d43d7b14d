// Package trace holds Vigil's one event schema, shared by every stage from the
// collector to the scorer, and the trace lake that stores events as Parquet.
package trace

import (
	"strings"
)

// SchemaVersion is written into every Parquet file's metadata. Readers refuse
// files with a newer version rather than guess at columns they do not know.
const SchemaVersion = 1

// Kind says what happened. It is a string so that the lake stays readable from
// Athena, DuckDB or Spark without a lookup table; dictionary encoding makes it
// as cheap on disk as an integer.
type Kind string

const (
	KindExec        Kind = "exec"
	KindExit        Kind = "exit"
	KindFork        Kind = "fork"
	KindOpen        Kind = "open"
	KindRename      Kind = "rename"
	KindUnlink      Kind = "unlink"
	KindChmod       Kind = "chmod"
	KindChown       Kind = "chown"
	KindLink        Kind = "link"
	KindConnect     Kind = "connect"
	KindAccept      Kind = "accept"
	KindBind        Kind = "bind"
	KindListen      Kind = "listen"
	KindDNS         Kind = "dns"
	KindPtrace      Kind = "ptrace"
	KindCred        Kind = "cred"
	KindMount       Kind = "mount"
	KindUmount      Kind = "umount"
	KindModuleLoad  Kind = "module_load"
	KindBPF         Kind = "bpf"
	KindMemfd       Kind = "memfd_create"
	KindExecMapping Kind = "exec_mapping"
	KindUserfaultfd Kind = "userfaultfd"
	KindSignal      Kind = "signal"
	KindSyscall     Kind = "syscall"
)

// Kinds lists every kind in a fixed order; Index gives a kind's position in it,
// so per-kind counters can be plain arrays.
var Kinds = []Kind{
	KindExec, KindExit, KindFork, KindOpen, KindRename, KindUnlink, KindChmod,
	KindChown, KindLink, KindConnect, KindAccept, KindBind, KindListen, KindDNS,
	KindPtrace, KindCred, KindMount, KindUmount, KindModuleLoad, KindBPF,
	KindMemfd, KindExecMapping, KindUserfaultfd, KindSignal, KindSyscall,
}

var kindIndex = func() map[Kind]int {
	m := make(map[Kind]int, len(Kinds))
	for i, k := range Kinds {
		m[k] = i
	}
	return m
}()

// Index returns the kind's position in Kinds, or -1 for a kind this version
// does not know.
func (k Kind) Index() int {
	if i, ok := kindIndex[k]; ok {
		return i
	}
	return -1
}

// Valid reports whether k is one of Kinds.
func (k Kind) Valid() bool { return k.Index() >= 0 }

// Network families as in the kernel (AF_INET, AF_INET6, AF_UNIX).
const (
	FamilyUnix  = 1
	FamilyInet  = 2
	FamilyInet6 = 10
)

// Flags of exec events: what the new program's standard streams (fds 0, 1
// and 2, after close-on-exec) are, read from its fd table by the collector.
// A shell whose stdin and stdout are one TCP connection is a reverse or bind
// shell whatever command line started it. An fd that is none of these (a
// file, a terminal, /dev/null, closed) sets no bit.
const (
	ExecStdinSocket  = 1 << 0 // a socket of any family (AF_UNIX included)
	ExecStdoutSocket = 1 << 1
	ExecStderrSocket = 1 << 2
	ExecStdinPipe    = 1 << 3 // a pipe or a FIFO (named pipe)
	ExecStdoutPipe   = 1 << 4
	ExecStderrPipe   = 1 << 5
	ExecStdinInet    = 1 << 6 // an AF_INET or AF_INET6 socket; ExecStdinSocket is set too
	ExecStdoutInet   = 1 << 7
	ExecStderrInet   = 1 << 8
)

// Event is one row of the trace lake and the one value every stage passes on.
// Columns are flat so that SQL engines read them without unnesting; names are
// grouped by prefix (proc_, container_, ecs_, net_, dns_).
//
// String fields that come from the watched process (paths, argv, comm, DNS
// names) are attacker-controlled and kept byte-exact here; outputs escape them.
type Event struct {
	Time   int64  `parquet:"time,timestamp(nanosecond),delta" json:"time"` // ns since the Unix epoch, UTC
	Host   string `parquet:"host,dict" json:"host"`
	BootID string `parquet:"boot_id,dict" json:"boot_id"`
	Kind   Kind   `parquet:"kind,dict" json:"kind"`

	// Process.
	PID           int32    `parquet:"pid,dict" json:"pid"`
	TID           int32    `parquet:"tid,dict" json:"tid"`
	PPID          int32    `parquet:"ppid,dict" json:"ppid"`
	NSPID         int32    `parquet:"ns_pid,dict,optional" json:"ns_pid,omitempty"` // pid inside its own pid namespace
	UID           uint32   `parquet:"uid" json:"uid"`
	EUID          uint32   `parquet:"euid" json:"euid"`
	GID           uint32   `parquet:"gid" json:"gid"`
	EGID          uint32   `parquet:"egid" json:"egid"`
	Comm          string   `parquet:"comm,dict" json:"comm"`
	ExePath       string   `parquet:"exe_path,dict,optional" json:"exe_path,omitempty"`
	Argv          []string `parquet:"argv,list,optional" json:"argv,omitempty"`
	ArgvTruncated bool     `parquet:"argv_truncated" json:"argv_truncated,omitempty"`
	Cwd           string   `parquet:"cwd,dict,optional" json:"cwd,omitempty"`
	ProcStart     int64    `parquet:"proc_start,timestamp(nanosecond),dict,optional" json:"proc_start,omitempty"`
	ProcUUID      string   `parquet:"proc_uuid,dict" json:"proc_uuid"`
	ParentUUID    string   `parquet:"parent_uuid,dict,optional" json:"parent_uuid,omitempty"`
	ExeSHA256     string   `parquet:"exe_sha256,dict,optional" json:"exe_sha256,omitempty"`

	// Container.
	CgroupID      uint64 `parquet:"cgroup_id,dict" json:"cgroup_id"`
	ContainerID   string `parquet:"container_id,dict,optional" json:"container_id,omitempty"`
	Runtime       string `parquet:"container_runtime,dict,optional" json:"container_runtime,omitempty"`
	Image         string `parquet:"container_image,dict,optional" json:"container_image,omitempty"`
	ImageDigest   string `parquet:"container_image_digest,dict,optional" json:"container_image_digest,omitempty"`
	ContainerName string `parquet:"container_name,dict,optional" json:"container_name,omitempty"`

	// ECS.
	Cluster          string `parquet:"ecs_cluster,dict,optional" json:"ecs_cluster,omitempty"`
	TaskARN          string `parquet:"ecs_task_arn,dict,optional" json:"ecs_task_arn,omitempty"`
	TaskFamily       string `parquet:"ecs_task_family,dict,optional" json:"ecs_task_family,omitempty"`
	TaskRevision     string `parquet:"ecs_task_revision,dict,optional" json:"ecs_task_revision,omitempty"`
	ECSContainerName string `parquet:"ecs_container_name,dict,optional" json:"ecs_container_name,omitempty"`
	LaunchType       string `parquet:"ecs_launch_type,dict,optional" json:"ecs_launch_type,omitempty"`

	// Workload is the key baselines are learned under; see WorkloadKey.
	Workload string `parquet:"workload,dict" json:"workload"`

	// What the event is about.
	Syscall       int32    `parquet:"syscall,dict" json:"syscall"` // x86_64 number of the syscall behind the event
	Ret           int64    `parquet:"ret,dict" json:"ret"`         // return value; negative errno on failure
	Path          string   `parquet:"path,dict,optional" json:"path,omitempty"`
	NewPath       string   `parquet:"new_path,dict,optional" json:"new_path,omitempty"`
	PathTruncated bool     `parquet:"path_truncated" json:"path_truncated,omitempty"`
	Flags         uint64   `parquet:"flags,dict,optional" json:"flags,omitempty"` // kind-specific: open flags, ptrace request, exit signal, exec's ExecStdin* bits, ...
	Mode          uint32   `parquet:"mode,optional" json:"mode,omitempty"`
	FD            int32    `parquet:"fd,dict,optional" json:"fd,omitempty"`
	NetFamily     uint16   `parquet:"net_family,optional" json:"net_family,omitempty"`
	NetProto      uint8    `parquet:"net_protocol,optional" json:"net_protocol,omitempty"` // IANA protocol number
	SrcAddr       string   `parquet:"net_src_addr,dict,optional" json:"net_src_addr,omitempty"`
	SrcPort       uint16   `parquet:"net_src_port,optional" json:"net_src_port,omitempty"`
	DstAddr       string   `parquet:"net_dst_addr,dict,optional" json:"net_dst_addr,omitempty"`
	DstPort       uint16   `parquet:"net_dst_port,optional" json:"net_dst_port,omitempty"`
	DNSName       string   `parquet:"dns_name,dict,optional" json:"dns_name,omitempty"`
	DNSType       uint16   `parquet:"dns_type,optional" json:"dns_type,omitempty"`
	DNSAnswers    []string `parquet:"dns_answers,list,optional" json:"dns_answers,omitempty"`
	TargetPID     int32    `parquet:"target_pid,dict,optional" json:"target_pid,omitempty"`
	Module        string   `parquet:"module,dict,optional" json:"module,omitempty"`
}

// WorkloadKey derives the key a workload's baseline is learned under: the ECS
// task family and container name when the event comes from an ECS task, the
// image repository (no tag, no digest) for other containers, and "host" for
// processes outside any container.
func WorkloadKey(e *Event) string {
	switch {
	case e.TaskFamily != "":
		name := e.ECSContainerName
		if name == "" {
			name = e.ContainerName
		}
		return e.TaskFamily + "/" + name
	case e.Image != "":
		return ImageRepository(e.Image)
	case e.ContainerID != "":
		return "container"
	default:
		return "host"
	}
}

// ImageRepository strips the tag and digest from an image reference:
// "123.dkr.ecr.us-east-1.amazonaws.com/web:1.2@sha256:..." becomes
// "123.dkr.ecr.us-east-1.amazonaws.com/web". A registry port is not a tag.
func ImageRepository(image string) string {
	if i := strings.IndexByte(image, '@'); i >= 0 {
		image = image[:i]
	}
	if i := strings.LastIndexByte(image, ':'); i > strings.LastIndexByte(image, '/') {
		image = image[:i]
	}
	return image
}
