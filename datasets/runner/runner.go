// Package runner runs a scenario in real Docker containers: one ECS-style
// task whose containers share a network namespace that has loopback only,
// next to a container outside the task that stands in for remote hosts,
// benign activity on a seeded schedule, the attack's steps at a seeded time,
// and the collector capturing everything the containers do. It writes the
// run's label (the ground truth) and removes every container it made, also
// when the run fails or is interrupted.
package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigilsec/vigil/collector"
	"github.com/vigilsec/vigil/collector/container"
	"github.com/vigilsec/vigil/collector/proc"
	"github.com/vigilsec/vigil/datasets/dockerapi"
	"github.com/vigilsec/vigil/datasets/image"
	"github.com/vigilsec/vigil/datasets/label"
	"github.com/vigilsec/vigil/datasets/scenario"
	"github.com/vigilsec/vigil/internal/blob"
	"github.com/vigilsec/vigil/internal/logkey"
	"github.com/vigilsec/vigil/trace"
)

// Docker labels the runner puts on everything it creates.
const (
	LabelRun      = "com.vigilsec.run"
	LabelScenario = "com.vigilsec.scenario"
	LabelRole     = "com.vigilsec.role"
	// LabelOwner names the process running the scenario (boot id, PID,
	// start ticks), so a cleanup of leftovers spares runs still in progress.
	LabelOwner = "com.vigilsec.owner"
)

// ecsPauseName is the ECS container name the agent gives a task's pause
// container.
const ecsPauseName = "~internal~ecs~pause"

// ECS agent labels (see shared/reference/guardduty-runtime.md).
const (
	ecsCluster       = "com.amazonaws.ecs.cluster"
	ecsTaskARN       = "com.amazonaws.ecs.task-arn"
	ecsContainerName = "com.amazonaws.ecs.container-name"
	ecsFamily        = "com.amazonaws.ecs.task-definition-family"
	ecsVersion       = "com.amazonaws.ecs.task-definition-version"
)

// Source streams the collector's events; collector.Collector satisfies it.
type Source interface {
	Run(ctx context.Context, fn func(*trace.Event)) error
}

// Config is what every run of a runner shares.
type Config struct {
	Docker   *dockerapi.Client
	Image    string // from image.Build
	Seed     int64
	Duration time.Duration
	// Source captures events; nil runs the scenario without capture (labels
	// then carry PIDs but no process uuids).
	Source Source
	// Sink receives the events of the run's containers, in one goroutine.
	Sink func(*trace.Event) error
	// Labels is where the run's label is written; nil skips it.
	Labels blob.Store
	// Sequence also records every syscall of the run's containers
	// (KindSyscall events); Source must come from NewSequenceCollector.
	Sequence bool
	Host     string
	BootID   string
	Log      *slog.Logger
}

// Result is one finished run.
type Result struct {
	Label *label.Run
	// Events are the captured events of the attack container inside the
	// attack window (kept for checking the run); nil without an attack.
	Events []trace.Event
	// Captured counts events written to the sink.
	Captured int64
}

type run struct {
	cfg   Config
	s     *scenario.Scenario
	log   *slog.Logger
	lbl   *label.Run
	ids   map[string]string // container name -> id
	short string
	mu    sync.Mutex
	notes []string
	// pause owns the task's network namespace; remote is the container
	// that stands in for the hosts outside the task (scenario.InfraContainer).
	pause, remote string
	// cgroups are ids of the run's containers' cgroups, for events that
	// arrive before the resolver has named the container.
	cgroups     map[uint64]bool
	cgroupOwner map[uint64]string
	watched     []container.Key // cgroups whose syscalls are recorded
	// end is a bound on when the run ends: its containers' start-up
	// delays the real end a little past Start+Duration, never beyond this.
	end    time.Time
	window struct {
		sync.Mutex
		from, to time.Time
		cid      string
		events   []trace.Event
	}
}

