//! Scoring lesion masks against the truth, with no model in the loop.
//!
//! Owns: the ISLES'22 challenge metrics per case ([`score_case`]: Dice, absolute volume
//! difference, absolute lesion-count difference, lesion-wise F1, exactly as the challenge's
//! evaluation code defines them), their aggregation ([`summarize`]: lesion-wise sensitivity by
//! size and region, false positives per study, patient-level sensitivity/specificity/PPV/NPV/
//! ROC AUC with seeded bootstrap intervals, the stored operating points), finding and pairing
//! prediction and truth files ([`inputs`]), and the outputs of `strokeseg evaluate`
//! ([`output`]: metrics.json, cases.csv, summary.md, PNG plots). Definitions: docs/evaluation.md.
//!
//! Must not touch: models, inference (no burn), or the user's input folders (read only).
//! Components are 26-connected, from `strokeseg_measure::find_lesions`.
#![warn(missing_docs)]

pub mod case;
pub mod inputs;
pub mod output;
pub mod patient;
pub mod summary;

pub use case::{score_case, CaseScore, TruthLesion};
pub use patient::{Bootstrap, Confusion, Estimate};
pub use summary::{summarize, CaseResult, Summary, SIZE_BINS};

use std::path::PathBuf;
use strokeseg_io::InputError;
use strokeseg_measure::OperatingPoint;

/// What `evaluate` reads.
#[derive(Debug, Clone)]
pub struct Options {
    /// Predictions: `strokeseg segment --out` folder or a folder of mask files.
    pub pred: PathBuf,
    /// Truth: a dataset folder (`sub-*/` with `*_msk.nii.gz`) or a folder of mask files.
    pub truth: PathBuf,
    /// Synth `manifest.json` or `lesions.csv` with per-lesion regions (default: the truth
    /// folder's manifest.json when it has one).
    pub manifest: Option<PathBuf>,
    /// Confidence-interval settings.
    pub bootstrap: Bootstrap,
}

/// The result of `evaluate`.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// What was read.
    pub options: Options,
    /// The manifest actually used for regions.
    pub manifest: Option<PathBuf>,
    /// Truth studies without a prediction.
    pub truth_only: Vec<String>,
    /// Predictions without a truth study.
    pub pred_only: Vec<String>,
    /// Scored cases, sorted by study name.
    pub cases: Vec<CaseResult>,
    /// Operating points taken from the reports.
    pub operating_points: Vec<OperatingPoint>,
    /// The aggregate.
    pub summary: Summary,
}

/// Headline call of a report: Some(positive) when the report is calibrated.
fn headline(r: &inputs::PatientReport) -> Option<bool> {
    match r.call.as_str() {
        "infarct" => Some(true),
        "no_infarct" => Some(false),
        _ => None,
    }
}

/// Reads, pairs and scores every matched case; calls `progress(done, total)` after each.
///
/// The binary patient call is each report.json's headline call when every prediction has a
/// calibrated report, else "any predicted lesion". Operating points are those of the first
/// report that has any (a warning is logged when reports disagree).
///
/// # Errors
/// [`InputError`] (exit code 2) for missing or empty folders, no matching study, unreadable
/// masks, reports or manifests, and masks on different grids (naming both files).
pub fn evaluate(o: &Options, progress: &dyn Fn(usize, usize)) -> Result<Evaluation, InputError> {
    let truth = inputs::truth_masks(&o.truth)?;
    let pred = inputs::pred_masks(&o.pred)?;
    let pairing = inputs::pair(&o.truth, &truth, &o.pred, &pred)?;
    for (side, keys) in [
        ("truth studies without a prediction", &pairing.truth_only),
        ("predictions without a truth study", &pairing.pred_only),
    ] {
        if !keys.is_empty() {
            let more = if keys.len() > 3 { ", …" } else { "" };
            let first = keys.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
            tracing::warn!("{} {side} (not scored): {first}{more}", keys.len());
        }
    }
    let manifest = o.manifest.clone().or_else(|| {
        let m = o.truth.join("manifest.json");
        m.is_file().then_some(m)
    });
    let regions = manifest.as_deref().map(inputs::read_manifest).transpose()?;

    let mut cases = Vec::with_capacity(pairing.matched.len());
    let mut reports = Vec::with_capacity(pairing.matched.len());
    let total = pairing.matched.len();
    for (n, (key, t, p)) in pairing.matched.iter().enumerate() {
        let tm = inputs::read_mask(&t.mask)?;
        let pm = inputs::read_mask(&p.mask)?;
        inputs::same_grid(&tm, &t.mask, &pm, &p.mask)?;
        let metrics = score_case(&tm, &pm);
        let rep = p.report.as_deref().map(inputs::read_report).transpose()?;
        let regs = match regions.as_ref() {
            None => Vec::new(),
            Some(r) => {
                let ls = r.get(key).map_or(&[][..], Vec::as_slice);
                metrics
                    .truth_lesions
                    .iter()
                    .map(|l| inputs::region_of(l.centroid_mm, l.volume_ml, ls))
                    .collect()
            }
        };
        cases.push(CaseResult {
            id: key.clone(),
            truth_file: t.mask.display().to_string(),
            pred_file: p.mask.display().to_string(),
            score: rep.as_ref().map(|r| r.score),
            called_positive: metrics.pred_lesions > 0,
            metrics,
            regions: regs,
        });
        reports.push(rep);
        progress(n + 1, total);
    }
    let use_headline = reports
        .iter()
        .all(|r| r.as_ref().and_then(headline).is_some());
    let binary_call = if use_headline {
        for (c, r) in cases.iter_mut().zip(&reports) {
            c.called_positive = r.as_ref().and_then(headline).unwrap_or(false);
        }
        "report.json headline call (the model's chosen operating point)"
    } else {
        "any predicted lesion (no calibrated report.json for every prediction)"
    };
    let mut ops: Vec<OperatingPoint> = Vec::new();
    for r in reports.iter().flatten() {
        if ops.is_empty() {
            ops.clone_from(&r.operating_points);
        } else if !r.operating_points.is_empty() && r.operating_points != ops {
            tracing::warn!("reports carry different operating points; using the first report's");
            break;
        }
    }
    let summary = summarize(&cases, &ops, binary_call, o.bootstrap);
    Ok(Evaluation {
        options: o.clone(),
        manifest,
        truth_only: pairing.truth_only,
        pred_only: pairing.pred_only,
        cases,
        operating_points: ops,
        summary,
    })
}
