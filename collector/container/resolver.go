// Package container attributes events to the container and ECS task they came
// from. The collector's BPF programs record two cgroup ids per event (the v2 id
// and the kernfs id of the task's cgroup in one v1 hierarchy); the Resolver
// maps them to cgroup paths, reads the container id and runtime from the path,
// and enriches the container with its name, image and ECS task from the Docker
// Engine API, the ECS agent's introspection API or the Task Metadata Endpoint
// v4.
//
// Fill never waits for any of that: an unknown cgroup is queued for a worker
// goroutine and the event goes on with what is known now; later events of the
// same cgroup carry the answer.
package container

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilsec/vigil/internal/logkey"
	"github.com/vigilsec/vigil/trace"
)

// Key names the cgroups an event's task was in.
type Key struct {
	// V2 is the cgroup v2 id, as bpf_get_current_cgroup_id returns it.
	V2 uint64
	// V1 is the kernfs id (the directory inode) of the task's cgroup in the
	// v1 hierarchy of Config.V1Controller; 0 where there is none.
	V1 uint64
}

// DefaultV1Controller is the v1 hierarchy whose cgroup the BPF programs read
// for Key.V1. Docker (cgroupfs driver) and the ECS agent on Amazon Linux 2
// create a container's cgroup in every controller, memory among them.
const DefaultV1Controller = "memory"

// Disabled, given as a source's address in Config, turns that source off.
const Disabled = "none"

// Config says where the cgroup trees and the metadata sources are. Zero
// values pick what a host agent on ECS on EC2 would use.
type Config struct {
	// CgroupRoot is where cgroupfs is mounted (default /sys/fs/cgroup).
	CgroupRoot string
	// V2Root is the cgroup2 mount; default CgroupRoot/unified on hybrid
	// hosts, CgroupRoot itself on pure v2 hosts.
	V2Root string
	// V1Controller names the v1 hierarchy Key.V1 ids come from (default
	// DefaultV1Controller); V1Root is its mount (default CgroupRoot/V1Controller).
	V1Controller string
	V1Root       string
	// ProcRoot is procfs (default /proc).
	ProcRoot string

	// DockerSocket is the Docker Engine API socket (default
	// /var/run/docker.sock; Disabled turns Docker lookups off).
	DockerSocket string
	// ECSAgentURL is the ECS agent introspection API (default
	// http://localhost:51678; Disabled turns it off).
	ECSAgentURL string
	// TMDEURL is the Task Metadata Endpoint v4 base (default
	// $ECS_CONTAINER_METADATA_URI_V4; empty or Disabled: off).
	TMDEURL string

	// Timeout bounds each metadata request (default 2s).
	Timeout time.Duration
	// QueueSize bounds cgroups waiting for the worker (default 4096); a full
	// queue is counted and the cgroup retried on a later event.
	QueueSize int
	// MaxEntries bounds the cgroups remembered (default 16384); idle ones
	// are forgotten after IdleTTL (default 10m).
	MaxEntries int
	IdleTTL    time.Duration
	// Retry is the first wait before asking again about a cgroup not fully
	// known (default 500ms, doubling); MaxAttempts ends the asking (default 8).
	Retry       time.Duration
	MaxAttempts int
	// ECSRefresh is the least time between two fetches of the ECS agent's or
	// the TMDE's task list (default 2s).
	ECSRefresh time.Duration
	// MinRescan is the least time between two walks of a cgroup tree when
	// the kernel cannot be asked for a path directly (default 1s).
	MinRescan time.Duration

	Logger *slog.Logger
}

