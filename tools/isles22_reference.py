#!/usr/bin/env python3
"""Reference values of the ISLES'22 metrics on hand-made cases, computed with the
challenge's own evaluation code, for crates/eval's tests.

What it does
------------
Builds small binary volumes (truth and prediction) from the case definitions below
(boxes and single voxels on a grid with a given voxel size), runs the official
functions of the ISLES'22 repository (``utils/eval_utils.py`` of
ezequieldlrosa/isles22: ``compute_dice``, ``compute_absolute_volume_difference``,
``compute_absolute_lesion_difference``, ``compute_lesion_f1_score``; 26-connected
components via ``cc3d``) and prints one JSON document: the case definitions and the
four numbers per case. ``crates/eval/tests/isles22_reference.rs`` rebuilds the same
volumes from the JSON and compares strokeseg-eval's results with these numbers.

The official code is not part of this repository; point ``--isles22`` at a
checkout of the challenge repository (the folder that holds ``utils/``).

How to run (from the repository root)
-------------------------------------
    python3 -m venv /tmp/isles-venv
    /tmp/isles-venv/bin/pip install "numpy<1.24" connected-components-3d "nibabel<5.3"
    /tmp/isles-venv/bin/python tools/isles22_reference.py --isles22 PATH/TO/isles22 \
        > tools/isles22_reference.json

``nibabel`` too for the real-data pairs (``--shared``; skipped when absent).
numpy < 1.24 because the official code uses ``np.bool`` and ``np.float``.
Versions that produced the committed JSON are written into it under "tools".

Case layout
-----------
``dims`` [i, j, k], ``spacing_mm`` [i, j, k] (axis-aligned grid); ``truth`` and
``pred`` are lists of boxes ``[i0, j0, k0, i1, j1, k1]`` (inclusive corners; a
single voxel has equal corners). Volume per voxel is prod(spacing)/1000 mL, as in
the challenge's notebook (``np.prod(header.get_zooms())/1000``).
"""

import argparse
import json
import os
import sys
from importlib import metadata

import numpy as np

CASES = [
    {"name": "both_empty", "dims": [10, 10, 6], "spacing_mm": [1, 1, 1],
     "truth": [], "pred": []},
    {"name": "pred_empty", "dims": [10, 10, 6], "spacing_mm": [1, 1, 2],
     "truth": [[2, 2, 1, 4, 4, 2]], "pred": []},
    {"name": "truth_empty", "dims": [10, 10, 6], "spacing_mm": [1, 1, 2],
     "truth": [], "pred": [[2, 2, 1, 3, 3, 1], [7, 7, 4, 7, 7, 4]]},
    {"name": "identical", "dims": [10, 10, 6], "spacing_mm": [2, 2, 2],
     "truth": [[1, 1, 1, 5, 4, 3]], "pred": [[1, 1, 1, 5, 4, 3]]},
    # Three truth lesions: a big one half predicted, a small one touched by one
    # predicted voxel, a single voxel missed; plus two false-positive components.
    {"name": "multiple_lesions", "dims": [20, 20, 8], "spacing_mm": [1.2, 1.2, 4],
     "truth": [[2, 2, 1, 7, 7, 4], [12, 12, 1, 13, 13, 2], [17, 2, 6, 17, 2, 6]],
     "pred": [[2, 2, 1, 7, 4, 4], [13, 13, 2, 14, 14, 3],
              [2, 15, 5, 3, 16, 6], [10, 2, 0, 10, 2, 0]]},
    # Voxels touching only at corners or edges are one lesion (26-connectivity).
    {"name": "corner_connected", "dims": [8, 8, 8], "spacing_mm": [1, 1, 1],
     "truth": [[1, 1, 1, 1, 1, 1], [2, 2, 2, 2, 2, 2], [3, 3, 2, 3, 3, 2]],
     "pred": [[3, 3, 2, 3, 3, 2], [6, 6, 6, 6, 6, 6], [5, 5, 5, 5, 5, 5]]},
    # One predicted component bridging two truth lesions: two TPs, no FP.
    {"name": "merged_prediction", "dims": [16, 8, 4], "spacing_mm": [1, 1, 3],
     "truth": [[1, 1, 1, 3, 3, 2], [9, 1, 1, 11, 3, 2]],
     "pred": [[2, 2, 1, 10, 2, 1]]},
    # One truth lesion hit by two predicted components: one TP, no FP.
    {"name": "split_prediction", "dims": [16, 8, 4], "spacing_mm": [1, 1, 1],
     "truth": [[1, 1, 1, 12, 3, 2]], "pred": [[1, 1, 1, 3, 3, 2], [9, 1, 1, 11, 3, 2]]},
    # A false positive adjacent (diagonally) to the truth is part of a touching
    # component, so not a false positive.
    {"name": "adjacent_extension", "dims": [10, 10, 4], "spacing_mm": [1, 1, 1],
     "truth": [[2, 2, 1, 4, 4, 1]], "pred": [[4, 4, 1, 4, 4, 1], [5, 5, 2, 6, 6, 2]]},
]


