package eval

import (
	"bufio"
	"fmt"
	"html/template"
	"math"
	"os"
	"time"

	"github.com/vigilsec/vigil/scorer/finding"
)

// maxFindingRows bounds the findings listed in the HTML page (all are in
// the JSON lines files).
const maxFindingRows = 300

type htmlVariant struct {
	*Variant
	Figures  []Figure
	Findings []*finding.Finding
	More     int
}

type htmlCompareRow struct {
	Metric string
	Values []string
}

// writeHTML renders index.html. Every string that came from the traced
// system (workloads, container ids, paths, titles) goes through
// html/template's contextual escaping.
func (r *Report) writeHTML(path string, figs map[string][]Figure) error {
	data := struct {
		*Report
		Vs       []htmlVariant
		Compare  []htmlCompareRow
		CompareF []Figure
		Names    []string
	}{Report: r, CompareF: figs[""]}
	for _, v := range r.Variants {
		hv := htmlVariant{Variant: v, Figures: figs[v.Name]}
		for _, rec := range v.res.Records {
			if rec.Update {
				continue
			}
			if len(hv.Findings) == maxFindingRows {
				hv.More++
				continue
			}
			hv.Findings = append(hv.Findings, rec.Finding)
		}
		data.Vs = append(data.Vs, hv)
		data.Names = append(data.Names, v.Name)
	}
	if len(r.Variants) > 1 {
		data.Compare = compareRows(r.Variants)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	bw := bufio.NewWriter(f)
	if err := page.Execute(bw, data); err != nil {
		return fmt.Errorf("rendering %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return f.Close()
}

func compareRows(vs []*Variant) []htmlCompareRow {
	var rows []htmlCompareRow
	add := func(name string, val func(*Variant) string) {
		row := htmlCompareRow{Metric: name}
		for _, v := range vs {
			row.Values = append(row.Values, val(v))
		}
		rows = append(rows, row)
	}
	mode := func(v *Variant, m string) *ModeMetrics {
		if v.Evaluation == nil {
			return nil
		}
		for i := range v.Evaluation.Modes {
			if v.Evaluation.Modes[i].Mode == m {
				return &v.Evaluation.Modes[i]
			}
		}
		return nil
	}
	add("models", func(v *Variant) string { return v.Models })
	add("new findings", func(v *Variant) string { return fmt.Sprint(v.Replay.NewFindings) })
	add("findings on simulated remote hosts (not judged)", func(v *Variant) string {
		if v.Evaluation != nil {
			return fmt.Sprint(v.Evaluation.Simulated.Findings)
		}
		return "–"
	})
	for _, m := range []string{"baselines only", "both"} {
		add(m+": runs detected", func(v *Variant) string {
			if x := mode(v, m); x != nil {
				return fmt.Sprintf("%d / %d", x.Detected, x.Runs)
			}
			return "–"
		})
		add(m+": false findings per workload-hour", func(v *Variant) string {
			if x := mode(v, m); x != nil {
				return f3(x.FalsePerHour)
			}
			return "–"
		})
		add(m+": median latency", func(v *Variant) string {
			if x := mode(v, m); x != nil && x.Detected > 0 {
				return dur(x.MedianLatency)
			}
			return "–"
		})
	}
	names := map[string]bool{}
	var order []string
	for _, v := range vs {
		if v.Evaluation == nil {
			continue
		}
		for _, c := range v.Evaluation.Curves {
			if !names[c.Name] {
				names[c.Name] = true
				order = append(order, c.Name)
			}
		}
	}
	for _, n := range order {
		add("ROC AUC "+n, func(v *Variant) string {
			if v.Evaluation != nil {
				for _, c := range v.Evaluation.Curves {
					if c.Name == n {
						return f3(c.ROCAUC)
					}
				}
			}
			return "–"
		})
	}
	return rows
}

func f3(f Float) string {
	if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		return "–"
	}
	return fmt.Sprintf("%.3f", float64(f))
}

func pct(f Float) string {
	if math.IsNaN(float64(f)) {
		return "–"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(f))
}

func dur(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"f3": f3, "pct": pct, "dur": dur,
	"ts": func(t time.Time) string {
		if t.IsZero() {
			return "–"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"rate": func(x float64) string { return fmt.Sprintf("%.0f", x) },
	"sev":  finding.SeverityLabel,
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Vigil replay report</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1b1f24;background:#f6f7f9}
main{max-width:1200px;margin:0 auto;padding:24px}
h1{margin:0 0 4px;font-size:24px} h2{margin-top:32px;border-bottom:1px solid #d0d7de;padding-bottom:4px} h3{margin-top:24px}
table{border-collapse:collapse;background:#fff;margin:8px 0 16px;font-size:13px}
th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top;overflow-wrap:anywhere} th{background:#eef1f4}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.banner{padding:10px 14px;border-radius:6px;margin:12px 0;font-weight:600}
.warn{background:#fff1c2;border:1px solid #d4a72c} .bad{background:#ffe1e1;border:1px solid #cf222e} .ok{background:#e6f4ea;border:1px solid #2da44e}
.missed{color:#cf222e;font-weight:600} .hit{color:#1a7f37;font-weight:600}
figure{display:inline-block;margin:8px;background:#fff;border:1px solid #d0d7de;padding:8px;vertical-align:top}
figure img{max-width:560px;display:block} figcaption{font-size:12px;color:#57606a;max-width:560px}
code{font-size:12px} .muted{color:#57606a}
</style></head><body><main>
<h1>Vigil replay report</h1>
<div class="muted">Generated {{ts .Generated}} from <code>{{.Lake}}</code>{{if .Labels}} with {{.Labels}} labelled runs{{else}}, without labels{{end}}.</div>
{{if .Synthetic}}<div class="banner warn">SYNTHETIC DATA: these traces and labels were generated by a simulator (features/synth), not recorded from real containers. The numbers show the pipeline works, not how well Vigil detects real attacks.</div>{{end}}
<details><summary>How these numbers are computed</summary>
<ul>
<li>Recorded events are fed, in time order, through the same scorer engine the agent runs (rules, feature windows, baselines, suppression, aggregation), one engine per host as one agent runs per host, on the events' own clock: the engine is advanced every second of event time as the agent's timer does.</li>
<li>An attack run is <b>detected</b> when a finding (first report or update) concerns its attacking container (or workload) and overlaps the labelled attack interval, extended by the grace period. <b>Latency</b> is from the labelled attack start to the event time at which the engine emitted the first such finding (window-based findings are emitted when their window closes).</li>
<li><b>Precision</b> per finding type counts first reports only; <b>recall</b> per type is over runs whose label expects the type.</li>
<li><b>False findings</b> are first reports matching no attack run; <b>benign hours</b> are a workload's one-minute spans in which at least one of its containers had no attack, so false findings per workload-hour do not grow with replicas.</li>
<li>Scenario runs put the hosts a task talks to (DNS, the attacker's listener, a mining pool) in a container outside the task, labelled as simulation infrastructure. Its windows and findings are neither benign nor attack: they are left out of every metric and counted on their own.</li>
<li><b>ROC/PR</b> are over every feature window of a workload with a baseline; a window is positive when it belongs to the attacking container and overlaps the attack. <i>any</i> is the window's largest score-to-threshold ratio; the operating point at threshold uses each window's own calibrated threshold. PR AUC is average precision.</li>
</ul></details>
{{if .Compare}}
<h2>Comparison</h2>
<table><tr><th>metric</th>{{range .Names}}<th>{{.}}</th>{{end}}</tr>
{{range .Compare}}<tr><td>{{.Metric}}</td>{{range .Values}}<td class="n">{{.}}</td>{{end}}</tr>{{end}}
</table>
{{range .CompareF}}<figure><img src="{{.PNG}}" alt="{{.Title}}"><figcaption>{{.Title}} (<a href="{{.SVG}}">SVG</a>)</figcaption></figure>{{end}}
{{end}}
{{range .Vs}}
<h2>{{.Name}}{{if .Models}} <span class="muted">— models <code>{{.Models}}</code></span>{{end}}</h2>
<div class="banner {{if .Discipline.Leakage}}bad{{else}}ok{{end}}">Train/test: {{.Discipline.Statement}}</div>
<table>
<tr><th>events replayed</th><td class="n">{{.Replay.Events}}</td><th>event time</th><td>{{ts .Replay.From}} – {{ts .Replay.To}}</td></tr>
<tr><th>replay speed</th><td class="n">{{rate .Replay.EventsPerSecond}} events/s</td><th>rules enabled</th><td class="n">{{.Rules}}</td></tr>
<tr><th>new findings</th><td class="n">{{.Replay.NewFindings}} (+{{.Replay.Updates}} updates)</td><th>windows scored / learning</th><td class="n">{{.Replay.Engine.WindowsScored}} / {{.Replay.Engine.WindowsLearning}} ({{.Replay.Engine.ActivityPartial}} activity anomalies on a container's partial first window held back)</td></tr>
<tr><th>late events</th><td class="n">{{.Replay.Engine.LateEvents}}</td><th>suppressed / rate-limited</th><td class="n">{{.Replay.Engine.Suppressed}} / {{.Replay.Engine.RateLimited}}</td></tr>
</table>
<p class="muted">Files: {{range $k, $f := .Files}}<a href="{{$f}}">{{$f}}</a> {{end}}<a href="report.json">report.json</a></p>
{{with .Evaluation}}
<h3>Rules only, baselines only, both</h3>
<table><tr><th>detectors</th><th>runs detected</th><th>recall</th><th>precision</th><th>false findings</th><th>per workload-hour</th><th>median latency</th><th>max latency</th></tr>
{{range .Modes}}<tr><td>{{.Mode}}</td><td class="n">{{.Detected}} / {{.Runs}}</td><td class="n">{{pct .Recall}}</td><td class="n">{{pct .Precision}}</td><td class="n">{{.False}}</td><td class="n">{{f3 .FalsePerHour}}</td><td class="n">{{if .Detected}}{{dur .MedianLatency}}{{else}}–{{end}}</td><td class="n">{{if .Detected}}{{dur .MaxLatency}}{{else}}–{{end}}</td></tr>{{end}}
</table>
<p class="muted">Rules only and baselines only are the run's findings filtered by source; aggregation and rate limits work per (workload, finding type) and the two sources share no type, so each is what that detector set alone reports. Findings match a run when they concern its attacking container and overlap the attack (plus {{dur .Grace}} grace).{{if .OutOfRange}} {{len .OutOfRange}} labelled runs lie outside the replayed time and were not judged.{{end}}</p>
<h3>Attack runs ({{.Detected}} of {{len .Runs}} detected)</h3>
<table><tr><th>run</th><th>scenario</th><th>attack</th><th>start</th><th>detected</th><th>latency</th><th>by</th><th>finding types</th><th>expected but missing</th></tr>
{{range .Runs}}<tr><td><code>{{.RunID}}</code></td><td>{{.Scenario}}</td><td>{{.AttackID}}</td><td>{{ts .Start}}</td>
<td>{{if .Detected}}<span class="hit">detected</span>{{else}}<span class="missed">missed</span>{{end}}</td>
<td class="n">{{if .Detected}}{{dur .Latency}}{{else}}–{{end}}</td>
<td>{{range .Detectors}}{{.}}<br>{{end}}{{range .Rules}}<code>{{.}}</code> {{end}}</td><td>{{range .Types}}{{.}}<br>{{end}}</td><td>{{range .Missing}}{{.}}<br>{{end}}</td></tr>{{end}}
</table>
<h3>Precision and recall by finding type</h3>
<table><tr><th>finding type</th><th>reported</th><th>about an attack</th><th>precision</th><th>runs expecting</th><th>found</th><th>recall</th></tr>
{{range .ByType}}<tr><td>{{.Type}}</td><td class="n">{{.Emitted}}</td><td class="n">{{.TruePositives}}</td><td class="n">{{pct .Precision}}</td><td class="n">{{.ExpectedRuns}}</td><td class="n">{{.FoundRuns}}</td><td class="n">{{pct .Recall}}</td></tr>{{end}}
</table>
<h3>False findings on benign traces</h3>
<table><tr><th>workload</th><th>benign hours</th><th>false findings</th><th>per hour</th></tr>
{{range .False}}<tr><td>{{.Workload}}</td><td class="n">{{printf "%.2f" .Hours}}</td><td class="n">{{.False}}</td><td class="n">{{f3 .PerHour}}</td></tr>{{end}}
</table>
{{with .Simulated}}{{if .Containers}}<p>Findings on simulated remote hosts (not judged): <b>{{.Findings}}</b> (+{{.Updates}} updates) in {{.Windows}} windows of the {{.Containers}} containers labelled as simulation infrastructure{{if .ByDetector}}; by detector: {{range $k, $n := .ByDetector}}{{$k}} {{$n}} {{end}}{{end}}.</p>{{end}}{{end}}
<h3>Anomaly scores: window-level ROC and PR</h3>
<p class="muted">{{.Windows}} windows of modelled workloads, {{.PositiveWindows}} overlapping an attack of their container; {{.Unmodelled}} windows of workloads without a baseline are left out{{if .Simulated.Windows}}, and so are {{.Simulated.Windows}} windows of simulated remote hosts{{end}}.</p>
<table><tr><th>score</th><th>positives</th><th>negatives</th><th>ROC AUC</th><th>PR AUC (AP)</th><th>threshold (median)</th><th>TPR at threshold</th><th>FPR at threshold</th></tr>
{{range .Curves}}<tr><td>{{.Name}}</td><td class="n">{{.Positives}}</td><td class="n">{{.Negatives}}</td><td class="n">{{f3 .ROCAUC}}</td><td class="n">{{f3 .AP}}</td><td class="n">{{f3 .Threshold}}</td><td class="n">{{pct .ThresholdTPR}}</td><td class="n">{{pct .ThresholdFPR}}</td></tr>{{end}}
</table>
{{end}}
{{range .Figures}}<figure><img src="{{.PNG}}" alt="{{.Title}}"><figcaption><b>{{.Title}}</b> — {{.Caption}} (<a href="{{.SVG}}">SVG</a>)</figcaption></figure>{{end}}
<h3>Findings</h3>
<table><tr><th>time</th><th>severity</th><th>type</th><th>workload</th><th>title</th><th>detector</th></tr>
{{range .Findings}}<tr><td>{{ts .CreatedAt}}</td><td>{{sev .Severity}} ({{.Severity}})</td><td>{{.Type}}</td><td>{{.Service.Workload}}</td><td>{{.Title}}</td><td><code>{{.Service.Detection.RuleID}}</code></td></tr>{{end}}
</table>
{{if .More}}<p class="muted">{{.More}} more in the findings files.</p>{{end}}
{{end}}
</main></body></html>
`))
