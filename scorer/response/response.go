// Package response acts on findings: kill the offending process, stop the
// ECS task, or call a webhook. Every action is opt-in through a policy naming
// the rules, finding types or severities it applies to, and the responder runs
// in dry-run mode unless told otherwise: it then logs and counts what it
// would have done.
package response

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"golang.org/x/sys/unix"

	"github.com/vigilsec/vigil/internal/escape"
	"github.com/vigilsec/vigil/internal/logkey"
	"github.com/vigilsec/vigil/scorer/finding"
	"github.com/vigilsec/vigil/scorer/output"
)

// Action is one response.
type Action string

const (
	Kill     Action = "kill"
	StopTask Action = "stop_task"
	Webhook  Action = "webhook"
)

// Policy says which findings get which actions. A finding matches when it
// matches every non-empty criterion.
type Policy struct {
	Name        string   `yaml:"name" json:"name"`
	Rules       []string `yaml:"rules" json:"rules,omitempty"` // rule ids, wildcards allowed
	Types       []string `yaml:"types" json:"types,omitempty"` // finding types, wildcards allowed
	MinSeverity float64  `yaml:"min_severity" json:"min_severity,omitempty"`
	Actions     []Action `yaml:"actions" json:"actions"`
	WebhookURL  string   `yaml:"webhook_url" json:"webhook_url,omitempty"`
}

// Config configures the responder.
type Config struct {
	// DryRun defaults to true: set it to false explicitly to act.
	DryRun   *bool    `yaml:"dry_run" json:"dry_run"`
	Policies []Policy `yaml:"policies" json:"policies"`
}

// Validate reports a policy that cannot work.
func (c Config) Validate() error {
	for i, p := range c.Policies {
		name := p.Name
		if name == "" {
			name = "#" + strconv.Itoa(i+1)
		}
		if len(p.Rules) == 0 && len(p.Types) == 0 && p.MinSeverity == 0 {
			return fmt.Errorf("response policy %s: needs rules, types or min_severity (it would match every finding)", name)
		}
		if len(p.Actions) == 0 {
			return fmt.Errorf("response policy %s: no actions", name)
		}
		for _, a := range p.Actions {
			switch a {
			case Kill, StopTask:
			case Webhook:
				if p.WebhookURL == "" {
					return fmt.Errorf("response policy %s: webhook action without webhook_url", name)
				}
			default:
				return fmt.Errorf("response policy %s: unknown action %q (kill, stop_task, webhook)", name, a)
			}
		}
	}
	return nil
}

// Taken records one action.
type Taken struct {
	Time    time.Time `json:"time"`
	Finding string    `json:"finding"`
	Type    string    `json:"type"`
	Action  Action    `json:"action"`
	Target  string    `json:"target"`
	DryRun  bool      `json:"dry_run"`
	Error   string    `json:"error,omitempty"`
}

// Responder is an output: findings reach it through the dispatcher's queue,
// so responses never block detection.
type Responder struct {
	cfg    Config
	dryRun bool
	ecs    *ecs.Client
	http   *http.Client
	log    *slog.Logger

	mu    sync.Mutex
	taken []Taken
}

// New returns a responder. ecsClient may be nil when no policy stops tasks.
func New(cfg Config, ecsClient *ecs.Client, log *slog.Logger) (*Responder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	dry := cfg.DryRun == nil || *cfg.DryRun
	return &Responder{cfg: cfg, dryRun: dry, ecs: ecsClient, http: &http.Client{Timeout: 10 * time.Second}, log: log}, nil
}

func (r *Responder) Name() string { return "response" }
func (r *Responder) Close() error { return nil }

// Taken returns the actions taken (or, in dry-run, planned), oldest first.
func (r *Responder) Taken() []Taken {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Taken(nil), r.taken...)
}

// Write responds to first reports only: an update of a finding already
// acted on needs no second kill.
func (r *Responder) Write(ctx context.Context, batch []output.Record) error {
	for _, rec := range batch {
		if rec.Update {
			continue
		}
		f := rec.Finding
		for _, p := range r.cfg.Policies {
			if !p.matches(f) {
				continue
			}
			for _, a := range p.Actions {
				r.act(ctx, p, a, f)
			}
		}
	}
	return nil
}