func (c *Config) defaults() {
	if c.CgroupRoot == "" {
		c.CgroupRoot = "/sys/fs/cgroup"
	}
	if c.V2Root == "" {
		switch u := filepath.Join(c.CgroupRoot, "unified"); {
		case isCgroup2(u):
			c.V2Root = u
		case isCgroup2(c.CgroupRoot):
			c.V2Root = c.CgroupRoot
		}
	}
	if c.V1Controller == "" {
		c.V1Controller = DefaultV1Controller
	}
	if c.V1Root == "" {
		if p := filepath.Join(c.CgroupRoot, c.V1Controller); isCgroup1(p) {
			c.V1Root = p
		}
	}
	if c.ProcRoot == "" {
		c.ProcRoot = "/proc"
	}
	if c.DockerSocket == "" {
		c.DockerSocket = "/var/run/docker.sock"
	}
	if c.ECSAgentURL == "" {
		c.ECSAgentURL = "http://localhost:51678"
	}
	if c.TMDEURL == "" {
		c.TMDEURL = os.Getenv("ECS_CONTAINER_METADATA_URI_V4")
	}
	if c.Timeout <= 0 {
		c.Timeout = 2 * time.Second
	}
	if c.QueueSize <= 0 {
		c.QueueSize = 4096
	}
	if c.MaxEntries <= 0 {
		c.MaxEntries = 16384
	}
	if c.IdleTTL <= 0 {
		c.IdleTTL = 10 * time.Minute
	}
	if c.Retry <= 0 {
		c.Retry = 500 * time.Millisecond
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 8
	}
	if c.ECSRefresh <= 0 {
		c.ECSRefresh = 2 * time.Second
	}
	if c.MinRescan <= 0 {
		c.MinRescan = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Info is everything known about one cgroup. A published Info is never
// changed; the worker publishes a new one as it learns more.
type Info struct {
	CgroupID   uint64 // the id (v2 or v1) whose path identified the container
	CgroupPath string
	Identity
	Name             string
	Image            string
	ImageDigest      string
	Cluster          string
	TaskARN          string // the full ARN, or the bare task id when no source named the ARN
	TaskFamily       string
	TaskRevision     string
	ECSContainerName string
	LaunchType       string
	Workload         string
	// Complete is set once nothing more is to be learned (or asking stopped).
	Complete bool
}

type slot struct {
	info     atomic.Pointer[Info]
	queued   atomic.Bool
	retryAt  atomic.Int64 // coarse ns; Fill queues the key again from then on
	lastUsed atomic.Int64 // coarse ns
	attempts int          // worker only
}

// Stats counts what the resolver did; every drop and failure is here.
type Stats struct {
	Fills       uint64 // events filled
	NewCgroups  uint64 // cgroups seen for the first time
	Queued      uint64 // cgroups handed to the worker
	QueueFull   uint64 // cgroups not queued because the queue was full
	Overflow    uint64 // events of cgroups not remembered because MaxEntries was reached
	Resolved    uint64 // worker passes
	Unknown     uint64 // passes where a cgroup id matched no cgroup (yet)
	Containers  uint64 // passes that found a container
	DockerCalls uint64
	DockerErrs  uint64
	ECSCalls    uint64 // ECS agent and TMDE fetches
	ECSErrs     uint64
	GaveUp      uint64 // cgroups left incomplete after MaxAttempts
	Evicted     uint64 // idle cgroups forgotten
	Entries     int    // cgroups remembered now
	Scans       uint64 // walks of a cgroup tree
}

type counters struct {
	fills, newCgroups, queued, queueFull, overflow, resolved, unknown, containers,
	dockerCalls, dockerErrs, ecsCalls, ecsErrs, gaveUp, evicted atomic.Uint64
}

// Resolver maps cgroup ids to containers. Fill may be called from any number
// of goroutines; the lookups run on one worker started by Start.
type Resolver struct {
	cfg Config
	log *slog.Logger

	mu    sync.RWMutex
	slots map[Key]*slot

	queue chan Key
	now   atomic.Int64 // coarse clock, advanced by Start's ticker
	c     counters

	// Worker-only state.
	v2, v1    *hierarchy
	docker    *dockerClient
	agent     *ecsAgent
	tmde      *tmde
	meta      map[string]*containerMeta
	images    map[string]string // image id -> repo digest
	agentSeen cached[map[string]*ECSTask]
	tmdeSeen  cached[*ECSTask]

	started  atomic.Bool
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	closeErr error
}

// NewResolver makes a resolver; it resolves nothing until Start.
func NewResolver(cfg Config) *Resolver {
	cfg.defaults()
	r := &Resolver{
		cfg:    cfg,
		log:    cfg.Logger,
		slots:  make(map[Key]*slot),
		queue:  make(chan Key, cfg.QueueSize),
		meta:   make(map[string]*containerMeta),
		images: make(map[string]string),
	}
	r.now.Store(time.Now().UnixNano())
	if cfg.V2Root != "" {
		r.v2 = newHierarchy(cfg.V2Root, cfg.MinRescan)
	}
	if cfg.V1Root != "" {
		r.v1 = newHierarchy(cfg.V1Root, cfg.MinRescan)
	}
	if cfg.DockerSocket != Disabled {
		r.docker = newDockerClient(cfg.DockerSocket, cfg.Timeout)
	}
	hc := &http.Client{Timeout: cfg.Timeout}
	if cfg.ECSAgentURL != Disabled {
		r.agent = &ecsAgent{base: strings.TrimSuffix(cfg.ECSAgentURL, "/"), hc: hc}
	}
	if cfg.TMDEURL != "" && cfg.TMDEURL != Disabled {
		r.tmde = &tmde{base: strings.TrimSuffix(cfg.TMDEURL, "/"), hc: hc}
	}
	return r
}

// Config returns the configuration in force, defaults filled in.
func (r *Resolver) Config() Config { return r.cfg }

// Start runs the worker until ctx ends or Close is called.
func (r *Resolver) Start(ctx context.Context) {
	if !r.started.CompareAndSwap(false, true) {
		return
	}
	ctx, r.cancel = context.WithCancel(ctx)
	r.wg.Add(2)
	go func() {
		defer r.wg.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				r.now.Store(now.UnixNano())
			}
		}
	}()
	go func() {
		defer r.wg.Done()
		r.work(ctx)
	}()
}

