//! Noise harmonisation: measure how noisy a study's DWI is and, when it is noisier than the
//! data the model learned from, smooth the DWI and ADC in-plane until it is not.
//!
//! Why: on studies with a b0 SNR near 6 the network reads noise speckle as infarcts, and the
//! ADC computed from the same noisy images dips under every speckle, so the speckle also
//! passes the restricted-diffusion rule (docs/experiments.md, sixteenth and seventeenth
//! sessions). Training data never goes that low. Smoothing a noisy study towards the noise of
//! the training data costs little resolution that the noise had not already taken.
//!
//! The noise measure is the robust SD (1.4826 × MAD) of the differences between in-plane
//! neighbours inside the eroded brain, divided by √2 and by the median brain signal: edges are
//! a small share of the pairs, so the median ignores them. In-plane means the two axes with
//! the finest spacing (thick slices are left alone: smoothing across them would blur far more
//! than the noise gains).
//!
//! Hand-written because no crate measures image noise this way; the Gaussian itself is
//! `ndarray-ndimage`'s.

use crate::morph::erode_mm;
use ndarray::{Array3, Axis};
use ndarray_ndimage::BorderMode;
use serde::{Deserialize, Serialize};
use strokeseg_core::{Mask, Volume};

/// The relative noise above which a study is smoothed (plans written before this setting
/// existed get it). Measured here: the generator's training sites 0.04–0.16 (site b about
/// 0.10, site d 0.15), the real clinical series in `../shared` 0.054–0.091. So the threshold
/// clears every real series and the typical training study, and site d is smoothed a little.
pub const DEFAULT_DENOISE_ABOVE: f64 = 0.12;

/// What the noise stage measured and did, for the report.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NoiseInfo {
    /// Relative noise of the DWI in the brain (see the module doc); `None` when the brain is
    /// too small to measure it.
    pub dwi_rel_noise: Option<f64>,
    /// In-plane Gaussian sigma applied to DWI and ADC, mm (0 when the study was left as is).
    pub smoothed_sigma_mm: f64,
}

/// In-plane axes of a grid: the two with the finest spacing.
fn inplane_axes(spacing: [f64; 3]) -> [usize; 2] {
    let slice = (0..3)
        .max_by(|&a, &b| spacing[a].total_cmp(&spacing[b]))
        .unwrap_or(2);
    let mut ax = [0usize; 2];
    let mut n = 0;
    for a in 0..3 {
        if a != slice {
            ax[n] = a;
            n += 1;
        }
    }
    ax
}

fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mid = v.len() / 2;
    let (_, m, _) = v.select_nth_unstable_by(mid, f64::total_cmp);
    Some(*m)
}

/// Fewest voxel pairs for a noise measurement.
const MIN_PAIRS: usize = 1000;

/// The relative noise of `dwi` inside `brain` (same grid), or `None` when too few voxels
/// remain after eroding the brain by 3 mm or the brain's median signal is not positive.
#[must_use]
pub fn relative_noise(dwi: &Volume, brain: &Mask) -> Option<f64> {
    let sp = dwi.spacing_mm();
    let core = erode_mm(brain.data(), 3.0, sp);
    let d = dwi.data();
    let mut signal: Vec<f64> = d
        .iter()
        .zip(core.iter())
        .filter(|(_, &m)| m)
        .map(|(v, _)| f64::from(*v))
        .collect();
    let med = median(&mut signal)?;
    if med <= 0.0 || !med.is_finite() {
        return None;
    }
    let mut diffs = Vec::new();
    for axis in inplane_axes(sp) {
        let n = d.len_of(Axis(axis));
        if n < 2 {
            continue;
        }
        let lo = d.slice_axis(Axis(axis), (0..n - 1).into());
        let hi = d.slice_axis(Axis(axis), (1..n).into());
        let mlo = core.slice_axis(Axis(axis), (0..n - 1).into());
        let mhi = core.slice_axis(Axis(axis), (1..n).into());
        ndarray::Zip::from(&lo)
            .and(&hi)
            .and(&mlo)
            .and(&mhi)
            .for_each(|&a, &b, &ma, &mb| {
                if ma && mb {
                    diffs.push(f64::from(b - a) / std::f64::consts::SQRT_2);
                }
            });
    }
    if diffs.len() < MIN_PAIRS {
        return None;
    }
    let centre = median(&mut diffs.clone())?;
    let mut dev: Vec<f64> = diffs.iter().map(|x| (x - centre).abs()).collect();
    let mad = median(&mut dev)?;
    Some(1.4826 * mad / med)
}

