#!/usr/bin/env python3
"""Reference values for strokeseg's readers, measured with independent tools.

What it does
------------
Reads the real MRI inputs under the shared data folder *in place* (nothing is
copied) with nibabel, pydicom and dcm2niix -- tools that share no code with
the Rust readers in crates/io -- and prints one JSON document on stdout with
the numbers the Rust tests compare against:

* NIfTI (ISLES'22 cases 0001-0003, ADS Subject01/02): dims, spacing (column
  norms of the affine), the affine nibabel returns (``img.affine``:
  sform if sform_code > 0, else qform, else pixdim), both sform and qform with
  their codes and their largest disagreement, raw and effective
  scl_slope/scl_inter, on-disk dtype, min/max of the scaled data, 4th dim;
  lesion / brain-mask voxel counts and volumes in mL; ADC medians.
* DICOM (AISD Siemens trace series, Philips multi-b DWI): geometry and tags read
  with pydicom (slices sorted along the slice normal), b-value tags, scaling
  tags, SOP class / transfer syntax; then the folder is converted with
  ``dcm2niix -z y -f %s_%d -o TMP DIR`` into a temporary folder and the
  resulting NIfTI / .bval / .bvec are described with nibabel.
* Philips: a reference ADC (10^-6 mm^2/s) computed two ways -- from the
  dcm2niix 4-D output and, as a cross-check, straight from the pydicom pixel
  data with each file's own RescaleSlope/Intercept.

Definitions (so a Rust test can reproduce them):
* ``spacing``      = norms of the first three columns of ``img.affine``.
* ``voxel_volume_ml`` = |det(affine[:3,:3])| / 1000.
* ISLES ``brain``  = voxels with adc > 0 AND dwi > 0;
  ``brain_no_lesion`` = brain AND msk == 0; ``lesion`` = msk > 0.
* ADS mask volume  = count(Mask > 0) * voxel_volume_ml.
* Medians are ``numpy.median`` (mean of the two middle values for even counts)
  over float64 copies of the scaled data.
* Philips reference ADC: b0 = mean of the b < 50 volumes, trace = geometric
  mean of the b = 1000 volumes, ADC = ln(b0 / trace) / 1000 * 1e6, over the
  crude mask b0 > 0.1 * percentile99(b0) AND trace > 0.
* ``scl_slope``/``scl_inter`` are the raw header fields read from the file
  (nibabel's ``img.header`` shows NaN there after loading, because it moves
  the scaling into ``img.dataobj``); JSON ``null`` would mean NaN in the file
  (NIfTI: slope 0 or NaN = "no scaling"). ``min``/``max`` are of the scaled
  data in float64; ``stored_min``/``stored_max`` of the unscaled values.

How to run (from the repository root)
-------------------------------------
    python3 -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install nibabel pydicom numpy scipy dcm2niix
    /tmp/refvenv/bin/python tools/reference_values.py [--shared ../shared] \
        > tools/reference_values.json

``--shared`` defaults to ``<repo root>/../shared``. ``--dcm2niix`` names the
binary (default: the one next to the running python, else the one on PATH;
the ``dcm2niix`` PyPI wheel provides it). Progress goes to stderr.

Versions that produced the committed tools/reference_values.json
----------------------------------------------------------------
Python 3.11.7, nibabel 5.4.2, pydicom 3.0.2, numpy 2.4.6, scipy 1.17.1,
dcm2niix 1.0.20260724 (PyPI wheel; binary reports v1.0.20260724).
The versions actually used are also written into the JSON under "tools".
"""

import argparse
import glob
import hashlib
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from importlib import metadata

import nibabel as nib
import numpy as np
import pydicom
from pydicom.tag import Tag

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ----------------------------------------------------------------- helpers

def fnum(x):
    """JSON-safe float: NaN/inf -> None, numpy scalars -> python."""
    if x is None:
        return None
    x = float(x)
    if math.isnan(x) or math.isinf(x):
        return None
    return x


def mat(a):
    return [[fnum(v) for v in row] for row in np.asarray(a, dtype=np.float64)]


def vec(a):
    return [fnum(v) for v in np.asarray(a, dtype=np.float64).ravel()]


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def rel(path, shared):
    return os.path.relpath(path, shared)


