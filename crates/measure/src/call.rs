//! The patient-level decision: one score per study, a threshold chosen for a sensitivity.

use crate::lesions::Lesion;
use serde::{Deserialize, Serialize};

/// A decision threshold on the patient score and how it did on the data it was chosen on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OperatingPoint {
    /// Name, e.g. `"sens99"`.
    pub name: String,
    /// A study is called positive when its score is `>= threshold`.
    pub threshold: f32,
    /// Fraction of calibration positives called positive at this threshold.
    pub sensitivity: f64,
    /// Fraction of calibration negatives called negative at this threshold.
    pub specificity: f64,
    /// Set when the target sensitivity could not be reached by a useful threshold: some
    /// calibration positives were found by no candidate (score 0), and only a threshold of 0
    /// (every study positive) would count them; says how many and what was chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Probability at which candidate lesions for the patient score are taken
/// ([`candidate_config`]): lower than the mask's 0.5, so that a study whose lesion the network
/// sees only faintly still ranks above one where it sees nothing, and calibration has a
/// continuous score to choose operating points on.
pub const CANDIDATE_THRESHOLD: f32 = 0.1;

/// The lesion settings for the patient score's candidates: `cfg` with its threshold lowered
/// to at most [`CANDIDATE_THRESHOLD`] (the minimum volume kept).
#[must_use]
pub fn candidate_config(cfg: &crate::LesionConfig) -> crate::LesionConfig {
    crate::LesionConfig {
        threshold: cfg.threshold.min(CANDIDATE_THRESHOLD),
        ..cfg.clone()
    }
}

/// The patient score: the highest lesion score ([`Lesion::score`], the mean of a lesion's
/// three most probable voxels) over all (kept) lesions; 0.0 when there are no lesions. A
/// lesion-level score, not the highest voxel: one isolated confident voxel cannot call a
/// study positive on its own. Lesions dropped by [`crate::LesionConfig::min_volume_ml`] do
/// not count, so the lesion settings are part of the operating point and must be the same at
/// calibration and use. NaN values are ignored.
#[must_use]
pub fn patient_score(lesions: &[Lesion]) -> f32 {
    lesions
        .iter()
        .map(|l| l.score)
        .filter(|p| !p.is_nan())
        .fold(0.0f32, f32::max)
}

/// The candidate whose score is the patient score ([`patient_score`]; the first of equals),
/// and whether it holds a lesion of the mask (its id is in `holding`, from
/// [`crate::holding_kept`]); `None` when no candidate scores above 0.
#[must_use]
pub fn deciding_candidate(
    candidates: &[Lesion],
    holding: &std::collections::HashSet<u32>,
) -> Option<(Lesion, bool)> {
    let best =
        candidates
            .iter()
            .filter(|l| l.score > 0.0)
            .fold(None::<&Lesion>, |b, l| match b {
                Some(b) if b.score >= l.score => Some(b),
                _ => Some(l),
            })?;
    Some((best.clone(), holding.contains(&(best.id as u32))))
}

/// A NaN score counts as 0.0 (the lowest valid score) everywhere in this module.
fn clean(s: f32) -> f32 {
    if s.is_nan() {
        0.0
    } else {
        s
    }
}

/// True (infarct) when `score >= op.threshold`; a NaN score counts as 0.0.
#[must_use]
pub fn call(score: f32, op: &OperatingPoint) -> bool {
    clean(score) >= op.threshold
}

/// Fraction of `scores` that `keep` accepts; 1.0 for an empty list (nothing was missed, or
/// nothing was wrongly called).
fn rate(scores: &[f32], keep: impl Fn(f32) -> bool) -> f64 {
    if scores.is_empty() {
        return 1.0;
    }
    scores.iter().filter(|&&s| keep(clean(s))).count() as f64 / scores.len() as f64
}

