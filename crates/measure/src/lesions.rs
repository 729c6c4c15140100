//! Lesion table: threshold, 26-connected components, per-component measurements.

use ndarray::Array3;
use ndarray_ndimage::{label, Kernel3d};
use serde::{Deserialize, Serialize};
use strokeseg_core::{Mask, Volume};
use strokeseg_mni::regions::{region_at, Region};

/// How a probability map becomes lesions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LesionConfig {
    /// A voxel is lesion when its probability is `>= threshold` (default 0.5).
    pub threshold: f32,
    /// Components smaller than this many millilitres are dropped (default 0.0: keep all).
    pub min_volume_ml: f64,
    /// Restricted diffusion: where the study has an ADC, a lesion whose lowest quarter of
    /// ADC values is not below this share of the brain's median ADC is dropped
    /// ([`keep_restricted`]; default [`RESTRICTED_ADC_RATIO`]). `None`: not applied. Studies
    /// without ADC are never filtered.
    #[serde(default)]
    pub max_adc_ratio: Option<f32>,
}

/// The default [`LesionConfig::max_adc_ratio`], applied to a lesion's lowest quarter of ADC
/// values ([`LesionSignal::adc_ratio_low`]). An acute infarct is bright on DWI because
/// diffusion is restricted, so its ADC is *low*: the three real ISLES'22 cases have lesion /
/// normal-brain ADC ratios (medians) of 0.55–0.81, the implanted and template-synthetic
/// training lesions 0.33–0.96 by study (docs/synth.md), and acute infarcts are reported at
/// 0.5–0.8 of normal tissue in the literature. Bright spots whose ADC is normal throughout
/// (T2 shine-through, susceptibility and flow artefacts, the normal cerebellar and cortical
/// DWI brightness of some scanners) are not acute infarcts. The lower quartile rather than
/// the median keeps a detection that also took in normal tissue around a real infarct.
pub const RESTRICTED_ADC_RATIO: f32 = 0.8;

impl Default for LesionConfig {
    fn default() -> Self {
        LesionConfig {
            threshold: 0.5,
            min_volume_ml: 0.0,
            max_adc_ratio: Some(RESTRICTED_ADC_RATIO),
        }
    }
}

/// Whether `l` passes the restricted-diffusion rule at `max` (a lesion without a measured
/// ADC ratio passes).
#[must_use]
pub fn is_restricted(l: &Lesion, max: f32) -> bool {
    l.signal
        .and_then(|s| s.adc_ratio_low)
        .is_none_or(|r| r < max)
}

/// The ids of the `candidates` (components of `cand_mask`, found at the lower candidate
/// threshold) that hold a voxel of `kept` (the lesion mask after the restricted-diffusion
/// rule). One labelling of `cand_mask`, shared by [`call_candidates`] and
/// [`crate::deciding_candidate`].
#[must_use]
pub fn holding_kept(
    cand_mask: &Mask,
    candidates: &[Lesion],
    kept: &Mask,
) -> std::collections::HashSet<u32> {
    label_lesions(cand_mask, candidates)
        .data()
        .iter()
        .zip(kept.data().iter())
        .filter(|(_, &k)| k)
        .map(|(&l, _)| l)
        .collect()
}

/// The candidates (measured with [`add_signal`]) that count for the patient call: those that
/// pass the restricted-diffusion rule themselves, and those holding a lesion of the mask
/// (`holding`, from [`holding_kept`]): a candidate grows into normal tissue around a lesion
/// at the lower threshold, so its own ratio can rise above the limit while the lesion inside
/// passes.
#[must_use]
pub fn call_candidates(
    candidates: Vec<Lesion>,
    max_adc_ratio: Option<f32>,
    holding: &std::collections::HashSet<u32>,
) -> Vec<Lesion> {
    let Some(max) = max_adc_ratio else {
        return candidates;
    };
    candidates
        .into_iter()
        .filter(|c| is_restricted(c, max) || holding.contains(&(c.id as u32)))
        .collect()
}

/// Drops the lesions whose lower-quartile ADC ratio ([`LesionSignal::adc_ratio_low`],
/// measured by [`add_signal`]) is at or above `max_adc_ratio` from `lesions` and `mask`, and numbers the rest 1, 2, … again
/// (largest first, as before). Lesions without an ADC ratio (no ADC, or not measured) are
/// kept. Returns the new mask and lesions, and how many were dropped.
#[must_use]
pub fn keep_restricted(
    mask: Mask,
    lesions: Vec<Lesion>,
    max_adc_ratio: Option<f32>,
) -> (Mask, Vec<Lesion>, usize) {
    let Some(max) = max_adc_ratio else {
        return (mask, lesions, 0);
    };
    let restricted = |l: &Lesion| is_restricted(l, max);
    if lesions.iter().all(restricted) {
        return (mask, lesions, 0);
    }
    let labels = label_lesions(&mask, &lesions);
    let drop: std::collections::HashSet<u32> = lesions
        .iter()
        .filter(|l| !restricted(l))
        .map(|l| l.id as u32)
        .collect();
    let grid = mask.grid();
    let kept_mask = Mask::on_grid(
        ndarray::Zip::from(mask.data())
            .and(labels.data())
            .map_collect(|&m, l| m && !drop.contains(l)),
        &grid,
    );
    let n_drop = drop.len();
    let kept: Vec<Lesion> = lesions
        .into_iter()
        .filter(|l| !drop.contains(&(l.id as u32)))
        .enumerate()
        .map(|(i, mut l)| {
            l.id = i + 1;
            l
        })
        .collect();
    tracing::debug!(
        dropped = n_drop,
        kept = kept.len(),
        "lesions without restricted diffusion (lower-quartile ADC ratio >= {max}) dropped"
    );
    (kept_mask, kept, n_drop)
}