// Close stops the worker and waits for it.
func (r *Resolver) Close() error {
	if r.cancel != nil {
		r.cancel()
	}
	r.wg.Wait()
	if r.v2 != nil {
		r.v2.close()
	}
	if r.v1 != nil {
		r.v1.close()
	}
	return r.closeErr
}

// Fill sets the event's cgroup, container, ECS and workload fields from what
// is known about k now. It never blocks: a cgroup not fully known is queued
// for the worker, and later events get the answer.
func (r *Resolver) Fill(e *trace.Event, k Key) {
	r.c.fills.Add(1)
	r.mu.RLock()
	s := r.slots[k]
	r.mu.RUnlock()
	if s == nil {
		s = r.newSlot(k)
	}
	var inf *Info
	if s != nil {
		now := r.now.Load()
		if s.lastUsed.Load() != now {
			s.lastUsed.Store(now)
		}
		inf = s.info.Load()
		if (inf == nil || !inf.Complete) && now >= s.retryAt.Load() && s.queued.CompareAndSwap(false, true) {
			select {
			case r.queue <- k:
				r.c.queued.Add(1)
			default:
				s.queued.Store(false)
				r.c.queueFull.Add(1)
			}
		}
	}
	if inf == nil {
		e.CgroupID = k.V2
		if e.CgroupID == 0 {
			e.CgroupID = k.V1
		}
		e.ContainerID, e.Runtime, e.Image, e.ImageDigest, e.ContainerName = "", "", "", "", ""
		e.Cluster, e.TaskARN, e.TaskFamily, e.TaskRevision, e.ECSContainerName, e.LaunchType = "", "", "", "", "", ""
		e.Workload = trace.WorkloadKey(e)
		return
	}
	e.CgroupID = inf.CgroupID
	e.ContainerID = inf.ContainerID
	e.Runtime = inf.Runtime
	e.Image = inf.Image
	e.ImageDigest = inf.ImageDigest
	e.ContainerName = inf.Name
	e.Cluster = inf.Cluster
	e.TaskARN = inf.TaskARN
	e.TaskFamily = inf.TaskFamily
	e.TaskRevision = inf.TaskRevision
	e.ECSContainerName = inf.ECSContainerName
	e.LaunchType = inf.LaunchType
	e.Workload = inf.Workload
}

