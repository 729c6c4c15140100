//! `strokeseg calibrate`: operating points from labelled validation studies
//! (`strokeseg_pipeline::score::calibrate_model`), written into the model folder.

use crate::cli::CalibrateArgs;
use crate::Status;
use strokeseg_io::dataset::discover_labelled;
use strokeseg_pipeline::score::calibrate_model;
use strokeseg_pipeline::segmenter::save_operating_points;
use strokeseg_pipeline::Segmenter;

/// Runs `calibrate`: segments every study, splits scores by truth, picks thresholds for 95%
/// and 99% sensitivity, and writes them into the model folder.
pub fn run(a: &CalibrateArgs) -> anyhow::Result<Status> {
    let seg = Segmenter::load(&a.model)?;
    let mut refs = Vec::new();
    for d in &a.data {
        refs.extend(discover_labelled(d)?);
    }
    let (ops, pos, neg) = calibrate_model(&seg, &refs)?;
    let path = save_operating_points(&a.model, &ops)?;
    for o in &ops {
        println!(
            "{}: threshold {:.3} → sensitivity {:.3}, specificity {:.3} on {pos} positive and {neg} negative studies",
            o.name, o.threshold, o.sensitivity, o.specificity
        );
        if let Some(n) = &o.note {
            println!("  note: {n}");
        }
    }
    println!("wrote {}", path.display());
    Ok(Status::Ok)
}
