package agent

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vigilsec/vigil/internal/blob"
	"github.com/vigilsec/vigil/internal/logkey"
	"github.com/vigilsec/vigil/models"
	"github.com/vigilsec/vigil/scorer"
	"github.com/vigilsec/vigil/scorer/finding"
	"github.com/vigilsec/vigil/scorer/intel"
	"github.com/vigilsec/vigil/scorer/output"
	"github.com/vigilsec/vigil/scorer/response"
	"github.com/vigilsec/vigil/scorer/rules"
	"github.com/vigilsec/vigil/trace"
	"github.com/vigilsec/vigil/trace/lake"
)

// Agent is everything but the event source: events come from the collector
// (Run) or from a caller (Process), through the same code.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	reg     *prometheus.Registry
	Engine  *scorer.Engine
	disp    *output.Dispatcher
	resp    *response.Responder
	intel   *intel.Holder
	models  *models.Holder
	lake    *lake.Lake
	writer  *lake.Writer
	started time.Time

	mu                sync.Mutex
	status            map[string]*loadStatus // "rules", "intel", "models"
	rulesFP, modelsFP [32]byte
	lakeErrors        uint64
	sourceStats       func() any
}

type loadStatus struct {
	LoadedAt time.Time `json:"loaded_at,omitzero"`
	Error    string    `json:"error,omitempty"`
	Detail   string    `json:"detail,omitempty"`
}

// New builds the agent: loads rules, intel and models (a failure of intel or
// models is reported and retried at the next reload, never fatal; broken
// rules files are reported and the good rules load), and starts the outputs.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg, log: log, reg: prometheus.NewRegistry(), started: time.Now(),
		status: map[string]*loadStatus{"rules": {}, "intel": {}, "models": {}}}
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	dga := intel.DefaultDGA()
	if cfg.Intel.DGACorpus != "" {
		data, err := intel.Fetch(ctx, cfg.Intel.DGACorpus)
		if err != nil {
			return nil, fmt.Errorf("DGA corpus: %w", err)
		}
		var names []string
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			names = append(names, sc.Text())
		}
		dga = intel.TrainDGA(names, 1)
	}
	a.intel = intel.NewHolder(cfg.Intel.Lists, dga)
	a.reloadIntel(ctx)

	a.models = &models.Holder{}
	a.reloadModels(ctx)

	set, err := a.loadRules(nil)
	if set == nil {
		return nil, err
	}

	outs, err := a.outputs(ctx)
	if err != nil {
		return nil, err
	}
	a.disp = output.NewDispatcher(log, cfg.Outputs.Queue, outs...)

	ecfg := scorer.Config{
		AccountID: cfg.AccountID, Region: cfg.Region, Features: cfg.Features, Aggregation: cfg.Aggregation,
		Suppressions: cfg.Suppressions, AutoSuppress: cfg.AutoSuppress, MaxWorkloads: cfg.MaxWorkloads,
	}
	a.Engine, err = scorer.New(ecfg, set, a.models, a.disp)
	if err != nil {
		return nil, err
	}
	a.Engine.Metrics = scorer.NewMetrics(a.reg)
	a.reg.MustRegister(a)

	if cfg.Lake.Root != "" {
		if a.lake, err = lake.Open(ctx, cfg.Lake.Root); err != nil {
			return nil, fmt.Errorf("trace lake: %w", err)
		}
		if a.writer, err = a.lake.NewWriter(lake.WriterConfig{Host: cfg.Host, Logger: log}); err != nil {
			return nil, fmt.Errorf("trace lake writer: %w", err)
		}
		a.reg.MustRegister(lake.NewCollector(a.writer))
	}
	return a, nil
}

