package container

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// ECSTask is what the resolver knows about one ECS task, from whichever of the
// Docker labels, the ECS agent or the task metadata endpoint answered.
type ECSTask struct {
	Cluster    string // cluster name (ARNs are shortened to the name)
	TaskARN    string
	Family     string
	Revision   string
	LaunchType string
	// Containers maps container (Docker) ids to the container's name in the
	// task definition.
	Containers map[string]ECSContainer
}

// ECSContainer is one container of a task as the ECS APIs describe it.
type ECSContainer struct {
	Name   string
	Image  string
	Digest string
	Labels map[string]string
}

// ecsAgent reads the ECS container agent's introspection API, which the agent
// serves on the instance at localhost:51678 (ECS on EC2 only).
type ecsAgent struct {
	base string
	hc   *http.Client
}

// Shapes of GET /v1/tasks and /v1/metadata on the ECS agent.
type agentTasks struct {
	Tasks []struct {
		Arn           string `json:"Arn"`
		DesiredStatus string `json:"DesiredStatus"`
		KnownStatus   string `json:"KnownStatus"`
		Family        string `json:"Family"`
		Version       string `json:"Version"`
		Containers    []struct {
			DockerID   string `json:"DockerId"`
			DockerName string `json:"DockerName"`
			Name       string `json:"Name"`
		} `json:"Containers"`
	} `json:"Tasks"`
}

type agentMetadata struct {
	Cluster              string `json:"Cluster"`
	ContainerInstanceArn string `json:"ContainerInstanceArn"`
	Version              string `json:"Version"`
}

func getJSON(ctx context.Context, hc *http.Client, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	body := io.LimitReader(resp.Body, 8<<20)
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(body, 512))
		return fmt.Errorf("GET %s: %s: %s", u, resp.Status, strings.TrimSpace(string(msg)))
	}
	if err := json.NewDecoder(body).Decode(v); err != nil {
		return fmt.Errorf("GET %s: decoding: %w", u, err)
	}
	return nil
}

// tasks returns every task the agent runs, keyed by container id.
func (a *ecsAgent) tasks(ctx context.Context) (map[string]*ECSTask, error) {
	var md agentMetadata
	// The cluster is per instance, not per task; older agents lack it in
	// task ARNs, so ask for it, but carry on without it.
	_ = getJSON(ctx, a.hc, a.base+"/v1/metadata", &md)
	var ts agentTasks
	if err := getJSON(ctx, a.hc, a.base+"/v1/tasks", &ts); err != nil {
		return nil, err
	}
	byContainer := make(map[string]*ECSTask)
	for _, t := range ts.Tasks {
		task := &ECSTask{
			Cluster:    clusterName(md.Cluster),
			TaskARN:    t.Arn,
			Family:     t.Family,
			Revision:   t.Version,
			LaunchType: LaunchEC2,
			Containers: make(map[string]ECSContainer, len(t.Containers)),
		}
		if task.Cluster == "" {
			task.Cluster = clusterFromTaskARN(t.Arn)
		}
		for _, c := range t.Containers {
			if c.DockerID == "" {
				continue
			}
			task.Containers[c.DockerID] = ECSContainer{Name: c.Name}
			byContainer[c.DockerID] = task
		}
	}
	return byContainer, nil
}

// tmde reads the Task Metadata Endpoint v4 that ECS gives every container of
// a task in $ECS_CONTAINER_METADATA_URI_V4; the agent uses it when it runs as
// a sidecar (Fargate, or EC2 without host access).
type tmde struct {
	base string
	hc   *http.Client
}

// Shape of GET ${ECS_CONTAINER_METADATA_URI_V4}/task.
type tmdeTask struct {
	Cluster       string `json:"Cluster"`
	TaskARN       string `json:"TaskARN"`
	Family        string `json:"Family"`
	Revision      string `json:"Revision"`
	DesiredStatus string `json:"DesiredStatus"`
	KnownStatus   string `json:"KnownStatus"`
	LaunchType    string `json:"LaunchType"`
	Containers    []struct {
		DockerID   string            `json:"DockerId"`
		Name       string            `json:"Name"`
		DockerName string            `json:"DockerName"`
		Image      string            `json:"Image"`
		ImageID    string            `json:"ImageID"`
		Labels     map[string]string `json:"Labels"`
	} `json:"Containers"`
}

func (m *tmde) task(ctx context.Context) (*ECSTask, error) {
	var t tmdeTask
	if err := getJSON(ctx, m.hc, m.base+"/task", &t); err != nil {
		return nil, err
	}
	task := &ECSTask{
		Cluster:    clusterName(t.Cluster),
		TaskARN:    t.TaskARN,
		Family:     t.Family,
		Revision:   t.Revision,
		LaunchType: t.LaunchType,
		Containers: make(map[string]ECSContainer, len(t.Containers)),
	}
	if task.Cluster == "" {
		task.Cluster = clusterFromTaskARN(t.TaskARN)
	}
	if task.LaunchType == "" {
		task.LaunchType = LaunchEC2
	}
	for _, c := range t.Containers {
		if c.DockerID == "" {
			continue
		}
		task.Containers[c.DockerID] = ECSContainer{Name: c.Name, Image: c.Image, Digest: c.ImageID, Labels: c.Labels}
	}
	return task, nil
}

// clusterName shortens arn:aws:ecs:region:account:cluster/NAME to NAME, so the
// cluster reads the same whichever source named it.
func clusterName(s string) string {
	if strings.HasPrefix(s, "arn:") {
		if i := strings.Index(s, ":cluster/"); i >= 0 {
			return s[i+len(":cluster/"):]
		}
	}
	return s
}

// clusterFromTaskARN reads the cluster from the long task ARN format,
// arn:aws:ecs:region:account:task/CLUSTER/ID; the old short format has none.
func clusterFromTaskARN(arn string) string {
	_, rest, ok := strings.Cut(arn, ":task/")
	if !ok {
		return ""
	}
	cluster, _, ok := strings.Cut(rest, "/")
	if !ok {
		return ""
	}
	return cluster
}

// taskIDFromARN returns the last component of a task ARN.
func taskIDFromARN(arn string) string {
	if i := strings.LastIndexByte(arn, '/'); i >= 0 {
		return arn[i+1:]
	}
	return arn
}

// labelsTask builds the task from the labels the ECS agent puts on containers.
func labelsTask(labels map[string]string) (*ECSTask, bool) {
	arn := labels[LabelECSTaskARN]
	if arn == "" && labels[LabelECSTaskFamily] == "" {
		return nil, false
	}
	t := &ECSTask{
		Cluster:    clusterName(labels[LabelECSCluster]),
		TaskARN:    arn,
		Family:     labels[LabelECSTaskFamily],
		Revision:   labels[LabelECSTaskVersion],
		LaunchType: LaunchEC2,
	}
	if t.Cluster == "" {
		t.Cluster = clusterFromTaskARN(arn)
	}
	return t, true
}

// cached remembers the last answer of a slow source and when to ask again.
type cached[T any] struct {
	val     T
	err     error
	fetched time.Time
}
