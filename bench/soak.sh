#!/usr/bin/env bash
# Soak: everything that writes the store at once for DURATION seconds (default 60), then the
# invariants the README promises. Not a test (it takes over a minute): run it by hand on a release
# build, `bench/soak.sh [BIN]` (default target/release/cerebro), from anywhere.
#
# Together, on one workspace (the demo data, the tree model, registered model `soak`):
#   - an endpoint, `cerebro serve`, under bounded loopback load: wrk with CONNS (default 4)
#     connections, each pausing DELAY_MS (default 1) between one-row requests;
#   - writers: a loop of training jobs (`cerebro train`, a tree each) and a loop registering
#     their runs, plus two promoters moving Production between the versions (`--force`);
#   - two ingesters, each a loop of `cerebro monitor ingest`;
#   - an agent (`cerebro agent`) running a pipeline whose monitor step ingests too, every 5 s.
# Then: SIGTERM to the endpoint (which flushes its log), one last ingestion, and the checks:
#   1. `PRAGMA integrity_check` is ok;
#   2. exactly one Production version of `soak`, and it is the version the audit trail last
#      moved to Production;
#   3. every answered request logged once: 200s counted by the endpoint (`/metrics`) = lines in
#      the inference log = records ingested (`monitor status`), with no corrupt line; the 200s
#      wrk read are at most CONNS fewer (requests in flight when wrk stopped);
#   4. no run left RUNNING and every started training job is a FINISHED run;
#   5. the audit trail holds exactly the promotions the CLI reported (plus the set-up's), each
#      but the first archiving the version it replaced; versions = 2 + registrations.
# Prints a summary with the figures; exits 1 when an invariant fails.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
bin="${1:-$root/target/release/cerebro}"
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
duration="${DURATION:-60}"
conns="${CONNS:-4}"
delay_ms="${DELAY_MS:-1}"
[ -x "$bin" ] || { echo "no cerebro binary at $bin (cargo build --release)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }

work="$(mktemp -d)"
pids=()
serve_pid=""
agent_pid=""
cleanup() {
    for p in "${pids[@]}" $serve_pid $agent_pid; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ -n "${KEEP:-}" ] && echo "kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT

ws="$work/ws"
mkdir -p "$ws/data" "$work/counts"
cp "$root/data/characters.csv" "$ws/data/"
# The demo config without its pipeline, plus a monitoring pipeline for the agent.
python3 - "$root/config.toml" "$ws/config.toml" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
text = re.split(r"\n\[pipelines\.", text)[0].rstrip() + "\n"
text = re.sub(r'model = "gbt"', 'model = "tree"', text, count=1)
text += """
[registry.gate]
metric = "roc_auc"
threshold = 0.0

[serving]
model = "soak"
log_flush_ms = 50

[pipelines.watch]
description = "the soak's agent: one monitoring refresh every 5 s"
schedule = { every = "5s" }

[[pipelines.watch.steps]]
name = "monitor"
kind = "monitor"
"""
# The demo config keeps its gate under [registry.gate]; keep only the soak's.
first = text.find("[registry.gate]")
second = text.find("[registry.gate]", first + 1)
if second != -1:
    end = text.find("\n[", first + 1)
    text = text[:first] + text[end + 1:]
open(sys.argv[2], "w").write(text)
PY
cd "$ws"

echo "== $(date -u +%FT%TZ) setting up: two tree versions of \`soak\`, version 1 in Production" >&2
"$bin" data prepare >/dev/null
runs="$("$bin" train --model tree --sweep max_depth=4,6 --json |
    python3 -c 'import json, sys; print(" ".join(o["run"]["run_id"] for o in json.load(sys.stdin)))')"
for r in $runs; do "$bin" models register "$r" --name soak >/dev/null; done
"$bin" models promote soak 1 >/dev/null

# One request body from the test data.
python3 - data/characters.csv "$work/body.json" <<'PY'
import csv, json, sys
row = next(csv.DictReader(open(sys.argv[1], newline="", encoding="utf-8")))
rec = {k: v for k, v in row.items() if k != "ALIVE"}
for k in ("APPEARANCES", "Year", "page_id"):
    rec[k] = float(rec[k]) if rec[k] else None
json.dump({"dataframe_records": [rec]}, open(sys.argv[2], "w"))
PY
cat >"$work/load.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open(os.getenv("BODY_FILE")))
wrk.body = f:read("*a")
f:close()
local pause = tonumber(os.getenv("DELAY_MS") or "0")
if pause > 0 then function delay() return pause end end
LUA

