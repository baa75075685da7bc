#!/usr/bin/env bash
# `cerebro tune` on the Marvel wikia data, side by side in one run:
#  1. the full grid of the tree kind (below, 192 combinations) trained as a sweep: its best test
#     ROC AUC;
#  2. `cerebro tune --sampler tpe` and `--sampler random` with a quarter of its trials (48) on the
#     space that covers the grid, over 5 seeds: the best ROC AUC each reaches, and the trial at
#     which TPE first reaches the grid's best;
#  3. the gbt (100 trees) on a 3-parameter space, 20 trials over 3 seeds: `cerebro tune --sampler
#     tpe` against Optuna's TPESampler (PyPI, the venv below) whose trials are trained by the same
#     cerebro gbt (`cerebro train --json`): the best ROC AUC of each, and the sampler's time per
#     trial (Optuna's `study.ask()`, where its sampler runs) against cerebro's
#     (`sampler_ms_per_trial`).
# Usage: bench/tune.sh [MARVEL_CSV]. OPTUNA_PYTHON overrides the Optuna venv's python;
# CEREBRO_BIN a cerebro binary to use instead of building the release one.
set -euo pipefail
cd "$(dirname "$0")/.."
csv=${1:-../shared/data/marvel-wikia-data.csv}
[ -f "$csv" ] || { echo "skipped: $csv not found (pass the Marvel wikia CSV as \$1)"; exit 0; }
csv=$(realpath "$csv")
optuna=${OPTUNA_PYTHON:-/root/.cache/cerebro/optuna-bench/bin/python}
seeds=${SEEDS:-"1 2 3 4 5"}
gbt_seeds=${GBT_SEEDS:-"1 2 3"}
if [ -n "${CEREBRO_BIN:-}" ]; then
  bin=$(realpath "$CEREBRO_BIN")
else
  cargo build --release -q
  bin=$PWD/target/release/cerebro
fi
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cp bench/marvel.toml "$work/config.toml"; cp "$csv" "$work/marvel-wikia-data.csv"
cb() { "$bin" --config "$work/config.toml" "$@"; }
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

# The grid and the space that covers it.
grid=(--model tree --sweep max_depth=2,3,4,5,6,7,8,9,10,11,12,13
      --sweep min_samples_leaf=1,2,5,10,20,50,100,200 --sweep criterion=gini,entropy)
space=(--model tree --space "max_depth=int(2,13)" --space "min_samples_leaf=int(1,200,log)"
       --space "criterion=choice(gini,entropy)")
trials=48
cb train "${grid[@]}" --max-parallel 2 --experiment grid --json > "$work/grid.json"
grid_best=$(python3 -c '
import json,sys
runs=[o["run"] for o in json.load(open(sys.argv[1])) if o.get("run")]
print(len(runs), max(r["metrics"]["roc_auc"] for r in runs))' "$work/grid.json")
read -r grid_n grid_auc <<< "$grid_best"
for sampler in tpe random; do
  for seed in $seeds; do
    cb tune "${space[@]}" --sampler "$sampler" --trials $trials --seed "$seed" \
      --max-parallel 1 --experiment "tune-$sampler" --json > "$work/$sampler-$seed.json" 2>/dev/null
  done
done

# The gbt, cerebro's TPE against Optuna's on the same space and budget.
gbt_space=(--model gbt --set n_estimators=100 --space "max_depth=int(2,10)"
           --space "learning_rate=float(0.01,0.3,log)" --space "min_leaf_weight=float(1,80,log)")
gbt_trials=20
for seed in $gbt_seeds; do
  cb tune "${gbt_space[@]}" --trials $gbt_trials --seed "$seed" --max-parallel 1 \
    --experiment gbt-tpe --json > "$work/gbt-$seed.json" 2>/dev/null
  if [ -x "$optuna" ]; then
    "$optuna" bench/tune_optuna.py "$bin" "$work/config.toml" $gbt_trials "$seed" > "$work/optuna-$seed.json"
  fi
done
[ -x "$optuna" ] || echo "Optuna skipped: no python at $optuna (python3 -m venv ...; pip install optuna)"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$work" "$grid_auc" "$grid_n" "$trials" "$seeds" "$gbt_seeds" <<'PY'
import json, os, statistics, sys
work, grid_auc, grid_n, trials = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
seeds, gbt_seeds = sys.argv[5].split(), sys.argv[6].split()
def load(name):
    p = os.path.join(work, name)
    return json.load(open(p)) if os.path.exists(p) and os.path.getsize(p) else None
print(f"\n== tree: the grid ({grid_n} trials) against {trials} trials of tune ==")
print(f"grid best roc_auc {grid_auc:.4f}")
print(f"{'seed':>4}  {'tpe best':>9}  {'reached at':>10}  {'random best':>11}  {'reached at':>10}")
reached = {"tpe": 0, "random": 0}
bests = {"tpe": [], "random": []}
def first_reach(r):
    best = float("-inf")
    for i, t in enumerate(r["trials"]):
        if t["value"] is not None:
            best = max(best, t["value"])
        if best >= grid_auc:
            return i + 1
    return None
for s in seeds:
    row = []
    for sampler in ("tpe", "random"):
        r = load(f"{sampler}-{s}.json")
        at = first_reach(r)
        reached[sampler] += at is not None
        bests[sampler].append(r["best"]["value"])
        row += [r["best"]["value"], at]
    fmt = lambda v: "-" if v is None else str(v)
    print(f"{s:>4}  {row[0]:9.4f}  {fmt(row[1]):>10}  {row[2]:11.4f}  {fmt(row[3]):>10}")
print(f"reached the grid's best within {trials} trials ({trials / grid_n:.2f} of the grid): "
      f"tpe on {reached['tpe']} of {len(seeds)} seeds, random on {reached['random']}; "
      f"median best tpe {statistics.median(bests['tpe']):.4f}, random {statistics.median(bests['random']):.4f}")
print(f"\n== gbt: cerebro tpe against Optuna's TPESampler ==")
print(f"{'seed':>4}  {'cerebro best':>12}  {'optuna best':>11}  {'cerebro ms/trial':>16}  {'optuna ms/trial':>15}")
ours, theirs, ours_ms, theirs_ms = [], [], [], []
for s in gbt_seeds:
    c, o = load(f"gbt-{s}.json"), load(f"optuna-{s}.json")
    ours.append(c["best"]["value"]); ours_ms.append(c["sampler_ms_per_trial"])
    if o:
        theirs.append(o["best"]); theirs_ms.append(o["sampler_ms_per_trial"])
    print(f"{s:>4}  {c['best']['value']:12.4f}  {(o['best'] if o else float('nan')):11.4f}  "
          f"{c['sampler_ms_per_trial']:16.3f}  {(o['sampler_ms_per_trial'] if o else float('nan')):15.3f}")
if theirs:
    mo, mt = statistics.median(ours_ms), statistics.median(theirs_ms)
    print(f"median best roc_auc: cerebro {statistics.median(ours):.4f}, optuna {statistics.median(theirs):.4f}; "
          f"sampler ms/trial (median): cerebro {mo:.3f}, optuna {mt:.3f} ({mt / mo:.0f}x lower)")
PY