func (r *Resolver) newSlot(k Key) *slot {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.slots[k]; s != nil {
		return s
	}
	if len(r.slots) >= r.cfg.MaxEntries {
		r.c.overflow.Add(1)
		return nil
	}
	s := &slot{}
	s.lastUsed.Store(r.now.Load())
	r.slots[k] = s
	r.c.newCgroups.Add(1)
	return s
}

// Lookup returns what is known about k now, without queueing anything.
func (r *Resolver) Lookup(k Key) (Info, bool) {
	r.mu.RLock()
	s := r.slots[k]
	r.mu.RUnlock()
	if s == nil {
		return Info{}, false
	}
	inf := s.info.Load()
	if inf == nil {
		return Info{}, false
	}
	return *inf, true
}

// Stats returns the counters.
func (r *Resolver) Stats() Stats {
	r.mu.RLock()
	n := len(r.slots)
	r.mu.RUnlock()
	return Stats{
		Fills:       r.c.fills.Load(),
		NewCgroups:  r.c.newCgroups.Load(),
		Queued:      r.c.queued.Load(),
		QueueFull:   r.c.queueFull.Load(),
		Overflow:    r.c.overflow.Load(),
		Resolved:    r.c.resolved.Load(),
		Unknown:     r.c.unknown.Load(),
		Containers:  r.c.containers.Load(),
		DockerCalls: r.c.dockerCalls.Load(),
		DockerErrs:  r.c.dockerErrs.Load(),
		ECSCalls:    r.c.ecsCalls.Load(),
		ECSErrs:     r.c.ecsErrs.Load(),
		GaveUp:      r.c.gaveUp.Load(),
		Evicted:     r.c.evicted.Load(),
		Entries:     n,
		Scans:       r.scans(),
	}
}

func (r *Resolver) work(ctx context.Context) {
	prune := time.NewTicker(time.Minute)
	defer prune.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case k := <-r.queue:
			r.resolve(ctx, k)
		case <-prune.C:
			r.prune()
		}
	}
}

// prune forgets cgroups no event used for IdleTTL, and the container
// metadata no remembered cgroup refers to.
func (r *Resolver) prune() {
	cutoff := r.now.Load() - int64(r.cfg.IdleTTL)
	live := make(map[string]bool)
	r.mu.Lock()
	for k, s := range r.slots {
		if s.lastUsed.Load() < cutoff && !s.queued.Load() {
			delete(r.slots, k)
			r.c.evicted.Add(1)
			continue
		}
		if inf := s.info.Load(); inf != nil && inf.ContainerID != "" {
			live[inf.ContainerID] = true
		}
	}
	r.mu.Unlock()
	for id := range r.meta {
		if !live[id] {
			delete(r.meta, id)
		}
	}
	if len(r.images) > r.cfg.MaxEntries {
		clear(r.images)
	}
}

func (r *Resolver) resolve(ctx context.Context, k Key) {
	r.mu.RLock()
	s := r.slots[k]
	r.mu.RUnlock()
	if s == nil {
		return
	}
	defer s.queued.Store(false)
	s.attempts++
	r.c.resolved.Add(1)

	inf := r.identify(k)
	if inf.ContainerID != "" {
		r.c.containers.Add(1)
		r.enrich(ctx, inf)
	}
	if !inf.Complete && s.attempts >= r.cfg.MaxAttempts {
		inf.Complete = true
		r.c.gaveUp.Add(1)
		r.log.Debug("giving up on cgroup", logkey.Cgroup, inf.CgroupPath, logkey.Container, inf.ContainerID, logkey.Attempt, s.attempts)
	}
	if !inf.Complete {
		backoff := r.cfg.Retry << min(s.attempts-1, 10)
		s.retryAt.Store(r.now.Load() + int64(backoff))
	}
	inf.Workload = trace.WorkloadKey(&trace.Event{
		ContainerID: inf.ContainerID, Image: inf.Image, ContainerName: inf.Name,
		TaskFamily: inf.TaskFamily, ECSContainerName: inf.ECSContainerName,
	})
	s.info.Store(inf)
}

