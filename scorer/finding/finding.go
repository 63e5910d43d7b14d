// Package finding is Vigil's finding: the shape of an Amazon GuardDuty
// Runtime Monitoring finding (type, severity, resource, runtime details),
// its aggregation of repeats, and its conversions to Security Hub's ASFF and
// to an OCSF Detection Finding.
//
// Every string that came from a watched process (paths, argv, comm, DNS
// names, image names) is escaped with internal/escape when the finding is
// built, so every output carries text that cannot split a log line or drive a
// terminal, and that decodes back to the original bytes.
package finding

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vigilsec/vigil/internal/escape"
	"github.com/vigilsec/vigil/trace"
)

// SchemaVersion of Vigil's finding JSON.
const SchemaVersion = "1.0"

// Finding mirrors a GuardDuty finding's fields (camelCase, as GuardDuty's
// EventBridge events carry them).
type Finding struct {
	SchemaVersion string    `json:"schemaVersion"`
	ID            string    `json:"id"`
	AccountID     string    `json:"accountId,omitempty"`
	Region        string    `json:"region,omitempty"`
	Partition     string    `json:"partition,omitempty"`
	Type          string    `json:"type"`
	Severity      float64   `json:"severity"`
	Title         string    `json:"title"`
	Description   string    `json:"description"`
	CreatedAt     time.Time `json:"createdAt"`
	UpdatedAt     time.Time `json:"updatedAt"`
	Resource      Resource  `json:"resource"`
	Service       Service   `json:"service"`
}

// Resource is what the finding is about: the ECS task and the container.
type Resource struct {
	ResourceType      string             `json:"resourceType"` // ECSCluster, Container or Instance
	EcsClusterDetails *EcsClusterDetails `json:"ecsClusterDetails,omitempty"`
	ContainerDetails  *ContainerDetails  `json:"containerDetails,omitempty"`
	InstanceDetails   *InstanceDetails   `json:"instanceDetails,omitempty"`
}

type EcsClusterDetails struct {
	Name        string       `json:"name,omitempty"`
	Arn         string       `json:"arn,omitempty"`
	TaskDetails *TaskDetails `json:"taskDetails,omitempty"`
}

type TaskDetails struct {
	Arn        string             `json:"arn,omitempty"`
	Family     string             `json:"family,omitempty"`
	Version    string             `json:"version,omitempty"`
	LaunchType string             `json:"launchType,omitempty"`
	Containers []ContainerDetails `json:"containers,omitempty"`
}

type ContainerDetails struct {
	ContainerRuntime string `json:"containerRuntime,omitempty"`
	ID               string `json:"id,omitempty"`
	Name             string `json:"name,omitempty"`
	Image            string `json:"image,omitempty"`
	ImagePrefix      string `json:"imagePrefix,omitempty"`
	ImageDigest      string `json:"imageDigest,omitempty"`
}

type InstanceDetails struct {
	Hostname string `json:"hostname,omitempty"`
}

// Service carries detection details, like GuardDuty's service block.
type Service struct {
	ServiceName    string           `json:"serviceName"`
	FeatureName    string           `json:"featureName"`
	EventFirstSeen time.Time        `json:"eventFirstSeen"`
	EventLastSeen  time.Time        `json:"eventLastSeen"`
	Count          int64            `json:"count"`
	Archived       bool             `json:"archived"`
	RuntimeDetails RuntimeDetails   `json:"runtimeDetails"`
	Detection      Detection        `json:"detection"`
	Evidence       *AnomalyEvidence `json:"anomalyEvidence,omitempty"`
	Workload       string           `json:"workload"`
	Host           string           `json:"host,omitempty"`
}

// Detection says which rule or model produced the finding.
type Detection struct {
	Source   string   `json:"source"` // "rule" or "anomaly"
	RuleID   string   `json:"ruleId,omitempty"`
	RuleName string   `json:"ruleName,omitempty"`
	Tags     []string `json:"tags,omitempty"`
	// Key is what repeats are aggregated on within (workload, type).
	Key string `json:"key"`
}

