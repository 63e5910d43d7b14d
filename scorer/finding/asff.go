package finding

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// ASFF limits of Security Hub BatchImportFindings.
const (
	ASFFMaxBatch = 100
	ASFFMaxBytes = 240 << 10
)

// ASFFConfig names the account the findings are imported into.
type ASFFConfig struct {
	AccountID string
	Region    string
	Partition string // default "aws"
	// ProductArn defaults to the account's own "default" product, which
	// accepts findings from anyone in the account.
	ProductArn string
}

func (c ASFFConfig) productArn() string {
	if c.ProductArn != "" {
		return c.ProductArn
	}
	return fmt.Sprintf("arn:%s:securityhub:%s:%s:product/%s/default", c.partition(), c.Region, c.AccountID, c.AccountID)
}

func (c ASFFConfig) partition() string {
	if c.Partition == "" {
		return "aws"
	}
	return c.Partition
}

// ASFF is an AWS Security Finding Format finding, with the fields Vigil fills.
type ASFF struct {
	SchemaVersion   string            `json:"SchemaVersion"`
	ID              string            `json:"Id"`
	ProductArn      string            `json:"ProductArn"`
	ProductName     string            `json:"ProductName,omitempty"`
	CompanyName     string            `json:"CompanyName,omitempty"`
	GeneratorID     string            `json:"GeneratorId"`
	AwsAccountID    string            `json:"AwsAccountId"`
	Types           []string          `json:"Types"`
	FirstObservedAt string            `json:"FirstObservedAt,omitempty"`
	LastObservedAt  string            `json:"LastObservedAt,omitempty"`
	CreatedAt       string            `json:"CreatedAt"`
	UpdatedAt       string            `json:"UpdatedAt"`
	Severity        ASFFSeverity      `json:"Severity"`
	Title           string            `json:"Title"`
	Description     string            `json:"Description"`
	ProductFields   map[string]string `json:"ProductFields,omitempty"`
	Resources       []ASFFResource    `json:"Resources"`
	Process         *ASFFProcess      `json:"Process,omitempty"`
	Network         *ASFFNetwork      `json:"Network,omitempty"`
	Workflow        map[string]string `json:"Workflow,omitempty"`
	RecordState     string            `json:"RecordState,omitempty"`
}

type ASFFSeverity struct {
	Label      string `json:"Label"`
	Normalized int    `json:"Normalized"`
	Original   string `json:"Original"`
}

type ASFFResource struct {
	Type      string                    `json:"Type"`
	ID        string                    `json:"Id"`
	Partition string                    `json:"Partition,omitempty"`
	Region    string                    `json:"Region,omitempty"`
	Details   map[string]map[string]any `json:"Details,omitempty"`
	Tags      map[string]string         `json:"Tags,omitempty"`
}

type ASFFProcess struct {
	Name       string `json:"Name,omitempty"`
	Path       string `json:"Path,omitempty"`
	Pid        int32  `json:"Pid,omitempty"`
	LaunchedAt string `json:"LaunchedAt,omitempty"`
}

type ASFFNetwork struct {
	Direction       string `json:"Direction,omitempty"`
	DestinationIPV4 string `json:"DestinationIpV4,omitempty"`
	DestinationIPV6 string `json:"DestinationIpV6,omitempty"`
	DestinationPort int    `json:"DestinationPort,omitempty"`
	DestinationDom  string `json:"DestinationDomain,omitempty"`
}

// ASFFType maps a finding type to ASFF's namespace/category/classifier form,
// the way GuardDuty does: "Execution:Runtime/ReverseShell" becomes
// "TTPs/Execution/Execution:Runtime-ReverseShell".
func ASFFType(typ string) string {
	purpose, _, _ := strings.Cut(typ, ":")
	ns := "TTPs"
	if purpose == "Anomaly" {
		ns = "Unusual Behaviors"
	}
	return ns + "/" + purpose + "/" + strings.ReplaceAll(typ, "/", "-")
}

const asffTime = "2006-01-02T15:04:05.000Z07:00"

func asffT(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(asffTime)
}

