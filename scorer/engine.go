// Package scorer is Vigil's online detection engine: it consumes events (live
// from the collector or replayed from the lake, with the same code and the
// events' own clock), evaluates signature rules, keeps per-workload feature
// windows, scores closed windows against each workload's baseline, and turns
// both into aggregated, tuned findings.
package scorer

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilsec/vigil/features"
	"github.com/vigilsec/vigil/internal/escape"
	"github.com/vigilsec/vigil/models"
	"github.com/vigilsec/vigil/scorer/finding"
	"github.com/vigilsec/vigil/scorer/lineage"
	"github.com/vigilsec/vigil/scorer/rules"
	"github.com/vigilsec/vigil/trace"
)

// Sink receives findings to deliver. update is false for a finding's first
// report and true for a later report of the same finding with a higher count.
// Emit must not block for long (outputs queue internally).
type Sink interface {
	Emit(f *finding.Finding, update bool)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(f *finding.Finding, update bool)

func (fn SinkFunc) Emit(f *finding.Finding, update bool) { fn(f, update) }

// Models is where the engine finds baselines (models.Holder satisfies it).
type Models interface {
	Get() *models.Bundle
}

// Config tunes the engine.
type Config struct {
	AccountID string
	Region    string
	// Features configures windows; it must match the bundle's.
	Features    features.Config
	Aggregation finding.AggregatorConfig
	// Suppressions drop findings matching any of them.
	Suppressions []Suppression
	// AutoSuppress drops rule findings whose subject the workload's
	// baseline has learned as normal.
	AutoSuppress AutoSuppress
	// MaxWorkloads bounds per-workload bookkeeping; MaxProcs the process
	// table; MaxWrittenPaths the files remembered per container for
	// NewBinaryExecuted.
	MaxWorkloads    int
	MaxProcs        int
	MaxWrittenPaths int
	// AnomalySeverity is the severity of an anomaly finding at its
	// threshold (default 5); stronger deviations score up to +2, and an
	// unconverged baseline lowers it by 2.
	AnomalySeverity float64
}

// AutoSuppress is the baseline-driven suppression of rule findings.
type AutoSuppress struct {
	Enabled bool `yaml:"enabled" json:"enabled"`
	// BelowSeverity: only findings under this severity are auto-suppressed
	// (default 7: high and critical findings are always reported).
	BelowSeverity float64 `yaml:"below_severity" json:"below_severity"`
}

func (c *Config) defaults() {
	if c.MaxWorkloads <= 0 {
		c.MaxWorkloads = 4096
	}
	if c.MaxWrittenPaths <= 0 {
		c.MaxWrittenPaths = 4096
	}
	if c.AnomalySeverity <= 0 {
		c.AnomalySeverity = 5
	}
	if c.AutoSuppress.BelowSeverity <= 0 {
		c.AutoSuppress.BelowSeverity = 7
	}
}

// Stats are the engine's counters.
type Stats struct {
	Events          uint64
	EventsByKind    map[trace.Kind]uint64
	RuleMatches     uint64
	RuleErrors      uint64
	Findings        map[string]uint64 // emitted (new + updated) by type
	Suppressed      uint64
	AutoSuppressed  uint64
	Aggregated      uint64
	RateLimited     uint64
	WindowsScored   uint64
	WindowsLearning uint64 // windows of workloads without a model
	// ActivityPartial counts rate and multivariate anomalies not raised
	// because the window was a container's first and began before it (see
	// Engine.partial).
	ActivityPartial  uint64
	LateEvents       int64
	Processes        int
	ProcsEvicted     int64
	WorkloadsEvicted uint64
	// FindingsTracked is how many findings the aggregator remembers;
	// FindingsEvicted how many it forgot to stay within its bound.
	FindingsTracked int
	FindingsEvicted int64
}

// Coverage is what the health endpoint reports.
type Coverage struct {
	Containers           int               `json:"containers_monitored"`
	Workloads            int               `json:"workloads"`
	WithModel            []string          `json:"workloads_with_model"`
	Learning             []string          `json:"workloads_learning"`
	ModelStates          map[string]string `json:"model_states,omitempty"`
	Rules                int               `json:"rules_enabled"`
	ContainersByWorkload map[string]int    `json:"containers_by_workload"`
}

type workload struct {
	containers map[string]struct{}
	lastSeen   int64
}

// seenContainer is a container the engine has recorded under a workload.
type seenContainer struct {
	ctr, wl string
	w       *workload
}

// Engine is the scorer. Process is called from one goroutine; Coverage,
// Stats and the Set* reloads may be called from any.
type Engine struct {
	cfg    Config
	sink   Sink
	rules  atomic.Pointer[rules.Set]
	models Models

	mu        sync.Mutex
	procs     *lineage.Table
	agg       *finding.Aggregator
	extractor *features.Extractor
	written   map[string]map[string]struct{} // container -> paths written
	// The written paths of the container that wrote last, and the path
	// it wrote: services write one log or temp file over and over.
	wCtr, wPath string
	wMap        map[string]struct{}
	workloads   map[string]*workload
	// idents keep, per container, the identity fields of its first event, so
	// anomaly findings (which come from windows, not events) can name the
	// task and container too.
	idents   map[string]*trace.Event
	env      rules.Env
	lastTime int64
	matches  []*rules.Rule
	// Containers of recent events, the latest at recent[lastRecent] (see
	// track).
	recent     [4]seenContainer
	lastRecent int

	stats struct {
		events, ruleMatches, ruleErrors, suppressed, autoSuppressed, aggregated, rateLimited uint64
		windowsScored, windowsLearning, workloadsEvicted, activityPartial                    uint64
		byKind                                                                               [32]uint64
		findings                                                                             map[string]uint64
	}
	// Metrics, when set, is updated as the engine works.
	Metrics *Metrics
	// OnWindow, when set, sees every window the engine closes, with its
	// baseline's scores (nil when the workload has none), before anomaly
	// findings are made from them; it runs under the engine's lock and
	// must not keep w. Evaluation records every window's scores with it.
	OnWindow func(w *features.Window, s *models.Scores)
	// afterMatch, set by tests, sees each event's rule matches.
	afterMatch func(ev *trace.Event, p *lineage.Proc, matched []*rules.Rule)
}

// New returns an engine evaluating set, scoring with ms (nil: rules only)
// and emitting to sink.
func New(cfg Config, set *rules.Set, ms Models, sink Sink) (*Engine, error) {
	cfg.defaults()
	e := &Engine{
		cfg: cfg, sink: sink, models: ms,
		procs: lineage.New(cfg.MaxProcs), agg: finding.NewAggregator(cfg.Aggregation),
		written: map[string]map[string]struct{}{}, workloads: map[string]*workload{}, idents: map[string]*trace.Event{},
	}
	e.stats.findings = map[string]uint64{}
	x, err := features.NewExtractor(cfg.Features, e.scoreWindow)
	if err != nil {
		return nil, fmt.Errorf("feature extractor: %w", err)
	}
	e.extractor = x
	if set == nil {
		set, _ = rules.Load(nil, rules.Options{})
	}
	e.rules.Store(set)
	return e, nil
}

// SetRules swaps in a new rule set (hot reload).
func (e *Engine) SetRules(s *rules.Set) {
	e.mu.Lock()
	e.rules.Store(s)
	e.mu.Unlock()
}

// Rules returns the rule set in use.
func (e *Engine) Rules() *rules.Set { return e.rules.Load() }

// Process runs one event through rules and feature windows.
func (e *Engine) Process(ev *trace.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var start time.Time
	timed := e.Metrics != nil && e.Metrics.sampleNext()
	if timed {
		start = time.Now()
	}
	e.stats.events++
	ki := rules.KindIndex(ev.Kind)
	if ki >= 0 {
		e.stats.byKind[ki]++
	}
	if ev.Time > e.lastTime {
		e.lastTime = ev.Time
	}
	if ev.Workload == "" {
		ev.Workload = trace.WorkloadKey(ev)
	}
	p := e.procs.Observe(ev)
	e.track(ev)
	// Kinds no rule looks at (fork, exit, sequence-mode syscalls, ...) skip
	// building the rule environment altogether.
	if set := e.rules.Load(); set.HasRules(ki) {
		parts := set.Needs(ki)
		e.fillEnv(ev, p, parts)
		e.matches = e.matches[:0]
		set.MatchIndex(ki, &e.env, e.onMatch)
		if e.afterMatch != nil {
			e.afterMatch(ev, p, e.matches)
		}
		if len(e.matches) > 0 && parts != rules.AllParts {
			// Findings describe the event from the whole Env.
			e.fillEnv(ev, p, rules.AllParts)
		}
		for _, r := range e.matches {
			e.ruleFinding(ev, p, r)
		}
	} else if e.afterMatch != nil {
		e.afterMatch(ev, p, nil)
	}
	e.extractor.Add(ev)
	if m := e.Metrics; m != nil {
		m.observeEvent(ki, timed, start)
	}
}

func (e *Engine) onMatch(r *rules.Rule, err error) {
	if err != nil {
		e.stats.ruleErrors++
		return
	}
	e.stats.ruleMatches++
	e.matches = append(e.matches, r)
}

// Advance tells the engine that event time has reached now (ns): idle
// workloads' windows close and are scored, and pending aggregated updates
// are emitted. The agent calls it on a timer; replay at the end of a scan.
func (e *Engine) Advance(now int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.extractor.Advance(now)
	for _, f := range e.agg.Flush(time.Unix(0, now).UTC(), false) {
		e.emit(f, true)
	}
}

// Flush closes every window and reports every pending update: the end of a
// replay or an agent shutdown.
func (e *Engine) Flush() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.extractor.Flush()
	for _, f := range e.agg.Flush(time.Unix(0, e.lastTime).UTC(), true) {
		e.emit(f, true)
	}
}

