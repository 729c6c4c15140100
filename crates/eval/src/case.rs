//! One case scored against its truth: the ISLES'22 metrics and the lesion tables they rest on.
//!
//! Definitions follow the challenge's own evaluation code (`utils/eval_utils.py` of
//! `ezequieldlrosa/isles22`), see `docs/evaluation.md`:
//! - Dice = 2|T∩P| / (|T|+|P|), 1 when both masks are empty;
//! - absolute volume difference = | |T| − |P| | × voxel volume (mL);
//! - absolute lesion-count difference = |#components(T) − #components(P)|, 26-connected;
//! - lesion-wise F1 = TP / (TP + (FP + FN)/2), where a truth component is a TP when any of
//!   its voxels is in P (else FN), a predicted component is an FP when none of its voxels is
//!   in T; 1 when TP + FP + FN = 0 (both masks empty).

use ndarray::Array3;
use ndarray_ndimage::{label, Kernel3d};
use serde::Serialize;
use strokeseg_core::Mask;
use strokeseg_measure::{find_lesions, Lesion, LesionConfig};

/// One 26-connected component of the truth mask and whether the prediction found it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TruthLesion {
    /// Volume (mL): voxel count × voxel volume.
    pub volume_ml: f64,
    /// Voxel count.
    pub n_voxels: usize,
    /// Centroid in world millimetres (RAS+).
    pub centroid_mm: [f64; 3],
    /// True when at least one of its voxels is in the prediction.
    pub detected: bool,
}

/// The ISLES'22 metrics of one case, and the lesion counts behind them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseScore {
    /// Dice of the masks (1 when both are empty).
    pub dice: f64,
    /// Truth volume (mL).
    pub truth_volume_ml: f64,
    /// Predicted volume (mL).
    pub pred_volume_ml: f64,
    /// |truth − predicted volume| (mL).
    pub abs_volume_diff_ml: f64,
    /// Components of the truth, largest first.
    pub truth_lesions: Vec<TruthLesion>,
    /// Number of components of the prediction.
    pub pred_lesions: usize,
    /// |truth − predicted component count|.
    pub abs_lesion_count_diff: usize,
    /// Truth components touched by the prediction.
    pub tp_lesions: usize,
    /// Truth components not touched by the prediction.
    pub fn_lesions: usize,
    /// Predicted components that touch no truth voxel.
    pub fp_lesions: usize,
    /// Lesion-wise F1 (1 when both masks are empty).
    pub lesion_f1: f64,
}

/// 26-connected components of `mask`: the per-voxel label map and the lesion table of
/// [`find_lesions`], with `table[i]` being the component labelled `labels_of[i]`.
struct Components {
    labels: Array3<u32>,
    table: Vec<Lesion>,
    /// Label value of each table row.
    labels_of: Vec<u32>,
}

