package finding

import "strings"

// OCSF Detection Finding (class 2004, category 2 Findings), version 1.3.
const (
	OCSFClassUID    = 2004
	OCSFCategoryUID = 2
	ocsfVersion     = "1.3.0"
)

// OCSF is the subset of the Detection Finding class Vigil fills.
type OCSF struct {
	ActivityID   int            `json:"activity_id"` // 1 create, 2 update
	ActivityName string         `json:"activity_name"`
	CategoryUID  int            `json:"category_uid"`
	CategoryName string         `json:"category_name"`
	ClassUID     int            `json:"class_uid"`
	ClassName    string         `json:"class_name"`
	TypeUID      int            `json:"type_uid"`
	SeverityID   int            `json:"severity_id"`
	Severity     string         `json:"severity"`
	StatusID     int            `json:"status_id"`
	Time         int64          `json:"time"` // ms since the epoch
	Count        int64          `json:"count"`
	Message      string         `json:"message"`
	Metadata     OCSFMetadata   `json:"metadata"`
	FindingInfo  OCSFInfo       `json:"finding_info"`
	Resources    []OCSFResource `json:"resources,omitempty"`
	Evidences    []OCSFEvidence `json:"evidences,omitempty"`
	Cloud        *OCSFCloud     `json:"cloud,omitempty"`
	Unmapped     map[string]any `json:"unmapped,omitempty"`
}

type OCSFMetadata struct {
	Version string      `json:"version"`
	Product OCSFProduct `json:"product"`
}

type OCSFProduct struct {
	Name       string `json:"name"`
	VendorName string `json:"vendor_name"`
}

type OCSFInfo struct {
	UID           string       `json:"uid"`
	Title         string       `json:"title"`
	Desc          string       `json:"desc"`
	Types         []string     `json:"types"`
	FirstSeenTime int64        `json:"first_seen_time"`
	LastSeenTime  int64        `json:"last_seen_time"`
	CreatedTime   int64        `json:"created_time"`
	ModifiedTime  int64        `json:"modified_time"`
	Analytic      OCSFAnalytic `json:"analytic"`
}

type OCSFAnalytic struct {
	UID    string `json:"uid,omitempty"`
	Name   string `json:"name"`
	TypeID int    `json:"type_id"` // 1 rule, 2 behavioral
	Type   string `json:"type"`
}

type OCSFResource struct {
	UID    string `json:"uid"`
	Type   string `json:"type"`
	Name   string `json:"name,omitempty"`
	Region string `json:"region,omitempty"`
}

type OCSFEvidence struct {
	Process     *OCSFProcess  `json:"process,omitempty"`
	Actor       *OCSFActor    `json:"actor,omitempty"`
	DstEndpoint *OCSFEndpoint `json:"dst_endpoint,omitempty"`
	Query       *OCSFQuery    `json:"query,omitempty"`
	File        *OCSFFile     `json:"file,omitempty"`
}

type OCSFProcess struct {
	Name    string       `json:"name,omitempty"`
	PID     int32        `json:"pid,omitempty"`
	UID     string       `json:"uid,omitempty"`
	CmdLine string       `json:"cmd_line,omitempty"`
	File    *OCSFFile    `json:"file,omitempty"`
	Parent  *OCSFProcess `json:"parent_process,omitempty"`
	Lineage []string     `json:"lineage,omitempty"`
}

type OCSFActor struct {
	Process *OCSFProcess `json:"process,omitempty"`
}

type OCSFEndpoint struct {
	IP   string `json:"ip,omitempty"`
	Port int    `json:"port,omitempty"`
}

type OCSFQuery struct {
	Hostname string `json:"hostname"`
}

type OCSFFile struct {
	Path   string `json:"path,omitempty"`
	Name   string `json:"name,omitempty"`
	TypeID int    `json:"type_id"`
}

type OCSFCloud struct {
	Provider string `json:"provider"`
	Region   string `json:"region,omitempty"`
	Account  *struct {
		UID string `json:"uid"`
	} `json:"account,omitempty"`
}

func ocsfSeverity(s float64) (int, string) {
	switch {
	case s >= 9:
		return 5, "Critical"
	case s >= 7:
		return 4, "High"
	case s >= 4:
		return 3, "Medium"
	default:
		return 2, "Low"
	}
}