// WindowStats are the counters of the engine's feature windows.
func (e *Engine) WindowStats() features.Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.extractor.Stats()
}

// LastEventTime is the newest event time seen (ns).
func (e *Engine) LastEventTime() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lastTime
}

// track keeps the per-container and per-workload state rules and coverage
// need: files written inside containers, and which containers each workload
// runs.
func (e *Engine) track(ev *trace.Event) {
	if ev.ContainerID == "" {
		return
	}
	// Events come from a few containers at a time; skip the map work for
	// those seen last (until a workload is evicted, they stay recorded).
	var w *workload
	if c := &e.recent[e.lastRecent]; c.w != nil && c.ctr == ev.ContainerID && c.wl == ev.Workload {
		w = c.w
	} else {
		for i := range e.recent {
			if c := &e.recent[i]; c.w != nil && c.ctr == ev.ContainerID && c.wl == ev.Workload {
				w, e.lastRecent = c.w, i
				break
			}
		}
	}
	if w == nil {
		w = e.workloads[ev.Workload]
		if w == nil {
			if len(e.workloads) >= e.cfg.MaxWorkloads {
				e.evictWorkload()
			}
			w = &workload{containers: map[string]struct{}{}}
			e.workloads[ev.Workload] = w
		}
		if _, ok := w.containers[ev.ContainerID]; !ok {
			id := identityOf(ev)
			e.idents[ev.ContainerID] = &id
			w.containers[ev.ContainerID] = struct{}{}
		}
		e.lastRecent = (e.lastRecent + 1) % len(e.recent)
		e.recent[e.lastRecent] = seenContainer{ctr: ev.ContainerID, wl: ev.Workload, w: w}
	}
	w.lastSeen = ev.Time
	switch ev.Kind {
	case trace.KindOpen:
		if ev.Flags&(3|0x40|0x200) == 0 || ev.Ret < 0 {
			return
		}
	case trace.KindRename, trace.KindLink: // not chmod: making an image file executable does not make it new
		if ev.Ret < 0 {
			return
		}
	case trace.KindExit:
		return
	default:
		return
	}
	path := ev.Path
	if ev.Kind == trace.KindRename || ev.Kind == trace.KindLink {
		path = ev.NewPath
	}
	if path == "" {
		return
	}
	m := e.wMap
	if m != nil && ev.ContainerID == e.wCtr {
		if path == e.wPath && len(m) < e.cfg.MaxWrittenPaths {
			return // already recorded
		}
	} else {
		m = e.written[ev.ContainerID]
		if m == nil {
			if len(e.written) >= e.cfg.MaxWorkloads*4 {
				clear(e.written) // bounded; forgetting only risks a missed NewBinaryExecuted
			}
			m = map[string]struct{}{}
			e.written[ev.ContainerID] = m
		}
		e.wCtr, e.wMap = ev.ContainerID, m
	}
	if len(m) >= e.cfg.MaxWrittenPaths {
		clear(m)
	}
	m[path] = struct{}{}
	e.wPath = path
}