def volume(case, boxes):
    v = np.zeros(case["dims"], dtype=np.uint8)
    for i0, j0, k0, i1, j1, k1 in boxes:
        v[i0:i1 + 1, j0:j1 + 1, k0:k1 + 1] = 1
    return v


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--isles22", required=True,
                    help="checkout of the ISLES'22 repository (holds utils/eval_utils.py)")
    ap.add_argument("--shared", default=None,
                    help="the shared data folder (default: <repo>/../shared); its ISLES'22 "
                         "masks 0002 and 0003 (same grid) are scored against each other")
    args = ap.parse_args()
    sys.path.insert(0, f"{args.isles22}/utils")
    import cc3d  # noqa: F401  (the official code's dependency; version recorded)
    import eval_utils as ev

    out = []
    for c in CASES:
        t, p = volume(c, c["truth"]), volume(c, c["pred"])
        voxel_ml = np.float64(np.prod(c["spacing_mm"]) / 1000.0)
        out.append({
            **c,
            "dice": float(ev.compute_dice(t, p)),
            "abs_volume_diff_ml": float(ev.compute_absolute_volume_difference(t, p, voxel_ml)),
            "abs_lesion_count_diff": int(ev.compute_absolute_lesion_difference(t, p)),
            "lesion_f1": float(ev.compute_lesion_f1_score(t, p)),
        })
        print(f"{c['name']}: {out[-1]['dice']:.4f} {out[-1]['lesion_f1']:.4f}", file=sys.stderr)
    # Real lesion shapes: the expert masks of two ISLES'22 cases on the same grid, each
    # taken as the "prediction" of the other, and masks against shifted copies of
    # themselves (read in place, nothing copied).
    real = []
    shared = args.shared or os.path.join(os.path.dirname(__file__), "..", "..", "shared")
    base = os.path.join(shared, "data", "real", "isles22")
    if os.path.isdir(base):
        import nibabel as nib
        def msk(n):
            rel = f"sub-strokecase{n}/sub-strokecase{n}_ses-0001_msk.nii.gz"
            img = nib.load(os.path.join(base, rel))
            return rel, np.asarray(img.dataobj), np.prod(img.header.get_zooms()) / 1000.0
        # shift: the prediction's voxels move by +[di, dj, dk] (zero-filled), so a shifted
        # copy of a mask overlaps its large lesions and misses some small ones.
        for a, b, sh in [("0002", "0003", [0, 0, 0]), ("0003", "0002", [0, 0, 0]),
                         ("0003", "0003", [2, 1, 0]), ("0001", "0001", [0, 3, 1])]:
            (rt, t, vml), (rp, p0, _) = msk(a), msk(b)
            p = np.zeros_like(p0)
            n = p0.shape
            p[sh[0]:, sh[1]:, sh[2]:] = p0[:n[0] - sh[0], :n[1] - sh[1], :n[2] - sh[2]]
            real.append({
                "truth": rt, "pred": rp, "shift": sh,
                "dice": float(ev.compute_dice(t, p)),
                "abs_volume_diff_ml": float(ev.compute_absolute_volume_difference(t, p, np.float64(vml))),
                "abs_lesion_count_diff": int(ev.compute_absolute_lesion_difference(t, p)),
                "lesion_f1": float(ev.compute_lesion_f1_score(t, p)),
                "truth_lesions": int(ev.compute_number_of_clusters(t.astype(bool))),
                "pred_lesions": int(ev.compute_number_of_clusters(p.astype(bool))),
            })
    else:
        print(f"{base} not found: real-data pairs skipped", file=sys.stderr)
    tools = {"python": sys.version.split()[0], "numpy": np.__version__,
             "connected-components-3d": metadata.version("connected-components-3d")}
    json.dump({"source": "ISLES'22 utils/eval_utils.py (ezequieldlrosa/isles22)",
               "tools": tools, "cases": out, "real_isles22": real}, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
