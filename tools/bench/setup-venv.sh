#!/usr/bin/env bash
# Makes the Python environment `strokeseg bench` uses for its PyTorch and ONNX Runtime columns:
# CPU PyTorch, onnx, onnxruntime and numpy in a venv cached at ~/.cache/strokeseg/venv-bench
# (override with STROKESEG_BENCH_VENV). Safe to rerun: an existing, working venv is kept.
#
# THE DOWNLOAD IS LARGE. The CPU-only wheel index (download.pytorch.org/whl/cpu, ~200 MB) is
# used when reachable; otherwise PyTorch comes from PyPI, whose Linux wheel drags in the CUDA
# runtime packages (nvidia-*: about 3 GB downloaded, ~6 GB on disk) although the bench only
# uses the CPU. Everything is cached, so this is paid once per machine.
#
# Exit status: 0 when the venv works at the end, 1 otherwise (callers such as .ci/run may
# ignore it: the bench and the tests then print SKIPPED).
set -euo pipefail

VENV="${STROKESEG_BENCH_VENV:-$HOME/.cache/strokeseg/venv-bench}"
CPU_INDEX="https://download.pytorch.org/whl/cpu"
check='import torch, onnx, onnxruntime, numpy, safetensors; print("torch", torch.__version__, "| onnxruntime", onnxruntime.__version__, "| onnx", onnx.__version__)'

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "$check" 2>/dev/null; then
    echo "bench venv ready: $VENV"
    exit 0
fi

PY="${PYTHON:-python3}"
echo "creating the bench venv in $VENV (PyTorch CPU + ONNX Runtime; a large download, cached)"
mkdir -p "$(dirname "$VENV")"
"$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install --disable-pip-version-check --progress-bar off)
"${PIP[@]}" --upgrade pip >/dev/null || true

if curl -fsS --max-time 15 -o /dev/null "$CPU_INDEX/torch/" 2>/dev/null; then
    echo "using the CPU-only PyTorch wheel index ($CPU_INDEX)"
    "${PIP[@]}" --index-url "$CPU_INDEX" --extra-index-url https://pypi.org/simple torch
else
    echo "the CPU-only PyTorch index is not reachable: installing torch from PyPI"
    echo "(its Linux wheel pulls the CUDA runtime, ~3 GB; this takes a while)"
    "${PIP[@]}" torch
fi
"${PIP[@]}" numpy onnx onnxruntime safetensors

"$VENV/bin/python" -c "$check"
echo "bench venv ready: $VENV"
