//! Study input for strokeseg: NIfTI and DICOM readers, b-values, ADC units, the [`Study`]
//! that the rest of the pipeline consumes, and the [`dataset`] layouts studies come in.
//!
//! Owns: everything that touches input files. Must not touch: models (burn) or reports.
#![warn(missing_docs)]

pub mod dataset;
pub mod dicom;
mod error;
pub mod nifti_io;
pub mod study;

pub use error::InputError;
pub use study::{Study, StudySpec};
