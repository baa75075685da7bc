#!/usr/bin/env bash
# Listing runs from a local MLflow tracking server through cerebro's MLflow backend: 10,000
# finished runs (5 metrics, 3 params, tags each) in a fresh `mlflow server` (SQLite backend,
# artifact proxy) on 127.0.0.1, then REPS (default 7) timings of each, as medians:
#
#   first page   `cerebro runs list --json --limit 100`   (a screenful; what a front end shows first)
#   first 1,000  `cerebro runs list --json --limit 1000`  (one page of the backend's search)
#   all pages    `cerebro runs list --json`                (10 pages of 1,000)
#
# Each timing is a whole process (start-up, experiment lookup, the search, JSON out), measured
# with the binary at target/debug/cerebro (the dev profile is opt-level 1) unless CEREBRO_BIN
# names another. mlflow comes from bench/.venv (created by bench/tracking.sh, or here on first
# use). Prints the medians and the machine's load average.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
venv="$here/.venv"
runs="${RUNS:-10000}"
reps="${REPS:-7}"
bin="${CEREBRO_BIN:-$root/target/debug/cerebro}"

if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import mlflow' 2>/dev/null; then
    echo "== creating $venv and installing mlflow (once)" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check mlflow
fi
if [ -z "${CEREBRO_BIN:-}" ]; then
    (cd "$root" && cargo build -q)
fi

work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then
        kill -TERM -- "-$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

echo "== $runs runs into $work/mlflow.db" >&2
"$venv/bin/python" "$here/mlflow_populate.py" "$work/mlflow.db" "$runs" "$work/artifacts" >/dev/null 2>&1

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
uri="http://127.0.0.1:$port"
echo "== mlflow server on $uri" >&2
# MLflow 3's background job runners (busy processes unrelated to tracking) stay off.
MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false \
    setsid "$venv/bin/python" -m mlflow server --host 127.0.0.1 --port "$port" --workers 1 \
    --backend-store-uri "sqlite:///$work/mlflow.db" --artifacts-destination "$work/artifacts" \
    --serve-artifacts >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 480); do
    curl -sf "$uri/health" >/dev/null 2>&1 && break
    sleep 0.25
done
curl -sf "$uri/health" >/dev/null || { cat "$work/server.log" >&2; exit 1; }

# A workspace for the config (the runs live on the server).
"$bin" init "$work/ws" >/dev/null
# bench/tui_mlflow.sh sources this script for the populated server alone.
if [ -n "${MLFLOW_SERVER_ONLY:-}" ]; then return 0; fi

# Seconds of one `cerebro runs list` with extra args; checks the count of runs printed.
time_list() {
    local want="$1"; shift
    local t0 t1 n
    t0="$(date +%s.%N)"
    n="$("$bin" --config "$work/ws/config.toml" runs list --json --tracking-uri "$uri" "$@" |
        python3 -c 'import json, sys; print(len(json.load(sys.stdin)))')"
    t1="$(date +%s.%N)"
    [ "$n" = "$want" ] || { echo "expected $want runs, got $n" >&2; exit 1; }
    python3 -c "print($t1 - $t0)"
}

median() { python3 -c 'import statistics, sys; print(f"{statistics.median(map(float, sys.argv[1:])) * 1000:.0f} ms")' "$@"; }

time_list 100 --limit 100 >/dev/null # warm the server's caches once
first=(); page=(); all=()
for _ in $(seq 1 "$reps"); do
    first+=("$(time_list 100 --limit 100)")
    page+=("$(time_list 1000 --limit 1000)")
    all+=("$(time_list "$runs")")
done

echo "runs on the server:        $runs"
echo "first page (100 runs):     $(median "${first[@]}")   (median of $reps)"
echo "first 1,000 runs:          $(median "${page[@]}")"
echo "all $runs runs:          $(median "${all[@]}")"
echo "load average:              $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
