//! Delivery: DICOM objects a PACS accepts. A lesion mask becomes a DICOM Segmentation (SEG)
//! laid exactly over the source DWI slices, and the overlay picture becomes a Secondary
//! Capture series, both filed in the source study.
//!
//! Owns: building and writing those objects (dicom-rs `InMemDicomObject` +
//! `FileMetaTableBuilder`, Explicit VR Little Endian). Must not touch: the source files
//! (nothing of the source is modified; identifiers are only copied), segmentation, network
//! sending (the caller sends the files it gets back).
//!
//! The source's identity comes from [`strokeseg_io::Study::dicom`] (a [`DicomProvenance`]),
//! filled when the study was read from DICOM; NIfTI studies have none and
//! [`write_dicom_outputs`] refuses them with [`DeliverError::NotDicom`].
//!
//! ```no_run
//! # fn demo(study: &strokeseg_io::Study, mask: &strokeseg_core::Mask, overlay: &image::RgbImage)
//! # -> Result<(), strokeseg_deliver::DeliverError> {
//! use strokeseg_deliver::{write_dicom_outputs, DeliverOptions};
//! let out = write_dicom_outputs(study, mask, &[overlay.clone()], &DeliverOptions::default(),
//!     std::path::Path::new("dicom-out"))?;
//! println!("SEG {} and {} SC file(s)", out.seg.display(), out.secondary_capture.len());
//! # Ok(()) }
//! ```
//!
//! Every SEG frame maps to one source slice (empty frames included, see [`seg`]); the mask
//! may be on any grid whose voxels coincide with the source pixels (the study's own DWI grid,
//! or a permutation/flip of it), and is mapped through world coordinates.
#![warn(missing_docs)]

mod common;
mod copy;
mod frames;
pub mod sc;
pub mod seg;

pub use sc::{secondary_capture_objects, write_secondary_capture};
pub use seg::{seg_object, write_seg};
pub use strokeseg_io::dicom::DicomProvenance;

use std::path::{Path, PathBuf};
use strokeseg_core::Mask;
use strokeseg_io::Study;

/// SOP Class UID of Segmentation Storage.
pub const SEG_SOP_CLASS: &str = "1.2.840.10008.5.1.4.1.1.66.4";
/// SOP Class UID of (classic) Secondary Capture Image Storage.
pub const SC_SOP_CLASS: &str = "1.2.840.10008.5.1.4.1.1.7";

/// What can go wrong while delivering.
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    /// The study was not read from DICOM, so there is nothing to reference.
    #[error("DICOM outputs need a DICOM input study: {0} was not read from DICOM (NIfTI input has no DICOM identifiers to reference)")]
    NotDicom(String),
    /// The mask does not lie on the source slices.
    #[error("the lesion mask does not coincide with the source DICOM slices: {0}")]
    Geometry(String),
    /// Inconsistent or missing source information.
    #[error("unusable DICOM source information: {0}")]
    Source(String),
    /// A picture that cannot be stored (empty, too large).
    #[error("bad picture for the Secondary Capture: {0}")]
    Picture(String),
    /// Writing a file failed.
    #[error("{path}: cannot write: {message}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

/// Names, numbers and descriptions written into the objects. `Default` gives strokeseg's
/// own; the service may set its own series numbers or algorithm version (the model's name).
#[derive(Debug, Clone, PartialEq)]
pub struct DeliverOptions {
    /// Segment Algorithm Name and Manufacturer's Model Name.
    pub algorithm_name: String,
    /// Algorithm Version (e.g. `"0.1.0 model synth-v1"`).
    pub algorithm_version: String,
    /// Software Versions (0018,1020).
    pub software_version: String,
    /// Manufacturer (0008,0070).
    pub manufacturer: String,
    /// SeriesNumber of the SEG series.
    pub seg_series_number: i64,
    /// SeriesNumber of the Secondary Capture series.
    pub sc_series_number: i64,
    /// SeriesDescription of the SEG series.
    pub seg_series_description: String,
    /// SeriesDescription of the Secondary Capture series.
    pub sc_series_description: String,
}

impl Default for DeliverOptions {
    fn default() -> Self {
        let v = env!("CARGO_PKG_VERSION");
        DeliverOptions {
            algorithm_name: "strokeseg".into(),
            algorithm_version: v.into(),
            software_version: v.into(),
            manufacturer: "strokeseg (research use only)".into(),
            seg_series_number: 9901,
            sc_series_number: 9902,
            seg_series_description: "strokeseg acute infarct SEG - RESEARCH USE ONLY".into(),
            sc_series_description: "strokeseg overlay - RESEARCH USE ONLY".into(),
        }
    }
}

/// What [`write_dicom_outputs`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct DicomOutputs {
    /// The SEG file.
    pub seg: PathBuf,
    /// The Secondary Capture files, one per picture.
    pub secondary_capture: Vec<PathBuf>,
    /// SeriesInstanceUID of the new SEG series.
    pub seg_series_uid: String,
    /// SeriesInstanceUID of the new Secondary Capture series.
    pub sc_series_uid: String,
}

/// The study's DICOM provenance, or [`DeliverError::NotDicom`] naming its DWI source.
///
/// # Errors
/// When the study was not read from DICOM.
pub fn require_dicom(study: &Study) -> Result<&DicomProvenance, DeliverError> {
    study
        .dicom
        .as_ref()
        .ok_or_else(|| DeliverError::NotDicom(study.dwi_source.path.display().to_string()))
}

/// Writes the SEG (`seg.dcm`) and one Secondary Capture per picture (`sc-1.dcm`, ...) into
/// `out_dir` (created if needed; existing files of those names are replaced). Each goes in a
/// new series of the source study.
///
/// # Errors
/// [`DeliverError::NotDicom`] for a study not read from DICOM (checked before anything is
/// written), [`DeliverError::Geometry`] when the mask is not on the source slices, write
/// errors naming the file.
pub fn write_dicom_outputs(
    study: &Study,
    mask: &Mask,
    pictures: &[image::RgbImage],
    opts: &DeliverOptions,
    out_dir: &Path,
) -> Result<DicomOutputs, DeliverError> {
    let source = require_dicom(study)?;
    let seg_series_uid = strokeseg_io::dicom::new_uid();
    let sc_series_uid = strokeseg_io::dicom::new_uid();
    let seg = write_seg(
        source,
        mask,
        opts,
        &seg_series_uid,
        &out_dir.join("seg.dcm"),
    )?;
    let secondary_capture =
        write_secondary_capture(source, pictures, opts, &sc_series_uid, out_dir)?;
    tracing::info!(
        "DICOM outputs: {} and {} Secondary Capture file(s) in {}",
        seg.display(),
        secondary_capture.len(),
        out_dir.display()
    );
    Ok(DicomOutputs {
        seg,
        secondary_capture,
        seg_series_uid,
        sc_series_uid,
    })
}
