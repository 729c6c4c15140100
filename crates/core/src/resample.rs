//! Resampling onto any target grid by world coordinates.
//!
//! Written by hand rather than with `ndarray-ndimage`'s `zoom`/`shift`: those work in index
//! space on one array, while we need a full voxel→world→voxel mapping between two arbitrary
//! affines (oblique slices, flips, different fields of view), which no crate we use provides.

use crate::grid::Grid;
use crate::image::{Image, Mask, Volume};
use nalgebra::{Matrix4, Vector4};
use ndarray::Array3;

/// Interpolation for intensity images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interp {
    /// Nearest neighbour.
    Nearest,
    /// Trilinear.
    Linear,
}

/// target voxel → source voxel, as a 4×4 matrix.
fn target_to_source(src: &Grid, target: &Grid) -> Matrix4<f64> {
    src.world_to_voxel_affine() * target.affine
}

/// Source index (fractional) for a target voxel.
#[inline]
fn map_point(m: &Matrix4<f64>, p: [f64; 3]) -> [f64; 3] {
    let s = m * Vector4::new(p[0], p[1], p[2], 1.0);
    [s[0], s[1], s[2]]
}

/// Clamp a coordinate that lies within half a voxel outside the array onto its edge; `None`
/// when it is further out.
#[inline]
fn clamp_half(x: f64, n: usize) -> Option<f64> {
    let max = n as f64 - 1.0;
    if x < -0.5 || x > max + 0.5 {
        None
    } else {
        Some(x.clamp(0.0, max))
    }
}

impl<T: Clone> Image<T> {
    /// Nearest-neighbour resampling onto `target`; voxels outside the source get `fill`.
    #[must_use]
    pub fn resample_nearest(&self, target: &Grid, fill: T) -> Image<T> {
        let m = target_to_source(&self.grid(), target);
        let d = self.dims();
        let src = self.data();
        let data = Array3::from_shape_fn(
            (target.dims[0], target.dims[1], target.dims[2]),
            |(i, j, k)| {
                let s = map_point(&m, [i as f64, j as f64, k as f64]);
                match (
                    clamp_half(s[0], d[0]),
                    clamp_half(s[1], d[1]),
                    clamp_half(s[2], d[2]),
                ) {
                    (Some(a), Some(b), Some(c)) => {
                        src[[a.round() as usize, b.round() as usize, c.round() as usize]].clone()
                    }
                    _ => fill.clone(),
                }
            },
        );
        Image::on_grid(data, target)
    }
}

impl Volume {
    /// Resamples onto `target` by world coordinates; voxels outside the source get `fill`.
    #[must_use]
    pub fn resample(&self, target: &Grid, interp: Interp, fill: f32) -> Volume {
        match interp {
            Interp::Nearest => self.resample_nearest(target, fill),
            Interp::Linear => self.resample_linear(target, fill),
        }
    }

    fn resample_linear(&self, target: &Grid, fill: f32) -> Volume {
        let m = target_to_source(&self.grid(), target);
        let d = self.dims();
        let src = self.data();
        let data = Array3::from_shape_fn(
            (target.dims[0], target.dims[1], target.dims[2]),
            |(i, j, k)| {
                let s = map_point(&m, [i as f64, j as f64, k as f64]);
                let (Some(x), Some(y), Some(z)) = (
                    clamp_half(s[0], d[0]),
                    clamp_half(s[1], d[1]),
                    clamp_half(s[2], d[2]),
                ) else {
                    return fill;
                };
                trilinear(src, d, x, y, z)
            },
        );
        Image::on_grid(data, target)
    }
}

/// Trilinear sample of `a` at the fractional index `p` (any axis order: `p[n]` indexes axis
/// `n`); 0 outside the array. Shared by the synthetic-data renderer and the patch sampler.
#[must_use]
#[inline]
pub fn sample_trilinear(a: &ndarray::ArrayView3<f32>, p: [f64; 3]) -> f32 {
    let (n0, n1, n2) = a.dim();
    let d = [n0, n1, n2];
    if (0..3).any(|q| p[q] < 0.0 || p[q] > (d[q] - 1) as f64) {
        return 0.0;
    }
    let x0 = [p[0] as usize, p[1] as usize, p[2] as usize];
    let x1 = [0, 1, 2].map(|q| (x0[q] + 1).min(d[q] - 1));
    let f = [0, 1, 2].map(|q| (p[q] - x0[q] as f64) as f32);
    let l = |i: usize, j: usize, k: usize| a[[i, j, k]];
    let c00 = l(x0[0], x0[1], x0[2]) * (1.0 - f[2]) + l(x0[0], x0[1], x1[2]) * f[2];
    let c01 = l(x0[0], x1[1], x0[2]) * (1.0 - f[2]) + l(x0[0], x1[1], x1[2]) * f[2];
    let c10 = l(x1[0], x0[1], x0[2]) * (1.0 - f[2]) + l(x1[0], x0[1], x1[2]) * f[2];
    let c11 = l(x1[0], x1[1], x0[2]) * (1.0 - f[2]) + l(x1[0], x1[1], x1[2]) * f[2];
    (c00 * (1.0 - f[1]) + c01 * f[1]) * (1.0 - f[0]) + (c10 * (1.0 - f[1]) + c11 * f[1]) * f[0]
}