// AnomalyEvidence is what a baseline saw deviate.
type AnomalyEvidence struct {
	Feature  string  `json:"feature"`            // what deviated, e.g. "exec:/usr/bin/nc"
	Observed string  `json:"observed"`           // the observed value
	Expected string  `json:"expected,omitempty"` // what the baseline expected
	Score    float64 `json:"score"`              // anomaly score (model specific; higher is stranger)
	// NoveltyProbability is the model's probability of seeing something
	// this new, when the model gives one.
	NoveltyProbability float64 `json:"noveltyProbability,omitempty"`
	Threshold          float64 `json:"threshold,omitempty"`
	ModelVersion       string  `json:"modelVersion,omitempty"`
}

type RuntimeDetails struct {
	Process *Process `json:"process,omitempty"`
	Context *Context `json:"context,omitempty"`
}

// Process is a process and, for the acting process, its ancestors.
type Process struct {
	Name             string    `json:"name,omitempty"`
	ExecutablePath   string    `json:"executablePath,omitempty"`
	ExecutableSha256 string    `json:"executableSha256,omitempty"`
	CommandLine      string    `json:"commandLine,omitempty"`
	NamespacePid     int32     `json:"namespacePid,omitempty"`
	Pwd              string    `json:"pwd,omitempty"`
	Pid              int32     `json:"pid,omitempty"`
	StartTime        time.Time `json:"startTime,omitzero"`
	UUID             string    `json:"uuid,omitempty"`
	ParentUUID       string    `json:"parentUuid,omitempty"`
	UserID           uint32    `json:"userId"`
	Euid             uint32    `json:"euid"`
	Lineage          []Process `json:"lineage,omitempty"`
}

// Context is the event-specific part of runtime details, named as GuardDuty
// names it.
type Context struct {
	ModifyingProcess   *Process  `json:"modifyingProcess,omitempty"`
	ModifiedAt         time.Time `json:"modifiedAt,omitzero"`
	SocketPath         string    `json:"socketPath,omitempty"`
	ReleaseAgentPath   string    `json:"releaseAgentPath,omitempty"`
	RuncBinaryPath     string    `json:"runcBinaryPath,omitempty"`
	MountSource        string    `json:"mountSource,omitempty"`
	MountTarget        string    `json:"mountTarget,omitempty"`
	ModuleName         string    `json:"moduleName,omitempty"`
	TargetProcess      *Process  `json:"targetProcess,omitempty"`
	AddressFamily      string    `json:"addressFamily,omitempty"`
	IanaProtocolNumber int       `json:"ianaProtocolNumber,omitempty"`
	RemoteIP           string    `json:"remoteIp,omitempty"`
	RemotePort         int       `json:"remotePort,omitempty"`
	Domain             string    `json:"domain,omitempty"`
	DomainAnswers      []string  `json:"domainAnswers,omitempty"`
	ToolName           string    `json:"toolName,omitempty"`
	ToolCategory       string    `json:"toolCategory,omitempty"`
	CommandLineExample string    `json:"commandLineExample,omitempty"`
	ThreatFilePath     string    `json:"threatFilePath,omitempty"`
	FileOperation      string    `json:"fileOperation,omitempty"`
	FilePath           string    `json:"filePath,omitempty"`
	NewFilePath        string    `json:"newFilePath,omitempty"`
	Flags              []string  `json:"flags,omitempty"`
	IntelCategory      string    `json:"intelCategory,omitempty"`
	DGAScore           float64   `json:"dgaScore,omitempty"`
}

// ID derives a stable finding id from what repeats aggregate on, so the same
// activity updates one finding across restarts and hosts of one workload.
func ID(workload, typ, key string) string {
	h := sha256.Sum256([]byte(workload + "\x00" + typ + "\x00" + key))
	return hex.EncodeToString(h[:16])
}

