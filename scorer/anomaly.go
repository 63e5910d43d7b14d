package scorer

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/vigilsec/vigil/features"
	"github.com/vigilsec/vigil/internal/escape"
	"github.com/vigilsec/vigil/models"
	"github.com/vigilsec/vigil/scorer/finding"
	"github.com/vigilsec/vigil/trace"
)

// scoreWindow scores a closed window with its workload's baseline; the
// extractor calls it with the engine's lock held.
func (e *Engine) scoreWindow(w *features.Window) {
	var b *models.Bundle
	if e.models != nil {
		b = e.models.Get()
	}
	m := modelFor(b, w.Workload)
	if m == nil {
		e.stats.windowsLearning++
		if e.OnWindow != nil {
			e.OnWindow(w, nil)
		}
		return
	}
	t0 := time.Now()
	s := m.Score(w)
	e.stats.windowsScored++
	if mt := e.Metrics; mt != nil {
		mt.windowLatency.Observe(time.Since(t0).Seconds())
	}
	if e.OnWindow != nil {
		e.OnWindow(w, &s)
	}
	partial := e.partial(w)
	for _, d := range s.Anomalous() {
		if partial && (d.Detector == models.DetRate || d.Detector == models.DetMultivariate) {
			e.stats.activityPartial++
			continue
		}
		e.anomalyFinding(w, d)
	}
}

// partial reports whether w is the first window of a container that began
// (or came into the engine's view) after the window did. Such a window holds
// less than a window of activity, and start-up besides: the rate and
// multivariate baselines, fitted on whole windows, call it abnormal for
// that alone (in the scenario evaluation, multivariate passed its threshold
// on 41 of 84 benign first windows and on none of 300 later ones). Novelty,
// sequence and rule findings still come from it.
func (e *Engine) partial(w *features.Window) bool {
	id := e.idents[w.Instance]
	return id != nil && id.Time > w.Start
}