/// One lesion: a 26-connected component of the thresholded probability map.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
pub struct Lesion {
    /// 1-based, in order of volume (largest first; equal volumes in voxel order of their
    /// first voxel). Also the lesion's label value in [`find_lesions`]' ordering.
    pub id: usize,
    /// Volume in millilitres (voxel count × voxel volume of the native grid).
    pub volume_ml: f64,
    /// Number of voxels.
    pub n_voxels: usize,
    /// Centroid in world millimetres (RAS+).
    pub centroid_mm: [f64; 3],
    /// Centroid as a fractional voxel index `[i, j, k]`.
    pub centroid_voxel: [f64; 3],
    /// Bounding box in voxels, `[min, max]`, both inclusive.
    pub bbox_voxel: [[usize; 3]; 2],
    /// Highest probability in the lesion.
    pub max_prob: f32,
    /// Mean probability over the lesion's voxels.
    pub mean_prob: f32,
    /// The lesion's score for the patient call: the mean of its [`SCORE_VOXELS`] most
    /// probable voxels, a missing voxel counting 0 — so one isolated confident voxel scores
    /// at most 1/3 while any lesion of three or more confident voxels scores near its
    /// probability (see [`crate::patient_score`]).
    #[serde(default)]
    pub score: f32,
    /// Coarse region of the centroid (via the MNI map given to [`find_lesions`]).
    pub region: Region,
    /// Centroid mapped to MNI space by that (approximate) map, in mm.
    pub centroid_mni_approx: [f64; 3],
    /// How the lesion's DWI and ADC compare with the brain's ([`add_signal`]): an acute
    /// infarct is bright on DWI *and* dark on ADC; a bright spot with normal ADC is more
    /// likely T2 shine-through or an artefact. Absent until measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<LesionSignal>,
}

/// A lesion's signal relative to the brain it is in: the median inside the lesion over the
/// median of the brain mask (both on the study's native grid, as acquired).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, schemars::JsonSchema)]
pub struct LesionSignal {
    /// DWI (trace) ratio; above 1 is brighter than the brain.
    pub dwi_ratio: f32,
    /// ADC ratio; below 1 is restricted diffusion. `None` for a study without ADC.
    #[serde(default)]
    pub adc_ratio: Option<f32>,
    /// The same for the lesion's lowest quarter of ADC values (25th percentile): low when a
    /// part of the lesion is restricted even if the segmentation also took in normal tissue.
    #[serde(default)]
    pub adc_ratio_low: Option<f32>,
    /// Left–right asymmetry: the lesion's median DWI over the median DWI of the same voxels
    /// reflected through the brain's mid-sagittal plane (`strokeseg_preproc::mirror`). An
    /// infarct is nearly always one-sided, so it is brighter than its mirror (above 1); a
    /// bright spot that the other hemisphere shares (normal posterior-fossa or cortical
    /// brightness, a ghost, coil shading) is near 1. Midline lesions are their own mirror
    /// and read near 1 too. A lesion at the edge of the head whose reflection lands outside it
    /// reads very high. `None` when no plane was fitted or the reflection leaves the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dwi_mirror_ratio: Option<f32>,
}

/// A reflection of world coordinates (mm) through the brain's mid-sagittal plane.
pub type Mirror<'a> = &'a dyn Fn([f64; 3]) -> [f64; 3];

/// The `q`-quantile (0–1) of `v` (reordered in place); `None` when empty.
fn quantile(v: &mut [f32], q: f64) -> Option<f32> {
    if v.is_empty() {
        return None;
    }
    let k = ((v.len() - 1) as f64 * q).round() as usize;
    let (_, m, _) = v.select_nth_unstable_by(k, f32::total_cmp);
    Some(*m)
}

/// Median of `v` (sorted in place); `None` when empty.
fn median(v: &mut [f32]) -> Option<f32> {
    if v.is_empty() {
        return None;
    }
    let mid = v.len() / 2;
    let (_, m, _) = v.select_nth_unstable_by(mid, f32::total_cmp);
    Some(*m)
}

