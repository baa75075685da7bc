#!/usr/bin/env bash
# Batch scoring, side by side in one run on the same rows: `cerebro predict` (raw records of the
# demo file through the whole pipeline, the default gbt: 1000 trees of depth 6) vs LightGBM
# `Booster.predict` with 1000 trees of depth 6 on the same rows' prepared features, and vs
# `mlflow models predict` (pyfunc of that LightGBM model, --env-manager local) on the features
# file. Then cerebro's peak RSS on a RSS_ROWS-row input (memory must stay flat).
# ROWS (default 1000000), RSS_ROWS (default 10000000; 0 skips), REPS (default 3).
# THREADS (default: the number of cores): every tool runs pinned to that many cores
# (`taskset -c 0-(THREADS-1)`; cerebro splits a chunk over the cores it may run on), LightGBM
# with `num_threads=THREADS` and OpenMP told the same (OMP_NUM_THREADS, OMP_WAIT_POLICY=passive,
# so idle OpenMP threads do not spin against the other processes of a loaded machine). Each
# timed command runs under /usr/bin/time -v (wall time, peak RSS) and `timeout` (TIMEOUT s,
# default 1800), so a stuck peer fails the run instead of hanging it.
# Peers: a venv at $CEREBRO_BENCH_VENV (default /root/.cache/cerebro/bench-predict) with lightgbm,
# pandas, pyarrow and mlflow importable.
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${ROWS:-1000000}
rss_rows=${RSS_ROWS:-10000000}
reps=${REPS:-3}
threads=${THREADS:-$(nproc)}
limit=${TIMEOUT:-1800}
export OMP_NUM_THREADS=$threads OMP_WAIT_POLICY=passive
pin=(taskset -c "0-$((threads - 1))")
[ -x /usr/bin/time ] || { echo "/usr/bin/time is missing: apt-get install time" >&2; exit 1; }
venv=${CEREBRO_BENCH_VENV:-/root/.cache/cerebro/bench-predict}
py="$venv/bin/python"
if ! "$py" -c 'import lightgbm, mlflow, pandas, pyarrow' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q lightgbm "pandas<3" pyarrow mlflow
fi
peers=$PWD/bench/predict_peers.py
cargo build --release -q
bin=$PWD/target/release/cerebro
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cp config.toml "$work/config.toml"; mkdir -p "$work/data"; cp data/characters.csv "$work/data/"
c() { "$bin" --config "$work/config.toml" "$@"; }
version=$(c data prepare --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["data_version"])')
c data export "$version" "$work/split" >/dev/null
run=$(c train --model gbt --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["run"]["run_id"])')
c models register "$run" --name chars >/dev/null
c models promote chars 1 --force --reason bench >/dev/null
"$py" "$peers" data "$work/split" "$rows" "$work"
fit=$("$py" "$peers" fit "$work/split" "$work")
# Prints "SECONDS MAX_RSS_MB" of the command (wall clock by the shell, RSS by /usr/bin/time -v).
timed() {
  local t0 t1
  t0=$(date +%s.%N)
  if ! timeout "$limit" /usr/bin/time -v -o "$work/time.txt" "${pin[@]}" "$@" \
      >/dev/null 2>"$work/stderr.txt"; then
    echo "failed or timed out after ${limit}s: $*" >&2; tail -20 "$work/stderr.txt" >&2; exit 1
  fi
  t1=$(date +%s.%N)
  python3 -c 'import sys; print(float(sys.argv[2]) - float(sys.argv[1]), int(sys.argv[3]) / 1024)' \
    "$t0" "$t1" "$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")"
}
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) before the run; commit $(git rev-parse --short HEAD); $(date -u +%FT%TZ)"
echo "threads: $threads for every tool (taskset, LightGBM num_threads, OMP_NUM_THREADS)"
echo "cerebro gbt: 1000 trees, max_depth 6; LightGBM: $fit"
echo "input: $rows rows (raw_$rows.csv $(du -h "$work/raw_$rows.csv" | cut -f1), features_$rows.csv $(du -h "$work/features_$rows.csv" | cut -f1))"
median() { python3 -c 'import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }
ctimes=(); crss=(); mtimes=(); lgs=()
# Interleaved (cerebro, LightGBM, MLflow per round), so a change of load hits every tool alike.
for rep in $(seq "$reps"); do
  o=$(timed "$bin" --config "$work/config.toml" predict chars@champion \
      --input "$work/raw_$rows.csv" --output "$work/cerebro.parquet" --probabilities)
  read -r s r <<<"$o"; ctimes+=("$s"); crss+=("$r")
  lgs+=("$(timeout "$limit" "${pin[@]}" "$py" "$peers" lgbm "$work" "$rows" 1 "$threads")")
  o=$(timed "$py" -m mlflow models predict -m "$work/mlflow-model" \
      -i "$work/features_$rows.csv" -t csv -o "$work/mlflow.json" --env-manager local)
  read -r s r <<<"$o"; mtimes+=("$s")
  echo "round $rep: cerebro ${ctimes[-1]} s, LightGBM ${lgs[-1]}, mlflow ${mtimes[-1]} s; load average $(cut -d' ' -f1-3 /proc/loadavg)"
done
lg=$(python3 -c '
import json, statistics, sys
runs = [json.loads(a) for a in sys.argv[1:]]
p = [x for r in runs for x in r["predict_s"]]; e = [x for r in runs for x in r["end_to_end_s"]]
print(json.dumps({"predict_median_s": statistics.median(p), "end_to_end_median_s": statistics.median(e), "predict_s": p, "end_to_end_s": e}))' "${lgs[@]}")
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$rows" "$(median "${ctimes[@]}")" "$(median "${mtimes[@]}")" "$lg" "${crss[0]}" "${ctimes[*]}" "${mtimes[*]}" <<'PY'
import json, sys
rows, c, m, lg, rss, cs, ms = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), json.loads(sys.argv[4]), float(sys.argv[5]), sys.argv[6], sys.argv[7]
lp, le = lg["predict_median_s"], lg["end_to_end_median_s"]
print(f"{'tool':58} {'median s':>9} {'rows/s':>12}")
for name, s in [
    ("cerebro predict (raw CSV -> pipeline -> Parquet)", c),
    ("LightGBM Booster.predict (features in memory)", lp),
    ("LightGBM end to end (pandas read_csv, predict, Parquet)", le),
    ("mlflow models predict (pyfunc, CSV -> JSON)", m),
]:
    print(f"{name:58} {s:9.2f} {rows / s:12,.0f}")
print(f"cerebro / LightGBM predict rows/s: {lp / c:.2f}x; / LightGBM end to end: {le / c:.2f}x; / mlflow models predict: {m / c:.1f}x")
print(f"cerebro peak RSS on {rows:,} rows: {rss:.0f} MB (/usr/bin/time -v); runs (s): cerebro {cs}; mlflow {ms}; LightGBM predict {lg['predict_s']}")
PY
if [ "$rss_rows" != 0 ]; then
  rm -f "$work"/features_*.csv "$work"/*.parquet "$work/mlflow.json"
  "$py" "$peers" data "$work/split" "$rss_rows" "$work" raw >/dev/null
  o=$(timed "$bin" --config "$work/config.toml" predict chars@champion \
      --input "$work/raw_$rss_rows.csv" --output "$work/big.parquet" --probabilities)
  read -r s r <<<"$o"
  echo "cerebro predict on $rss_rows rows ($(du -h "$work/raw_$rss_rows.csv" | cut -f1)): $s s, peak RSS $r MB (/usr/bin/time -v); load average $(cut -d' ' -f1-3 /proc/loadavg)"
fi
