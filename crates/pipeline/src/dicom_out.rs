//! The DICOM outputs (`segment --dicom-out DIR`, and every `serve` job): refuses studies that are not DICOM (exit 2, before any work),
//! and writes a study's DICOM SEG and Secondary Capture (crates/deliver) into
//! `DIR/<study>/`, recording them in the report.

use crate::{PipelineError, Segmentation};
use std::path::Path;
use strokeseg_deliver::{write_dicom_outputs, DeliverOptions};
use strokeseg_io::study::is_nifti_name;
use strokeseg_io::{InputError, Study, StudySpec};
use strokeseg_report::json::{DicomFiles, Report};

fn refusal(what: &Path) -> InputError {
    InputError::Usage(format!(
        "--dicom-out needs a DICOM input study: {} is not DICOM (NIfTI has no DICOM identifiers for a SEG to reference); give the DICOM series folder, or drop --dicom-out",
        what.display()
    ))
}

/// Refuses, before anything is loaded, studies given as NIfTI files (`--dwi`, or a file path).
///
/// # Errors
/// [`InputError::Usage`] naming the first such input.
pub fn check_specs(specs: &[StudySpec]) -> Result<(), InputError> {
    for spec in specs {
        let explicit = [&spec.dwi, &spec.adc, &spec.b0].into_iter().flatten();
        let files = spec.paths.iter().filter(|p| {
            p.is_file()
                || p.file_name()
                    .is_some_and(|n| is_nifti_name(&n.to_string_lossy()))
        });
        if let Some(p) = explicit.chain(files).next() {
            return Err(refusal(p));
        }
    }
    Ok(())
}

/// Refuses a loaded study without DICOM provenance (a folder of NIfTI files).
///
/// # Errors
/// [`InputError::Usage`] naming the study's DWI source.
pub fn check_study(study: &Study) -> Result<(), InputError> {
    if study.dicom.is_none() {
        return Err(refusal(&study.dwi_source.path));
    }
    Ok(())
}

/// Writes the SEG of the lesion mask and the overlay as Secondary Capture into `dir`.
///
/// # Errors
/// Geometry or write errors of crates/deliver, with the folder named.
pub fn write(
    dir: &Path,
    seg: &Segmentation,
    study: &Study,
    r: &Report,
    overlay: &image::RgbImage,
) -> Result<DicomFiles, PipelineError> {
    let opts = DeliverOptions {
        algorithm_version: format!("{} model {}", env!("CARGO_PKG_VERSION"), r.model.name),
        ..DeliverOptions::default()
    };
    let d = write_dicom_outputs(study, &seg.mask, std::slice::from_ref(overlay), &opts, dir)
        .map_err(|source| PipelineError::Deliver {
            dir: dir.to_path_buf(),
            source,
        })?;
    let abs = |p: &Path| {
        std::path::absolute(p)
            .unwrap_or_else(|_| p.to_path_buf())
            .display()
            .to_string()
    };
    Ok(DicomFiles {
        seg: abs(&d.seg),
        secondary_capture: d.secondary_capture.iter().map(|p| abs(p)).collect(),
        seg_series_uid: d.seg_series_uid,
        sc_series_uid: d.sc_series_uid,
    })
}
