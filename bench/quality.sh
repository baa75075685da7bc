#!/usr/bin/env bash
# Model quality and fit time, cerebro vs scikit-learn and LightGBM, side by side in one run, on
# the same split of ../shared/data/marvel-wikia-data.csv (or the CSV given as $1).
# Needs python3; installs the peers into bench/.venv on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
csv=${1:-../shared/data/marvel-wikia-data.csv}
[ -f "$csv" ] || { echo "skipped: $csv not found (pass the Marvel wikia CSV as \$1)"; exit 0; }
csv=$(realpath "$csv")
venv=bench/.venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q scikit-learn lightgbm "pandas<3" mlflow
fi
cargo build --release -q
bin=$PWD/target/release/cerebro
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cp bench/marvel.toml "$work/config.toml"; cp "$csv" "$work/marvel-wikia-data.csv"
version=$("$bin" --config "$work/config.toml" data prepare --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["data_version"])')
"$bin" --config "$work/config.toml" data export "$version" "$work/split" >/dev/null
echo "data version ${version:0:12}: $(($(wc -l < "$work/split/train.csv") - 1)) train / $(($(wc -l < "$work/split/test.csv") - 1)) test rows"
echo
echo "== quality (test set) =="
printf '%-34s %10s %8s %8s %8s\n' tool fit_ms roc_auc f1 accuracy
for kind in tree logistic forest gbt; do
  "$bin" --config "$work/config.toml" train --model "$kind" --json | python3 -c '
import json,sys
o=json.load(sys.stdin)[0]["run"]; m=o["metrics"]
print("%-34s %10.2f %8.4f %8.4f %8.4f" % ("cerebro "+o["model_kind"]+" "+" ".join(k+"="+v for k,v in sorted(o["params"].items()) if k in ("max_depth","n_trees","n_estimators","learning_rate","alpha")), o["fit_seconds"]*1000, m["roc_auc"], m["f1"], m["accuracy"]))'
done
"$venv/bin/python" bench/peers_quality.py "$work/split/train.csv" "$work/split/test.csv" | python3 -c '
import json,sys
for line in sys.stdin:
    o=json.loads(line); print("%-34s %10.2f %8.4f %8.4f %8.4f" % (o["tool"], o["fit_median_ms"], o["roc_auc"], o["f1"], o["accuracy"]))'
echo
echo "== depth-8 tree fit, medians in this run =="
peer=$("$venv/bin/python" bench/peers_quality.py "$work/split/train.csv" "$work/split/test.csv" tree)
CEREBRO_BENCH_CSV="$csv" cargo bench -q --bench train -- --noplot tree_fit >/dev/null 2>&1
python3 - "$peer" <<'PY'
import json, sys
peer = json.loads(sys.argv[1])
def median(name):
    with open(f"target/criterion/tree_fit/{name}/new/estimates.json") as f:
        return json.load(f)["median"]["point_estimate"] / 1e6
ours, linfa = median("cerebro_depth8"), median("linfa_trees_depth8")
print("%-40s %9.2f ms" % ("cerebro tree (bin + fit, criterion)", ours))
print("%-40s %9.2f ms" % ("linfa-trees 0.8 on one-hot (criterion)", linfa))
print("%-40s %9.2f ms" % ("scikit-learn DecisionTree (21 fits)", peer["fit_median_ms"]))
print("cerebro / scikit-learn: %.2fx the time (%.1fx faster)" % (ours / peer["fit_median_ms"], peer["fit_median_ms"] / ours))
PY
