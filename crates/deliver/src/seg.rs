//! The DICOM Segmentation (SEG): binary, one segment "Acute infarct", one frame per source
//! slice, in the source's frame of reference.
//!
//! Coded concepts: Segmented Property Category (SCT 49755003, "Morphologically Abnormal
//! Structure", CID 7150) and Type (SCT 55641003, "Infarct", the SNOMED CT morphologic
//! abnormality; CID 7151 is extensible and lists no infarct concept), Anatomic Region SCT
//! 12738006 "Brain". Algorithm type AUTOMATIC, with name, version and the family
//! "Artificial Intelligence" (DCM 123110).
//!
//! Empty frames are kept: every source slice gets a frame. A study without lesion still
//! yields a valid SEG (Number of Frames must be at least 1, and "looked here, found nothing"
//! is itself the result); frames map one-to-one onto the source slices, so viewers and
//! readers that rebuild a volume get the whole source extent; at 1 bit per pixel a
//! 256×256×30 SEG costs 240 KiB.
//!
//! Functional groups: Pixel Measures and Plane Orientation shared; per frame Plane Position
//! (the source slice's own ImagePositionPatient), Derivation Image (Source Image Sequence
//! naming every source instance, and frame, combined into that slice), Frame Content
//! (Dimension Index Values: segment number, slice position index) and Segment
//! Identification. The Common Instance Reference module lists the source series and
//! instances.