func (e *Engine) evictWorkload() {
	var oldest string
	var at int64
	for k, w := range e.workloads {
		if oldest == "" || w.lastSeen < at {
			oldest, at = k, w.lastSeen
		}
	}
	for c := range e.workloads[oldest].containers {
		delete(e.idents, c)
		delete(e.written, c)
	}
	e.wMap = nil
	delete(e.workloads, oldest)
	e.stats.workloadsEvicted++
	e.recent = [len(e.recent)]seenContainer{}
}

func identityOf(ev *trace.Event) trace.Event {
	return trace.Event{
		Time: ev.Time, Host: ev.Host, ContainerID: ev.ContainerID, Runtime: ev.Runtime, Image: ev.Image, ImageDigest: ev.ImageDigest,
		ContainerName: ev.ContainerName, Cluster: ev.Cluster, TaskARN: ev.TaskARN, TaskFamily: ev.TaskFamily,
		TaskRevision: ev.TaskRevision, ECSContainerName: ev.ECSContainerName, LaunchType: ev.LaunchType, Workload: ev.Workload,
	}
}

// fillEnv rewrites the engine's one Env for ev (no allocation per event).
// Of the parts rules.Parts names it fills only those in parts; the others
// keep an earlier event's values, which the rules for ev's kind do not read
// (Set.Needs).
func (e *Engine) fillEnv(ev *trace.Event, p *lineage.Proc, parts rules.Parts) {
	env := &e.env
	env.Kind, env.Syscall, env.Ret, env.Path, env.NewPath = string(ev.Kind), int(ev.Syscall), int(ev.Ret), ev.Path, ev.NewPath
	env.Flags, env.Mode, env.TargetPID, env.Module = int(ev.Flags), int(ev.Mode), int(ev.TargetPID), ev.Module
	env.PathWritten = false
	if parts&rules.PartNet != 0 {
		env.Net = rules.Net{Family: int(ev.NetFamily), Proto: int(ev.NetProto), SrcIP: ev.SrcAddr, SrcPort: int(ev.SrcPort),
			DstIP: ev.DstAddr, DstPort: int(ev.DstPort)}
		if ev.NetFamily == trace.FamilyUnix && env.Net.DstIP == "" {
			env.Net.DstIP = ev.Path
		}
	}
	if parts&rules.PartDNS != 0 {
		env.DNS = rules.DNS{Name: ev.DNSName, Type: int(ev.DNSType), Answers: ev.DNSAnswers}
	}
	if parts&rules.PartContainerMeta != 0 {
		env.Container = rules.Container{ID: ev.ContainerID, Name: ev.ContainerName, Image: ev.Image, Workload: ev.Workload,
			Cluster: ev.Cluster, TaskFamily: ev.TaskFamily}
	} else {
		env.Container.ID = ev.ContainerID
	}
	exe := p.Exe
	if ev.ExePath != "" && ev.ExePath != lineage.SelfExe {
		exe = ev.ExePath
	}
	exeName := programName(exe, ev.Comm, p.Argv)
	env.Proc = rules.Proc{
		Name: ev.Comm, Exe: exe, ExeName: exeName, Argv: p.Argv, Cmdline: p.Cmdline,
		PID: int(ev.PID), PPID: int(ev.PPID), NSPID: int(ev.NSPID), UID: int(ev.UID), EUID: int(ev.EUID),
		PrevEUID: int(p.PrevEUID), GID: int(ev.GID), Cwd: p.Cwd, SHA256: p.SHA256, Ancestors: p.Ancestors,
		Listener: p.Listener,
	}
	if ev.Kind == trace.KindExec && ev.Ret == 0 {
		if len(ev.Argv) > 0 {
			env.Proc.Argv = ev.Argv
		}
		if m := e.written[ev.ContainerID]; m != nil && ev.ContainerID != "" {
			_, env.Proc.ExeWritten = m[exe]
			if !env.Proc.ExeWritten && ev.Path != "" {
				_, env.Proc.ExeWritten = m[ev.Path]
			}
		}
	}
	if ev.Kind == trace.KindExecMapping && ev.ContainerID != "" && ev.Path != "" {
		_, env.PathWritten = e.written[ev.ContainerID][ev.Path]
	}
	if ev.ExeSHA256 != "" {
		env.Proc.SHA256 = ev.ExeSHA256
	}
	if parts&rules.PartParent != 0 {
		env.Parent = rules.Parent{}
		if pp := p.Parent; pp != nil {
			env.Parent = rules.Parent{Name: pp.Comm, Exe: pp.Exe, ExeName: programName(pp.Exe, pp.Comm, pp.Argv), Cmdline: pp.Cmdline, Listener: pp.Listener}
		}
	}
}

