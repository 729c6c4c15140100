#!/usr/bin/env bash
# Where the time goes: samples `strokeseg bench` (our network: forward passes and training
# steps, and, when the bench venv exists, the same work in PyTorch and ONNX Runtime in the
# Python child) with `perf record -e cpu-clock` (a timer-based event: works where hardware
# counters are "not supported", as on this VM) and prints the hottest symbols per process.
# Needs `perf` (Debian: linux-perf) and a release build (tools/bench/run.sh makes one).
#
#   bash tools/bench/profile.sh [OUT_DIR]     # default /tmp/strokeseg-profile
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-/tmp/strokeseg-profile}"
mkdir -p "$out"
bin=target/release/strokeseg
[ -x "$bin" ] || cargo build --release --locked -p strokeseg
perf record -q -e cpu-clock -F 499 -o "$out/perf.data" -- \
    "$bin" bench --threads "${BENCH_THREADS:-2}" --no-segment --repeats "${REPEATS:-5}" >/dev/null 2>"$out/bench.log"
for comm in strokeseg python; do
    echo "== $comm: hottest symbols (share of this process's samples) =="
    perf report -i "$out/perf.data" --stdio --no-children --comms "$comm" --sort dso,symbol \
        --percent-limit 1.5 2>/dev/null | grep '%' | grep -v '^#' | head -25
    echo
done
# `segment` end to end on one study (e.g. STUDY=/work/data/test/site-a/sub-xxx): per stage.
if [ -n "${STUDY:-}" ]; then
    perf record -q -e cpu-clock -F 499 -o "$out/segment.data" -- \
        env RAYON_NUM_THREADS="${BENCH_THREADS:-2}" "$bin" -q segment "$STUDY" --out "$out/segment" >/dev/null
    echo "== strokeseg segment $STUDY: hottest symbols =="
    perf report -i "$out/segment.data" --stdio --no-children --sort dso,symbol \
        --percent-limit 1.5 2>/dev/null | grep '%' | grep -v '^#' | head -30
fi
