//! The fixed image of a registration: a DWI-like MNI template made from the tissue maps, or
//! any volume + mask (e.g. an atlas outline), as a pyramid of sample points.

use crate::affine::apply;
use nalgebra::Matrix4;
use ndarray::Array3;
use strokeseg_core::{Grid, Mask, Volume};
use strokeseg_measure::TemplateMoments;
use strokeseg_mni::Template;
use strokeseg_preproc::dilate_mm;

/// Intensity bins of the joint histogram.
pub const BINS: usize = 32;

/// Relative b≈1000 trace DWI signal of grey matter, white matter and CSF (GM is slightly
/// brighter than WM, CSF dark): S0·exp(−b·ADC) with typical adult values.
pub const DWI_LIKE: [f32; 3] = [1.0, 0.85, 0.2];

/// One resolution level: the fixed image's sample points.
#[derive(Debug, Clone)]
pub struct Level {
    /// Spacing of the level (mm).
    pub spacing_mm: f64,
    /// Sample points, world (template) mm.
    pub points: Vec<[f64; 3]>,
    /// Fixed-image bin of each point (0 – `BINS`−1).
    pub bins: Vec<u8>,
    /// Fixed-image value of each point, 0–1 (for correlation).
    pub values: Vec<f32>,
    /// Whether each point is inside the fixed mask (the brain).
    pub inside: Vec<bool>,
}

/// The fixed side of a registration.
#[derive(Debug, Clone)]
pub struct RegTemplate {
    /// What it is ("MNI ICBM152 2009a, DWI-like", "phantom", ...).
    pub name: String,
    /// Intensity on a 2 mm grid, 0–1.
    pub image: Volume,
    /// Brain (fixed mask) on the same grid.
    pub brain: Mask,
    /// Centre of the brain (world mm): the centre of rotations and scales.
    pub centre: [f64; 3],
    /// Moments of the brain, for the moments-based starting point.
    pub moments: TemplateMoments,
    /// Levels, coarse to fine.
    pub levels: Vec<Level>,
}

/// Block average of `a` by an integer `f` per axis; returns the array and the new grid.
pub(crate) fn block_mean(a: &Array3<f32>, grid: &Grid, f: usize) -> (Array3<f32>, Grid) {
    let d = grid.dims;
    let nd = [d[0] / f, d[1] / f, d[2] / f];
    let mut out = Array3::<f32>::zeros((nd[0], nd[1], nd[2]));
    let norm = 1.0 / (f * f * f) as f32;
    for ((i, j, k), o) in out.indexed_iter_mut() {
        let mut s = 0.0;
        for a0 in 0..f {
            for b0 in 0..f {
                for c0 in 0..f {
                    s += a[[i * f + a0, j * f + b0, k * f + c0]];
                }
            }
        }
        *o = s * norm;
    }
    let half = (f as f64 - 1.0) / 2.0;
    let ff = f as f64;
    let sub = Matrix4::new(
        ff, 0.0, 0.0, half, 0.0, ff, 0.0, half, 0.0, 0.0, ff, half, 0.0, 0.0, 0.0, 1.0,
    );
    (
        out,
        Grid {
            dims: nd,
            affine: grid.affine * sub,
        },
    )
}

impl RegTemplate {
    /// The DWI-like MNI template: `DWI_LIKE`-weighted GM/WM/CSF fractions, zero outside the
    /// intracranial mask (a skull-stripped b≈1000 image).
    #[must_use]
    pub fn dwi_like(t: &Template) -> RegTemplate {
        let mut v = Array3::<f32>::zeros(t.gm.dim());
        ndarray::Zip::from(&mut v)
            .and(&t.gm)
            .and(&t.wm)
            .and(&t.csf)
            .for_each(|o, &g, &w, &c| {
                *o = DWI_LIKE[0] * g + DWI_LIKE[1] * w + DWI_LIKE[2] * c;
            });
        let ic = t.intracranial.mapv(|b| if b { 1.0f32 } else { 0.0 });
        Self::from_fixed(&v, &ic, &t.grid, &format!("{} (DWI-like)", t.name))
    }

