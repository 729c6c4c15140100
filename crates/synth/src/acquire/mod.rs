//! Acquisition simulation on the native grid: from noise-free signals to what a scanner
//! writes (b0, trace DWI and ADC as stored integers/floats), with site-specific artefacts,
//! bias field, Rician noise, scaling, optional skull stripping and the scanner's own ADC.
//!
//! Before [`acquire`], the dataset applies to every study (with a random stream of its own)
//! what every real EPI DWI shows in normal tissue: the receive profile of a multi-channel
//! head coil ([`receive_coil_profile`]) and the skull-base signal pile-up near the sinuses,
//! petrous bone and mastoids ([`skull_base_pileup`]), both on b0 and DWI alike.
//!
//! The steps, in order (see [`acquire`]):
//! 1. image-domain artefacts drawn with the site's probabilities ([`Artefact`]);
//! 2. a smooth multiplicative bias field, the same on b0 and DWI;
//! 3. Rician noise (sigma = 1/`snr_b0` on the b0, sigma/√3 on the 3-direction trace DWI);
//! 4. scanner integers: × `intensity_scale`, rounded, clamped to 0..=32767;
//! 5. skull-off sites: zeros outside the (dilated) brain mask;
//! 6. ADC computed from the noisy integer images, in the site's units;
//! 7. the truth brain mask (brain fraction ≥ 0.5).
//!
//! [`acquire_with`] takes [`AcquireOptions`] beyond the site (artefact strengths, bias-field
//! curvature, DWI averages, a gamma on the stored DWI) for domain randomisation; their
//! defaults give exactly [`acquire`].

mod artefacts;
mod bias;
mod coil;
pub use artefacts::skull_base_pileup;
pub use coil::receive_coil_profile;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_artefacts;
#[cfg(test)]
mod tests_normal;
#[cfg(test)]
mod tests_options;

use crate::site::{AdcUnitsOut, Site};
use ndarray::{Array3, Axis};
use rand::Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};
use strokeseg_core::Grid;

/// Largest value a scanner stores (signed 16-bit DICOM pixel data).
pub const MAX_STORED: f32 = 32767.0;
/// Largest ADC kept (mm²/s); higher values (free water is ~0.003) are clamped.
pub const MAX_ADC_MM2_S: f64 = 0.005;

/// Noise-free signals on the native grid, all arrays of the grid's shape.
#[derive(Debug, Clone)]
pub struct Clean {
    /// b0 signal in relative units (white-matter S0 ≈ 1.0); zero outside the head.
    pub s0: Array3<f32>,
    /// Trace DWI signal Σ S0·exp(−b·ADC) with partial volume already done; zero outside.
    pub dwi: Array3<f32>,
    /// Brain fraction 0–1 per voxel.
    pub brain: Array3<f32>,
    /// MNI position (mm) of each voxel centre.
    pub mni: Array3<[f32; 3]>,
}

/// An artefact applied to a study.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Artefact {
    /// Skull-base susceptibility: a bright pile-up band and drop-out on b0 and DWI alike
    /// (a DWI-bright mimic whose ADC stays normal).
    Susceptibility,
    /// A few DWI slices shifted in-plane and/or darkened, with bright edges (b0 untouched).
    Motion,
    /// An N/2 ghost half the field of view away along the phase-encode axis j.
    Ghosting,
}

/// What the scanner writes for one study on the native grid.
#[derive(Debug, Clone)]
pub struct Acquired {
    /// b0 as stored integers (held in f32).
    pub b0: Array3<f32>,
    /// Trace DWI as stored integers (held in f32).
    pub dwi: Array3<f32>,
    /// ADC in the site's units (integers for [`AdcUnitsOut::Micro`]).
    pub adc: Array3<f32>,
    /// Truth brain mask: brain fraction ≥ 0.5.
    pub brain_mask: Array3<bool>,
    /// The artefacts applied, in the order applied.
    pub artefacts: Vec<Artefact>,
}

/// Acquisition settings beyond the [`Site`], drawn per study by the randomised site
/// (`crate::site::RandomDraw`); [`AcquireOptions::default`] is what the presets use.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AcquireOptions {
    /// Multiplier of each artefact's change to the images, in the order susceptibility,
    /// motion, ghosting (1 = as drawn by the artefact; the result is kept ≥ 0).
    pub artefact_strength: [f64; 3],
    /// Weight of the quadratic terms of the bias field relative to its linear ones (0: a
    /// planar gradient, the smoothest field; 0.6 for the presets).
    pub bias_curvature: f64,
    /// Number of diffusion-weighted images averaged into the trace DWI: its noise sigma is
    /// the b0's divided by √(this) (3 for the presets: three directions).
    pub dwi_averages: f64,
    /// Gamma applied to the stored DWI magnitude after the ADC is computed:
    /// `scale·(DWI/scale)^gamma`, with `scale` the site's `intensity_scale` (1 = none).
    pub dwi_gamma: f64,
}

