//! Voxel grid geometry: dimensions plus a voxel→world (RAS+ mm) affine.

use nalgebra::{Matrix3, Matrix4, Vector3, Vector4};

/// Why a grid is not usable.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum GridError {
    /// A dimension is zero.
    #[error("grid dimension {axis} is zero (dims {dims:?})")]
    ZeroDim {
        /// Which axis (0, 1 or 2).
        axis: usize,
        /// All three dims.
        dims: [usize; 3],
    },
    /// The affine is singular, not finite, or has no sensible voxel size.
    #[error("voxel-to-world affine is unusable: {0}")]
    BadAffine(String),
}

/// A voxel grid: `dims` voxels along `[i, j, k]` and the affine taking voxel centres to world
/// millimetres (RAS+).
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// Number of voxels along i, j, k.
    pub dims: [usize; 3],
    /// Voxel (i, j, k, 1) → world (x, y, z, 1) in millimetres, RAS+.
    pub affine: Matrix4<f64>,
}

impl Grid {
    /// Builds a grid after checking that the dims are non-zero and the affine is finite and
    /// invertible with voxel sizes between 0.01 and 100 mm.
    ///
    /// # Errors
    /// [`GridError`] when any of those checks fails.
    pub fn new(dims: [usize; 3], affine: Matrix4<f64>) -> Result<Self, GridError> {
        if let Some(axis) = dims.iter().position(|&d| d == 0) {
            return Err(GridError::ZeroDim { axis, dims });
        }
        if affine.iter().any(|v| !v.is_finite()) {
            return Err(GridError::BadAffine("contains NaN or infinity".into()));
        }
        let g = Grid { dims, affine };
        let sp = g.spacing_mm();
        if sp.iter().any(|&s| !(0.01..=100.0).contains(&s)) {
            return Err(GridError::BadAffine(format!(
                "voxel size {sp:?} mm is outside 0.01–100 mm"
            )));
        }
        if g.linear().determinant().abs() < 1e-9 {
            return Err(GridError::BadAffine(
                "singular (axes are not independent)".into(),
            ));
        }
        Ok(g)
    }

    /// An axis-aligned grid with the given spacing and the world position of voxel (0,0,0).
    #[must_use]
    pub fn axis_aligned(dims: [usize; 3], spacing_mm: [f64; 3], origin_mm: [f64; 3]) -> Self {
        let mut a = Matrix4::identity();
        for d in 0..3 {
            a[(d, d)] = spacing_mm[d];
            a[(d, 3)] = origin_mm[d];
        }
        Grid { dims, affine: a }
    }

    /// The 3×3 linear part of the affine (columns are the voxel axes in world mm).
    #[must_use]
    pub fn linear(&self) -> Matrix3<f64> {
        self.affine.fixed_view::<3, 3>(0, 0).into_owned()
    }

    /// Voxel size along i, j, k in millimetres (column norms of the affine).
    #[must_use]
    pub fn spacing_mm(&self) -> [f64; 3] {
        let l = self.linear();
        [l.column(0).norm(), l.column(1).norm(), l.column(2).norm()]
    }

    /// Volume of one voxel in millilitres.
    #[must_use]
    pub fn voxel_volume_ml(&self) -> f64 {
        self.linear().determinant().abs() / 1000.0
    }

    /// Total number of voxels.
    #[must_use]
    pub fn len(&self) -> usize {
        self.dims.iter().product()
    }

    /// True when the grid has no voxels (never for a grid made by [`Grid::new`]).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// World coordinates (mm) of a (possibly fractional) voxel index.
    #[must_use]
    pub fn voxel_to_world(&self, ijk: [f64; 3]) -> [f64; 3] {
        let w = self.affine * Vector4::new(ijk[0], ijk[1], ijk[2], 1.0);
        [w[0], w[1], w[2]]
    }

    /// The world→voxel affine.
    ///
    /// # Panics
    /// Only for a singular affine, which [`Grid::new`] rejects.
    #[must_use]
    pub fn world_to_voxel_affine(&self) -> Matrix4<f64> {
        self.affine
            .try_inverse()
            .expect("Grid invariant: affine is invertible")
    }

    /// Unit vector of the slice normal (the k axis direction in world space).
    #[must_use]
    pub fn slice_normal(&self) -> Vector3<f64> {
        self.linear().column(2).normalize()
    }

    /// True when both grids have the same dims and affines equal within `tol_mm` on every
    /// voxel-corner position (checked on the affine entries scaled by the extent).
    #[must_use]
    pub fn same_as(&self, other: &Grid, tol_mm: f64) -> bool {
        if self.dims != other.dims {
            return false;
        }
        let corners = [
            [0.0, 0.0, 0.0],
            [self.dims[0] as f64 - 1.0, 0.0, 0.0],
            [0.0, self.dims[1] as f64 - 1.0, 0.0],
            [0.0, 0.0, self.dims[2] as f64 - 1.0],
            [
                self.dims[0] as f64 - 1.0,
                self.dims[1] as f64 - 1.0,
                self.dims[2] as f64 - 1.0,
            ],
        ];
        corners.iter().all(|c| {
            let a = self.voxel_to_world(*c);
            let b = other.voxel_to_world(*c);
            (0..3).all(|d| (a[d] - b[d]).abs() <= tol_mm)
        })
    }

    /// World position of the grid centre.
    #[must_use]
    pub fn centre_mm(&self) -> [f64; 3] {
        self.voxel_to_world([
            (self.dims[0] as f64 - 1.0) / 2.0,
            (self.dims[1] as f64 - 1.0) / 2.0,
            (self.dims[2] as f64 - 1.0) / 2.0,
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_zero_dims_and_singular_affines() {
        let a = Matrix4::identity();
        assert!(matches!(
            Grid::new([3, 0, 2], a),
            Err(GridError::ZeroDim { axis: 1, .. })
        ));
        let mut s = Matrix4::identity();
        s[(2, 2)] = 0.0;
        assert!(Grid::new([2, 2, 2], s).is_err());
        let mut n = Matrix4::identity();
        n[(0, 3)] = f64::NAN;
        assert!(Grid::new([2, 2, 2], n).is_err());
    }

    #[test]
    fn spacing_and_voxel_volume() {
        let g = Grid::axis_aligned([10, 10, 5], [1.0, 2.0, 5.0], [0.0; 3]);
        assert_eq!(g.spacing_mm(), [1.0, 2.0, 5.0]);
        assert!((g.voxel_volume_ml() - 0.01).abs() < 1e-12);
        assert_eq!(g.voxel_to_world([1.0, 1.0, 1.0]), [1.0, 2.0, 5.0]);
    }
}
