//! [`Image`]: a 3-D array on a [`Grid`].

use crate::grid::{Grid, GridError};
use nalgebra::Matrix4;
use ndarray::Array3;

/// A 3-D image: voxels indexed `[i, j, k]` plus the voxel→world affine of its grid.
#[derive(Debug, Clone, PartialEq)]
pub struct Image<T> {
    data: Array3<T>,
    affine: Matrix4<f64>,
}

/// Intensity image (DWI, ADC, b0, probabilities).
pub type Volume = Image<f32>;
/// Binary mask (brain, lesion).
pub type Mask = Image<bool>;

impl<T> Image<T> {
    /// Wraps an array with an affine, validating the geometry through [`Grid::new`].
    ///
    /// # Errors
    /// [`GridError`] for zero dims or an unusable affine.
    pub fn new(data: Array3<T>, affine: Matrix4<f64>) -> Result<Self, GridError> {
        let d = data.dim();
        Grid::new([d.0, d.1, d.2], affine)?;
        Ok(Image { data, affine })
    }

    /// An image on `grid`, built from an array of the grid's shape.
    ///
    /// # Panics
    /// When `data`'s shape differs from `grid.dims` (a programming error).
    #[must_use]
    pub fn on_grid(data: Array3<T>, grid: &Grid) -> Self {
        let d = data.dim();
        assert_eq!(
            [d.0, d.1, d.2],
            grid.dims,
            "array shape must match grid dims"
        );
        Image {
            data,
            affine: grid.affine,
        }
    }

    /// The voxels, indexed `[i, j, k]`.
    #[must_use]
    pub fn data(&self) -> &Array3<T> {
        &self.data
    }

    /// Mutable voxels (the grid cannot change through this).
    pub fn data_mut(&mut self) -> &mut Array3<T> {
        &mut self.data
    }

    /// Consumes the image, returning its voxels.
    #[must_use]
    pub fn into_data(self) -> Array3<T> {
        self.data
    }

    /// Voxel→world affine (RAS+ mm).
    #[must_use]
    pub fn affine(&self) -> &Matrix4<f64> {
        &self.affine
    }

    /// Dims `[ni, nj, nk]`.
    #[must_use]
    pub fn dims(&self) -> [usize; 3] {
        let d = self.data.dim();
        [d.0, d.1, d.2]
    }

    /// The grid (dims + affine).
    #[must_use]
    pub fn grid(&self) -> Grid {
        Grid {
            dims: self.dims(),
            affine: self.affine,
        }
    }

    /// Voxel size in mm along i, j, k.
    #[must_use]
    pub fn spacing_mm(&self) -> [f64; 3] {
        self.grid().spacing_mm()
    }

    /// A new image on the same grid with each voxel mapped through `f`.
    #[must_use]
    pub fn map<U, F: FnMut(&T) -> U>(&self, f: F) -> Image<U> {
        Image {
            data: self.data.map(f),
            affine: self.affine,
        }
    }
}

impl Volume {
    /// Voxels that are NaN or infinite, with the first such index.
    #[must_use]
    pub fn non_finite(&self) -> Option<(usize, [usize; 3])> {
        let mut count = 0;
        let mut first = None;
        for ((i, j, k), v) in self.data.indexed_iter() {
            if !v.is_finite() {
                count += 1;
                first.get_or_insert([i, j, k]);
            }
        }
        first.map(|f| (count, f))
    }

    /// Median of the voxels inside `mask` (same grid), or `None` when the mask is empty.
    ///
    /// # Panics
    /// When the mask's dims differ from the image's.
    #[must_use]
    pub fn median_in(&self, mask: &Mask) -> Option<f32> {
        assert_eq!(self.dims(), mask.dims(), "mask must be on the image grid");
        let mut v: Vec<f32> = self
            .data
            .iter()
            .zip(mask.data.iter())
            .filter(|(x, &m)| m && x.is_finite())
            .map(|(x, _)| *x)
            .collect();
        percentile_in_place(&mut v, 50.0)
    }
}

impl Mask {
    /// Number of true voxels.
    #[must_use]
    pub fn count(&self) -> usize {
        self.data.iter().filter(|&&b| b).count()
    }

    /// Volume of the true voxels in millilitres.
    #[must_use]
    pub fn volume_ml(&self) -> f64 {
        self.count() as f64 * self.grid().voxel_volume_ml()
    }
}

/// The `p`-th percentile (0–100, nearest rank on the sorted values) of `v`, reordering `v`.
/// `None` for an empty slice. NaNs must have been removed by the caller.
pub fn percentile_in_place(v: &mut [f32], p: f64) -> Option<f32> {
    if v.is_empty() {
        return None;
    }
    let idx = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
    let idx = idx.min(v.len() - 1);
    let (_, x, _) = v.select_nth_unstable_by(idx, f32::total_cmp);
    Some(*x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    #[test]
    fn median_and_mask_volume() {
        let g = Grid::axis_aligned([4, 1, 1], [2.0, 5.0, 10.0], [0.0; 3]);
        let v = Volume::on_grid(
            Array3::from_shape_vec((4, 1, 1), vec![1.0, 5.0, 3.0, 100.0]).unwrap(),
            &g,
        );
        let m = Mask::on_grid(
            Array3::from_shape_vec((4, 1, 1), vec![true, true, true, false]).unwrap(),
            &g,
        );
        assert_eq!(v.median_in(&m), Some(3.0));
        assert!((m.volume_ml() - 0.3).abs() < 1e-12);
    }

    #[test]
    fn finds_non_finite_voxels() {
        let g = Grid::axis_aligned([2, 2, 1], [1.0; 3], [0.0; 3]);
        let mut a = Array3::zeros((2, 2, 1));
        a[[1, 0, 0]] = f32::NAN;
        a[[1, 1, 0]] = f32::INFINITY;
        let v = Volume::on_grid(a, &g);
        assert_eq!(v.non_finite(), Some((2, [1, 0, 0])));
    }
}