/// Fills [`Lesion::signal`] of each lesion of `mask` (as found by [`find_lesions`]) from the
/// study's DWI and, when given, ADC (same grid as the mask), and with `mirror` (the brain's
/// left–right reflection in world mm) the DWI asymmetry [`LesionSignal::dwi_mirror_ratio`].
/// Ratios whose brain median is not positive are left out (`signal` stays `None`).
pub fn add_signal(
    lesions: &mut [Lesion],
    mask: &Mask,
    brain: &Mask,
    dwi: &Volume,
    adc: Option<&Volume>,
    mirror: Option<Mirror<'_>>,
) {
    if lesions.is_empty()
        || dwi.dims() != mask.dims()
        || adc.is_some_and(|a| a.dims() != mask.dims())
    {
        return;
    }
    let labels = label_lesions(mask, lesions);
    let n = lesions.iter().map(|l| l.id).max().unwrap_or(0);
    let finite = |v: f32| v.is_finite().then_some(v);
    let brain_median = |img: &Volume| {
        let mut v: Vec<f32> = img
            .data()
            .iter()
            .zip(brain.data().iter())
            .filter_map(|(&x, &b)| if b { finite(x) } else { None })
            .collect();
        median(&mut v).filter(|m| *m > 0.0)
    };
    let per_lesion = |img: &Volume| {
        let mut v: Vec<Vec<f32>> = vec![Vec::new(); n + 1];
        for (&l, &x) in labels.data().iter().zip(img.data().iter()) {
            if l > 0 {
                if let Some(x) = finite(x) {
                    v[l as usize].push(x);
                }
            }
        }
        v
    };
    let Some(dwi_brain) = brain_median(dwi) else {
        return;
    };
    let mut dwi_in = per_lesion(dwi);
    let mut adc_in = adc.and_then(|a| brain_median(a).map(|m| (m, per_lesion(a))));
    let mut mirrored = mirror.map(|m| mirrored_per_lesion(&labels, dwi, m, n));
    for l in lesions.iter_mut() {
        let Some(d) = median(&mut dwi_in[l.id]) else {
            continue;
        };
        let (adc_ratio, adc_ratio_low) = match adc_in.as_mut() {
            Some((m, v)) => (
                median(&mut v[l.id]).map(|a| a / *m),
                quantile(&mut v[l.id], 0.25).map(|a| a / *m),
            ),
            None => (None, None),
        };
        let dwi_mirror_ratio = mirrored
            .as_mut()
            .and_then(|v| median(&mut v[l.id]))
            .filter(|m| *m > 0.0)
            .map(|m| d / m);
        l.signal = Some(LesionSignal {
            dwi_ratio: d / dwi_brain,
            adc_ratio,
            adc_ratio_low,
            dwi_mirror_ratio,
        });
    }
}

/// For each lesion `1..=n` of `labels`, the DWI at its voxels' reflections through `mirror`
/// (trilinear on `dwi`'s grid; reflections outside the grid are left out).
fn mirrored_per_lesion(
    labels: &strokeseg_core::Image<u32>,
    dwi: &Volume,
    mirror: Mirror<'_>,
    n: usize,
) -> Vec<Vec<f32>> {
    let g = dwi.grid();
    let inv = g.world_to_voxel_affine();
    let dims = g.dims;
    let mut v: Vec<Vec<f32>> = vec![Vec::new(); n + 1];
    for ((i, j, k), &l) in labels.data().indexed_iter() {
        if l == 0 {
            continue;
        }
        let w = mirror(g.voxel_to_world([i as f64, j as f64, k as f64]));
        let q = inv * nalgebra::Vector4::new(w[0], w[1], w[2], 1.0);
        let q = [q[0], q[1], q[2]];
        if (0..3).all(|a| q[a] >= 0.0 && q[a] <= (dims[a] - 1) as f64) {
            let x = strokeseg_core::sample_trilinear(&dwi.data().view(), q);
            if x.is_finite() {
                v[l as usize].push(x);
            }
        }
    }
    v
}

/// Voxels averaged into [`Lesion::score`].
pub const SCORE_VOXELS: usize = 3;

#[derive(Clone)]
struct Acc {
    top: [f32; SCORE_VOXELS],
    n: usize,
    sum: [f64; 3],
    min: [usize; 3],
    max: [usize; 3],
    max_p: f32,
    sum_p: f64,
    first: usize,
}

impl Acc {
    fn new() -> Self {
        Acc {
            top: [0.0; SCORE_VOXELS],
            n: 0,
            sum: [0.0; 3],
            min: [usize::MAX; 3],
            max: [0; 3],
            max_p: f32::NEG_INFINITY,
            sum_p: 0.0,
            first: usize::MAX,
        }
    }
}

/// The lesion number of every voxel of `mask` (0 outside), for [`find_lesions`]' mask and
/// table: components are found again (26-connected) and matched to their lesion by voxel
/// count and bounding box. A component that matches no lesion stays 0.
#[must_use]
pub fn label_lesions(mask: &Mask, lesions: &[Lesion]) -> strokeseg_core::Image<u32> {
    let (labels, n) = label::<u32>(mask.data(), &Kernel3d::Full.generate());
    let mut stats = vec![(0usize, [usize::MAX; 3], [0usize; 3]); n + 1];
    for ((i, j, k), &l) in labels.indexed_iter() {
        let s = &mut stats[l as usize];
        s.0 += 1;
        for (d, x) in [i, j, k].into_iter().enumerate() {
            s.1[d] = s.1[d].min(x);
            s.2[d] = s.2[d].max(x);
        }
    }
    let mut to_id = vec![0u32; n + 1];
    for (c, s) in stats.iter().enumerate().skip(1) {
        if let Some(l) = lesions
            .iter()
            .find(|l| l.n_voxels == s.0 && l.bbox_voxel == [s.1, s.2])
        {
            to_id[c] = l.id as u32;
        }
    }
    strokeseg_core::Image::on_grid(labels.mapv(|l| to_id[l as usize]), &mask.grid())
}

