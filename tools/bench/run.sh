#!/usr/bin/env bash
# Regenerates docs/BENCHMARKS.md: builds the release binary and runs `strokeseg bench`, which
# measures our network, PyTorch and ONNX Runtime (if tools/bench/setup-venv.sh's venv exists)
# and `segment` end to end, and rewrites the generated part of the document. Extra arguments
# go to `strokeseg bench` (e.g. --repeats 10 --segment-repeats 5).
#
# Run it on a quiet machine: other processes (a compile, say) share the cores and show up as
# noise (the report prints the load average before and after).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --locked -p strokeseg
exec target/release/strokeseg bench --threads "${BENCH_THREADS:-2}" --out docs/BENCHMARKS.md "$@"
