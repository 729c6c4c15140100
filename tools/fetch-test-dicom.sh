#!/usr/bin/env bash
# Fetches real DICOM test files in many transfer syntaxes (uncompressed, big endian, deflate,
# RLE, JPEG, JPEG-LS, JPEG 2000) for crates/io/tests/transfer_syntax.rs.
#
# Source: the pydicom 3.0.2 wheel from PyPI (pydicom is MIT-licensed; its
# pydicom/data/test_files/README.txt, extracted alongside, gives each file's provenance and
# licence). Only pydicom/data/test_files/*.dcm and that README.txt are extracted.
#
# Destination (never inside the repository):
#   ${STROKESEG_CACHE:-$HOME/.cache/strokeseg}/pydicom-3.0.2/test_files
# The tests look there, or in $STROKESEG_PYDICOM_FILES, and skip with a message when absent.
#
# Needs python3 with pip, and network access to PyPI. Idempotent: does nothing when the files
# are already there. Exit status non-zero on any failure (download, checksum, extraction).
set -euo pipefail

VERSION=3.0.2
WHEEL="pydicom-${VERSION}-py3-none-any.whl"
WHEEL_SHA256=abf971a5440f84dbaf42c4b6758e30e62480902584f8b270b9a5d146e278a07b

CACHE="${STROKESEG_CACHE:-$HOME/.cache/strokeseg}/pydicom-${VERSION}"
DEST="$CACHE/test_files"
STAMP="$DEST/.complete"

if [[ -f "$STAMP" ]]; then
  echo "fetch-test-dicom: pydicom ${VERSION} test files already in $DEST ($(find "$DEST" -maxdepth 1 -name '*.dcm' | wc -l) .dcm files), nothing to do"
  exit 0
fi

if ! command -v python3 >/dev/null 2>&1; then
  echo "fetch-test-dicom: python3 not found (needed to download the pydicom wheel)" >&2
  exit 1
fi

mkdir -p "$CACHE"

sha_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  else
    python3 -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$1"
  fi
}

if [[ -f "$CACHE/$WHEEL" ]] && [[ "$(sha_of "$CACHE/$WHEEL")" != "$WHEEL_SHA256" ]]; then
  echo "fetch-test-dicom: cached $CACHE/$WHEEL has the wrong checksum, downloading it again" >&2
  rm -f "$CACHE/$WHEEL"
fi
if [[ ! -f "$CACHE/$WHEEL" ]]; then
  echo "fetch-test-dicom: downloading $WHEEL from PyPI into $CACHE"
  python3 -m pip download "pydicom==${VERSION}" --no-deps --only-binary=:all: \
    --disable-pip-version-check --quiet -d "$CACHE"
else
  echo "fetch-test-dicom: using cached $CACHE/$WHEEL"
fi

got="$(sha_of "$CACHE/$WHEEL")"
if [[ "$got" != "$WHEEL_SHA256" ]]; then
  echo "fetch-test-dicom: CHECKSUM MISMATCH for $CACHE/$WHEEL" >&2
  echo "  expected $WHEEL_SHA256" >&2
  echo "  got      $got" >&2
  rm -f "$CACHE/$WHEEL"
  exit 1
fi
echo "fetch-test-dicom: sha256 OK ($WHEEL_SHA256)"

# Extract into a temporary folder, then move it into place, so an interrupted run never
# leaves a half-filled test_files behind.
tmp="$(mktemp -d "$CACHE/.extract.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
python3 - "$CACHE/$WHEEL" "$tmp" <<'PY'
import os, re, sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
keep = re.compile(r"^pydicom/data/test_files/([^/]+\.dcm|README\.txt)$")
n = 0
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        m = keep.match(info.filename)
        if not m:
            continue
        with z.open(info) as src, open(os.path.join(out, m.group(1)), "wb") as dst:
            dst.write(src.read())
        n += 1
if n < 2:
    sys.exit(f"fetch-test-dicom: no test files found in {wheel}")
print(f"fetch-test-dicom: extracted {n} files")
PY
touch "$tmp/.complete"
rm -rf "$DEST"
mv "$tmp" "$DEST"
trap - EXIT
echo "fetch-test-dicom: pydicom ${VERSION} test files (MIT; see README.txt there) are in $DEST"
