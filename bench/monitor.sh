#!/usr/bin/env bash
# Drift of 10 columns (6 numeric, 4 categorical) over a 1,000,000-row window against a
# 1,000,000-row baseline: cerebro (criterion, benches/monitor.rs) and Evidently's
# DataDriftPreset on data of the same distributions, side by side in one run, with the ratios of
# medians and the load average next to each figure. cerebro's figures:
#   drift_exact_1m_x10   like for like: baseline built inside the timed loop, exact statistics
#   drift_values_1m_x10  the product: baseline cached per model version, window values exact up
#                        to 10,000 then a KLL sketch
#   drift_1m_x10         the older binned path (window counts on 100 percentile bins)
# Evidently needs pandas < 3; it runs from /root/.cache/cerebro/evidently (EVIDENTLY_PYTHON), or
# from bench/.venv-evidently, made on first use.
# Usage: bench/monitor.sh [ROWS=1000000] [EVIDENTLY_REPEATS=3]
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1000000}
repeats=${2:-3}
py=${EVIDENTLY_PYTHON:-/root/.cache/cerebro/evidently/bin/python}
if [ ! -x "$py" ]; then
  venv=bench/.venv-evidently
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q evidently "pandas<3"
  fi
  py=$venv/bin/python
fi
load() { cut -d' ' -f1-3 /proc/loadavg; }
[ "$rows" = 1000000 ] || echo "note: the criterion bench always uses 1,000,000 rows"
echo "load average before cerebro: $(load)"
cargo bench -q --bench monitor -- 'monitor/drift_(exact_|values_)?1m_x10' >/dev/null
l1=$(load)
med() { python3 -c "import json; print(json.load(open('target/criterion/monitor/$1/new/estimates.json'))['median']['point_estimate']/1e6)"; }
exact=$(med drift_exact_1m_x10); values=$(med drift_values_1m_x10); binned=$(med drift_1m_x10)
theirs=$("$py" bench/monitor_evidently.py "$rows" "$repeats" | awk '/evidently_median_ms/ {print $2}')
l2=$(load)
printf '%-62s %12.1f ms  (load %s)\n' "cerebro like for like, baseline built in the loop, exact" "$exact" "$l1"
printf '%-62s %12.1f ms  (load %s)\n' "cerebro product, cached baseline, values/KLL sketch" "$values" "$l1"
printf '%-62s %12.1f ms  (load %s)\n' "cerebro binned counts (older path)" "$binned" "$l1"
printf '%-62s %12.1f ms  (load %s)\n' "Evidently $("$py" -c 'import evidently; print(evidently.__version__)') DataDriftPreset (median of $repeats)" "$theirs" "$l2"
python3 -c "print('ratio like for like: %.0fx; product: %.0fx' % ($theirs / $exact, $theirs / $values))"