// Run runs one resolved scenario.
func Run(ctx context.Context, cfg Config, s *scenario.Scenario) (res *Result, err error) {
	if cfg.Duration < time.Second {
		return nil, fmt.Errorf("duration %v: want at least 1s", cfg.Duration)
	}
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	if cfg.Sequence {
		if _, ok := cfg.Source.(sequencer); !ok {
			return nil, errNoSequence
		}
	}
	runID := newRunID(s.Name)
	r := &run{
		cfg:         cfg,
		s:           s,
		log:         log.With(logkey.Scenario, s.Name, logkey.Run, runID),
		ids:         map[string]string{},
		cgroups:     map[uint64]bool{},
		cgroupOwner: map[uint64]string{},
		short:       runID[len(runID)-6:],
	}
	r.lbl = &label.Run{
		Source: label.SourceScenario, Scenario: s.Name, Kind: string(s.Kind), RunID: runID, Seed: cfg.Seed,
		Host: cfg.Host, BootID: cfg.BootID,
		Cluster: s.Task.Cluster, Family: s.Task.Family, Revision: strconv.Itoa(s.Task.Revision),
		TaskARN: fmt.Sprintf("arn:aws:ecs:us-east-1:000000000000:task/%s/%s", s.Task.Cluster, hexOf(runID)[:32]),
	}

	// A run that fails once its containers have started has left events in
	// the lake: its label still goes next to them, saying it failed, so no
	// attack activity is ever unlabelled (and taken for benign).
	defer func() {
		if err == nil || cfg.Labels == nil || r.lbl.Start.IsZero() {
			return
		}
		if perr := r.putFailed(context.WithoutCancel(ctx), err); perr != nil {
			err = errors.Join(err, perr)
		}
	}()
	// Cleanup runs on a context of its own: Ctrl-C cancels ctx, and that is
	// exactly when the containers must still go.
	defer r.unwatch()
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 60*time.Second)
		defer cancel()
		// A create cut short by cancellation may still complete in the
		// Engine after the first sweep: sweep until nothing is left.
		var cerr error
		for i := 0; i < 5; i++ {
			if cerr = Cleanup(cctx, cfg.Docker, runID); cerr == nil {
				left, lerr := cfg.Docker.ListContainers(cctx, LabelRun+"="+runID)
				if lerr == nil && len(left) == 0 {
					break
				}
			}
			time.Sleep(300 * time.Millisecond)
		}
		if cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()

	captureCtx, stopCapture := context.WithCancel(ctx)
	defer stopCapture()
	var captured int64
	capDone := make(chan error, 1)
	if cfg.Source != nil {
		var sinkErr error
		go func() {
			err := cfg.Source.Run(captureCtx, func(e *trace.Event) {
				if !r.ours(e) {
					return
				}
				r.keep(e)
				if cfg.Sink != nil && sinkErr == nil {
					if sinkErr = cfg.Sink(e); sinkErr != nil {
						r.log.Error("writing events", logkey.Err, sinkErr)
					}
				}
				captured++
			})
			if errors.Is(err, context.Canceled) {
				err = nil
			}
			capDone <- errors.Join(err, sinkErr)
		}()
	} else {
		capDone <- nil
	}

	var before collector.Stats
	st, hasStats := cfg.Source.(statser)
	if hasStats {
		before = st.Stats()
	}
	r.lbl.Start = time.Now().UTC()
	r.end = r.lbl.Start.Add(cfg.Duration + 2*time.Minute)
	if err := r.start(ctx); err != nil {
		return nil, err
	}
	// The workload's clock starts once every container runs: start-up time
	// must not eat into the attack's place in the run.
	t0 := time.Now()
	end := t0.Add(cfg.Duration)
	jobsCtx, stopJobs := context.WithDeadline(ctx, end)
	defer stopJobs()
	var jobs sync.WaitGroup
	r.startJobs(jobsCtx, &jobs)

	if a := s.Attack; a != nil {
		if err := sleepUntil(ctx, t0.Add(AttackOffset(s, cfg.Seed, cfg.Duration))); err != nil {
			return nil, err
		}
		if err := r.attack(ctx); err != nil {
			return nil, err
		}
		// Leave the workload a moment after the attack, so its aftermath
		// (a shell's children exiting) is in the trace.
		if min := time.Now().Add(500 * time.Millisecond); end.Before(min) {
			end = min
		}
	}
	if err := sleepUntil(ctx, end); err != nil {
		return nil, err
	}
	stopJobs()
	jobs.Wait()
	stopErr := r.stop(ctx)
	r.lbl.End = time.Now().UTC()
	// Events of the last moments are still in the collector's buffers.
	time.Sleep(300 * time.Millisecond)
	stopCapture()
	if err := <-capDone; err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	if stopErr != nil {
		return nil, stopErr
	}

	if hasStats {
		// The collector watches the whole host: its losses during the run
		// may include this run's events, so they go into the label.
		after := st.Stats()
		if d := after.TotalRingDrops() - before.TotalRingDrops(); d > 0 {
			r.note("collector ring buffer dropped %d events during the run (host-wide)", d)
		}
		if d := after.RateLimited - before.RateLimited; d > 0 {
			r.note("collector rate limit dropped %d events during the run (host-wide)", d)
		}
		if d := after.DecodeErrors - before.DecodeErrors; d > 0 {
			r.note("collector failed to decode %d events during the run", d)
		}
		for _, k := range Unobservable(s, after.Missing) {
			r.note("this kernel cannot show %s events (tracepoints missing): the attempt ran but is not in the trace", k)
		}
	}
	res = &Result{Label: r.lbl, Captured: captured}
	if s.Attack != nil {
		res.Events = r.window.events
		if cfg.Source != nil {
			r.resolveUUIDs(res.Events)
		}
	}
	r.lbl.Events = captured
	r.lbl.Notes = r.notes
	if cfg.Labels != nil {
		if err := label.Put(ctx, cfg.Labels, r.lbl); err != nil {
			return res, err
		}
	}
	r.log.Info("scenario run done", logkey.Events, captured, logkey.Duration, r.lbl.End.Sub(r.lbl.Start).Round(time.Millisecond))
	return res, nil
}