    /// A fixed side from an intensity array and a brain-fraction array (0–1) on `grid`
    /// (any spacing ≤ 2 mm is averaged to 2 mm when it divides; coarser grids are used as is).
    #[must_use]
    pub fn from_fixed(values: &Array3<f32>, brain: &Array3<f32>, grid: &Grid, name: &str) -> Self {
        let sp = grid.spacing_mm()[0];
        let f = ((2.0 / sp).round() as usize).max(1);
        let (img, g2) = block_mean(values, grid, f);
        let (bfrac, _) = block_mean(brain, grid, f);
        let max = img.iter().copied().fold(0.0f32, f32::max).max(1e-6);
        let img = img.mapv(|x| (x / max).clamp(0.0, 1.0));
        let bmask = bfrac.mapv(|x| x >= 0.5);
        let brain_m = Mask::on_grid(bmask.clone(), &g2);
        let moments = TemplateMoments::from_mask(&brain_m);
        let centre = moments.centroid_mm;
        let s2 = g2.spacing_mm()[0];
        // Sample points: the brain and a margin of background around it, so edges count.
        let region = dilate_mm(&bmask, 8.0, g2.spacing_mm());
        let mut levels = Vec::new();
        for (factor, stride) in LEVELS {
            let (lv, lg) = if factor == 1 {
                (img.clone(), g2.clone())
            } else {
                block_mean(&img, &g2, factor)
            };
            let mut level = Level {
                spacing_mm: s2 * factor as f64,
                points: Vec::new(),
                bins: Vec::new(),
                values: Vec::new(),
                inside: Vec::new(),
            };
            for ((i, j, k), &v) in lv.indexed_iter() {
                // About one voxel in `stride`, spread evenly by a hash of the index.
                if stride > 1 && hash3(i, j, k) % stride as u64 != 0 {
                    continue;
                }
                let c = [
                    (i * factor + factor / 2).min(g2.dims[0] - 1),
                    (j * factor + factor / 2).min(g2.dims[1] - 1),
                    (k * factor + factor / 2).min(g2.dims[2] - 1),
                ];
                if !region[c] {
                    continue;
                }
                let p = apply(&lg.affine, [i as f64, j as f64, k as f64]);
                level.points.push(p);
                level.values.push(v);
                level.bins.push(bin_of(v));
                level.inside.push(bmask[c]);
            }
            levels.push(level);
        }
        RegTemplate {
            name: name.to_string(),
            image: Volume::on_grid(img, &g2),
            brain: brain_m,
            centre,
            moments,
            levels,
        }
    }
}

/// (block factor over 2 mm, keep one voxel in `stride`) of the levels, coarse to fine:
/// 8 mm all, 4 mm one in 2, 2 mm one in 8 — about 5k, 20k and 40k points for a human brain.
const LEVELS: [(usize, usize); 3] = [(4, 1), (2, 2), (1, 8)];

/// A well-mixed hash of a voxel index (splitmix64).
fn hash3(i: usize, j: usize, k: usize) -> u64 {
    let mut z = (i as u64) ^ ((j as u64) << 21) ^ ((k as u64) << 42);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hard bin of a value in 0–1.
#[must_use]
#[inline]
pub fn bin_of(v: f32) -> u8 {
    ((v.clamp(0.0, 1.0) * (BINS as f32 - 1.0)).round()) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phantom_template_has_points_inside_and_around_the_brain() {
        let t = RegTemplate::dwi_like(&Template::phantom(2.0));
        assert_eq!(t.levels.len(), 3);
        for l in &t.levels {
            let n_in = l.inside.iter().filter(|&&b| b).count();
            assert!(
                n_in > 100 && n_in < l.points.len(),
                "{n_in} of {}",
                l.points.len()
            );
        }
        assert!(t.levels[0].points.len() < t.levels[1].points.len());
        // The brain centre is near the phantom's cerebrum centre (0, −15, 15) give or take
        // the cerebellum and brainstem below it.
        assert!(t.centre[0].abs() < 1.0 && (t.centre[2] - 15.0).abs() < 15.0);
        // Block averaging keeps grid centres in place.
        let g = Grid::axis_aligned([4, 4, 4], [1.0; 3], [0.0; 3]);
        let (_, g2) = block_mean(&Array3::zeros((4, 4, 4)), &g, 2);
        assert!((g2.voxel_to_world([0.0, 0.0, 0.0])[0] - 0.5).abs() < 1e-12);
    }
}