def spacing_of(affine):
    return vec(np.linalg.norm(np.asarray(affine)[:3, :3], axis=0))


def obliquity_deg(affine):
    """Largest angle (degrees) between a voxel axis and its nearest world axis."""
    a = np.asarray(affine, dtype=np.float64)[:3, :3]
    n = a / np.linalg.norm(a, axis=0)
    cosmax = np.max(np.abs(n), axis=0)
    return float(np.degrees(np.arccos(np.clip(cosmax.min(), -1, 1))))


def stats(data, mask=None):
    d = np.asarray(data, dtype=np.float64)
    if mask is not None:
        d = d[mask]
    finite = d[np.isfinite(d)]
    if finite.size == 0:
        return {"count": int(d.size), "min": None, "max": None}
    return {
        "count": int(d.size),
        "min": fnum(finite.min()),
        "max": fnum(finite.max()),
        "mean": fnum(finite.mean()),
        "median": fnum(np.median(finite)),
        "p25": fnum(np.percentile(finite, 25)),
        "p75": fnum(np.percentile(finite, 75)),
    }


# ------------------------------------------------------------------- NIfTI

def nifti_info(path, shared):
    """Header facts and scaled-data min/max for one NIfTI file, via nibabel."""
    img = nib.load(path)
    # nibabel resets scl_slope/scl_inter to NaN in img.header (it moves them
    # into img.dataobj), so header fields are read from the file itself.
    with nib.openers.ImageOpener(path) as fobj:
        hdr = nib.Nifti1Header.from_fileobj(fobj)
    shape = tuple(int(s) for s in img.shape)
    sform, sform_code = hdr.get_sform(coded=True)
    info = {
        "file": rel(path, shared),
        "sha256": sha256(path),
        "shape": list(shape),
        "dims": list(shape[:3]),
        "dim4": shape[3] if len(shape) > 3 else None,
        "spacing": spacing_of(img.affine),
        "pixdim": vec(hdr["pixdim"][:5]),
        "qfac_pixdim0": fnum(hdr["pixdim"][0]),
        "affine": mat(img.affine),
        "affine_source": None,
        "axcodes": "".join(nib.aff2axcodes(img.affine)),
        "obliquity_deg": obliquity_deg(img.affine),
        "voxel_volume_ml": fnum(abs(np.linalg.det(img.affine[:3, :3])) / 1000.0),
        "sform_code": int(hdr["sform_code"]),
        "qform_code": int(hdr["qform_code"]),
        "sform": mat(hdr.get_sform()),
        "quatern_bcd": vec([hdr["quatern_b"], hdr["quatern_c"], hdr["quatern_d"]]),
        "qoffset_xyz": vec([hdr["qoffset_x"], hdr["qoffset_y"], hdr["qoffset_z"]]),
        "xyzt_units": int(hdr["xyzt_units"]),
        "vox_offset": fnum(hdr["vox_offset"]),
        "scl_slope": fnum(hdr["scl_slope"]),
        "scl_inter": fnum(hdr["scl_inter"]),
        "effective_slope_nibabel": fnum(img.dataobj.slope),
        "effective_inter_nibabel": fnum(img.dataobj.inter),
        "dtype": str(hdr.get_data_dtype()),
        "datatype_code": int(hdr["datatype"]),
    }
    info["affine_source"] = ("sform" if sform_code > 0 else
                             "qform" if info["qform_code"] > 0 else "pixdim")
    # qform: nibabel raises when the quaternion is garbage (|b,c,d| > 1).
    try:
        q = hdr.get_qform()
        info["qform"] = mat(q)
        info["qform_error"] = None
        if info["sform_code"] > 0 and info["qform_code"] > 0:
            info["sform_qform_max_abs_diff"] = fnum(np.max(np.abs(q - hdr.get_sform())))
    except Exception as e:  # noqa: BLE001 - we want the message in the JSON
        info["qform"] = None
        info["qform_error"] = f"{type(e).__name__}: {e}"
    data = np.asanyarray(img.dataobj)
    info["scaled_dtype"] = str(data.dtype)
    d = data.astype(np.float64, copy=False)
    fin = np.isfinite(d)
    info["nan_count"] = int(np.isnan(d).sum())
    info["min"] = fnum(d[fin].min()) if fin.any() else None
    info["max"] = fnum(d[fin].max()) if fin.any() else None
    info["nonzero_count"] = int(np.count_nonzero(d[fin]))
    info["sum"] = fnum(d[fin].sum())
    raw = np.asanyarray(img.dataobj.get_unscaled())
    info["stored_min"] = fnum(raw.min())
    info["stored_max"] = fnum(raw.max())
    if np.unique(raw).size <= 4:
        info["stored_unique_values"] = vec(np.unique(raw))
        info["scaled_unique_values"] = vec(np.unique(d))
    return info, d


