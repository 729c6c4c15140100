//! `strokeseg validate`: a model on labelled studies, scored against the truth.
//!
//! This file only runs the model; every metric comes from `strokeseg-eval` (the same code as
//! `strokeseg evaluate`, ISLES'22 definitions, see docs/evaluation.md). The binary patient
//! call is the model's headline operating point (`--operating-point`), or "any predicted
//! lesion" for an uncalibrated model; the patient score is the segmenter's.

use super::segment::load_segmenter;
use crate::cli::ValidateArgs;
use crate::Status;
use indicatif::ProgressBar;
use std::io::Write as _;
use strokeseg_eval::{inputs, output, score_case, summarize, Bootstrap, CaseResult};
use strokeseg_io::Study;
use strokeseg_measure::{call, LesionConfig};
use strokeseg_train::data::discover;

/// Runs `validate`.
pub fn run(a: &ValidateArgs) -> anyhow::Result<Status> {
    let seg = load_segmenter(&a.model)?;
    let lcfg = LesionConfig {
        threshold: a.model.threshold,
        min_volume_ml: a.model.min_volume_ml,
    };
    let headline = seg.operating_point(&a.model.operating_point).cloned();
    let mut refs = Vec::new();
    // Per-lesion regions from each dataset's synth manifest, when it has one.
    let mut regions = std::collections::BTreeMap::new();
    for d in &a.data {
        let m = d.join("manifest.json");
        if d.is_dir() && m.is_file() {
            regions.extend(inputs::read_manifest(&m)?);
        }
        let r = discover(d)?;
        let n = a.max.unwrap_or(r.len()).min(r.len());
        let step = r.len() as f64 / n.max(1) as f64;
        refs.extend((0..n).map(|i| r[(i as f64 * step) as usize].clone()));
    }
    let bar = ProgressBar::new(refs.len() as u64);
    let mut cases = Vec::with_capacity(refs.len());
    for r in &refs {
        let study = Study::load(&r.spec)?;
        let truth = inputs::read_mask(&r.mask)?;
        let out = seg.run(&study, &lcfg, 0.0);
        let input = r.spec.paths.first().or(r.spec.dwi.as_ref());
        inputs::same_grid(&truth, &r.mask, &out.mask, input.unwrap_or(&r.mask))?;
        let metrics = score_case(&truth, &out.mask);
        let called_positive = match &headline {
            Some(op) => call(out.score, op),
            None => metrics.pred_lesions > 0,
        };
        let regs = match regions.get(&inputs::case_key(&r.id)) {
            Some(ls) => metrics
                .truth_lesions
                .iter()
                .map(|l| inputs::region_of(l.centroid_mm, l.volume_ml, ls))
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
            regions: regs,
        });
        bar.inc(1);
    }
    bar.finish_and_clear();
    let binary_call = match &headline {
        Some(op) => format!("score >= {} (operating point {})", op.threshold, op.name),
        None => "any predicted lesion (uncalibrated model)".to_string(),
    };
    let s = summarize(
        &cases,
        &seg.operating_points,
        &binary_call,
        Bootstrap::default(),
    );
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
