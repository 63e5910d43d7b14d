package eval

import (
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"github.com/vigilsec/vigil/internal/escape"
)

// Figure is one plot written as PNG (shown) and SVG (linked).
type Figure struct {
	Title   string
	Caption string
	PNG     string
	SVG     string
}

// minRatio is the floor of timeline ratios (log axis).
const minRatio = 0.01

// maxTimelines bounds the score timelines drawn per variant.
const maxTimelines = 6

func (r *Report) writePlots(dir string) (map[string][]Figure, error) {
	out := map[string][]Figure{}
	save := func(p *plot.Plot, name string, w, h vg.Length) (Figure, error) {
		f := Figure{PNG: name + ".png", SVG: name + ".svg"}
		for _, file := range []string{f.PNG, f.SVG} {
			if err := p.Save(w, h, filepath.Join(dir, file)); err != nil {
				return f, fmt.Errorf("%s: %w", file, err)
			}
		}
		return f, nil
	}
	for vi, v := range r.Variants {
		prefix := ""
		if len(r.Variants) > 1 {
			prefix = safeName(v.Name) + "-"
		}
		ev := v.Evaluation
		if ev == nil {
			continue
		}
		var figs []Figure
		if len(ev.Curves) > 0 {
			roc, pr := curvePlots(ev.Curves, v.Name)
			f, err := save(roc, prefix+"roc", 6*vg.Inch, 5*vg.Inch)
			if err != nil {
				return nil, err
			}
			f.Title, f.Caption = "ROC curves", "Window-level ROC per anomaly detector (positives: windows of the attacking container overlapping the attack)."
			figs = append(figs, f)
			if f, err = save(pr, prefix+"pr", 6*vg.Inch, 5*vg.Inch); err != nil {
				return nil, err
			}
			f.Title, f.Caption = "Precision-recall curves", "Window-level precision-recall per anomaly detector."
			figs = append(figs, f)
		}
		if len(ev.False) > 0 {
			p, err := falsePlot(ev.False)
			if err != nil {
				return nil, err
			}
			f, err := save(p, prefix+"false-alarms", 7*vg.Inch, 4*vg.Inch)
			if err != nil {
				return nil, err
			}
			f.Title, f.Caption = "False findings per workload-hour", "First reports matching no attack, over benign hours of each workload."
			figs = append(figs, f)
		}
		for i, inst := range attackedInstances(v) {
			if i == maxTimelines {
				break
			}
			p := timelinePlot(v, inst)
			if p == nil {
				continue
			}
			f, err := save(p, fmt.Sprintf("%stimeline-%d", prefix, i), 8*vg.Inch, 3*vg.Inch)
			if err != nil {
				return nil, err
			}
			f.Title = "Score timeline: " + escape.String(shortID(inst))
			f.Caption = "Largest score/threshold ratio over the instance's windows (1 = calibrated threshold); shaded: labelled attacks."
			figs = append(figs, f)
		}
		out[v.Name] = figs
		_ = vi
	}
	if len(r.Variants) > 1 {
		var any []Curve
		var names []string
		for _, v := range r.Variants {
			if v.Evaluation == nil {
				continue
			}
			for _, c := range v.Evaluation.Curves {
				if c.Name == "any" {
					c.Name = v.Name
					any = append(any, c)
					names = append(names, v.Name)
				}
			}
		}
		if len(any) > 1 {
			roc, pr := curvePlots(any, "compare")
			roc.Title.Text, pr.Title.Text = "ROC, any detector: "+escape.String(names[0])+" vs "+escape.String(names[1]), "Precision-recall, any detector"
			f1, err := save(roc, "compare-roc", 6*vg.Inch, 5*vg.Inch)
			if err != nil {
				return nil, err
			}
			f1.Title = "Comparison: ROC"
			f2, err := save(pr, "compare-pr", 6*vg.Inch, 5*vg.Inch)
			if err != nil {
				return nil, err
			}
			f2.Title = "Comparison: precision-recall"
			out[""] = []Figure{f1, f2}
		}
	}
	return out, nil
}

// curvePlots draws the ROC and PR curves of every curve with both classes.
func curvePlots(curves []Curve, title string) (*plot.Plot, *plot.Plot) {
	roc, pr := plot.New(), plot.New()
	roc.Title.Text = "ROC: " + escape.String(title)
	roc.X.Label.Text, roc.Y.Label.Text = "false positive rate", "true positive rate"
	pr.Title.Text = "Precision-recall: " + escape.String(title)
	pr.X.Label.Text, pr.Y.Label.Text = "recall", "precision"
	for _, p := range []*plot.Plot{roc, pr} {
		p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1.02
		p.Legend.Top, p.Legend.Left = false, false
		p.Legend.TextStyle.Font.Size = vg.Points(8)
		p.Add(plotter.NewGrid())
	}
	diag, _ := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 1}})
	diag.Color, diag.Dashes = color.Gray{Y: 160}, []vg.Length{vg.Points(3), vg.Points(3)}
	roc.Add(diag)
	pr.Legend.Top = true
	i := 0
	for _, c := range curves {
		if math.IsNaN(float64(c.ROCAUC)) {
			continue
		}
		var xy plotter.XYs
		for _, p := range c.ROC {
			xy = append(xy, plotter.XY{X: float64(p.FPR), Y: float64(p.TPR)})
		}
		l, err := plotter.NewLine(xy)
		if err != nil {
			continue
		}
		l.Color = plotutil.Color(i)
		l.Width = vg.Points(1.2)
		if c.Name == "any" {
			l.Width = vg.Points(2.2)
		}
		roc.Add(l)
		roc.Legend.Add(fmt.Sprintf("%s (AUC %.3f)", escape.String(c.Name), float64(c.ROCAUC)), l)
		var pxy plotter.XYs
		for _, p := range c.PR {
			pxy = append(pxy, plotter.XY{X: float64(p.Recall), Y: float64(p.Precision)})
		}
		if pl, err := plotter.NewLine(pxy); err == nil {
			pl.Color, pl.Width = l.Color, l.Width
			pr.Add(pl)
			pr.Legend.Add(fmt.Sprintf("%s (AP %.3f)", escape.String(c.Name), float64(c.AP)), pl)
		}
		i++
	}
	return roc, pr
}