// ToOCSF converts f; update says whether this is a repeat of an earlier
// finding (activity Update) rather than its first report.
func ToOCSF(f *Finding, update bool) OCSF {
	act, actName := 1, "Create"
	if update {
		act, actName = 2, "Update"
	}
	sevID, sev := ocsfSeverity(f.Severity)
	ms := func(t interface{ UnixMilli() int64 }) int64 { return t.UnixMilli() }
	o := OCSF{
		ActivityID: act, ActivityName: actName, CategoryUID: OCSFCategoryUID, CategoryName: "Findings",
		ClassUID: OCSFClassUID, ClassName: "Detection Finding", TypeUID: OCSFClassUID*100 + act,
		SeverityID: sevID, Severity: sev, StatusID: 1, Time: ms(f.UpdatedAt), Count: f.Service.Count,
		Message:  Safe(f.Title, 512),
		Metadata: OCSFMetadata{Version: ocsfVersion, Product: OCSFProduct{Name: "Vigil", VendorName: "Vigil"}},
		FindingInfo: OCSFInfo{
			UID: f.ID, Title: Safe(f.Title, 512), Desc: Safe(f.Description, 4096), Types: []string{f.Type},
			FirstSeenTime: ms(f.Service.EventFirstSeen), LastSeenTime: ms(f.Service.EventLastSeen),
			CreatedTime: ms(f.CreatedAt), ModifiedTime: ms(f.UpdatedAt),
			Analytic: OCSFAnalytic{UID: f.Service.Detection.RuleID, Name: FirstNonEmpty(f.Service.Detection.RuleName, f.Type), TypeID: 1, Type: "Rule"},
		},
		Unmapped: map[string]any{"workload": f.Service.Workload, "detection_key": f.Service.Detection.Key},
	}
	if f.Service.Detection.Source == "anomaly" {
		o.FindingInfo.Analytic.TypeID, o.FindingInfo.Analytic.Type = 2, "Behavioral"
		if ev := f.Service.Evidence; ev != nil {
			o.Unmapped["anomaly"] = ev
		}
	}
	if f.AccountID != "" || f.Region != "" {
		o.Cloud = &OCSFCloud{Provider: "AWS", Region: f.Region}
		if f.AccountID != "" {
			o.Cloud.Account = &struct {
				UID string `json:"uid"`
			}{f.AccountID}
		}
	}
	r := f.Resource
	if e := r.EcsClusterDetails; e != nil {
		if e.TaskDetails != nil && e.TaskDetails.Arn != "" {
			o.Resources = append(o.Resources, OCSFResource{UID: e.TaskDetails.Arn, Type: "AwsEcsTask", Name: e.TaskDetails.Family, Region: f.Region})
		}
		if e.Name != "" {
			o.Resources = append(o.Resources, OCSFResource{UID: FirstNonEmpty(e.Arn, e.Name), Type: "AwsEcsCluster", Name: e.Name, Region: f.Region})
		}
	}
	if c := r.ContainerDetails; c != nil {
		o.Resources = append(o.Resources, OCSFResource{UID: c.ID, Type: "Container", Name: c.Name})
	}
	var ev OCSFEvidence
	if p := f.Service.RuntimeDetails.Process; p != nil {
		op := ocsfProcess(p)
		var lineage []string
		var parent **OCSFProcess = &op.Parent
		for i := range p.Lineage {
			l := &p.Lineage[i]
			lineage = append(lineage, FirstNonEmpty(l.ExecutablePath, l.Name))
			*parent = ocsfProcess(l)
			parent = &(*parent).Parent
		}
		op.Lineage = lineage
		ev.Process = op
		ev.Actor = &OCSFActor{Process: op}
	}
	if c := f.Service.RuntimeDetails.Context; c != nil {
		if c.RemoteIP != "" {
			ev.DstEndpoint = &OCSFEndpoint{IP: c.RemoteIP, Port: c.RemotePort}
		}
		if c.Domain != "" {
			ev.Query = &OCSFQuery{Hostname: c.Domain}
		}
		if c.FilePath != "" {
			ev.File = &OCSFFile{Path: c.FilePath, Name: BaseName(c.FilePath, ""), TypeID: 1}
		}
	}
	o.Evidences = []OCSFEvidence{ev}
	return o
}

func ocsfProcess(p *Process) *OCSFProcess {
	op := &OCSFProcess{Name: p.Name, PID: p.Pid, UID: p.UUID, CmdLine: p.CommandLine}
	if p.ExecutablePath != "" {
		op.File = &OCSFFile{Path: p.ExecutablePath, Name: p.ExecutablePath[strings.LastIndexByte(p.ExecutablePath, '/')+1:], TypeID: 1}
	}
	return op
}
