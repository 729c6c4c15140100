//! Brain mask for skull-on clinical DWI and for skull-stripped input.
//!
//! On a b≈1000 trace image the brain is the large bright object: fat suppression darkens the
//! scalp, bone gives no signal, and CSF is dark. So: smooth, threshold at a fraction of the
//! Otsu level, cut thin bridges to scalp/orbits with an opening in millimetres, keep the
//! largest component, and fill holes (ventricles, dark CSF) in 3-D and slice by slice.
//! Skull-stripped input (zeros outside the brain) passes through the same steps unharmed.

use crate::morph::{dilate_mm, erode_mm, fill_holes, largest_component};
use ndarray::Array3;
use ndarray_ndimage::BorderMode;
use strokeseg_core::{otsu_threshold, Mask, Volume};

/// Tunables of [`brain_mask`].
#[derive(Debug, Clone, Copy)]
pub struct BrainMaskConfig {
    /// Gaussian smoothing before thresholding (mm, sigma).
    pub smooth_mm: f64,
    /// Threshold as a fraction of the Otsu level of the non-zero voxels.
    pub otsu_fraction: f32,
    /// Radius of the opening that detaches scalp and orbits (mm).
    pub open_mm: f64,
}

impl Default for BrainMaskConfig {
    fn default() -> Self {
        BrainMaskConfig {
            smooth_mm: 2.0,
            otsu_fraction: 0.7,
            open_mm: 5.0,
        }
    }
}

/// Brain mask on the grid of `dwi`.
#[must_use]
pub fn brain_mask(dwi: &Volume, cfg: &BrainMaskConfig) -> Mask {
    let sp = dwi.spacing_mm();
    let sigma: Vec<f64> = sp.iter().map(|s| cfg.smooth_mm / s).collect();
    let smooth = smooth3(dwi.data(), [sigma[0], sigma[1], sigma[2]]);
    let Some(t) = otsu_threshold(smooth.iter().filter(|&&x| x > 0.0)) else {
        return dwi.map(|_| false);
    };
    let fg = smooth.mapv(|x| x > t * cfg.otsu_fraction);
    let eroded = erode_mm(&fg, cfg.open_mm, sp);
    let core = largest_component(&eroded);
    let mut opened = dilate_mm(&core, cfg.open_mm, sp);
    opened.zip_mut_with(&fg, |o, &f| *o &= f);
    let slice_axis = (0..3).max_by(|&a, &b| sp[a].total_cmp(&sp[b])).unwrap_or(2);
    let filled = fill_holes(&largest_component(&opened), slice_axis);
    Mask::on_grid(filled, &dwi.grid())
}

fn smooth3(a: &Array3<f32>, sigma: [f64; 3]) -> Array3<f32> {
    let mut out = a.clone();
    for (axis, &s) in sigma.iter().enumerate() {
        // gaussian_filter1d needs the axis to be longer than its 3-sigma kernel.
        if s > 0.3 && (a.len_of(ndarray::Axis(axis)) as f64) > 3.0 * s + 1.0 {
            out = ndarray_ndimage::gaussian_filter1d(
                &out,
                s as f32,
                ndarray::Axis(axis),
                0,
                BorderMode::Nearest,
                3,
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use strokeseg_core::Grid;

    /// A bright ellipsoid "brain" with a dark "ventricle", inside a dim shell "scalp" joined
    /// to it by a thin bridge, on 1×1×3 mm voxels.
    fn phantom() -> (Volume, Array3<bool>) {
        let g = Grid::axis_aligned([60, 70, 24], [2.0, 2.0, 3.0], [-60.0, -70.0, -36.0]);
        let mut truth = Array3::from_elem((60, 70, 24), false);
        let data = Array3::from_shape_fn((60, 70, 24), |(i, j, k)| {
            let (x, y, z) = (
                i as f64 * 2.0 - 60.0,
                j as f64 * 2.0 - 70.0,
                k as f64 * 3.0 - 36.0,
            );
            let r = (x / 45.0).powi(2) + (y / 55.0).powi(2) + (z / 30.0).powi(2);
            let shell = (x / 56.0).powi(2) + (y / 66.0).powi(2) + (z / 34.0).powi(2);
            let vent = (x / 8.0).powi(2) + (y / 15.0).powi(2) + (z / 8.0).powi(2);
            if r <= 1.0 {
                truth[[i, j, k]] = true;
                if vent <= 1.0 {
                    15.0
                } else {
                    400.0
                }
            } else if (0.85..=1.0).contains(&shell) {
                120.0
            } else if x.abs() < 2.0 && z.abs() < 3.0 && y > 0.0 && shell < 1.0 {
                300.0 // bridge from brain to scalp
            } else {
                5.0
            }
        });
        (Volume::on_grid(data, &g), truth)
    }

    #[test]
    fn masks_brain_drops_scalp_fills_ventricle() {
        let (v, truth) = phantom();
        let m = brain_mask(&v, &BrainMaskConfig::default());
        let both = m
            .data()
            .iter()
            .zip(truth.iter())
            .filter(|(a, b)| **a && **b)
            .count();
        let t = truth.iter().filter(|&&b| b).count();
        let dice = 2.0 * both as f64 / (m.count() + t) as f64;
        assert!(dice > 0.93, "dice {dice}");
        // centre (ventricle) included, scalp excluded
        assert!(m.data()[[30, 35, 12]]);
        assert!(!m.data()[[30, 2, 12]]);
    }

    #[test]
    fn skull_stripped_input_is_kept_whole() {
        let (v, truth) = phantom();
        let stripped = Volume::on_grid(
            ndarray::Zip::from(v.data())
                .and(&truth)
                .map_collect(|&x, &t| if t { x } else { 0.0 }),
            &v.grid(),
        );
        let m = brain_mask(&stripped, &BrainMaskConfig::default());
        let missed = truth
            .iter()
            .zip(m.data().iter())
            .filter(|(t, m)| **t && !**m)
            .count();
        assert!((missed as f64) < 0.02 * truth.iter().filter(|&&b| b).count() as f64);
    }
}