// programName is the name rules match programs by: the executable's base
// name, except for a multi-call binary (busybox in Alpine and distroless
// debug images), where argv[0] picks the applet that runs, exactly as
// busybox itself decides.
func programName(exe, comm string, argv []string) string {
	name := finding.BaseName(exe, comm)
	if name == "busybox" || name == "exe" {
		if len(argv) > 0 && argv[0] != "" {
			if a := finding.BaseName(argv[0], ""); a != "busybox" {
				return a
			}
		}
		if comm != "" && comm != "exe" {
			return comm
		}
	}
	return name
}

// ruleFinding turns a rule match into a finding and passes it on.
func (e *Engine) ruleFinding(ev *trace.Event, p *lineage.Proc, r *rules.Rule) {
	key := detectionKey(ev, &e.env)
	if e.cfg.AutoSuppress.Enabled && r.Severity < e.cfg.AutoSuppress.BelowSeverity && e.baselineKnows(ev) {
		e.stats.autoSuppressed++
		return
	}
	at := time.Unix(0, ev.Time).UTC()
	proc := processOf(ev, p)
	ctx := finding.ContextFromEvent(ev)
	if ev.Kind == trace.KindExec {
		ctx.ToolCategory = toolCategory(r)
	}
	f := &finding.Finding{
		SchemaVersion: finding.SchemaVersion, ID: finding.ID(ev.Workload, r.Type, key),
		AccountID: e.cfg.AccountID, Region: e.cfg.Region, Partition: "aws",
		Type: r.Type, Severity: r.Severity,
		Title:       finding.Safe(r.Name+" in "+ev.Workload+": "+subject(ev, &e.env), 256),
		Description: finding.Safe(describe(r, ev, proc), 4096),
		CreatedAt:   at, UpdatedAt: at,
		Resource: finding.ResourceFromEvent(ev),
		Service: finding.Service{
			ServiceName: "vigil", FeatureName: "RuntimeMonitoring", EventFirstSeen: at, EventLastSeen: at, Count: 1,
			RuntimeDetails: finding.RuntimeDetails{Process: proc, Context: ctx},
			Detection:      finding.Detection{Source: "rule", RuleID: r.ID, RuleName: r.Name, Tags: r.Tags, Key: escape.String(key)},
			Workload:       ev.Workload, Host: ev.Host,
		},
	}
	e.deliver(f, ev.Time)
}