def sidecar(path):
    js = re.sub(r"\.nii(\.gz)?$", ".json", path)
    if not os.path.exists(js):
        return None
    with open(js) as f:
        j = json.load(f)
    keys = ["Manufacturer", "ManufacturerModelName", "ImageType", "DiffusionBValue",
            "SliceThickness", "SpacingBetweenSlices", "MagneticFieldStrength"]
    return {k: j.get(k) for k in keys if k in j}


def isles_case(case_dir, shared):
    case = os.path.basename(case_dir)
    log("ISLES", case)
    out = {"case": case}
    vols = {}
    for kind in ("dwi", "adc", "msk"):
        (path,) = glob.glob(os.path.join(case_dir, f"*_{kind}.nii.gz"))
        info, data = nifti_info(path, shared)
        info["sidecar"] = sidecar(path)
        out[kind] = info
        vols[kind] = data
    dwi, adc, msk = vols["dwi"], vols["adc"], vols["msk"]
    same = all(np.allclose(out[k]["affine"], out["dwi"]["affine"], atol=1e-6)
               for k in ("adc", "msk"))
    out["same_affine_dwi_adc_msk"] = bool(same)
    vml = out["dwi"]["voxel_volume_ml"]
    brain = (adc > 0) & (dwi > 0)
    lesion = msk > 0
    out["mask_unique_values"] = vec(np.unique(msk))
    out["lesion_voxels"] = int(lesion.sum())
    out["lesion_ml"] = fnum(lesion.sum() * vml)
    out["brain_definition"] = "adc > 0 AND dwi > 0"
    out["brain_voxels"] = int(brain.sum())
    out["brain_ml"] = fnum(brain.sum() * vml)
    out["adc_median_brain"] = fnum(np.median(adc[brain]))
    out["adc_median_brain_no_lesion"] = fnum(np.median(adc[brain & ~lesion]))
    out["adc_median_lesion"] = fnum(np.median(adc[lesion])) if lesion.any() else None
    out["dwi_median_brain"] = fnum(np.median(dwi[brain]))
    out["dwi_median_lesion"] = fnum(np.median(dwi[lesion])) if lesion.any() else None
    out["adc_stats_brain"] = stats(adc, brain)
    return out


def ads_subject(sub_dir, shared):
    sub = os.path.basename(sub_dir)
    log("ADS", sub)
    out = {"subject": sub, "files": {}}
    data = {}
    for path in sorted(glob.glob(os.path.join(sub_dir, "*.nii.gz"))):
        name = os.path.basename(path)[len(sub) + 1:-len(".nii.gz")]
        info, d = nifti_info(path, shared)
        out["files"][name] = info
        data[name] = d
    mask = data["Mask"] > 0
    m = out["files"]["Mask"]
    out["mask_unique_values"] = vec(np.unique(data["Mask"]))
    out["mask_voxels"] = int(mask.sum())
    out["mask_ml"] = fnum(mask.sum() * m["voxel_volume_ml"])
    # Same count with a threshold that does not depend on exact float rounding
    # of the scaled zero (stored -32768 * slope + inter).
    out["mask_voxels_gt_0.5"] = int((data["Mask"] > 0.5).sum())
    out["same_affine_dwi_b0_mask"] = bool(all(
        np.allclose(out["files"][k]["affine"], m["affine"], atol=1e-6)
        for k in ("DWI", "b0") + (("ADC",) if "ADC" in data else ())))
    out["dwi_median_in_mask"] = fnum(np.median(data["DWI"][mask]))
    out["b0_median_in_mask"] = fnum(np.median(data["b0"][mask]))
    if "ADC" in data:
        adc = data["ADC"]
        out["adc_median_in_mask"] = fnum(np.median(adc[mask]))
        out["adc_median_in_mask_and_adc_gt0"] = fnum(np.median(adc[mask & (adc > 0)]))
        out["adc_voxels_in_mask_le0"] = int((mask & (adc <= 0)).sum())
        out["adc_stats_in_mask"] = stats(adc, mask)
    else:
        out["adc_median_in_mask"] = None
    return out


