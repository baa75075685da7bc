#!/usr/bin/env bash
# False alarms and detection of cerebro's drift tests, side by side with Evidently's
# DataDriftPreset on the same windows, in one run.
#
# Two datasets: the demo data (data/characters.csv, 16,000 rows) and a small one generated here
# (500 rows, 6 features: normal, heavy-tailed, small count, rare 0/1 flag, two categoricals;
# bench/false_alarms_data.py). For each, RUNS independent no-drift runs: run i re-splits the data
# with split seed i (so runs do not share one test set), trains a depth-4 tree, serves it as a
# fresh endpoint, sends `cerebro simulate --drift none --seed i` (one pass over the test split
# at most, drawn without replacement), ingests the log and reads the endpoint's 1-day window
# with `cerebro monitor drift --json`. Every feature is tested at the 0.05 level with its
# p-value test (KS for numeric features, chi-square for categorical ones and numeric ones with
# at most 5 distinct values), in both tools: cerebro through [monitoring.features] overrides,
# Evidently through per_column_method / per_column_threshold. Evidently gets the same records:
# the window's logged record ids (`<test id>~<run>-<seq>`) looked up in the prepared test table
# of that run's data version (`cerebro data export`), against that version's prepared train table.
# The multivariate domain classifier's verdict of each window is counted too.
#
# Then SCENARIO_RUNS runs of each drift scenario per dataset (one model per dataset; a fresh
# endpoint per run): a scale and a skew scenario are detected when the scenario's feature is
# flagged; `concept` (inputs unchanged, confident labels inverted) when the window's realised
# accuracy (labels written at once) is below the test accuracy by more than 0.1.
#
# Usage: bench/false_alarms.sh [RUNS=200] [SCENARIO_RUNS=RUNS] [BIN=target/release/cerebro]
# Needs Evidently 0.7 in /root/.cache/cerebro/evidently (or EVIDENTLY_PYTHON).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
runs=${1:-200}
scenario_runs=${2:-$runs}
bin=$(realpath "${3:-target/release/cerebro}")
py=${EVIDENTLY_PYTHON:-/root/.cache/cerebro/evidently/bin/python}
[ -x "$bin" ] || { echo "no binary at $bin (cargo build --release)" >&2; exit 1; }
[ -x "$py" ] || { echo "no Evidently python at $py" >&2; exit 1; }
out=$(mktemp -d)
server=
trap 'if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi; rm -rf "$out"' EXIT
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
started=$(date +%s)

# serve NAME: starts the Production model as endpoint NAME; sets $server and $url.
serve() {
  "$bin" serve --model m --bind 127.0.0.1:0 --name "$1" > serve.out 2>/dev/null &
  server=$!
  for _ in $(seq 1 1200); do grep -q "listening on" serve.out 2>/dev/null && break; sleep 0.05; done
  url=$(sed -n 's/^listening on //p' serve.out | head -1)
  [ -n "$url" ] || { echo "endpoint $1 did not start within 60 s" >&2; exit 1; }
}
stop() { kill -TERM "$server"; wait "$server" || true; server=; }

# train_and_promote: trains a depth-4 tree on the config's split and makes it Production.
train_and_promote() {
  local run version
  run=$("$bin" train --json --model tree --set max_depth=4 | python3 -c "import json,sys; d=json.load(sys.stdin); d=d[0] if isinstance(d,list) else d; print(d['run']['run_id'])")
  version=$("$bin" models register "$run" --name m --json | python3 -c "import json,sys; print(json.load(sys.stdin)['version'])")
  "$bin" models promote m "$version" --force --reason "bench/false_alarms.sh" >/dev/null
  echo "$version"
}