/// A study noisier than the plan's `denoise_above` is brought to this share of it: the
/// threshold sits at the noisiest training data, the target at its typical noise.
pub const TARGET_SHARE: f64 = 0.5;

/// The in-plane sigma (in voxels) for a study of relative noise `rel`: 0 at or under
/// `above`, else the sigma that brings white noise of that size down to
/// `above × TARGET_SHARE` (a 2-D Gaussian of sigma s voxels divides the SD of white noise by
/// 2·√π·s).
#[must_use]
pub fn sigma_for(rel: f64, above: f64) -> f64 {
    if rel.is_nan() || rel <= above || above <= 0.0 {
        return 0.0;
    }
    rel / (2.0 * std::f64::consts::PI.sqrt() * above * TARGET_SHARE)
}

/// Smooths along the in-plane axes of `v` with a Gaussian of `sigma_mm`. With `weights`,
/// a normalised convolution: only voxels with a positive value count, so a zeroed background
/// does not pull the brain's edge towards zero (an ADC at 0 would read as restricted).
#[must_use]
pub fn smooth_inplane(v: &Volume, sigma_mm: f64, weighted: bool) -> Volume {
    let sp = v.spacing_mm();
    let g = v.grid();
    let blur = |a: &Array3<f32>| {
        let mut out = a.clone();
        for axis in inplane_axes(sp) {
            let s = sigma_mm / sp[axis];
            // gaussian_filter1d needs the axis to be longer than its 3-sigma kernel.
            if s > 0.05 && (a.len_of(Axis(axis)) as f64) > 3.0 * s + 1.0 {
                out = ndarray_ndimage::gaussian_filter1d(
                    &out,
                    s as f32,
                    Axis(axis),
                    0,
                    BorderMode::Nearest,
                    3,
                );
            }
        }
        out
    };
    if !weighted {
        return Volume::on_grid(blur(v.data()), &g);
    }
    let w = v.data().mapv(|x| if x > 0.0 { 1.0f32 } else { 0.0 });
    let num = blur(&(v.data() * &w));
    let den = blur(&w);
    let mut out = num;
    ndarray::Zip::from(&mut out)
        .and(&den)
        .and(&w)
        .for_each(|o, &d, &keep| {
            *o = if keep > 0.0 && d > 1e-6 { *o / d } else { 0.0 };
        });
    Volume::on_grid(out, &g)
}

/// Measures the DWI's noise in `brain` and, when it is above `above`, smooths the DWI and
/// the ADC in-plane with the sigma that brings it to `above × TARGET_SHARE` ([`sigma_for`]). Returns the smoothed pair
/// (`None` when nothing was done) and what was measured.
#[must_use]
pub fn harmonise_noise(
    dwi: &Volume,
    adc: Option<&Volume>,
    brain: &Mask,
    above: Option<f64>,
) -> (Option<(Volume, Option<Volume>)>, NoiseInfo) {
    let rel = relative_noise(dwi, brain);
    let sigma_vox = match (rel, above) {
        (Some(r), Some(t)) => sigma_for(r, t),
        _ => 0.0,
    };
    let sp = dwi.spacing_mm();
    let [a, b] = inplane_axes(sp);
    let sigma_mm = sigma_vox * (sp[a] + sp[b]) / 2.0;
    let info = NoiseInfo {
        dwi_rel_noise: rel,
        smoothed_sigma_mm: sigma_mm,
    };
    if sigma_mm <= 0.0 {
        return (None, info);
    }
    let d = smooth_inplane(dwi, sigma_mm, false);
    let a = adc.map(|a| smooth_inplane(a, sigma_mm, true));
    (Some((d, a)), info)
}

