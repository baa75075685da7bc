#!/usr/bin/env bash
# The TUI on an MLflow tracking server with 10,000 runs (issue 8: "first page on screen within
# 500 ms on loopback", responsive while the rest loads). bench/mlflow_list.sh's server: a fresh
# `mlflow server` (SQLite backend, artifact proxy) on 127.0.0.1 holding RUNS (default 10,000)
# finished runs; then REPS (default 5) launches of the release `cerebro --tracking-uri URI tui`
# in a 200x60 pseudo-terminal (bench/tui_mlflow_pty.py, pyte as the terminal), as medians:
#
#   first frame             spawn to the tab bar on screen
#   first frame with runs   spawn to the newest run's row (the first page: the newest 100)
#   every run loaded        spawn to the table title `Runs N/N` (10 searches of 1,000)
#   tab switch              `4` (Endpoints) sent during the background read, to its text on screen;
#   and back                `2`, to the runs table again; one pair every ~0.5 s until all loaded
#
# Then the dead server: a launch on a port with no server, and a launch whose server is
# stopped once the first page is on screen (while the rest is read). Each prints what the
# screen showed, whether the process exited 0 without a panic and restored the terminal.
# Uses target/release/cerebro (built here) unless CEREBRO_BIN names another binary.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
reps="${REPS:-5}"
if [ -z "${CEREBRO_BIN:-}" ]; then
    (cd "$root" && cargo build -q --release --bin cerebro)
    export CEREBRO_BIN="$root/target/release/cerebro"
fi

# Server start, population and workspace: sets $venv, $runs, $bin, $work, $uri, $server_pid
# and the EXIT trap that stops the server.
MLFLOW_SERVER_ONLY=1
# shellcheck source=bench/mlflow_list.sh
source "$here/mlflow_list.sh"
"$venv/bin/python" -c 'import pyte' 2>/dev/null ||
    "$venv/bin/pip" install -q --disable-pip-version-check pyte
py=("$venv/bin/python" "$here/tui_mlflow_pty.py")
config="$work/ws/config.toml"

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
"$bin" --config "$config" --tracking-uri "$uri" runs list --json --limit 100 >/dev/null # warm up
"${py[@]}" speed "$bin" "$config" "$uri" "$runs" "$reps"
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) after the launches"

if [ -z "${SKIP_DEAD:-}" ]; then
    dead_port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    "${py[@]}" dead-at-launch "$bin" "$config" "http://127.0.0.1:$dead_port"
    # Stops the server (its process group); the EXIT trap then finds it gone.
    "${py[@]}" dead-mid-session "$bin" "$config" "$uri" "$runs" "$server_pid"
fi
