//! The machine-readable report (`report.json`), schema version [`SCHEMA_VERSION`]; the schema
//! is documented in `docs/report-schema.md`. Change a field → bump the version.

use serde::Serialize;
use strokeseg_atlas::StudyLocation;
use strokeseg_measure::{Lesion, OperatingPoint};

/// Version of the report's JSON layout.
pub const SCHEMA_VERSION: u32 = 7;

/// One study's report.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
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
    pub timing_s: Timing,
    /// Where the lesions are: registration to MNI, per-lesion atlas shares, study summary
    /// (since schema 2; see docs/report-schema.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<StudyLocation>,
}

/// Producer name and version.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Software {
    /// "strokeseg".
    pub name: String,
    /// Version.
    pub version: String,
}

/// The study as read.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
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
    /// Reader warnings, and a warning when the DWI was too noisy and was smoothed.
    pub warnings: Vec<String>,
    /// How noisy the DWI was and what was done about it (since schema 6).
    pub noise: InputNoise,
}

/// The DWI's measured noise and the in-plane smoothing it led to.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct InputNoise {
    /// Robust SD of in-plane neighbour differences in the brain over the median brain
    /// signal; null when the brain was too small to measure it.
    pub dwi_relative_noise: Option<f64>,
    /// The level above which a study is smoothed (the model's plan); null: never.
    pub smooth_above: Option<f64>,
    /// In-plane Gaussian sigma (mm) applied to DWI and ADC before the network and the lesion
    /// measurements; 0 when the study was read as it is.
    pub smoothed_sigma_mm: f64,
}

/// The model.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ModelInfo {
    /// Folder name.
    pub name: String,
    /// True when it was trained on synthetic data only.
    pub trained_on_synthetic_data_only: bool,
    /// Networks whose probabilities were averaged: 1, or the members of an ensemble
    /// (`strokeseg ensemble`).
    pub networks: usize,
    /// Mirror test-time augmentation used.
    pub tta: bool,
    /// Lesion threshold on the probability map.
    pub lesion_threshold: f32,
    /// Restricted-diffusion rule: lesions whose lowest quarter of ADC values was not below
    /// this share of the brain's median ADC were dropped (null: rule off, or no ADC).
    pub max_adc_ratio: Option<f32>,
    /// Lesions (at the mask threshold) the rule dropped.
    pub lesions_dropped_not_restricted: usize,
}

/// The patient-level call at every calibrated operating point.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct PatientCall {
    /// Lesion-level score 0–1: over candidate lesions (components of probability ≥ 0.1 in
    /// the dilated brain), the highest mean of a candidate's three most probable voxels.
    pub score: f32,
    /// The operating point the headline call uses.
    pub operating_point: Option<OperatingPoint>,
    /// "infarct", "no_infarct", or "uncalibrated" when the model has no operating points
    /// (then the lesion mask alone decides: "infarct" if any lesion was found).
    pub call: Call,
    /// The call at each calibrated operating point.
    pub all_operating_points: Vec<CallAt>,
    /// The candidate lesion that set `score` (absent when the score is 0): where to look,
    /// above all when the call is "infarct" but no lesion reached the mask threshold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deciding_candidate: Option<DecidingCandidate>,
}

/// The candidate lesion (probability ≥ 0.1, passing the restricted-diffusion rule or holding
/// a kept lesion) with the highest score: the one the patient call rests on.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct DecidingCandidate {
    /// Its score (the patient score): the mean of its three most probable voxels.
    pub score: f32,
    /// Its volume at the candidate threshold (mL).
    pub volume_ml: f64,
    /// Its highest probability.
    pub max_prob: f32,
    /// Centroid in world millimetres (RAS+).
    pub centroid_mm: [f64; 3],
    /// Centroid as a fractional voxel index `[i, j, k]` of the DWI grid.
    pub centroid_voxel: [f64; 3],
    /// Coarse region of the centroid.
    pub region: strokeseg_measure::Region,
    /// Whether it holds a lesion of the mask (false: the call rests on something the mask
    /// does not show).
    pub in_lesion_mask: bool,
}

/// The call at one operating point.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct CallAt {
    /// The operating point.
    pub operating_point: OperatingPoint,
    /// "infarct" or "no_infarct".
    pub call: Call,
}

/// Output files.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Files {
    /// Lesion mask (NIfTI, the study's DWI grid and affine).
    pub lesion_mask: String,
    /// Probability map, when written.
    pub probability: Option<String>,
    /// Overlay picture (fixed six-slice montage, also sent as DICOM Secondary Capture).
    pub overlay_png: String,
    /// Key-image page: the slices that hold lesions, DWI and ADC, legend and call (since
    /// schema 3).
    pub key_images_png: String,
    /// DICOM objects written with `segment --dicom-out` (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dicom: Option<DicomFiles>,
}

/// DICOM SEG and Secondary Capture files written for the study (crates/deliver).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
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

/// Wall-clock seconds of each stage.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct Timing {
    /// Reading the study.
    pub load: f64,
    /// Brain mask, crop, resample, normalise.
    pub preprocess: f64,
    /// Sliding-window network.
    pub network: f64,
    /// Back to the native grid, lesions, location.
    pub postprocess: f64,
    /// Of which: registration to MNI.
    pub register: f64,
    /// Writing outputs (filled in by the caller).
    pub write: f64,
}

/// The patient-level call, as written into the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Call {
    /// The score reached the operating point's threshold.
    Infarct,
    /// It did not.
    NoInfarct,
    /// The model has no operating points: the lesion mask alone decides.
    Uncalibrated,
}

impl Call {
    /// `Infarct` when `positive`, else `NoInfarct`.
    #[must_use]
    pub fn of(positive: bool) -> Call {
        if positive {
            Call::Infarct
        } else {
            Call::NoInfarct
        }
    }

    /// "infarct", "no_infarct" or "uncalibrated" (the JSON word).
    #[must_use]
    pub fn word(self) -> &'static str {
        match self {
            Call::Infarct => "infarct",
            Call::NoInfarct => "no_infarct",
            Call::Uncalibrated => "uncalibrated",
        }
    }
}

/// The JSON Schema (draft 2020-12) of `report.json`, generated from [`Report`]; published as
/// `docs/report.schema.json` (a test keeps the two equal).
#[must_use]
pub fn schema() -> serde_json::Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator();
    let mut s = generator.into_root_schema_for::<Report>();
    s.insert(
        "description".into(),
        format!(
            "report.json of strokeseg `segment`, `demo` and `serve`, schema_version {SCHEMA_VERSION}; \
             field meanings in docs/report-schema.md. Research use only."
        )
        .into(),
    );
    s.to_value()
}

#[cfg(test)]
mod tests {
    /// `docs/report.schema.json` is the schema of the code. After a change of the report,
    /// regenerate it with `UPDATE_SCHEMA=1 cargo test -p strokeseg-report`.
    #[test]
    fn published_schema_is_the_schema_of_the_code() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/report.schema.json");
        let now = serde_json::to_string_pretty(&super::schema()).unwrap() + "\n";
        if std::env::var_os("UPDATE_SCHEMA").is_some() {
            std::fs::write(path, &now).unwrap();
        }
        let published = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            published == now,
            "{path} is stale: regenerate it with UPDATE_SCHEMA=1 cargo test -p strokeseg-report \
             (and bump SCHEMA_VERSION when a field changed)"
        );
    }
}