impl Default for AcquireOptions {
    fn default() -> Self {
        AcquireOptions {
            artefact_strength: [1.0; 3],
            bias_curvature: bias::DEFAULT_CURVATURE,
            dwi_averages: 3.0,
            dwi_gamma: 1.0,
        }
    }
}

/// Scales the change an artefact made: `after = max(0, before + k·(after − before))`.
/// Nothing to do for `k` = 1 (or non-finite `k`).
fn scale_change(before: &Array3<f32>, after: &mut Array3<f32>, k: f64) {
    if k == 1.0 || !k.is_finite() {
        return;
    }
    let k = k as f32;
    for (a, &b) in after.iter_mut().zip(before.iter()) {
        *a = (b + k * (*a - b)).max(0.0);
    }
}

/// `v` if finite and positive, else `fallback`.
fn positive_or(v: f64, fallback: f64) -> f64 {
    if v.is_finite() && v > 0.0 {
        v
    } else {
        fallback
    }
}

/// Simulates the acquisition of `clean` on `grid` at `site` (steps in the module docs).
/// Deterministic for a given RNG state; O(voxels); any grid size works, including 1×1×1.
/// Non-finite or negative input signals are treated as zero.
///
/// # Panics
/// When the arrays of `clean` do not all have the shape `grid.dims` (a programming error).
pub fn acquire<R: Rng + ?Sized>(rng: &mut R, site: &Site, grid: &Grid, clean: &Clean) -> Acquired {
    acquire_with(rng, site, grid, clean, &AcquireOptions::default())
}

/// As [`acquire`], with the extra settings `opt` (the default options give exactly
/// [`acquire`], with the same random draws).
///
/// # Panics
/// When the arrays of `clean` do not all have the shape `grid.dims` (a programming error).
pub fn acquire_with<R: Rng + ?Sized>(
    rng: &mut R,
    site: &Site,
    grid: &Grid,
    clean: &Clean,
    opt: &AcquireOptions,
) -> Acquired {
    let shape = clean.s0.dim();
    assert!(
        [shape.0, shape.1, shape.2] == grid.dims
            && clean.dwi.dim() == shape
            && clean.brain.dim() == shape
            && clean.mni.dim() == shape,
        "Clean arrays must all have the grid's shape {:?}",
        grid.dims
    );
    let sanitise = |v: &f32| if v.is_finite() && *v > 0.0 { *v } else { 0.0 };
    let mut s0 = clean.s0.map(sanitise);
    let mut dwi = clean.dwi.map(sanitise);
    let head = s0.mapv(|v| v > 0.0);

    // 1. Image-domain artefacts. Three uniforms are always drawn so that the RNG stream has
    //    the same structure whatever the probabilities.
    let draws: [f64; 3] = [rng.random(), rng.random(), rng.random()];
    let mut applied = Vec::new();
    let k = opt.artefact_strength;
    // The images before an artefact whose strength is scaled (none for the presets).
    let keep_before = |n: usize, s0: &Array3<f32>, dwi: &Array3<f32>| {
        (k[n] != 1.0 && k[n].is_finite()).then(|| (s0.clone(), dwi.clone()))
    };
    let rescale = |before: Option<(Array3<f32>, Array3<f32>)>,
                   n: usize,
                   s0: &mut Array3<f32>,
                   dwi: &mut Array3<f32>| {
        if let Some((b0, bd)) = before {
            scale_change(&b0, s0, k[n]);
            scale_change(&bd, dwi, k[n]);
        }
    };
    if draws[0] < site.p_susceptibility {
        let before = keep_before(0, &s0, &dwi);
        if artefacts::susceptibility(rng, &clean.mni, &mut s0, &mut dwi) {
            // reported only when the band met some signal (the stack may miss the skull base)
            applied.push(Artefact::Susceptibility);
        }
        rescale(before, 0, &mut s0, &mut dwi);
    }
    if draws[1] < site.p_motion {
        let before = keep_before(1, &s0, &dwi);
        let sp = grid.spacing_mm();
        artefacts::motion(rng, [sp[0], sp[1]], &mut dwi);
        applied.push(Artefact::Motion);
        rescale(before, 1, &mut s0, &mut dwi);
    }
    if draws[2] < site.p_ghosting {
        let before = keep_before(2, &s0, &dwi);
        artefacts::ghosting(rng, &mut s0, &mut dwi);
        applied.push(Artefact::Ghosting);
        rescale(before, 2, &mut s0, &mut dwi);
    }

    // 2. Smooth multiplicative bias field in world coordinates, same on b0 and DWI.
    let field = bias::bias_field_curved(rng, grid, &head, site.bias_strength, opt.bias_curvature);
    s0 *= &field;
    dwi *= &field;

    // 3. Rician noise everywhere (background too) and 4. scanner integers.
    let sigma = if site.snr_b0.is_finite() && site.snr_b0 > 0.0 {
        (1.0 / site.snr_b0) as f32
    } else {
        0.0
    };
    let scale = positive_or(site.intensity_scale, 1.0) as f32;
    add_rician_and_store(rng, &mut s0, sigma, scale);
    let averages = positive_or(opt.dwi_averages, 3.0) as f32;
    add_rician_and_store(rng, &mut dwi, sigma / averages.sqrt(), scale);

    // 5. Skull-off sites: zero outside the brain mask dilated by one voxel (skull-stripped).
    let brain_mask = clean.brain.mapv(|f| f >= 0.5);
    let keep = if site.skull {
        None
    } else {
        Some(dilate1(&brain_mask))
    };
    if let Some(keep) = &keep {
        for ((b, d), &k) in s0.iter_mut().zip(dwi.iter_mut()).zip(keep.iter()) {
            if !k {
                *b = 0.0;
                *d = 0.0;
            }
        }
    }

    // 6. ADC as the scanner computes it from the noisy integers.
    let adc = scanner_adc(&s0, &dwi, keep.as_ref(), site, 3.0 * sigma * scale);

    // Appearance only: a gamma on the stored DWI magnitude (after the ADC, which the
    // scanner computes from the linear data).
    let gamma = opt.dwi_gamma;
    if gamma.is_finite() && gamma > 0.0 && gamma != 1.0 {
        let (g, s) = (gamma as f32, scale);
        dwi.mapv_inplace(|v| (s * (v / s).powf(g)).round().clamp(0.0, MAX_STORED));
    }

    // 7. Truth brain mask.
    Acquired {
        b0: s0,
        dwi,
        adc,
        brain_mask,
        artefacts: applied,
    }
}