func falsePlot(fs []WorkloadFalse) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "False findings per workload-hour (benign traces)"
	p.Y.Label.Text = "false findings / hour"
	var vals plotter.Values
	var names []string
	for _, f := range fs {
		v := float64(f.PerHour)
		if math.IsNaN(v) {
			v = 0
		}
		vals = append(vals, v)
		names = append(names, fmt.Sprintf("%s (%d in %.1fh)", escape.String(f.Workload), f.False, f.Hours))
	}
	bars, err := plotter.NewBarChart(vals, vg.Points(18))
	if err != nil {
		return nil, err
	}
	bars.Color = plotutil.Color(1)
	p.Add(bars)
	p.NominalX(names...)
	p.X.Tick.Label.Font.Size = vg.Points(7)
	return p, nil
}

// attackedInstances lists the containers of judged runs, in first-attack order.
func attackedInstances(v *Variant) []string {
	var out []string
	for _, r := range v.Evaluation.Runs {
		if r.ContainerID != "" && !slices.Contains(out, r.ContainerID) {
			out = append(out, r.ContainerID)
		}
	}
	return out
}

// timelinePlot draws one instance's windows: the largest score/threshold
// ratio per window, the threshold line, and attacks shaded.
func timelinePlot(v *Variant, inst string) *plot.Plot {
	var xy plotter.XYs
	var t0 int64
	var lo, hi int64
	for i := range v.res.Windows {
		w := &v.res.Windows[i]
		if w.Instance != inst || !w.Modelled {
			continue
		}
		if t0 == 0 {
			t0 = w.Start
			lo = w.Start
		}
		hi = w.End
		best := minRatio
		for d := range w.Scores {
			if s, t := w.Scores[d], w.Thresholds[d]; !math.IsNaN(s) && t > 0 {
				best = max(best, s/t)
			}
		}
		// Each window is a flat step over its span.
		xy = append(xy, plotter.XY{X: float64(w.Start-t0) / float64(time.Minute), Y: best},
			plotter.XY{X: float64(w.End-t0) / float64(time.Minute), Y: best})
	}
	if len(xy) == 0 {
		return nil
	}
	p := plot.New()
	p.Title.Text = "Windows of " + escape.String(shortID(inst))
	p.X.Label.Text = "minutes since " + time.Unix(0, t0).UTC().Format(time.RFC3339)
	p.Y.Label.Text = "max score / threshold (log)"
	p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	ymax := 2.0
	for _, q := range xy {
		ymax = max(ymax, q.Y*1.5)
	}
	for _, r := range v.Evaluation.Runs {
		if r.ContainerID != inst {
			continue
		}
		a := max(r.Start.UnixNano(), lo)
		b := min(r.End.UnixNano(), hi)
		if b < a {
			continue
		}
		x0, x1 := float64(a-t0)/float64(time.Minute), float64(b-t0)/float64(time.Minute)
		if x1-x0 < 0.2 {
			x1 = x0 + 0.2
		}
		poly, err := plotter.NewPolygon(plotter.XYs{{X: x0, Y: minRatio}, {X: x1, Y: minRatio}, {X: x1, Y: ymax}, {X: x0, Y: ymax}})
		if err == nil {
			poly.Color = color.NRGBA{R: 230, G: 60, B: 60, A: 70}
			poly.LineStyle.Width = 0
			p.Add(poly)
		}
	}
	line, err := plotter.NewLine(xy)
	if err != nil {
		return nil
	}
	line.Color, line.Width = plotutil.Color(0), vg.Points(1.5)
	thr, _ := plotter.NewLine(plotter.XYs{{X: xy[0].X, Y: 1}, {X: xy[len(xy)-1].X, Y: 1}})
	thr.Color, thr.Dashes = color.RGBA{R: 200, A: 255}, []vg.Length{vg.Points(4), vg.Points(2)}
	p.Add(plotter.NewGrid(), line, thr)
	p.Y.Min, p.Y.Max = minRatio, ymax
	return p
}

// shortID shortens a 64-hex container id the way docker ps does.
func shortID(s string) string {
	if len(s) == 64 && strings.Trim(s, "0123456789abcdef") == "" {
		return s[:12]
	}
	return s
}
