//! The lesions of a training label on the working grid: its connected components, for
//! lesion-uniform patch sampling ([`crate::sampler::PatchConfig::component_share`]), and
//! peak-normalised labels ([`crate::sampler::PatchConfig::peak_labels`]).
//!
//! Why both: a training label holds each voxel's *lesion fraction* after resampling to the
//! working grid (1.6 × 1.6 × 4 mm for the shipped models, 10 mm³ a voxel). A lesion of
//! 0.02–0.09 mL covers a few voxels only partly, so its label peaks at 0.2–0.6; trained on that,
//! the network's best answer there is a probability below the 0.5 mask threshold, and the lesion
//! is never reported. Drawing a patch centre uniformly over lesion *voxels* also shows such a
//! lesion hundreds of times less often than a large infarct in the same study. Here a
//! component's label is divided by its peak (its most lesion-like voxel becomes 1, the partial
//! volume around it keeps its shape), and a patch centre can be drawn lesion by lesion.
//! Labels of components that already reach 1 (every lesion larger than a few voxels) are
//! unchanged. Written by hand: a 26-connected flood fill over the few lesion voxels is shorter
//! than adapting a general labelling crate to fractional labels with an ignore value.

use ndarray::Array3;

/// Label values at or below this are background (resampling leaves traces below it).
pub const LABEL_FLOOR: f32 = 0.02;

/// Components whose peak is below this are left as they are when peak-normalising: a trace
/// that small is resampling noise, not a lesion.
pub const MIN_PEAK: f32 = 0.05;

/// A voxel counts as a lesion voxel for patch centres from this label value on.
pub const CENTRE_LABEL: f32 = 0.25;

/// 26-connected components of `label > LABEL_FLOOR` (ignored voxels, which are negative, are
/// never part of one), each as its voxels ([d, h, w]) in scan order.
#[must_use]
pub fn components(label: &Array3<f32>) -> Vec<Vec<[usize; 3]>> {
    let (nd, nh, nw) = label.dim();
    let mut seen = Array3::<bool>::from_elem((nd, nh, nw), false);
    let mut out = Vec::new();
    for ((a, b, c), &v) in label.indexed_iter() {
        if v <= LABEL_FLOOR || seen[[a, b, c]] {
            continue;
        }
        seen[[a, b, c]] = true;
        let mut comp = vec![[a, b, c]];
        let mut i = 0;
        while i < comp.len() {
            let [x, y, z] = comp[i];
            i += 1;
            for nx in x.saturating_sub(1)..=(x + 1).min(nd - 1) {
                for ny in y.saturating_sub(1)..=(y + 1).min(nh - 1) {
                    for nz in z.saturating_sub(1)..=(z + 1).min(nw - 1) {
                        if !seen[[nx, ny, nz]] && label[[nx, ny, nz]] > LABEL_FLOOR {
                            seen[[nx, ny, nz]] = true;
                            comp.push([nx, ny, nz]);
                        }
                    }
                }
            }
        }
        comp.sort_unstable();
        out.push(comp);
    }
    out
}

/// Divides each component's label by its peak (capped at 1), for components whose peak is
/// in [`MIN_PEAK`], 1): see the module doc. `comps` are [`components`] of `label`.
pub fn peak_normalise(label: &mut Array3<f32>, comps: &[Vec<[usize; 3]>]) {
    for comp in comps {
        let peak = comp.iter().map(|&v| label[v]).fold(0.0f32, f32::max);
        if (MIN_PEAK..1.0).contains(&peak) {
            for &v in comp {
                label[v] = (label[v] / peak).min(1.0);
            }
        }
    }
}

/// Patch centres of each component: its voxels with label ≥ [`CENTRE_LABEL`], or, where none
/// reaches it, its most lesion-like voxel, so every lesion can be drawn.
#[must_use]
pub fn centres(label: &Array3<f32>, comps: &[Vec<[usize; 3]>]) -> Vec<Vec<[usize; 3]>> {
    comps
        .iter()
        .map(|comp| {
            let inside: Vec<[usize; 3]> = comp
                .iter()
                .copied()
                .filter(|&v| label[v] >= CENTRE_LABEL)
                .collect();
            if inside.is_empty() {
                let peak = comp
                    .iter()
                    .copied()
                    .max_by(|&p, &q| label[p].total_cmp(&label[q]))
                    .expect("a component has a voxel");
                vec![peak]
            } else {
                inside
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label_with_two_lesions() -> Array3<f32> {
        let mut l = Array3::<f32>::zeros((6, 12, 12));
        // a large lesion reaching 1 with a partial-volume rim
        for a in 1..4 {
            for b in 1..5 {
                for c in 1..5 {
                    l[[a, b, c]] = 1.0;
                }
            }
        }
        l[[1, 1, 5]] = 0.3;
        // a tiny lesion, never above 0.4 on this grid, touching a diagonal neighbour
        l[[3, 9, 9]] = 0.4;
        l[[4, 10, 10]] = 0.1;
        // an ignored voxel and a resampling trace: never lesions
        l[[0, 11, 0]] = -1.0;
        l[[5, 0, 11]] = 0.01;
        l
    }

    #[test]
    fn components_are_26_connected_and_skip_ignore_and_traces() {
        let l = label_with_two_lesions();
        let comps = components(&l);
        assert_eq!(comps.len(), 2, "{comps:?}");
        assert_eq!(comps[0].len(), 3 * 4 * 4 + 1);
        assert_eq!(comps[1], vec![[3, 9, 9], [4, 10, 10]]);
    }

    #[test]
    fn peak_normalising_lifts_tiny_lesions_only() {
        let mut l = label_with_two_lesions();
        let comps = components(&l);
        peak_normalise(&mut l, &comps);
        assert_eq!(l[[2, 2, 2]], 1.0);
        assert_eq!(l[[1, 1, 5]], 0.3, "the large lesion's rim is unchanged");
        assert_eq!(l[[3, 9, 9]], 1.0, "the tiny lesion's peak becomes 1");
        assert!(
            (l[[4, 10, 10]] - 0.25).abs() < 1e-6,
            "its rim keeps its share"
        );
        assert_eq!(l[[0, 11, 0]], -1.0);
        assert_eq!(l[[5, 0, 11]], 0.01);
    }

    #[test]
    fn every_component_has_a_centre() {
        let mut l = label_with_two_lesions();
        l[[3, 9, 9]] = 0.2; // no voxel of the tiny lesion reaches CENTRE_LABEL
        let comps = components(&l);
        let c = centres(&l, &comps);
        assert_eq!(c[0].len(), 3 * 4 * 4 + 1);
        assert_eq!(c[1], vec![[3, 9, 9]]);
    }
}
