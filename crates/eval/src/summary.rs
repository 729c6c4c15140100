//! Aggregation over cases: ISLES'22 means, lesion-wise sensitivity by size and region,
//! false positives per study, and the patient-level statistics.

use crate::case::CaseScore;
use crate::patient::{auc, bootstrap, roc_curve, Bootstrap, Confusion, Estimate};
use serde::Serialize;
use strokeseg_measure::{call, OperatingPoint};

/// Size bins of lesion-wise sensitivity: (upper bound in mL, inclusive; label).
pub const SIZE_BINS: [(f64, &str); 4] = [
    (0.087, "<=0.087 mL"),
    (1.0, "0.087-1 mL"),
    (10.0, "1-10 mL"),
    (f64::INFINITY, ">10 mL"),
];

/// Index into [`SIZE_BINS`] of a lesion of `volume_ml`.
#[must_use]
pub fn size_bin(volume_ml: f64) -> usize {
    SIZE_BINS
        .iter()
        .position(|(ub, _)| volume_ml <= *ub)
        .unwrap_or(SIZE_BINS.len() - 1)
}

/// Region names of lesion-wise sensitivity by region, in report order.
pub const REGIONS: [&str; 3] = ["supratentorial", "brainstem", "cerebellum"];

/// One matched case, scored.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    /// Study name (matching key).
    pub id: String,
    /// Truth mask file.
    pub truth_file: String,
    /// Prediction mask file.
    pub pred_file: String,
    /// Patient score (from report.json), when known.
    pub score: Option<f32>,
    /// The binary patient-level call (see [`Summary::patient`]'s `binary_call`).
    pub called_positive: bool,
    /// The ISLES'22 metrics.
    pub metrics: CaseScore,
    /// Region of each truth lesion (same order as `metrics.truth_lesions`), when a manifest
    /// gave one.
    pub regions: Vec<Option<String>>,
}

impl CaseResult {
    /// True when the truth mask is not empty.
    #[must_use]
    pub fn truth_positive(&self) -> bool {
        !self.metrics.truth_lesions.is_empty()
    }
}

/// Mean and sample standard deviation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MeanSd {
    /// Mean (None for no values).
    pub mean: Option<f64>,
    /// Sample standard deviation (None for fewer than two values).
    pub sd: Option<f64>,
}