// Safe makes a human-facing text (title, description) safe to show: escapes
// control characters, ANSI sequences, newlines and invalid UTF-8, and caps its
// length. Text composed of already escaped fields passes unchanged (it is not
// escaped twice).
func Safe(s string, max int) string {
	if needsEscape(s) {
		s = escape.String(s)
	}
	if max > 0 && len(s) > max {
		cut := max - len("...")
		for cut > 0 && s[cut]&0xc0 == 0x80 {
			cut-- // do not split a UTF-8 sequence
		}
		s = s[:cut] + "..."
	}
	return s
}

func needsEscape(s string) bool {
	if !utf8.ValidString(s) {
		return true
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return true
		}
	}
	return false
}

// ProcessFromEvent is the acting process of ev, escaped.
func ProcessFromEvent(ev *trace.Event) *Process {
	p := &Process{
		Name: escape.String(ev.Comm), ExecutablePath: escape.String(ev.ExePath), ExecutableSha256: ev.ExeSHA256,
		NamespacePid: ev.NSPID, Pwd: escape.String(ev.Cwd), Pid: ev.PID, UUID: ev.ProcUUID, ParentUUID: ev.ParentUUID,
		UserID: ev.UID, Euid: ev.EUID,
	}
	if len(ev.Argv) > 0 {
		p.CommandLine = CommandLine(ev.Argv)
	}
	if ev.ProcStart > 0 {
		p.StartTime = time.Unix(0, ev.ProcStart).UTC()
	}
	return p
}

// CommandLine joins argv for display, escaping each argument.
func CommandLine(argv []string) string {
	return strings.Join(escape.Strings(argv), " ")
}

// ResourceFromEvent fills the ECS and container resource of ev.
func ResourceFromEvent(ev *trace.Event) Resource {
	r := Resource{ResourceType: "Instance", InstanceDetails: &InstanceDetails{Hostname: ev.Host}}
	if ev.ContainerID != "" {
		r = Resource{ResourceType: "Container"}
		r.ContainerDetails = &ContainerDetails{
			ContainerRuntime: ev.Runtime, ID: ev.ContainerID, Name: escape.String(ev.ContainerName),
			Image: escape.String(ev.Image), ImagePrefix: escape.String(trace.ImageRepository(ev.Image)), ImageDigest: ev.ImageDigest,
		}
	}
	if ev.TaskARN != "" || ev.Cluster != "" {
		r.ResourceType = "ECSCluster"
		r.EcsClusterDetails = &EcsClusterDetails{Name: clusterName(ev.Cluster), Arn: clusterARN(ev.Cluster, ev.TaskARN)}
		td := &TaskDetails{Arn: ev.TaskARN, Family: ev.TaskFamily, Version: ev.TaskRevision, LaunchType: ev.LaunchType}
		if r.ContainerDetails != nil {
			c := *r.ContainerDetails
			if ev.ECSContainerName != "" {
				c.Name = escape.String(ev.ECSContainerName)
			}
			td.Containers = []ContainerDetails{c}
		}
		r.EcsClusterDetails.TaskDetails = td
	}
	return r
}

// clusterName accepts a cluster name or ARN.
func clusterName(c string) string {
	if i := strings.LastIndexByte(c, '/'); i >= 0 && strings.HasPrefix(c, "arn:") {
		return c[i+1:]
	}
	return c
}

// clusterARN is the cluster's ARN: given, or derived from the task ARN
// (arn:aws:ecs:region:account:task/cluster/id).
func clusterARN(cluster, task string) string {
	if strings.HasPrefix(cluster, "arn:") {
		return cluster
	}
	parts := strings.SplitN(task, ":", 6)
	if len(parts) == 6 && cluster != "" {
		return fmt.Sprintf("%s:%s:%s:%s:%s:cluster/%s", parts[0], parts[1], parts[2], parts[3], parts[4], cluster)
	}
	return ""
}