// ToASFF converts f. A finding whose JSON would exceed ASFFMaxBytes loses
// its lineage and has long fields cut, and says so in ProductFields.
func ToASFF(f *Finding, cfg ASFFConfig) ASFF {
	a := ASFF{
		SchemaVersion: "2018-10-08", ID: f.ID, ProductArn: cfg.productArn(),
		ProductName: "Vigil", CompanyName: "Vigil",
		GeneratorID:  "vigil/" + f.Service.Detection.Source + "/" + FirstNonEmpty(f.Service.Detection.RuleID, f.Type),
		AwsAccountID: FirstNonEmpty(f.AccountID, cfg.AccountID), Types: []string{ASFFType(f.Type)},
		FirstObservedAt: asffT(f.Service.EventFirstSeen), LastObservedAt: asffT(f.Service.EventLastSeen),
		CreatedAt: asffT(f.CreatedAt), UpdatedAt: asffT(f.UpdatedAt),
		Severity: ASFFSeverity{Label: SeverityLabel(f.Severity), Normalized: int(f.Severity * 10), Original: fmt.Sprintf("%.1f", f.Severity)},
		Title:    Safe(f.Title, 256), Description: Safe(f.Description, 1024),
		ProductFields: map[string]string{
			"vigil/type": f.Type, "vigil/workload": f.Service.Workload, "vigil/count": fmt.Sprint(f.Service.Count),
			"vigil/detection/key": f.Service.Detection.Key,
		},
		RecordState: "ACTIVE",
	}
	if f.Service.Detection.RuleID != "" {
		a.ProductFields["vigil/rule"] = f.Service.Detection.RuleID
	}
	region := FirstNonEmpty(f.Region, cfg.Region)
	r := f.Resource
	if r.EcsClusterDetails != nil && r.EcsClusterDetails.TaskDetails != nil && r.EcsClusterDetails.TaskDetails.Arn != "" {
		td := r.EcsClusterDetails.TaskDetails
		a.Resources = append(a.Resources, ASFFResource{Type: "AwsEcsTask", ID: td.Arn, Partition: cfg.partition(), Region: region,
			Details: map[string]map[string]any{"AwsEcsTask": {"ClusterArn": r.EcsClusterDetails.Arn, "TaskDefinitionArn": taskDefArn(td)}}})
	}
	if c := r.ContainerDetails; c != nil {
		a.Resources = append(a.Resources, ASFFResource{Type: "Container", ID: c.ID, Partition: cfg.partition(), Region: region,
			Details: map[string]map[string]any{"Container": {"Name": c.Name, "ImageName": c.Image, "ImageId": c.ImageDigest}}})
	}
	if len(a.Resources) == 0 {
		host := ""
		if r.InstanceDetails != nil {
			host = r.InstanceDetails.Hostname
		}
		a.Resources = append(a.Resources, ASFFResource{Type: "Other", ID: "host/" + host, Partition: cfg.partition(), Region: region})
	}
	if p := f.Service.RuntimeDetails.Process; p != nil {
		a.Process = &ASFFProcess{Name: p.Name, Path: p.ExecutablePath, Pid: p.Pid, LaunchedAt: asffT(p.StartTime)}
		if len(p.Lineage) > 0 {
			var names []string
			for _, l := range p.Lineage {
				names = append(names, FirstNonEmpty(l.ExecutablePath, l.Name))
			}
			a.ProductFields["vigil/process/lineage"] = strings.Join(names, " <- ")
		}
		if p.CommandLine != "" {
			a.ProductFields["vigil/process/commandLine"] = p.CommandLine
		}
	}
	if c := f.Service.RuntimeDetails.Context; c != nil {
		if c.RemoteIP != "" || c.Domain != "" {
			a.Network = &ASFFNetwork{Direction: "OUT", DestinationPort: c.RemotePort, DestinationDom: c.Domain}
			if strings.Contains(c.RemoteIP, ":") {
				a.Network.DestinationIPV6 = c.RemoteIP
			} else {
				a.Network.DestinationIPV4 = c.RemoteIP
			}
		}
		for k, v := range map[string]string{"filePath": c.FilePath, "socketPath": c.SocketPath, "moduleName": c.ModuleName,
			"mountSource": c.MountSource, "mountTarget": c.MountTarget, "commandLineExample": c.CommandLineExample} {
			if v != "" {
				a.ProductFields["vigil/context/"+k] = v
			}
		}
	}
	if ev := f.Service.Evidence; ev != nil {
		a.ProductFields["vigil/anomaly/feature"] = ev.Feature
		a.ProductFields["vigil/anomaly/observed"] = ev.Observed
		a.ProductFields["vigil/anomaly/expected"] = ev.Expected
		a.ProductFields["vigil/anomaly/score"] = fmt.Sprintf("%.4g", ev.Score)
	}
	fitASFF(&a)
	return a
}

// fitASFF cuts a finding to Security Hub's size limit. ProductFields values
// are capped (Security Hub limits them anyway) and dropped largest first.
func fitASFF(a *ASFF) {
	for k, v := range a.ProductFields {
		if len(v) > 2048 {
			a.ProductFields[k] = Safe(v, 2048)
		}
	}
	for {
		b, _ := json.Marshal(a)
		if len(b) <= ASFFMaxBytes {
			return
		}
		big := ""
		for k, v := range a.ProductFields {
			if big == "" || len(v) > len(a.ProductFields[big]) {
				big = k
			}
		}
		if big == "" {
			a.Description = Safe(a.Description, 256)
			return
		}
		delete(a.ProductFields, big)
		a.ProductFields["vigil/truncated"] = "true"
	}
}

func taskDefArn(td *TaskDetails) string {
	// arn:aws:ecs:region:account:task/cluster/id -> task-definition/family:rev
	parts := strings.SplitN(td.Arn, ":", 6)
	if len(parts) < 6 || td.Family == "" {
		return ""
	}
	return strings.Join(parts[:5], ":") + ":task-definition/" + td.Family + ":" + td.Version
}

// FirstNonEmpty returns the first non-empty string.
func FirstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// BatchASFF splits findings into BatchImportFindings calls: at most
// ASFFMaxBatch findings per call.
func BatchASFF(all []ASFF) [][]ASFF {
	var out [][]ASFF
	for len(all) > 0 {
		n := min(len(all), ASFFMaxBatch)
		out = append(out, all[:n])
		all = all[n:]
	}
	return out
}