func (r *run) note(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	msg := fmt.Sprintf(format, args...)
	r.log.Warn(msg)
	r.notes = append(r.notes, msg)
}

// ours reports whether e comes from one of this run's containers.
func (r *run) ours(e *trace.Event) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e.ContainerID == "" {
		return e.CgroupID != 0 && r.cgroups[e.CgroupID]
	}
	for _, id := range r.ids {
		if strings.HasPrefix(id, e.ContainerID) {
			return true
		}
	}
	return false
}

// keep remembers events of the attack container inside the attack window.
func (r *run) keep(e *trace.Event) {
	w := &r.window
	w.Lock()
	defer w.Unlock()
	if w.cid == "" || w.from.IsZero() {
		return
	}
	if e.ContainerID == "" {
		r.mu.Lock()
		ok := e.CgroupID != 0 && r.cgroups[e.CgroupID] && r.cgroupOwner[e.CgroupID] == w.cid
		r.mu.Unlock()
		if !ok {
			return
		}
	} else if !strings.HasPrefix(w.cid, e.ContainerID) {
		return
	}
	t := time.Unix(0, e.Time)
	if t.Before(w.from) || (!w.to.IsZero() && t.After(w.to)) {
		return
	}
	ev := *e
	ev.Argv = append([]string(nil), e.Argv...)
	ev.DNSAnswers = append([]string(nil), e.DNSAnswers...)
	w.events = append(w.events, ev)
}

// labels are the Docker labels of a container of the task: the runner's,
// and the ECS agent's under the ECS container name.
func (r *run) labels(name, role string) map[string]string {
	m := r.runLabels(role)
	m[ecsCluster], m[ecsTaskARN], m[ecsContainerName] = r.s.Task.Cluster, r.lbl.TaskARN, name
	m[ecsFamily], m[ecsVersion] = r.s.Task.Family, strconv.Itoa(r.s.Task.Revision)
	return m
}

// runLabels are the runner's own Docker labels, for cleanup. A container
// with only these is not part of the task: the collector attributes it to no
// ECS task.
func (r *run) runLabels(role string) map[string]string {
	return map[string]string{LabelRun: r.lbl.RunID, LabelScenario: r.s.Name, LabelRole: role, LabelOwner: owner()}
}

func (r *run) seedFor(name string) string {
	return strconv.FormatUint(ContainerSeed(r.cfg.Seed, name), 10)
}

// ContainerSeed is the VIGIL_SEED a container of a run with seed gets: the
// workload's data and timing follow from it.
func ContainerSeed(seed int64, container string) uint64 {
	return uint64(seed) ^ fnv64(container)
}

// AttackOffset is when, after the workload starts, the attack's steps begin:
// at the scenario's fraction of the run, or where the seed puts it between
// 30% and 60%.
func AttackOffset(s *scenario.Scenario, seed int64, d time.Duration) time.Duration {
	if s.Attack == nil {
		return 0
	}
	at := s.Attack.At
	if at == 0 {
		at = 0.3 + 0.3*rand.New(rand.NewPCG(uint64(seed), fnv64(s.Name))).Float64()
	}
	return time.Duration(at * float64(d))
}

