#!/usr/bin/env bash
# `cerebro runs list --filter` on 100,000 runs (issue 18: < 300 ms for the whole command), the
# release binary timed end to end (start, open the workspace, run the query, print the table),
# side by side in one run on the same store: with the key/value indexes of store migration 8,
# and on a copy with those indexes dropped (what the store was before them).
#
# The store: 100,000 FINISHED runs, each with 4 metrics (roc_auc spread over 0.5..1, f1, tp,
# fp), 3 params (max_depth 1..10, criterion, seed) and a tag (cerebro.demo), written straight
# into the schema the binary creates (the same rows `benches/store.rs` writes through the API,
# in seconds instead of minutes). The filter has 3 clauses and matches about 5% of the runs.
#
# Usage: bench/filter.sh. CEREBRO_BIN a cerebro binary to use instead of building the release
# one; REPEAT the runs per variant (default 15). Prints each variant's median and min in ms.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${CEREBRO_BIN:-}" ]; then
  bin=$(realpath "$CEREBRO_BIN")
else
  cargo build --release -q
  bin=$PWD/target/release/cerebro
fi
repeat=${REPEAT:-15}
filter="metrics.roc_auc > 0.9 and params.max_depth >= 8 or tags.cerebro.demo = 'maybe'"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
for ws in indexed bare; do
  mkdir -p "$work/$ws"
  cat > "$work/$ws/config.toml" <<'TOML'
[workspace]
name = "bench"

[dataset]
path = "data.csv"
id = "id"
target = "y"
positive = "yes"
numeric = ["num"]
categorical = ["cat"]
TOML
  printf 'id,num,cat,y\n1,1,a,yes\n2,2,b,no\n' > "$work/$ws/data.csv"
  mkdir -p "$work/$ws/.cerebro"
done
# The binary creates the store at its schema.
"$bin" --config "$work/indexed/config.toml" runs list > /dev/null
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$work" <<'PY'
import json, socket, sqlite3, sys
work = sys.argv[1]
db = sqlite3.connect(f"{work}/indexed/.cerebro/cerebro.db")
db.execute("INSERT INTO experiments (name, created_at) VALUES ('bench', 1700000000000)")
exp = db.execute("SELECT experiment_id FROM experiments WHERE name = 'bench'").fetchone()[0]
host = socket.gethostname()
env = json.dumps({})
runs, params, tags, metrics = [], [], [], []
t0 = 1_700_000_000_000
for r in range(100_000):
    rid = f"{r:032x}"
    runs.append((rid, exp, f"run-{r}", "decision_tree", "FINISHED", t0 + r, t0 + r + 1000, host, None, env))
    params += [(rid, "max_depth", str(r % 10 + 1)), (rid, "criterion", ["gini", "entropy"][r % 2]),
               (rid, "seed", "42")]
    tags.append((rid, "cerebro.demo", "true" if r % 3 == 0 else "false"))
    auc = 0.5 + (r * 7919 % 1000) / 2000.0
    metrics += [(rid, k, v, 0, t0) for k, v in (("roc_auc", auc), ("f1", auc - 0.1), ("tp", 60.0), ("fp", 7.0))]
db.executemany("""INSERT INTO runs (run_id, experiment_id, name, model_kind, status, start_time,
                  end_time, host, data_version, environment) VALUES (?,?,?,?,?,?,?,?,?,?)""", runs)
db.executemany("INSERT INTO params (run_id, key, value) VALUES (?,?,?)", params)
db.executemany("INSERT INTO tags (run_id, key, value) VALUES (?,?,?)", tags)
db.executemany("INSERT INTO latest_metrics (run_id, key, value, step, timestamp) VALUES (?,?,?,?,?)", metrics)
db.executemany("INSERT INTO metrics (run_id, key, step, timestamp, seq, value) VALUES (?,?,?,?,0,?)",
               [(m[0], m[1], m[3], m[4], m[2]) for m in metrics])
db.commit()
db.execute("VACUUM INTO ?", (f"{work}/bare/.cerebro/cerebro.db",))
db.close()
bare = sqlite3.connect(f"{work}/bare/.cerebro/cerebro.db")
for index in ("latest_metrics_by_key_value", "params_by_key_value", "tags_by_key_value"):
    bare.execute(f"DROP INDEX {index}")
bare.commit()
PY

python3 - "$bin" "$work" "$filter" "$repeat" <<'PY'
import statistics, subprocess, sys, time
bin, work, filt, repeat = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
def once(ws, *extra):
    t = time.perf_counter()
    out = subprocess.run([bin, "--config", f"{work}/{ws}/config.toml", "runs", "list", "--filter", filt, *extra],
                         check=True, capture_output=True)
    return (time.perf_counter() - t) * 1000, out.stdout
ref = once("bare")[1]
rows = len(ref.splitlines()) - 1
assert once("indexed")[1] == ref, "the same table with and without the indexes"
print(f"\n`cerebro runs list --filter \"{filt}\"` on 100,000 runs "
      f"({rows} rows printed), {repeat} runs each, interleaved:")
times = {"indexed": [], "bare": []}
for _ in range(repeat):
    for ws in times:
        times[ws].append(once(ws)[0])
for ws, label in (("indexed", "with the key/value indexes (migration 8)"), ("bare", "without them")):
    ts = times[ws]
    print(f"  {label:42} median {statistics.median(ts):7.1f} ms  min {min(ts):7.1f} ms")
print(f"  ratio of medians: {statistics.median(times['bare']) / statistics.median(times['indexed']):.2f}x")
PY
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
