//! The evaluation's files: metrics.json (everything), cases.csv (one row per case),
//! summary.md (Markdown tables) and the PNG plots (roc.png when scores exist,
//! bland_altman.png, sensitivity_by_size.png).

use crate::patient::Estimate;
use crate::summary::{BinRow, CaseResult, MeanSd, Summary};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::Path;
use strokeseg_report::plot;

#[derive(Serialize)]
struct Row<'a> {
    id: &'a str,
    truth_positive: bool,
    called_positive: bool,
    score: Option<f32>,
    dice: f64,
    truth_volume_ml: f64,
    pred_volume_ml: f64,
    abs_volume_diff_ml: f64,
    truth_lesions: usize,
    pred_lesions: usize,
    abs_lesion_count_diff: usize,
    tp_lesions: usize,
    fn_lesions: usize,
    fp_lesions: usize,
    lesion_f1: f64,
    truth_file: &'a str,
    pred_file: &'a str,
}

fn err(path: &Path, e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(format!("{}: cannot write: {e}", path.display()))
}

fn f(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |x| format!("{x:.3}"))
}

fn est(e: &Estimate) -> (String, String) {
    let ci = match (e.ci95_low, e.ci95_high) {
        (Some(a), Some(b)) => format!("{a:.3}–{b:.3}"),
        _ => "n/a".into(),
    };
    (f(e.value), ci)
}

fn msd(m: &MeanSd) -> String {
    match (m.mean, m.sd) {
        (Some(a), Some(s)) => format!("{a:.3} ± {s:.3}"),
        (Some(a), None) => format!("{a:.3}"),
        _ => "n/a".into(),
    }
}

fn bins(md: &mut String, head: &str, rows: &[BinRow]) {
    let _ = writeln!(
        md,
        "\n| {head} | lesions | detected | sensitivity |\n|---|---:|---:|---:|"
    );
    for r in rows {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            r.size,
            r.lesions,
            r.detected,
            f(r.sensitivity)
        );
    }
}

/// The Markdown summary.
#[must_use]
pub fn markdown(
    title: &str,
    context: &serde_json::Map<String, serde_json::Value>,
    s: &Summary,
) -> String {
    let mut md = format!("# {title}\n\n");
    for (k, v) in context {
        let v = match v {
            serde_json::Value::String(x) => x.clone(),
            serde_json::Value::Array(a) if a.is_empty() => "none".into(),
            other => other.to_string(),
        };
        let _ = writeln!(md, "- {k}: {v}");
    }
    let _ = writeln!(
        md,
        "- studies: {} ({} with a lesion, {} without)\n\n## ISLES'22 metrics (mean ± SD over all studies)\n\n| metric | value |\n|---|---:|",
        s.studies, s.positives, s.negatives
    );
    let i = &s.isles22;
    for (name, v) in [
        ("Dice", msd(&i.dice)),
        (
            "absolute volume difference (mL)",
            msd(&i.abs_volume_diff_ml),
        ),
        (
            "absolute lesion-count difference",
            msd(&i.abs_lesion_count_diff),
        ),
        ("lesion-wise F1", msd(&i.lesion_f1)),
        (
            "Dice, studies with a lesion only",
            f(s.mean_dice_positive_studies),
        ),
    ] {
        let _ = writeln!(md, "| {name} | {v} |");
    }
    let _ = writeln!(
        md,
        "\n## Lesion level\n\n{} truth lesions, {} detected (sensitivity {}); {} false-positive lesions ({:.2} per study).",
        s.truth_lesions,
        s.detected_lesions,
        f(s.lesion_sensitivity),
        s.false_positive_lesions,
        s.false_positive_lesions_per_study
    );
    bins(
        &mut md,
        "truth lesion volume",
        &s.lesion_sensitivity_by_size,
    );
    if let Some(r) = &s.lesion_sensitivity_by_region {
        bins(&mut md, "region", r);
    }
    let p = &s.patient;
    let _ = writeln!(
        md,
        "\n## Patient level\n\nBinary call: {}. 95% CIs: {} bootstrap, {} resamples, seed {}.\n\n| statistic | value | 95% CI |\n|---|---:|---:|",
        p.binary_call, p.bootstrap_method, p.bootstrap.resamples, p.bootstrap.seed
    );
    for (name, e) in [
        ("sensitivity", &p.sensitivity),
        ("specificity", &p.specificity),
        ("PPV", &p.ppv),
        ("NPV", &p.npv),
    ] {
        let (v, ci) = est(e);
        let _ = writeln!(md, "| {name} | {v} | {ci} |");
    }
    match &p.auc {
        Some(e) => {
            let (v, ci) = est(e);
            let _ = writeln!(md, "| ROC AUC | {v} | {ci} |");
        }
        None => {
            let _ = writeln!(
                md,
                "| ROC AUC | unavailable | {} |",
                p.auc_note.as_deref().unwrap_or("")
            );
        }
    }
    if !s.patient_level.is_empty() {
        let _ = writeln!(md, "\n| operating point | threshold | sensitivity (95% CI) | specificity (95% CI) |\n|---|---:|---:|---:|");
        for o in &s.patient_level {
            let ci = |c: [Option<f64>; 2]| format!("{}–{}", f(c[0]), f(c[1]));
            let _ = writeln!(
                md,
                "| {} | {:.4} | {} ({}) | {} ({}) |",
                o.operating_point,
                o.threshold,
                f(o.sensitivity),
                ci(o.sensitivity_ci95),
                f(o.specificity),
                ci(o.specificity_ci95)
            );
        }
    }
    md
}