// identify reads the container identity from the cgroup paths of k. A
// container found in the v2 tree wins: on hybrid hosts the v1 path of a
// process in a v2-managed container is a host cgroup, and the other way round
// for Docker on v1.
func (r *Resolver) identify(k Key) *Info {
	var p2, p1 string
	var f2, f1 bool
	if k.V2 != 0 && r.v2 != nil {
		p2, f2 = r.v2.lookup(k.V2)
	}
	if k.V1 != 0 && r.v1 != nil {
		p1, f1 = r.v1.lookup(k.V1)
	}
	if f2 {
		if id, ok := ParsePath(p2); ok {
			return &Info{CgroupID: k.V2, CgroupPath: p2, Identity: id}
		}
	}
	if f1 {
		if id, ok := ParsePath(p1); ok {
			return &Info{CgroupID: k.V1, CgroupPath: p1, Identity: id}
		}
	}
	inf := &Info{CgroupID: k.V2, CgroupPath: p2}
	if k.V2 == 0 || !f2 {
		inf.CgroupID, inf.CgroupPath = k.V1, p1
	}
	// Complete only once every id given was found: an id not found may be a
	// cgroup made after the last walk, which the next pass finds.
	inf.Complete = (k.V2 == 0 || r.v2 == nil || f2) && (k.V1 == 0 || r.v1 == nil || f1)
	if !inf.Complete {
		r.c.unknown.Add(1)
	}
	return inf
}

func (r *Resolver) scans() uint64 {
	var n uint64
	if r.v1 != nil {
		n += r.v1.scans.Load()
	}
	if r.v2 != nil {
		n += r.v2.scans.Load()
	}
	return n
}

// containerMeta is what the metadata sources said about one container.
type containerMeta struct {
	name, image, digest string
	task                *ECSTask
	ecsName             string
	dockerDone          bool // Docker answered for good (found, or not its container)
	ecsDone             bool // an ECS source named the task
}

// enrich adds name, image and ECS task to a container's Info.
func (r *Resolver) enrich(ctx context.Context, inf *Info) {
	m := r.meta[inf.ContainerID]
	if m == nil {
		m = &containerMeta{}
		r.meta[inf.ContainerID] = m
	}
	if !m.dockerDone {
		r.fromDocker(ctx, inf.ContainerID, m)
	}
	if !m.ecsDone && (inf.TaskID != "" || inf.Fargate) {
		r.fromECS(ctx, inf, m)
	}

	inf.Name, inf.Image, inf.ImageDigest = m.name, m.image, m.digest
	if inf.Fargate {
		inf.LaunchType = LaunchFargate
	}
	if t := m.task; t != nil {
		inf.Cluster, inf.TaskARN, inf.TaskFamily, inf.TaskRevision = t.Cluster, t.TaskARN, t.Family, t.Revision
		inf.LaunchType = t.LaunchType
		inf.ECSContainerName = m.ecsName
	}
	if inf.TaskARN == "" && inf.TaskID != "" {
		inf.TaskARN = inf.TaskID
	}
	if inf.Cluster == "" {
		inf.Cluster = inf.Identity.Cluster
	}
	if inf.LaunchType == "" && inf.TaskID != "" {
		inf.LaunchType = LaunchEC2
	}
	wantECS := inf.TaskID != "" && (r.agent != nil || r.tmde != nil)
	inf.Complete = m.dockerDone && (!wantECS || m.ecsDone)
}

func (r *Resolver) fromDocker(ctx context.Context, id string, m *containerMeta) {
	if r.docker == nil || isFargateID(id) {
		m.dockerDone = true
		return
	}
	r.c.dockerCalls.Add(1)
	ct, err := r.docker.container(ctx, id)
	var nf errNotFound
	switch {
	case errors.As(err, &nf):
		m.dockerDone = true // another runtime's container
		return
	case err != nil:
		r.c.dockerErrs.Add(1)
		r.log.Debug("docker inspect failed", logkey.Container, id, logkey.Err, err)
		return
	}
	m.name = strings.TrimPrefix(ct.Name, "/")
	m.image = ct.Config.Image
	if d, ok := r.images[ct.Image]; ok {
		m.digest = d
	} else if ct.Image != "" {
		r.c.dockerCalls.Add(1)
		im, err := r.docker.image(ctx, ct.Image)
		if err != nil && !errors.As(err, &nf) {
			r.c.dockerErrs.Add(1)
			r.log.Debug("docker image inspect failed", logkey.Container, id, logkey.Err, err)
			return // ask again: the digest is worth a retry
		}
		if im != nil {
			m.digest = repoDigest(im, ct.Config.Image)
		}
		r.images[ct.Image] = m.digest
	}
	if t, ok := labelsTask(ct.Config.Labels); ok {
		m.task, m.ecsName, m.ecsDone = t, ct.Config.Labels[LabelECSContainerName], true
	}
	m.dockerDone = true
}