func (r *run) start(ctx context.Context) error {
	dc := r.cfg.Docker
	stop := 2
	pids := int64(512)
	lifetime := (r.cfg.Duration + 10*time.Minute).String()

	// The pause container owns the task's network namespace, as in ECS: no
	// interfaces but loopback, and a resolv.conf that sends every lookup to
	// 127.0.0.1, where the remote hosts' container answers. It carries the
	// task's ECS labels and runs nothing but pause.
	var err error
	r.pause, err = r.startOwn(ctx, scenario.PauseContainer, label.RolePause, &dockerapi.ContainerConfig{
		Image: r.cfg.Image, Cmd: gate("/usr/local/bin/vsim", "pause", "-for", lifetime),
		Labels: r.labels(ecsPauseName, label.RolePause), Hostname: "task-" + r.short, StopTimeout: &stop,
		HostConfig: dockerapi.HostConfig{NetworkMode: "none", DNS: []string{"127.0.0.1"}, PidsLimit: &pids, Memory: 64 << 20},
	})
	if err != nil {
		return fmt.Errorf("pause container: %w", err)
	}
	// The remote hosts (DNS, the attacker's listener, a mining pool) live in
	// a container of their own that joins the task's namespace, so the task
	// reaches them on loopback and nothing has a route out. In ECS they are
	// not in the task at all: this container has no ECS labels, so the
	// collector attributes it to no task, and the label gives it the role
	// that keeps it out of evaluations.
	r.remote, err = r.startOwn(ctx, scenario.InfraContainer, label.RoleInfra, &dockerapi.ContainerConfig{
		Image: r.cfg.Image, Cmd: gate("/usr/local/bin/vsim", "remote", "-for", lifetime),
		Env: []string{"VIGIL_SEED=" + r.seedFor(scenario.InfraContainer)}, Labels: r.runLabels(label.RoleInfra), StopTimeout: &stop,
		HostConfig: dockerapi.HostConfig{NetworkMode: "container:" + r.pause, PidsLimit: &pids, Memory: 256 << 20},
	})
	if err != nil {
		return fmt.Errorf("remote hosts' container: %w", err)
	}

	for _, c := range r.s.Containers {
		// VIGIL_FOR bounds every vsim loop a little past the run, so nothing
		// outlives it even if the runner itself is killed.
		env := []string{"VIGIL_SEED=" + r.seedFor(c.Name), "VIGIL_FOR=" + lifetime, "ECS_CONTAINER_NAME=" + c.Name}
		keys := make([]string, 0, len(c.Env))
		for k := range c.Env {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			env = append(env, k+"="+c.Env[k])
		}
		cfg := &dockerapi.ContainerConfig{
			Image: r.cfg.Image, Cmd: gate(c.Command...), Env: env, User: c.User, WorkingDir: c.Workdir,
			Labels: r.labels(c.Name, "workload"), StopTimeout: &stop,
			HostConfig: dockerapi.HostConfig{NetworkMode: "container:" + r.pause, CapAdd: c.CapAdd, PidsLimit: &pids, Memory: 512 << 20},
		}
		if a := r.s.Attack; a != nil && a.Container == c.Name && a.Seccomp == "unconfined" {
			cfg.HostConfig.SecurityOpt = []string{"seccomp=unconfined"}
		}
		if c.Health != nil {
			cfg.Healthcheck = &dockerapi.HealthConfig{Test: append([]string{"CMD"}, c.Health.Run...),
				Interval: c.Health.Every.D(), Timeout: 5 * time.Second, Retries: 3}
		}
		id, err := dc.CreateContainer(ctx, r.containerName(c.Name), cfg)
		if err != nil {
			return fmt.Errorf("creating container %s: %w", c.Name, err)
		}
		r.setID(c.Name, id)
		if len(c.Files) > 0 {
			files := map[string]image.TarEntry{}
			for _, f := range c.Files {
				mode := int64(f.Mode)
				if mode == 0 {
					mode = 0o644
				}
				files[f.Path] = image.TarEntry{Data: []byte(f.Content), Mode: mode}
			}
			tb, err := image.TarFiles(files)
			if err != nil {
				return err
			}
			if err := dc.CopyTo(ctx, id, "/", tb); err != nil {
				return fmt.Errorf("copying files into %s: %w", c.Name, err)
			}
		}
		r.lbl.Containers = append(r.lbl.Containers, label.Container{Name: c.Name, ID: id, Image: r.cfg.Image, Role: label.RoleWorkload})
	}
	// The remote hosts' DNS answers before any workload runs.
	if err := r.release(ctx, r.pause, 0); err != nil {
		return fmt.Errorf("pause container: %w", err)
	}
	if err := r.release(ctx, r.remote, 1); err != nil {
		return fmt.Errorf("remote hosts' container: %w", err)
	}
	for i, c := range r.s.Containers {
		if err := dc.StartContainer(ctx, r.ids[c.Name]); err != nil {
			return fmt.Errorf("starting container %s: %w", c.Name, err)
		}
		if err := r.release(ctx, r.ids[c.Name], i+2); err != nil {
			return fmt.Errorf("container %s: %w", c.Name, err)
		}
	}
	for _, st := range r.s.Infra {
		if _, err := r.exec(ctx, r.remote, st, true); err != nil {
			return fmt.Errorf("starting infra %q: %w", st.Run, err)
		}
	}
	// Give the servers a moment to listen before anything calls them.
	time.Sleep(200 * time.Millisecond)
	// Without the remote hosts' DNS every lookup of the task fails: a run
	// that went on would record a different workload.
	for _, c := range []struct{ name, id string }{{scenario.PauseContainer, r.pause}, {scenario.InfraContainer, r.remote}} {
		st, err := dc.InspectContainer(ctx, c.id)
		if err != nil {
			return err
		}
		if !st.State.Running {
			return fmt.Errorf("container %s exited at start (code %d): is the scenario image's vsim current?", c.name, st.State.ExitCode)
		}
	}
	for _, c := range r.s.Containers {
		st, err := dc.InspectContainer(ctx, r.ids[c.Name])
		if err != nil {
			return err
		}
		if !st.State.Running {
			return fmt.Errorf("container %s exited at start (code %d): check its command %q", c.Name, st.State.ExitCode, c.Command)
		}
	}
	r.log.Info("scenario started", logkey.Count, len(r.lbl.Containers), logkey.Task, r.lbl.TaskARN)
	return nil
}

