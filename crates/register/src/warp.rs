//! A smooth displacement field in MNI space: the non-linear part of a registration.
//!
//! The field `d` lives on a coarse grid over the template (4 mm nodes) and is applied before
//! the affine: a template point `q` is imaged at study world `A · (q + d(q))`. It is
//! trilinear between nodes and continues with its border value beyond the grid, so it is
//! continuous everywhere. The inverse (study → MNI) is found per point by fixed-point
//! iteration `q ← a − d(q)` with `a = A⁻¹ p`, which converges because the field is smooth
//! (its Jacobian is checked, [`Warp::min_jacobian`]).

use crate::affine::apply;
use nalgebra::Matrix4;
use ndarray::Array3;
use serde::{Deserialize, Serialize};
use strokeseg_core::{Grid, Mask};

/// A displacement field (mm) on a grid in MNI space.
#[derive(Clone, PartialEq)]
pub struct Warp {
    /// The field's nodes (MNI mm).
    pub grid: Grid,
    /// Displacement along MNI x, y, z (mm) at each node.
    pub field: [Array3<f32>; 3],
    w2v: Matrix4<f64>,
}

impl std::fmt::Debug for Warp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Warp {{ dims: {:?}, spacing_mm: {:?}, max_mm: {:.2} }}",
            self.grid.dims,
            self.grid.spacing_mm(),
            self.max_mm()
        )
    }
}

/// What the non-linear step did (serialised with the registration; the field itself is
/// written separately, see [`Nonlinear::file`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct Nonlinear {
    /// True when the field is part of the registration (`to_mni`, `to_world`, ...).
    pub used: bool,
    /// What happened, in words ("used", "discarded: ...", "skipped: ...", "off").
    pub status: String,
    /// Normalised mutual information at the 2 mm level with the affine alone.
    pub nmi_affine: f64,
    /// The same with the field (0 when no field was computed).
    pub nmi_warped: f64,
    /// Largest displacement (mm).
    pub max_mm: f64,
    /// Mean displacement over the template brain (mm).
    pub mean_mm: f64,
    /// Smallest Jacobian determinant of `q ↦ q + d(q)` over the nodes (> 0: no folding).
    pub min_jacobian: f64,
    /// Node spacing of the field (mm).
    pub spacing_mm: f64,
    /// Iterations per level, coarse to fine.
    pub iterations: Vec<usize>,
    /// Wall-clock seconds of this step.
    pub seconds: f64,
    /// Where the field was written (displacement in mm, 4-D NIfTI x·y·z·3), when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

impl Warp {
    /// A zero field on `grid`.
    #[must_use]
    pub fn zeros(grid: &Grid) -> Warp {
        let d = grid.dims;
        let z = Array3::<f32>::zeros((d[0], d[1], d[2]));
        Warp::from_parts(grid.clone(), [z.clone(), z.clone(), z])
    }

    /// A field from its grid and components (all of the grid's shape).
    ///
    /// # Panics
    /// When a component's shape differs from the grid's dims.
    #[must_use]
    pub fn from_parts(grid: Grid, field: [Array3<f32>; 3]) -> Warp {
        let d = grid.dims;
        assert!(field.iter().all(|f| f.dim() == (d[0], d[1], d[2])));
        let w2v = grid.world_to_voxel_affine();
        Warp { grid, field, w2v }
    }

    /// Displacement (mm) at MNI point `q` (the nearest border value beyond the grid).
    #[inline]
    #[must_use]
    pub fn at(&self, q: [f64; 3]) -> [f64; 3] {
        self.at_index(apply(&self.w2v, q))
    }

    /// Displacement (mm) at a fractional node index (clamped to the grid).
    #[inline]
    #[must_use]
    pub fn at_index(&self, v: [f64; 3]) -> [f64; 3] {
        let d = self.grid.dims;
        if v.iter().any(|x| !x.is_finite()) {
            return [0.0; 3];
        }
        // Beyond the grid the field continues with its border value (continuous everywhere).
        let v: [f64; 3] = std::array::from_fn(|a| v[a].clamp(0.0, (d[a] - 1) as f64));
        let x0: [usize; 3] = std::array::from_fn(|a| (v[a] as usize).min(d[a].saturating_sub(2)));
        let f: [f64; 3] = std::array::from_fn(|a| v[a] - x0[a] as f64);
        let mut out = [0.0f64; 3];
        for c in 0..8 {
            let o = [c & 1, (c >> 1) & 1, c >> 2];
            let mut w = 1.0;
            let mut idx = [0usize; 3];
            for a in 0..3 {
                idx[a] = (x0[a] + o[a]).min(d[a] - 1);
                w *= if o[a] == 1 { f[a] } else { 1.0 - f[a] };
            }
            if w == 0.0 {
                continue;
            }
            for (a, out_a) in out.iter_mut().enumerate() {
                *out_a += w * f64::from(self.field[a][idx]);
            }
        }
        out
    }