func (a *Agent) outputs(ctx context.Context) ([]output.Output, error) {
	c := a.cfg
	asff := finding.ASFFConfig{AccountID: c.AccountID, Region: c.Region}
	var outs []output.Output
	if s := c.Outputs.Stdout; s != nil {
		outs = append(outs, output.NewStream("stdout", os.Stdout, output.Encoder{Format: s.Format, ASFF: asff}))
	}
	if f := c.Outputs.File; f != nil {
		o, err := output.NewFile(f.Path, f.MaxBytes, f.Keep, output.Encoder{Format: f.Format, ASFF: asff})
		if err != nil {
			return nil, err
		}
		outs = append(outs, o)
	}
	for _, w := range c.Outputs.Webhooks {
		outs = append(outs, output.NewWebhook(w.URL, w.Headers, output.Encoder{Format: w.Format, ASFF: asff}, 0))
	}
	needAWS := c.Outputs.EventBridge != nil || c.Outputs.SecurityHub != nil || len(c.Response.Policies) > 0
	var awsCfg aws.Config
	if needAWS {
		var err error
		if awsCfg, err = output.AWSConfig(ctx, c.Region); err != nil {
			return nil, err
		}
	}
	if e := c.Outputs.EventBridge; e != nil {
		outs = append(outs, output.NewEventBridge(awsCfg, output.EventBridgeConfig{Bus: e.Bus, Source: e.Source, DetailType: e.DetailType, Endpoint: e.Endpoint}))
	}
	if s := c.Outputs.SecurityHub; s != nil {
		asff.ProductArn = s.ProductArn
		outs = append(outs, output.NewSecurityHub(awsCfg, asff, s.Endpoint))
	}
	if len(c.Response.Policies) > 0 {
		client := ecs.NewFromConfig(awsCfg, func(o *ecs.Options) {
			if c.Response.ECSEndpoint != "" {
				o.BaseEndpoint = aws.String(c.Response.ECSEndpoint)
			}
		})
		r, err := response.New(c.Response.Config, client, a.log)
		if err != nil {
			return nil, err
		}
		a.resp = r
		outs = append(outs, r)
	}
	if len(outs) == 0 {
		return nil, errors.New("no outputs configured: findings would go nowhere")
	}
	return outs, nil
}

// ruleSources reads the default pack and the configured directories.
func (a *Agent) ruleSources() ([]rules.Source, error) {
	var srcs []rules.Source
	if a.cfg.Rules.DefaultPack == nil || *a.cfg.Rules.DefaultPack {
		srcs = rules.DefaultSources()
	}
	for _, d := range a.cfg.Rules.Dirs {
		s, err := rules.ReadDir(d)
		if err != nil {
			return srcs, err
		}
		srcs = append(srcs, s...)
	}
	return srcs, nil
}

// loadRules (re)loads the rule files when they changed. prev nil is the
// first load. It returns the set to use (prev when nothing changed or the
// files could not be read) and what went wrong.
func (a *Agent) loadRules(prev *rules.Set) (*rules.Set, error) {
	srcs, readErr := a.ruleSources()
	h := sha256.New()
	for _, s := range srcs {
		h.Write([]byte(s.Name))
		h.Write([]byte{0})
		h.Write(s.Data)
	}
	var fp [32]byte
	copy(fp[:], h.Sum(nil))
	a.mu.Lock()
	same := prev != nil && fp == a.rulesFP && readErr == nil
	a.mu.Unlock()
	if same {
		return prev, nil
	}
	if readErr != nil && prev != nil {
		a.setStatus("rules", readErr, "")
		return prev, readErr // a directory that cannot be read keeps every rule
	}
	set, err := rules.Reload(prev, srcs, rules.Options{Intel: a.intel})
	if readErr != nil {
		err = errors.Join(readErr, err)
	}
	enabled := 0
	for _, r := range set.Rules() {
		if r.Enabled {
			enabled++
		}
	}
	a.mu.Lock()
	a.rulesFP = fp
	a.mu.Unlock()
	a.setStatus("rules", err, fmt.Sprintf("%d rules enabled from %d files", enabled, len(srcs)))
	if err != nil {
		a.log.Error("rule files have errors; the good rules are loaded (and broken ones keep their last good version)", logkey.Err, err)
	}
	return set, err
}

// ReloadRules checks the rule files and swaps in a new set if they changed.
func (a *Agent) ReloadRules() error {
	prev := a.Engine.Rules()
	set, err := a.loadRules(prev)
	if set != prev {
		a.Engine.SetRules(set)
	}
	return err
}

func (a *Agent) reloadIntel(ctx context.Context) error {
	if len(a.cfg.Intel.Lists) == 0 {
		return nil
	}
	s, err := a.intel.Reload(ctx)
	a.setStatus("intel", err, fmt.Sprintf("%v indicators", s.Counts))
	if err != nil {
		a.log.Error("intel reload", logkey.Err, err)
	}
	return err
}

func (a *Agent) reloadModels(ctx context.Context) error {
	root := a.cfg.Models.Root
	if root == "" {
		return nil
	}
	st, err := blob.Open(ctx, root)
	var idx []byte
	if err == nil {
		idx, err = st.Get(ctx, models.IndexFile)
	}
	if err != nil {
		a.setStatus("models", fmt.Errorf("reading %s/%s: %w (keeping the current models)", root, models.IndexFile, err), "")
		return err
	}
	fp := sha256.Sum256(idx)
	a.mu.Lock()
	same := fp == a.modelsFP && a.models.Get() != nil
	a.mu.Unlock()
	if same {
		return nil
	}
	b, err := a.models.Reload(ctx, root)
	if err != nil {
		a.setStatus("models", fmt.Errorf("%w (keeping the current models)", err), "")
		a.log.Error("model bundle reload", logkey.Root, root, logkey.Err, err)
		return err
	}
	if err := b.CheckFeatures(a.cfg.Features.WithDefaults()); err != nil {
		a.log.Error("model bundle features differ from the agent's", logkey.Err, err)
	}
	a.mu.Lock()
	a.modelsFP = fp
	a.mu.Unlock()
	a.setStatus("models", nil, fmt.Sprintf("%d workloads", len(b.Workloads())))
	return nil
}