fn mean_sd(v: impl IntoIterator<Item = f64>) -> MeanSd {
    let v: Vec<f64> = v.into_iter().collect();
    let n = v.len() as f64;
    let mean = (!v.is_empty()).then(|| v.iter().sum::<f64>() / n);
    let sd = mean
        .filter(|_| v.len() > 1)
        .map(|m| (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt());
    MeanSd { mean, sd }
}

/// The challenge's four metrics averaged over all studies (as the challenge ranks).
#[derive(Debug, Clone, Serialize)]
pub struct Isles22 {
    /// Dice.
    pub dice: MeanSd,
    /// Absolute volume difference (mL).
    pub abs_volume_diff_ml: MeanSd,
    /// Absolute lesion-count difference.
    pub abs_lesion_count_diff: MeanSd,
    /// Lesion-wise F1.
    pub lesion_f1: MeanSd,
}

/// Lesion-wise sensitivity in one bin (size or region).
#[derive(Debug, Clone, Serialize)]
pub struct BinRow {
    /// Bin label.
    pub size: String,
    /// Truth lesions in the bin.
    pub lesions: usize,
    /// Of which detected.
    pub detected: usize,
    /// detected / lesions (None for an empty bin).
    pub sensitivity: Option<f64>,
}

/// Sensitivity and specificity at one stored operating point.
#[derive(Debug, Clone, Serialize)]
pub struct OpRow {
    /// Name, e.g. sens99.
    pub operating_point: String,
    /// Score threshold (positive when score >= threshold).
    pub threshold: f32,
    /// Sensitivity here.
    pub sensitivity: Option<f64>,
    /// Its bootstrap 95% interval [low, high].
    pub sensitivity_ci95: [Option<f64>; 2],
    /// Truth-positive studies.
    pub positives: usize,
    /// Specificity here.
    pub specificity: Option<f64>,
    /// Its bootstrap 95% interval [low, high].
    pub specificity_ci95: [Option<f64>; 2],
    /// Truth-negative studies.
    pub negatives: usize,
}

/// Patient-level statistics of the binary call and of the score.
#[derive(Debug, Clone, Serialize)]
pub struct Patient {
    /// How the binary call was made.
    pub binary_call: String,
    /// Counts of the binary call.
    pub confusion: Confusion,
    /// Sensitivity of the binary call.
    pub sensitivity: Estimate,
    /// Specificity.
    pub specificity: Estimate,
    /// Positive predictive value.
    pub ppv: Estimate,
    /// Negative predictive value.
    pub npv: Estimate,
    /// ROC AUC of the score (None without scores or without both classes).
    pub auc: Option<Estimate>,
    /// Why AUC is missing, when it is.
    pub auc_note: Option<String>,
    /// ROC curve points (FPR, TPR) of the score.
    pub roc: Vec<(f64, f64)>,
    /// Resampling settings; method: stratified (by truth class) percentile bootstrap.
    pub bootstrap: Bootstrap,
    /// Always "stratified percentile".
    pub bootstrap_method: String,
}

/// Everything `evaluate` reports over the cases.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Scored studies.
    pub studies: usize,
    /// Studies with a non-empty truth mask.
    pub positives: usize,
    /// Studies with an empty truth mask.
    pub negatives: usize,
    /// ISLES'22 metrics, mean (sd) over all studies.
    pub isles22: Isles22,
    /// Mean Dice over truth-positive studies only.
    pub mean_dice_positive_studies: Option<f64>,
    /// Truth lesions (26-connected components) over all studies.
    pub truth_lesions: usize,
    /// Of which detected.
    pub detected_lesions: usize,
    /// detected / truth lesions.
    pub lesion_sensitivity: Option<f64>,
    /// Predicted components touching no truth voxel, over all studies.
    pub false_positive_lesions: usize,
    /// The same per study.
    pub false_positive_lesions_per_study: f64,
    /// Lesion-wise sensitivity by truth-lesion volume.
    pub lesion_sensitivity_by_size: Vec<BinRow>,
    /// Lesion-wise sensitivity by region (None when no manifest gave regions); the label
    /// field `size` holds the region name; lesions no manifest entry explains are "unknown".
    pub lesion_sensitivity_by_region: Option<Vec<BinRow>>,
    /// Patient-level statistics.
    pub patient: Patient,
    /// Sensitivity/specificity at each stored operating point (empty without scores).
    pub patient_level: Vec<OpRow>,
}

fn bin_row(label: &str, hits: impl Iterator<Item = bool>) -> BinRow {
    let (mut n, mut d) = (0, 0);
    for h in hits {
        n += 1;
        d += usize::from(h);
    }
    BinRow {
        size: label.to_string(),
        lesions: n,
        detected: d,
        sensitivity: (n > 0).then(|| d as f64 / n as f64),
    }
}

fn ci(e: Estimate) -> [Option<f64>; 2] {
    [e.ci95_low, e.ci95_high]
}

