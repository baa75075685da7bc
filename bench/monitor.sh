#!/usr/bin/env bash
# Drift of 10 columns (6 numeric, 4 categorical) over a 1,000,000-row window: cerebro
# (criterion, benches/monitor.rs) and Evidently's DataDriftPreset on the same synthetic data,
# side by side in one run, with the ratio of medians. Evidently needs pandas < 3, which
# conflicts with mlflow's in bench/.venv, so it gets its own venv, bench/.venv-evidently.
# Usage: bench/monitor.sh [ROWS=1000000] [EVIDENTLY_REPEATS=3]
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1000000}
repeats=${2:-3}
venv=bench/.venv-evidently
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q evidently "pandas<3"
fi
[ "$rows" = 1000000 ] || echo "note: the criterion bench always uses 1,000,000 rows"
cargo bench -q --bench monitor -- 'monitor/drift_1m_x10' >/dev/null
ours=$(python3 -c "import json; print(json.load(open('target/criterion/monitor/drift_1m_x10/new/estimates.json'))['median']['point_estimate']/1e6)")
theirs=$("$venv/bin/python" bench/monitor_evidently.py "$rows" "$repeats" | awk '/evidently_median_ms/ {print $2}')
printf '%-44s %12.1f ms\n' "cerebro drift (benches/monitor.rs, median)" "$ours"
printf '%-44s %12.1f ms\n' "Evidently $("$venv/bin/python" -c 'import evidently; print(evidently.__version__)') DataDriftPreset (median of $repeats)" "$theirs"
python3 -c "print('ratio: cerebro is %.0fx faster' % ($theirs / $ours))"