// ContextFromEvent derives the runtime context GuardDuty would report for ev.
func ContextFromEvent(ev *trace.Event) *Context {
	c := &Context{}
	switch ev.Kind {
	case trace.KindExec:
		c.CommandLineExample = CommandLine(ev.Argv)
		c.ToolName = escape.String(BaseName(ev.ExePath, ev.Comm))
		c.ThreatFilePath = escape.String(ev.ExePath)
	case trace.KindOpen, trace.KindUnlink, trace.KindChmod, trace.KindChown:
		c.FilePath = escape.String(ev.Path)
		c.FileOperation = fileOperation(ev)
		c.ModifyingProcess = ProcessFromEvent(ev)
		c.ModifiedAt = time.Unix(0, ev.Time).UTC()
		switch base := BaseName(ev.Path, ""); {
		case base == "release_agent" || base == "notify_on_release":
			c.ReleaseAgentPath = c.FilePath
		case base == "runc" || strings.HasSuffix(ev.Path, "/exe"):
			c.RuncBinaryPath = c.FilePath
		case strings.HasSuffix(ev.Path, ".sock"):
			c.SocketPath = c.FilePath
		}
	case trace.KindRename, trace.KindLink:
		c.FilePath, c.NewFilePath = escape.String(ev.Path), escape.String(ev.NewPath)
		c.FileOperation = string(ev.Kind)
		c.ModifyingProcess = ProcessFromEvent(ev)
		c.ModifiedAt = time.Unix(0, ev.Time).UTC()
	case trace.KindConnect, trace.KindAccept, trace.KindBind, trace.KindListen:
		c.AddressFamily = family(ev.NetFamily)
		c.IanaProtocolNumber = int(ev.NetProto)
		if ev.NetFamily == trace.FamilyUnix {
			c.SocketPath = escape.String(ev.DstAddr)
		} else {
			c.RemoteIP, c.RemotePort = ev.DstAddr, int(ev.DstPort)
		}
	case trace.KindDNS:
		c.Domain = escape.String(ev.DNSName)
		c.DomainAnswers = escape.Strings(ev.DNSAnswers)
	case trace.KindMount:
		c.MountTarget, c.MountSource = escape.String(ev.Path), escape.String(ev.NewPath)
	case trace.KindModuleLoad:
		c.ModuleName = escape.String(ev.Module)
	case trace.KindPtrace:
		c.TargetProcess = &Process{Pid: ev.TargetPID}
		c.Flags = []string{ptraceRequest(ev.Flags)}
	case trace.KindMemfd:
		c.FilePath = escape.String(ev.Path)
	}
	return c
}

// BaseName is the last element of a slash path, or fallback when p is empty.
func BaseName(p, fallback string) string {
	if p == "" {
		return fallback
	}
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

func family(f uint16) string {
	switch f {
	case trace.FamilyUnix:
		return "AF_UNIX"
	case trace.FamilyInet:
		return "AF_INET"
	case trace.FamilyInet6:
		return "AF_INET6"
	}
	return fmt.Sprint(f)
}

func fileOperation(ev *trace.Event) string {
	switch ev.Kind {
	case trace.KindOpen:
		if ev.Flags&3 != 0 || ev.Flags&0x40 != 0 || ev.Flags&0x200 != 0 {
			return "write"
		}
		return "read"
	default:
		return string(ev.Kind)
	}
}

func ptraceRequest(r uint64) string {
	switch r {
	case 0:
		return "PTRACE_TRACEME"
	case 4:
		return "PTRACE_POKETEXT"
	case 5:
		return "PTRACE_POKEDATA"
	case 6:
		return "PTRACE_POKEUSER"
	case 13:
		return "PTRACE_SETREGS"
	case 16:
		return "PTRACE_ATTACH"
	case 0x4206:
		return "PTRACE_SEIZE"
	}
	return fmt.Sprintf("PTRACE_%d", r)
}

// SeverityLabel is GuardDuty's band for a numeric severity.
func SeverityLabel(s float64) string {
	switch {
	case s >= 9:
		return "CRITICAL"
	case s >= 7:
		return "HIGH"
	case s >= 4:
		return "MEDIUM"
	default:
		return "LOW"
	}
}
