//! From a lesion probability map to a lesion table and a patient-level call.
//!
//! Owns: lesion measurement — thresholding, 26-connected components, volumes, positions,
//! bounding boxes, probabilities and a coarse anatomical location ([`find_lesions`]); an
//! approximate study→MNI map estimated from the brain mask's moments ([`MniApprox`]), the
//! fallback when atlas registration (crates/register) is off or fails; and the patient-level decision ([`patient_score`],
//! [`call`], [`calibrate`]). Must not touch: models or file formats.
//!
//! Conventions: images are on the study's native grid, indexed `[i, j, k]`, world space is
//! RAS+ millimetres (see `strokeseg-core`). A voxel is lesion when its probability is
//! `>= threshold`; a study is called positive when its score is `>= threshold`.
#![warn(missing_docs)]

mod call;
mod lesions;
mod mni;
mod mni_constants;

pub use call::{
    calibrate, call, candidate_config, deciding_candidate, patient_score, OperatingPoint,
    CANDIDATE_THRESHOLD,
};
pub use lesions::{
    add_signal, call_candidates, find_lesions, holding_kept, is_restricted, keep_restricted,
    label_lesions, Lesion, LesionConfig, LesionSignal, Mirror, RESTRICTED_ADC_RATIO,
};
pub use mni::{FitMethod, MniApprox, ProfileBin, TemplateMoments, ZProfile};
pub use mni_constants::{MNI2009A_IC_CENTROID_MM, MNI2009A_IC_COV_MM2};
pub use strokeseg_mni::regions::Region;