/// Finds lesions in `prob` (probabilities 0–1 on the study's native grid).
///
/// Voxels with `prob >= cfg.threshold` (NaN never) — and inside `brain` when given — are
/// grouped into 26-connected components (face, edge or corner neighbours); components under
/// `cfg.min_volume_ml` are dropped; the rest are numbered 1, 2, … from the largest. `mni`
/// maps a world (RAS+ mm) point to MNI mm, e.g. `&|p| approx.to_mni(p)` with a
/// [`crate::MniApprox`]; it gives [`Lesion::centroid_mni_approx`] and [`Lesion::region`].
///
/// Returns the mask of the kept components (on `prob`'s grid) and the lesion table.
///
/// # Panics
/// When `brain` is not on `prob`'s dims (a programming error).
pub fn find_lesions(
    prob: &Volume,
    brain: Option<&Mask>,
    mni: &dyn Fn([f64; 3]) -> [f64; 3],
    cfg: &LesionConfig,
) -> (Mask, Vec<Lesion>) {
    let dims = prob.dims();
    if let Some(b) = brain {
        assert_eq!(
            b.dims(),
            dims,
            "brain mask must be on the probability map's grid"
        );
    }
    let p = prob.data();
    let fg = Array3::from_shape_fn((dims[0], dims[1], dims[2]), |(i, j, k)| {
        p[[i, j, k]] >= cfg.threshold && brain.is_none_or(|b| b.data()[[i, j, k]])
    });
    // u32: u16 labels overflow on large noisy maps (the crate panics on overflow).
    let (labels, n) = label::<u32>(&fg, &Kernel3d::Full.generate());

    let mut acc = vec![Acc::new(); n + 1];
    for (flat, ((i, j, k), &l)) in labels.indexed_iter().enumerate() {
        if l == 0 {
            continue;
        }
        let a = &mut acc[l as usize];
        let idx = [i, j, k];
        a.n += 1;
        for (d, &x) in idx.iter().enumerate() {
            a.sum[d] += x as f64;
            a.min[d] = a.min[d].min(x);
            a.max[d] = a.max[d].max(x);
        }
        let v = p[[i, j, k]];
        a.max_p = a.max_p.max(v);
        a.sum_p += f64::from(v);
        if v > a.top[SCORE_VOXELS - 1] {
            a.top[SCORE_VOXELS - 1] = v;
            a.top.sort_by(|x, y| y.total_cmp(x));
        }
        a.first = a.first.min(flat);
    }

    let grid = prob.grid();
    let voxel_ml = grid.voxel_volume_ml();
    let mut kept: Vec<usize> = (1..=n)
        .filter(|&l| acc[l].n > 0 && acc[l].n as f64 * voxel_ml >= cfg.min_volume_ml)
        .collect();
    kept.sort_by(|&a, &b| {
        acc[b]
            .n
            .cmp(&acc[a].n)
            .then(acc[a].first.cmp(&acc[b].first))
    });

    let mut new_id = vec![0usize; n + 1];
    let lesions: Vec<Lesion> = kept
        .iter()
        .enumerate()
        .map(|(rank, &l)| {
            new_id[l] = rank + 1;
            let a = &acc[l];
            let nf = a.n as f64;
            let cv = [a.sum[0] / nf, a.sum[1] / nf, a.sum[2] / nf];
            let centroid_mm = grid.voxel_to_world(cv);
            let centroid_mni = mni(centroid_mm);
            Lesion {
                id: rank + 1,
                volume_ml: nf * voxel_ml,
                n_voxels: a.n,
                centroid_mm,
                centroid_voxel: cv,
                bbox_voxel: [a.min, a.max],
                max_prob: a.max_p,
                mean_prob: (a.sum_p / nf) as f32,
                score: a.top.iter().sum::<f32>() / SCORE_VOXELS as f32,
                region: region_at(centroid_mni),
                centroid_mni_approx: centroid_mni,
                signal: None,
            }
        })
        .collect();
    let mask = Mask::on_grid(labels.mapv(|l| new_id[l as usize] > 0), &grid);
    tracing::debug!(
        components = n,
        kept = lesions.len(),
        "lesions at threshold {}",
        cfg.threshold
    );
    (mask, lesions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::{Matrix4, Rotation3, Unit, Vector3};
    use strokeseg_core::Grid;

    fn ident(p: [f64; 3]) -> [f64; 3] {
        p
    }

    fn vol(dims: [usize; 3], spacing: [f64; 3], f: impl Fn([usize; 3]) -> f32) -> Volume {
        let g = Grid::axis_aligned(dims, spacing, [0.0; 3]);
        Volume::on_grid(
            Array3::from_shape_fn((dims[0], dims[1], dims[2]), |(i, j, k)| f([i, j, k])),
            &g,
        )
    }

    fn in_box(v: [usize; 3], lo: [usize; 3], hi: [usize; 3]) -> bool {
        (0..3).all(|d| v[d] >= lo[d] && v[d] <= hi[d])
    }

    #[test]
    fn diagonal_touch_is_one_component_under_26_but_two_under_6() {
        // Two 2×2×2 cubes meeting only at a corner: (1..=2)^3 and (3..=4)^3.
        let p = vol([7, 7, 7], [1.0; 3], |v| {
            if in_box(v, [1; 3], [2; 3]) || in_box(v, [3; 3], [4; 3]) {
                0.9
            } else {
                0.0
            }
        });
        let (mask, l) = find_lesions(&p, None, &ident, &LesionConfig::default());
        assert_eq!(l.len(), 1, "26-connectivity joins corner-touching blobs");
        assert_eq!(l[0].n_voxels, 16);
        assert_eq!(mask.count(), 16);
        assert_eq!(l[0].bbox_voxel, [[1, 1, 1], [4, 4, 4]]);
        // The same blobs under 6-connectivity (the library's Star kernel) are two.
        let fg = p.data().mapv(|x| x >= 0.5);
        let (_, n6) = label::<u32>(&fg, &Kernel3d::Star.generate());
        assert_eq!(n6, 2);
        // Edge-only contact is also one component under 26-connectivity.
        let p = vol([6, 6, 3], [1.0; 3], |v| {
            if v == [1, 1, 1] || v == [2, 2, 1] {
                1.0
            } else {
                0.0
            }
        });
        assert_eq!(
            find_lesions(&p, None, &ident, &LesionConfig::default())
                .1
                .len(),
            1
        );
    }

    #[test]
    fn volumes_on_anisotropic_voxels_ordering_and_min_volume() {
        // 0.9 × 0.9 × 6.5 mm voxels (5.265 µL); blobs of 40, 10 and 1 voxels.
        let sp = [0.9, 0.9, 6.5];
        let p = vol([20, 20, 6], sp, |v| {
            if in_box(v, [10, 10, 1], [14, 13, 2]) {
                0.8 // 5·4·2 = 40 voxels
            } else if in_box(v, [1, 1, 1], [5, 2, 1]) {
                0.95 // 5·2·1 = 10 voxels
            } else if v == [18, 1, 5] {
                0.6 // 1 voxel
            } else {
                0.1
            }
        });
        let vml = 0.9 * 0.9 * 6.5 / 1000.0;
        let (mask, l) = find_lesions(&p, None, &ident, &LesionConfig::default());
        assert_eq!(l.iter().map(|x| x.id).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert_eq!(
            l.iter().map(|x| x.n_voxels).collect::<Vec<_>>(),
            vec![40, 10, 1]
        );
        assert!((l[0].volume_ml - 40.0 * vml).abs() < 1e-12);
        assert!((l[1].volume_ml - 10.0 * vml).abs() < 1e-12);
        assert_eq!(mask.count(), 51);
        assert_eq!(l[1].max_prob, 0.95);
        assert!((l[0].mean_prob - 0.8).abs() < 1e-6);
        assert_eq!(l[0].bbox_voxel, [[10, 10, 1], [14, 13, 2]]);
        // Drop everything under 0.02 mL (3.8 voxels): the single voxel goes, ids stay dense.
        let cfg = LesionConfig {
            threshold: 0.5,
            min_volume_ml: 0.02,
            ..LesionConfig::default()
        };
        let (mask, l) = find_lesions(&p, None, &ident, &cfg);
        assert_eq!(l.len(), 2);
        assert_eq!(l[1].id, 2);
        assert_eq!(mask.count(), 50);
        assert!(!mask.data()[[18, 1, 5]]);
        // A higher threshold removes the 0.8 blob; the 0.95 blob becomes lesion 1.
        let cfg = LesionConfig {
            threshold: 0.9,
            min_volume_ml: 0.0,
            ..LesionConfig::default()
        };
        let (_, l) = find_lesions(&p, None, &ident, &cfg);
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].n_voxels, 10);
    }

    #[test]
    fn label_lesions_numbers_voxels_like_the_table() {
        let p = vol([20, 20, 6], [1.0; 3], |v| {
            if in_box(v, [10, 10, 1], [14, 13, 2]) {
                0.8
            } else if in_box(v, [1, 1, 1], [5, 2, 1]) {
                0.95
            } else {
                0.0
            }
        });
        let (mask, l) = find_lesions(&p, None, &ident, &LesionConfig::default());
        let lab = label_lesions(&mask, &l);
        assert_eq!(lab.data()[[12, 11, 2]], 1, "the 40-voxel blob is lesion 1");
        assert_eq!(lab.data()[[3, 2, 1]], 2);
        assert_eq!(lab.data()[[0, 0, 0]], 0);
        assert_eq!(lab.data().iter().filter(|&&x| x == 1).count(), 40);
        // A table without lesion 2 leaves its voxels unnumbered.
        let lab = label_lesions(&mask, &l[..1]);
        assert_eq!(lab.data()[[3, 2, 1]], 0);
    }

    #[test]
    fn brain_mask_restricts_and_threshold_is_inclusive() {
        let p = vol([8, 8, 8], [1.0; 3], |v| {
            if in_box(v, [2; 3], [5; 3]) {
                0.5
            } else {
                0.0
            }
        });
        let brain = p.map(|_| true);
        let mut half = brain.clone();
        half.data_mut()
            .indexed_iter_mut()
            .for_each(|((i, _, _), b)| *b = i < 4);
        let (_, all) = find_lesions(&p, Some(&brain), &ident, &LesionConfig::default());
        assert_eq!(all[0].n_voxels, 64, "0.5 >= 0.5 counts");
        let (_, l) = find_lesions(&p, Some(&half), &ident, &LesionConfig::default());
        assert_eq!(l[0].n_voxels, 32);
        assert_eq!(l[0].bbox_voxel, [[2, 2, 2], [3, 5, 5]]);
        // Nothing above threshold: empty table, empty mask.
        let z = p.map(|_| f32::NAN);
        let (m, l) = find_lesions(&z, None, &ident, &LesionConfig::default());
        assert!(l.is_empty() && m.count() == 0);
    }

    #[test]
    fn centroid_in_world_mm_on_an_oblique_affine() {
        // Rotation 20° about (1, 0.3, 0.2), spacing 1.2 × 0.8 × 5 mm, arbitrary origin.
        let rot = Rotation3::from_axis_angle(
            &Unit::new_normalize(Vector3::new(1.0, 0.3, 0.2)),
            20f64.to_radians(),
        );
        let lin = rot.matrix() * nalgebra::Matrix3::from_diagonal(&Vector3::new(1.2, 0.8, 5.0));
        let mut a = Matrix4::identity();
        a.fixed_view_mut::<3, 3>(0, 0).copy_from(&lin);
        a[(0, 3)] = -40.0;
        a[(1, 3)] = 12.0;
        a[(2, 3)] = -7.5;
        let g = Grid::new([16, 16, 8], a).unwrap();
        // An L-shaped blob: voxels (4..=6, 5, 2) and (6, 6..=7, 2) and (6, 7, 3).
        let vox: Vec<[usize; 3]> = vec![
            [4, 5, 2],
            [5, 5, 2],
            [6, 5, 2],
            [6, 6, 2],
            [6, 7, 2],
            [6, 7, 3],
        ];
        let data = Array3::from_shape_fn((16, 16, 8), |(i, j, k)| {
            if vox.contains(&[i, j, k]) {
                0.7f32
            } else {
                0.0
            }
        });
        let p = Volume::on_grid(data, &g);
        // Expected: mean of the voxel centres' world positions.
        let mut want = [0.0; 3];
        for v in &vox {
            let w = g.voxel_to_world([v[0] as f64, v[1] as f64, v[2] as f64]);
            for d in 0..3 {
                want[d] += w[d] / vox.len() as f64;
            }
        }
        let shift = |q: [f64; 3]| [q[0] + 1.0, q[1] - 2.0, q[2] + 3.0];
        let (_, l) = find_lesions(&p, None, &shift, &LesionConfig::default());
        assert_eq!(l.len(), 1);
        for d in 0..3 {
            assert!(
                (l[0].centroid_mm[d] - want[d]).abs() < 1e-9,
                "{l:?} vs {want:?}"
            );
        }
        assert!((l[0].centroid_voxel[0] - 33.0 / 6.0).abs() < 1e-12);
        assert!((l[0].centroid_mni_approx[2] - (want[2] + 3.0)).abs() < 1e-9);
        assert!((l[0].volume_ml - 6.0 * 1.2 * 0.8 * 5.0 / 1000.0).abs() < 1e-12);
        // The table serialises (the region as a lower-case name).
        let js = serde_json::to_string(&l[0]).unwrap();
        assert!(js.contains("\"region\":\"supratentorial\""), "{js}");
        let back: Lesion = serde_json::from_str(&js).unwrap();
        assert_eq!((back.id, back.n_voxels, back.region), (1, 6, l[0].region));
        assert_eq!(back.bbox_voxel, l[0].bbox_voxel);
        assert!((back.centroid_mm[1] - l[0].centroid_mm[1]).abs() < 1e-9);
    }

    #[test]
    fn equal_volumes_keep_voxel_order() {
        let p = vol([10, 4, 4], [1.0; 3], |v| {
            if v == [1, 1, 1] || v == [5, 1, 1] || v == [8, 2, 2] {
                0.9
            } else {
                0.0
            }
        });
        let (_, l) = find_lesions(&p, None, &ident, &LesionConfig::default());
        let c: Vec<f64> = l.iter().map(|x| x.centroid_voxel[0]).collect();
        assert_eq!(c, vec![1.0, 5.0, 8.0]);
    }

    #[test]
    fn lesion_score_is_mean_of_three_best_voxels() {
        // One isolated voxel at 0.99, and a 4-voxel lesion at 0.9, 0.8, 0.7, 0.6.
        let probs = vol([12, 6, 6], [1.0; 3], |v| match v {
            [1, 1, 1] => 0.99,
            [6, 2, 2] => 0.9,
            [7, 2, 2] => 0.8,
            [8, 2, 2] => 0.7,
            [9, 2, 2] => 0.6,
            _ => 0.0,
        });
        let (_, lesions) = find_lesions(&probs, None, &ident, &LesionConfig::default());
        assert_eq!(lesions.len(), 2);
        assert!(
            (lesions[0].score - 0.8).abs() < 1e-6,
            "{}",
            lesions[0].score
        );
        assert!(
            (lesions[1].score - 0.33).abs() < 1e-6,
            "{}",
            lesions[1].score
        );
        assert!((crate::patient_score(&lesions) - 0.8).abs() < 1e-6);
    }

    #[test]
    fn deciding_candidate_is_the_best_scored_and_knows_whether_the_mask_shows_it() {
        // A faint 3-voxel candidate (0.45) that never reaches the mask's 0.5, and a 2-voxel
        // lesion at 0.6 that does but scores (0.6 + 0.6 + 0) / 3 = 0.4: the faint one decides.
        let probs = vol([12, 6, 6], [1.0; 3], |v| match v {
            [1, 1, 1] | [2, 1, 1] | [3, 1, 1] => 0.45,
            [8, 2, 2] | [9, 2, 2] => 0.6,
            _ => 0.0,
        });
        let cand_cfg = crate::candidate_config(&LesionConfig::default());
        let (cmask, cands) = find_lesions(&probs, None, &ident, &cand_cfg);
        let (kept, lesions) = find_lesions(&probs, None, &ident, &LesionConfig::default());
        assert_eq!((cands.len(), lesions.len()), (2, 1));
        let held = holding_kept(&cmask, &cands, &kept);
        let (c, in_mask) = crate::deciding_candidate(&cands, &held).unwrap();
        assert!((c.score - 0.45).abs() < 1e-6 && !in_mask, "{c:?}");
        // A confident lesion of three voxels beside a faint voxel: the shown lesion decides.
        let strong = vol([12, 6, 6], [1.0; 3], |v| match v {
            [1, 1, 1] => 0.3,
            [8, 2, 2] | [9, 2, 2] | [10, 2, 2] => 0.9,
            _ => 0.0,
        });
        let (cmask, cands) = find_lesions(&strong, None, &ident, &cand_cfg);
        let (kept, _) = find_lesions(&strong, None, &ident, &LesionConfig::default());
        let held = holding_kept(&cmask, &cands, &kept);
        let (c, in_mask) = crate::deciding_candidate(&cands, &held).unwrap();
        assert!((c.score - 0.9).abs() < 1e-6 && in_mask, "{c:?}");
        // Nothing above 0: no deciding candidate.
        let none = vol([4, 4, 4], [1.0; 3], |_| 0.0);
        let (cmask, cands) = find_lesions(&none, None, &ident, &cand_cfg);
        let held = holding_kept(&cmask, &cands, &cmask);
        assert!(crate::deciding_candidate(&cands, &held).is_none());
    }
}