func (e *Engine) anomalyFinding(w *features.Window, d models.DetectorScore) {
	ev := &trace.Event{Workload: w.Workload, Host: w.Instance}
	if id := e.idents[w.Instance]; id != nil {
		ev = id
	}
	sev := e.cfg.AnomalySeverity
	if d.Threshold > 0 && d.Score > d.Threshold {
		sev += math.Min(2, math.Log2(d.Score/d.Threshold))
	}
	if !d.Converged {
		sev -= 2
	}
	sev = math.Round(math.Max(1, math.Min(8.9, sev))*10) / 10

	evid := &finding.AnomalyEvidence{Feature: string(d.Detector), Score: d.Score, Threshold: d.Threshold}
	key := string(d.Detector)
	what := "activity"
	var proc *finding.Process
	if len(d.Evidence) > 0 {
		x := d.Evidence[0]
		switch {
		case x.Item != "":
			evid.Feature = x.Category
			evid.Observed = escape.String(x.Item)
			evid.Expected = escape.String(x.Nearest)
			evid.NoveltyProbability = x.PNew
			key += ":" + x.Item
			what = x.Category + " " + evid.Observed
		case x.Feature != "":
			evid.Feature = x.Feature
			evid.Observed = fmt.Sprintf("%.4g", x.Observed)
			evid.Expected = fmt.Sprintf("%.3g (normal up to %.3g)", x.Expected, x.Upper)
			key += ":" + x.Feature
			what = fmt.Sprintf("%s = %.4g (expected %.3g)", x.Feature, x.Observed, x.Expected)
		case len(x.Syscalls) > 0:
			names := make([]string, len(x.Syscalls))
			for i, nr := range x.Syscalls {
				names[i] = fmt.Sprint(nr)
			}
			evid.Feature = "syscall n-gram"
			evid.Observed = strings.Join(names, ",")
			evid.Expected = fmt.Sprintf("probability %.3g under the baseline", x.Prob)
			// Repeats aggregate per container, not per n-gram: a program on
			// an unfamiliar path makes a new rare gram every window, and a
			// person wants one finding about that container, counted, with
			// the latest evidence.
			key += "@" + w.Instance[:min(len(w.Instance), 12)]
			what = "syscall sequence " + evid.Observed
		}
		if x.Proc != "" {
			if p := e.procs.Get(x.Proc); p != nil {
				pe := trace.Event{PID: p.PID, Comm: p.Comm, ExePath: p.Exe, Argv: p.Argv, Cwd: p.Cwd, ProcUUID: p.UUID,
					ParentUUID: p.ParentUUID, UID: p.UID, EUID: p.EUID, ProcStart: p.Start, ExeSHA256: p.SHA256}
				proc = processOf(&pe, p)
			} else {
				proc = &finding.Process{UUID: x.Proc, ExecutablePath: escape.String(x.Exe)}
			}
		}
	}
	at := time.Unix(0, w.End).UTC()
	start := time.Unix(0, w.Start).UTC()
	f := &finding.Finding{
		SchemaVersion: finding.SchemaVersion, ID: finding.ID(w.Workload, d.FindingType, key),
		AccountID: e.cfg.AccountID, Region: e.cfg.Region, Partition: "aws",
		Type: d.FindingType, Severity: sev,
		Title: finding.Safe(fmt.Sprintf("Unusual %s in %s", what, w.Workload), 256),
		Description: finding.Safe(fmt.Sprintf("The %s detector scored the window %s-%s of %s at %.2f (threshold %.2f); the baseline %s. "+
			"Evidence: %s; expected: %s.", d.Detector, start.Format(time.RFC3339), at.Format(time.RFC3339), w.Instance, d.Score, d.Threshold,
			map[bool]string{true: "has converged", false: "has not converged yet, so severity is lowered"}[d.Converged],
			finding.FirstNonEmpty(evid.Observed, evid.Feature), finding.FirstNonEmpty(evid.Expected, "nothing similar was learned")), 4096),
		CreatedAt: at, UpdatedAt: at,
		Resource: finding.ResourceFromEvent(ev),
		Service: finding.Service{
			ServiceName: "vigil", FeatureName: "RuntimeMonitoring", EventFirstSeen: start, EventLastSeen: at, Count: 1,
			RuntimeDetails: finding.RuntimeDetails{Process: proc},
			Detection:      finding.Detection{Source: "anomaly", RuleID: string(d.Detector), Key: escape.String(key)},
			Evidence:       evid, Workload: w.Workload, Host: ev.Host,
		},
	}
	e.deliver(f, w.End)
}

// baselineKnows reports whether the workload's baseline has learned what ev
// is about as normal (for auto-suppression of rule findings).
func (e *Engine) baselineKnows(ev *trace.Event) bool {
	if e.models == nil {
		return false
	}
	m := modelFor(e.models.Get(), features.WorkloadOf(ev))
	if m == nil {
		return false
	}
	var cat features.Category
	var item string
	switch ev.Kind {
	case trace.KindExec:
		cat, item = features.CatExe, finding.FirstNonEmpty(ev.ExePath, e.env.Proc.Exe)
	case trace.KindConnect:
		if ev.NetFamily == trace.FamilyUnix {
			cat, item = features.CatNetDst, "unix:"+finding.FirstNonEmpty(ev.Path, ev.DstAddr)
		} else {
			cat, item = features.CatNetDst, features.FormatNetDst(ev.DstAddr, ev.DstPort)
		}
	case trace.KindDNS:
		cat, item = features.CatDNS, ev.DNSName
	case trace.KindOpen, trace.KindUnlink, trace.KindChmod, trace.KindChown:
		cat, item = features.CatFileWrite, ev.Path
	case trace.KindRename, trace.KindLink:
		cat, item = features.CatFileWrite, ev.NewPath
	default:
		return false
	}
	p := m.Profile(cat)
	if p == nil || item == "" {
		return false
	}
	known, _ := p.Lookup(item)
	return known
}
