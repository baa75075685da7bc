#!/usr/bin/env bash
# Checks that `cerebro monitor report` renders in a real browser: builds a throwaway workspace
# (a small learnable dataset, a trained and registered tree, three 1-minute windows of
# inference-log lines in the serving log format: like the training data, `num` scaled x1.5, like
# again, and a labels file per window), writes the report, loads it in headless Chromium and asserts on the rendered DOM
# (per-feature histograms, drift-over-time and quality-over-time charts, the alerts table) and on
# a screenshot (not blank: many distinct colours).
#
# Needs chromium (`apt-get install chromium`). Usage: bench/check_report.sh [OUT_DIR]
# (default: a temporary folder, printed; the report and the screenshot stay there).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
chrome=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
[ -n "$chrome" ] || { echo "chromium not found: apt-get install chromium" >&2; exit 2; }
cargo build -q --bin cerebro
bin="$repo/target/debug/cerebro"
out=${1:-$(mktemp -d)}
mkdir -p "$out"
ws="$out/workspace"
rm -rf "$ws" && mkdir -p "$ws/data/inference/ep"
cd "$ws"

cat > config.toml <<'EOF'
[dataset]
path = "data.csv"
id = "id"
target = "y"
positive = "yes"
numeric = ["num"]
categorical = ["cat"]

[train]
experiment = "report-check"

[monitoring]
granularities = ["1m", "1h"]

[[monitoring.alerts]]
name = "num-drift"
kind = "feature_drift"
feature = "num"
granularity = "1m"
EOF
awk 'BEGIN { print "id,num,cat,y"; split("a b c", c, " ");
  for (i = 0; i < 800; i++) { n = (i * 37 % 101) / 10; k = c[i % 3 + 1];
    y = (n > 5 || (k == "a" && i % 4 == 0)) ? "yes" : "no"; printf "%d,%s,%s,%s\n", i, n, k, y } }' > data.csv
run=$("$bin" train --json --model tree --max-parallel 1 | python3 -c \
  'import json,sys; v=json.load(sys.stdin); v=v[0] if isinstance(v,list) else v; print(v["run"]["run_id"])')
"$bin" models register "$run" --name m >/dev/null

# Three minutes of traffic (window starts aligned to the minute).
t0=1699999980000
for w in "a 0 1.0" "b 1 1.5" "c 2 1.0"; do
  set -- $w
  awk -v tag="$1" -v minute="$2" -v scale="$3" -v t0="$t0" 'BEGIN { split("a b c", c, " ");
    for (i = 0; i < 400; i++) { n = (i * 37 % 101) / 10 * scale; p = n / 10; if (p > 1) p = 1;
      printf "{\"request_id\":\"%s-r%d\",\"client_request_id\":null,\"timestamp_ms\":%.0f,\"endpoint\":\"ep\",\"model\":\"m\",\"version\":1,\"arm\":\"champion\",\"status\":200,\"latency_us\":%d,\"inputs\":[{\"id\":\"%s-%d\",\"num\":%s,\"cat\":\"%s\"}],\"predictions\":[%d],\"probabilities\":[%s],\"unseen_categories\":0}\n",
        tag, i, t0 + minute * 60000 + (i * 97) % 60000, 1000 + i, tag, i, n, c[i % 3 + 1], (p >= 0.5), p } }' \
    >> data/inference/ep/0001.jsonl
  # Ground truth for the window's records arrives in the labels folder (as predicted, but for
  # every fifth record).
  mkdir -p data/labels
  awk -v tag="$1" -v scale="$3" 'BEGIN { print "id,label";
    for (i = 0; i < 400; i++) { n = (i * 37 % 101) / 10 * scale; p = n / 10;
      yes = (p >= 0.5); if (i % 5 == 0) yes = !yes; printf "%s-%d,%s\n", tag, i, yes ? "yes" : "no" } }' \
    > "data/labels/$1.csv"
  "$bin" monitor ingest >/dev/null
done
"$bin" monitor report --window 1m --out "$out/report.html"

dom="$out/report.dom.html"
"$chrome" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
  --dump-dom "file://$out/report.html" > "$dom" 2>/dev/null
"$chrome" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --hide-scrollbars \
  --window-size=1280,2400 --screenshot="$out/report.png" "file://$out/report.html" >/dev/null 2>&1

fail=0
check() { # name, pattern, minimum count
  local n
  n=$(grep -o -- "$2" "$dom" | wc -l || true)
  if [ "$n" -ge "$3" ]; then printf 'ok    %-44s %s\n' "$1" "$n"; else printf 'FAIL  %-44s %s (want >= %s)\n' "$1" "$n" "$3"; fail=1; fi
}
check "title" "<title>cerebro monitoring report</title>" 1
check "feature histograms (svg.hist)" '<svg class="hist"' 3
check "histogram bars" 'class="bar-current"' 20
check "drift-over-time charts" '<svg class="drift-over-time"' 3
check "drift-over-time series points" '<circle' 9
check "prediction-over-time chart" '<svg class="prediction-over-time"' 1
check "quality-over-time charts" '<svg class="quality-over-time"' 2
check "realised quality series" 'data-series="realised"' 2
check "alerts table rows" '<tr class="alert">' 1
check "the drift alert, opened and resolved" '>RESOLVED<' 1
if grep -q -e '<script' -e 'src="http' -e 'href="http' "$dom"; then
  echo "FAIL  the report fetches or runs something"; fail=1
else
  echo "ok    self-contained (no script, no remote src/href)"
fi
colours=$(python3 - "$out/report.png" <<'EOF'
import struct, sys, zlib
# Counts distinct colours in the PNG Chromium wrote (8-bit RGB or RGBA, non-interlaced), without
# any imaging library.
data = open(sys.argv[1], "rb").read()
pos, chunks = 8, {}
w = h = ct = 0
idat = b""
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        w, h, depth, ct = struct.unpack(">IIBB", body[:10])
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
bpp = {2: 3, 6: 4}[ct]
raw = zlib.decompress(idat)
stride = w * bpp
prev = bytearray(stride)
seen = set()
i = 0
for _ in range(h):
    f = raw[i]; line = bytearray(raw[i + 1:i + 1 + stride]); i += 1 + stride
    for x in range(stride):
        a = line[x - bpp] if x >= bpp else 0
        b = prev[x]
        c = prev[x - bpp] if x >= bpp else 0
        if f == 1: line[x] = (line[x] + a) & 255
        elif f == 2: line[x] = (line[x] + b) & 255
        elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    for x in range(0, stride, bpp * 4):
        seen.add(bytes(line[x:x + 3]))
    prev = line
print(len(seen))
EOF
)
if [ "$colours" -ge 20 ]; then
  printf 'ok    %-44s %s\n' "screenshot not blank (distinct colours)" "$colours"
else
  printf 'FAIL  %-44s %s\n' "screenshot not blank (distinct colours)" "$colours"; fail=1
fi
echo "report: $out/report.html  screenshot: $out/report.png"
exit $fail
