//! The machine-readable report (`report.json`), schema version [`SCHEMA_VERSION`]; the schema
//! is documented in `docs/report-schema.md`. Change a field → bump the version.

use serde::Serialize;
use strokeseg_measure::{Lesion, OperatingPoint};

/// Version of the report's JSON layout.
pub const SCHEMA_VERSION: u32 = 2;

/// One study's report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Layout version.
    pub schema_version: u32,
    /// Always true: strokeseg is research software, not a medical device.
    pub research_use_only: bool,
    /// Producer.
    pub software: Software,
    /// What was read.
    pub study: StudyInfo,
    /// Which model made the result.
    pub model: ModelInfo,
    /// The patient-level call.
    pub patient: PatientCall,
    /// Sum of lesion volumes (mL).
    pub total_lesion_volume_ml: f64,
    /// Lesions, largest first.
    pub lesions: Vec<Lesion>,
    /// Output files, relative to the report's folder.
    pub files: Files,
    /// Seconds per stage.
    pub timing_s: serde_json::Value,
    /// Where the lesions are: registration to MNI, per-lesion atlas shares, study summary
    /// (since schema 2; `strokeseg_atlas::StudyLocation`, see docs/report-schema.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<serde_json::Value>,
}

/// Producer name and version.
#[derive(Debug, Clone, Serialize)]
pub struct Software {
    /// "strokeseg".
    pub name: String,
    /// Version.
    pub version: String,
}

/// The study as read.
#[derive(Debug, Clone, Serialize)]
pub struct StudyInfo {
    /// What the user gave.
    pub input: String,
    /// DWI grid dims.
    pub dims: [usize; 3],
    /// DWI voxel size (mm).
    pub spacing_mm: [f64; 3],
    /// b-value, when known.
    pub b_value: Option<f64>,
    /// Images the network used ("dwi", "adc").
    pub inputs_used: Vec<String>,
    /// Where each input came from (as `inspect --json` reports it).
    pub sources: serde_json::Value,
    /// Reader warnings.
    pub warnings: Vec<String>,
}

/// The model.
#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    /// Folder name.
    pub name: String,
    /// True when it was trained on synthetic data only.
    pub trained_on_synthetic_data_only: bool,
    /// Mirror test-time augmentation used.
    pub tta: bool,
    /// Lesion threshold on the probability map.
    pub lesion_threshold: f32,
}

/// The patient-level call at every calibrated operating point.
#[derive(Debug, Clone, Serialize)]
pub struct PatientCall {
    /// Highest lesion probability anywhere in the brain.
    pub score: f32,
    /// The operating point the headline call uses.
    pub operating_point: Option<OperatingPoint>,
    /// "infarct", "no_infarct", or "uncalibrated" when the model has no operating points
    /// (then the lesion mask alone decides: "infarct" if any lesion was found).
    pub call: String,
    /// The call at each calibrated operating point.
    pub all_operating_points: Vec<CallAt>,
}

/// The call at one operating point.
#[derive(Debug, Clone, Serialize)]
pub struct CallAt {
    /// The operating point.
    pub operating_point: OperatingPoint,
    /// "infarct" or "no_infarct".
    pub call: String,
}

/// Output files.
#[derive(Debug, Clone, Serialize)]
pub struct Files {
    /// Lesion mask (NIfTI, the study's DWI grid and affine).
    pub lesion_mask: String,
    /// Probability map, when written.
    pub probability: Option<String>,
    /// Overlay picture.
    pub overlay_png: String,
    /// DICOM objects written with `segment --dicom-out` (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dicom: Option<DicomFiles>,
}

/// DICOM SEG and Secondary Capture files written for the study (crates/deliver).
#[derive(Debug, Clone, Serialize)]
pub struct DicomFiles {
    /// The Segmentation (SEG) file, absolute path.
    pub seg: String,
    /// The Secondary Capture files (overlay pictures), absolute paths.
    pub secondary_capture: Vec<String>,
    /// SeriesInstanceUID of the new SEG series.
    pub seg_series_uid: String,
    /// SeriesInstanceUID of the new Secondary Capture series.
    pub sc_series_uid: String,
}

/// "infarct" / "no_infarct".
#[must_use]
pub fn call_word(positive: bool) -> &'static str {
    if positive {
        "infarct"
    } else {
        "no_infarct"
    }
}