# ------------------------------------------------------------------- DICOM

B_TAGS = {
    "(0018,9087) DiffusionBValue": Tag(0x0018, 0x9087),
    "(0019,100C) Siemens B_value": Tag(0x0019, 0x100C),
    "(0043,1039) GE slop_int_6..9": Tag(0x0043, 0x1039),
    "(2001,1003) Philips DiffusionBFactor": Tag(0x2001, 0x1003),
}


def tag_value(ds, tag, recursive=False):
    """Top-level value of tag (or the first found in nested sequences)."""
    if tag in ds:
        return ds[tag].value
    if recursive:
        for el in ds:
            if el.VR == "SQ":
                for item in el.value:
                    v = tag_value(item, tag, True)
                    if v is not None:
                        return v
    return None


def jsonable(v):
    if v is None:
        return None
    if isinstance(v, (bytes, bytearray)):
        return v.hex()
    if isinstance(v, (list, tuple, pydicom.multival.MultiValue)):
        return [jsonable(x) for x in v]
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)) or type(v).__name__ in ("DSfloat", "DSdecimal"):
        return fnum(v)
    if type(v).__name__ == "IS":
        return int(v)
    return str(v)


def geometry(datasets):
    """Sort by position along the slice normal; return sorted list + facts."""
    iop = np.array([float(x) for x in datasets[0].ImageOrientationPatient])
    row, col = iop[:3], iop[3:]
    normal = np.cross(row, col)
    pos = [(float(np.dot([float(x) for x in ds.ImagePositionPatient], normal)), i)
           for i, ds in enumerate(datasets)]
    pos.sort()
    order = [i for _, i in pos]
    dist = np.array([p for p, _ in pos])
    first, last = datasets[order[0]], datasets[order[-1]]
    ps = [float(x) for x in first.PixelSpacing]  # [row spacing, col spacing]
    ipp0 = np.array([float(x) for x in first.ImagePositionPatient])
    ippn = np.array([float(x) for x in last.ImagePositionPatient])
    n = len(datasets)
    step = (ippn - ipp0) / (n - 1) if n > 1 else normal * float(first.SliceThickness)
    # Voxel (i=column, j=row, k=slice) -> patient LPS (DICOM convention).
    lps = np.eye(4)
    lps[:3, 0] = row * ps[1]
    lps[:3, 1] = col * ps[0]
    lps[:3, 2] = step
    lps[:3, 3] = ipp0
    ras = np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps
    # dcm2niix stores rows bottom-up: j' = Rows - 1 - j.
    flip_j = np.eye(4)
    flip_j[1, 1] = -1.0
    flip_j[1, 3] = int(first.Rows) - 1
    ras_flipped = ras @ flip_j
    gaps = np.diff(dist)
    g = {
        "n_slices": n,
        "slice_normal": vec(normal),
        "first_sorted": {"file": None, "InstanceNumber": jsonable(first.get("InstanceNumber")),
                         "ImagePositionPatient": vec(ipp0),
                         "ImageOrientationPatient": vec(iop)},
        "last_sorted": {"file": None, "InstanceNumber": jsonable(last.get("InstanceNumber")),
                        "ImagePositionPatient": vec(ippn),
                        "ImageOrientationPatient": vec(
                            [float(x) for x in last.ImageOrientationPatient])},
        "slice_gap_along_normal": {"mean": fnum(gaps.mean()) if n > 1 else None,
                                   "min": fnum(gaps.min()) if n > 1 else None,
                                   "max": fnum(gaps.max()) if n > 1 else None},
        "extent_along_normal_mm": fnum(dist[-1] - dist[0]),
        "obliquity_deg": obliquity_deg(lps),
        "affine_lps_voxel_ijk": mat(lps),
        "affine_ras_voxel_ijk": mat(ras),
        "affine_ras_rows_flipped": mat(ras_flipped),
        "affine_note": ("i = column index, j = row index (as stored, top row j=0), "
                        "k = slice index after sorting along the normal; origin = "
                        "first sorted slice's ImagePositionPatient. "
                        "affine_ras_rows_flipped uses j' = Rows-1-j, the voxel order "
                        "dcm2niix writes, and should match its NIfTI affine."),
    }
    return order, g


