//! One job of the service (`strokeseg serve`): a received DICOM study through the whole
//! pipeline, as `segment --dicom-out` (report, pictures, mask, DICOM SEG and Secondary Capture),
//! plus the images the browser viewer shows and the worklist's summary. The service itself
//! (`strokeseg-serve`) knows nothing of the model; the binary hands it this job.

use serde_json::json;
use std::path::{Path, PathBuf};
use strokeseg_io::nifti_io::write_volume;
use strokeseg_io::StudySpec;
use strokeseg_report::json::Report;

use crate::outputs::{summary_line, write_outputs, OutputRequest, Settings};
use crate::{PipelineError, Segmenter};

/// File names of the viewer's images in a job's output folder (the service decides them).
#[derive(Debug, Clone, Copy)]
pub struct ViewerFiles<'a> {
    /// The DWI as read.
    pub dwi: &'a str,
    /// The ADC, when the study has one.
    pub adc: &'a str,
}

/// What a job produced.
#[derive(Debug)]
pub struct JobOutput {
    /// The worklist's summary (call, score, lesions, largest lesion, series UIDs, a line of
    /// text).
    pub summary: serde_json::Value,
    /// The DICOM files to forward (SEG first, then the Secondary Captures).
    pub dicom_files: Vec<PathBuf>,
    /// The report.
    pub report: Report,
}

/// Segments the DICOM study in `study_dir`, writing everything into `out_dir`.
///
/// # Errors
/// The study cannot be read or is refused ([`PipelineError::Input`]), or an output cannot be
/// written.
pub fn process_study(
    seg: &Segmenter,
    settings: &Settings,
    study_dir: &Path,
    out_dir: &Path,
    viewer: ViewerFiles<'_>,
) -> Result<JobOutput, PipelineError> {
    let spec = StudySpec {
        paths: vec![study_dir.to_path_buf()],
        ..StudySpec::default()
    };
    let (study, mut result) = seg.load_and_run(&spec, &settings.lesion, false)?;
    let input = study_dir.display().to_string();
    let name = format!(
        "job{}",
        out_dir
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    );
    let dicom_dir = out_dir.join("dicom");
    let r = write_outputs(
        out_dir,
        &mut result,
        &study,
        seg,
        settings,
        &OutputRequest {
            input: &input,
            name: &name,
            prob: false,
            dicom: Some(&dicom_dir),
        },
    )?;
    let d =
        r.files.dicom.clone().ok_or_else(|| {
            PipelineError::write(&dicom_dir, "the DICOM outputs were not written")
        })?;
    let mut files = vec![PathBuf::from(&d.seg)];
    files.extend(d.secondary_capture.iter().map(PathBuf::from));
    write_volume(
        &out_dir.join(viewer.dwi),
        &study.dwi,
        "strokeseg viewer: DWI as read",
    )?;
    if let Some(adc) = &study.adc {
        write_volume(
            &out_dir.join(viewer.adc),
            adc,
            "strokeseg viewer: ADC (10^-6 mm2/s)",
        )?;
    }
    let summary = json!({
        "call": r.patient.call,
        "score": r.patient.score,
        "operating_point": r.patient.operating_point.as_ref().map(|o| json!({"name": o.name, "threshold": o.threshold})),
        "lesions": r.lesions.len(),
        "total_lesion_volume_ml": r.total_lesion_volume_ml,
        "largest": largest(&r),
        "text": summary_line("study", &r),
        "seg_series_uid": d.seg_series_uid,
        "sc_series_uid": d.sc_series_uid,
    });
    Ok(JobOutput {
        summary,
        dicom_files: files,
        report: r,
    })
}

/// The largest lesion for the worklist: volume, coarse region, and its main JHU structure and
/// arterial territory when registration placed it.
fn largest(r: &Report) -> Option<serde_json::Value> {
    let l = r
        .lesions
        .iter()
        .max_by(|a, b| a.volume_ml.total_cmp(&b.volume_ml))?;
    let loc = r
        .location
        .as_ref()
        .and_then(|s| s.lesions.iter().find(|x| x.id == l.id));
    let label = |v: Option<&Vec<strokeseg_atlas::Share>>| {
        v.and_then(|s| s.first()).map(strokeseg_atlas::Share::label)
    };
    Some(json!({
        "id": l.id,
        "volume_ml": l.volume_ml,
        "region": l.region,
        "structure": label(loc.map(|x| &x.structures)),
        "territory": label(loc.map(|x| &x.territories)),
    }))
}
