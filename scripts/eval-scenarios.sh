#!/usr/bin/env bash
# Detection quality on the scenario dataset, with a time split: baselines
# learn from benign runs captured first, then every attack and anomaly
# scenario and fresh benign runs (another seed) are captured, and replay
# scores only what came after training: per-detector window ROC AUC, per-run
# detection, false findings per workload-hour; and, on the syscall traces,
# the n-gram model against STIDE per process (the ADFA-LD protocol).
#
#   make eval-scenarios                      # about 65 min on 2 cores
#   TRAIN=10m RUNS=2 TEST=4m ATTACK=1m make eval-scenarios   # a quick look
#
# Needs root, BPF and Docker (like `make demo`). Everything goes to $OUT.
set -euo pipefail

OUT=${OUT:-vigil-eval}
TRAIN=${TRAIN:-45m}   # each benign workload, for the baselines, in all
RUNS=${RUNS:-5}       # ... split into this many runs, each with fresh containers
TEST=${TEST:-15m}     # each benign workload again, later, for false alarms
ATTACK=${ATTACK:-2m}  # each attack and anomaly scenario
PARALLEL=${PARALLEL:-4}
# SEED shifts every run's seed: another SEED is another capture of the same
# scenarios with other timing, data and choices.
SEED=${SEED:-0}
# Sequence mode records every syscall of the scenario containers too, so the
# syscall novelty and n-gram detectors are measured with the rest.
SEQUENCE=${SEQUENCE:-1}
VIGIL=${VIGIL:-bin/vigil}

benign=$("$VIGIL" scenario list | awk '$2 == "benign" {print $1}')
hostile=$("$VIGIL" scenario list | awk '$2 == "attack" || $2 == "anomaly" {print $1}')
lake=$OUT/lake
# SPLIT=T resumes after the training captures: $OUT/lake already holds them,
# up to time T (e.g. when a test phase has to be run again).
SPLIT=${SPLIT:-}
if [ -z "$SPLIT" ]; then
	rm -rf "$OUT"
fi
mkdir -p "$OUT"
seq=()
[ "$SEQUENCE" = 1 ] && seq=(--sequence)
log() { printf '\n[%s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }

# seconds turns a Go-style duration (45m, 1h30m, 90s) into seconds.
seconds() {
	local d=$1 n=0
	while [[ $d =~ ^([0-9]+)([hms])(.*)$ ]]; do
		case ${BASH_REMATCH[2]} in
		h) n=$((n + BASH_REMATCH[1] * 3600)) ;;
		m) n=$((n + BASH_REMATCH[1] * 60)) ;;
		s) n=$((n + BASH_REMATCH[1])) ;;
		esac
		d=${BASH_REMATCH[3]}
	done
	[ -z "$d" ] && [ "$n" -gt 0 ] || { echo "eval-scenarios: bad duration '$1'" >&2; exit 2; }
	echo "$n"
}

if [ -z "$SPLIT" ]; then
	# A service's baseline spans many tasks: deployments and scaling start
	# containers all the time, and a model that saw one start per workload
	# would take every start-up for an anomaly. The training time is split
	# into RUNS runs, each starting fresh containers with its own seed.
	per=$(( $(seconds "$TRAIN") / RUNS ))s
	log "1/5 training captures: $(echo $benign), $RUNS runs of $per each"
	for ((run = 1; run <= RUNS; run++)); do
		# shellcheck disable=SC2086
		"$VIGIL" scenario run "${seq[@]}" --out "$lake" --seed $((SEED * 1000 + 100 + run)) --duration "$per" --parallel "$PARALLEL" $benign
	done
	# The split sits on a window boundary after the last training event: a
	# bundle's training range ends where its last window ends, and replay
	# evaluates from there.
	sleep $((60 - $(date +%s) % 60))
	split=$(date -u +%Y-%m-%dT%H:%M:00Z)
else
	split=$SPLIT
fi
echo "time split: $split"

log "2/5 test captures: attacks and anomalies ($ATTACK each) beside fresh benign runs ($TEST each)"
# Two capture processes at once: attack runs are short and many, benign
# test runs long and few.
# shellcheck disable=SC2086
"$VIGIL" scenario run "${seq[@]}" --out "$lake" --seed $((SEED * 1000 + 2)) --duration "$TEST" --parallel "$PARALLEL" $benign &
bg=$!
# shellcheck disable=SC2086
"$VIGIL" scenario run "${seq[@]}" --out "$lake" --seed $((SEED * 1000 + 3)) --duration "$ATTACK" --parallel "$PARALLEL" $hostile
wait "$bg"

log "3/5 training on everything before $split"
"$VIGIL" train --lake "$lake" --out "$OUT/models" --to "$split"
"$VIGIL" models ls "$OUT/models"

log "4/5 replaying everything after $split against the labels"
"$VIGIL" replay --lake "$lake" --models "$OUT/models" --from "$split" --labels --report "$OUT/report"

log "5/5 syscall sequences, ADFA-LD protocol: n-gram model vs STIDE, one trace per process"
if [ "$SEQUENCE" = 1 ]; then
	"$VIGIL" dataset eval-sequences --lake "$lake" --split "$split" | tee "$OUT/sequences.txt"
else
	echo "SEQUENCE=0: no syscall traces captured"
fi