func (r *Resolver) fromECS(ctx context.Context, inf *Info, m *containerMeta) {
	now := time.Now()
	if r.agent != nil {
		if r.agentSeen.val[inf.ContainerID] == nil && now.Sub(r.agentSeen.fetched) >= r.cfg.ECSRefresh {
			r.c.ecsCalls.Add(1)
			tasks, err := r.agent.tasks(ctx)
			r.agentSeen.fetched = now
			if err != nil {
				r.c.ecsErrs.Add(1)
				r.log.Debug("ECS agent introspection failed", logkey.Addr, r.agent.base, logkey.Err, err)
			} else {
				r.agentSeen.val = tasks
			}
		}
		if t := r.agentSeen.val[inf.ContainerID]; t != nil {
			m.task, m.ecsName, m.ecsDone = t, t.Containers[inf.ContainerID].Name, true
			return
		}
	}
	if r.tmde != nil {
		t := r.tmdeSeen.val
		if (t == nil || !tmdeHas(t, inf)) && now.Sub(r.tmdeSeen.fetched) >= r.cfg.ECSRefresh {
			r.c.ecsCalls.Add(1)
			nt, err := r.tmde.task(ctx)
			r.tmdeSeen.fetched = now
			if err != nil {
				r.c.ecsErrs.Add(1)
				r.log.Debug("task metadata endpoint failed", logkey.Addr, r.tmde.base, logkey.Err, err)
			} else {
				r.tmdeSeen.val, t = nt, nt
			}
		}
		if t != nil && tmdeHas(t, inf) {
			m.task, m.ecsDone = t, true
			if c, ok := t.Containers[inf.ContainerID]; ok {
				m.ecsName = c.Name
				if m.image == "" {
					m.image = c.Image
				}
				if m.digest == "" {
					m.digest = c.Digest
				}
				if m.name == "" {
					m.name = c.Name
				}
			}
		}
	}
}

// tmdeHas reports whether the sidecar's own task holds the container, by
// container id or, for a container that TMDE lists under another id, by the
// task id in its cgroup path.
func tmdeHas(t *ECSTask, inf *Info) bool {
	if _, ok := t.Containers[inf.ContainerID]; ok {
		return true
	}
	return inf.TaskID != "" && taskIDFromARN(t.TaskARN) == inf.TaskID
}