def run_dcm2niix(exe, folder, shared):
    """Convert folder with dcm2niix into a temp dir and describe the outputs."""
    if exe is None:
        return {"skipped": "dcm2niix not found"}
    tmp = tempfile.mkdtemp(prefix="refvals_dcm2niix_")
    try:
        cmd = [exe, "-z", "y", "-f", "%s_%d", "-o", tmp, folder]
        p = subprocess.run(cmd, capture_output=True, text=True)
        res = {"command": "dcm2niix -z y -f %s_%d -o TMP " + rel(folder, shared),
               "returncode": p.returncode,
               "messages": [l.replace(tmp, "TMP") for l in (p.stdout + p.stderr).splitlines()
                            if l and not l.startswith("Chris Rorden")
                            and not l.startswith("Conversion required")],
               "outputs": {}}
        for f in sorted(os.listdir(tmp)):
            path = os.path.join(tmp, f)
            o = {}
            if f.endswith(".nii.gz") or f.endswith(".nii"):
                info, data = nifti_info(path, tmp)
                info.pop("sha256")  # gz bytes depend on zlib and timestamps
                o = info
                res.setdefault("_data", {})[f] = (data, info)
            elif f.endswith(".bval") or f.endswith(".bvec"):
                with open(path) as fh:
                    rows = [[float(x) for x in line.split()] for line in fh if line.strip()]
                o = {"values": rows[0] if f.endswith(".bval") else rows}
            elif f.endswith(".json"):
                with open(path) as fh:
                    j = json.load(fh)
                keys = ["ImageType", "SliceThickness", "SpacingBetweenSlices",
                        "PhilipsRescaleSlope", "PhilipsRescaleIntercept", "PhilipsScaleSlope",
                        "UsePhilipsFloatNotDisplayScaling", "ImageOrientationPatientDICOM",
                        "ConversionSoftwareVersion", "SequenceName", "BidsGuess"]
                o = {k: j[k] for k in keys if k in j}
            res["outputs"][f] = o
        return res
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def read_series(folder):
    files = sorted(f for f in os.listdir(folder)
                   if not f.endswith((".json", ".bval", ".bvec", ".txt")))
    dss = []
    for f in files:
        ds = pydicom.dcmread(os.path.join(folder, f))
        dss.append(ds)
    return files, dss


def common(dss, getter):
    """Counter of a per-file value (strings as-is, others JSON-encoded)."""
    def key(v):
        v = jsonable(v)
        return v if isinstance(v, str) else json.dumps(v)
    c = Counter(key(getter(ds)) for ds in dss)
    return {k: v for k, v in c.most_common()}


def aisd(folder, shared, exe):
    log("DICOM AISD")
    files, dss = read_series(folder)
    d0 = dss[0]
    order, geo = geometry(dss)
    geo["first_sorted"]["file"] = files[order[0]]
    geo["last_sorted"]["file"] = files[order[-1]]
    out = {
        "series": rel(folder, shared),
        "n_files": len(files),
        "Rows": int(d0.Rows), "Columns": int(d0.Columns),
        "PixelSpacing": vec(d0.PixelSpacing),
        "SliceThickness": fnum(d0.SliceThickness),
        "SpacingBetweenSlices": fnum(d0.get("SpacingBetweenSlices")),
        "geometry": geo,
        "TransferSyntaxUID": str(d0.file_meta.TransferSyntaxUID),
        "TransferSyntaxName": d0.file_meta.TransferSyntaxUID.name,
        "SOPClassUID": str(d0.SOPClassUID),
        "SOPClassName": d0.SOPClassUID.name,
        "Manufacturer": str(d0.get("Manufacturer")),
        "ManufacturerModelName": str(d0.get("ManufacturerModelName")),
        "SeriesDescription": str(d0.get("SeriesDescription")),
        "SequenceName_0018_0024": common(dss, lambda d: d.get("SequenceName")),
        "ImageType": common(dss, lambda d: d.get("ImageType")),
        "b_value_tags": {k: common(dss, lambda d, t=t: tag_value(d, t, True))
                         for k, t in B_TAGS.items()},
        "siemens_csa_0029_1010_present": any(Tag(0x0029, 0x1010) in d for d in dss),
        "RescaleSlope": common(dss, lambda d: d.get("RescaleSlope")),
        "RescaleIntercept": common(dss, lambda d: d.get("RescaleIntercept")),
        "BitsAllocated": int(d0.BitsAllocated), "BitsStored": int(d0.BitsStored),
        "PixelRepresentation": int(d0.PixelRepresentation),
        "InstanceNumbers_in_sorted_order": [jsonable(dss[i].get("InstanceNumber"))
                                            for i in order],
    }
    vol = np.stack([dss[i].pixel_array for i in order]).astype(np.float64)
    out["stored_pixels"] = {"shape_slices_rows_cols": list(vol.shape),
                            "min": fnum(vol.min()), "max": fnum(vol.max()),
                            "mean": fnum(vol.mean()), "sum": fnum(vol.sum())}
    conv = run_dcm2niix(exe, folder, shared)
    conv.pop("_data", None)
    out["dcm2niix"] = conv
    compare_affine(out)
    return out


