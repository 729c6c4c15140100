#!/usr/bin/env python3
"""How far the expert-labelled small lesions of the ISLES'22 cases stand above the noise, measured
as `synth --implant` measures its implants (docs/synth.md, implant mode step 4): the noise SD is
1.4826 x the median absolute deviation of the DWI from its 1.5 mm normalised-Gaussian local mean
in normal brain tissue (ADC < 1300, 3 voxels away from any lesion); a lesion's peak CNR is its
brightest voxel minus the median of the 2-voxel ring around it, over that SD. Needs nibabel and
scipy (pip).

Usage: python3 tools/realbg/real_small_cnr.py [SHARED] [MAX_ML]
  SHARED  the shared data folder (default ../shared next to the repository)
  MAX_ML  largest lesion volume counted (default 0.2 mL)
"""
import os
import sys

import nibabel as nib
import numpy as np
import scipy.ndimage as nd

here = os.path.dirname(os.path.abspath(__file__))
shared = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "../../../shared")
max_ml = float(sys.argv[2]) if len(sys.argv) > 2 else 0.2
root = os.path.join(shared, "data/real/isles22")
cnrs = []
for case in sorted(os.listdir(root)):
    base = os.path.join(root, case, f"{case}_ses-0001_")
    dimg = nib.load(base + "dwi.nii.gz")
    dwi = dimg.get_fdata()
    adc = nib.load(base + "adc.nii.gz").get_fdata()
    m = nib.load(base + "msk.nii.gz").get_fdata() > 0.5
    zooms = dimg.header.get_zooms()[:3]
    vox_ml = float(np.prod(zooms)) / 1000
    brain = (adc > 0) & (dwi > np.percentile(dwi[dwi > 0], 30))
    w = brain.astype(float)
    sigma = [1.5 / s for s in zooms]
    local = nd.gaussian_filter(dwi * w, sigma) / np.maximum(nd.gaussian_filter(w, sigma), 1e-3)
    normal = brain & ~nd.binary_dilation(m, iterations=3) & (adc < 1300)
    r = (dwi - local)[normal]
    noise = 1.4826 * np.median(np.abs(r - np.median(r)))
    lab, n = nd.label(m, structure=np.ones((3, 3, 3)))
    here_cnrs = []
    for i in range(1, n + 1):
        li = lab == i
        if li.sum() * vox_ml > max_ml:
            continue
        ring = nd.binary_dilation(li, iterations=2) & ~li & brain
        here_cnrs.append((dwi[li].max() - np.median(dwi[ring])) / noise)
    print(f"{case}: noise SD {noise:.1f}, {len(here_cnrs)} lesions <= {max_ml} mL")
    cnrs += here_cnrs
if cnrs:
    c = np.array(cnrs)
    pct = ", ".join(f"p{p} {np.percentile(c, p):.1f}" for p in (5, 10, 25, 50))
    print(f"{len(c)} lesions: peak CNR min {c.min():.1f}, {pct}, max {c.max():.1f}")
