//! Reports for people: overlay montages (PNG) now; the JSON report and DICOM objects later.
//!
//! Owns: turning volumes and masks into pictures and documents. Must not touch: models,
//! file input.
#![warn(missing_docs)]

pub mod chart;
pub mod json;
pub mod montage;
pub mod text;

pub use montage::{montage, pick_slices, Row};
