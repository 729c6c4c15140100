//! `strokeseg learning-curve`: one model per nested training subset, each scored on one fixed
//! test set; the curve as CSV and PNG, and the smallest subset reaching 95% of the largest
//! subset's Dice.
//!
//! Subsets are prefixes of one seeded, site-balanced order of the training pool
//! ([`balanced_order`]), so 25 ⊂ 50 ⊂ 100 …; every size uses the same plan (target spacing
//! planned from the largest subset), the same schedule (epochs × steps, as nnU-Net keeps its
//! schedule fixed whatever the dataset size), the same validation studies and the same seed.
//! Scoring is `strokeseg-eval`'s (via [`score_model`]). Resumable: a size whose
//! `test_metrics.json` exists is skipped, an interrupted one continues from its last
//! checkpoint.

use super::training::{load_all, plan_and_config, progress, stopped};
use crate::cli::LearningCurveArgs;
use crate::Status;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use strokeseg_eval::Summary;
use strokeseg_measure::LesionConfig;
use strokeseg_model::run_device;
use strokeseg_pipeline::score::{manifests, score_model};
use strokeseg_pipeline::Segmenter;
use strokeseg_train::data::CaseRef;
use strokeseg_train::data::{discover_all, pick_even};
use strokeseg_train::subsets::{balanced_order, smallest_reaching};
use strokeseg_train::{train, TrainData};

/// The share of the largest subset's Dice a subset must reach to be named.
pub const REACH_FRACTION: f64 = 0.95;

/// One point of the curve.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CurveRow {
    /// Training studies.
    pub size: usize,
    /// Of which with a lesion.
    pub with_lesion: usize,
    /// Best validation Dice during training.
    pub best_val_dice: f64,
    /// Test: mean Dice over studies with a lesion.
    pub test_dice: Option<f64>,
    /// Test: mean lesion-wise F1 (ISLES'22).
    pub lesion_f1: Option<f64>,
    /// Test: lesion-wise sensitivity.
    pub lesion_sensitivity: Option<f64>,
    /// Test: false-positive lesions per study.
    pub fp_lesions_per_study: f64,
    /// Test: patient-level ROC AUC of the patient score.
    pub patient_auc: Option<f64>,
    /// Test: patient-level sensitivity of "any predicted lesion".
    pub patient_sensitivity: Option<f64>,
    /// Test: patient-level specificity of "any predicted lesion".
    pub patient_specificity: Option<f64>,
}

fn row(size: usize, with_lesion: usize, best_val_dice: f64, s: &Summary) -> CurveRow {
    CurveRow {
        size,
        with_lesion,
        best_val_dice,
        test_dice: s.mean_dice_positive_studies,
        lesion_f1: s.isles22.lesion_f1.mean,
        lesion_sensitivity: s.lesion_sensitivity,
        fp_lesions_per_study: s.false_positive_lesions_per_study,
        patient_auc: s.patient.auc.and_then(|e| e.value),
        patient_sensitivity: s.patient.sensitivity.value,
        patient_specificity: s.patient.specificity.value,
    }
}

const METRICS_FILE: &str = "test_metrics.json";

fn write_curve(out: &Path, rows: &[CurveRow]) -> anyhow::Result<Option<usize>> {
    let csv_path = out.join("curve.csv");
    let mut w = csv::Writer::from_path(&csv_path)
        .map_err(|e| anyhow::anyhow!("{}: {e}", csv_path.display()))?;
    for r in rows {
        w.serialize(r)?;
    }
    w.flush()?;
    let pts = |f: &dyn Fn(&CurveRow) -> Option<f64>| -> Vec<(f64, f64)> {
        rows.iter()
            .filter_map(|r| f(r).map(|v| ((r.size as f64).log10(), v)))
            .collect()
    };
    use strokeseg_report::plot::{line_chart, Series};
    let img = line_chart(
        "learning curve (test set)",
        "log10(training studies)",
        &[
            Series {
                label: "Dice",
                points: pts(&|r| r.test_dice),
                color: image::Rgb([30, 90, 200]),
            },
            Series {
                label: "lesion F1",
                points: pts(&|r| r.lesion_f1),
                color: image::Rgb([200, 60, 40]),
            },
            Series {
                label: "lesion sens.",
                points: pts(&|r| r.lesion_sensitivity),
                color: image::Rgb([40, 150, 60]),
            },
            Series {
                label: "patient AUC",
                points: pts(&|r| r.patient_auc),
                color: image::Rgb([140, 60, 160]),
            },
        ],
        (0.0, 1.0),
    );
    let png = out.join("curve.png");
    img.save(&png)
        .map_err(|e| anyhow::anyhow!("{}: {e}", png.display()))?;
    let dice: Vec<(usize, f64)> = rows
        .iter()
        .filter_map(|r| r.test_dice.map(|d| (r.size, d)))
        .collect();
    Ok(smallest_reaching(&dice, REACH_FRACTION))
}

fn bad(msg: String) -> anyhow::Result<Status> {
    eprintln!("error: {msg}");
    Ok(Status::BadInput)
}