// deliver applies suppressions and aggregation, then emits.
func (e *Engine) deliver(f *finding.Finding, eventTime int64) {
	for i := range e.cfg.Suppressions {
		if e.cfg.Suppressions[i].Matches(f) {
			e.stats.suppressed++
			return
		}
	}
	out, outcome := e.agg.Observe(f)
	switch outcome {
	case finding.Aggregated:
		e.stats.aggregated++
	case finding.RateLimited:
		e.stats.rateLimited++
	case finding.New, finding.Updated:
		if m := e.Metrics; m != nil && outcome == finding.New {
			m.observeFindingLatency(time.Since(time.Unix(0, eventTime)))
		}
		e.emit(out, outcome == finding.Updated)
	}
}

func (e *Engine) emit(f *finding.Finding, update bool) {
	e.stats.findings[f.Type]++
	if m := e.Metrics; m != nil {
		m.findings.WithLabelValues(f.Type).Inc()
	}
	e.sink.Emit(f, update)
}

// processOf builds the finding's process with its lineage.
func processOf(ev *trace.Event, p *lineage.Proc) *finding.Process {
	fp := finding.ProcessFromEvent(ev)
	if fp.ExecutablePath == "" || ev.ExePath == lineage.SelfExe {
		fp.ExecutablePath = escape.String(p.Exe)
	}
	if fp.CommandLine == "" && len(p.Argv) > 0 {
		fp.CommandLine = finding.CommandLine(p.Argv)
	}
	if fp.Pwd == "" {
		fp.Pwd = escape.String(p.Cwd)
	}
	if fp.ExecutableSha256 == "" {
		fp.ExecutableSha256 = p.SHA256
	}
	if fp.StartTime.IsZero() && p.Start > 0 {
		fp.StartTime = time.Unix(0, p.Start).UTC()
	}
	for _, a := range lineage.Lineage(p) {
		lp := finding.Process{Name: escape.String(a.Comm), ExecutablePath: escape.String(a.Exe), Pid: a.PID, NamespacePid: a.NSPID,
			UUID: a.UUID, ParentUUID: a.ParentUUID, UserID: a.UID, Euid: a.EUID, ExecutableSha256: a.SHA256}
		if len(a.Argv) > 0 {
			lp.CommandLine = finding.CommandLine(a.Argv)
		}
		if a.Start > 0 {
			lp.StartTime = time.Unix(0, a.Start).UTC()
		}
		fp.Lineage = append(fp.Lineage, lp)
	}
	return fp
}

