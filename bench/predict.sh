#!/usr/bin/env bash
# Batch scoring, side by side in one run on the same rows: `cerebro predict` (raw records of the
# demo file through the whole pipeline, the default gbt: 1000 trees of depth 6) vs LightGBM
# `Booster.predict` with 1000 trees of depth 6 on the same rows' prepared features, and vs
# `mlflow models predict` (pyfunc of that LightGBM model, --env-manager local) on the features
# file. Then cerebro's peak RSS on a RSS_ROWS-row input (memory must stay flat).
# ROWS (default 1000000), RSS_ROWS (default 10000000; 0 skips), REPS (default 3).
# Peers: a venv at $CEREBRO_BENCH_VENV (default /root/.cache/cerebro/bench-predict) with lightgbm,
# pandas, pyarrow and mlflow importable.
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${ROWS:-1000000}
rss_rows=${RSS_ROWS:-10000000}
reps=${REPS:-3}
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
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) before the run"
echo "cerebro gbt: 1000 trees, max_depth 6; LightGBM: $fit"
echo "input: $rows rows (raw_$rows.csv $(du -h "$work/raw_$rows.csv" | cut -f1), features_$rows.csv $(du -h "$work/features_$rows.csv" | cut -f1))"
median() { python3 -c 'import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }
ctimes=(); crss=()
for _ in $(seq "$reps"); do
  o=$("$py" "$peers" time "$bin" --config "$work/config.toml" predict chars@champion \
      --input "$work/raw_$rows.csv" --output "$work/cerebro.parquet" --probabilities)
  ctimes+=("$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["seconds"])' "$o")")
  crss+=("$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["max_rss_mb"])' "$o")")
done
mtimes=()
for _ in $(seq "$reps"); do
  o=$("$py" "$peers" time "$py" -m mlflow models predict -m "$work/mlflow-model" \
      -i "$work/features_$rows.csv" -t csv -o "$work/mlflow.json" --env-manager local)
  mtimes+=("$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["seconds"])' "$o")")
done
lg=$("$py" "$peers" lgbm "$work" "$rows" "$reps")
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
print(f"cerebro peak RSS on {rows:,} rows: {rss:.0f} MB; runs (s): cerebro {cs}; mlflow {ms}; LightGBM predict {lg['predict_s']}")
PY
if [ "$rss_rows" != 0 ]; then
  "$py" "$peers" data "$work/split" "$rss_rows" "$work" >/dev/null
  rm -f "$work/features_$rss_rows.csv"
  o=$("$py" "$peers" time "$bin" --config "$work/config.toml" predict chars@champion \
      --input "$work/raw_$rss_rows.csv" --output "$work/big.parquet" --probabilities)
  echo "cerebro predict on $rss_rows rows ($(du -h "$work/raw_$rss_rows.csv" | cut -f1)): $o"
fi
