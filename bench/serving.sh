#!/usr/bin/env bash
# Serving throughput and latency on loopback: `cerebro serve` (release build, inference log on)
# against `mlflow models serve` (scikit-learn depth-8 tree pipeline, one uvicorn worker), both
# trained on the Marvel wikia data and asked for the same one-row `dataframe_records` prediction,
# one after the other in the same run so they never compete for the cores.
#
#   load:      wrk -t1 -c$CONNS -d${DURATION}s --latency (Debian package `wrk`)
#   fixed rate: wrk with 10 connections each pausing 10 ms between requests (about 1,000 req/s),
#              for cerebro only (the peer cannot sustain that rate).
#   open loop: `cerebro simulate --rate 1000` (requests sent on schedule whatever the replies,
#              records drawn from the test set, late sends counted), for cerebro only.
#   pipeline:  the same wrk load on the demo workspace (config.toml, data/characters.csv), whose
#              [[prepare]] steps (keyword buckets on `name`, flags, fills) run on every request:
#              one raw row of the demo file as an application holds it, a depth-8 tree.
#   peer:      bench/mlflow_serve_model.py in the venv $CEREBRO_SERVING_VENV (default
#              /root/.cache/cerebro/mlflow-3.17.2; `pip install mlflow scikit-learn` there on
#              first use); SKIP_MLFLOW=1 measures cerebro only.
#
# Prints requests/s, p50 and p99 latency of each, the ratio, the paced run, and checks that every
# answered cerebro request reached the inference log. Bounded: DURATION (default 10) seconds per
# wrk run. Data: MARVEL_CSV, default ../shared/data/marvel-wikia-data.csv; skipped if absent.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
venv="${CEREBRO_SERVING_VENV:-/root/.cache/cerebro/mlflow-3.17.2}"
data="${MARVEL_CSV:-$root/../shared/data/marvel-wikia-data.csv}"
duration="${DURATION:-10}"
conns="${CONNS:-8}"

if [ ! -f "$data" ]; then
    echo "skipped: $data not found (set MARVEL_CSV)"
    exit 0
fi
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
data="$(cd "$(dirname "$data")" && pwd)/$(basename "$data")"

work="$(mktemp -d)"
cerebro_pid=""
mlflow_pid=""
cleanup() {
    [ -n "$cerebro_pid" ] && kill "$cerebro_pid" 2>/dev/null || true
    [ -n "$mlflow_pid" ] && kill -- "-$mlflow_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# Runs wrk; prints "req_per_s p50_ms p99_ms requests non_2xx".
wrk_run() { # URL BODY_FILE CONNECTIONS DELAY_MS
    local out
    out="$(BODY_FILE="$2" DELAY_MS="$4" wrk -t1 -c"$3" -d"${duration}s" --latency \
        -s "$here/serving_wrk.lua" "$1")"
    echo "$out" >&2
    python3 - "$out" <<'PY'
import re, sys
out = sys.argv[1]
def ms(text):
    v, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
    return float(v) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
p50 = ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
p99 = ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
n = int(re.search(r"(\d+) requests in", out).group(1))
bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
print(rps, p50, p99, n, int(bad.group(1)) if bad else 0)
PY
}

# --- cerebro -------------------------------------------------------------------------------------
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "== building cerebro (release)" >&2
(cd "$root" && cargo build --release --quiet)
target_dir="$(cd "$root" && cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
bin="$target_dir/release/cerebro"

mkdir -p "$work/cerebro"
cp "$here/marvel.toml" "$work/cerebro/config.toml"
ln -s "$data" "$work/cerebro/marvel-wikia-data.csv"
cd "$work/cerebro"
echo "== training a depth-8 tree and promoting it" >&2
"$bin" data prepare >/dev/null
run="$("$bin" train --model tree --set max_depth=8 --json |
    python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["run"]["run_id"])')"
"$bin" models register "$run" --name marvel >/dev/null
"$bin" models promote marvel 1 >/dev/null

# One row of the data, the same for both servers (cerebro's also carries the record id).
python3 - "$data" "$work" <<'PY'
import csv, json, sys
cat = ["ID", "ALIGN", "EYE", "HAIR", "SEX", "GSM"]
num = ["APPEARANCES", "Year"]
with open(sys.argv[1], newline="", encoding="utf-8") as f:
    row = next(r for r in csv.DictReader(f) if r["ALIVE"])
