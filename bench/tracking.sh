#!/usr/bin/env bash
# Metric-logging throughput, cerebro vs MLflow, each with its local SQLite tracking store:
# 100,000 points into a fresh store, 1,000 points per call (MLflow's log_batch limit).
#
#   cerebro: `cargo bench --bench store` (criterion; also lists 10,000 runs)
#   mlflow:  bench/mlflow_tracking.py in a venv at bench/.venv, created with `pip install mlflow`
#            on first use; run MLFLOW_RUNS times (default 3).
#
# Prints the median time of each, points/s and the ratio. Run from anywhere; the two are run one
# after the other so they do not compete for cores. SKIP_MLFLOW=1 measures cerebro only.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
venv="$here/.venv"
mlflow_runs="${MLFLOW_RUNS:-3}"
points=100000

# --- cerebro -------------------------------------------------------------------------------------
echo "== cerebro: cargo bench --bench store" >&2
(cd "$root" && cargo bench --bench store -- --noplot) >&2
target_dir="$(cd "$root" && cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
criterion="$target_dir/criterion/store"

# Median of a criterion benchmark, in seconds.
median_s() {
    python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["median"]["point_estimate"] / 1e9)' \
        "$criterion/$1/new/estimates.json"
}
cerebro_s="$(median_s log_metrics_100k)"
list_all_s="$(median_s list_runs_10k)"
list_page_s="$(median_s list_runs_10k_limit_50)"

# --- mlflow --------------------------------------------------------------------------------------
mlflow_s=""
if [ "${SKIP_MLFLOW:-0}" != 1 ]; then
    if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import mlflow' 2>/dev/null; then
        echo "== creating $venv and installing mlflow (once; takes a few minutes)" >&2
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --upgrade pip >&2
        "$venv/bin/pip" install --quiet mlflow >&2
    fi
    echo "== mlflow: $mlflow_runs runs of bench/mlflow_tracking.py" >&2
    times=()
    for _ in $(seq "$mlflow_runs"); do
        line="$("$venv/bin/python" "$here/mlflow_tracking.py" --points "$points" 2>/dev/null)"
        echo "   $line" >&2
        times+=("$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["seconds"])' "$line")")
    done
    mlflow_s="$(python3 -c 'import statistics, sys; print(statistics.median(map(float, sys.argv[1:])))' "${times[@]}")"
fi

# --- report --------------------------------------------------------------------------------------
python3 - "$points" "$cerebro_s" "$list_all_s" "$list_page_s" "$mlflow_s" <<'PY'
import sys
points = int(sys.argv[1])
cerebro, list_all, list_page = (float(x) for x in sys.argv[2:5])
mlflow = float(sys.argv[5]) if sys.argv[5] else None
print(f"metric logging, {points:,} points in batches of 1,000 (median):")
print(f"  cerebro  {cerebro:9.3f} s  {points / cerebro:>12,.0f} points/s")
if mlflow is not None:
    print(f"  mlflow   {mlflow:9.3f} s  {points / mlflow:>12,.0f} points/s")
    print(f"  ratio    cerebro is {mlflow / cerebro:,.0f}x faster")
print("cerebro list_runs, 10,000 runs with 1,000,000 metric points (median):")
print(f"  all runs {list_all * 1e3:9.1f} ms")
print(f"  newest 50 {list_page * 1e3:8.2f} ms")
PY
