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
mkdir -p $C/nifti_file $C/dicom_folder $C/serve_ingest $C/serve_config $C/serve_pdu $C/report_json
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
# serve_pdu: what an SCU sends: A-ASSOCIATE-RQ, a P-DATA-TF with a C-STORE-RQ command and a
# data fragment, A-RELEASE-RQ; and an A-ABORT (PS3.8 9.3, built here byte by byte).
python3 - "$C/serve_pdu" <<'PY'
import struct, sys, os
d = sys.argv[1]
def item(t, body): return struct.pack('>BBH', t, 0, len(body)) + body
def pdu(t, body): return struct.pack('>BBI', t, 0, len(body)) + body
def uid(u): b = u.encode(); return b + (b'\0' if len(b) % 2 else b'')
def ae(a): return a.encode().ljust(16)
ctx = item(0x10, b'1.2.840.10008.3.1.1.1')
pc = item(0x20, bytes([1, 0, 0, 0]) + item(0x30, b'1.2.840.10008.5.1.4.1.1.4') + item(0x40, b'1.2.840.10008.1.2.1'))
user = item(0x50, item(0x51, struct.pack('>I', 16384)) + item(0x52, b'1.2.3.4'))
rq = pdu(0x01, struct.pack('>HH', 1, 0) + ae('STROKESEG') + ae('FUZZSCU') + bytes(32) + ctx + pc + user)
def el(g, e, v): return struct.pack('<HHI', g, e, len(v)) + v
cmd = (el(0, 2, uid('1.2.840.10008.5.1.4.1.1.4')) + el(0, 0x100, struct.pack('<H', 1)) + el(0, 0x110, struct.pack('<H', 7))
       + el(0, 0x700, struct.pack('<H', 0)) + el(0, 0x800, struct.pack('<H', 0)) + el(0, 0x1000, uid('1.2.3.4.5')))
cmd = el(0, 0, struct.pack('<I', len(cmd))) + cmd
def pdv(pcid, ctrl, data): return struct.pack('>I', len(data) + 2) + bytes([pcid, ctrl]) + data
pdata = pdu(0x04, pdv(1, 3, cmd)) + pdu(0x04, pdv(1, 2, el(8, 0x60, b'MR')))
release = pdu(0x05, bytes(4))
abort = pdu(0x07, bytes([0, 0, 2, 0]))
open(os.path.join(d, 'session.bin'), 'wb').write(rq + pdata + release)
open(os.path.join(d, 'store.bin'), 'wb').write(pdata)
open(os.path.join(d, 'abort.bin'), 'wb').write(abort)
PY
printf 'quiet_period_s = 2.5\nworkers = 2\nmax_dicom_depth = 16\n[forward.dicom]\naddress = "127.0.0.1:4242"\nae_title = "ORTHANC"\n' > $C/serve_config/a.toml
printf 'token = "abcdefgh1234"\nmax_upload_mib = 3\nmax_associations = 4\n' > $C/serve_config/b.toml
# report_json: a report.json the way segment writes it, and a synth manifest.json
printf '%s\n' '{"schema_version":3,"patient":{"call":"infarct","score":0.93,"operating_point":"sens99"},"lesions":[{"index":1,"volume_ml":1.5}]}' > $C/report_json/report.json
printf '%s\n' '{"generator":"strokeseg synth","seed":1,"studies":[{"id":"sub-sitea0001","has_lesion":true,"lesions":[{"index":1,"region":"cerebellum","visible":true,"n_voxels":12,"volume_ml":0.05,"centroid_mni":[10,-60,-30]}]}]}' > $C/report_json/manifest.json
for t in ${@:-nifti_file dicom_folder serve_ingest serve_config serve_pdu report_json}; do
  echo "=== $t: $RUNS runs $(date -u +%H:%M:%S)"
  cargo +nightly fuzz run --release $t $C/$t -- -runs=$RUNS ${MAX_TIME:+-max_total_time=$MAX_TIME} -max_len=$MAXLEN -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 2>&1 \
    | grep -E "stat::|Done|ERROR|SUMMARY|panicked|crash-|cov:.*(DONE|INITED)" || true
done
