#!/usr/bin/env bash
# TUI speed figures (issue 6): per-tab render time at 200x60 and the Experiments tab's filter,
# sort and scroll on 100,000 runs (criterion), then the real release binary in a
# pseudo-terminal: launch to the first frame and to the first frame with runs on 10,000 runs /
# 1,000,000 metric points and on 100,000 runs, idle CPU and resident memory, bytes written per
# idle minute and per key press. Each figure is printed as a median; see benches/tui.rs.
# Usage: bench/tui_speed.sh [SECTION...]   sections: render scale launch idle (default: all)
#        TUI_BENCH_IDLE_SECS=60            length of the idle measurement
set -euo pipefail
cd "$(dirname "$0")/.."
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
cargo bench --bench tui -- "$@" 2>&1 | grep -E '^(tui|built)|time:|^tui_' || true
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
