#!/usr/bin/env bash
# Instructions training executes per event on BenchmarkTrainMix's trace,
# counted by valgrind's cachegrind: unlike a timing, no other load on the
# machine changes it. Two runs of one test binary, one that only makes the
# trace and one that also trains; the difference is training's. GOGC=off
# keeps the collector's timing, which does vary, out of the count.
#
#   bash scripts/train-instructions.sh        # about 1 min
set -euo pipefail
command -v valgrind >/dev/null || { echo "valgrind not found (apt-get install valgrind)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/models.test" ./models
count() {
	VIGIL_TRAIN_ONCE=$1 GOGC=off valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file="$tmp/cg.$1" \
		"$tmp/models.test" -test.run '^TestTrainMixOnce$' >/dev/null 2>&1
	cg_annotate "$tmp/cg.$1" | awk '/PROGRAM TOTALS/ && !n++ {gsub(",", "", $1); print $1}'
}
gen=$(count generate)
all=$(count train)
echo "training: $(( (all - gen) / 400000 )) instructions per event ($(( all - gen )) for 400000 events)"