"$bin" serve --bind 127.0.0.1:0 >"$work/serve.out" 2>"$work/serve.err" &
serve_pid=$!
for _ in $(seq 200); do grep -q "listening on" "$work/serve.out" 2>/dev/null && break; sleep 0.1; done
base="$(sed -n 's/^listening on //p' "$work/serve.out" | head -1)"
[ -n "$base" ] || { echo "the endpoint did not start:" >&2; cat "$work/serve.err" >&2; exit 1; }
curl -sf -H 'Content-Type: application/json' --data @"$work/body.json" "$base/invocations" >/dev/null ||
    { echo "the endpoint does not answer" >&2; exit 1; }
warmup=1

"$bin" agent --poll-ms 500 >"$work/agent.out" 2>"$work/agent.err" &
agent_pid=$!

end=$(( $(date +%s) + duration ))
# Loops: each appends one line per finished command to its own count file (ok / fail).
loop() { # NAME COMMAND...
    local name="$1"; shift
    while [ "$(date +%s)" -lt "$end" ]; do
        if "$@" >>"$work/counts/$name.out" 2>>"$work/counts/$name.err"; then
            echo ok >>"$work/counts/$name"
        else
            echo fail >>"$work/counts/$name"
        fi
    done
}
train_and_register() {
    local run
    run="$("$bin" train --model tree --set max_depth=$(( RANDOM % 6 + 3 )) --json |
        python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["run"]["run_id"])')" || return 1
    echo "$run" >>"$work/counts/trained_runs"
    "$bin" models register "$run" --name soak >/dev/null || return 1
    echo "$run" >>"$work/counts/registered_runs"
}
promote_some() {
    local n
    n="$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT max(version) FROM model_versions WHERE name = ?", ("soak",)).fetchone()[0])' .cerebro/cerebro.db)"
    "$bin" models promote soak $(( RANDOM % n + 1 )) --force --reason soak >/dev/null
}

echo "== $(date -u +%FT%TZ) soaking for ${duration}s: load ($conns connections, ${delay_ms} ms apart), training+registering, 2 promoters, 2 ingesters, an agent" >&2
BODY_FILE="$work/body.json" DELAY_MS="$delay_ms" timeout $(( duration + 30 )) \
    wrk -t1 -c"$conns" -d"${duration}s" -s "$work/load.lua" "$base/invocations" >"$work/wrk.out" 2>&1 &
wrk_pid=$!
loop writer train_and_register & pids+=($!)
loop promoter1 promote_some & pids+=($!)
loop promoter2 promote_some & pids+=($!)
loop ingester1 "$bin" monitor ingest & pids+=($!)
loop ingester2 "$bin" monitor ingest & pids+=($!)
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
wait "$wrk_pid" || true
for p in "${pids[@]}"; do wait "$p" || true; done
pids=()
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

# The endpoint's own count of 200s (wrk stops with up to CONNS requests in flight: answered and
# logged by the server, never read by wrk).
curl -sf "$base/metrics" >"$work/metrics.txt" || true
echo "== $(date -u +%FT%TZ) stopping: SIGTERM to the endpoint and the agent, a last ingestion" >&2
kill -TERM "$serve_pid"; wait "$serve_pid" || true; serve_pid=""
kill -TERM "$agent_pid"; wait "$agent_pid" || true; agent_pid=""
"$bin" monitor ingest --json >"$work/last_ingest.json"
"$bin" monitor status --json --no-refresh >"$work/status.json"

python3 - "$work" "$ws" "$warmup" "$load_before" "$load_after" "$duration" "$conns" "$delay_ms" <<'PY'
import glob, json, os, re, sqlite3, sys
work, ws, warmup = sys.argv[1], sys.argv[2], int(sys.argv[3])
load_before, load_after, duration, conns, delay = sys.argv[4:9]
def count(name, what="ok"):
    p = os.path.join(work, "counts", name)
    return sum(1 for l in open(p) if l.strip() == what) if os.path.exists(p) else 0
def lines(name):
    p = os.path.join(work, "counts", name)
    return sum(1 for _ in open(p)) if os.path.exists(p) else 0
wrk = open(os.path.join(work, "wrk.out")).read()
m = re.search(r"(\d+) requests in", wrk)
if not m:
    print(wrk); sys.exit("no wrk result")