func (a *Agent) setStatus(what string, err error, detail string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.status[what]
	if err != nil {
		s.Error = err.Error()
		if s.LoadedAt.IsZero() && detail != "" {
			s.LoadedAt = time.Now().UTC()
		}
	} else {
		s.Error = ""
		s.LoadedAt = time.Now().UTC()
	}
	if detail != "" {
		s.Detail = detail
	}
}

// Reload checks rules, intel and models once.
func (a *Agent) Reload(ctx context.Context) {
	a.ReloadRules()
	a.reloadIntel(ctx)
	a.reloadModels(ctx)
}

// Process runs one event through the scorer and, when configured, into the
// lake. It is the collector's sink.
func (a *Agent) Process(ev *trace.Event) {
	a.Engine.Process(ev)
	if a.writer != nil {
		if err := a.writer.Write(ev); err != nil {
			a.mu.Lock()
			a.lakeErrors++
			a.mu.Unlock()
		}
	}
}

// Maintain runs the periodic work until ctx ends: closing idle windows on
// event time, and reloading rules, intel and models.
func (a *Agent) Maintain(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	reload := time.NewTicker(max(a.cfg.Reload, time.Second))
	defer reload.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			// Event time follows the kernel's wall clock; an idle workload's
			// window closes once wall time passes its end.
			a.Engine.Advance(now.UnixNano())
		case <-reload.C:
			a.Reload(ctx)
		}
	}
}

// Serve serves /metrics and /healthz on the configured address until ctx
// ends.
func (a *Agent) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { <-ctx.Done(); srv.Close() }()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Handler is the agent's HTTP API.
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		h := a.Health()
		w.Header().Set("Content-Type", "application/json")
		if h.Status != "ok" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(h)
	})
	return mux
}

// Health is the /healthz document.
type Health struct {
	Status     string                     `json:"status"` // ok, degraded
	Uptime     string                     `json:"uptime"`
	Coverage   scorer.Coverage            `json:"coverage"`
	Loads      map[string]loadStatus      `json:"loads"`
	Engine     scorer.Stats               `json:"engine"`
	Outputs    map[string]output.Counters `json:"outputs"`
	Source     any                        `json:"source,omitempty"`
	Response   []response.Taken           `json:"responses,omitempty"`
	LakeErrors uint64                     `json:"lake_write_errors,omitempty"`
}

// Health reports coverage and what failed. Degraded means a reload failed
// (the agent runs on its last good state) or outputs are losing findings.
func (a *Agent) Health() Health {
	h := Health{Status: "ok", Uptime: time.Since(a.started).Round(time.Second).String(),
		Coverage: a.Engine.Coverage(), Engine: a.Engine.Stats(), Outputs: a.disp.Counters(), Loads: map[string]loadStatus{}}
	a.mu.Lock()
	for k, v := range a.status {
		h.Loads[k] = *v
		if v.Error != "" {
			h.Status = "degraded"
		}
	}
	h.LakeErrors = a.lakeErrors
	src := a.sourceStats
	a.mu.Unlock()
	for _, c := range h.Outputs {
		if c.Failed > 0 || c.Dropped > 0 {
			h.Status = "degraded"
		}
	}
	if src != nil {
		h.Source = src()
	}
	if a.resp != nil {
		h.Response = a.resp.Taken()
	}
	return h
}

// SetSourceStats lets the event source add its counters to /healthz.
func (a *Agent) SetSourceStats(fn func() any) {
	a.mu.Lock()
	a.sourceStats = fn
	a.mu.Unlock()
}

// Registry is where the event source registers its own metrics.
func (a *Agent) Registry() *prometheus.Registry { return a.reg }

// Close flushes windows and pending updates, delivers queued findings (for
// up to 30s) and closes the lake writer.
func (a *Agent) Close() error {
	a.Engine.Flush()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := a.disp.Close(ctx)
	if a.writer != nil {
		err = errors.Join(err, a.writer.Close())
	}
	if a.lake != nil {
		err = errors.Join(err, a.lake.Close())
	}
	return err
}

