#!/usr/bin/env bash
# Executes every notebook in notebooks/ headless on data this script makes
# itself, so they never rot: a SYNTHETIC labelled lake with trained models
# and a replay report (vigil demo --synthetic), and its CSV export.
# Debian's python runs them (/usr/bin/python3: jupyter, pandas, matplotlib;
# see scripts/deps.sh). Executed copies land in $OUT (default build/notebooks).
set -euo pipefail

VIGIL=${VIGIL:-./bin/vigil}
OUT=${OUT:-build/notebooks}
PY=/usr/bin/python3

"$PY" -c 'import nbconvert, ipykernel, pandas, matplotlib' || {
	echo "notebooks: Debian's jupyter/pandas/matplotlib are missing; run: make deps" >&2
	exit 1
}
rm -rf "$OUT"
mkdir -p "$OUT/data"
data=$(cd "$OUT/data" && pwd)

echo "notebooks: generating inputs in $data"
"$VIGIL" demo --synthetic --dir "$data" >"$OUT/demo.log"
ln -s synthetic-lake "$data/lake"
"$VIGIL" lake export --lake "$data/lake" --format csv -o "$data/events.csv"

for nb in notebooks/*.ipynb; do
	echo "notebooks: executing $nb"
	VIGIL_NB_DATA="$data" "$PY" -m nbconvert --to notebook --execute \
		--ExecutePreprocessor.timeout=600 --ExecutePreprocessor.kernel_name=python3 \
		--output-dir "$OUT" "$nb"
done
echo "notebooks: all executed; results in $OUT"