#[cfg(test)]
mod signal_tests {
    use super::*;
    use nalgebra::Matrix4;

    /// A brain of DWI 100 and ADC 800 everywhere, with lesions painted in.
    struct Phantom {
        dwi: Array3<f32>,
        adc: Array3<f32>,
        prob: Array3<f32>,
    }

    impl Phantom {
        fn new(dims: (usize, usize, usize)) -> Self {
            Phantom {
                dwi: Array3::from_elem(dims, 100.0),
                adc: Array3::from_elem(dims, 800.0),
                prob: Array3::zeros(dims),
            }
        }

        /// Paints a lesion (DWI 250, probability 0.9) over the box `lo..hi`, with the ADC
        /// `adc(i, j, k)`.
        fn lesion(
            &mut self,
            lo: [usize; 3],
            hi: [usize; 3],
            adc: impl Fn(usize, usize, usize) -> f32,
        ) {
            for i in lo[0]..hi[0] {
                for j in lo[1]..hi[1] {
                    for k in lo[2]..hi[2] {
                        self.dwi[[i, j, k]] = 250.0;
                        self.adc[[i, j, k]] = adc(i, j, k);
                        self.prob[[i, j, k]] = 0.9;
                    }
                }
            }
        }

        /// The lesions found and measured: (mask, lesions, brain, DWI, ADC).
        fn measured(self) -> (Mask, Vec<Lesion>, Mask, Volume, Volume) {
            let affine = Matrix4::identity();
            let dims = self.dwi.dim();
            let dwi = Volume::new(self.dwi, affine).unwrap();
            let adc = Volume::new(self.adc, affine).unwrap();
            let prob = Volume::new(self.prob, affine).unwrap();
            let brain = Mask::on_grid(Array3::from_elem(dims, true), &dwi.grid());
            let (mask, mut lesions) = find_lesions(&prob, None, &|p| p, &LesionConfig::default());
            add_signal(&mut lesions, &mask, &brain, &dwi, Some(&adc), None);
            (mask, lesions, brain, dwi, adc)
        }
    }

