#!/usr/bin/env python3
"""Reads a strokeseg DICOM SEG back with highdicom and checks it against its source series.

Usage: check_seg.py SEG SOURCE_DIR [--mask-voxels N]

Checks (each failure is printed; exit status 1 if any, 0 when all pass):
  - highdicom parses it as a binary Segmentation with one segment, "Acute infarct",
    category SCT 49755003, type SCT 55641003, algorithm type AUTOMATIC;
  - patient, study and frame of reference are those of the source series (found in
    SOURCE_DIR by the SEG's Referenced Series Sequence), and every referenced source
    instance exists there;
  - each SEG frame lies exactly on the source image(s) it references (position), and the
    SEG's orientation and pixel spacing are the source's;
  - the SEG volume highdicom builds has the geometry of the source series' volume (one image
    per slice position), and, with --mask-voxels, holds exactly N segmented voxels.

Runs in the venv made by tools/setup-dicom-venv.sh (highdicom, pydicom, numpy).
"""
import argparse
import pathlib
import sys

import highdicom as hd
import numpy as np
import pydicom

SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
TOL_MM = 1e-3


def load_series(folder, series_uid):
    """Datasets of `series_uid` under `folder` (recursively), keyed by SOPInstanceUID."""
    out = {}
    for p in sorted(pathlib.Path(folder).rglob("*")):
        if not p.is_file():
            continue
        try:
            ds = pydicom.dcmread(p)
        except Exception:  # not DICOM
            continue
        if getattr(ds, "SeriesInstanceUID", None) == series_uid:
            out[ds.SOPInstanceUID] = ds
    return out


def source_position(ds, frame_number):
    """ImagePositionPatient of a single-frame image, or of frame `frame_number` (1-based)."""
    if frame_number is None:
        return np.array(ds.ImagePositionPatient, dtype=float)
    item = ds.PerFrameFunctionalGroupsSequence[frame_number - 1]
    return np.array(item.PlanePositionSequence[0].ImagePositionPatient, dtype=float)


def source_orientation_spacing(ds):
    if "SharedFunctionalGroupsSequence" in ds:
        sh = ds.SharedFunctionalGroupsSequence[0]
        return (
            np.array(sh.PlaneOrientationSequence[0].ImageOrientationPatient, dtype=float),
            np.array(sh.PixelMeasuresSequence[0].PixelSpacing, dtype=float),
        )
    return (
        np.array(ds.ImageOrientationPatient, dtype=float),
        np.array(ds.PixelSpacing, dtype=float),
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("seg")
    ap.add_argument("source_dir")
    ap.add_argument("--mask-voxels", type=int, default=None)
    a = ap.parse_args()

    failures = []

    def check(ok, what):
        if not ok:
            failures.append(what)

    seg = hd.seg.segread(a.seg)
    check(seg.SOPClassUID == SEG_SOP_CLASS, f"SOP class {seg.SOPClassUID}")
    check(seg.segmentation_type == hd.seg.SegmentationTypeValues.BINARY, "not BINARY")
    check(list(seg.segment_numbers) == [1], f"segments {list(seg.segment_numbers)}")
    desc = seg.get_segment_description(1)
    check(desc.segment_label == "Acute infarct", f"label {desc.segment_label!r}")
    cat, typ = desc.segmented_property_category, desc.segmented_property_type
    check((cat.value, cat.scheme_designator) == ("49755003", "SCT"), f"category {cat}")
    check((typ.value, typ.scheme_designator) == ("55641003", "SCT"), f"type {typ}")
    check(desc.algorithm_type == hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
          f"algorithm type {desc.algorithm_type}")

    series_uid = seg.ReferencedSeriesSequence[0].SeriesInstanceUID
    src = load_series(a.source_dir, series_uid)
    if not src:
        print(f"check_seg: FAIL: no image of series {series_uid} under {a.source_dir}")
        return 1
    first = next(iter(src.values()))
    for kw in ("PatientID", "PatientName", "StudyInstanceUID", "FrameOfReferenceUID"):
        check(str(getattr(seg, kw, "")) == str(getattr(first, kw, "")),
              f"{kw}: SEG {getattr(seg, kw, None)!r} vs source {getattr(first, kw, None)!r}")
    check(seg.SeriesInstanceUID != series_uid, "SEG reuses the source SeriesInstanceUID")

    # highdicom's own view of the references.
    for _study, _series, inst in seg.get_source_image_uids():
        check(inst in src, f"referenced instance {inst} not in the source series")

    # Frame by frame: position of the frame vs the referenced source images.
    o_src, ps_src = source_orientation_spacing(first)
    sh = seg.SharedFunctionalGroupsSequence[0]
    check(np.allclose(sh.PlaneOrientationSequence[0].ImageOrientationPatient, o_src, atol=1e-5),
          "orientation differs from the source")
    check(np.allclose(sh.PixelMeasuresSequence[0].PixelSpacing, ps_src, atol=1e-5),
          "pixel spacing differs from the source")
    n_refs = 0
    one_per_position = []
    for k, f in enumerate(seg.PerFrameFunctionalGroupsSequence):
        pos = np.array(f.PlanePositionSequence[0].ImagePositionPatient, dtype=float)
        refs = f.DerivationImageSequence[0].SourceImageSequence
        for r in refs:
            ds = src.get(r.ReferencedSOPInstanceUID)
            if ds is None:
                failures.append(f"frame {k + 1}: unknown source {r.ReferencedSOPInstanceUID}")
                continue
            fn = int(r.ReferencedFrameNumber) if "ReferencedFrameNumber" in r else None
            sp = source_position(ds, fn)
            check(np.abs(sp - pos).max() < TOL_MM, f"frame {k + 1} at {pos}, its source at {sp}")
            n_refs += 1
        if refs and refs[0].ReferencedSOPInstanceUID in src and "ReferencedFrameNumber" not in refs[0]:
            one_per_position.append(src[refs[0].ReferencedSOPInstanceUID])

    # Volumes: the SEG's, as highdicom builds it, vs the source series'.
    vol = seg.get_volume()
    n_vox = int(np.count_nonzero(vol.array))
    if a.mask_voxels is not None:
        check(n_vox == a.mask_voxels, f"{n_vox} segmented voxels, expected {a.mask_voxels}")
    if len(one_per_position) == len(seg.PerFrameFunctionalGroupsSequence) and len(one_per_position) > 1:
        src_vol = hd.get_volume_from_series(one_per_position)
        check(vol.geometry_equal(src_vol, tol=1e-3),
              f"SEG volume geometry\n{vol.affine}\nvs source\n{src_vol.affine}")
        check(vol.spatial_shape == src_vol.spatial_shape,
              f"SEG volume shape {vol.spatial_shape} vs source {src_vol.spatial_shape}")
        geometry = "volume geometry equal to the source series"
    else:
        geometry = "frame positions equal to the source frames"

    if failures:
        for f in failures:
            print(f"check_seg: FAIL: {f}")
        return 1
    print(f"check_seg: OK: {seg.NumberOfFrames} frames, {n_refs} source references, "
          f"{n_vox} segmented voxels, {geometry} (highdicom {hd.__version__})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
