//! `strokeseg calibrate`: operating points from labelled validation studies
//! (`strokeseg_pipeline::score::calibrate_model`), written into the model folder.

use crate::cli::CalibrateArgs;
use crate::Status;
use strokeseg_io::dataset::discover_labelled;
use strokeseg_pipeline::score::calibrate_model;
use strokeseg_pipeline::segmenter::save_operating_points;
use strokeseg_pipeline::Segmenter;

/// Runs `calibrate`: segments every study, splits scores by truth, picks thresholds for 95%
/// and 99% sensitivity, and writes them into the model folder with every study's score
/// ([`SCORES_CSV`]). A positive counts as found only by candidates on its truth lesions
/// (`located_score`), not by an artefact elsewhere in the study.
pub fn run(a: &CalibrateArgs) -> anyhow::Result<Status> {
    let seg = Segmenter::load(&a.model)?;
    let mut refs = Vec::new();
    for d in &a.data {
        refs.extend(discover_labelled(d)?);
    }
    let (ops, scores) = calibrate_model(&seg, &refs)?;
    let pos = scores.iter().filter(|c| c.positive).count();
    let neg = scores.len() - pos;
    let path = save_operating_points(&a.model, &ops)?;
    let csv_path = a.model.join(SCORES_CSV);
    write_csv(&csv_path, &scores)
        .map_err(|e| anyhow::anyhow!("{}: cannot write the scores: {e}", csv_path.display()))?;
    let cand_path = a.model.join(CANDIDATES_CSV);
    write_csv(&cand_path, candidate_rows(&scores)).map_err(|e| {
        anyhow::anyhow!("{}: cannot write the candidates: {e}", cand_path.display())
    })?;
    for o in &ops {
        println!(
            "{}: threshold {:.3} → sensitivity {:.3}, specificity {:.3} on {pos} positive and {neg} negative studies",
            o.name, o.threshold, o.sensitivity, o.specificity
        );
        if let Some(n) = &o.note {
            println!("  note: {n}");
        }
    }
    print_ids(
        "positives with no candidate on their truth lesions (missed at every threshold)",
        scores
            .iter()
            .filter(|c| c.positive && c.located_score <= 0.0),
    );
    print_ids(
        "positives whose score is set by a candidate away from their truth lesions (calibrated on the lesion's own candidates)",
        scores.iter().filter(|c| c.deciding_on_truth == Some(false)),
    );
    println!(
        "wrote {}, {} and {}",
        path.display(),
        csv_path.display(),
        cand_path.display()
    );
    Ok(Status::Ok)
}

/// Prints `what: id, id, …` (the first 10 ids) when `studies` holds any.
fn print_ids<'a>(
    what: &str,
    studies: impl Iterator<Item = &'a strokeseg_pipeline::score::CalibrationScore>,
) {
    let ids: Vec<&str> = studies.map(|c| c.id.as_str()).collect();
    if !ids.is_empty() {
        let more = if ids.len() > 10 { ", …" } else { "" };
        println!("  {what}: {}{more}", ids[..ids.len().min(10)].join(", "));
    }
}

/// Every calibration study's score, beside the operating points (id, site, positive,
/// truth_volume_ml, score, deciding_on_truth, located_score).
pub const SCORES_CSV: &str = "calibration_scores.csv";

/// Writes `rows` to `path` as CSV, with a header from the first row's fields.
fn write_csv<T: serde::Serialize>(
    path: &std::path::Path,
    rows: impl IntoIterator<Item = T>,
) -> Result<(), csv::Error> {
    let mut w = csv::Writer::from_path(path)?;
    for r in rows {
        w.serialize(r)?;
    }
    w.flush()?;
    Ok(())
}

/// Every candidate lesion of every calibration study, with its measurements and whether it
/// lies on a truth lesion: what the patient scores were made of.
pub const CANDIDATES_CSV: &str = "calibration_candidates.csv";

/// One row of [`CANDIDATES_CSV`].
#[derive(serde::Serialize)]
struct CandidateRow<'a> {
    id: &'a str,
    site: &'a str,
    positive: bool,
    on_truth: bool,
    score: f32,
    max_prob: f32,
    mean_prob: f32,
    volume_ml: f64,
    n_voxels: usize,
    region: &'static str,
    dwi_ratio: Option<f32>,
    adc_ratio: Option<f32>,
    adc_ratio_low: Option<f32>,
    dwi_mirror_ratio: Option<f32>,
    x_mm: f64,
    y_mm: f64,
    z_mm: f64,
}

/// The rows of [`CANDIDATES_CSV`]: every candidate of every study in `scores`.
fn candidate_rows(
    scores: &[strokeseg_pipeline::score::CalibrationScore],
) -> impl Iterator<Item = CandidateRow<'_>> {
    scores.iter().flat_map(|c| {
        c.candidates.iter().map(move |(l, on_truth)| {
            let sig = l.signal.as_ref();
            CandidateRow {
                id: &c.id,
                site: &c.site,
                positive: c.positive,
                on_truth: *on_truth,
                score: l.score,
                max_prob: l.max_prob,
                mean_prob: l.mean_prob,
                volume_ml: l.volume_ml,
                n_voxels: l.n_voxels,
                region: l.region.name(),
                dwi_ratio: sig.map(|s| s.dwi_ratio),
                adc_ratio: sig.and_then(|s| s.adc_ratio),
                adc_ratio_low: sig.and_then(|s| s.adc_ratio_low),
                dwi_mirror_ratio: sig.and_then(|s| s.dwi_mirror_ratio),
                x_mm: l.centroid_mm[0],
                y_mm: l.centroid_mm[1],
                z_mm: l.centroid_mm[2],
            }
        })
    })
}
