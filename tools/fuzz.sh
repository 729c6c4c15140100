#!/bin/bash
# Runs every fuzz target of fuzz/ for RUNS executions each (default 1,000,000) with libFuzzer,
# from seed corpora made here: a small NIfTI written by this script, real DICOM files from
# ../shared when present (copied into the ignored fuzz/corpus, never committed) and the README's
# serve configuration. Needs the nightly toolchain and `cargo install cargo-fuzz`.
# Usage: RUNS=1000000 bash tools/fuzz.sh [target...]   (findings land in fuzz/artifacts/<target>/)
#        MAX_TIME=600 caps each target's seconds; MAXLEN (default 16384) caps an input's bytes.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SHARED:-$ROOT/../shared}
RUNS=${RUNS:-1000000}
MAXLEN=${MAXLEN:-16384}
cd "$ROOT/fuzz"
C=corpus
mkdir -p $C/nifti_file $C/dicom_folder $C/serve_ingest $C/serve_config
python3 - "$C/nifti_file" <<'PY'
import struct, sys, gzip, os
d = sys.argv[1]
def nii(dims, code=16, bitpix=32):
    h = bytearray(348)
    struct.pack_into('<i', h, 0, 348)
    struct.pack_into('<8h', h, 40, 3, *dims, 1, 1, 1, 1)
    struct.pack_into('<hh', h, 70, code, bitpix)
    struct.pack_into('<8f', h, 76, 1, 2, 2, 4, 1, 1, 1, 1)
    struct.pack_into('<f', h, 108, 352)
    struct.pack_into('<f', h, 112, 1.0)
    struct.pack_into('<hh', h, 252, 1, 1)
    struct.pack_into('<4f', h, 256, 0, 0, 0, 0)
    struct.pack_into('<4f', h, 280, 2, 0, 0, -8)
    struct.pack_into('<4f', h, 296, 0, 2, 0, -8)
    struct.pack_into('<4f', h, 312, 0, 0, 4, -8)
    h[344:348] = b'n+1\0'
    n = dims[0] * dims[1] * dims[2]
    data = b''.join(struct.pack('<f', float(i % 97)) for i in range(n)) if code == 16 else bytes(i % 251 for i in range(n * bitpix // 8))
    return bytes(h) + b'\0\0\0\0' + data
open(os.path.join(d, 'f32.nii'), 'wb').write(nii((8, 8, 4)))
open(os.path.join(d, 'u8.nii'), 'wb').write(nii((6, 5, 3), code=2, bitpix=8))
open(os.path.join(d, 'i16.nii.gz'), 'wb').write(gzip.compress(nii((6, 6, 2), code=4, bitpix=16)))
PY
if [ -d "$SHARED/data/real/dicom" ]; then
  for s in healthy-canon-galan-b1500/0001.dcm aisd-0019983-dwi/000019.dcm; do
    [ -f "$SHARED/data/real/dicom/$s" ] && cp "$SHARED/data/real/dicom/$s" $C/dicom_folder/ && cp "$SHARED/data/real/dicom/$s" $C/serve_ingest/
  done
  f=$(ls "$SHARED"/data/real/dicom/healthy-siemens-prisma-mosaic-b1000/* 2>/dev/null | head -1)
  [ -n "$f" ] && cp "$f" $C/dicom_folder/mosaic.dcm
else
  echo "no $SHARED: DICOM targets start from an empty corpus" >&2
fi
printf 'quiet_period_s = 2.5\nworkers = 2\nmax_dicom_depth = 16\n[forward.dicom]\naddress = "127.0.0.1:4242"\nae_title = "ORTHANC"\n' > $C/serve_config/a.toml
printf 'token = "abcdefgh1234"\nmax_upload_mib = 3\nmax_associations = 4\n' > $C/serve_config/b.toml
for t in ${@:-nifti_file dicom_folder serve_ingest serve_config}; do
  echo "=== $t: $RUNS runs $(date -u +%H:%M:%S)"
  cargo +nightly fuzz run --release $t $C/$t -- -runs=$RUNS ${MAX_TIME:+-max_total_time=$MAX_TIME} -max_len=$MAXLEN -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 2>&1 \
    | grep -E "stat::|Done|ERROR|SUMMARY|panicked|crash-|cov:.*(DONE|INITED)" || true
done