// CgroupIDForPath returns the key of the cgroup at path, for --cgroup filters.
// path is a directory under a cgroupfs mount (/sys/fs/cgroup/unified/x) or a
// path as /proc/<pid>/cgroup shows it (/docker/<id>), looked up in the v2 tree
// and the V1Controller tree; the key carries the id of each tree that has it.
func (r *Resolver) CgroupIDForPath(path string) (Key, error) {
	path = filepath.Clean(path)
	var k Key
	if r.cfg.V2Root != "" && within(path, r.cfg.V2Root) {
		id, err := inode(path)
		if err != nil {
			return Key{}, fmt.Errorf("cgroup %q: %w", path, err)
		}
		return Key{V2: id}, nil
	}
	if r.cfg.V1Root != "" && within(path, r.cfg.V1Root) {
		id, err := inode(path)
		if err != nil {
			return Key{}, fmt.Errorf("cgroup %q: %w", path, err)
		}
		return Key{V1: id}, nil
	}
	if within(path, r.cfg.CgroupRoot) {
		return Key{}, fmt.Errorf("cgroup %q: not in the v2 tree (%s) nor in the %s v1 tree the collector reads", path, orNone(r.cfg.V2Root), r.cfg.V1Controller)
	}
	if r.cfg.V2Root != "" {
		if id, err := inode(filepath.Join(r.cfg.V2Root, path)); err == nil {
			k.V2 = id
		}
	}
	if r.cfg.V1Root != "" {
		if id, err := inode(filepath.Join(r.cfg.V1Root, path)); err == nil {
			k.V1 = id
		}
	}
	if k == (Key{}) {
		return Key{}, fmt.Errorf("cgroup %q: no such cgroup under %s or %s", path, orNone(r.cfg.V2Root), orNone(r.cfg.V1Root))
	}
	return k, nil
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func within(path, root string) bool {
	return path == root || strings.HasPrefix(path, root+"/")
}

// LookupContainer returns the cgroup key of a running container named by its
// Docker name, full id or id prefix, for --container filters. Without Docker
// it searches the containers already seen (by id, id prefix, name or ECS
// container name).
func (r *Resolver) LookupContainer(name string) (Key, error) {
	if name == "" {
		return Key{}, errors.New("container: empty name")
	}
	var dockerErr error
	if r.docker != nil {
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Timeout)
		defer cancel()
		ct, err := r.docker.container(ctx, name)
		switch {
		case err == nil && (!ct.State.Running || ct.State.Pid == 0):
			return Key{}, fmt.Errorf("container %q (%.12s) is not running", name, ct.ID)
		case err == nil:
			k, err := r.containerKey(ct.State.Pid, ct.ID)
			if err != nil {
				return Key{}, fmt.Errorf("container %q: %w", name, err)
			}
			return k, nil
		default:
			dockerErr = err
		}
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	for k, s := range r.slots {
		inf := s.info.Load()
		if inf == nil || inf.ContainerID == "" {
			continue
		}
		if inf.ContainerID == name || inf.Name == name || inf.ECSContainerName == name ||
			(len(name) >= 12 && strings.HasPrefix(inf.ContainerID, name)) {
			return k, nil
		}
	}
	if dockerErr != nil {
		return Key{}, fmt.Errorf("container %q: not seen, and docker: %w", name, dockerErr)
	}
	return Key{}, fmt.Errorf("container %q: not found", name)
}

// containerKey returns the key of the container's own cgroups: an id whose
// path does not name the container (the v2 root on hosts where the runtime
// manages only v1) would match every process there, so it is left out of a
// filter.
func (r *Resolver) containerKey(pid int, id string) (Key, error) {
	v2, v1, err := procCgroups(r.cfg.ProcRoot, pid, r.cfg.V1Controller)
	if err != nil {
		return Key{}, err
	}
	names := func(p string) bool {
		got, ok := ParsePath(p)
		return ok && got.ContainerID == id
	}
	if !names(v2) {
		v2 = ""
	}
	if !names(v1) {
		v1 = ""
	}
	if v2 == "" && v1 == "" {
		return Key{}, fmt.Errorf("no cgroup of pid %d names container %.12s", pid, id)
	}
	return r.keyForPaths(v2, v1)
}

// keyForPID returns the cgroup key of a process, as its events would carry it.
func (r *Resolver) keyForPID(pid int) (Key, error) {
	v2, v1, err := procCgroups(r.cfg.ProcRoot, pid, r.cfg.V1Controller)
	if err != nil {
		return Key{}, err
	}
	return r.keyForPaths(v2, v1)
}

func (r *Resolver) keyForPaths(v2, v1 string) (Key, error) {
	var err error
	var k Key
	if r.cfg.V2Root != "" && v2 != "" {
		if k.V2, err = inode(filepath.Join(r.cfg.V2Root, v2)); err != nil {
			return Key{}, err
		}
	}
	if r.cfg.V1Root != "" && v1 != "" {
		if k.V1, err = inode(filepath.Join(r.cfg.V1Root, v1)); err != nil {
			return Key{}, err
		}
	}
	return k, nil
}

// KeyForPID returns the cgroup key of a running process (for tests and for
// excluding the agent's own cgroup).
func (r *Resolver) KeyForPID(pid int) (Key, error) { return r.keyForPID(pid) }
