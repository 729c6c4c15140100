//! `strokeseg evaluate`: predicted masks scored against truth masks, no model involved
//! (all scoring lives in `strokeseg-eval`; this file only wires flags, progress and output).

use crate::cli::EvaluateArgs;
use crate::Status;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::Write as _;
use strokeseg_eval::{evaluate, output, Bootstrap, Options};

/// Runs `evaluate`.
pub fn run(a: &EvaluateArgs) -> anyhow::Result<Status> {
    let o = Options {
        pred: a.pred.clone(),
        truth: a.truth.clone(),
        manifest: a.manifest.clone(),
        bootstrap: Bootstrap {
            resamples: a.bootstrap,
            seed: a.seed,
        },
    };
    let bar = ProgressBar::hidden();
    let ev = evaluate(&o, &|done, total| {
        if bar.is_hidden() && total > 1 {
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            bar.set_length(total as u64);
            bar.set_style(
                ProgressStyle::with_template("scoring {bar:30} {pos}/{len} {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
        }
        bar.set_position(done as u64);
    })?;
    bar.finish_and_clear();
    let mut ctx = serde_json::Map::new();
    ctx.insert("pred".into(), a.pred.display().to_string().into());
    ctx.insert("truth".into(), a.truth.display().to_string().into());
    ctx.insert(
        "manifest".into(),
        ev.manifest.as_ref().map(|m| m.display().to_string()).into(),
    );
    ctx.insert("unmatched_truth".into(), serde_json::json!(ev.truth_only));
    ctx.insert("unmatched_pred".into(), serde_json::json!(ev.pred_only));
    let files = output::write_all(&a.out, "strokeseg evaluate", ctx, &ev.cases, &ev.summary)?;
    let s = &ev.summary;
    let f = |v: Option<f64>| v.map_or("n/a".to_string(), |x| format!("{x:.3}"));
    // Write errors (e.g. a closed pipe) are ignored: the files are the result.
    let mut so = std::io::stdout().lock();
    let _ = writeln!(
        so,
        "{} studies matched ({} truth-only, {} prediction-only); Dice {} · lesion F1 {} · lesion sensitivity {} · {:.2} FP lesions/study · patient sensitivity {} specificity {} AUC {}",
        s.studies,
        ev.truth_only.len(),
        ev.pred_only.len(),
        f(s.isles22.dice.mean),
        f(s.isles22.lesion_f1.mean),
        f(s.lesion_sensitivity),
        s.false_positive_lesions_per_study,
        f(s.patient.sensitivity.value),
        f(s.patient.specificity.value),
        f(s.patient.auc.and_then(|e| e.value)),
    );
    if !ev.truth_only.is_empty() {
        let _ = writeln!(
            so,
            "truth studies without a prediction: {}",
            ev.truth_only.join(", ")
        );
    }
    if !ev.pred_only.is_empty() {
        let _ = writeln!(
            so,
            "predictions without a truth study: {}",
            ev.pred_only.join(", ")
        );
    }
    let _ = writeln!(so, "wrote {} in {}", files.join(", "), a.out.display());
    Ok(Status::Ok)
}