    /// World mm → fractional node index.
    #[must_use]
    pub fn world_to_index(&self) -> &Matrix4<f64> {
        &self.w2v
    }

    /// `q + d(q)`: where the template point `q` sits before the affine.
    #[inline]
    #[must_use]
    pub fn forward(&self, q: [f64; 3]) -> [f64; 3] {
        let d = self.at(q);
        [q[0] + d[0], q[1] + d[1], q[2] + d[2]]
    }

    /// The `q` with `q + d(q) = a` (fixed-point iteration, to 0.01 mm or 20 steps).
    #[must_use]
    pub fn inverse(&self, a: [f64; 3]) -> [f64; 3] {
        let mut q = a;
        for _ in 0..20 {
            let d = self.at(q);
            let n = [a[0] - d[0], a[1] - d[1], a[2] - d[2]];
            let ch = (0..3).map(|i| (n[i] - q[i]).abs()).fold(0.0, f64::max);
            q = n;
            if ch < 0.01 {
                break;
            }
        }
        q
    }

    /// Largest displacement length over the nodes (mm).
    #[must_use]
    pub fn max_mm(&self) -> f64 {
        let [x, y, z] = &self.field;
        ndarray::Zip::from(x)
            .and(y)
            .and(z)
            .fold(0.0f32, |m, &a, &b, &c| {
                m.max((a * a + b * b + c * c).sqrt())
            })
            .into()
    }

    /// Mean displacement length over the voxels of `mask` (any grid in MNI space; mm).
    #[must_use]
    pub fn mean_mm_in(&self, mask: &Mask) -> f64 {
        let g = mask.grid();
        let (mut n, mut s) = (0.0f64, 0.0f64);
        for ((i, j, k), &b) in mask.data().indexed_iter() {
            if b {
                let d = self.at(g.voxel_to_world([i as f64, j as f64, k as f64]));
                s += (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
                n += 1.0;
            }
        }
        if n > 0.0 {
            s / n
        } else {
            0.0
        }
    }

    /// Smallest Jacobian determinant of `q ↦ q + d(q)` over interior nodes (central
    /// differences; assumes an axis-aligned grid, as the template's is).
    #[must_use]
    pub fn min_jacobian(&self) -> f64 {
        let d = self.grid.dims;
        let sp = self.grid.spacing_mm();
        let mut min = f64::INFINITY;
        for i in 1..d[0].saturating_sub(1) {
            for j in 1..d[1].saturating_sub(1) {
                for k in 1..d[2].saturating_sub(1) {
                    let mut jm = nalgebra::Matrix3::<f64>::identity();
                    for (c, f) in self.field.iter().enumerate() {
                        let g = [
                            f64::from(f[[i + 1, j, k]] - f[[i - 1, j, k]]) / (2.0 * sp[0]),
                            f64::from(f[[i, j + 1, k]] - f[[i, j - 1, k]]) / (2.0 * sp[1]),
                            f64::from(f[[i, j, k + 1]] - f[[i, j, k - 1]]) / (2.0 * sp[2]),
                        ];
                        for (a, ga) in g.iter().enumerate() {
                            jm[(c, a)] += ga;
                        }
                    }
                    min = min.min(jm.determinant());
                }
            }
        }
        if min.is_finite() {
            min
        } else {
            1.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_smooth_field_is_inverted_and_continues_beyond_its_grid() {
        let g = Grid::axis_aligned([20, 20, 20], [4.0; 3], [-40.0; 3]);
        let mut w = Warp::zeros(&g);
        // A smooth bump of 5 mm along x centred at the origin.
        for ((i, j, k), v) in w.field[0].indexed_iter_mut() {
            let p = g.voxel_to_world([i as f64, j as f64, k as f64]);
            let r2 = p.iter().map(|x| x * x).sum::<f64>();
            *v = (5.0 * (-r2 / (2.0 * 15.0f64.powi(2))).exp()) as f32;
        }
        let w = Warp::from_parts(g.clone(), w.field);
        let q = [3.0, -2.0, 1.0];
        let a = w.forward(q);
        assert!(a[0] - q[0] > 4.0, "{a:?}");
        let back = w.inverse(a);
        assert!((0..3).all(|i| (back[i] - q[i]).abs() < 0.02), "{back:?}");
        // Beyond the grid: the border value (the last node is at x = 36 mm).
        assert_eq!(w.at([200.0, 0.0, 0.0]), w.at([36.0, 0.0, 0.0]));
        let edge = 5.0 * (-(36.0f64 * 36.0) / (2.0 * 225.0)).exp();
        assert!((w.at([200.0, 0.0, 0.0])[0] - edge).abs() < 1e-4);
        assert!(w.max_mm() > 4.9 && w.max_mm() <= 5.0);
        let j = w.min_jacobian();
        assert!(j > 0.7 && j < 1.0, "{j}");
    }
}
