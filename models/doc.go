// Package models learns, per workload, what normal activity looks like, and
// scores feature windows (package features) against it.
//
// # Detectors
//
// Each workload's Model holds independent detectors; every one turns a
// window into a surprise score in decibans-like units, -log10 of how likely
// a window at least this unusual is under the baseline, so scores from
// different detectors read the same way:
//
//   - novelty.<category>: the categorical items of a window (executables,
//     parent->child executable pairs, files read and written, network
//     destinations, listening ports, DNS names, syscalls) against a Profile.
//     Profiles learn wildcards: a path position that keeps showing new
//     high-entropy values (pids, temp names, hashes) collapses into a
//     pattern such as /proc/*/stat. How likely something new is comes from
//     Good-Turing on window incidence (items seen in exactly one window per
//     window trained), which is also the profile's convergence measure.
//     The count of novel items in a window is scored against a Poisson with
//     that rate, or with its 90% upper confidence bound when that is larger:
//     a profile of a few windows has not shown that new items are rare.
//   - rate: per-feature robust z-scores of log counts (median/MAD, by hour of
//     day when there is enough data), upper tail, Bonferroni-combined.
//   - multivariate: Mahalanobis distance of the log-count vector under a
//     Ledoit-Wolf shrinkage covariance (gonum), chi-squared tail.
//   - sequence: a Witten-Bell (or, with TrainConfig.Smoothing, interpolated
//     Kneser-Ney) smoothed syscall n-gram model over sequence-mode windows,
//     mixed with a small weight of each syscall's own frequency (so a known
//     syscall in a new order is never scored as stranger than a syscall the
//     workload never made); the score is the mean surprise of the window's
//     least likely syscalls. STIDE (unseen n-gram rate) is kept beside it as
//     the baseline it must beat; see SequenceModel and models/eval.
//
// # Calibration
//
// Every detector's threshold targets a false-alarm budget, by default one
// finding per workload per day, split across detectors and the workload's
// windows per day. The threshold is the larger of the budget's nominal
// surprise and an extreme-value (exponential tail) extrapolation of the
// scores of held-out benign windows the model never trained on. Held-out
// windows come from containers the model did train on; for the sequence
// detector, whose counts can be taken back out, a sample of containers is
// also scored as if the model had never seen them (TrainConfig.LeaveOut),
// so the threshold allows for how a new container, with its own start-up
// and timing, looks.
//
// # Using a bundle online
//
//	b, err := models.Load(ctx, "s3://bucket/models")   // or a local dir
//	m := b.Workload(features.WorkloadOf(ev))            // nil: no baseline
//	s := m.Score(window)                                // models.Scores
//	for _, d := range s.Anomalous() {
//		// d.FindingType, d.Score, d.Threshold, d.Evidence...
//	}
//
// A loaded Model is read-only: Score is safe for concurrent use. Evidence
// carries raw observed values for machine consumers and String() for people
// (escaped).
//
// Load reads and verifies everything (index, per-workload files, checksums,
// format and feature schema) before returning; a bad file fails the whole
// load with an error naming it, so an agent never runs half a bundle.
package models
