//! `strokeseg validate`: a model on labelled studies, scored against the truth.
//!
//! Definitions (ISLES'22 style): Dice of the lesion mask (1 when both are empty), mean over
//! studies with a lesion; a true lesion (26-connected component of the truth) is detected when
//! any of its voxels is in the prediction; a predicted lesion that touches no truth voxel is a
//! false positive; patient level: truth positive = any truth voxel.

use super::segment::load_segmenter;
use crate::cli::ValidateArgs;
use crate::Status;
use indicatif::ProgressBar;
use serde::Serialize;
use strokeseg_core::Mask;
use strokeseg_io::nifti_io::read_volume;
use strokeseg_io::Study;
use strokeseg_measure::{call, find_lesions, LesionConfig};
use strokeseg_train::data::discover;

/// Size bins of lesion-wise sensitivity (upper bounds, mL).
const BINS: [(f64, &str); 4] = [
    (0.087, "<=0.087 mL"),
    (1.0, "0.087-1 mL"),
    (10.0, "1-10 mL"),
    (f64::INFINITY, ">10 mL"),
];

#[derive(Serialize)]
struct CaseRow {
    id: String,
    site: String,
    truth_positive: bool,
    score: f32,
    dice: f64,
    truth_volume_ml: f64,
    pred_volume_ml: f64,
    truth_lesions: usize,
    detected_lesions: usize,
    false_positive_lesions: usize,
}

fn dice(a: &Mask, b: &Mask) -> f64 {
    strokeseg_core::dice(a.data().iter().copied(), b.data().iter().copied())
}

/// Runs `validate`.
pub fn run(a: &ValidateArgs) -> anyhow::Result<Status> {
    let seg = load_segmenter(&a.model)?;
    let lcfg = LesionConfig {
        threshold: a.model.threshold,
        min_volume_ml: a.model.min_volume_ml,
    };
    let mut refs = Vec::new();
    for d in &a.data {
        let r = discover(d)?;
        let n = a.max.unwrap_or(r.len()).min(r.len());
        let step = r.len() as f64 / n.max(1) as f64;
        refs.extend((0..n).map(|i| r[(i as f64 * step) as usize].clone()));
    }
    let bar = ProgressBar::new(refs.len() as u64);
    let mut rows = Vec::new();
    let mut bins = [(0usize, 0usize); 4];
    for r in &refs {
        let study = Study::load(&r.spec)?;
        let truth = read_volume(&r.mask)?.map(|&x| x > 0.5);
        let out = seg.run(&study, &lcfg, 0.0);
        let vml = truth.grid().voxel_volume_ml();
        let (_, truth_lesions) = find_lesions(
            &truth.map(|&b| if b { 1.0 } else { 0.0 }),
            None,
            &|p| p,
            &LesionConfig::default(),
        );
        let mut detected = 0;
        for tl in &truth_lesions {
            let [lo, hi] = tl.bbox_voxel;
            let mut hit = false;
            'search: for i in lo[0]..=hi[0] {
                for j in lo[1]..=hi[1] {
                    for k in lo[2]..=hi[2] {
                        if truth.data()[[i, j, k]] && out.mask.data()[[i, j, k]] {
                            hit = true;
                            break 'search;
                        }
                    }
                }
            }
            detected += usize::from(hit);
            let b = BINS
                .iter()
                .position(|(ub, _)| tl.volume_ml <= *ub)
                .unwrap_or(3);
            bins[b].0 += 1;
            bins[b].1 += usize::from(hit);
        }
        let fp = out
            .lesions
            .iter()
            .filter(|l| {
                let [lo, hi] = l.bbox_voxel;
                !(lo[0]..=hi[0]).any(|i| {
                    (lo[1]..=hi[1]).any(|j| {
                        (lo[2]..=hi[2])
                            .any(|k| truth.data()[[i, j, k]] && out.mask.data()[[i, j, k]])
                    })
                })
            })
            .count();
        rows.push(CaseRow {
            id: r.id.clone(),
            site: r.site.clone(),
            truth_positive: truth.count() > 0,
            score: out.score,
            dice: dice(&out.mask, &truth),
            truth_volume_ml: truth.count() as f64 * vml,
            pred_volume_ml: out.mask.count() as f64 * vml,
            truth_lesions: truth_lesions.len(),
            detected_lesions: detected,
            false_positive_lesions: fp,
        });
        bar.inc(1);
    }
    bar.finish_and_clear();
    std::fs::create_dir_all(&a.out)?;
    let mut w = csv::Writer::from_path(a.out.join("cases.csv"))?;
    for r in &rows {
        w.serialize(r)?;
    }
    w.flush()?;
    let pos: Vec<&CaseRow> = rows.iter().filter(|r| r.truth_positive).collect();
    let neg: Vec<&CaseRow> = rows.iter().filter(|r| !r.truth_positive).collect();
    let mean_dice = pos.iter().map(|r| r.dice).sum::<f64>() / pos.len().max(1) as f64;
    let tl: usize = rows.iter().map(|r| r.truth_lesions).sum();
    let dl: usize = rows.iter().map(|r| r.detected_lesions).sum();
    let fp: usize = rows.iter().map(|r| r.false_positive_lesions).sum();
    let ops: Vec<serde_json::Value> = seg
        .operating_points
        .iter()
        .map(|op| {
            let tp = pos.iter().filter(|r| call(r.score, op)).count();
            let tn = neg.iter().filter(|r| !call(r.score, op)).count();
            serde_json::json!({
                "operating_point": op.name, "threshold": op.threshold,
                "sensitivity": tp as f64 / pos.len().max(1) as f64, "positives": pos.len(),
                "specificity": tn as f64 / neg.len().max(1) as f64, "negatives": neg.len(),
            })
        })
        .collect();
    let by_size: Vec<serde_json::Value> = BINS
        .iter()
        .zip(bins)
        .map(|((_, name), (n, d))| serde_json::json!({"size": name, "lesions": n, "detected": d, "sensitivity": if n > 0 { Some(d as f64 / n as f64) } else { None }}))
        .collect();
    let m = serde_json::json!({
        "model": seg.dir.display().to_string(),
        "data": a.data.iter().map(|d| d.display().to_string()).collect::<Vec<_>>(),
        "studies": rows.len(), "positives": pos.len(), "negatives": neg.len(),
        "mean_dice_positive_studies": mean_dice,
        "lesion_sensitivity": if tl > 0 { Some(dl as f64 / tl as f64) } else { None },
        "truth_lesions": tl,
        "false_positive_lesions_per_study": fp as f64 / rows.len().max(1) as f64,
        "lesion_sensitivity_by_size": by_size,
        "patient_level": ops,
    });
    std::fs::write(
        a.out.join("metrics.json"),
        serde_json::to_string_pretty(&m)?,
    )?;
    println!("{}", serde_json::to_string_pretty(&m)?);
    Ok(Status::Ok)
}
