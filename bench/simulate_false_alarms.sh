#!/usr/bin/env bash
# False-alarm rate of drift detection on undrifted traffic: trains a quick tree on the demo
# workspace, then RUNS times serves it as a fresh endpoint, sends `cerebro simulate --drift none`
# (RECORDS records drawn from the held-out test set, a different seed each time), ingests, and
# reads the endpoint's drift window. Prints how many runs flagged dataset drift (Evidently's
# rule: at least half the features drifted) and how many flagged at least one feature, and the
# per-feature false-alarm rate.
# Usage: bench/simulate_false_alarms.sh [RUNS=20] [RECORDS=1000]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
records=${2:-1000}
rate=500
duration=$(python3 -c "print($records / $rate)")
cargo build -q
bin=$PWD/target/debug/cerebro
ws=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$ws"' EXIT
server=
cp config.toml "$ws/"; mkdir -p "$ws/data"; cp data/characters.csv "$ws/data/"
printf '\n[monitoring]\ngranularities = ["1d"]\n' >> "$ws/config.toml"
cd "$ws"
run=$("$bin" train --json --model tree --set max_depth=6 | python3 -c "import json,sys; d=json.load(sys.stdin); d=d[0] if isinstance(d,list) else d; print(d['run']['run_id'])")
"$bin" models register "$run" --name chars >/dev/null
"$bin" models promote chars 1 >/dev/null
dataset=0; any=0; features=0; flags=0
for i in $(seq 1 "$runs"); do
  name="fa-$i"
  "$bin" serve --model chars --bind 127.0.0.1:0 --name "$name" > serve.out 2>/dev/null &
  server=$!
  for _ in $(seq 1 1200); do grep -q "listening on" serve.out 2>/dev/null && break; sleep 0.05; done
  url=$(sed -n 's/^listening on //p' serve.out | head -1)
  [ -n "$url" ] || { echo "run $i: the endpoint did not start within 60 s" >&2; exit 1; }
  "$bin" simulate --endpoint "$url" --rate "$rate" --duration "$duration" --drift none --seed "$i" --json > sim.json
  kill -TERM "$server"; wait "$server" || true; server=
  "$bin" monitor ingest --json > /dev/null
  "$bin" monitor drift --endpoint "$name" --window 1d --json > drift.json
  read -r d n f <<<"$(python3 -c "
import json
w = json.load(open('drift.json'))[0]
fl = [f['name'] for f in w['features'] if f['drifted']]
print(int(w['dataset_drift']), len(fl), len(w['features']))
")"
  dataset=$((dataset + d)); flags=$((flags + n)); features=$((features + f))
  [ "$n" -gt 0 ] && any=$((any + 1))
  echo "run $i: dataset drift $d, features flagged $n of $f" >&2
done
python3 - "$runs" "$records" "$dataset" "$any" "$flags" "$features" <<'PY'
import sys
runs, records, dataset, anyf, flags, features = map(int, sys.argv[1:])
print(f"undrifted runs: {runs} x {records} records (demo data, tree, 1d window)")
print(f"dataset drift flagged: {dataset}/{runs} runs ({100*dataset/runs:.1f}%)")
print(f"at least one feature flagged: {anyf}/{runs} runs ({100*anyf/runs:.1f}%)")
print(f"per-feature false alarms: {flags}/{features} ({100*flags/features:.1f}%)")
PY
