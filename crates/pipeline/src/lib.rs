//! The segmentation pipeline of one study, shared by every command and the service: study →
//! quality gate → prepared input → network (the engine and device in force) → probabilities
//! on the study's own grid → lesions → location (registration and atlas, or the stated
//! fallbacks) → patient call → report, pictures, NIfTI and DICOM outputs. Also scoring a model
//! on labelled studies with `strokeseg-eval`'s metrics.
//!
//! Owns: [`Segmenter`] (a loaded model folder, one network or an [`ensemble`]), [`engine`] and [`device`] choice, the quality
//! gate ([`quality`]), the location set-up ([`locate`]), the report and output files
//! ([`outputs`], whole-or-nothing through [`staged`]), the DICOM outputs ([`dicom_out`]), the
//! service's per-study job ([`service`]), [`score`]. Must not touch: command-line parsing or
//! printing (the binary), training, the network's internals, metric definitions (eval).
#![warn(missing_docs)]

pub mod device;
pub mod dicom_out;
pub mod engine;
pub mod ensemble;
mod error;
pub mod locate;
pub mod outputs;
pub mod quality;
pub mod score;
pub mod segmenter;
pub mod service;
pub mod staged;

pub use engine::Engine;
pub use error::PipelineError;
pub use locate::LocationOptions;
pub use outputs::{OutputRequest, Settings};
pub use segmenter::{
    default_model_dir, save_operating_points, Segmentation, Segmenter, Timing,
    OPERATING_POINTS_FILE,
};
