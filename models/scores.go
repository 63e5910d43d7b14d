package models

import (
	"fmt"
	"strings"

	"github.com/vigilsec/vigil/features"
	"github.com/vigilsec/vigil/internal/escape"
)

// Detector names one detector of a workload model.
type Detector string

// Detectors. Novelty detectors are "novelty." plus a features.Category name.
const (
	DetRate         Detector = "rate"
	DetMultivariate Detector = "multivariate"
	DetSequence     Detector = "sequence"
)

// NoveltyDetector is the detector for a category's profile.
func NoveltyDetector(c features.Category) Detector {
	if c < features.NumCategories {
		return noveltyDetectors[c] // scoring names one per category per window
	}
	return Detector("novelty." + c.String())
}

var noveltyDetectors = func() (out [features.NumCategories]Detector) {
	for c := range out {
		out[c] = Detector("novelty." + features.Category(c).String())
	}
	return out
}()

// numDetectors is len(Detectors()).
const numDetectors = int(features.NumCategories) + 3

// Detectors lists every detector in the order Scores reports them.
func Detectors() []Detector {
	var out []Detector
	for c := features.Category(0); c < features.NumCategories; c++ {
		out = append(out, NoveltyDetector(c))
	}
	return append(out, DetRate, DetMultivariate, DetSequence)
}

// GuardDuty-style finding types the scorer can raise from each detector.
const (
	FindingUnexpectedProcess            = "Anomaly:Runtime/UnexpectedProcess"
	FindingUnexpectedFileWrite          = "Anomaly:Runtime/UnexpectedFileWrite"
	FindingUnexpectedFileAccess         = "Anomaly:Runtime/UnexpectedFileAccess"
	FindingUnexpectedNetworkDestination = "Anomaly:Runtime/UnexpectedNetworkDestination"
	FindingUnexpectedListeningPort      = "Anomaly:Runtime/UnexpectedListeningPort"
	FindingAbnormalActivityRate         = "Anomaly:Runtime/AbnormalActivityRate"
	FindingAnomalousSyscallSequence     = "Anomaly:Runtime/AnomalousSyscallSequence"
)

// FindingType maps a detector to the finding type it supports.
func (d Detector) FindingType() string {
	nd := &noveltyDetectors
	switch d {
	case nd[features.CatExe], nd[features.CatExecPair]:
		return FindingUnexpectedProcess
	case nd[features.CatFileWrite]:
		return FindingUnexpectedFileWrite
	case nd[features.CatFileRead]:
		return FindingUnexpectedFileAccess
	case nd[features.CatNetDst], nd[features.CatDNS]:
		return FindingUnexpectedNetworkDestination
	case nd[features.CatListen]:
		return FindingUnexpectedListeningPort
	case nd[features.CatSyscall], DetSequence:
		return FindingAnomalousSyscallSequence
	default:
		return FindingAbnormalActivityRate
	}
}

// Scores is one window's result from every detector of a workload model.
type Scores struct {
	Key features.Key `json:"key"`
	// Detectors in Detectors() order; a detector the model lacks (no
	// sequence-mode data) is absent.
	Detectors []DetectorScore `json:"detectors"`
}

// Anomalous returns the detectors whose score reached their threshold.
func (s Scores) Anomalous() []DetectorScore {
	var out []DetectorScore
	for _, d := range s.Detectors {
		if d.Anomalous {
			out = append(out, d)
		}
	}
	return out
}

// Get returns the score of one detector.
func (s Scores) Get(d Detector) (DetectorScore, bool) {
	for _, x := range s.Detectors {
		if x.Detector == d {
			return x, true
		}
	}
	return DetectorScore{}, false
}

// DetectorScore is one detector's verdict on a window.
type DetectorScore struct {
	Detector    Detector `json:"detector"`
	FindingType string   `json:"finding_type"`
	// Score is -log10 of the baseline probability of a window at least this
	// unusual; Threshold is the calibrated score at which to report.
	Score     float64 `json:"score"`
	Threshold float64 `json:"threshold"`
	Anomalous bool    `json:"anomalous"`
	// Converged says whether the baseline behind this detector has
	// converged; a scorer may lower severity when it has not.
	Converged bool `json:"converged"`
	// Evidence lists what deviated, most significant first (at most
	// MaxEvidence entries).
	Evidence []Evidence `json:"evidence,omitempty"`
}

// MaxEvidence bounds DetectorScore.Evidence.
const MaxEvidence = 10

// Evidence is one deviation, phrased so a finding can say what happened and
// what the baseline expected. String fields holding observed values are
// attacker-controlled: escape before display.
type Evidence struct {
	// Novelty: the item, the nearest learned pattern (empty if none shares a
	// prefix), and the probability of seeing something new per window.
	Category string  `json:"category,omitempty"`
	Item     string  `json:"item,omitempty"`
	Nearest  string  `json:"nearest,omitempty"`
	PNew     float64 `json:"p_new,omitempty"`
	// Rate/multivariate: the feature, its observed value and the baseline's
	// expectation with the upper bound of normal at the threshold.
	Feature  string  `json:"feature,omitempty"`
	Observed float64 `json:"observed,omitempty"`
	Expected float64 `json:"expected,omitempty"`
	Upper    float64 `json:"upper,omitempty"`
	// Sequence: the n-gram (syscall numbers, oldest first) and its
	// probability under the model.
	Syscalls []int32 `json:"syscalls,omitempty"`
	Prob     float64 `json:"prob,omitempty"`
	// Who and when: the first process that showed it.
	Proc  string `json:"proc,omitempty"`
	Exe   string `json:"exe,omitempty"`
	Time  int64  `json:"time,omitempty"`
	Count int64  `json:"count,omitempty"`
	// Surprise is this deviation's share of the score.
	Surprise float64 `json:"surprise"`
}

// String phrases the evidence for a person; observed values are escaped.
func (e Evidence) String() string {
	var b strings.Builder
	switch {
	case e.Item != "":
		fmt.Fprintf(&b, "new %s %q", e.Category, escape.String(e.Item))
		if e.Nearest != "" {
			fmt.Fprintf(&b, " (closest learned: %q)", escape.String(e.Nearest))
		}
		fmt.Fprintf(&b, "; baseline expects %.2g new per window", e.PNew)
	case e.Feature != "":
		fmt.Fprintf(&b, "%s %.0f per window (baseline %.0f", e.Feature, e.Observed, e.Expected)
		if e.Upper > 0 {
			fmt.Fprintf(&b, ", normal up to %.0f", e.Upper)
		}
		b.WriteString(")")
	case len(e.Syscalls) > 0:
		fmt.Fprintf(&b, "syscalls %v (probability %.2g under the baseline, %d times)", e.Syscalls, e.Prob, e.Count)
	}
	if e.Exe != "" {
		fmt.Fprintf(&b, " by %s", escape.String(e.Exe))
	}
	return b.String()
}
