//! `strokeseg validate`: a model on labelled studies, scored against the truth.
//!
//! This file only runs the model; every metric comes from `strokeseg-eval` (the same code as
//! `strokeseg evaluate`, ISLES'22 definitions, see docs/evaluation.md). The binary patient
//! call is the model's headline operating point (`--operating-point`), or "any predicted
//! lesion" for an uncalibrated model; the patient score is the segmenter's.

use crate::cli::ValidateArgs;
use crate::Status;
use std::io::Write as _;
use strokeseg_eval::output;
use strokeseg_io::dataset::discover_labelled;
use strokeseg_pipeline::score::{manifests, score_model};

/// Runs `validate`.
pub fn run(a: &ValidateArgs) -> anyhow::Result<Status> {
    let seg = a.model.segmenter()?;
    let lcfg = a.model.lesion_config();
    let headline = seg.operating_point(&a.model.operating_point).cloned();
    // Per-lesion regions from each dataset's synth manifest, when it has one.
    let regions = manifests(&a.data)?;
    let mut refs = Vec::new();
    for d in &a.data {
        let r = discover_labelled(d)?;
        let n = a.max.unwrap_or(r.len()).min(r.len());
        let step = r.len() as f64 / n.max(1) as f64;
        refs.extend((0..n).map(|i| r[(i as f64 * step) as usize].clone()));
    }
    let (cases, s) = score_model(
        &seg,
        &refs,
        &regions,
        &lcfg,
        headline.as_ref(),
        "validating",
    )?;
    let mut ctx = serde_json::Map::new();
    ctx.insert("model".into(), seg.dir.display().to_string().into());
    ctx.insert(
        "data".into(),
        serde_json::json!(a
            .data
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()),
    );
    let files = output::write_all(&a.out, "strokeseg validate", ctx, &cases, &s)?;
    let f = |v: Option<f64>| v.map_or("n/a".to_string(), |x| format!("{x:.3}"));
    // Write errors (e.g. a closed pipe) are ignored: the files are the result.
    let mut so = std::io::stdout().lock();
    let _ = writeln!(
        so,
        "{} studies: Dice (with a lesion) {} · lesion F1 {} · lesion sensitivity {} · {:.2} FP lesions/study · patient sensitivity {} specificity {} AUC {}",
        s.studies,
        f(s.mean_dice_positive_studies),
        f(s.isles22.lesion_f1.mean),
        f(s.lesion_sensitivity),
        s.false_positive_lesions_per_study,
        f(s.patient.sensitivity.value),
        f(s.patient.specificity.value),
        f(s.patient.auc.and_then(|e| e.value)),
    );
    let _ = writeln!(so, "wrote {} in {}", files.join(", "), a.out.display());
    Ok(Status::Ok)
}