    #[test]
    fn signal_ratios_are_lesion_median_over_brain_median() {
        let mut ph = Phantom::new((12, 12, 6));
        // a 2×2×2 lesion: DWI 250, ADC 400
        ph.lesion([3, 3, 2], [5, 5, 4], |_, _, _| 400.0);
        let (mask, mut lesions, brain, dwi, _) = ph.measured();
        assert_eq!(lesions.len(), 1);
        let s = lesions[0].signal.expect("measured");
        assert!((s.dwi_ratio - 2.5).abs() < 1e-6, "{s:?}");
        assert!((s.adc_ratio.unwrap() - 0.5).abs() < 1e-6, "{s:?}");
        add_signal(&mut lesions, &mask, &brain, &dwi, None, None);
        assert_eq!(lesions[0].signal.unwrap().adc_ratio, None);
    }

    #[test]
    fn a_one_sided_lesion_is_brighter_than_its_mirror_and_a_symmetric_pair_is_not() {
        // identity affine: world x = i; the mirror plane is x = 7.5 (16 voxels wide)
        let flip = |w: [f64; 3]| [15.0 - w[0], w[1], w[2]];
        let mut ph = Phantom::new((16, 12, 6));
        ph.lesion([1, 3, 2], [4, 6, 4], |_, _, _| 400.0);
        let (mask, mut lesions, brain, dwi, adc) = ph.measured();
        // measured without a plane: no ratio
        assert_eq!(lesions[0].signal.unwrap().dwi_mirror_ratio, None);
        add_signal(&mut lesions, &mask, &brain, &dwi, Some(&adc), Some(&flip));
        let r = lesions[0].signal.unwrap().dwi_mirror_ratio.unwrap();
        assert!(
            (r - 2.5).abs() < 1e-5,
            "one-sided: 250 against 100, got {r}"
        );
        // the same lesion mirrored into the other hemisphere: each is as bright as its mirror
        let mut ph = Phantom::new((16, 12, 6));
        ph.lesion([1, 3, 2], [4, 6, 4], |_, _, _| 400.0);
        ph.lesion([12, 3, 2], [15, 6, 4], |_, _, _| 400.0);
        let (mask, mut lesions, brain, dwi, adc) = ph.measured();
        add_signal(&mut lesions, &mask, &brain, &dwi, Some(&adc), Some(&flip));
        assert_eq!(lesions.len(), 2);
        for l in &lesions {
            let r = l.signal.unwrap().dwi_mirror_ratio.unwrap();
            assert!((r - 1.0).abs() < 1e-5, "symmetric pair: got {r}");
        }
    }

