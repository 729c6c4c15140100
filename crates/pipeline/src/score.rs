//! Run a model on labelled studies and score it with `strokeseg-eval`: the loop shared by
//! `validate`, `calibrate`, `learning-curve` (test set) and `adapt` (held-out studies
//! before/after). No metric is computed here: per case
//! [`score_case`], overall [`summarize`] (ISLES'22 definitions, docs/evaluation.md).

use crate::Segmenter;
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::BTreeMap;
use std::path::PathBuf;
use strokeseg_eval::inputs::{
    case_key, read_manifest, read_mask, region_of, same_grid, ManifestLesion,
};
use strokeseg_eval::{score_case, summarize, Bootstrap, CaseResult, Summary};
use strokeseg_io::dataset::LabelledStudy;
use strokeseg_io::{InputError, Study};
use strokeseg_measure::{call, LesionConfig, OperatingPoint};

/// A progress bar in the project's style: `what [=====>   ] 3/10 (elapsed, eta)`.
#[must_use]
pub fn bar(n: u64, what: &str) -> ProgressBar {
    let b = ProgressBar::new(n);
    b.set_style(
        ProgressStyle::with_template(&format!(
            "{what} [{{bar:30}}] {{pos}}/{{len}} ({{elapsed}}, eta {{eta}}) {{msg}}"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    b
}

/// Truth lesion regions by study key ([`case_key`]).
pub type Regions = BTreeMap<String, Vec<ManifestLesion>>;

/// Per-study truth lesion regions from the `manifest.json` of each synthetic dataset folder
/// among `dirs` (folders without one, and CSV manifests, contribute nothing).
///
/// # Errors
/// [`InputError`] for an unreadable manifest.
pub fn manifests(dirs: &[PathBuf]) -> Result<Regions, InputError> {
    let mut out = Regions::new();
    for d in dirs {
        let m = d.join("manifest.json");
        if d.is_dir() && m.is_file() {
            out.extend(read_manifest(&m)?);
        }
    }
    Ok(out)
}

/// Segments every study of `refs` with `seg` (lesions by `lcfg`) and scores it against its
/// mask. The binary patient call is `headline` (score ≥ its threshold) when given, else "any
/// predicted lesion"; the patient score is the segmenter's (its best candidate lesion's
/// score), so the summary's ROC AUC and the model's stored operating points are scored too.
/// Confidence intervals: [`Bootstrap::default`].
///
/// # Errors
/// [`InputError`] naming the file: unreadable study or mask, mask not on the DWI's grid.
pub fn score_model(
    seg: &Segmenter,
    refs: &[LabelledStudy],
    regions: &Regions,
    lcfg: &LesionConfig,
    headline: Option<&OperatingPoint>,
    what: &str,
) -> Result<(Vec<CaseResult>, Summary), InputError> {
    let b = bar(refs.len() as u64, what);
    let mut cases = Vec::with_capacity(refs.len());
    for r in refs {
        let study = Study::load(&r.spec)?;
        let truth = read_mask(&r.mask)?;
        let input = r.spec.paths.first().or(r.spec.dwi.as_ref());
        let out = seg
            .run(&study, lcfg, 0.0)
            .map_err(|e| InputError::bad_image(input.unwrap_or(&r.mask), e.0))?;
        same_grid(&truth, &r.mask, &out.mask, input.unwrap_or(&r.mask))?;
        let metrics = score_case(&truth, &out.mask);
        let called_positive = match headline {
            Some(op) => call(out.score, op),
            None => metrics.pred_lesions > 0,
        };
        let regions = match regions.get(&case_key(&r.id)) {
            Some(ls) => metrics
                .truth_lesions
                .iter()
                .map(|l| region_of(l.centroid_mm, l.volume_ml, ls))
                .collect(),
            None => Vec::new(),
        };
        cases.push(CaseResult {
            id: r.id.clone(),
            truth_file: r.mask.display().to_string(),
            pred_file: format!("model output for {}", input.unwrap_or(&r.mask).display()),
            score: Some(out.score),
            called_positive,
            metrics,
            regions,
        });
        b.inc(1);
    }
    b.finish_and_clear();
    let binary_call = match headline {
        Some(op) => format!("score >= {} (operating point {})", op.threshold, op.name),
        None => "any predicted lesion".to_string(),
    };
    let summary = summarize(
        &cases,
        &seg.operating_points,
        &binary_call,
        Bootstrap::default(),
    );
    Ok((cases, summary))
}

/// One calibration study's patient score, kept so the operating points can be audited
/// (which positives had no candidate at all, which negatives scored high).
#[derive(Debug, Clone, serde::Serialize)]
pub struct CalibrationScore {
    /// Study identifier.
    pub id: String,
    /// Its source (site or dataset name).
    pub site: String,
    /// True when its truth mask holds a lesion.
    pub positive: bool,
    /// Truth lesion volume (mL).
    pub truth_volume_ml: f64,
    /// Patient score ([`strokeseg_measure::patient_score`]); 0 when no candidate lesion.
    pub score: f32,
    /// For a positive with a candidate: whether the candidate that decides its score lies on
    /// a truth lesion (its bounding box, grown by one voxel, holds a truth voxel). `false`
    /// means the study was scored by something else in it, such as an artefact that the
    /// background's lesion-free original shows as well, so the positive was not really found.
    /// Empty for negatives and for positives without a candidate.
    pub deciding_on_truth: Option<bool>,
    /// The score calibration uses. For a positive, the highest score among the candidates
    /// that lie on a truth lesion (as for `deciding_on_truth`), 0 when none does: a positive
    /// counts as found at a threshold only when a candidate on its lesion reaches it
    /// (localisation ROC), not when an artefact elsewhere in the study does. For a negative,
    /// `score` (any candidate is a false one).
    pub located_score: f32,
    /// Every candidate that counted for the call, and whether it lies on a truth lesion (as
    /// for `deciding_on_truth`; always false in a negative study), for the audit file of
    /// `calibrate` (not a column of the scores file).
    #[serde(skip)]
    pub candidates: Vec<(strokeseg_measure::Lesion, bool)>,
}

/// Each of `candidates` with whether it lies on `truth`: its bounding box, grown by one voxel,
/// holds a truth voxel (see [`box_holds`]); always false in a negative study.
fn on_truth(
    candidates: Vec<strokeseg_measure::Lesion>,
    truth: &ndarray::Array3<bool>,
    positive: bool,
) -> Vec<(strokeseg_measure::Lesion, bool)> {
    candidates
        .into_iter()
        .map(|c| {
            let on = positive && box_holds(truth, c.bbox_voxel, 1);
            (c, on)
        })
        .collect()
}

/// The highest score among the candidates on truth (from [`on_truth`]); 0 when none is.
fn located_score(candidates: &[(strokeseg_measure::Lesion, bool)]) -> f32 {
    candidates
        .iter()
        .filter(|(c, on)| *on && !c.score.is_nan())
        .map(|(c, _)| c.score)
        .fold(0.0f32, f32::max)
}

/// True when the voxel box `b` (`[min, max]`, inclusive), grown by `margin` voxels and
/// clipped to the grid, holds a voxel of `truth`; false when the box is off `truth`'s grid.
fn box_holds(truth: &ndarray::Array3<bool>, b: [[usize; 3]; 2], margin: usize) -> bool {
    let (d0, d1, d2) = truth.dim();
    let dims = [d0, d1, d2];
    if (0..3).any(|a| b[0][a].saturating_sub(margin) >= dims[a]) {
        return false;
    }
    let lo = |a: usize| b[0][a].saturating_sub(margin);
    let hi = |a: usize| (b[1][a] + margin).min(dims[a] - 1);
    truth
        .slice(ndarray::s![lo(0)..=hi(0), lo(1)..=hi(1), lo(2)..=hi(2)])
        .iter()
        .any(|&v| v)
}

/// Calibrates `seg` on labelled studies: segments each with the default lesion settings,
/// splits the patient scores by truth (a study whose mask holds a lesion is positive) and picks
/// the thresholds for 95% and 99% sensitivity (`sens95`, `sens99`). Returns them with every
/// study's score.
///
/// # Errors
/// [`InputError`] naming the file: an unreadable study or mask, or a study the quality gate
/// refuses.
pub fn calibrate_model(
    seg: &Segmenter,
    refs: &[LabelledStudy],
) -> Result<(Vec<OperatingPoint>, Vec<CalibrationScore>), InputError> {
    let b = bar(refs.len() as u64, "calibrating");
    let mut scores = Vec::with_capacity(refs.len());
    for r in refs {
        let study = Study::load(&r.spec)?;
        let truth_img = strokeseg_io::nifti_io::read_volume(&r.mask)?;
        let voxel_ml = truth_img.grid().voxel_volume_ml();
        let truth = truth_img.map(|&x| x > 0.5);
        let at = r
            .spec
            .paths
            .first()
            .or(r.spec.dwi.as_ref())
            .unwrap_or(&r.mask);
        let out = seg
            .run(&study, &LesionConfig::default(), 0.0)
            .map_err(|e| InputError::bad_image(at, e.0))?;
        let positive = truth.count() > 0;
        let deciding_on_truth = match &out.deciding_candidate {
            Some((c, _)) if positive => Some(box_holds(truth.data(), c.bbox_voxel, 1)),
            _ => None,
        };
        let candidates = on_truth(out.candidates, truth.data(), positive);
        let located_score = if positive {
            located_score(&candidates)
        } else {
            out.score
        };
        scores.push(CalibrationScore {
            id: r.id.clone(),
            site: r.site.clone(),
            positive,
            truth_volume_ml: truth.count() as f64 * voxel_ml,
            score: out.score,
            deciding_on_truth,
            located_score,
            candidates,
        });
        b.inc(1);
    }
    b.finish_and_clear();
    let pick = |positive: bool| -> Vec<f32> {
        scores
            .iter()
            .filter(|c| c.positive == positive)
            .map(|c| c.located_score)
            .collect()
    };
    let (pos, neg) = (pick(true), pick(false));
    let ops = vec![
        strokeseg_measure::calibrate(&pos, &neg, 0.95, "sens95"),
        strokeseg_measure::calibrate(&pos, &neg, 0.99, "sens99"),
    ];
    Ok((ops, scores))
}

#[cfg(test)]
mod tests {
    use super::{box_holds, located_score, on_truth};
    use ndarray::Array3;
    use strokeseg_measure::{Lesion, Region};

    fn candidate(score: f32, bbox_voxel: [[usize; 3]; 2]) -> Lesion {
        Lesion {
            id: 1,
            volume_ml: 0.1,
            n_voxels: 4,
            centroid_mm: [0.0; 3],
            centroid_voxel: [0.0; 3],
            bbox_voxel,
            max_prob: score,
            mean_prob: score,
            score,
            region: Region::Supratentorial,
            centroid_mni_approx: [0.0; 3],
            signal: None,
        }
    }

    #[test]
    fn a_positive_is_scored_by_the_candidates_on_its_lesion_only() {
        let mut t = Array3::from_elem((10, 10, 4), false);
        t[[2, 2, 1]] = true;
        let artefact = candidate(0.9, [[7, 7, 2], [8, 8, 3]]);
        let on_lesion = candidate(0.4, [[2, 3, 1], [3, 4, 1]]);
        let weaker_on_lesion = candidate(0.2, [[1, 1, 0], [2, 2, 1]]);
        let located_score = |c: &[Lesion]| located_score(&on_truth(c.to_vec(), &t, true));
        // the artefact scores the study 0.9; the lesion was found at 0.4
        let all = [artefact.clone(), weaker_on_lesion, on_lesion];
        assert_eq!(located_score(&all), 0.4);
        // only the artefact: the lesion is found at no threshold
        assert_eq!(located_score(&[artefact]), 0.0);
        assert_eq!(located_score(&[]), 0.0);
        assert_eq!(
            located_score(&[candidate(f32::NAN, [[2, 2, 1], [2, 2, 1]])]),
            0.0
        );
    }

    #[test]
    fn a_box_holds_truth_only_where_it_reaches_it() {
        let mut t = Array3::from_elem((10, 10, 4), false);
        t[[5, 5, 2]] = true;
        // on it, beside it (one voxel away: the margin), two voxels away
        assert!(box_holds(&t, [[4, 4, 1], [6, 6, 3]], 0));
        assert!(box_holds(&t, [[6, 6, 3], [7, 7, 3]], 1));
        assert!(!box_holds(&t, [[6, 6, 3], [7, 7, 3]], 0));
        assert!(!box_holds(&t, [[7, 7, 0], [9, 9, 0]], 1));
        // at the grid's edge the grown box is clipped; off the grid it holds nothing
        assert!(!box_holds(&t, [[9, 9, 3], [9, 9, 3]], 2));
        assert!(!box_holds(&t, [[12, 0, 0], [13, 1, 1]], 1));
        t[[9, 9, 3]] = true;
        assert!(box_holds(&t, [[8, 8, 3], [9, 9, 3]], 3));
    }
}
