//! `strokeseg segment`: per study, the lesion mask, report.json, the pictures and a summary
//! line. The work is `strokeseg_pipeline`'s; this file checks the arguments and prints.

use super::study_args::specs;
use crate::cli::SegmentArgs;
use crate::Status;
use strokeseg_pipeline::dicom_out::check_specs;
use strokeseg_pipeline::outputs::{
    check_out_dir, check_out_outside_inputs, study_name, summary_line, write_dataset_description,
    write_outputs,
};
use strokeseg_pipeline::OutputRequest;

/// Runs `segment`.
pub fn run(a: &SegmentArgs) -> anyhow::Result<Status> {
    let specs = specs(&a.study)?;
    if a.dicom_out.is_some() {
        check_specs(&specs)?;
    }
    check_out_dir("--out", &a.out)?;
    check_out_outside_inputs(&a.out, &specs)?;
    if let Some(d) = &a.dicom_out {
        check_out_dir("--dicom-out", d)?;
    }
    let mut seg = a.model.segmenter()?;
    seg.locator = a.location.options().load_locator()?;
    let settings = a.model.settings();
    let mut used = std::collections::HashSet::new();
    super::batch::each(&specs, |spec| {
        let (study, mut result) =
            seg.load_and_run(spec, &settings.lesion, a.dicom_out.is_some())?;
        let mut name = study_name(spec);
        let base = name.clone();
        let mut n = 2;
        while !used.insert(name.clone()) {
            name = format!("{base}-{n}");
            n += 1;
        }
        let input = spec
            .paths
            .first()
            .or(spec.dwi.as_ref())
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let dicom_dir = a.dicom_out.as_ref().map(|d| d.join(&name));
        let r = write_outputs(
            &a.out.join(&name),
            &mut result,
            &study,
            &seg,
            &settings,
            &OutputRequest {
                input: &input,
                name: &name,
                prob: a.prob,
                dicom: dicom_dir.as_deref(),
            },
        )?;
        write_dataset_description(&a.out)?;
        println!("{}", summary_line(&name, &r));
        Ok(Status::Ok)
    })
}