answered = int(m.group(1))
bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", wrk)
non2xx = int(bad.group(1)) if bad else 0
errors = re.search(r"Socket errors: (.*)", wrk)
ok200 = answered - non2xx + warmup
served200 = sum(int(float(l.rsplit(" ", 1)[1])) for l in open(os.path.join(work, "metrics.txt"))
                if l.startswith("cerebro_requests_total{") and 'status="200"' in l)
logged = sum(sum(1 for _ in open(f)) for f in glob.glob(os.path.join(ws, "data/inference/**/*.jsonl"), recursive=True))
status = json.load(open(os.path.join(work, "status.json")))
ingested, corrupt = status["lines"], status["corrupt_lines"]
db = sqlite3.connect(os.path.join(ws, ".cerebro/cerebro.db"))
integrity = "\n".join(r[0] for r in db.execute("PRAGMA integrity_check"))
prod = db.execute("SELECT version FROM model_versions WHERE name = 'soak' AND stage = 'Production'").fetchall()
last_prod = db.execute("SELECT version FROM registry_audit WHERE name = 'soak' AND to_stage = 'Production' ORDER BY id DESC LIMIT 1").fetchone()
running = db.execute("SELECT count(*) FROM runs WHERE status = 'RUNNING'").fetchone()[0]
trained = [l.strip() for l in open(os.path.join(work, "counts", "trained_runs"))] if os.path.exists(os.path.join(work, "counts", "trained_runs")) else []
finished = sum(db.execute("SELECT count(*) FROM runs WHERE run_id = ? AND status = 'FINISHED'", (r,)).fetchone()[0] for r in trained)
versions = db.execute("SELECT count(*) FROM model_versions WHERE name = 'soak'").fetchone()[0]
registered = lines("registered_runs")
promotions = count("promoter1") + count("promoter2")
promoted = db.execute("SELECT count(*) FROM registry_audit WHERE name = 'soak' AND to_stage = 'Production'").fetchone()[0]
archived = db.execute("SELECT count(*) FROM registry_audit WHERE name = 'soak' AND action = 'archive' AND from_stage = 'Production'").fetchone()[0]
pipeline_runs = db.execute("SELECT count(*), sum(status = 'SUCCEEDED') FROM pipeline_runs").fetchone()
checks = [
    ("integrity_check = ok", integrity == "ok", integrity),
    ("exactly one Production version, the one the audit trail last moved there", len(prod) == 1 and last_prod is not None and prod[0][0] == last_prod[0], f"Production: {[p[0] for p in prod]}, last audited promotion: {last_prod[0] if last_prod else None}"),
    ("answered 200s = inference log lines", served200 == logged and ok200 <= logged <= ok200 + int(conns), f"{served200:,} answered 200 by the endpoint ({ok200:,} read by the clients: wrk {answered:,} - {non2xx} non-2xx + {warmup} warm-up; the rest were in flight when wrk stopped), {logged:,} lines"),
    ("log lines = records ingested, none corrupt", logged == ingested and corrupt == 0, f"{logged:,} lines, {ingested:,} ingested, {corrupt} corrupt"),
    ("no run left RUNNING; every trained run FINISHED", running == 0 and finished == len(trained), f"{len(trained)} trained, {finished} FINISHED, {running} RUNNING"),
    ("versions = 2 + registrations", versions == 2 + registered, f"{versions} versions, {registered} registered during the soak"),
    ("audited Production moves = promotions (+1 at set-up), each after the first archiving its predecessor", promoted == promotions + 1 and archived == promoted - 1, f"{promoted} moves to Production audited, {promotions} promote commands succeeded, {archived} predecessors archived"),
]
print(f"soak: {duration} s, wrk {conns} connections {delay} ms apart; load average {load_before} before, {load_after} after")
print(f"  endpoint: {answered:,} requests answered ({answered/float(duration):,.0f}/s), {non2xx} non-2xx, socket errors: {errors.group(1) if errors else 'none'}")
print(f"  writers: {len(trained)} training jobs, {registered} registrations (failures: train+register {count('writer', 'fail')}), "
      f"{promotions} promotions (refused or failed: {count('promoter1', 'fail') + count('promoter2', 'fail')})")
print(f"  ingesters: {count('ingester1') + count('ingester2')} passes ({count('ingester1', 'fail') + count('ingester2', 'fail')} failed); agent: {pipeline_runs[0]} pipeline runs, {pipeline_runs[1] or 0} SUCCEEDED")
failed = 0
for name, ok, detail in checks:
    print(f"  {'ok  ' if ok else 'FAIL'} {name}: {detail}")
    failed += not ok
sys.exit(1 if failed else 0)
PY
