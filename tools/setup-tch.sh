#!/usr/bin/env bash
# Prepares building strokeseg with the optional libtorch backend (`--features tch`: burn's `tch`
# feature through tch/torch-sys 0.22), which adds `--device libtorch-cpu|cuda[:N]`. Default
# builds and CI never use it.
#
# torch-sys 0.22 compiles a C++ wrapper against the headers of PyTorch 2.9.0 exactly: newer
# wheels fail (2.15 needs C++20 and dropped functions the wrapper calls), so this installs
# torch==2.9.0 from PyPI into its own venv, ~/.cache/strokeseg/venv-tch (or $STROKESEG_TCH_VENV),
# and writes ~/.cache/strokeseg/tch.env with the variables for building and running.
#
#   bash tools/setup-tch.sh          GPU machine. DOWNLOADS torch 2.9.0 (the CUDA 12.8 build,
#                                    ~900 MB) and its nvidia-* runtime wheels (~3 GB more;
#                                    ~6 GB on disk). Builds with LIBTORCH_USE_PYTORCH=1 and
#                                    links libtorch_cuda, so --device cuda works.
#   bash tools/setup-tch.sh --cpu    No GPU, little disk. DOWNLOADS only the torch 2.9.0 wheel
#                                    (--no-deps) and the two small CUDA runtime wheels
#                                    libtorch_cpu.so needs (cudart, cupti; ~15 MB); ~1.9 GB on
#                                    disk. Links against a folder of links to libtorch's CPU
#                                    libraries (~/.cache/strokeseg/libtorch-2.9.0-cpu), so only
#                                    --device libtorch-cpu works (cuda says no device).
# Then:
#   source ~/.cache/strokeseg/tch.env
#   CARGO_TARGET_DIR=target/tch cargo build --release -p strokeseg --features tch
#   target/tch/release/strokeseg segment STUDY --out OUT --device cuda   # or libtorch-cpu
# (a separate target dir keeps the default build's artifacts; a clean build takes ~15 min on
# 2 cores). Exit status: 0 when the environment is ready, 1 otherwise. Safe to rerun.
set -euo pipefail

MODE=cuda
[ "${1:-}" = "--cpu" ] && MODE=cpu
TORCH=2.9.0
CACHE="$HOME/.cache/strokeseg"
VENV="${STROKESEG_TCH_VENV:-$CACHE/venv-tch}"
ENV_FILE="$CACHE/tch.env"
VIEW="$CACHE/libtorch-$TORCH-cpu"
SITE() { "$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'; }
PIP=("$VENV/bin/python" -m pip install --disable-pip-version-check --progress-bar off --no-cache-dir)

[ -x "$VENV/bin/python" ] || { mkdir -p "$CACHE"; "${PYTHON:-python3}" -m venv "$VENV"; }
have=$({ "$VENV/bin/python" -m pip show torch 2>/dev/null || true; } | sed -n 's/^Version: //p')

if [ "$MODE" = cuda ]; then
    if ! "$VENV/bin/python" -c "import torch" 2>/dev/null || [ "${have%%+*}" != "$TORCH" ]; then
        echo "installing torch==$TORCH with its CUDA runtime wheels into $VENV (~4 GB download)"
        "${PIP[@]}" "torch==$TORCH"
    fi
    TORCH_DIR="$(SITE)/torch"
    {
        echo "# Written by tools/setup-tch.sh (CUDA): build and run strokeseg --features tch."
        echo "source '$VENV/bin/activate'"
        echo "export LIBTORCH_USE_PYTORCH=1"
        echo "unset LIBTORCH LIBTORCH_INCLUDE LIBTORCH_LIB"
        echo "export LD_LIBRARY_PATH='$TORCH_DIR/lib'\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
    } > "$ENV_FILE"
else
    if [ "${have%%+*}" != "$TORCH" ]; then
        echo "installing the torch==$TORCH wheel alone (--no-deps, ~900 MB) into $VENV"
        "${PIP[@]}" --no-deps "torch==$TORCH"
    fi
    # libtorch_cpu.so of the CUDA wheel needs these two at load time; pins from torch's METADATA.
    SITEDIR="$(SITE)"
    pins=$(sed -n 's/^Requires-Dist: \(nvidia-cuda-\(runtime\|cupti\)-cu12==[0-9.]*\).*/\1/p' \
        "$SITEDIR"/torch-"$TORCH"*.dist-info/METADATA)
    # shellcheck disable=SC2086 # two package pins, split on purpose
    "$VENV/bin/python" -m pip show nvidia-cuda-runtime-cu12 nvidia-cuda-cupti-cu12 >/dev/null 2>&1 \
        || "${PIP[@]}" --no-deps $pins
    TORCH_DIR="$SITEDIR/torch"
    # torch-sys links -ltorch_cpu -ltorch -lc10 (+ -ltorch_cuda when libtorch_cuda.so is in the
    # folder): give it a folder without the CUDA libraries. libtorch.so, a stub that would pull
    # libtorch_cuda.so, points at libtorch_cpu.so here.
    mkdir -p "$VIEW/lib"
    for lib in libc10.so libtorch_cpu.so libgomp.so.1; do ln -sfn "$TORCH_DIR/lib/$lib" "$VIEW/lib/$lib"; done
    ln -sfn "$TORCH_DIR/lib/libtorch_cpu.so" "$VIEW/lib/libtorch.so"
    ln -sfn "$SITEDIR/nvidia/cuda_runtime/lib/libcudart.so.12" "$VIEW/lib/libcudart.so.12"
    ln -sfn "$SITEDIR/nvidia/cuda_cupti/lib/libcupti.so.12" "$VIEW/lib/libcupti.so.12"
    "$VENV/bin/python" -m pip show torch | sed -n 's/^Version: //p' > "$VIEW/build-version"
    {
        echo "# Written by tools/setup-tch.sh --cpu: build and run strokeseg --features tch"
        echo "# (libtorch's CPU device only)."
        echo "unset LIBTORCH_USE_PYTORCH"
        echo "export LIBTORCH='$VIEW' LIBTORCH_LIB='$VIEW' LIBTORCH_INCLUDE='$TORCH_DIR'"
        echo "export LD_LIBRARY_PATH='$VIEW/lib'\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
    } > "$ENV_FILE"
fi
echo "torch $("$VENV/bin/python" -m pip show torch | sed -n 's/^Version: //p') in $VENV ($MODE)"
echo "wrote $ENV_FILE:"
sed 's/^/    /' "$ENV_FILE"
echo "next: source $ENV_FILE && CARGO_TARGET_DIR=target/tch cargo build --release -p strokeseg --features tch"