rec = {c: (row[c] or "Unknown") for c in cat}
rec.update({c: (float(row[c]) if row[c] else None) for c in num})
json.dump({"dataframe_records": [rec]}, open(f"{sys.argv[2]}/mlflow.json", "w"))
rec["page_id"] = row["page_id"]
json.dump({"dataframe_records": [rec]}, open(f"{sys.argv[2]}/cerebro.json", "w"))
PY

"$bin" serve --model marvel --bind 127.0.0.1:0 >"$work/serve.out" 2>"$work/serve.err" &
cerebro_pid=$!
for _ in $(seq 100); do
    grep -q "listening on" "$work/serve.out" 2>/dev/null && break
    sleep 0.1
done
url="$(sed -n 's/^listening on //p' "$work/serve.out" | head -1)/invocations"
python3 - "$url" "$work/cerebro.json" <<'PY'
import sys, urllib.request
req = urllib.request.Request(sys.argv[1], data=open(sys.argv[2], "rb").read(),
                             headers={"Content-Type": "application/json"})
print("   cerebro answers:", urllib.request.urlopen(req).read().decode(), file=sys.stderr)
PY
echo "== cerebro: wrk -t1 -c$conns -d${duration}s" >&2
read -r c_rps c_p50 c_p99 c_n c_bad < <(wrk_run "$url" "$work/cerebro.json" "$conns" 0)
echo "== cerebro: paced, 10 connections x 1 request per 10 ms" >&2
read -r f_rps f_p50 f_p99 f_n f_bad < <(wrk_run "$url" "$work/cerebro.json" 10 10)
echo "== cerebro: open loop, cerebro simulate --rate 1000 --duration $duration" >&2
"$bin" simulate --endpoint "$url" --rate 1000 --duration "$duration" --no-labels --json \
    >"$work/simulate.json" || true
kill -TERM "$cerebro_pid"
wait "$cerebro_pid" || true
cerebro_pid=""
logged="$(cat "$work"/cerebro/data/inference/marvel/*.jsonl | wc -l)"

# --- cerebro, the demo pipeline: raw records through the [[prepare]] steps ----------------------
echo "== demo pipeline: a depth-8 tree on data/characters.csv, one raw row" >&2
mkdir -p "$work/demo/data"
cp "$root/config.toml" "$work/demo/config.toml"
cp "$root/data/characters.csv" "$work/demo/data/"
cd "$work/demo"
"$bin" data prepare >/dev/null
run="$("$bin" train --model tree --set max_depth=8 --json |
    python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["run"]["run_id"])')"
"$bin" models register "$run" --name chars >/dev/null
"$bin" models promote chars 1 --force --reason bench >/dev/null
python3 - "$work/demo/data/characters.csv" "$work/demo.json" <<'PY'
import csv, json, sys
with open(sys.argv[1], newline="") as f:
    row = next(csv.DictReader(f))
rec = {k: (v if v != "" else None) for k, v in row.items()}
for k in ("APPEARANCES", "Year"):
    rec[k] = float(rec[k]) if rec[k] is not None else None
json.dump({"dataframe_records": [rec]}, open(sys.argv[2], "w"))
PY
"$bin" serve --model chars --bind 127.0.0.1:0 >"$work/demo.out" 2>"$work/demo.err" &
cerebro_pid=$!
for _ in $(seq 100); do
    grep -q "listening on" "$work/demo.out" 2>/dev/null && break
    sleep 0.1
done
durl="$(sed -n 's/^listening on //p' "$work/demo.out" | head -1)/invocations"
echo "== cerebro (demo pipeline): wrk -t1 -c$conns -d${duration}s" >&2
read -r d_rps d_p50 d_p99 d_n d_bad < <(wrk_run "$durl" "$work/demo.json" "$conns" 0)
kill -TERM "$cerebro_pid"
wait "$cerebro_pid" || true
cerebro_pid=""
cd "$work"

