//! Reorientation to canonical RAS+ axis order by permuting and flipping axes (no resampling),
//! as nibabel's `as_closest_canonical` does, with a record to undo it.

use crate::grid::Grid;
use crate::image::Image;
use nalgebra::Matrix4;
use ndarray::Axis;

/// For each world axis (x, y, z): which voxel axis runs closest to it, and whether it runs
/// backwards. Greedy on the direction cosines: largest |cosine| first.
fn axis_map(affine: &Matrix4<f64>) -> ([usize; 3], [bool; 3]) {
    let lin = affine.fixed_view::<3, 3>(0, 0);
    let mut cos = [[0.0f64; 3]; 3]; // cos[world][voxel]
    for (v, c) in lin.column_iter().enumerate() {
        let n = c.norm();
        for (w, row) in cos.iter_mut().enumerate() {
            row[v] = c[w] / n;
        }
    }
    let mut perm = [usize::MAX; 3];
    let mut flip = [false; 3];
    let mut used_w = [false; 3];
    let mut used_v = [false; 3];
    for _ in 0..3 {
        let mut best = (0, 0, -1.0);
        for w in (0..3).filter(|&w| !used_w[w]) {
            for v in (0..3).filter(|&v| !used_v[v]) {
                if cos[w][v].abs() > best.2 {
                    best = (w, v, cos[w][v].abs());
                }
            }
        }
        let (w, v, _) = best;
        used_w[w] = true;
        used_v[v] = true;
        perm[w] = v;
        flip[w] = cos[w][v] < 0.0;
    }
    (perm, flip)
}

/// Orientation letters of the voxel axes, e.g. `"RAS"` or `"LPS"` (nibabel's `aff2axcodes`).
#[must_use]
pub fn axis_codes(affine: &Matrix4<f64>) -> String {
    let (perm, flip) = axis_map(affine);
    let mut out = [' '; 3];
    for w in 0..3 {
        let (pos, neg) = [('R', 'L'), ('A', 'P'), ('S', 'I')][w];
        out[perm[w]] = if flip[w] { neg } else { pos };
    }
    out.iter().collect()
}

/// An image brought to RAS+ axis order, and how to take results back to the original grid.
#[derive(Debug, Clone)]
pub struct Reoriented<T> {
    /// The reoriented image: axis 0 runs towards +x (right), 1 towards +y, 2 towards +z.
    pub image: Image<T>,
    /// The original grid.
    pub original: Grid,
    perm: [usize; 3],
    flip: [bool; 3],
}

impl<T: Clone> Reoriented<T> {
    /// Permutes and flips `img` so that its axes are as close as possible to RAS+.
    /// Voxel values are untouched; the world position of every voxel is unchanged.
    #[must_use]
    pub fn new(img: &Image<T>) -> Self {
        let original = img.grid();
        let (perm, flip) = axis_map(img.affine());
        let mut view = img.data().view().permuted_axes(perm);
        for (w, &f) in flip.iter().enumerate() {
            if f {
                view.invert_axis(Axis(w));
            }
        }
        let data = view.as_standard_layout().into_owned();
        // new index → old index: old[perm[w]] = flip ? n-1-new[w] : new[w]
        let mut m = Matrix4::<f64>::zeros();
        m[(3, 3)] = 1.0;
        for w in 0..3 {
            let v = perm[w];
            if flip[w] {
                m[(v, w)] = -1.0;
                m[(v, 3)] = original.dims[v] as f64 - 1.0;
            } else {
                m[(v, w)] = 1.0;
            }
        }
        let grid = Grid {
            dims: [data.dim().0, data.dim().1, data.dim().2],
            affine: original.affine * m,
        };
        Reoriented {
            image: Image::on_grid(data, &grid),
            original,
            perm,
            flip,
        }
    }

    /// True when the input already was in RAS+ order (nothing was permuted or flipped).
    #[must_use]
    pub fn was_identity(&self) -> bool {
        self.perm == [0, 1, 2] && self.flip == [false; 3]
    }

    /// Takes an image on the reoriented grid (e.g. a lesion mask) back to the original grid.
    ///
    /// # Panics
    /// When `img` is not on the reoriented grid's dims.
    #[must_use]
    pub fn undo<U: Clone>(&self, img: &Image<U>) -> Image<U> {
        assert_eq!(
            img.dims(),
            self.image.dims(),
            "image must be on the reoriented grid"
        );
        let mut view = img.data().view();
        for (w, &f) in self.flip.iter().enumerate() {
            if f {
                view.invert_axis(Axis(w));
            }
        }
        // reoriented axis w holds original axis perm[w]; invert the permutation.
        let mut inv = [0usize; 3];
        for w in 0..3 {
            inv[self.perm[w]] = w;
        }
        let data = view.permuted_axes(inv).as_standard_layout().into_owned();
        Image::on_grid(data, &self.original)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::Volume;
    use ndarray::Array3;

    fn lps_like() -> Volume {
        // i → -x (L), j → -z (I), k → +y (A): a coronal-ish LIA acquisition with odd spacings.
        let mut a = Matrix4::<f64>::zeros();
        a[(0, 0)] = -2.0;
        a[(2, 1)] = -3.0;
        a[(1, 2)] = 4.0;
        a[(0, 3)] = 10.0;
        a[(1, 3)] = -5.0;
        a[(2, 3)] = 7.0;
        a[(3, 3)] = 1.0;
        let data = Array3::from_shape_fn((3, 4, 5), |(i, j, k)| (i * 100 + j * 10 + k) as f32);
        Volume::new(data, a).unwrap()
    }

    #[test]
    fn codes() {
        assert_eq!(axis_codes(lps_like().affine()), "LIA");
        assert_eq!(axis_codes(&Matrix4::identity()), "RAS");
    }

    #[test]
    fn reorient_keeps_world_positions_and_undo_restores() {
        let v = lps_like();
        let r = Reoriented::new(&v);
        assert_eq!(axis_codes(r.image.affine()), "RAS");
        assert_eq!(r.image.dims(), [3, 5, 4]);
        assert!(!r.was_identity());
        // Every voxel keeps its value at the same world position.
        let g_old = v.grid();
        let g_new = r.image.grid();
        for ((i, j, k), val) in r.image.data().indexed_iter() {
            let w = g_new.voxel_to_world([i as f64, j as f64, k as f64]);
            let inv = g_old.world_to_voxel_affine();
            let o = inv * nalgebra::Vector4::new(w[0], w[1], w[2], 1.0);
            let (oi, oj, ok) = (
                o[0].round() as usize,
                o[1].round() as usize,
                o[2].round() as usize,
            );
            assert_eq!(v.data()[[oi, oj, ok]], *val);
        }
        let back = r.undo(&r.image);
        assert_eq!(back, v);
    }
}