// detectionKey is what repeats of a rule finding aggregate on within
// (workload, type): the thing the activity was about.
func detectionKey(ev *trace.Event, env *rules.Env) string {
	switch ev.Kind {
	case trace.KindExec:
		return env.Proc.Exe
	case trace.KindDNS:
		return strings.ToLower(strings.TrimSuffix(ev.DNSName, "."))
	case trace.KindConnect:
		if ev.NetFamily == trace.FamilyUnix {
			return env.Proc.Exe + " -> " + env.Net.DstIP
		}
		return env.Proc.Exe + " -> " + features.FormatNetDst(ev.DstAddr, ev.DstPort)
	case trace.KindOpen, trace.KindUnlink, trace.KindChmod, trace.KindChown, trace.KindMount, trace.KindMemfd:
		return env.Proc.Exe + " " + ev.Path
	case trace.KindRename, trace.KindLink:
		return env.Proc.Exe + " " + ev.NewPath
	case trace.KindModuleLoad:
		return ev.Module
	default:
		return env.Proc.Exe + " " + string(ev.Kind)
	}
}

// subject names what happened for a title.
func subject(ev *trace.Event, env *rules.Env) string {
	switch ev.Kind {
	case trace.KindExec:
		if env.Proc.Cmdline != "" {
			return escape.String(env.Proc.Cmdline)
		}
		return escape.String(env.Proc.Exe)
	case trace.KindDNS:
		return escape.String(ev.DNSName)
	case trace.KindConnect:
		if ev.NetFamily == trace.FamilyUnix {
			return escape.String(env.Proc.ExeName) + " -> " + escape.String(env.Net.DstIP)
		}
		return escape.String(env.Proc.ExeName) + " -> " + features.FormatNetDst(ev.DstAddr, ev.DstPort)
	case trace.KindModuleLoad:
		return escape.String(ev.Module)
	case trace.KindPtrace:
		return fmt.Sprintf("%s -> pid %d", escape.String(env.Proc.ExeName), ev.TargetPID)
	default:
		p := ev.Path
		if ev.Kind == trace.KindRename || ev.Kind == trace.KindLink {
			p = ev.NewPath
		}
		return escape.String(env.Proc.ExeName) + " " + escape.String(p)
	}
}

