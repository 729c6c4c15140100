//! The DICOM identity of a study's DWI ([`DicomProvenance`]): which source instances (and
//! frames) make up each slice of the volume, their geometry in DICOM terms, and the patient
//! and study attributes to copy into derived objects (DICOM SEG, Secondary Capture).
//!
//! Filled by the DICOM reader; NIfTI studies have none. Read-only information: nothing here
//! writes or modifies the source files.

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use std::path::PathBuf;

/// Patient, patient-study and general-study attributes (and the character set they are
/// written in) copied verbatim from a source instance into derived objects.
pub const COPIED_TAGS: &[Tag] = &[
    tags::SPECIFIC_CHARACTER_SET,
    // Patient module
    tags::PATIENT_NAME,
    tags::PATIENT_ID,
    tags::ISSUER_OF_PATIENT_ID,
    tags::PATIENT_BIRTH_DATE,
    tags::PATIENT_SEX,
    tags::OTHER_PATIENT_I_DS_SEQUENCE,
    tags::PATIENT_COMMENTS,
    tags::PATIENT_IDENTITY_REMOVED,
    tags::DEIDENTIFICATION_METHOD,
    tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE,
    // Patient Study module
    tags::PATIENT_AGE,
    tags::PATIENT_SIZE,
    tags::PATIENT_WEIGHT,
    // General Study module
    tags::STUDY_INSTANCE_UID,
    tags::STUDY_DATE,
    tags::STUDY_TIME,
    tags::REFERRING_PHYSICIAN_NAME,
    tags::STUDY_ID,
    tags::ACCESSION_NUMBER,
    tags::ISSUER_OF_ACCESSION_NUMBER_SEQUENCE,
    tags::STUDY_DESCRIPTION,
    // Clinical Trial Subject / Study modules
    tags::CLINICAL_TRIAL_SPONSOR_NAME,
    tags::CLINICAL_TRIAL_PROTOCOL_ID,
    tags::CLINICAL_TRIAL_PROTOCOL_NAME,
    tags::CLINICAL_TRIAL_SITE_ID,
    tags::CLINICAL_TRIAL_SITE_NAME,
    tags::CLINICAL_TRIAL_SUBJECT_ID,
    tags::CLINICAL_TRIAL_SUBJECT_READING_ID,
    tags::CLINICAL_TRIAL_TIME_POINT_ID,
];

/// The elements of `obj` listed in [`COPIED_TAGS`] (those present).
#[must_use]
pub fn copied_attributes(obj: &InMemDicomObject) -> InMemDicomObject {
    InMemDicomObject::from_element_iter(
        COPIED_TAGS
            .iter()
            .filter_map(|&t| obj.get(t).cloned())
            .collect::<Vec<_>>(),
    )
}

/// One source image: a single-frame instance, or one frame of a multi-frame instance.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceImage {
    /// File it was read from.
    pub path: PathBuf,
    /// SOPClassUID (e.g. MR Image Storage, Enhanced MR Image Storage).
    pub sop_class_uid: String,
    /// SOPInstanceUID.
    pub sop_instance_uid: String,
    /// 1-based frame number inside a multi-frame instance; `None` for single-frame ones.
    pub frame_number: Option<u32>,
    /// ImagePositionPatient (LPS mm) of this image.
    pub position: [f64; 3],
}

/// The source images of one slice of the volume (several when directions or repeats were
/// combined into one trace image; all at the same position).
#[derive(Debug, Clone, PartialEq)]
pub struct SourceSlice {
    /// Images combined into this slice, in file/frame order.
    pub images: Vec<SourceImage>,
}

impl SourceSlice {
    /// ImagePositionPatient (LPS mm) of the slice: that of its first image.
    #[must_use]
    pub fn position(&self) -> [f64; 3] {
        self.images.first().map_or([0.0; 3], |i| i.position)
    }
}

/// Geometry and identity of one b-value volume of a DICOM series, slice by slice.
///
/// Slice `k` of the volume (`volume.data()[[i, j, k]]`, column `i`, row `j`) is
/// `slices[k]`, read from its images' pixel row `j`, column `i`.
#[derive(Debug, Clone, PartialEq)]
pub struct DicomSlices {
    /// Rows of each image.
    pub rows: usize,
    /// Columns of each image.
    pub columns: usize,
    /// ImageOrientationPatient: row direction cosines, then column direction cosines (LPS).
    pub orientation: [f64; 6],
    /// PixelSpacing: [between rows, between columns] in mm.
    pub pixel_spacing: [f64; 2],
    /// SliceThickness (mm), when recorded.
    pub slice_thickness: Option<f64>,
    /// SpacingBetweenSlices (mm), when recorded.
    pub spacing_between_slices: Option<f64>,
    /// One entry per slice, in the volume's k order (increasing along the slice normal).
    pub slices: Vec<SourceSlice>,
}

/// Where a study's DWI came from, in DICOM terms: enough to write derived objects that a PACS
/// files with the source study and a viewer lays over the source images.
#[derive(Debug, Clone, PartialEq)]
pub struct DicomProvenance {
    /// StudyInstanceUID of the source.
    pub study_instance_uid: String,
    /// SeriesInstanceUID of the source DWI series.
    pub series_instance_uid: String,
    /// SeriesNumber of the source DWI series, when present.
    pub series_number: Option<i64>,
    /// SeriesDescription of the source DWI series (empty when absent).
    pub series_description: String,
    /// FrameOfReferenceUID of the source (empty when absent).
    pub frame_of_reference_uid: String,
    /// Patient/study attributes ([`COPIED_TAGS`]) of the first source instance, verbatim.
    pub patient_study: InMemDicomObject,
    /// The DWI's slices and their source images.
    pub geometry: DicomSlices,
}

impl DicomProvenance {
    /// All source images, slice by slice.
    pub fn images(&self) -> impl Iterator<Item = &SourceImage> {
        self.geometry.slices.iter().flat_map(|s| s.images.iter())
    }
}
