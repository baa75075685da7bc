#!/usr/bin/env bash
# Scheduler overhead: an idle `cerebro agent` with 100 scheduled pipelines (hourly, so none comes
# due during the measurement), CPU time read from /proc/<pid>/stat over SECONDS seconds, printed
# as % of one core. Two cases: schedules only, and the same with an alert trigger on every
# pipeline (the agent then polls the store every --poll-ms, 2000 by default).
# Usage: bench/agent_idle.sh [SECONDS=30] [PIPELINES=100]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
n=${2:-100}
# The dev profile (opt-level 1) by default: an upper bound for a release build's figure.
# CEREBRO_BIN=target/release/cerebro measures another build.
if [ -z "${CEREBRO_BIN:-}" ]; then
  cargo build -q --bin cerebro
fi
bin=$(realpath "${CEREBRO_BIN:-target/debug/cerebro}")
tick=$(getconf CLK_TCK)

measure() { # $1 = label, $2 = trigger line for each pipeline ("" for none)
  local dir
  dir=$(mktemp -d)
  {
    printf '[dataset]\npath = "data.csv"\ntarget = "y"\npositive = "yes"\nnumeric = ["num"]\n\n'
    for i in $(seq 1 "$n"); do
      printf '[pipelines.p%03d]\nschedule = { every = "1h" }\n%s\n' "$i" "$2"
      printf '[[pipelines.p%03d.steps]]\nname = "s"\nkind = "command"\nprogram = "true"\n\n' "$i"
    done
  } >"$dir/config.toml"
  printf 'num,y\n1,yes\n2,no\n' >"$dir/data.csv"
  "$bin" --config "$dir/config.toml" agent 2>"$dir/agent.err" &
  local pid=$!
  sleep 3 # start-up (migrations, first look at the triggers) is not idling
  local t0 t1
  t0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  sleep "$secs"
  t1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  local threads
  threads=$(awk '/^Threads/ {print $2}' "/proc/$pid/status")
  kill -TERM "$pid"
  wait "$pid" || true
  python3 - "$1" "$t0" "$t1" "$tick" "$secs" "$threads" <<'EOF'
import sys
label, t0, t1, tick, secs, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
cpu = (t1 - t0) / tick
print(f"{label:<52} {cpu:6.2f} s CPU in {secs:.0f} s = {100 * cpu / secs:5.2f} % of a core ({threads} threads)")
EOF
  rm -rf "$dir"
}

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
measure "idle agent, $n hourly pipelines" ""
measure "idle agent, $n hourly pipelines + alert trigger each" 'triggers = [{ on = "alert", kinds = ["dataset_drift"] }]'
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
