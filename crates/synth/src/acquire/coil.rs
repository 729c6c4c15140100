//! The receive profile of a multi-channel head coil: brighter brain near the coil elements
//! (cortex, cerebellum), darker in the middle (deep grey matter, brainstem), as every
//! phased-array DWI shows to some degree even after the scanner's intensity normalisation.

use super::Clean;
use rand::Rng;

/// Elements of the array: a helmet of points (unit directions, Fibonacci sphere) on an
/// ellipsoid around the head: none under the face and neck, but the posterior elements reach
/// down behind the cerebellum (the head rests on them).
const N_SPHERE: usize = 32;
/// Ellipsoid of the element positions, MNI mm: centre and semi-axes (~10–15 mm outside the
/// scalp).
const HELMET_CENTRE: [f64; 3] = [0.0, -18.0, 8.0];
const HELMET_AXES: [f64; 3] = [88.0, 112.0, 92.0];
/// Distance scale (mm) of one element's sensitivity, ~ a loop of 40–50 mm radius:
/// s = (1 + (d/D)²)^(−3/2) (on-axis field of a loop).
const ELEMENT_D_MM: f64 = 45.0;

/// Multiplies `clean.s0` and `clean.dwi` (at `clean.mni`) by a receive profile: the
/// root-sum-of-squares of the elements' sensitivities (each with a gain 0.7–1.3), divided
/// by its median over the brain, mixed with 1 by a residual strength 0.15–0.45 (what the
/// scanner's normalisation leaves). The same factor on b0 and DWI, so the ADC is unchanged.
/// Returns the ratio of the 95th to the 5th percentile of the factor over the brain.
pub fn receive_coil_profile<R: Rng + ?Sized>(rng: &mut R, clean: &mut Clean) -> f64 {
    let strength = rng.random_range(0.15..0.45);
    let golden = std::f64::consts::PI * (3.0 - 5f64.sqrt());
    let elements: Vec<([f64; 3], f64)> = (0..N_SPHERE)
        .map(|n| {
            let z = 1.0 - 2.0 * (n as f64 + 0.5) / N_SPHERE as f64;
            let r = (1.0 - z * z).sqrt();
            let t = golden * n as f64;
            [r * t.cos(), r * t.sin(), z]
        })
        .filter(|u| u[2] > -0.35 || (u[1] < -0.2 && u[2] > -0.8))
        .map(|u| {
            let gain = rng.random_range(0.7..1.3);
            (
                std::array::from_fn(|a| HELMET_CENTRE[a] + HELMET_AXES[a] * u[a]),
                gain,
            )
        })
        .collect();
    let profile: Vec<f64> = clean
        .mni
        .iter()
        .zip(
            clean
                .s0
                .iter()
                .zip(clean.dwi.iter())
                .zip(clean.brain.iter()),
        )
        .map(|(p, ((&b, &d), &brain))| {
            let p = [f64::from(p[0]), f64::from(p[1]), f64::from(p[2])];
            // air stays zero whatever the factor: skip it (most of the field of view)
            if p.iter().any(|v| !v.is_finite()) || (b == 0.0 && d == 0.0 && brain < 0.5) {
                return 0.0;
            }
            elements
                .iter()
                .map(|(e, g)| {
                    let d2: f64 = (0..3).map(|a| (p[a] - e[a]).powi(2)).sum();
                    let s = g * (1.0 + d2 / (ELEMENT_D_MM * ELEMENT_D_MM)).powf(-1.5);
                    s * s
                })
                .sum::<f64>()
                .sqrt()
        })
        .collect();
    let mut in_brain: Vec<f64> = profile
        .iter()
        .zip(clean.brain.iter())
        .filter(|(_, &b)| b >= 0.5)
        .map(|(&v, _)| v)
        .collect();
    if in_brain.is_empty() {
        return 1.0;
    }
    let pick = |v: &mut Vec<f64>, q: f64| {
        let i = ((v.len() - 1) as f64 * q).round() as usize;
        *v.select_nth_unstable_by(i, f64::total_cmp).1
    };
    let median = pick(&mut in_brain, 0.5);
    if median <= 0.0 {
        return 1.0;
    }
    let factor = |v: f64| 1.0 - strength + strength * v / median;
    for ((b, d), &v) in clean
        .s0
        .iter_mut()
        .zip(clean.dwi.iter_mut())
        .zip(profile.iter())
    {
        let f = factor(v) as f32;
        *b *= f;
        *d *= f;
    }
    factor(pick(&mut in_brain, 0.95)) / factor(pick(&mut in_brain, 0.05))
}
