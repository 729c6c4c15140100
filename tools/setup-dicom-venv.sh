#!/usr/bin/env bash
# Creates the Python venv that tools/check_seg.py runs in: highdicom (and its pydicom, numpy)
# from PyPI, into ${STROKESEG_CACHE:-$HOME/.cache/strokeseg}/venv-dicom (never inside the
# repository). The Rust test crates/strokeseg/tests/it/dicom_out.rs uses it when present and
# prints SKIPPED otherwise. Idempotent: a venv that already imports highdicom is kept.
# Exit status non-zero on failure; .ci/run calls it warn-only.
set -euo pipefail

HIGHDICOM_VERSION=0.28.2
VENV="${STROKESEG_CACHE:-$HOME/.cache/strokeseg}/venv-dicom"

if [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" -c 'import highdicom' >/dev/null 2>&1; then
  echo "setup-dicom-venv: highdicom $("$VENV/bin/python" -c 'import highdicom; print(highdicom.__version__)') already in $VENV, nothing to do"
  exit 0
fi
if ! command -v python3 >/dev/null 2>&1; then
  echo "setup-dicom-venv: python3 not found" >&2
  exit 1
fi
rm -rf "$VENV"
mkdir -p "$(dirname "$VENV")"
python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --disable-pip-version-check --quiet "highdicom==${HIGHDICOM_VERSION}"
"$VENV/bin/python" -c 'import highdicom, pydicom; print("setup-dicom-venv: highdicom", highdicom.__version__, "pydicom", pydicom.__version__, "in '"$VENV"'")'