/// Components of a binary mask. The table comes from [`find_lesions`] (the project's one
/// definition of a lesion); the label map is the same `ndarray_ndimage::label` call with the
/// full 3×3×3 kernel that `find_lesions` makes internally, because `find_lesions` returns no
/// per-voxel labels and the overlap test needs them. Rows are matched to labels by
/// `find_lesions`' documented order (largest first, ties by first voxel), which is a total
/// order, so the match is exact.
fn components(mask: &Mask) -> Components {
    let as_prob = mask.map(|&b| if b { 1.0f32 } else { 0.0 });
    let (_, table) = find_lesions(&as_prob, None, &|p| p, &LesionConfig::default());
    // Standard (row-major) layout first: `label` visits lines in memory order and on a
    // column-major array (NIfTI masks are read that way) never links the (+1, −1) diagonal
    // neighbours, splitting 26-connected lesions (tests/isles22_reference.rs).
    let (labels, n) = label::<u32>(
        &mask.data().as_standard_layout(),
        &Kernel3d::Full.generate(),
    );
    let mut count = vec![0usize; n + 1];
    let mut first = vec![usize::MAX; n + 1];
    for (flat, &l) in labels.iter().enumerate() {
        if l > 0 {
            count[l as usize] += 1;
            first[l as usize] = first[l as usize].min(flat);
        }
    }
    let mut order: Vec<u32> = (1..=n as u32).filter(|&l| count[l as usize] > 0).collect();
    order.sort_by(|&a, &b| {
        count[b as usize]
            .cmp(&count[a as usize])
            .then(first[a as usize].cmp(&first[b as usize]))
    });
    // The two labellings agree exactly now that both run on row-major arrays (the one
    // mismatch ever seen came from a column-major mask). Should they still differ, match rows
    // to labels by voxel count and keep only the matched ones rather than abort.
    if order.len() != table.len()
        || order
            .iter()
            .zip(&table)
            .any(|(l, row)| count[*l as usize] != row.n_voxels)
    {
        tracing::warn!(
            "lesion components differ between labellings ({} vs {}); matching by size",
            order.len(),
            table.len()
        );
        let mut used = vec![false; table.len()];
        let mut rows = Vec::new();
        let mut labs = Vec::new();
        for &l in &order {
            if let Some(i) =
                (0..table.len()).find(|&i| !used[i] && table[i].n_voxels == count[l as usize])
            {
                used[i] = true;
                rows.push(table[i].clone());
                labs.push(l);
            }
        }
        return Components {
            labels,
            table: rows,
            labels_of: labs,
        };
    }
    Components {
        labels,
        table,
        labels_of: order,
    }
}

/// Scores `pred` against `truth` (same grid). Volumes use the truth grid's voxel volume.
///
/// # Panics
/// When the masks' dims differ (check grids first, e.g. with [`strokeseg_core::Grid::same_as`]).
#[must_use]
pub fn score_case(truth: &Mask, pred: &Mask) -> CaseScore {
    assert_eq!(
        truth.dims(),
        pred.dims(),
        "truth and prediction dims differ"
    );
    let voxel_ml = truth.grid().voxel_volume_ml();
    let t = components(truth);
    let p = components(pred);

    // Truth component l is detected when any of its voxels is predicted.
    let mut hit = vec![false; t.labels.iter().copied().max().unwrap_or(0) as usize + 1];
    for (&l, &pv) in t.labels.iter().zip(pred.data().iter()) {
        if l > 0 && pv {
            hit[l as usize] = true;
        }
    }
    // Predicted component l is a false positive when none of its voxels is truth.
    let mut touches = vec![false; p.labels.iter().copied().max().unwrap_or(0) as usize + 1];
    for (&l, &tv) in p.labels.iter().zip(truth.data().iter()) {
        if l > 0 && tv {
            touches[l as usize] = true;
        }
    }
    let truth_lesions: Vec<TruthLesion> = t
        .table
        .iter()
        .zip(&t.labels_of)
        .map(|(row, &l)| TruthLesion {
            volume_ml: row.n_voxels as f64 * voxel_ml,
            n_voxels: row.n_voxels,
            centroid_mm: row.centroid_mm,
            detected: hit[l as usize],
        })
        .collect();
    let tp = truth_lesions.iter().filter(|l| l.detected).count();
    let fn_ = truth_lesions.len() - tp;
    let fp = p
        .labels_of
        .iter()
        .filter(|&&l| !touches[l as usize])
        .count();
    let lesion_f1 = if tp + fp + fn_ == 0 {
        1.0
    } else {
        tp as f64 / (tp as f64 + (fp + fn_) as f64 / 2.0)
    };
    let (nt, np) = (truth.count(), pred.count());
    CaseScore {
        dice: strokeseg_core::dice(truth.data().iter().copied(), pred.data().iter().copied()),
        truth_volume_ml: nt as f64 * voxel_ml,
        pred_volume_ml: np as f64 * voxel_ml,
        abs_volume_diff_ml: (nt as f64 - np as f64).abs() * voxel_ml,
        pred_lesions: p.table.len(),
        abs_lesion_count_diff: t.table.len().abs_diff(p.table.len()),
        truth_lesions,
        tp_lesions: tp,
        fn_lesions: fn_,
        fp_lesions: fp,
        lesion_f1,
    }
}
