// Package label is the ground truth written next to traces in the lake: one
// JSON object per run (a scenario run or one imported dataset trace), stored
// under labels/<source>/<run id>.json.
package label

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/blob"
)

// Sources of labelled runs.
const (
	SourceScenario = "scenario"
	SourceADFA     = "adfa-ld"
	SourceLIDDS    = "lid-ds-2021"
)

// Prefix is where labels live in the lake's side store.
const Prefix = "labels/"

// Run is the ground truth of one run.
type Run struct {
	Source   string `json:"source"`
	Scenario string `json:"scenario"`
	Kind     string `json:"kind"` // benign, attack, anomaly
	RunID    string `json:"run_id"`
	Seed     int64  `json:"seed"`
	Host     string `json:"host,omitempty"`
	BootID   string `json:"boot_id,omitempty"`

	Start time.Time `json:"start"`
	End   time.Time `json:"end"`

	Cluster    string      `json:"ecs_cluster,omitempty"`
	TaskARN    string      `json:"ecs_task_arn,omitempty"`
	Family     string      `json:"ecs_task_family,omitempty"`
	Revision   string      `json:"ecs_task_revision,omitempty"`
	Containers []Container `json:"containers,omitempty"`

	// Attack is set for attack and anomaly runs, and for imported traces that
	// hold an attack.
	Attack *Attack `json:"attack,omitempty"`

	// Workload is the trace.Event.Workload value imported traces carry, so a
	// label can be joined to its events.
	Workload string `json:"workload,omitempty"`
	Events   int64  `json:"events,omitempty"`
	// Failed is why a run stopped early (an attack step that failed, an
	// interrupt). Its events up to then are in the lake, so it is labelled
	// all the same: an attack that had begun runs to the moment of failure.
	Failed string `json:"failed,omitempty"`
	// Notes are problems the run hit that do not void it (a benign job that
	// failed, a process whose uuid could not be resolved).
	Notes []string `json:"notes,omitempty"`
}

// Container is one container of a run.
type Container struct {
	Name  string `json:"name"`
	ID    string `json:"id"`
	Image string `json:"image"`
	Role  string `json:"role"` // RoleWorkload, RolePause or RoleInfra
	PID   int    `json:"pid"`
}

// Roles of a run's containers.
const (
	// RoleWorkload is a container the scenario declares: part of the task.
	RoleWorkload = "workload"
	// RolePause is the task's pause container: it carries the task's ECS
	// labels and owns its network namespace, and runs nothing but pause, as
	// in ECS. It is part of the task like any workload container.
	RolePause = "pause"
	// RoleInfra is simulation infrastructure: the container that stands in
	// for hosts outside the task (DNS, the attacker's listener, a mining
	// pool). It shares the task's network namespace so those hosts are
	// reachable on loopback, but carries no ECS labels and is not part of the
	// task: its activity is neither benign nor attack, and an evaluation
	// leaves it out (and says how much it left out).
	//
	// Labels written before the pause container and the remote hosts were
	// split give this role to one container that was both; its activity was
	// mostly the remote hosts' servers, so it is simulation infrastructure
	// too.
	RoleInfra = "infra"
)

// InfraIDs returns the ids of the run's simulation infrastructure
// containers (RoleInfra).
func (r *Run) InfraIDs() []string {
	var out []string
	for _, c := range r.Containers {
		if c.Role == RoleInfra && c.ID != "" {
			out = append(out, c.ID)
		}
	}
	return out
}

// Attack is the labelled part of a run.
type Attack struct {
	ID          string    `json:"id"`
	Findings    []string  `json:"expected_findings"`
	Mitre       []string  `json:"mitre,omitempty"`
	Start       time.Time `json:"start"`
	End         time.Time `json:"end"`
	ContainerID string    `json:"container_id,omitempty"`
	Container   string    `json:"container,omitempty"`
	Processes   []Process `json:"processes,omitempty"`
}

// Process is one process an attack step started. UUID is the collector's
// process uuid, resolved from the captured trace; PID is the host PID.
type Process struct {
	Step      int       `json:"step"`
	Role      string    `json:"role"` // setup or attack
	Command   []string  `json:"command"`
	PID       int       `json:"pid"`
	StartTime time.Time `json:"start_time"`
	ExitCode  int       `json:"exit_code"`
	UUID      string    `json:"uuid,omitempty"`
}

// AttackUUIDs returns the uuids of the attack (not setup) processes.
func (r *Run) AttackUUIDs() []string {
	if r.Attack == nil {
		return nil
	}
	var out []string
	for _, p := range r.Attack.Processes {
		if p.Role == "attack" && p.UUID != "" {
			out = append(out, p.UUID)
		}
	}
	return out
}

var safeRE = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// Key is where the run's label is stored.
func (r *Run) Key() string {
	return Prefix + safeRE.ReplaceAllString(r.Source, "_") + "/" + safeRE.ReplaceAllString(r.RunID, "_") + ".json"
}

// Put writes the label.
func Put(ctx context.Context, s blob.Store, r *Run) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := s.Put(ctx, r.Key(), append(b, '\n')); err != nil {
		return fmt.Errorf("writing label %s: %w", r.Key(), err)
	}
	return nil
}

// List reads every label in the store.
func List(ctx context.Context, s blob.Store) ([]*Run, error) {
	objs, err := s.List(ctx, Prefix)
	if err != nil {
		return nil, fmt.Errorf("listing labels: %w", err)
	}
	var out []*Run
	for _, o := range objs {
		k := o.Key
		if !strings.HasSuffix(k, ".json") {
			continue
		}
		b, err := s.Get(ctx, k)
		if err != nil {
			return nil, fmt.Errorf("reading label %s: %w", k, err)
		}
		var r Run
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("label %s: %w", path.Base(k), err)
		}
		out = append(out, &r)
	}
	return out, nil
}