// startOwn creates and starts one of the containers the runner adds to the
// scenario's (the pause container, the remote hosts') and labels it.
func (r *run) startOwn(ctx context.Context, name, role string, cfg *dockerapi.ContainerConfig) (string, error) {
	id, err := r.cfg.Docker.CreateContainer(ctx, r.containerName(name), cfg)
	if err != nil {
		return "", fmt.Errorf("creating: %w", err)
	}
	r.setID(name, id)
	if err := r.cfg.Docker.StartContainer(ctx, id); err != nil {
		return "", fmt.Errorf("starting: %w", err)
	}
	r.lbl.Containers = append(r.lbl.Containers, label.Container{Name: name, ID: id, Image: r.cfg.Image, Role: role})
	return id, nil
}

// gate wraps a container's command in vsim's start gate; see release.
func gate(argv ...string) []string {
	return append([]string{"/usr/local/bin/vsim", "await", "-file", startFile, "-timeout", "30s", "--"}, argv...)
}

// release lets a started container's command run. The command waits in
// vsim's start gate until the capture has attributed the container's cgroup,
// so even its first events carry the container and the ECS task.
func (r *run) release(ctx context.Context, id string, idx int) error {
	st, err := r.cfg.Docker.InspectContainer(ctx, id)
	if err != nil {
		return err
	}
	pid := st.State.Pid
	r.lbl.Containers[idx].PID = pid
	r.learnCgroups(id, pid)
	if a, ok := r.cfg.Source.(attributor); ok {
		deadline := time.Now().Add(5 * time.Second)
		for !a.Attributed(pid) {
			if time.Now().After(deadline) {
				r.note("container %.12s not attributed after 5s; its first events may lack the container", id)
				break
			}
			if err := sleepUntil(ctx, time.Now().Add(20*time.Millisecond)); err != nil {
				return err
			}
		}
	}
	tb, err := image.TarFiles(map[string]image.TarEntry{startFile: {Mode: 0o644}})
	if err != nil {
		return err
	}
	return r.cfg.Docker.CopyTo(ctx, id, "/", tb)
}

// startFile is what vsim's start gate waits for.
const startFile = "/.vigil-start"

// RunEndEnv names the environment variable that tells a scenario's commands
// when the run will end, in Unix seconds.
const RunEndEnv = "VIGIL_RUN_END"

// statser is what a Source may offer to report its losses.
type statser interface {
	Stats() collector.Stats
}

// attributor is what a Source may offer to say a process's container is known.
type attributor interface {
	Attributed(pid int) bool
}

// sequencer is what a Source offers when it can record syscall sequences.
type sequencer interface {
	WatchSequence(container.Key) error
	UnwatchSequence(container.Key) error
}

var errNoSequence = errors.New("sequence mode needs a capture from NewSequenceCollector")

