//! Binary morphology in millimetres on anisotropic grids, on top of `ndarray-ndimage`.

use ndarray::{Array3, Axis};
use ndarray_ndimage::{label, maximum_filter1d, minimum_filter1d, BorderMode, Kernel3d};

/// Half-widths in voxels of a box of radius `radius_mm` (floor, so a 5 mm slice is not
/// eroded by a 4 mm radius).
fn half_widths(radius_mm: f64, spacing_mm: [f64; 3]) -> [usize; 3] {
    spacing_mm.map(|s| (radius_mm / s + 1e-9).floor().max(0.0) as usize)
}

/// Separable min/max over a box, per axis (erosion when `min`, dilation otherwise).
fn box_filter(mask: &Array3<bool>, half: [usize; 3], min: bool) -> Array3<bool> {
    let mut a = mask.mapv(u8::from);
    for (axis, &h) in half.iter().enumerate() {
        if h == 0 {
            continue;
        }
        let size = 2 * h + 1;
        a = if min {
            minimum_filter1d(&a, size, Axis(axis), BorderMode::Nearest, 0)
        } else {
            maximum_filter1d(&a, size, Axis(axis), BorderMode::Nearest, 0)
        };
    }
    a.mapv(|x| x != 0)
}

/// Binary erosion by a box of radius `radius_mm` (in mm on anisotropic voxels). A box rather
/// than a ball because it is separable into 1-D min filters, which `ndarray-ndimage` provides
/// and which stay fast on whole-head volumes.
#[must_use]
pub fn erode_mm(mask: &Array3<bool>, radius_mm: f64, spacing_mm: [f64; 3]) -> Array3<bool> {
    box_filter(mask, half_widths(radius_mm, spacing_mm), true)
}

/// Binary dilation by a box of radius `radius_mm` (see [`erode_mm`]).
#[must_use]
pub fn dilate_mm(mask: &Array3<bool>, radius_mm: f64, spacing_mm: [f64; 3]) -> Array3<bool> {
    box_filter(mask, half_widths(radius_mm, spacing_mm), false)
}

/// The largest 6-connected component (empty mask stays empty).
#[must_use]
pub fn largest_component(mask: &Array3<bool>) -> Array3<bool> {
    let (labels, n) = label::<u32>(mask, &Kernel3d::Star.generate());
    if n == 0 {
        return mask.clone();
    }
    let mut counts = vec![0usize; n + 1];
    for &l in &labels {
        counts[l as usize] += 1;
    }
    let best = (1..=n).max_by_key(|&l| counts[l]).unwrap_or(1) as u32;
    labels.mapv(|l| l == best)
}

/// Background components (6-connected) that do not touch the array border.
fn enclosed(bg: &Array3<bool>) -> Array3<bool> {
    let (labels, n) = label::<u32>(bg, &Kernel3d::Star.generate());
    let mut touches = vec![false; n + 1];
    let d = labels.dim();
    for ((i, j, k), &l) in labels.indexed_iter() {
        if l != 0 && (i == 0 || j == 0 || k == 0 || i + 1 == d.0 || j + 1 == d.1 || k + 1 == d.2) {
            touches[l as usize] = true;
        }
    }
    labels.mapv(|l| l != 0 && !touches[l as usize])
}

/// Fills holes: in 3-D, then slice by slice along `slice_axis` (closes ventricles and sulci
/// that open to the outside only through a neighbouring slice of a thick-slice study).
#[must_use]
pub fn fill_holes(mask: &Array3<bool>, slice_axis: usize) -> Array3<bool> {
    let mut out = mask.clone();
    let holes = enclosed(&mask.mapv(|b| !b));
    out.zip_mut_with(&holes, |o, &h| *o |= h);
    let n = out.len_of(Axis(slice_axis));
    for s in 0..n {
        let slice = out.index_axis(Axis(slice_axis), s).to_owned();
        let bg = slice.mapv(|b| !b).insert_axis(Axis(2));
        // A 2-D slice as a 3-D array one voxel thick: every background voxel touches the
        // "border" along that axis, so compare against the in-plane border only.
        let holes2 = enclosed_2d(&bg);
        out.index_axis_mut(Axis(slice_axis), s)
            .zip_mut_with(&holes2, |o, &h| *o |= h);
    }
    out
}

fn enclosed_2d(bg: &Array3<bool>) -> ndarray::Array2<bool> {
    let (labels, n) = label::<u32>(bg, &Kernel3d::Star.generate());
    let mut touches = vec![false; n + 1];
    let d = labels.dim();
    for ((i, j, _), &l) in labels.indexed_iter() {
        if l != 0 && (i == 0 || j == 0 || i + 1 == d.0 || j + 1 == d.1) {
            touches[l as usize] = true;
        }
    }
    labels
        .index_axis(Axis(2), 0)
        .mapv(|l| l != 0 && !touches[l as usize])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_an_enclosed_cavity_and_keeps_the_biggest_blob() {
        let mut m = Array3::from_shape_fn((9, 9, 9), |(i, j, k)| {
            (1..8).contains(&i) && (1..8).contains(&j) && (1..8).contains(&k)
        });
        m[[4, 4, 4]] = false;
        m[[4, 5, 4]] = false;
        let f = fill_holes(&m, 2);
        assert!(f[[4, 4, 4]] && f[[4, 5, 4]]);
        assert!(!f[[0, 0, 0]]);
        let mut two = f.clone();
        two[[0, 0, 0]] = true;
        let big = largest_component(&two);
        assert!(!big[[0, 0, 0]] && big[[4, 4, 4]]);
    }

    #[test]
    fn box_morphology_in_mm_on_thick_slices() {
        let mut m = Array3::from_elem((11, 11, 5), false);
        m[[5, 5, 2]] = true;
        let d = dilate_mm(&m, 2.0, [1.0, 1.0, 5.0]);
        assert_eq!(d.iter().filter(|&&b| b).count(), 25); // 5×5 in-plane, no growth across slices
        assert_eq!(erode_mm(&d, 2.0, [1.0, 1.0, 5.0]), m);
    }
}
