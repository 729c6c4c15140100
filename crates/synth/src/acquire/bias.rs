//! Step 2: a smooth multiplicative bias field (receive-coil sensitivity / B1 inhomogeneity).

use ndarray::Array3;
use rand::Rng;
use strokeseg_core::Grid;

/// A random second-order polynomial in world coordinates (mm, scaled by 1/100 about the grid
/// centre), rescaled so that over `head` (all voxels when `head` is empty) it runs exactly
/// from `1 − strength/2` to `1 + strength/2`; clamped to that range elsewhere. `strength` ≤ 0
/// or non-finite gives a field of ones (the random draws are still made).
#[cfg(test)]
pub(super) fn bias_field<R: Rng + ?Sized>(
    rng: &mut R,
    grid: &Grid,
    head: &Array3<bool>,
    strength: f64,
) -> Array3<f32> {
    bias_field_curved(rng, grid, head, strength, DEFAULT_CURVATURE)
}

/// Weight of the quadratic terms of the bias polynomial relative to the linear ones (the
/// presets' value).
pub const DEFAULT_CURVATURE: f64 = 0.6;

/// As `bias_field`, with the weight of the quadratic terms (`curvature`; 0: a planar
/// gradient, the smoothest field; [`DEFAULT_CURVATURE`] for the presets; 2: strongly curved)
/// as a parameter. Non-finite or negative `curvature` counts as 0.
pub(super) fn bias_field_curved<R: Rng + ?Sized>(
    rng: &mut R,
    grid: &Grid,
    head: &Array3<bool>,
    strength: f64,
    curvature: f64,
) -> Array3<f32> {
    let q = if curvature.is_finite() {
        curvature.max(0.0)
    } else {
        0.0
    };
    // 3 linear, 3 square and 3 cross terms; the quadratic ones weaker so the field stays smooth.
    let mut coef = [0.0f64; 9];
    for (t, c) in coef.iter_mut().enumerate() {
        *c = (rng.random::<f64>() * 2.0 - 1.0) * if t < 3 { 1.0 } else { q };
    }
    let centre = grid.centre_mm();
    let a = grid.affine;
    let poly = |i: usize, j: usize, k: usize| {
        let (i, j, k) = (i as f64, j as f64, k as f64);
        let u: [f64; 3] = std::array::from_fn(|r| {
            (a[(r, 0)] * i + a[(r, 1)] * j + a[(r, 2)] * k + a[(r, 3)] - centre[r]) / 100.0
        });
        coef[0] * u[0]
            + coef[1] * u[1]
            + coef[2] * u[2]
            + coef[3] * u[0] * u[0]
            + coef[4] * u[1] * u[1]
            + coef[5] * u[2] * u[2]
            + coef[6] * u[0] * u[1]
            + coef[7] * u[0] * u[2]
            + coef[8] * u[1] * u[2]
    };
    let raw = Array3::from_shape_fn(head.dim(), |(i, j, k)| poly(i, j, k));
    let any_head = head.iter().any(|&h| h);
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for (&v, &h) in raw.iter().zip(head.iter()) {
        if h || !any_head {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    let s = if strength.is_finite() {
        strength.clamp(0.0, 1.9)
    } else {
        0.0
    };
    if s == 0.0 || !(hi - lo).is_finite() || hi - lo < 1e-12 {
        return Array3::ones(head.dim());
    }
    let mid = 0.5 * (lo + hi);
    raw.mapv(|v| (1.0 + s * ((v - mid) / (hi - lo)).clamp(-0.5, 0.5)) as f32)
}
