//! Secondary Capture: pictures (the overlay montage, with its burned-in call, volumes and
//! "RESEARCH USE ONLY - NOT FOR DIAGNOSIS" line) as classic Secondary Capture Image Storage
//! instances, RGB 8 bits, one instance per picture, in one new series of the source study.
//! Many PACS viewers cannot show a SEG; every one shows these.
//!
//! The pictures carry no patient identifiers, so Burned In Annotation is `NO` (the attribute
//! is about identifying text).

use crate::common::{elem, empty, save, to_file, NewInstance, Obj};
use crate::{DeliverError, DeliverOptions, SC_SOP_CLASS};
use dicom_core::value::C;
use dicom_core::{PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::FileDicomObject;
use std::path::{Path, PathBuf};
use strokeseg_io::dicom::{new_uid, DicomProvenance};

/// Builds one Secondary Capture instance per picture, numbered 1, 2, ... in the new series
/// `series_uid`.
///
/// # Errors
/// [`DeliverError::Picture`] for an empty picture or one over 65535 pixels a side;
/// [`DeliverError::Source`] when the source has no StudyInstanceUID.
pub fn secondary_capture_objects(
    source: &DicomProvenance,
    pictures: &[image::RgbImage],
    opts: &DeliverOptions,
    series_uid: &str,
) -> Result<Vec<FileDicomObject<Obj>>, DeliverError> {
    let mut out = Vec::with_capacity(pictures.len());
    for (n, pic) in pictures.iter().enumerate() {
        let (w, h) = pic.dimensions();
        let (Ok(cols), Ok(rows)) = (u16::try_from(w), u16::try_from(h)) else {
            return Err(DeliverError::Picture(format!(
                "picture {} is {w}×{h} pixels; DICOM allows at most 65535 a side",
                n + 1
            )));
        };
        if w == 0 || h == 0 {
            return Err(DeliverError::Picture(format!("picture {} is empty", n + 1)));
        }
        let sop_uid = new_uid();
        let mut o = NewInstance {
            source,
            opts,
            sop_class: SC_SOP_CLASS,
            sop_instance_uid: &sop_uid,
            series_uid,
            series_number: opts.sc_series_number,
            series_description: &opts.sc_series_description,
            modality: "OT",
            instance_number: n as i64 + 1,
        }
        .base()?;
        let mut pixels = pic.as_raw().clone();
        if pixels.len() % 2 == 1 {
            pixels.push(0);
        }
        for e in [
            // SC Equipment: a workstation made it.
            elem(tags::CONVERSION_TYPE, VR::CS, "WSD"),
            // General Series: Type 2C that dciodvfy asks for when no Image Laterality is
            // given; unknown (the picture may show both sides).
            empty(tags::LATERALITY, VR::CS),
            // General Image
            elem(
                tags::IMAGE_TYPE,
                VR::CS,
                PrimitiveValue::Strs(["DERIVED", "SECONDARY"].map(String::from).into()),
            ),
            empty(tags::PATIENT_ORIENTATION, VR::CS),
            elem(tags::BURNED_IN_ANNOTATION, VR::CS, "NO"),
            elem(tags::RECOGNIZABLE_VISUAL_FEATURES, VR::CS, "NO"),
            elem(tags::LOSSY_IMAGE_COMPRESSION, VR::CS, "00"),
            elem(
                tags::IMAGE_COMMENTS,
                VR::LT,
                "strokeseg result overlay - RESEARCH USE ONLY - NOT FOR DIAGNOSIS",
            ),
            // Image Pixel
            elem(tags::SAMPLES_PER_PIXEL, VR::US, 3u16),
            elem(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "RGB"),
            elem(tags::PLANAR_CONFIGURATION, VR::US, 0u16),
            elem(tags::ROWS, VR::US, rows),
            elem(tags::COLUMNS, VR::US, cols),
            elem(tags::BITS_ALLOCATED, VR::US, 8u16),
            elem(tags::BITS_STORED, VR::US, 8u16),
            elem(tags::HIGH_BIT, VR::US, 7u16),
            elem(tags::PIXEL_REPRESENTATION, VR::US, 0u16),
            elem(
                tags::PIXEL_DATA,
                VR::OB,
                PrimitiveValue::U8(C::from_vec(pixels)),
            ),
        ] {
            o.put(e);
        }
        out.push(to_file(o)?);
    }
    Ok(out)
}

/// Writes [`secondary_capture_objects`] as `sc-1.dcm`, `sc-2.dcm`, ... into `dir` (created
/// if needed); returns the paths.
///
/// # Errors
/// As [`secondary_capture_objects`], and [`DeliverError::Write`].
pub fn write_secondary_capture(
    source: &DicomProvenance,
    pictures: &[image::RgbImage],
    opts: &DeliverOptions,
    series_uid: &str,
    dir: &Path,
) -> Result<Vec<PathBuf>, DeliverError> {
    let files = secondary_capture_objects(source, pictures, opts, series_uid)?;
    let mut out = Vec::with_capacity(files.len());
    for (n, f) in files.iter().enumerate() {
        let path = dir.join(format!("sc-{}.dcm", n + 1));
        save(f, &path)?;
        out.push(path);
    }
    Ok(out)
}