def philips(folder, shared, exe):
    log("DICOM Philips")
    files, dss = read_series(folder)
    d0 = dss[0]
    b_priv = [jsonable(tag_value(d, Tag(0x2001, 0x1003))) for d in dss]
    b_std = [jsonable(tag_value(d, Tag(0x0018, 0x9087), True)) for d in dss]
    iop = np.array([float(x) for x in d0.ImageOrientationPatient])
    normal = np.cross(iop[:3], iop[3:])
    posn = [round(float(np.dot([float(x) for x in d.ImagePositionPatient], normal)), 3)
            for d in dss]
    ipps = {tuple(round(float(x), 3) for x in d.ImagePositionPatient) for d in dss}
    iops = {tuple(round(float(x), 5) for x in d.ImageOrientationPatient) for d in dss}
    grad = [tuple(round(float(x), 4) for x in (tag_value(d, Tag(0x0018, 0x9089), True) or []))
            for d in dss]
    vol_keys = Counter(zip(b_priv, grad))
    out = {
        "series": rel(folder, shared),
        "n_files": len(files),
        "per_file_b_value": {f: [bp, bs] for f, bp, bs in zip(files, b_priv, b_std)},
        "per_file_b_value_columns": ["(2001,1003)", "(0018,9087)"],
        "files_per_b_value_2001_1003": {str(k): v for k, v in sorted(Counter(b_priv).items())},
        "files_per_b_value_0018_9087": {str(k): v for k, v in sorted(Counter(b_std).items())},
        "files_per_b_and_gradient": [{"b": k[0], "gradient_0018_9089": list(k[1]), "files": v}
                                     for k, v in sorted(vol_keys.items())],
        "n_volumes_by_b_and_gradient": len(vol_keys),
        "distinct_slice_positions_along_normal": len(set(posn)),
        "distinct_ImagePositionPatient": len(ipps),
        "distinct_ImageOrientationPatient": len(iops),
        "Rows": int(d0.Rows), "Columns": int(d0.Columns),
        "PixelSpacing": vec(d0.PixelSpacing),
        "SliceThickness": fnum(d0.SliceThickness),
        "SpacingBetweenSlices": fnum(d0.get("SpacingBetweenSlices")),
        "TransferSyntaxUID": common(dss, lambda d: str(d.file_meta.TransferSyntaxUID)),
        "SOPClassUID": common(dss, lambda d: f"{d.SOPClassUID} ({d.SOPClassUID.name})"),
        "NumberOfFrames": common(dss, lambda d: d.get("NumberOfFrames")),
        "Manufacturer": str(d0.get("Manufacturer")),
        "ManufacturerModelName": str(d0.get("ManufacturerModelName")),
        "ImageType": common(dss, lambda d: d.get("ImageType")),
        "trace_detection": {
            "(0018,9075) DiffusionDirectionality top-level":
                common(dss, lambda d: tag_value(d, Tag(0x0018, 0x9075))),
            "(0018,9075) DiffusionDirectionality anywhere (incl. private seq 2005,140F)":
                common(dss, lambda d: tag_value(d, Tag(0x0018, 0x9075), True)),
            "(2005,1413) Philips": common(dss, lambda d: tag_value(d, Tag(0x2005, 0x1413), True)),
            "(2001,1004) Philips DiffusionDirection (I = isotropic)":
                common(dss, lambda d: tag_value(d, Tag(0x2001, 0x1004))),
            "(2001,1004) by b-value": {
                str(b): dict(Counter(str(tag_value(d, Tag(0x2001, 0x1004)))
                                     for d, bb in zip(dss, b_priv) if bb == b))
                for b in sorted(set(b_priv))},
        },
        "RescaleSlope": common(dss, lambda d: d.get("RescaleSlope")),
        "RescaleIntercept": common(dss, lambda d: d.get("RescaleIntercept")),
        "RescaleType": common(dss, lambda d: d.get("RescaleType")),
        "Philips_2005_100E_ScaleSlope": common(dss, lambda d: tag_value(d, Tag(0x2005, 0x100E))),
        "Philips_2005_100D_ScaleIntercept": common(dss, lambda d: tag_value(d, Tag(0x2005, 0x100D))),
        "BitsAllocated": int(d0.BitsAllocated), "BitsStored": int(d0.BitsStored),
        "PixelRepresentation": int(d0.PixelRepresentation),
    }
    # geometry of one volume: the files of the first b/gradient group
    first_key = (b_priv[0], grad[0])
    idx = [i for i in range(len(dss)) if (b_priv[i], grad[i]) == first_key]
    sub = [dss[i] for i in idx]
    order, geo = geometry(sub)
    geo["first_sorted"]["file"] = files[idx[order[0]]]
    geo["last_sorted"]["file"] = files[idx[order[-1]]]
    geo["computed_from"] = f"the {len(sub)} files with b={first_key[0]}, gradient={list(first_key[1])}"
    out["geometry"] = geo
    (bval_path,) = glob.glob(os.path.join(folder, "*.bval"))
    with open(bval_path) as f:
        out["provided_bval_file"] = os.path.basename(bval_path)
        out["provided_bval"] = [float(x) for x in f.read().split()]

    # Reference ADC from pydicom pixels, each file scaled by its own Rescale*.
    by_pos_b = defaultdict(list)
    for d, b, p in zip(dss, b_priv, posn):
        px = d.pixel_array.astype(np.float64) * float(d.get("RescaleSlope", 1)) \
            + float(d.get("RescaleIntercept", 0))
        by_pos_b[(p, "b0" if b < 50 else ("b1000" if abs(b - 1000) < 1 else str(b)))].append(px)
    positions = sorted(set(posn))
    b0_pd = np.stack([np.mean(by_pos_b[(p, "b0")], axis=0) for p in positions], axis=-1)
    tr_pd = np.stack([geomean(np.stack(by_pos_b[(p, "b1000")])) for p in positions], axis=-1)
    out["reference_adc_from_pydicom"] = adc_ref(b0_pd, tr_pd)
    out["reference_adc_from_pydicom"]["note"] = (
        "slices ordered by position along the normal; rows x cols as stored; "
        "each file scaled with its own RescaleSlope/Intercept")

    conv = run_dcm2niix(exe, folder, shared)
    data = conv.pop("_data", {})
    out["dcm2niix"] = conv
    if data:
        (name, (vol, _info)), = data.items()
        bval_file = name.replace(".nii.gz", ".bval")
        bvals = np.array(conv["outputs"][bval_file]["values"])
        b0 = vol[..., bvals < 50].mean(axis=-1)
        tr = geomean(np.moveaxis(vol[..., np.abs(bvals - 1000) < 1], -1, 0))
        r = adc_ref(b0, tr)
        r["volumes_b0"] = [int(i) for i in np.where(bvals < 50)[0]]
        r["volumes_b1000"] = [int(i) for i in np.where(np.abs(bvals - 1000) < 1)[0]]
        out["reference_adc_from_dcm2niix"] = r
    compare_affine(out)
    return out