func (p Policy) matches(f *finding.Finding) bool {
	if p.MinSeverity > 0 && f.Severity < p.MinSeverity {
		return false
	}
	if len(p.Rules) > 0 && !anyGlob(p.Rules, f.Service.Detection.RuleID) {
		return false
	}
	if len(p.Types) > 0 && !anyGlob(p.Types, f.Type) {
		return false
	}
	return true
}

func anyGlob(pats []string, s string) bool {
	for _, p := range pats {
		if finding.Wildcard(p, s) {
			return true
		}
	}
	return false
}

func (r *Responder) act(ctx context.Context, p Policy, a Action, f *finding.Finding) {
	t := Taken{Time: time.Now().UTC(), Finding: f.ID, Type: f.Type, Action: a, DryRun: r.dryRun}
	var err error
	switch a {
	case Kill:
		t.Target, err = r.kill(f)
	case StopTask:
		t.Target, err = r.stopTask(ctx, f)
	case Webhook:
		t.Target = p.WebhookURL
		if !r.dryRun {
			body, _ := json.Marshal(map[string]any{"action": "vigil.response", "policy": p.Name, "finding": f})
			err = output.Post(ctx, r.http, p.WebhookURL, nil, body)
		}
	}
	if err != nil {
		t.Error = err.Error()
		r.log.Error("response failed", logkey.Finding, f.ID, logkey.Action, string(a), logkey.Err, err)
	} else {
		r.log.Warn("response", logkey.Finding, f.ID, logkey.Action, string(a), logkey.Target, t.Target, logkey.DryRun, r.dryRun)
	}
	r.mu.Lock()
	r.taken = append(r.taken, t)
	if len(r.taken) > 1000 {
		r.taken = r.taken[len(r.taken)-1000:]
	}
	r.mu.Unlock()
}

// kill sends SIGKILL to the finding's process, after checking it is a
// container process and still runs the same executable (pids are reused).
func (r *Responder) kill(f *finding.Finding) (string, error) {
	p := f.Service.RuntimeDetails.Process
	if p == nil || p.Pid <= 1 {
		return "", errors.New("no process to kill")
	}
	target := fmt.Sprintf("pid %d (%s)", p.Pid, p.ExecutablePath)
	if f.Resource.ContainerDetails == nil {
		return target, errors.New("refusing to kill a process outside a container")
	}
	if int(p.Pid) == os.Getpid() {
		return target, errors.New("refusing to kill the agent")
	}
	want, err := escape.Unquote(p.ExecutablePath)
	if err != nil {
		return target, err
	}
	// Hold the process by a pidfd first, then check it: the signal then
	// reaches exactly the process that was checked, even if the pid is
	// reused in between.
	pidfd, err := unix.PidfdOpen(int(p.Pid), 0)
	if err != nil {
		return target, fmt.Errorf("process gone: %w", err)
	}
	defer unix.Close(pidfd)
	have, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", p.Pid))
	if err != nil {
		return target, fmt.Errorf("process gone: %w", err)
	}
	if want != "" && have != want && have != want+" (deleted)" {
		return target, fmt.Errorf("pid %d now runs %s, not %s; not killing", p.Pid, escape.String(have), p.ExecutablePath)
	}
	if r.dryRun {
		return target, nil
	}
	if err := unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0); err != nil {
		return target, fmt.Errorf("kill %d: %w", p.Pid, err)
	}
	return target, nil
}

func (r *Responder) stopTask(ctx context.Context, f *finding.Finding) (string, error) {
	e := f.Resource.EcsClusterDetails
	if e == nil || e.TaskDetails == nil || e.TaskDetails.Arn == "" {
		return "", errors.New("finding has no ECS task")
	}
	cluster := e.Arn
	if cluster == "" {
		cluster = e.Name
	}
	target := e.TaskDetails.Arn
	if r.dryRun {
		return target, nil
	}
	if r.ecs == nil {
		return target, errors.New("no ECS client configured")
	}
	reason := fmt.Sprintf("Vigil %s (finding %s)", f.Type, f.ID)
	if len(reason) > 255 {
		reason = reason[:255]
	}
	_, err := r.ecs.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String(cluster), Task: aws.String(target), Reason: aws.String(reason)})
	if err != nil {
		return target, fmt.Errorf("ecs StopTask: %w", err)
	}
	return target, nil
}