use crate::common::{ds_multi, elem, empty, save, seq, seq1, to_file, Code, NewInstance, Obj};
use crate::frames::mask_frames;
use crate::{DeliverError, DeliverOptions, SEG_SOP_CLASS};
use dicom_core::value::C;
use dicom_core::{PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::FileDicomObject;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use strokeseg_core::Mask;
use strokeseg_io::dicom::{ds, new_uid, DicomProvenance, SourceSlice};

/// The segment's label.
pub const SEGMENT_LABEL: &str = "Acute infarct";

const CATEGORY: Code = Code {
    value: "49755003",
    scheme: "SCT",
    meaning: "Morphologically Abnormal Structure",
};
const TYPE: Code = Code {
    value: "55641003",
    scheme: "SCT",
    meaning: "Infarct",
};
const BRAIN: Code = Code {
    value: "12738006",
    scheme: "SCT",
    meaning: "Brain",
};
const AI_FAMILY: Code = Code {
    value: "123110",
    scheme: "DCM",
    meaning: "Artificial Intelligence",
};
const DERIVATION: Code = Code {
    value: "113076",
    scheme: "DCM",
    meaning: "Segmentation",
};
const SOURCE_PURPOSE: Code = Code {
    value: "121322",
    scheme: "DCM",
    meaning: "Source image for image processing operation",
};

/// Builds the SEG of `mask` over the source slices, in the new series `series_uid`.
///
/// # Errors
/// [`DeliverError::Geometry`] when the mask does not coincide with the source slices,
/// [`DeliverError::Source`] when the source lacks what a SEG must reference.
pub fn seg_object(
    source: &DicomProvenance,
    mask: &Mask,
    opts: &DeliverOptions,
    series_uid: &str,
) -> Result<FileDicomObject<Obj>, DeliverError> {
    let g = &source.geometry;
    if g.slices.is_empty() || g.slices.iter().any(|s| s.images.is_empty()) {
        return Err(DeliverError::Source("no source slices".into()));
    }
    if source.frame_of_reference_uid.is_empty() {
        return Err(DeliverError::Source(
            "the source images have no FrameOfReferenceUID, so a SEG cannot share it".into(),
        ));
    }
    if let Some(i) = source
        .images()
        .find(|i| i.sop_instance_uid.is_empty() || i.sop_class_uid.is_empty())
    {
        return Err(DeliverError::Source(format!(
            "{}: no SOPInstanceUID or SOPClassUID to reference",
            i.path.display()
        )));
    }
    let frames = mask_frames(g, mask)?;
    let (rows, cols) = (g.rows, g.columns);
    let sop_uid = new_uid();
    let mut o = NewInstance {
        source,
        opts,
        sop_class: SEG_SOP_CLASS,
        sop_instance_uid: &sop_uid,
        series_uid,
        series_number: opts.seg_series_number,
        series_description: &opts.seg_series_description,
        modality: "SEG",
        instance_number: 1,
    }
    .base()?;
    let dim_org = new_uid();
    let spacing = slice_spacing(&source.geometry.slices);
    let thickness = g.slice_thickness.filter(|t| *t > 0.0).unwrap_or(spacing);
    let n_frames = frames.len();
    for e in [
        // Frame of Reference
        elem(
            tags::FRAME_OF_REFERENCE_UID,
            VR::UI,
            source.frame_of_reference_uid.as_str(),
        ),
        empty(tags::POSITION_REFERENCE_INDICATOR, VR::LO),
        // Enhanced General Equipment (Type 1)
        elem(tags::DEVICE_SERIAL_NUMBER, VR::LO, "none"),
        // Segmentation Image
        elem(
            tags::IMAGE_TYPE,
            VR::CS,
            PrimitiveValue::Strs(["DERIVED", "PRIMARY"].map(String::from).into()),
        ),
        elem(tags::CONTENT_LABEL, VR::CS, "INFARCT"),
        elem(
            tags::CONTENT_DESCRIPTION,
            VR::LO,
            "Acute infarct on DWI, automatic - RESEARCH USE ONLY",
        ),
        empty(tags::CONTENT_CREATOR_NAME, VR::PN),
        elem(tags::SEGMENTATION_TYPE, VR::CS, "BINARY"),
        elem(tags::SEGMENTS_OVERLAP, VR::CS, "NO"),
        elem(tags::LOSSY_IMAGE_COMPRESSION, VR::CS, "00"),
        seq(tags::SEGMENT_SEQUENCE, vec![segment_item(opts)]),
        // Image Pixel
        elem(tags::SAMPLES_PER_PIXEL, VR::US, 1u16),
        elem(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2"),
        elem(tags::ROWS, VR::US, dim16(rows, "rows")?),
        elem(tags::COLUMNS, VR::US, dim16(cols, "columns")?),
        elem(tags::BITS_ALLOCATED, VR::US, 1u16),
        elem(tags::BITS_STORED, VR::US, 1u16),
        elem(tags::HIGH_BIT, VR::US, 0u16),
        elem(tags::PIXEL_REPRESENTATION, VR::US, 0u16),
        // Multi-frame Functional Groups
        elem(tags::NUMBER_OF_FRAMES, VR::IS, n_frames.to_string()),
        seq1(
            tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE,
            vec![
                seq1(
                    tags::PIXEL_MEASURES_SEQUENCE,
                    vec![
                        ds_multi(tags::PIXEL_SPACING, &g.pixel_spacing),
                        elem(tags::SLICE_THICKNESS, VR::DS, ds(thickness)),
                        elem(tags::SPACING_BETWEEN_SLICES, VR::DS, ds(spacing)),
                    ],
                ),
                seq1(
                    tags::PLANE_ORIENTATION_SEQUENCE,
                    vec![ds_multi(tags::IMAGE_ORIENTATION_PATIENT, &g.orientation)],
                ),
            ],
        ),
        seq(
            tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE,
            g.slices
                .iter()
                .enumerate()
                .map(|(k, s)| per_frame(k, s))
                .collect(),
        ),
        // Multi-frame Dimension
        seq1(
            tags::DIMENSION_ORGANIZATION_SEQUENCE,
            vec![elem(
                tags::DIMENSION_ORGANIZATION_UID,
                VR::UI,
                dim_org.as_str(),
            )],
        ),
        seq(tags::DIMENSION_INDEX_SEQUENCE, dimension_index(&dim_org)),
        // Common Instance Reference
        seq1(tags::REFERENCED_SERIES_SEQUENCE, referenced_series(source)),
        elem(
            tags::PIXEL_DATA,
            VR::OB,
            PrimitiveValue::U8(C::from_vec(pack_bits(&frames))),
        ),
    ] {
        o.put(e);
    }
    to_file(o)
}

/// Builds the SEG ([`seg_object`]) and saves it at `path`; returns `path`.
///
/// # Errors
/// As [`seg_object`], and [`DeliverError::Write`].
pub fn write_seg(
    source: &DicomProvenance,
    mask: &Mask,
    opts: &DeliverOptions,
    series_uid: &str,
    path: &Path,
) -> Result<PathBuf, DeliverError> {
    let file = seg_object(source, mask, opts, series_uid)?;
    save(&file, path)?;
    Ok(path.to_path_buf())
}

fn dim16(n: usize, what: &str) -> Result<u16, DeliverError> {
    u16::try_from(n).map_err(|_| DeliverError::Source(format!("{n} {what} do not fit DICOM")))
}

/// Distance between consecutive slice positions (mm), 1 for a single slice without record.
fn slice_spacing(slices: &[SourceSlice]) -> f64 {
    let n = slices.len();
    if n < 2 {
        return 1.0;
    }
    let (a, b) = (slices[0].position(), slices[n - 1].position());
    let d: f64 = (0..3).map(|i| (b[i] - a[i]).powi(2)).sum::<f64>().sqrt();
    d / (n - 1) as f64
}

fn segment_item(opts: &DeliverOptions) -> Obj {
    Obj::from_element_iter([
        elem(tags::SEGMENT_NUMBER, VR::US, 1u16),
        elem(tags::SEGMENT_LABEL, VR::LO, SEGMENT_LABEL),
        elem(
            tags::SEGMENT_DESCRIPTION,
            VR::ST,
            "Acute ischemic infarct (DWI), automatic segmentation - RESEARCH USE ONLY, not for diagnosis",
        ),
        elem(tags::SEGMENT_ALGORITHM_TYPE, VR::CS, "AUTOMATIC"),
        elem(
            tags::SEGMENT_ALGORITHM_NAME,
            VR::LO,
            opts.algorithm_name.as_str(),
        ),
        seq1(
            tags::SEGMENTATION_ALGORITHM_IDENTIFICATION_SEQUENCE,
            vec![
                AI_FAMILY.seq(tags::ALGORITHM_FAMILY_CODE_SEQUENCE),
                elem(tags::ALGORITHM_NAME, VR::LO, opts.algorithm_name.as_str()),
                elem(
                    tags::ALGORITHM_VERSION,
                    VR::LO,
                    opts.algorithm_version.as_str(),
                ),
            ],
        ),
        CATEGORY.seq(tags::SEGMENTED_PROPERTY_CATEGORY_CODE_SEQUENCE),
        TYPE.seq(tags::SEGMENTED_PROPERTY_TYPE_CODE_SEQUENCE),
        BRAIN.seq(tags::ANATOMIC_REGION_SEQUENCE),
        // The red of the overlay outlines (sRGB 255, 0, 0 is CIELab 53.2, 80.1, 67.2).
        elem(
            tags::RECOMMENDED_DISPLAY_CIE_LAB_VALUE,
            VR::US,
            PrimitiveValue::U16(C::from_slice(&cielab_to_dicom(53.2, 80.1, 67.2))),
        ),
    ])
}

/// CIELab scaled to DICOM's unsigned 16-bit encoding (PS3.3 C.10.7.1.1): L* 0..100 and
/// a*, b* -128..127 onto 0..65535.
fn cielab_to_dicom(l: f64, a: f64, b: f64) -> [u16; 3] {
    let s = |v: f64, lo: f64, hi: f64| {
        ((v - lo) / (hi - lo) * 65535.0).round().clamp(0.0, 65535.0) as u16
    };
    [s(l, 0.0, 100.0), s(a, -128.0, 127.0), s(b, -128.0, 127.0)]
}

/// Functional groups of frame `k` (source slice `s`).
fn per_frame(k: usize, s: &SourceSlice) -> Obj {
    let sources: Vec<Obj> = s
        .images
        .iter()
        .map(|img| {
            let mut item = vec![
                elem(
                    tags::REFERENCED_SOP_CLASS_UID,
                    VR::UI,
                    img.sop_class_uid.as_str(),
                ),
                elem(
                    tags::REFERENCED_SOP_INSTANCE_UID,
                    VR::UI,
                    img.sop_instance_uid.as_str(),
                ),
            ];
            if let Some(f) = img.frame_number {
                item.push(elem(tags::REFERENCED_FRAME_NUMBER, VR::IS, f.to_string()));
            }
            item.push(SOURCE_PURPOSE.seq(tags::PURPOSE_OF_REFERENCE_CODE_SEQUENCE));
            item.push(elem(tags::SPATIAL_LOCATIONS_PRESERVED, VR::CS, "YES"));
            Obj::from_element_iter(item)
        })
        .collect();
    let index = u32::try_from(k + 1).unwrap_or(u32::MAX);
    Obj::from_element_iter([
        seq1(
            tags::DERIVATION_IMAGE_SEQUENCE,
            vec![
                DERIVATION.seq(tags::DERIVATION_CODE_SEQUENCE),
                seq(tags::SOURCE_IMAGE_SEQUENCE, sources),
            ],
        ),
        seq1(
            tags::FRAME_CONTENT_SEQUENCE,
            vec![elem(
                tags::DIMENSION_INDEX_VALUES,
                VR::UL,
                PrimitiveValue::U32([1u32, index].into()),
            )],
        ),
        seq1(
            tags::PLANE_POSITION_SEQUENCE,
            vec![ds_multi(tags::IMAGE_POSITION_PATIENT, &s.position())],
        ),
        seq1(
            tags::SEGMENT_IDENTIFICATION_SEQUENCE,
            vec![elem(tags::REFERENCED_SEGMENT_NUMBER, VR::US, 1u16)],
        ),
    ])
}

/// Two dimensions: the segment, then the slice position.
fn dimension_index(dim_org: &str) -> Vec<Obj> {
    let dim = |index: dicom_core::Tag, group: dicom_core::Tag, label: &str| {
        Obj::from_element_iter([
            elem(tags::DIMENSION_ORGANIZATION_UID, VR::UI, dim_org),
            elem(
                tags::DIMENSION_INDEX_POINTER,
                VR::AT,
                PrimitiveValue::Tags(C::from_slice(&[index])),
            ),
            elem(
                tags::FUNCTIONAL_GROUP_POINTER,
                VR::AT,
                PrimitiveValue::Tags(C::from_slice(&[group])),
            ),
            elem(tags::DIMENSION_DESCRIPTION_LABEL, VR::LO, label),
        ])
    };
    vec![
        dim(
            tags::REFERENCED_SEGMENT_NUMBER,
            tags::SEGMENT_IDENTIFICATION_SEQUENCE,
            "Segment Number",
        ),
        dim(
            tags::IMAGE_POSITION_PATIENT,
            tags::PLANE_POSITION_SEQUENCE,
            "Image Position Patient",
        ),
    ]
}

/// The Referenced Series Sequence item: the source series and each instance once.
fn referenced_series(source: &DicomProvenance) -> Vec<crate::common::Elem> {
    let mut seen = BTreeSet::new();
    let instances: Vec<Obj> = source
        .images()
        .filter(|i| seen.insert(i.sop_instance_uid.clone()))
        .map(|i| {
            Obj::from_element_iter([
                elem(
                    tags::REFERENCED_SOP_CLASS_UID,
                    VR::UI,
                    i.sop_class_uid.as_str(),
                ),
                elem(
                    tags::REFERENCED_SOP_INSTANCE_UID,
                    VR::UI,
                    i.sop_instance_uid.as_str(),
                ),
            ])
        })
        .collect();
    vec![
        elem(
            tags::SERIES_INSTANCE_UID,
            VR::UI,
            source.series_instance_uid.as_str(),
        ),
        seq(tags::REFERENCED_INSTANCE_SEQUENCE, instances),
    ]
}

/// Frames packed 8 pixels a byte, first pixel in the least significant bit, frames back to
/// back without padding (PS3.5 8.1.1), padded to an even length.
fn pack_bits(frames: &[Vec<bool>]) -> Vec<u8> {
    let n: usize = frames.iter().map(Vec::len).sum();
    let mut out = vec![0u8; n.div_ceil(8)];
    for (i, _) in frames.iter().flatten().enumerate().filter(|(_, &x)| x) {
        out[i / 8] |= 1 << (i % 8);
    }
    if out.len() % 2 == 1 {
        out.push(0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::pack_bits;

    #[test]
    fn bits_are_packed_lsb_first_across_frames() {
        let f1 = vec![true, false, false, true, false];
        let f2 = vec![false, false, false, false, true, true];
        let b = pack_bits(&[f1, f2]);
        // bits 0, 3, 9, 10 → byte0 = 0b0000_1001, byte1 = 0b0000_0110
        assert_eq!(b, vec![0b0000_1001, 0b0000_0110]);
        assert_eq!(pack_bits(&[vec![true; 9]]), vec![0xFF, 0x01]);
        assert_eq!(pack_bits(&[vec![true; 17]]).len(), 4);
    }
}