def compare_affine(out):
    """Largest |difference| between the pydicom-derived affine and dcm2niix's."""
    for f, o in out["dcm2niix"].get("outputs", {}).items():
        if "affine" in o:
            d = np.abs(np.array(o["affine"]) -
                       np.array(out["geometry"]["affine_ras_rows_flipped"]))
            out["geometry"]["max_abs_diff_vs_dcm2niix_affine"] = fnum(d.max())


def geomean(stack):
    """Geometric mean along axis 0; 0 wherever any input is <= 0."""
    pos = np.all(stack > 0, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.exp(np.mean(np.log(np.where(stack > 0, stack, 1.0)), axis=0))
    return np.where(pos, g, 0.0)


def adc_ref(b0, tr):
    thr = 0.1 * np.percentile(b0, 99)
    m = (b0 > thr) & (tr > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        adc = np.log(b0 / tr) / 1000.0 * 1e6
    return {
        "units": "1e-6 mm^2/s",
        "b0_p99": fnum(np.percentile(b0, 99)),
        "mask_threshold": fnum(thr),
        "mask_definition": "b0 > 0.1 * percentile99(b0) AND trace > 0",
        "mask_voxels": int(m.sum()),
        "median": fnum(np.median(adc[m])),
        "stats": stats(adc, m),
        "b0_median_in_mask": fnum(np.median(b0[m])),
        "trace_median_in_mask": fnum(np.median(tr[m])),
    }


# -------------------------------------------------------------------- main

def find_dcm2niix(arg):
    if arg:
        return arg
    here = os.path.join(os.path.dirname(sys.executable), "dcm2niix")
    if os.path.exists(here):
        return here
    return shutil.which("dcm2niix")


def versions(exe):
    v = {"python": platform.python_version()}
    for pkg in ("nibabel", "pydicom", "numpy", "scipy", "dcm2niix"):
        try:
            v[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            v[pkg] = None
    if exe:
        p = subprocess.run([exe, "--version"], capture_output=True, text=True)
        m = re.search(r"v\d+\.\d+\.\d+\S*", p.stdout + p.stderr)
        v["dcm2niix_binary"] = m.group(0) if m else None
    return v


class CompactEncoder(json.JSONEncoder):
    """Indented JSON, but lists of scalars stay on one line."""

    def iterencode(self, o, _one_shot=False):
        return iter([self._enc(o, 0)])

    def _enc(self, o, lvl):
        pad, pad1 = " " * lvl, " " * (lvl + 1)
        if isinstance(o, dict):
            if not o:
                return "{}"
            items = [f"{pad1}{json.dumps(str(k))}: {self._enc(v, lvl + 1)}" for k, v in o.items()]
            return "{\n" + ",\n".join(items) + "\n" + pad + "}"
        if isinstance(o, (list, tuple)):
            if all(not isinstance(x, (dict, list, tuple)) for x in o):
                return "[" + ", ".join(json.dumps(x) for x in o) + "]"
            if all(isinstance(x, (list, tuple)) and
                   all(not isinstance(y, (dict, list, tuple)) for y in x) for x in o):
                return "[" + ", ".join(self._enc(x, lvl + 1) for x in o) + "]"
            return "[\n" + ",\n".join(pad1 + self._enc(x, lvl + 1) for x in o) + "\n" + pad + "]"
        return json.dumps(o, allow_nan=False)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shared", default=os.path.join(REPO_ROOT, "..", "shared"),
                    help="shared data folder (default: <repo>/../shared)")
    ap.add_argument("--dcm2niix", default=None, help="dcm2niix binary")
    args = ap.parse_args()
    shared = os.path.abspath(args.shared)
    real = os.path.join(shared, "data", "real")
    if not os.path.isdir(real):
        sys.exit(f"no {real}: pass --shared")
    exe = find_dcm2niix(args.dcm2niix)
    out = {
        "generator": "tools/reference_values.py",
        "tools": versions(exe),
        "isles22": [isles_case(d, shared) for d in
                    sorted(glob.glob(os.path.join(real, "isles22", "sub-strokecase000[123]")))],
        "ads": [ads_subject(d, shared) for d in
                sorted(glob.glob(os.path.join(real, "ads", "Subject0[12]")))],
        "dicom": {
            "aisd-0019983-dwi": aisd(os.path.join(real, "dicom", "aisd-0019983-dwi"), shared, exe),
            "philips-dwi-healthy": philips(os.path.join(real, "dicom", "philips-dwi-healthy"),
                                           shared, exe),
        },
    }
    sys.stdout.write(json.dumps(out, cls=CompactEncoder) + "\n")


if __name__ == "__main__":
    main()
