//! Ground truth on the native grid: the lesion mask by partial-volume threshold, and each
//! lesion's measured volume and position — what the manifest reports and what the mask holds
//! are the same numbers by construction.

use crate::render::LesionPv;
use ndarray::Array3;
use std::collections::HashMap;
use strokeseg_core::Grid;

/// A voxel is lesion when the lesions cover at least this fraction of it.
pub const PV_THRESHOLD: f32 = 0.5;
/// A lesion too small to fill half a voxel still marks its fullest voxel when it covers at
/// least this fraction of it (tiny lesions must not vanish from the truth); below this it is
/// reported as not visible at this resolution.
pub const PV_MIN_VISIBLE: f32 = 0.25;

/// Native-grid measurement of one lesion.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Measured {
    /// Voxels of the mask that belong to this lesion.
    pub n_voxels: usize,
    /// Their volume (mL).
    pub mask_volume_ml: f64,
    /// Largest partial volume in any voxel.
    pub max_pv: f32,
    /// Centroid of the lesion's mask voxels (voxel index), when visible.
    pub centroid_voxel: Option<[f64; 3]>,
    /// The same in world mm (RAS+).
    pub centroid_mm: Option<[f64; 3]>,
}

/// The mask and per-lesion measurements for `n_lesions` lesions.
#[must_use]
pub fn lesion_truth(grid: &Grid, pv: &LesionPv, n_lesions: usize) -> (Array3<bool>, Vec<Measured>) {
    let d = grid.dims;
    let mut total: HashMap<[usize; 3], f32> = HashMap::new();
    let mut owner: HashMap<[usize; 3], (usize, f32)> = HashMap::new();
    let mut best: Vec<([usize; 3], f32)> = vec![([0; 3], 0.0); n_lesions];
    for &(l, v, f) in pv {
        *total.entry(v).or_insert(0.0) += f;
        let o = owner.entry(v).or_insert((l, f));
        if f > o.1 {
            *o = (l, f);
        }
        if l < n_lesions && f > best[l].1 {
            best[l] = (v, f);
        }
    }
    let mut mask = Array3::from_elem((d[0], d[1], d[2]), false);
    let mut members: Vec<Vec<[usize; 3]>> = vec![Vec::new(); n_lesions];
    for (v, t) in &total {
        if *t >= PV_THRESHOLD {
            mask[*v] = true;
            if let Some(&(l, _)) = owner.get(v) {
                if l < n_lesions {
                    members[l].push(*v);
                }
            }
        }
    }
    for l in 0..n_lesions {
        // (a voxel already in the mask belongs to the lesion that fills it most)
        if members[l].is_empty() && best[l].1 >= PV_MIN_VISIBLE && !mask[best[l].0] {
            mask[best[l].0] = true;
            members[l].push(best[l].0);
        }
    }
    let vml = grid.voxel_volume_ml();
    let measured = (0..n_lesions)
        .map(|l| {
            let m = &members[l];
            let centroid_voxel = (!m.is_empty()).then(|| {
                let n = m.len() as f64;
                [0, 1, 2].map(|a| m.iter().map(|v| v[a] as f64).sum::<f64>() / n)
            });
            Measured {
                n_voxels: m.len(),
                mask_volume_ml: m.len() as f64 * vml,
                max_pv: best[l].1,
                centroid_mm: centroid_voxel.map(|c| grid.voxel_to_world(c)),
                centroid_voxel,
            }
        })
        .collect();
    (mask, measured)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_ownership_and_tiny_lesions() {
        let g = Grid::axis_aligned([4, 4, 4], [2.0; 3], [0.0; 3]);
        let pv: LesionPv = vec![
            (0, [1, 1, 1], 0.9),
            (0, [2, 1, 1], 0.4),
            (1, [2, 1, 1], 0.3), // together 0.7 → in the mask, owned by lesion 0
            (2, [3, 3, 3], 0.3), // tiny: only 0.3 of a voxel → its fullest voxel is kept
            (3, [0, 3, 0], 0.1), // too faint to see
        ];
        let (mask, m) = lesion_truth(&g, &pv, 4);
        assert_eq!(mask.iter().filter(|&&b| b).count(), 3);
        assert_eq!(m[0].n_voxels, 2);
        assert_eq!(m[1].n_voxels, 0);
        assert_eq!(m[2].n_voxels, 1);
        assert_eq!(m[3].n_voxels, 0);
        assert!((m[0].mask_volume_ml - 0.016).abs() < 1e-12);
        let total: f64 = m.iter().map(|x| x.mask_volume_ml).sum();
        assert!((total - mask.iter().filter(|&&b| b).count() as f64 * 0.008).abs() < 1e-12);
    }
}
