#!/usr/bin/env bash
# Fetches the MNI ICBM152 2009a nonlinear symmetric template (T1, GM, WM; 1 mm) that ships
# inside the nilearn wheel on PyPI, verifies checksums, and caches it OUTSIDE the repository:
#   ${STROKESEG_CACHE:-$HOME/.cache/strokeseg}/mni_icbm152_2009a/
# Idempotent: does nothing when the verified files are already there.
# Needs python3 with pip (for `pip download`) and unzip or python3's zipfile.
set -euo pipefail

NILEARN_VERSION=0.14.1
WHEEL=nilearn-${NILEARN_VERSION}-py3-none-any.whl
WHEEL_SHA256=725206484e9fb3f6691f9c2d20204a068759d5072f12055324702ee0cb2bbe8a
CACHE=${STROKESEG_CACHE:-$HOME/.cache/strokeseg}
OUT=$CACHE/mni_icbm152_2009a
declare -A SHA=(
  [mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz]=421a10e872fd6cadae7f61d358dffbcc1795a497d61ee76c5dda2503e1a1e9e6
  [mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz]=97a5ca69bd24db37a9cb7b32525e1733a209af904129bf1cd36da06d24243bed
  [mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz]=382d92812de4744f9c86c7a0e4f680dc317a0a50e4da1f0153618a6798c7b7db
)

verified() {
  for f in "${!SHA[@]}"; do
    [ -f "$OUT/$f" ] || return 1
    echo "${SHA[$f]}  $OUT/$f" | sha256sum --check --status || return 1
  done
}

if verified; then
  echo "MNI ICBM152 2009a template already in $OUT (checksums OK)"
  exit 0
fi

mkdir -p "$OUT" "$CACHE/wheels"
if ! echo "$WHEEL_SHA256  $CACHE/wheels/$WHEEL" | sha256sum --check --status 2>/dev/null; then
  echo "Downloading $WHEEL from PyPI (about 11 MB) ..."
  python3 -m pip download --quiet --no-deps --only-binary=:all: "nilearn==$NILEARN_VERSION" -d "$CACHE/wheels"
  echo "$WHEEL_SHA256  $CACHE/wheels/$WHEEL" | sha256sum --check --status || {
    echo "checksum mismatch for $CACHE/wheels/$WHEEL" >&2; exit 1; }
fi
python3 - "$CACHE/wheels/$WHEEL" "$OUT" "${!SHA[@]}" <<'PY'
import sys, zipfile, os
wheel, out, names = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(wheel) as z:
    for n in names:
        with z.open("nilearn/datasets/data/" + n) as src, open(os.path.join(out, n), "wb") as dst:
            dst.write(src.read())
PY
cat > "$OUT/NOTICE" <<'TXT'
MNI ICBM152 non-linear symmetric 2009a template (T1, GM, WM probability maps, 1 mm), as
shipped in the nilearn wheel (nilearn/datasets/data/*_converted.nii.gz).

Copyright (C) 1993-2009 Louis Collins, McConnell Brain Imaging Centre,
Montreal Neurological Institute, McGill University.
Permission to use, copy, modify, and distribute this software and its
documentation for any purpose and without fee is hereby granted,
provided that the above copyright notice appear in all copies. The
authors and McGill University make no representations about the
suitability of this software for any purpose. It is provided "as is"
without express or implied warranty. The authors are not responsible
for any data loss, equipment damage, property loss, or injury to
subjects or patients resulting from the use or misuse of this software
package.

References: Fonov et al., NeuroImage 54 (2011) 313-327; Fonov et al., NeuroImage 47 (2009) S102.
TXT
verified || { echo "template checksums do not match after extraction" >&2; exit 1; }
echo "MNI ICBM152 2009a template installed in $OUT"