/// Chooses the highest threshold whose sensitivity on `scores_pos` is at least
/// `target_sensitivity`, and reports the sensitivity and specificity it achieves there.
///
/// The threshold is always one of the positive scores: the ⌈target·n⌉-th highest (at least
/// the first). Ties are counted together (`score >= threshold`), so the achieved sensitivity
/// can exceed the target. `target_sensitivity` is clamped to 0–1 (NaN counts as 1).
/// Empty inputs do not panic: with no positives the threshold is 0.0 (every study is
/// called positive, so any future positive is found) and the sensitivity reported is 1.0;
/// a rate over an empty list is reported as 1.0 (see the struct's fields), with a warning.
///
/// A positive with score 0 was found by no candidate lesion (the caller may score a positive
/// by the candidates on its truth lesion only); no threshold but 0 counts it, and a
/// threshold of 0 calls every study positive, which is no operating point. When the target
/// needs such positives, the threshold is the lowest score a positive *with* a candidate
/// has, the sensitivity reported is the one reached there (below the target), and
/// [`OperatingPoint::note`] says so; they are still counted as missed.
#[must_use]
pub fn calibrate(
    scores_pos: &[f32],
    scores_neg: &[f32],
    target_sensitivity: f64,
    name: &str,
) -> OperatingPoint {
    let target = if target_sensitivity.is_nan() {
        1.0
    } else {
        target_sensitivity.clamp(0.0, 1.0)
    };
    let mut note = None;
    let threshold = if scores_pos.is_empty() {
        tracing::warn!("calibrate {name}: no positives; threshold 0 (every study positive)");
        0.0
    } else {
        let mut pos: Vec<f32> = scores_pos.iter().map(|&s| clean(s)).collect();
        pos.sort_by(|a, b| b.total_cmp(a)); // highest first
        let n = pos.len();
        // The small epsilon keeps 0.99 · 100 = 99.000…01 from asking for 100.
        let need = ((target * n as f64 - 1e-9).ceil() as usize).clamp(1, n);
        let lowest_found = pos.iter().copied().rfind(|&s| s > 0.0);
        match (pos[need - 1] > 0.0, lowest_found) {
            (false, Some(t)) => {
                let missing = pos.iter().filter(|&&s| s <= 0.0).count();
                let text = format!(
                    "target sensitivity {target} not reachable: {missing} of {n} positives were found by no candidate lesion (score 0); threshold set to \
                     the lowest positive score with a candidate instead of 0 (which would call every study positive)"
                );
                tracing::warn!("calibrate {name}: {text}");
                note = Some(text);
                t
            }
            _ => pos[need - 1],
        }
    };
    if scores_neg.is_empty() {
        tracing::warn!("calibrate {name}: no negatives; specificity reported as 1");
    }
    OperatingPoint {
        name: name.to_string(),
        threshold,
        sensitivity: rate(scores_pos, |s| s >= threshold),
        specificity: rate(scores_neg, |s| s < threshold),
        note,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Region;

    fn lesion(score: f32) -> Lesion {
        let max_prob = score;
        Lesion {
            id: 1,
            volume_ml: 1.0,
            n_voxels: 1,
            centroid_mm: [0.0; 3],
            centroid_voxel: [0.0; 3],
            bbox_voxel: [[0; 3]; 2],
            max_prob,
            mean_prob: max_prob,
            score,
            region: Region::Supratentorial,
            centroid_mni_approx: [0.0; 3],
            signal: None,
        }
    }

    #[test]
    fn score_is_max_over_lesions_or_zero() {
        assert_eq!(patient_score(&[]), 0.0);
        assert_eq!(
            patient_score(&[lesion(0.6), lesion(0.93), lesion(0.7)]),
            0.93
        );
        assert_eq!(patient_score(&[lesion(f32::NAN), lesion(0.4)]), 0.4);
    }

    #[test]
    fn calibrate_exact_thresholds() {
        let pos = [0.9, 0.8, 0.7, 0.6, 0.5];
        let neg = [0.1, 0.2, 0.55, 0.65, 0.95];
        let op = calibrate(&pos, &neg, 0.8, "s80");
        assert_eq!(op.threshold, 0.6);
        assert_eq!(op.sensitivity, 0.8);
        assert_eq!(op.specificity, 0.6); // 0.1, 0.2, 0.55 below 0.6
        assert!(call(0.6, &op) && !call(0.599, &op) && !call(f32::NAN, &op));
        let op = calibrate(&pos, &neg, 1.0, "s100");
        assert_eq!(
            (op.threshold, op.sensitivity, op.specificity),
            (0.5, 1.0, 0.4)
        );
        // Target 0.79 needs 4 of 5 as well; 0.81 needs all 5.
        assert_eq!(calibrate(&pos, &neg, 0.79, "x").threshold, 0.6);
        assert_eq!(calibrate(&pos, &neg, 0.81, "x").threshold, 0.5);
        // Target 0 still detects the top positive; the highest threshold is its score.
        let op = calibrate(&pos, &neg, 0.0, "x");
        assert_eq!((op.threshold, op.sensitivity), (0.9, 0.2));
        assert_eq!(op.name, "x");
    }

    #[test]
    fn calibrate_with_ties() {
        let pos = [0.9, 0.8, 0.8, 0.8, 0.5];
        let neg = [0.8, 0.3];
        // 3 of 5 needed: the 3rd highest is 0.8, which brings all tied 0.8s along.
        let op = calibrate(&pos, &neg, 0.6, "t");
        assert_eq!(op.threshold, 0.8);
        assert_eq!(op.sensitivity, 0.8);
        assert_eq!(
            op.specificity, 0.5,
            "a negative tied at the threshold is called positive"
        );
        // All tied.
        let op = calibrate(&[0.7; 4], &[0.7; 2], 0.99, "t");
        assert_eq!(
            (op.threshold, op.sensitivity, op.specificity),
            (0.7, 1.0, 0.0)
        );
    }

    #[test]
    fn calibrate_sens99_with_100_positives() {
        // Positives 0.01, 0.02, …, 1.00; negatives 0.000, 0.005, …, 0.495.
        let pos: Vec<f32> = (1..=100).map(|i| i as f32 / 100.0).collect();
        let neg: Vec<f32> = (0..100).map(|i| i as f32 / 200.0).collect();
        let op = calibrate(&pos, &neg, 0.99, "sens99");
        // 99 of 100 must be found: threshold at the 99th highest, 0.02.
        assert_eq!(op.threshold, 0.02);
        assert_eq!(op.sensitivity, 0.99);
        assert_eq!(op.specificity, 0.04); // 0.000, 0.005, 0.010, 0.015
        let op = calibrate(&pos, &neg, 0.95, "sens95");
        assert_eq!((op.threshold, op.sensitivity), (0.06, 0.95));
        // Order of the input does not matter.
        let mut rev = pos.clone();
        rev.reverse();
        assert_eq!(
            calibrate(&rev, &neg, 0.99, "sens99"),
            calibrate(&pos, &neg, 0.99, "sens99")
        );
    }

    #[test]
    fn positives_without_a_candidate_do_not_make_every_study_positive() {
        // 20 positives, one with no candidate at all (score 0); 10 negatives.
        let mut pos: Vec<f32> = (1..=19).map(|i| 0.2 + i as f32 * 0.04).collect();
        pos.push(0.0);
        let neg = [0.0, 0.0, 0.05, 0.1, 0.15, 0.3, 0.0, 0.0, 0.12, 0.5];
        let op = calibrate(&pos, &neg, 0.99, "sens99");
        assert!((op.threshold - 0.24).abs() < 1e-6, "{op:?}");
        assert_eq!(
            op.sensitivity, 0.95,
            "the positive without candidate stays missed"
        );
        assert_eq!(op.specificity, 0.8);
        assert!(op.note.as_deref().unwrap().contains("1 of 20 positives"));
        // Reachable targets are untouched and carry no note.
        let op = calibrate(&pos, &neg, 0.9, "sens90");
        assert_eq!(op.note, None);
        assert!(op.threshold > 0.24);
        // Only positives without candidates: 0 is all there is.
        let op = calibrate(&[0.0, 0.0], &neg, 0.99, "none");
        assert_eq!((op.threshold, op.sensitivity), (0.0, 1.0));
    }

    #[test]
    fn calibrate_empty_and_nan_inputs_do_not_panic() {
        let op = calibrate(&[], &[0.2, 0.4], 0.99, "e");
        assert_eq!(
            (op.threshold, op.sensitivity, op.specificity),
            (0.0, 1.0, 0.0)
        );
        let op = calibrate(&[0.3, 0.6], &[], 0.5, "e");
        assert_eq!(
            (op.threshold, op.sensitivity, op.specificity),
            (0.6, 0.5, 1.0)
        );
        let op = calibrate(&[], &[], 0.9, "e");
        assert_eq!(
            (op.threshold, op.sensitivity, op.specificity),
            (0.0, 1.0, 1.0)
        );
        // NaN scores count as 0 (no candidate): the NaN positive is counted as missed
        // rather than bought with a threshold of 0.
        let op = calibrate(&[0.9, f32::NAN], &[0.1], 1.0, "n");
        assert_eq!(
            (op.threshold, op.sensitivity, op.specificity),
            (0.9, 0.5, 1.0)
        );
        assert!(op.note.is_some());
        let op = calibrate(&[0.9, 0.8], &[f32::NAN], f64::NAN, "n");
        assert_eq!((op.threshold, op.specificity), (0.8, 1.0));
        // Serialises without NaN.
        let js = serde_json::to_string(&op).unwrap();
        let back: OperatingPoint = serde_json::from_str(&js).unwrap();
        assert_eq!(back, op);
    }
}
