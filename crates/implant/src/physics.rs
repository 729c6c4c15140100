//! What an acute infarct does to the signal, applied to a real study.
//!
//! Tissue signal at b is S = S0·exp(−b·ADC). An infarct multiplies the tissue ADC by `a`
//! (0.4–0.85, from the template generator's draw, modulated ±20% by a smooth field for
//! texture) and S0 by `s` (T2 shine-through, 1.0–1.3). In a voxel with lesion fraction f the
//! DWI becomes (1 − f)·S + f·S·s·exp(−b·ADC·(a − 1)) and the ADC (1 − f + f·a)·ADC. The change
//! is computed from the *local* tissue values (a normalised Gaussian of 1.5 mm inside the
//! brain) and added to the study's own voxels, so the study's noise, texture and artefacts
//! stay as they were instead of being scaled with the lesion.

use ndarray::{Array3, Axis};
use ndarray_ndimage::BorderMode;
use rand::Rng;
use strokeseg_core::Mask;

use crate::background::Background;
use crate::Prepared;

/// Smoothing of the local tissue values (mm, sigma).
pub const LOCAL_SIGMA_MM: f64 = 1.5;

/// Local tissue values of a background.
pub struct Local {
    /// Local DWI.
    pub dwi: Array3<f32>,
    /// Local ADC, unclamped (10⁻⁶ mm²/s; NaN-free), or the assumed value everywhere.
    pub adc_raw: Array3<f32>,
    /// Local ADC clamped to tissue values 400–1200.
    pub adc_tissue: Array3<f32>,
    /// Local b0.
    pub b0: Option<Array3<f32>>,
    /// True when the ADC came from the study.
    pub has_adc: bool,
}