/// Adds Rician noise of `sigma` (magnitude of a complex signal with Gaussian noise on both
/// channels: √((s+n₁)² + n₂²)), then scales, rounds and clamps to 0..=[`MAX_STORED`].
fn add_rician_and_store<R: Rng + ?Sized>(
    rng: &mut R,
    img: &mut Array3<f32>,
    sigma: f32,
    scale: f32,
) {
    for v in img.iter_mut() {
        let n1: f32 = rng.sample(StandardNormal);
        let n2: f32 = rng.sample(StandardNormal);
        let re = *v + sigma * n1;
        let im = sigma * n2;
        let m = (re * re + im * im).sqrt() * scale;
        *v = if m.is_finite() {
            m.round().clamp(0.0, MAX_STORED)
        } else {
            0.0
        };
    }
}

/// ADC = ln(b0/DWI)/b (mm²/s), clamped to 0–[`MAX_ADC_MM2_S`], where b0 > `threshold` and
/// DWI > 0 (and inside `keep` when given); 0 elsewhere. Converted to the site's units.
fn scanner_adc(
    b0: &Array3<f32>,
    dwi: &Array3<f32>,
    keep: Option<&Array3<bool>>,
    site: &Site,
    threshold: f32,
) -> Array3<f32> {
    let b = site.b_value;
    let units = site.adc_units;
    let mut adc = Array3::zeros(b0.dim());
    if !(b.is_finite() && b > 0.0) {
        return adc;
    }
    for (idx, a) in adc.indexed_iter_mut() {
        let (s, d) = (b0[idx], dwi[idx]);
        if keep.is_some_and(|k| !k[idx]) || s <= threshold || d <= 0.0 {
            continue;
        }
        let v = ((f64::from(s) / f64::from(d)).ln() / b).clamp(0.0, MAX_ADC_MM2_S);
        *a = match units {
            AdcUnitsOut::Micro => (v * 1e6).round() as f32,
            AdcUnitsOut::Milli => (v * 1e3) as f32,
            AdcUnitsOut::Si => v as f32,
        };
    }
    adc
}

/// Dilates a mask by one voxel (3×3×3 box), as three separable passes.
fn dilate1(mask: &Array3<bool>) -> Array3<bool> {
    let mut out = mask.clone();
    for axis in 0..3 {
        let src = out.clone();
        let n = src.len_of(Axis(axis));
        for (mut lane_out, lane_in) in out
            .lanes_mut(Axis(axis))
            .into_iter()
            .zip(src.lanes(Axis(axis)))
        {
            for t in 0..n {
                let lo = t.saturating_sub(1);
                let hi = (t + 1).min(n - 1);
                lane_out[t] = (lo..=hi).any(|u| lane_in[u]);
            }
        }
    }
    out
}
