//! The moving image (the study) at one level and the similarity: normalised mutual
//! information `(H(F) + H(M)) / H(F, M)` over the fixed sample points, with the moving value
//! spread over its two nearest bins (partial-volume binning keeps the cost smooth enough
//! for a derivative-free optimiser).

use crate::affine::apply;
use crate::template::{Level, BINS};
use nalgebra::Matrix4;
use ndarray::Array3;
use ndarray_ndimage::BorderMode;
use rayon::prelude::*;
use strokeseg_core::{percentile_in_place, sample_trilinear, Mask, Volume};

/// The study image, smoothed for one level and scaled to 0–1.
pub struct Moving {
    data: Array3<f32>,
    /// World mm → fractional voxel index.
    world_to_voxel: Matrix4<f64>,
    dims: [usize; 3],
}

/// Robust 0–1 scaling of a study: its 99.5th percentile inside `brain` (or over the
/// non-zero voxels when the mask is empty) maps to 1.
#[must_use]
pub fn robust_max(img: &Volume, brain: &Mask) -> f32 {
    let mut v: Vec<f32> = img
        .data()
        .iter()
        .zip(brain.data().iter())
        .filter(|(_, &b)| b)
        .map(|(x, _)| *x)
        .filter(|x| x.is_finite())
        .collect();
    if v.len() < 100 {
        v = img
            .data()
            .iter()
            .copied()
            .filter(|x| x.is_finite() && *x > 0.0)
            .collect();
    }
    percentile_in_place(&mut v, 99.5).unwrap_or(1.0).max(1e-6)
}

impl Moving {
    /// `img` smoothed with a Gaussian of `sigma_mm` (per axis, less the voxel's own size)
    /// and divided by `max`.
    #[must_use]
    pub fn new(img: &Volume, sigma_mm: f64, max: f32) -> Moving {
        let sp = img.spacing_mm();
        let mut data = img
            .data()
            .mapv(|x| if x.is_finite() { x / max } else { 0.0 });
        for (axis, &s) in sp.iter().enumerate() {
            let sig = (sigma_mm * sigma_mm - s * s / 4.0).max(0.0).sqrt() / s;
            if sig > 0.3 && (data.len_of(ndarray::Axis(axis)) as f64) > 3.0 * sig + 1.0 {
                data = ndarray_ndimage::gaussian_filter1d(
                    &data,
                    sig as f32,
                    ndarray::Axis(axis),
                    0,
                    BorderMode::Nearest,
                    3,
                );
            }
        }
        data.mapv_inplace(|x| x.clamp(0.0, 1.0));
        let g = img.grid();
        Moving {
            data,
            world_to_voxel: g.world_to_voxel_affine(),
            dims: g.dims,
        }
    }

    /// Value at a world point, `None` outside the image.
    #[inline]
    #[must_use]
    pub fn at(&self, p: [f64; 3]) -> Option<f32> {
        self.at_voxel(apply(&self.world_to_voxel, p))
    }

    /// World mm → fractional voxel index of the study.
    #[must_use]
    pub fn world_to_voxel(&self) -> &Matrix4<f64> {
        &self.world_to_voxel
    }

    /// Value at a fractional voxel index, `None` outside the image.
    #[inline]
    #[must_use]
    pub fn at_voxel(&self, v: [f64; 3]) -> Option<f32> {
        let d = self.dims;
        // Half a voxel beyond the outer centres still belongs to the image.
        if (0..3).any(|a| v[a] < -0.5 || v[a] > d[a] as f64 - 0.5) {
            return None;
        }
        let c: [f64; 3] = std::array::from_fn(|a| v[a].clamp(0.0, (d[a] - 1) as f64));
        Some(sample_trilinear(&self.data.view(), c))
    }
}

/// Joint histogram of one level under `m` (template → study world) and the share of points
/// that fell inside the study.
fn joint(level: &Level, moving: &Moving, m: &Matrix4<f64>) -> (Vec<f64>, f64) {
    let n = level.points.len();
    let chunk = n
        .div_ceil(rayon::current_num_threads().max(1) * 2)
        .max(1024);
    let (h, inside) = level
        .points
        .par_chunks(chunk)
        .zip(level.bins.par_chunks(chunk))
        .map(|(pts, bins)| {
            let mut h = vec![0.0f64; BINS * BINS];
            let mut inside = 0usize;
            for (p, &b) in pts.iter().zip(bins) {
                if let Some(v) = moving.at(apply(m, *p)) {
                    inside += 1;
                    let x = v * (BINS as f32 - 1.0);
                    let lo = (x.floor() as usize).min(BINS - 1);
                    let f = f64::from(x - lo as f32);
                    let row = b as usize * BINS;
                    h[row + lo] += 1.0 - f;
                    if lo + 1 < BINS {
                        h[row + lo + 1] += f;
                    }
                }
            }
            (h, inside)
        })
        .reduce(
            || (vec![0.0; BINS * BINS], 0),
            |(mut a, na), (b, nb)| {
                a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                (a, na + nb)
            },
        );
    (h, inside as f64 / n.max(1) as f64)
}

/// Normalised mutual information (1 = independent, up to 2 = identical) and the share of
/// sample points inside the study.
#[must_use]
pub fn nmi(level: &Level, moving: &Moving, m: &Matrix4<f64>) -> (f64, f64) {
    let (h, frac) = joint(level, moving, m);
    let total: f64 = h.iter().sum();
    if total <= 0.0 {
        return (1.0, frac);
    }
    let mut pf = [0.0f64; BINS];
    let mut pm = [0.0f64; BINS];
    let mut hj = 0.0;
    for a in 0..BINS {
        for b in 0..BINS {
            let p = h[a * BINS + b] / total;
            pf[a] += p;
            pm[b] += p;
            if p > 0.0 {
                hj -= p * p.ln();
            }
        }
    }
    let ent = |q: &[f64]| {
        -q.iter()
            .filter(|&&p| p > 0.0)
            .map(|p| p * p.ln())
            .sum::<f64>()
    };
    if hj <= 0.0 {
        return (1.0, frac);
    }
    ((ent(&pf) + ent(&pm)) / hj, frac)
}

/// Pearson correlation of fixed and moving values over the fixed brain points that land
/// inside the study.
#[must_use]
pub fn brain_correlation(level: &Level, moving: &Moving, m: &Matrix4<f64>) -> f64 {
    let (mut n, mut sx, mut sy, mut sxx, mut syy, mut sxy) = (0.0f64, 0.0, 0.0, 0.0, 0.0, 0.0);
    for ((p, &x), &inside) in level.points.iter().zip(&level.values).zip(&level.inside) {
        if !inside {
            continue;
        }
        if let Some(y) = moving.at(apply(m, *p)) {
            let (x, y) = (f64::from(x), f64::from(y));
            n += 1.0;
            sx += x;
            sy += y;
            sxx += x * x;
            syy += y * y;
            sxy += x * y;
        }
    }
    if n < 10.0 {
        return 0.0;
    }
    let cov = sxy / n - sx * sy / n / n;
    let vx = sxx / n - sx * sx / n / n;
    let vy = syy / n - sy * sy / n / n;
    if vx <= 1e-12 || vy <= 1e-12 {
        return 0.0;
    }
    cov / (vx * vy).sqrt()
}
