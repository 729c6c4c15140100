#!/usr/bin/env python3
"""Reads how visible the small truth lesions of template-synthetic studies are, and what a model
answered there (docs/experiments.md §4, eighth session). Needs nibabel and scipy (pip).

Usage: python3 tools/realbg/tiny_lesions.py DATA_ROOT SEG_OUT STUDY_ID...
  DATA_ROOT  a `strokeseg synth` dataset of several sites (e.g. data/synth-test), site-X/sub-*
  SEG_OUT    a folder with one `strokeseg segment STUDY --prob --out SEG_OUT/<id>` per study
For each lesion of at most 30 native voxels: its size, the highest probability in it, its mean
DWI over the brain median in brain SD (and that of the 2-voxel ring around it), and its lowest
ADC over the brain's median ADC.
"""
import glob
import sys

import nibabel as nib
import numpy as np
import scipy.ndimage as nd

root, seg = sys.argv[1], sys.argv[2]
for sid in sys.argv[3:]:
    base = glob.glob(f"{root}/site-*/{sid}")[0].rsplit("/", 1)[0]
    load = lambda pat: nib.load(glob.glob(pat)[0])
    m = load(f"{base}/derivatives/{sid}/*/*_msk.nii.gz").get_fdata() > 0.5
    dimg = load(f"{base}/{sid}/*/dwi/*_dwi.nii.gz")
    dwi = dimg.get_fdata()
    adc = load(f"{base}/{sid}/*/dwi/*_adc.nii.gz").get_fdata()
    prob = load(f"{seg}/*/{sid}/*probseg.nii.gz").get_fdata()
    vox_ml = float(np.prod(dimg.header.get_zooms()[:3])) / 1000
    brain = dwi > np.percentile(dwi[dwi > 0], 30)
    normal = brain & ~m
    mu, sd, adc_med = np.median(dwi[normal]), np.std(dwi[normal]), np.median(adc[normal])
    lab, n = nd.label(m, structure=np.ones((3, 3, 3)))
    for i in range(1, n + 1):
        li = lab == i
        if li.sum() > 30:
            continue
        ring = nd.binary_dilation(li, iterations=2) & ~li & brain
        adc_ratio = adc[li].min() / adc_med if adc_med > 0 else float("nan")
        print(f"{sid} lesion {i}: {li.sum()} voxels, {li.sum() * vox_ml:.3f} mL, "
              f"max p {prob[li].max():.2f}, DWI z {(dwi[li].mean() - mu) / sd:.1f} "
              f"(ring {(dwi[ring].mean() - mu) / sd:.1f}), lowest ADC ratio {adc_ratio:.2f}")