#[cfg(test)]
mod tests {
    use super::*;
    use strokeseg_core::Grid;

    /// A 3-D brain-sized block of signal 500 with seeded Gaussian noise of SD `sd`
    /// (Box–Muller on a small LCG, so the test needs no RNG crate).
    fn noisy_block(sd: f32, seed: u64) -> (Volume, Mask) {
        let g = Grid::axis_aligned([60, 60, 12], [1.5, 1.5, 5.0], [0.0, 0.0, 0.0]);
        let mut s = seed;
        let mut unif = move || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        let data = Array3::from_shape_fn((60, 60, 12), |_| {
            let (u1, u2) = (unif(), unif());
            let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            500.0 + sd * z as f32
        });
        let brain = Array3::from_shape_fn((60, 60, 12), |(i, j, k)| {
            (5..55).contains(&i) && (5..55).contains(&j) && (1..11).contains(&k)
        });
        (Volume::on_grid(data, &g), Mask::on_grid(brain, &g))
    }

    #[test]
    fn measures_relative_noise_and_smooths_it_down_to_the_target() {
        let (v, brain) = noisy_block(100.0, 7);
        let rel = relative_noise(&v, &brain).expect("measurable");
        assert!((rel - 0.2).abs() < 0.02, "relative noise {rel}");
        let (smoothed, info) = harmonise_noise(&v, None, &brain, Some(0.1));
        let (d, _) = smoothed.expect("0.2 is above 0.1");
        assert!(info.smoothed_sigma_mm > 1.0, "{info:?}");
        // The true noise SD after smoothing, measured against the known mean, is near the
        // target 0.1 × TARGET_SHARE (the neighbour-difference measure would read lower on
        // correlated noise, so it is not used here).
        let core = erode_mm(brain.data(), 6.0, v.spacing_mm());
        let vals: Vec<f64> = d
            .data()
            .iter()
            .zip(core.iter())
            .filter(|(_, &m)| m)
            .map(|(x, _)| f64::from(*x) - 500.0)
            .collect();
        let sd = (vals.iter().map(|x| x * x).sum::<f64>() / vals.len() as f64).sqrt();
        assert!(
            (sd / 500.0 - 0.1 * TARGET_SHARE).abs() < 0.01,
            "noise after smoothing {}",
            sd / 500.0
        );
        // A clean study is left alone.
        let (quiet, _) = noisy_block(20.0, 8);
        let (none, info) = harmonise_noise(&quiet, None, &brain, Some(0.1));
        assert!(none.is_none() && info.smoothed_sigma_mm == 0.0, "{info:?}");
        // Off means off.
        assert!(harmonise_noise(&v, None, &brain, None).0.is_none());
    }

    #[test]
    fn weighted_smoothing_keeps_a_zeroed_background_from_lowering_the_edge() {
        let g = Grid::axis_aligned([20, 20, 4], [1.0, 1.0, 5.0], [0.0, 0.0, 0.0]);
        let adc = Array3::from_shape_fn((20, 20, 4), |(i, _, _)| if i < 10 { 800.0 } else { 0.0 });
        let v = Volume::on_grid(adc, &g);
        let w = smooth_inplane(&v, 2.0, true);
        let plain = smooth_inplane(&v, 2.0, false);
        assert!((w.data()[[9, 10, 1]] - 800.0).abs() < 1.0);
        assert!(plain.data()[[9, 10, 1]] < 600.0);
        assert_eq!(w.data()[[12, 10, 1]], 0.0);
    }
}