/// Runs `learning-curve`.
pub fn run(a: &LearningCurveArgs) -> anyhow::Result<Status> {
    let mut sizes = a.sizes.clone();
    sizes.sort_unstable();
    sizes.dedup();
    if sizes.is_empty() || sizes[0] == 0 {
        return bad(format!("--sizes {:?}: give positive sizes", a.sizes));
    }
    let pool = discover_all(&a.data)?;
    let largest = *sizes.last().unwrap_or(&0);
    if largest > pool.len() {
        return bad(format!(
            "--sizes asks for {largest} studies, but {} hold only {} labelled studies",
            a.data
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            pool.len()
        ));
    }
    let val_refs = pick_even(&discover_all(&a.val)?, a.hp.max_val);
    let mut test_refs = Vec::new();
    for d in &a.test {
        let r = discover_all(std::slice::from_ref(d))?;
        test_refs.extend(match a.max_test {
            Some(m) => pick_even(&r, m),
            None => r,
        });
    }
    let regions = manifests(&a.test)?;
    let order = balanced_order(&pool, a.hp.seed);
    let chosen: Vec<CaseRef> = order[..largest].iter().map(|&i| pool[i].clone()).collect();
    let (plan, cfg) = match plan_and_config(&a.hp, &a.data, &chosen) {
        Ok(x) => x,
        Err(e) => return bad(e),
    };
    std::fs::create_dir_all(&a.out).map_err(|e| anyhow::anyhow!("{}: {e}", a.out.display()))?;
    let order_path = a.out.join("subset_order.txt");
    std::fs::write(
        &order_path,
        chosen
            .iter()
            .map(|r| format!("{}\t{}\n", r.site, r.id))
            .collect::<String>(),
    )
    .map_err(|e| anyhow::anyhow!("{}: {e}", order_path.display()))?;
    let done = |n: usize| size_dir(&a.out, n).join(METRICS_FILE).is_file();
    let mut bad_inputs = 0;
    let (cases, val_cases) = if sizes.iter().all(|&n| done(n)) {
        (Vec::new(), Vec::new())
    } else {
        let (c, b1) = load_all(
            &chosen,
            &plan,
            cfg.patch.peak_labels,
            "loading training studies",
        );
        let (v, b2) = load_all(&val_refs, &plan, false, "loading validation studies");
        bad_inputs += b1 + b2;
        if v.is_empty() {
            return bad("no usable validation studies".into());
        }
        (c, v)
    };
    let device = run_device();
    let mut rows = Vec::new();
    for &n in &sizes {
        let dir = size_dir(&a.out, n);
        let metrics_path = dir.join(METRICS_FILE);
        let r: CurveRow = if metrics_path.is_file() {
            eprintln!("size {n}: done earlier ({})", metrics_path.display());
            let v: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&metrics_path)?)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", metrics_path.display()))?;
            let expected: Vec<&str> = chosen[..n].iter().map(|r| r.id.as_str()).collect();
            let recorded: Vec<&str> = v["training_studies"]
                .as_array()
                .map(|x| x.iter().filter_map(|i| i.as_str()).collect())
                .unwrap_or_default();
            if recorded != expected {
                eprintln!(
                    "warning: {} was trained on other studies than this command's size-{n} subset (other --data or --seed?); its result is reused as is",
                    dir.display()
                );
            }
            serde_json::from_value(v["curve_row"].clone())
                .map_err(|e| anyhow::anyhow!("{}: {e}", metrics_path.display()))?
        } else {
            let subset = &cases[..n.min(cases.len())];
            eprintln!(
                "size {n}: training on {} studies ({} with lesions) in {}",
                subset.len(),
                subset.iter().filter(|c| c.has_lesion).count(),
                dir.display()
            );
            let (b, mut on) = progress(cfg.epochs * cfg.steps_per_epoch, &format!("size {n}"));
            let state = match train(
                &plan,
                &cfg,
                TrainData::new(subset, &val_cases),
                &dir,
                true,
                &device,
                &mut on,
            ) {
                Ok(s) => s,
                Err(e) => return stopped(e, &b),
            };
            b.finish_and_clear();
            let seg = Segmenter::load(&dir)?;
            let (case_results, summary) = score_model(
                &seg,
                &test_refs,
                &regions,
                &LesionConfig::default(),
                None,
                &format!("size {n}: test"),
            )?;
            let r = row(
                subset.len(),
                subset.iter().filter(|c| c.has_lesion).count(),
                state.best_dice,
                &summary,
            );
            let ids: Vec<&str> = subset.iter().map(|c| c.id.as_str()).collect();
            let j = serde_json::json!({
                "curve_row": r,
                "training_studies": ids,
                "test_data": a.test.iter().map(|d| d.display().to_string()).collect::<Vec<_>>(),
                "summary": summary,
                "cases": case_results,
            });
            std::fs::write(&metrics_path, serde_json::to_string_pretty(&j)?)
                .map_err(|e| anyhow::anyhow!("{}: {e}", metrics_path.display()))?;
            r
        };
        println!(
            "size {:>4}: test Dice {}, lesion F1 {}, patient AUC {}",
            r.size,
            fmt(r.test_dice),
            fmt(r.lesion_f1),
            fmt(r.patient_auc)
        );
        rows.push(r);
        write_curve(&a.out, &rows)?;
    }
    let reach = write_curve(&a.out, &rows)?;
    let summary = serde_json::json!({
        "sizes": sizes,
        "reach_fraction": REACH_FRACTION,
        "smallest_size_reaching_fraction_of_largest_dice": reach,
        "rows": rows,
        "plan_spacing_mm": plan.prep.spacing_mm,
        "seed": a.hp.seed,
    });
    std::fs::write(
        a.out.join("curve.json"),
        serde_json::to_string_pretty(&summary)?,
    )?;
    match reach {
        Some(n) => println!(
            "smallest subset reaching {:.0}% of the largest subset's Dice: {n} studies; curve in {}",
            REACH_FRACTION * 100.0,
            a.out.join("curve.csv").display()
        ),
        None => println!("no Dice on the test set (no test study with a lesion?)"),
    }
    Ok(if bad_inputs > 0 {
        Status::BadInput
    } else {
        Status::Ok
    })
}

fn fmt(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".into(), |v| format!("{v:.3}"))
}

/// `OUT/size-N`.
#[must_use]
pub fn size_dir(out: &Path, n: usize) -> PathBuf {
    out.join(format!("size-{n}"))
}