// keyer is what a Source may offer to map a PID to its cgroup ids.
type keyer interface {
	KeyForPID(pid int) (container.Key, error)
}

// learnCgroups remembers the cgroup ids of a container's first process. An id
// the runner's own process shares (a hybrid host's cgroup v2 root) says
// nothing about containers and is left out.
func (r *run) learnCgroups(cid string, pid int) {
	k, ok := r.cfg.Source.(keyer)
	if !ok || pid <= 0 {
		return
	}
	key, err := k.KeyForPID(pid)
	if err != nil {
		r.log.Debug("cgroup of container", logkey.Container, cid, logkey.Err, err)
		return
	}
	self, _ := k.KeyForPID(os.Getpid())
	if key.V2 == self.V2 || key.V2 == self.V1 {
		key.V2 = 0
	}
	if key.V1 == self.V2 || key.V1 == self.V1 {
		key.V1 = 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range []uint64{key.V2, key.V1} {
		if id != 0 {
			r.cgroups[id] = true
			r.cgroupOwner[id] = cid
		}
	}
	if q, ok := r.cfg.Source.(sequencer); ok && r.cfg.Sequence && key != (container.Key{}) {
		if err := q.WatchSequence(key); err != nil {
			r.note("recording the syscalls of container %.12s: %v", cid, err)
			return
		}
		r.watched = append(r.watched, key)
	}
}

// unwatch stops recording the syscalls of the run's containers.
func (r *run) unwatch() {
	q, ok := r.cfg.Source.(sequencer)
	if !ok {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range r.watched {
		if err := q.UnwatchSequence(k); err != nil {
			r.log.Warn("stopping syscall recording", logkey.Err, err)
		}
	}
	r.watched = nil
}

func (r *run) setID(name, id string) {
	r.mu.Lock()
	r.ids[name] = id
	r.mu.Unlock()
}

func (r *run) containerName(c string) string {
	return "vigil-" + r.s.Name + "-" + c + "-" + r.short
}

type execResult struct {
	pid     int
	started time.Time
	uuid    string
	code    int
	out     string
}

// exec runs one step; detached steps are left running and only their start
// is awaited.
func (r *run) exec(ctx context.Context, container string, st scenario.Step, detach bool) (execResult, error) {
	// Servers stop by themselves after their -timeout; RunEndEnv tells them
	// when the run ends, which in a long run is later (vsim keeps serving
	// until then), so an attack late in a long run still finds them.
	env := []string{RunEndEnv + "=" + strconv.FormatInt(r.end.Unix(), 10)}
	e, err := r.cfg.Docker.StartExec(ctx, container, dockerapi.ExecConfig{Cmd: st.Run, User: st.User, Env: env})
	if err != nil {
		return execResult{}, err
	}
	res := execResult{pid: e.Pid, started: e.Started.UTC()}
	if ticks, ok := procStartTicks(e.Pid); ok {
		res.started = bootTime().Add(time.Duration(ticks) * tickNS).UTC()
		if r.cfg.BootID != "" {
			res.uuid = proc.ProcessUUID(r.cfg.BootID, int32(e.Pid), ticks)
		}
	}
	if detach || st.Detach {
		return res, nil
	}
	timeout := st.Timeout.D()
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	code, out, err := e.Wait(wctx)
	res.code, res.out = code, out
	if err != nil {
		return res, fmt.Errorf("step %q: %w", st.Run, err)
	}
	return res, nil
}

func (r *run) startJobs(ctx context.Context, wg *sync.WaitGroup) {
	for _, j := range r.s.Jobs {
		rng := rand.New(rand.NewPCG(uint64(r.cfg.Seed), fnv64(r.s.Name+"/"+j.Name)))
		cid := r.ids[j.Container]
		wg.Add(1)
		go func() {
			defer wg.Done()
			failures := 0
			for runs := 0; ; runs++ {
				wait := j.Every.D()
				if j.Jitter > 0 {
					wait += time.Duration((rng.Float64()*2 - 1) * float64(j.Jitter))
				}
				if runs == 0 {
					wait = time.Duration(rng.Float64() * float64(wait)) // start out of phase
				}
				if sleepUntil(ctx, time.Now().Add(wait)) != nil {
					break
				}
				if j.Chance > 0 && rng.Float64() >= j.Chance {
					continue
				}
				st := scenario.Step{Run: j.Run, User: j.User, Timeout: j.Every}
				res, err := r.exec(ctx, cid, st, false)
				if ctx.Err() != nil {
					break
				}
				if err != nil || res.code != 0 {
					failures++
					if failures <= 3 {
						r.note("job %s failed (exit %d): %v %s", j.Name, res.code, err, strings.TrimSpace(res.out))
					}
				}
			}
			if failures > 3 {
				r.note("job %s failed %d times in all", j.Name, failures)
			}
		}()
	}
}

func (r *run) attack(ctx context.Context) error {
	a := r.s.Attack
	cid := r.ids[a.Container]
	la := &label.Attack{ID: a.ID, Findings: a.Findings, Mitre: a.Mitre, ContainerID: cid, Container: a.Container}
	r.lbl.Attack = la
	for i, st := range a.Setup {
		res, err := r.exec(ctx, cid, st, false)
		la.Processes = append(la.Processes, label.Process{Step: i, Role: "setup", Command: st.Run, PID: res.pid, StartTime: res.started, ExitCode: res.code, UUID: res.uuid})
		if err != nil {
			return fmt.Errorf("attack setup: %w", err)
		}
		if res.code != 0 && !st.Ignore {
			return fmt.Errorf("attack setup %q exited %d: %s", st.Run, res.code, strings.TrimSpace(res.out))
		}
	}
	la.Start = time.Now().UTC()
	r.window.Lock()
	r.window.cid, r.window.from = cid, la.Start.Add(-50*time.Millisecond)
	r.window.Unlock()
	r.log.Info("attack started", logkey.Attack, a.ID, logkey.Container, a.Container)
	for i, st := range a.Steps {
		res, err := r.exec(ctx, cid, st, false)
		la.Processes = append(la.Processes, label.Process{Step: i, Role: "attack", Command: st.Run, PID: res.pid, StartTime: res.started, ExitCode: res.code, UUID: res.uuid})
		if err != nil {
			return fmt.Errorf("attack: %w", err)
		}
		if res.code != 0 && !st.Ignore && !st.Detach {
			return fmt.Errorf("attack step %q exited %d: %s", st.Run, res.code, strings.TrimSpace(res.out))
		}
		r.log.Debug("attack step done", logkey.Step, i, logkey.Exit, res.code, logkey.Output, strings.TrimSpace(res.out))
	}
	la.End = time.Now().UTC()
	r.window.Lock()
	r.window.to = la.End.Add(time.Second)
	r.window.Unlock()
	return nil
}

// putFailed writes the label of a run that failed with err.
func (r *run) putFailed(ctx context.Context, err error) error {
	r.lbl.End = time.Now().UTC()
	r.lbl.Failed = err.Error()
	if a := r.lbl.Attack; a != nil {
		if a.Start.IsZero() {
			// Failed in its setup: the setup steps are what ran.
			for _, p := range a.Processes {
				if a.Start.IsZero() || p.StartTime.Before(a.Start) {
					a.Start = p.StartTime
				}
			}
		}
		if a.Start.IsZero() {
			r.lbl.Attack = nil
		} else if a.End.IsZero() {
			a.End = r.lbl.End
		}
	}
	r.mu.Lock()
	r.lbl.Notes = slices.Clone(r.notes)
	r.mu.Unlock()
	return label.Put(ctx, r.cfg.Labels, r.lbl)
}

// stop stops the containers and reports those that vanished during the run
// (removed by someone else): such a run's ground truth is not whole.
func (r *run) stop(ctx context.Context) error {
	dc := r.cfg.Docker
	var wg sync.WaitGroup
	var mu sync.Mutex
	var gone []string
	stop := func(name, id string, grace time.Duration) {
		defer wg.Done()
		err := dc.StopContainer(ctx, id, grace)
		switch {
		case dockerapi.IsNotFound(err):
			mu.Lock()
			gone = append(gone, name)
			mu.Unlock()
		case err != nil:
			r.note("stopping %s: %v", name, err)
		}
	}
	for _, c := range r.s.Containers {
		wg.Add(1)
		go stop(c.Name, r.ids[c.Name], 2*time.Second)
	}
	wg.Wait()
	// The remote hosts go before the pause container whose namespace they
	// share.
	wg.Add(1)
	stop(scenario.InfraContainer, r.remote, time.Second)
	wg.Add(1)
	stop(scenario.PauseContainer, r.pause, time.Second)
	if len(gone) > 0 {
		sort.Strings(gone)
		return fmt.Errorf("containers removed by someone else during the run: %s; the run is not labelled", strings.Join(gone, ", "))
	}
	return nil
}

// resolveUUIDs checks every labelled process against the captured events:
// a uuid computed from /proc must be the one the collector gave the PID; a
// process that exited before /proc was read gets the uuid of the first
// event of its PID at or after the step started.
func (r *run) resolveUUIDs(events []trace.Event) {
	a := r.lbl.Attack
	for i := range a.Processes {
		p := &a.Processes[i]
		var seen string
		for j := range events {
			e := &events[j]
			if int(e.PID) == p.PID && e.ProcUUID != "" && e.Time >= p.StartTime.Add(-time.Second).UnixNano() {
				seen = e.ProcUUID
				break
			}
		}
		switch {
		case p.UUID == "" && seen != "":
			p.UUID = seen
		case p.UUID != "" && seen != "" && seen != p.UUID:
			r.note("attack step %d (pid %d): uuid from /proc %s, in the trace %s", p.Step, p.PID, p.UUID, seen)
		case p.UUID == "" && p.Role == "attack":
			r.note("attack step %d (pid %d): no captured event, uuid unknown", p.Step, p.PID)
		}
	}
}

// Cleanup removes every container of a run. With runID "" it removes the
// leftovers of runs whose owning process is gone (killed before its own
// cleanup); runs still in progress, here or in another process, are spared.
func Cleanup(ctx context.Context, dc *dockerapi.Client, runID string) error {
	sel := LabelRun
	if runID != "" {
		sel += "=" + runID
	}
	cs, err := dc.ListContainers(ctx, sel)
	if err != nil {
		return fmt.Errorf("listing scenario containers: %w", err)
	}
	if runID == "" {
		cs = slices.DeleteFunc(cs, func(c dockerapi.ContainerState) bool { return ownerAlive(c.Config.Labels[LabelOwner]) })
	}
	// Containers that join the pause container's network namespace first,
	// the pause container last. Runs of an older vigil had no pause role:
	// their "infra" container owned the namespace, and it goes after the
	// workload, which is where the remote hosts' container goes now too.
	order := func(c dockerapi.ContainerState) int {
		switch c.Config.Labels[LabelRole] {
		case label.RolePause:
			return 2
		case label.RoleInfra:
			return 1
		}
		return 0
	}
	sort.SliceStable(cs, func(i, j int) bool { return order(cs[i]) < order(cs[j]) })
	var errs []error
	for _, c := range cs {
		if err := dc.RemoveContainer(ctx, c.ID); err != nil {
			errs = append(errs, fmt.Errorf("removing %s: %w", c.Name, err))
		}
	}
	return errors.Join(errs...)
}

var owner = sync.OnceValue(func() string {
	ticks, _ := procStartTicks(os.Getpid())
	return fmt.Sprintf("%s/%d/%d", readBootID(), os.Getpid(), ticks)
})

// ownerAlive reports whether the process an owner label names still runs.
// A container without the label (made by an older vigil) counts as orphaned.
func ownerAlive(label string) bool {
	f := strings.Split(label, "/")
	if len(f) != 3 || f[0] != readBootID() {
		return false
	}
	pid, err := strconv.Atoi(f[1])
	if err != nil {
		return false
	}
	ticks, ok := procStartTicks(pid)
	return ok && strconv.FormatUint(ticks, 10) == f[2]
}

func readBootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// procStartTicks reads a process's start time, in clock ticks since boot,
// from /proc: with the PID and the boot id it makes the collector's process
// uuid. A process that already exited has none.
func procStartTicks(pid int) (uint64, bool) {
	if pid <= 0 {
		return 0, false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0, false
	}
	ticks, err := strconv.ParseUint(f[19], 10, 64)
	return ticks, err == nil
}

// tickNS is one USER_HZ clock tick, 100 Hz on every Linux ABI Vigil runs on.
const tickNS = 10 * time.Millisecond

// bootTimeOnce is the wall-clock time of boot, from CLOCK_BOOTTIME, which is
// what /proc/<pid>/stat start times count from (btime in /proc/stat has only
// whole seconds).
var bootTimeOnce = sync.OnceValue(func() time.Time {
	var ts unix.Timespec
	now := time.Now()
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return time.Time{}
	}
	return now.Add(-time.Duration(ts.Nano()))
})

func bootTime() time.Time { return bootTimeOnce() }

func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func fnv64(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

func hexOf(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func newRunID(name string) string {
	var b [3]byte
	f, err := os.Open("/dev/urandom")
	if err == nil {
		f.Read(b[:])
		f.Close()
	}
	return fmt.Sprintf("%s-%s-%s", name, time.Now().UTC().Format("20060102T150405Z"), hex.EncodeToString(b[:]))
}