/// Trilinear interpolation at an in-range fractional index.
#[inline]
fn trilinear(src: &Array3<f32>, d: [usize; 3], x: f64, y: f64, z: f64) -> f32 {
    let (x0, y0, z0) = (x.floor() as usize, y.floor() as usize, z.floor() as usize);
    let (x1, y1, z1) = (
        (x0 + 1).min(d[0] - 1),
        (y0 + 1).min(d[1] - 1),
        (z0 + 1).min(d[2] - 1),
    );
    let (fx, fy, fz) = (x - x0 as f64, y - y0 as f64, z - z0 as f64);
    let v = |a, b, c| f64::from(src[[a, b, c]]);
    let c00 = v(x0, y0, z0) * (1.0 - fx) + v(x1, y0, z0) * fx;
    let c10 = v(x0, y1, z0) * (1.0 - fx) + v(x1, y1, z0) * fx;
    let c01 = v(x0, y0, z1) * (1.0 - fx) + v(x1, y0, z1) * fx;
    let c11 = v(x0, y1, z1) * (1.0 - fx) + v(x1, y1, z1) * fx;
    let c0 = c00 * (1.0 - fy) + c10 * fy;
    let c1 = c01 * (1.0 - fy) + c11 * fy;
    (c0 * (1.0 - fz) + c1 * fz) as f32
}

impl Mask {
    /// Partial-volume resampling: the fraction (0–1) of each target voxel covered by the mask,
    /// estimated from `n`³ evenly spread sample points per target voxel (nearest lookup in the
    /// source). Threshold the result (e.g. at 0.5) to get a mask on the target grid.
    ///
    /// # Panics
    /// When `n` is 0.
    #[must_use]
    pub fn resample_partial_volume(&self, target: &Grid, n: usize) -> Volume {
        assert!(n > 0, "need at least one sample per voxel");
        let m = target_to_source(&self.grid(), target);
        let d = self.dims();
        let src = self.data();
        let offsets: Vec<f64> = (0..n).map(|s| (s as f64 + 0.5) / n as f64 - 0.5).collect();
        let total = (n * n * n) as f32;
        let data = Array3::from_shape_fn(
            (target.dims[0], target.dims[1], target.dims[2]),
            |(i, j, k)| {
                let mut hits = 0u32;
                for &a in &offsets {
                    for &b in &offsets {
                        for &c in &offsets {
                            let s = map_point(&m, [i as f64 + a, j as f64 + b, k as f64 + c]);
                            let r = [s[0].round(), s[1].round(), s[2].round()];
                            if (0..3).all(|q| r[q] >= 0.0 && r[q] < d[q] as f64)
                                && src[[r[0] as usize, r[1] as usize, r[2] as usize]]
                            {
                                hits += 1;
                            }
                        }
                    }
                }
                hits as f32 / total
            },
        );
        Image::on_grid(data, target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_resampling_reproduces_a_linear_ramp() {
        // f(x,y,z) = x + 2y + 3z in world mm on a 2 mm grid; sample on a 1 mm shifted grid.
        let src = Grid::axis_aligned([10, 10, 10], [2.0; 3], [0.0; 3]);
        let v = Volume::on_grid(
            Array3::from_shape_fn((10, 10, 10), |(i, j, k)| (2 * i + 4 * j + 6 * k) as f32),
            &src,
        );
        let tgt = Grid::axis_aligned([8, 8, 8], [1.0; 3], [3.5, 2.25, 1.0]);
        let r = v.resample(&tgt, Interp::Linear, -1.0);
        for ((i, j, k), val) in r.data().indexed_iter() {
            let w = tgt.voxel_to_world([i as f64, j as f64, k as f64]);
            let expect = w[0] + 2.0 * w[1] + 3.0 * w[2];
            assert!(
                (f64::from(*val) - expect).abs() < 1e-3,
                "{i},{j},{k}: {val} vs {expect}"
            );
        }
        // Far outside → fill.
        let far = Grid::axis_aligned([2, 2, 2], [1.0; 3], [100.0, 0.0, 0.0]);
        assert!(v
            .resample(&far, Interp::Linear, -1.0)
            .data()
            .iter()
            .all(|&x| x == -1.0));
    }

    #[test]
    fn partial_volume_of_half_covered_voxels() {
        // Source 1 mm grid, mask covers x < 2 mm (voxels 0,1). Target 4 mm voxels starting at
        // centre x=1.5 mm → covers source x in [-0.5, 3.5): half inside.
        let src = Grid::axis_aligned([8, 4, 4], [1.0; 3], [0.0; 3]);
        let m = Mask::on_grid(Array3::from_shape_fn((8, 4, 4), |(i, _, _)| i < 2), &src);
        let tgt = Grid::axis_aligned([1, 1, 1], [4.0; 3], [1.5, 1.5, 1.5]);
        let pv = m.resample_partial_volume(&tgt, 4);
        assert!((pv.data()[[0, 0, 0]] - 0.5).abs() < 1e-6);
        let nn = m.resample_nearest(&src, false);
        assert_eq!(nn, m);
    }
}
