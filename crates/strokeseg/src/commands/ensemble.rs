//! `strokeseg ensemble`: one model folder from several networks trained with the same plan
//! (`strokeseg_pipeline::ensemble`).

use crate::cli::EnsembleArgs;
use crate::Status;
use strokeseg_pipeline::ensemble::{build, ENSEMBLE_FILE};

/// Runs `ensemble`: checks the plans agree, copies the weights, writes `ensemble.json`.
pub fn run(a: &EnsembleArgs) -> anyhow::Result<Status> {
    let info = build(&a.out, &a.models)?;
    for m in &info.members {
        println!("{:<12} ← {}", m.folder, m.source);
    }
    println!(
        "ensemble of {} networks in {} ({ENSEMBLE_FILE}); calibrate it before use: \
         strokeseg calibrate --model {} --data ...",
        info.members.len(),
        a.out.display(),
        a.out.display()
    );
    Ok(Status::Ok)
}