# dataset NAME: runs the no-drift runs and the scenarios of one workspace (the current folder).
dataset() {
  local name=$1 records=$2; shift 2
  local scenarios=("$@")
  for i in $(seq 1 "$runs"); do
    sed -i "s/^seed = [0-9]* *# split$/seed = $i # split/" config.toml
    local version
    version=$(train_and_promote)
    "$bin" data export "$("$bin" data versions --json | python3 -c "
import json, sys
vs = [v.get('version', v) if isinstance(v.get('version', v), dict) else v for v in json.load(sys.stdin)]
print(max(vs, key=lambda v: v['created_at'])['id'])")" "$out/$name/$i" >/dev/null
    serve "none-$i"
    "$bin" simulate --endpoint "$url" --rate 1000 --duration "$(python3 -c "print($records / 1000)")" \
      --drift none --seed "$i" --no-labels --json > /dev/null
    stop
    "$bin" monitor ingest --json > /dev/null
    "$bin" monitor drift --endpoint "none-$i" --window 1d --json --no-refresh > "$out/$name/$i/drift.json"
    cat data/inference/"none-$i"/*.jsonl > "$out/$name/$i/log.jsonl"
    echo "$name run $i (version $version) done, $(( $(date +%s) - started )) s" >&2
  done
  sed -i "s/^seed = [0-9]* *# split$/seed = 42 # split/" config.toml
  train_and_promote > /dev/null
  for s in "${scenarios[@]}"; do
    for i in $(seq 1 "$scenario_runs"); do
      local ep
      ep="s$(echo "$s" | tr -c 'A-Za-z0-9' '-')$i"
      serve "$ep"
      "$bin" simulate --endpoint "$url" --rate 1000 --duration "$(python3 -c "print($records / 1000)")" \
        --drift "$s" --seed "$i" --json > /dev/null
      stop
      "$bin" monitor ingest --json > /dev/null
      mkdir -p "$out/$name/scenarios"
      "$bin" monitor drift --endpoint "$ep" --window 1d --json --no-refresh > "$out/$name/scenarios/$ep.drift.json"
      "$bin" monitor quality --endpoint "$ep" --window 1d --json --no-refresh > "$out/$name/scenarios/$ep.quality.json"
      printf '%s\t%s\t%s\n' "$s" "$i" "$ep" >> "$out/$name/scenarios/index.tsv"
    done
    echo "$name scenario $s done, $(( $(date +%s) - started )) s" >&2
  done
}

# The demo workspace: p-value tests at 0.05 for every feature.
demo=$out/ws-demo
mkdir -p "$demo/data" "$out/demo"
cp config.toml "$demo/"; cp data/characters.csv "$demo/data/"
sed -i 's/^seed = 42$/seed = 42 # split/' "$demo/config.toml"
sed -i '0,/^seed = 42 # split$/! s/^seed = 42 # split$/seed = 42/' "$demo/config.toml"
cat >> "$demo/config.toml" <<'EOF'

[monitoring]
granularities = ["1d"]
[monitoring.features.APPEARANCES]
test = "ks"
threshold = 0.05
[monitoring.features.Year]
test = "ks"
threshold = 0.05
EOF
for f in HAS_GSM EARTH616 ID ALIGN EYE HAIR SEX TITLE; do
  printf '[monitoring.features.%s]\ntest = "chi_square"\nthreshold = 0.05\n' "$f" >> "$demo/config.toml"
done
(cd "$demo" && dataset demo 500 "scale:Year=1.5" "skew:SEX=Female Characters:0.7" concept)

# The small generated workspace.
small=$out/ws-small
mkdir -p "$small/data" "$out/small"
python3 bench/false_alarms_data.py "$small/data/small.csv"
cat > "$small/config.toml" <<'EOF'
[workspace]
name = "small"
store = ".cerebro"

[dataset]
path = "data/small.csv"
id = "id"
target = "label"
positive = "yes"
numeric = ["level", "amount", "visits", "flag"]
categorical = ["plan", "region"]

[split]
test_fraction = 0.2
seed = 42 # split
stratify = true

[train]
experiment = "small"
seed = 42

[models.tree]
max_depth = 4
min_samples_leaf = 1

[monitoring]
granularities = ["1d"]
[monitoring.features.level]
test = "ks"
threshold = 0.05
[monitoring.features.amount]
test = "ks"
threshold = 0.05
[monitoring.features.visits]
test = "ks"
threshold = 0.05
[monitoring.features.flag]
test = "chi_square"
threshold = 0.05
[monitoring.features.plan]
test = "chi_square"
threshold = 0.05
[monitoring.features.region]
test = "chi_square"
threshold = 0.05
EOF
(cd "$small" && dataset small 100 "scale:level=1.5" "skew:plan=gold:0.7" concept)

echo "cerebro part done in $(( $(date +%s) - started )) s; Evidently on the same windows:" >&2
"$py" "$root/bench/false_alarms_evidently.py" "$out" "$runs"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg); wall time $(( $(date +%s) - started )) s"