func describe(r *rules.Rule, ev *trace.Event, p *finding.Process) string {
	var b strings.Builder
	b.WriteString(r.Description)
	fmt.Fprintf(&b, " Process %s (pid %d, uid %d, euid %d)", finding.FirstNonEmpty(p.ExecutablePath, p.Name), p.Pid, p.UserID, p.Euid)
	if p.CommandLine != "" {
		fmt.Fprintf(&b, " ran %q", p.CommandLine)
	}
	if len(p.Lineage) > 0 {
		b.WriteString("; parents:")
		for _, l := range p.Lineage {
			b.WriteString(" " + finding.FirstNonEmpty(l.ExecutablePath, l.Name))
		}
	}
	if ev.ContainerID != "" {
		fmt.Fprintf(&b, "; container %s (%s)", escape.String(finding.FirstNonEmpty(ev.ECSContainerName, ev.ContainerName, ev.ContainerID)), escape.String(ev.Image))
	}
	if ev.TaskARN != "" {
		fmt.Fprintf(&b, " of task %s", ev.TaskARN)
	}
	b.WriteString(". Rule " + r.ID + ".")
	return b.String()
}

func toolCategory(r *rules.Rule) string {
	switch {
	case strings.Contains(r.Type, "CryptoMiner"), strings.Contains(r.Type, "BitcoinTool"):
		return "cryptocurrency miner"
	case strings.Contains(r.Type, "SuspiciousTool"):
		return "offensive security tool"
	case strings.Contains(r.Type, "ReverseShell"):
		return "reverse shell"
	}
	return ""
}

// Stats returns a snapshot of the counters.
func (e *Engine) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := Stats{
		Events: e.stats.events, RuleMatches: e.stats.ruleMatches, RuleErrors: e.stats.ruleErrors,
		Suppressed: e.stats.suppressed, AutoSuppressed: e.stats.autoSuppressed, Aggregated: e.stats.aggregated,
		RateLimited: e.stats.rateLimited, WindowsScored: e.stats.windowsScored, WindowsLearning: e.stats.windowsLearning,
		ActivityPartial: e.stats.activityPartial,
		LateEvents:      e.extractor.Stats().Late, Processes: e.procs.Len(), ProcsEvicted: e.procs.Evicted,
		WorkloadsEvicted: e.stats.workloadsEvicted, FindingsTracked: e.agg.Len(), FindingsEvicted: e.agg.Evicted,
		EventsByKind: map[trace.Kind]uint64{}, Findings: map[string]uint64{},
	}
	for i, k := range trace.Kinds {
		if n := e.stats.byKind[i]; n > 0 {
			s.EventsByKind[k] = n
		}
	}
	for k, v := range e.stats.findings {
		s.Findings[k] = v
	}
	return s
}

// Coverage reports what the engine watches and which workloads have a
// baseline.
func (e *Engine) Coverage() Coverage {
	e.mu.Lock()
	defer e.mu.Unlock()
	var b *models.Bundle
	if e.models != nil {
		b = e.models.Get()
	}
	c := Coverage{Workloads: len(e.workloads), ContainersByWorkload: map[string]int{}, ModelStates: map[string]string{}}
	for name, w := range e.workloads {
		c.Containers += len(w.containers)
		c.ContainersByWorkload[name] = len(w.containers)
		if m := modelFor(b, name); m != nil {
			c.WithModel = append(c.WithModel, name)
			if m.Converged() {
				c.ModelStates[name] = models.StateConverged
			} else {
				c.ModelStates[name] = models.StateConverging
			}
		} else {
			c.Learning = append(c.Learning, name)
			c.ModelStates[name] = models.StateLearning
		}
	}
	slices.Sort(c.WithModel)
	slices.Sort(c.Learning)
	for _, r := range e.rules.Load().Rules() {
		if r.Enabled {
			c.Rules++
		}
	}
	return c
}

func modelFor(b *models.Bundle, workload string) *models.Model {
	if b == nil {
		return nil
	}
	return b.Workload(workload)
}
