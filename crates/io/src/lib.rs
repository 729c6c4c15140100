//! Study input for strokeseg: NIfTI and DICOM readers, b-values, ADC units, and the [`Study`]
//! that the rest of the pipeline consumes.
//!
//! Owns: everything that touches input files. Must not touch: models (burn) or reports.
#![warn(missing_docs)]

pub mod dicom;
mod error;
pub mod nifti_io;
pub mod study;

pub use error::InputError;
pub use study::{Study, StudySpec};