    #[test]
    fn lesions_without_restricted_diffusion_are_dropped_and_the_rest_renumbered() {
        let mut ph = Phantom::new((16, 12, 6));
        // lesion A (larger, ADC normal: an artefact) and lesion B (smaller, ADC 0.5×)
        ph.lesion([1, 3, 2], [4, 6, 4], |_, _, _| 820.0);
        ph.lesion([10, 3, 2], [12, 5, 4], |_, _, _| 400.0);
        // lesion C (same size as B): half restricted (ADC 420), half normal tissue taken in
        // by the segmentation (ADC 900): median high, lower quartile low, so it is kept.
        ph.lesion(
            [10, 8, 2],
            [12, 10, 4],
            |_, j, _| if j == 8 { 420.0 } else { 900.0 },
        );
        let (mask, mut lesions, brain, dwi, _) = ph.measured();
        assert_eq!(lesions.len(), 3);
        let c = lesions[2].signal.unwrap();
        assert!(
            c.adc_ratio.unwrap() > 1.0 && c.adc_ratio_low.unwrap() < 0.6,
            "{c:?}"
        );
        let (m2, l2, dropped) =
            keep_restricted(mask.clone(), lesions.clone(), Some(RESTRICTED_ADC_RATIO));
        assert_eq!(dropped, 1, "only the artefact");
        assert_eq!(l2.len(), 2);
        assert_eq!((l2[0].id, l2[0].n_voxels), (1, 8));
        assert_eq!((l2[1].id, l2[1].n_voxels), (2, 8));
        assert_eq!(m2.count(), 16);
        // The mask and table still agree.
        assert_eq!(
            label_lesions(&m2, &l2)
                .data()
                .iter()
                .filter(|&&v| v == 1)
                .count(),
            8
        );
        // For the call, a candidate found at a lower threshold that holds a kept lesion
        // counts even when it took in enough normal tissue to fail the rule on its own.
        let grown = lesions.clone();
        let mut failing = grown.clone();
        for c in &mut failing {
            c.signal = Some(LesionSignal {
                dwi_ratio: 2.0,
                adc_ratio: Some(1.0),
                adc_ratio_low: Some(0.95),
                dwi_mirror_ratio: None,
            });
        }
        let holding = holding_kept(&mask, &failing, &m2);
        let counted = call_candidates(failing, Some(RESTRICTED_ADC_RATIO), &holding);
        assert_eq!(counted.len(), 2, "the two candidates holding kept lesions");
        assert_eq!(call_candidates(grown, None, &holding).len(), 3);
        // Switched off, or without ADC: nothing dropped.
        assert_eq!(keep_restricted(mask.clone(), lesions.clone(), None).2, 0);
        add_signal(&mut lesions, &mask, &brain, &dwi, None, None);
        assert_eq!(
            keep_restricted(mask, lesions, Some(RESTRICTED_ADC_RATIO)).2,
            0
        );
    }
}