/// Summarises `cases`. `binary_call` describes how [`CaseResult::called_positive`] was made;
/// `ops` are the stored operating points (used only when every case has a score).
#[must_use]
pub fn summarize(
    cases: &[CaseResult],
    ops: &[OperatingPoint],
    binary_call: &str,
    boot: Bootstrap,
) -> Summary {
    let truth: Vec<bool> = cases.iter().map(CaseResult::truth_positive).collect();
    let calls: Vec<bool> = cases.iter().map(|c| c.called_positive).collect();
    let positives = truth.iter().filter(|&&t| t).count();
    let lesions = || {
        cases.iter().flat_map(|c| {
            c.metrics
                .truth_lesions
                .iter()
                .zip(c.regions.iter().chain(std::iter::repeat(&None)))
        })
    };
    let truth_lesions = lesions().count();
    let detected_lesions = lesions().filter(|(l, _)| l.detected).count();
    let fp: usize = cases.iter().map(|c| c.metrics.fp_lesions).sum();
    let by_size = SIZE_BINS
        .iter()
        .enumerate()
        .map(|(b, (_, label))| {
            bin_row(
                label,
                lesions()
                    .filter(|(l, _)| size_bin(l.volume_ml) == b)
                    .map(|(l, _)| l.detected),
            )
        })
        .collect();
    let by_region = lesions().any(|(_, r)| r.is_some()).then(|| {
        let mut names: Vec<String> = REGIONS.iter().map(|s| (*s).to_string()).collect();
        for (_, r) in lesions() {
            let n = r.clone().unwrap_or_else(|| "unknown".into());
            if !names.contains(&n) {
                names.push(n);
            }
        }
        names
            .iter()
            .map(|n| {
                bin_row(
                    n,
                    lesions()
                        .filter(|(_, r)| r.as_deref().unwrap_or("unknown") == n)
                        .map(|(l, _)| l.detected),
                )
            })
            .collect()
    });

    let conf = |idx: &[usize]| Confusion::of(&truth, &calls, idx.iter().copied());
    let scores: Option<Vec<f64>> = cases
        .iter()
        .map(|c| c.score.map(f64::from))
        .collect::<Option<Vec<f64>>>()
        .filter(|_| !cases.is_empty());
    let (auc_est, auc_note, roc) = match &scores {
        None => (
            None,
            Some("no patient scores (no report.json with the predictions): AUC unavailable".into()),
            Vec::new(),
        ),
        Some(_) if positives == 0 || positives == cases.len() => (
            None,
            Some("AUC needs both truth-positive and truth-negative studies".into()),
            Vec::new(),
        ),
        Some(s) => (
            Some(bootstrap(&truth, boot, |idx| auc(&truth, s, idx))),
            None,
            roc_curve(&truth, s),
        ),
    };
    let patient_level = match &scores {
        None => Vec::new(),
        Some(s) => ops
            .iter()
            .map(|op| {
                let c: Vec<bool> = s.iter().map(|&x| call(x as f32, op)).collect();
                let cf = |idx: &[usize]| Confusion::of(&truth, &c, idx.iter().copied());
                let sens = bootstrap(&truth, boot, |i| cf(i).sensitivity());
                let spec = bootstrap(&truth, boot, |i| cf(i).specificity());
                OpRow {
                    operating_point: op.name.clone(),
                    threshold: op.threshold,
                    sensitivity: sens.value,
                    sensitivity_ci95: ci(sens),
                    positives,
                    specificity: spec.value,
                    specificity_ci95: ci(spec),
                    negatives: cases.len() - positives,
                }
            })
            .collect(),
    };
    let all: Vec<usize> = (0..cases.len()).collect();
    Summary {
        studies: cases.len(),
        positives,
        negatives: cases.len() - positives,
        isles22: Isles22 {
            dice: mean_sd(cases.iter().map(|c| c.metrics.dice)),
            abs_volume_diff_ml: mean_sd(cases.iter().map(|c| c.metrics.abs_volume_diff_ml)),
            abs_lesion_count_diff: mean_sd(
                cases.iter().map(|c| c.metrics.abs_lesion_count_diff as f64),
            ),
            lesion_f1: mean_sd(cases.iter().map(|c| c.metrics.lesion_f1)),
        },
        mean_dice_positive_studies: mean_sd(
            cases
                .iter()
                .filter(|c| c.truth_positive())
                .map(|c| c.metrics.dice),
        )
        .mean,
        truth_lesions,
        detected_lesions,
        lesion_sensitivity: (truth_lesions > 0)
            .then(|| detected_lesions as f64 / truth_lesions as f64),
        false_positive_lesions: fp,
        false_positive_lesions_per_study: fp as f64 / cases.len().max(1) as f64,
        lesion_sensitivity_by_size: by_size,
        lesion_sensitivity_by_region: by_region,
        patient: Patient {
            binary_call: binary_call.to_string(),
            confusion: conf(&all),
            sensitivity: bootstrap(&truth, boot, |i| conf(i).sensitivity()),
            specificity: bootstrap(&truth, boot, |i| conf(i).specificity()),
            ppv: bootstrap(&truth, boot, |i| conf(i).ppv()),
            npv: bootstrap(&truth, boot, |i| conf(i).npv()),
            auc: auc_est,
            auc_note,
            roc,
            bootstrap: boot,
            bootstrap_method: "stratified percentile".into(),
        },
        patient_level,
    }
}
