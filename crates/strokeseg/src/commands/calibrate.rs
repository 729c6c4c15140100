//! `strokeseg calibrate`: operating points from labelled validation studies.

use crate::cli::CalibrateArgs;
use crate::pipeline::{Segmenter, OPERATING_POINTS_FILE};
use crate::Status;
use indicatif::ProgressBar;
use strokeseg_io::nifti_io::read_volume;
use strokeseg_io::Study;
use strokeseg_measure::{calibrate, LesionConfig};
use strokeseg_train::data::discover;

/// Runs `calibrate`: segments every study, splits scores by truth, picks thresholds for 95%
/// and 99% sensitivity, and writes them into the model folder.
pub fn run(a: &CalibrateArgs) -> anyhow::Result<Status> {
    let seg = Segmenter::load(&a.model)?;
    let mut refs = Vec::new();
    for d in &a.data {
        refs.extend(discover(d)?);
    }
    let bar = ProgressBar::new(refs.len() as u64);
    let (mut pos, mut neg) = (Vec::new(), Vec::new());
    for r in &refs {
        let study = Study::load(&r.spec)?;
        let truth = read_volume(&r.mask)?.map(|&x| x > 0.5);
        let out = seg
            .run(&study, &LesionConfig::default(), 0.0)
            .map_err(|e| {
                let at = r
                    .spec
                    .paths
                    .first()
                    .or(r.spec.dwi.as_ref())
                    .unwrap_or(&r.mask);
                strokeseg_io::InputError::bad_image(at, e.0)
            })?;
        if truth.count() > 0 {
            pos.push(out.score)
        } else {
            neg.push(out.score)
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let ops = vec![
        calibrate(&pos, &neg, 0.95, "sens95"),
        calibrate(&pos, &neg, 0.99, "sens99"),
    ];
    let path = a.model.join(OPERATING_POINTS_FILE);
    std::fs::write(&path, serde_json::to_string_pretty(&ops)?)?;
    for o in &ops {
        println!(
            "{}: threshold {:.3} → sensitivity {:.3}, specificity {:.3} on {} positive and {} negative studies",
            o.name, o.threshold, o.sensitivity, o.specificity, pos.len(), neg.len()
        );
        if let Some(n) = &o.note {
            println!("  note: {n}");
        }
    }
    println!("wrote {}", path.display());
    Ok(Status::Ok)
}