# --- mlflow --------------------------------------------------------------------------------------
m_rps=""
if [ "${SKIP_MLFLOW:-0}" != 1 ]; then
    if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import mlflow, sklearn' 2>/dev/null; then
        echo "== creating $venv and installing mlflow + scikit-learn (once; takes a few minutes)" >&2
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet mlflow scikit-learn >&2
    fi
    echo "== mlflow: logging the scikit-learn pipeline" >&2
    mkdir -p "$work/mlflow"
    uri="$("$venv/bin/python" "$here/mlflow_serve_model.py" "$data" "$work/mlflow" 2>/dev/null | tail -1)"
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    MLFLOW_TRACKING_URI="sqlite:///$work/mlflow/mlflow.db" PATH="$venv/bin:$PATH" \
        setsid "$venv/bin/mlflow" models serve -m "$uri" --env-manager local \
        -h 127.0.0.1 -p "$port" >"$work/mlflow.log" 2>&1 &
    mlflow_pid=$!
    for _ in $(seq 240); do
        python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/ping')" \
            2>/dev/null && break
        sleep 0.5
    done
    python3 - "http://127.0.0.1:$port/invocations" "$work/mlflow.json" <<'PY'
import sys, urllib.request
req = urllib.request.Request(sys.argv[1], data=open(sys.argv[2], "rb").read(),
                             headers={"Content-Type": "application/json"})
print("   mlflow answers:", urllib.request.urlopen(req).read().decode(), file=sys.stderr)
PY
    echo "== mlflow: wrk -t1 -c$conns -d${duration}s" >&2
    read -r m_rps m_p50 m_p99 m_n m_bad < <(wrk_run "http://127.0.0.1:$port/invocations" \
        "$work/mlflow.json" "$conns" 0)
    kill -- "-$mlflow_pid" 2>/dev/null || true
    mlflow_pid=""
fi

# --- report --------------------------------------------------------------------------------------
echo "commit $(git -C "$root" rev-parse --short HEAD); $(date -u +%FT%TZ); $(nproc) cores; load average $load_before at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
python3 - "$conns" "$duration" "$c_rps" "$c_p50" "$c_p99" "$c_n" "$c_bad" "$f_rps" "$f_p50" \
    "$f_p99" "$f_bad" "$logged" "${m_rps:-}" "${m_p50:-}" "${m_p99:-}" "${m_bad:-}" \
    "$work/simulate.json" "$d_rps" "$d_p50" "$d_p99" "$d_bad" <<'PY'
import sys
a = sys.argv[1:]
d_rps, d_p50, d_p99, d_bad = float(a[17]), float(a[18]), float(a[19]), a[20]
conns, dur = a[0], a[1]
c_rps, c_p50, c_p99 = map(float, a[2:5])
c_n, c_bad = int(a[5]), int(a[6])
f_rps, f_p50, f_p99 = map(float, a[7:10])
f_bad, logged = int(a[10]), int(a[11])
print(f"one-row predictions, wrk -t1 -c{conns} -d{dur}s on loopback:")
print(f"  cerebro  {c_rps:>10,.0f} req/s  p50 {c_p50:7.3f} ms  p99 {c_p99:7.3f} ms  non-2xx {c_bad}")
print(f"  cerebro, demo pipeline (raw row through [[prepare]]) {d_rps:>10,.0f} req/s  p50 {d_p50:7.3f} ms  p99 {d_p99:7.3f} ms  non-2xx {d_bad}")
if a[12]:
    m_rps, m_p50, m_p99 = map(float, a[12:15])
    print(f"  mlflow   {m_rps:>10,.0f} req/s  p50 {m_p50:7.3f} ms  p99 {m_p99:7.3f} ms  non-2xx {a[15]}")
    print(f"  ratio    cerebro serves {c_rps / m_rps:,.0f}x the requests per second")
print(f"cerebro at a fixed rate (10 connections, 10 ms apart): {f_rps:,.0f} req/s, "
      f"p50 {f_p50:.3f} ms, p99 {f_p99:.3f} ms, non-2xx {f_bad}")
try:
    import json
    sim = json.load(open(a[16]))
    print(f"cerebro open loop (cerebro simulate, 1,000 req/s scheduled): {sim['achieved_rate']:,.0f} req/s "
          f"achieved, p50 {sim['latency_p50_ms']:.3f} ms, p99 {sim['latency_p99_ms']:.3f} ms, "
          f"sent {sim['sent']:,}, errors {sim['errors']}, late (>10 ms) {sim['late']:,}")
except Exception as e:
    print(f"cerebro open loop: no result ({e})")
print(f"cerebro inference log: {logged:,} lines after SIGTERM (wrk counted {c_n:,} + paced + open-loop requests)")
PY