/// Writes metrics.json (the `context` keys, the [`Summary`] fields and `files`, in one object),
/// cases.csv, summary.md and the plots into `out` (created); returns the file names written.
///
/// # Errors
/// An I/O error naming the file that could not be written.
pub fn write_all(
    out: &Path,
    title: &str,
    context: serde_json::Map<String, serde_json::Value>,
    cases: &[CaseResult],
    s: &Summary,
) -> std::io::Result<Vec<String>> {
    std::fs::create_dir_all(out).map_err(|e| err(out, e))?;
    let mut files = vec![
        "metrics.json".to_string(),
        "cases.csv".into(),
        "summary.md".into(),
    ];

    let p = out.join("cases.csv");
    let mut w = csv::Writer::from_path(&p).map_err(|e| err(&p, e))?;
    for c in cases {
        let m = &c.metrics;
        w.serialize(Row {
            id: &c.id,
            truth_positive: c.truth_positive(),
            called_positive: c.called_positive,
            score: c.score,
            dice: m.dice,
            truth_volume_ml: m.truth_volume_ml,
            pred_volume_ml: m.pred_volume_ml,
            abs_volume_diff_ml: m.abs_volume_diff_ml,
            truth_lesions: m.truth_lesions.len(),
            pred_lesions: m.pred_lesions,
            abs_lesion_count_diff: m.abs_lesion_count_diff,
            tp_lesions: m.tp_lesions,
            fn_lesions: m.fn_lesions,
            fp_lesions: m.fp_lesions,
            lesion_f1: m.lesion_f1,
            truth_file: &c.truth_file,
            pred_file: &c.pred_file,
        })
        .map_err(|e| err(&p, e))?;
    }
    w.flush().map_err(|e| err(&p, e))?;

    let save = |img: image::RgbImage, name: &str| {
        let p = out.join(name);
        img.save(&p).map_err(|e| err(&p, e))
    };
    if !s.patient.roc.is_empty() {
        save(
            plot::roc(&s.patient.roc, s.patient.auc.and_then(|a| a.value)),
            "roc.png",
        )?;
        files.push("roc.png".into());
    }
    let tv: Vec<f64> = cases.iter().map(|c| c.metrics.truth_volume_ml).collect();
    let pv: Vec<f64> = cases.iter().map(|c| c.metrics.pred_volume_ml).collect();
    save(plot::bland_altman(&tv, &pv), "bland_altman.png")?;
    let b: Vec<(String, usize, Option<f64>)> = s
        .lesion_sensitivity_by_size
        .iter()
        .map(|r| (r.size.clone(), r.lesions, r.sensitivity))
        .collect();
    save(
        plot::sensitivity_bars("Lesion-wise sensitivity by size", &b),
        "sensitivity_by_size.png",
    )?;
    files.push("bland_altman.png".into());
    files.push("sensitivity_by_size.png".into());

    let mut md = markdown(title, &context, s);
    let _ = writeln!(md, "\nFiles: {}.", files.join(", "));
    let p = out.join("summary.md");
    std::fs::write(&p, md).map_err(|e| err(&p, e))?;

    let mut m = context;
    if let Ok(serde_json::Value::Object(sm)) = serde_json::to_value(s) {
        m.extend(sm);
    }
    m.insert("files".into(), serde_json::json!(files));
    let p = out.join("metrics.json");
    let text = serde_json::to_string_pretty(&m).map_err(|e| err(&p, e))?;
    std::fs::write(&p, text).map_err(|e| err(&p, e))?;
    Ok(files)
}