fn smooth(a: &Array3<f32>, sigma_vox: [f64; 3]) -> Array3<f32> {
    let mut out = a.clone();
    for (axis, &s) in sigma_vox.iter().enumerate() {
        if s > 0.3 && (a.len_of(Axis(axis)) as f64) > 3.0 * s + 1.0 {
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
}

/// Normalised convolution inside `brain`: smooth(img·brain) / smooth(brain).
fn local_mean(img: &Array3<f32>, brain: &Array3<bool>, sigma_vox: [f64; 3]) -> Array3<f32> {
    let w = brain.mapv(|b| if b { 1.0f32 } else { 0.0 });
    let num = smooth(&(img * &w), sigma_vox);
    let den = smooth(&w, sigma_vox);
    let mut out = num;
    out.zip_mut_with(&den, |n, &d| *n = if d > 1e-3 { *n / d } else { 0.0 });
    out
}

impl Local {
    /// Local values of `bg` inside `brain`.
    #[must_use]
    pub fn new(bg: &Background, brain: &Mask, assumed_adc: f32) -> Local {
        let sp = bg.study.dwi.spacing_mm();
        let sigma = sp.map(|s| LOCAL_SIGMA_MM / s);
        let b = brain.data();
        let dwi = local_mean(bg.study.dwi.data(), b, sigma);
        let (adc_raw, has_adc) = match &bg.study.adc {
            Some(a) => (
                local_mean(
                    &a.data().mapv(|v| if v.is_finite() { v } else { 0.0 }),
                    b,
                    sigma,
                ),
                true,
            ),
            None => (Array3::from_elem(dwi.dim(), assumed_adc), false),
        };
        let adc_tissue = adc_raw.mapv(|v| v.clamp(400.0, 1200.0));
        let b0 = bg.study.b0.as_ref().map(|v| local_mean(v.data(), b, sigma));
        Local {
            dwi,
            adc_raw,
            adc_tissue,
            b0,
            has_adc,
        }
    }
}

/// Where lesions may go (0–1): inside the brain, in tissue rather than CSF (local ADC ≤ 1300
/// full, ≥ 2200 none; without an ADC, local DWI ≥ 0.65 × the brain median full, ≤ 0.35 none),
/// away from the study's own lesions and the excluded region (both dilated).
#[must_use]
pub fn tissue_weight(
    bg: &Background,
    brain: &Mask,
    local: &Local,
    exclude: Option<&Array3<bool>>,
) -> Array3<f32> {
    let b = brain.data();
    let sp = bg.study.dwi.spacing_mm();
    let dwi_med = bg.study.dwi.median_in(brain).unwrap_or(1.0).max(1e-6);
    let mut w = Array3::<f32>::zeros(b.dim());
    for (idx, o) in w.indexed_iter_mut() {
        if !b[idx] {
            continue;
        }
        *o = if local.has_adc {
            ((2200.0 - local.adc_raw[idx]) / 900.0).clamp(0.0, 1.0)
        } else {
            ((local.dwi[idx] / dwi_med - 0.35) / 0.3).clamp(0.0, 1.0)
        };
    }
    let mut forbidden: Option<Array3<bool>> = bg
        .truth
        .as_ref()
        .map(|t| strokeseg_preproc::dilate_mm(t.data(), 4.0, sp));
    if let Some(e) = exclude {
        match &mut forbidden {
            Some(f) => f.zip_mut_with(e, |a, &b| *a |= b),
            None => forbidden = Some(e.clone()),
        }
    }
    if let Some(f) = forbidden {
        w.zip_mut_with(&f, |v, &no| {
            if no {
                *v = 0.0;
            }
        });
    }
    w
}

/// A smooth random field in [−1, 1] (four plane waves of 6–20 mm wavelength) that varies
/// the ADC drop inside lesions.
pub struct Heterogeneity {
    waves: Vec<([f64; 3], f64)>,
}

impl Heterogeneity {
    /// Draws a field.
    pub fn draw<R: Rng>(rng: &mut R) -> Heterogeneity {
        let waves = (0..4)
            .map(|_| {
                let (z, phi): (f64, f64) = (
                    rng.random_range(-1.0..1.0),
                    rng.random_range(0.0..std::f64::consts::TAU),
                );
                let r = (1.0 - z * z).sqrt();
                let k = std::f64::consts::TAU / rng.random_range(6.0..20.0);
                (
                    [k * r * phi.cos(), k * r * phi.sin(), k * z],
                    rng.random_range(0.0..std::f64::consts::TAU),
                )
            })
            .collect();
        Heterogeneity { waves }
    }

    /// Value at a world point.
    #[must_use]
    pub fn at(&self, p: [f64; 3]) -> f64 {
        let s: f64 = self
            .waves
            .iter()
            .map(|(k, ph)| (k[0] * p[0] + k[1] * p[1] + k[2] * p[2] + ph).cos())
            .sum();
        (s / 2.0).clamp(-1.0, 1.0)
    }
}

/// At voxel `v` holding fraction `f` of `les`, with the texture field at `h` (−1–1): the
/// lesion's ADC factor there, its S0 factor, and the DWI multiplier
/// k = (1 − f) + f·s·exp(−b·ADC·(a − 1)).
fn factors(
    prep: &Prepared<'_>,
    les: &strokeseg_synth::lesions::Lesion,
    v: [usize; 3],
    f: f32,
    h: f64,
) -> (f64, f64, f64) {
    let a = (1.0 - (1.0 - f64::from(les.adc_factor)) * (1.0 + 0.2 * h)).clamp(0.3, 0.95);
    let s = f64::from(les.s0_factor);
    let f = f64::from(f);
    let adc_t = f64::from(prep.adc_s[v]) * 1e-6;
    let k = (1.0 - f) + f * s * (-prep.b_value * adc_t * (a - 1.0)).exp();
    (a, s, k)
}

/// How visible a placed lesion is on its own: the largest DWI rise it causes in one voxel
/// (alone, at its own partial volume and its own ADC factor, before the ±20% texture) over
/// the study's noise SD ([`noise_sd`]). Infinite when the study has no measurable noise (a
/// noiseless test volume).
#[must_use]
pub fn peak_cnr(
    prep: &Prepared<'_>,
    les: &strokeseg_synth::lesions::Lesion,
    voxels: &[([usize; 3], f32)],
) -> f64 {
    let peak = voxels
        .iter()
        .map(|&(v, f)| (factors(prep, les, v, f, 0.0).2 - 1.0) * f64::from(prep.dwi_s[v]))
        .fold(0.0f64, f64::max);
    if prep.noise_sd > 0.0 {
        peak / f64::from(prep.noise_sd)
    } else {
        f64::INFINITY
    }
}

/// Noise SD of a study's DWI in brain tissue: 1.4826 × the median absolute deviation of the
/// DWI from its local mean (the same 1.5 mm normalised Gaussian as [`Local`]) over voxels
/// where lesions may fully go (`tissue` = 1: not CSF, not excluded). Robust to edges and
/// lesions; 0 when fewer than 100 such voxels or no spread.
#[must_use]
pub fn noise_sd(dwi: &Array3<f32>, local_dwi: &Array3<f32>, tissue: &Array3<f32>) -> f32 {
    let mut r: Vec<f32> = dwi
        .iter()
        .zip(local_dwi.iter())
        .zip(tissue.iter())
        .filter(|((d, _), &t)| t >= 0.999 && d.is_finite())
        .map(|((d, l), _)| d - l)
        .collect();
    if r.len() < 100 {
        return 0.0;
    }
    let med = strokeseg_core::percentile_in_place(&mut r, 50.0).unwrap_or(0.0);
    for x in &mut r {
        *x = (*x - med).abs();
    }
    1.4826 * strokeseg_core::percentile_in_place(&mut r, 50.0).unwrap_or(0.0)
}

/// Images after implanting.
pub struct Images {
    /// DWI.
    pub dwi: Array3<f32>,
    /// ADC (10⁻⁶ mm²/s), when the background has one.
    pub adc: Option<Array3<f32>>,
    /// b0, when the background has one.
    pub b0: Option<Array3<f32>>,
}

/// Applies the lesions (`pv`: lesion index, voxel, fraction) to the background's images.
#[must_use]
pub fn apply(
    prep: &Prepared<'_>,
    placed: &[crate::PlacedVoxels],
    pv: &[(usize, [usize; 3], f32)],
    hetero: &Heterogeneity,
) -> Images {
    let study = &prep.bg.study;
    let mut dwi = study.dwi.data().clone();
    let mut adc = study.adc.as_ref().map(|a| a.data().clone());
    let mut b0 = study.b0.as_ref().map(|a| a.data().clone());
    // Per voxel: total fraction and the factors of the lesion that fills it most.
    let mut per: std::collections::BTreeMap<[usize; 3], (f32, usize, f32)> = Default::default();
    for &(l, v, f) in pv {
        let e = per.entry(v).or_insert((0.0, l, 0.0));
        e.0 = (e.0 + f).min(1.0);
        if f > e.2 {
            e.1 = l;
            e.2 = f;
        }
    }
    let grid = study.dwi.grid();
    for (v, (f, l, _)) in per {
        let les = &placed[l].0.lesion;
        let h = hetero.at(grid.voxel_to_world([v[0] as f64, v[1] as f64, v[2] as f64]));
        let (a, s, k) = factors(prep, les, v, f, h);
        let f = f64::from(f);
        dwi[v] += ((k - 1.0) * f64::from(prep.dwi_s[v])) as f32;
        if let Some(adc) = adc.as_mut() {
            let m = 1.0 - f + f * a;
            adc[v] += ((m - 1.0) * f64::from(prep.adc_s[v])) as f32;
        }
        if let (Some(b0), Some(b0s)) = (b0.as_mut(), prep.b0_s.as_ref()) {
            b0[v] += (f * (s - 1.0) * f64::from(b0s[v])) as f32;
        }
    }
    Images { dwi, adc, b0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_distr::{Distribution, Normal};

    #[test]
    fn noise_sd_recovers_gaussian_noise_on_a_smooth_image() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let n = Normal::new(0.0f32, 7.0).unwrap();
        // A smooth ramp (the local mean follows it) plus noise of SD 7.
        let clean =
            Array3::from_shape_fn((40, 40, 20), |(i, j, _)| 300.0 + i as f32 + 0.5 * j as f32);
        let noisy = clean.mapv(|c| c + n.sample(&mut rng));
        let tissue = Array3::from_elem(clean.dim(), 1.0f32);
        // Residual from the clean image: the estimate is the noise itself.
        let sd = noise_sd(&noisy, &clean, &tissue);
        assert!((sd - 7.0).abs() < 0.3, "estimated {sd}");
        // Outside tissue nothing is measured; too few voxels give 0.
        let none = Array3::from_elem(clean.dim(), 0.5f32);
        assert_eq!(noise_sd(&noisy, &clean, &none), 0.0);
        // No spread: 0 (peak_cnr then treats every lesion as visible).
        assert_eq!(noise_sd(&clean, &clean, &tissue), 0.0);
    }
}
