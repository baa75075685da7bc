#!/usr/bin/env bash
# Explanations on one raw record: latency of `?explain=true` against the plain prediction of the
# same record, side by side in one run, for every model kind (tree depth 8, forest of 100, logistic,
# gbt of 1000 trees of depth 6: the demo config's settings), each served by `cerebro serve`
# (release build, inference log on) on loopback.
#
#   wrk -t1 -c1 -d${DURATION}s --latency: one connection, a request as soon as the last answered,
#   so the latency is one request's (wrk shares the 2 cores with the server).
#
# Prints per kind: p50 and p99 of the plain and the explained request, their requests/s, and the
# ratio of the p99s. Bounded: DURATION (default 5) seconds per wrk run, 8 runs. Data: the demo
# file data/characters.csv (the repository's own).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
duration="${DURATION:-5}"
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
(cd "$root" && cargo build --release --quiet)
bin="$root/target/release/cerebro"
work="$(mktemp -d)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
cp "$root/config.toml" "$work/config.toml"; mkdir -p "$work/data"; cp "$root/data/characters.csv" "$work/data/"
cd "$work"
"$bin" data prepare >/dev/null
# One raw row of the demo file, as an application holds it.
python3 - "$work/data/characters.csv" "$work/body.json" <<'PY'
import csv, json, sys
with open(sys.argv[1], newline="") as f:
    row = next(csv.DictReader(f))
rec = {k: (v if v != "" else None) for k, v in row.items()}
for k in ("APPEARANCES", "Year"):
    rec[k] = float(rec[k]) if rec[k] is not None else None
json.dump({"dataframe_records": [rec]}, open(sys.argv[2], "w"))
PY
wrk_run() { # URL -> "rps p50_ms p99_ms non_2xx"
    local out
    out="$(BODY_FILE="$work/body.json" DELAY_MS=0 wrk -t1 -c1 -d"${duration}s" --latency \
        -s "$here/serving_wrk.lua" "$1")"
    python3 - "$out" <<'PY'
import re, sys
out = sys.argv[1]
def ms(t):
    v, u = re.match(r"([\d.]+)(us|ms|s)", t).groups()
    return float(v) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[u]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
p50 = ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
p99 = ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
print(rps, p50, p99, int(bad.group(1)) if bad else 0)
PY
}
echo "commit $(git -C "$root" rev-parse --short HEAD); $(date -u +%FT%TZ); $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-9s %12s %12s %12s %12s %10s %10s %8s\n' kind "plain p50" "plain p99" "explain p50" "explain p99" "plain/s" "explain/s" non-2xx
for kind in tree forest logistic gbt; do
    run="$("$bin" train --model "$kind" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["run"]["run_id"])')"
    "$bin" models register "$run" --name "chars-$kind" >/dev/null
    "$bin" models promote "chars-$kind" 1 --force --reason bench >/dev/null
    "$bin" serve --model "chars-$kind" --bind 127.0.0.1:0 >"$work/serve.out" 2>"$work/serve.err" &
    pid=$!
    for _ in $(seq 100); do grep -q "listening on" "$work/serve.out" 2>/dev/null && break; sleep 0.1; done
    url="$(sed -n 's/^listening on //p' "$work/serve.out" | head -1)/invocations"
    # The answer must carry an explanation that adds up, or the figure means nothing.
    curl -sf -H 'Content-Type: application/json' --data-binary @"$work/body.json" "$url?explain=true" |
        python3 -c '
import json, sys
e = json.load(sys.stdin)["explanations"][0]
total = e["base_value"] + sum(e["contributions"].values())
assert abs(total - e["raw_score"]) < 1e-9, e
print("   ", sys.argv[1], "explanation:", {k: round(v, 4) for k, v in e["contributions"].items()}, file=sys.stderr)' "$kind"
    read -r prps pp50 pp99 pbad < <(wrk_run "$url")
    read -r erps ep50 ep99 ebad < <(wrk_run "$url?explain=true")
    printf '%-9s %9.3f ms %9.3f ms %9.3f ms %9.3f ms %10.0f %10.0f %8s\n' "$kind" "$pp50" "$pp99" "$ep50" "$ep99" "$prps" "$erps" "$((pbad + ebad))"
    kill -TERM "$pid"; wait "$pid" || true; pid=""
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