var (
	descOutput = prometheus.NewDesc("vigil_output_findings_total", "Findings by output and outcome (delivered, failed, dropped).",
		[]string{"output", "outcome"}, nil)
	descRetries    = prometheus.NewDesc("vigil_output_retries_total", "Delivery retries by output.", []string{"output"}, nil)
	descSuppressed = prometheus.NewDesc("vigil_findings_suppressed_total", "Rule and anomaly findings not emitted, by reason.",
		[]string{"reason"}, nil)
	descWorkloads  = prometheus.NewDesc("vigil_workloads", "Workloads seen, by whether they have a baseline.", []string{"model"}, nil)
	descContainers = prometheus.NewDesc("vigil_containers_monitored", "Containers seen.", nil, nil)
	descRuleErrors = prometheus.NewDesc("vigil_rule_errors_total", "Rule evaluations that failed.", nil, nil)
	descLoadOK     = prometheus.NewDesc("vigil_reload_ok", "1 when the last load of rules, intel or models succeeded.", []string{"what"}, nil)
	descGoroutines = prometheus.NewDesc("vigil_agent_goroutines", "Goroutines of the agent.", nil, nil)
	descProcs      = prometheus.NewDesc("vigil_scorer_processes", "Processes the scorer's table holds (bounded).", nil, nil)
	descEvicted    = prometheus.NewDesc("vigil_scorer_evicted_total", "State forgotten to stay within bounds, by kind.", []string{"what"}, nil)
	descLate       = prometheus.NewDesc("vigil_scorer_late_events_total", "Events that arrived after their window closed (folded in, not dropped).", nil, nil)
	descWindows    = prometheus.NewDesc("vigil_scorer_windows_total", "Closed feature windows, by whether a baseline scored them.", []string{"model"}, nil)
)

// Describe and Collect export the agent's counters (the engine's live
// counters are read at scrape time, so they cost nothing per event).
func (a *Agent) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descOutput, descRetries, descSuppressed, descWorkloads, descContainers, descRuleErrors,
		descLoadOK, descGoroutines, descProcs, descEvicted, descLate, descWindows} {
		ch <- d
	}
}

func (a *Agent) Collect(ch chan<- prometheus.Metric) {
	for name, c := range a.disp.Counters() {
		ch <- prometheus.MustNewConstMetric(descOutput, prometheus.CounterValue, float64(c.Delivered), name, "delivered")
		ch <- prometheus.MustNewConstMetric(descOutput, prometheus.CounterValue, float64(c.Failed), name, "failed")
		ch <- prometheus.MustNewConstMetric(descOutput, prometheus.CounterValue, float64(c.Dropped), name, "dropped")
		ch <- prometheus.MustNewConstMetric(descRetries, prometheus.CounterValue, float64(c.Retries), name)
	}
	s := a.Engine.Stats()
	for reason, n := range map[string]uint64{"suppressed": s.Suppressed, "auto_suppressed": s.AutoSuppressed,
		"aggregated": s.Aggregated, "rate_limited": s.RateLimited, "partial_window": s.ActivityPartial} {
		ch <- prometheus.MustNewConstMetric(descSuppressed, prometheus.CounterValue, float64(n), reason)
	}
	ch <- prometheus.MustNewConstMetric(descRuleErrors, prometheus.CounterValue, float64(s.RuleErrors))
	ch <- prometheus.MustNewConstMetric(descProcs, prometheus.GaugeValue, float64(s.Processes))
	ch <- prometheus.MustNewConstMetric(descEvicted, prometheus.CounterValue, float64(s.ProcsEvicted), "processes")
	ch <- prometheus.MustNewConstMetric(descEvicted, prometheus.CounterValue, float64(s.WorkloadsEvicted), "workloads")
	ch <- prometheus.MustNewConstMetric(descEvicted, prometheus.CounterValue, float64(s.FindingsEvicted), "findings")
	ch <- prometheus.MustNewConstMetric(descLate, prometheus.CounterValue, float64(s.LateEvents))
	ch <- prometheus.MustNewConstMetric(descWindows, prometheus.CounterValue, float64(s.WindowsScored), "yes")
	ch <- prometheus.MustNewConstMetric(descWindows, prometheus.CounterValue, float64(s.WindowsLearning), "learning")
	cov := a.Engine.Coverage()
	ch <- prometheus.MustNewConstMetric(descWorkloads, prometheus.GaugeValue, float64(len(cov.WithModel)), "yes")
	ch <- prometheus.MustNewConstMetric(descWorkloads, prometheus.GaugeValue, float64(len(cov.Learning)), "learning")
	ch <- prometheus.MustNewConstMetric(descContainers, prometheus.GaugeValue, float64(cov.Containers))
	a.mu.Lock()
	for what, st := range a.status {
		ok := 1.0
		if st.Error != "" {
			ok = 0
		}
		ch <- prometheus.MustNewConstMetric(descLoadOK, prometheus.GaugeValue, ok, what)
	}
	a.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(descGoroutines, prometheus.GaugeValue, float64(runtime.NumGoroutine()))
}
