//! Writing volumes as DICOM (for tests and the synthetic-data generator): classic MR Image
//! Storage, one file per slice, Enhanced MR Image Storage, one multi-frame file, and Siemens
//! mosaics, one file per volume. Explicit VR Little Endian, uint16 pixels with a modality
//! rescale.

use super::attrs::{B0_THRESHOLD, SIEMENS_B_VALUE, SIEMENS_N_MOSAIC};
use super::csa::{self, EncodeTag};
use crate::error::InputError;
use dicom_core::value::{DataSetSequence, C};
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use nalgebra::{Matrix4, Vector3, Vector4};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use strokeseg_core::Volume;

/// Identifiers and scaling for written series.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesWriteOptions {
    /// SeriesInstanceUID.
    pub series_uid: String,
    /// StudyInstanceUID.
    pub study_uid: String,
    /// FrameOfReferenceUID.
    pub frame_of_reference_uid: String,
    /// SeriesNumber.
    pub series_number: i64,
    /// SeriesDescription.
    pub series_description: String,
    /// DiffusionBValue (0018,9087), written when `Some`.
    pub b_value: Option<f64>,
    /// ImageType values.
    pub image_type: Vec<String>,
    /// PatientID.
    pub patient_id: String,
    /// PatientName.
    pub patient_name: String,
    /// RescaleSlope: world value = stored × slope + intercept.
    pub rescale_slope: f64,
    /// RescaleIntercept.
    pub rescale_intercept: f64,
    /// InstanceNumber of the first file (then +1 per slice).
    pub instance_number_start: i64,
}

impl Default for SeriesWriteOptions {
    /// Fresh UIDs, series 1, no b-value, slope 1, intercept 0.
    fn default() -> Self {
        SeriesWriteOptions {
            series_uid: new_uid(),
            study_uid: new_uid(),
            frame_of_reference_uid: new_uid(),
            series_number: 1,
            series_description: "strokeseg synthetic".into(),
            b_value: None,
            image_type: vec!["ORIGINAL".into(), "PRIMARY".into(), "DIFFUSION".into()],
            patient_id: "SYNTHETIC".into(),
            patient_name: "Synthetic^Patient".into(),
            rescale_slope: 1.0,
            rescale_intercept: 0.0,
            instance_number_start: 1,
        }
    }
}

impl SeriesWriteOptions {
    /// Options with deterministic UIDs derived from `seed` (for reproducible test data).
    #[must_use]
    pub fn from_seed(seed: u128) -> Self {
        SeriesWriteOptions {
            series_uid: uid_from(mix(seed, 1)),
            study_uid: uid_from(mix(seed, 2)),
            frame_of_reference_uid: uid_from(mix(seed, 3)),
            ..SeriesWriteOptions::default()
        }
    }
}

/// A UID under the "2.25." (UUID-derived) root.
#[must_use]
pub fn uid_from(n: u128) -> String {
    format!("2.25.{n}")
}

fn mix(seed: u128, salt: u128) -> u128 {
    // splitmix-style scrambling on both halves.
    let mut z = seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835);
    z = (z ^ (z >> 61)).wrapping_mul(0xBF58_476D_1CE4_E5B9_94D0_49BB_1331_11EB);
    z ^= z >> 59;
    z & ((1u128 << 126) - 1)
}

/// A new, process-unique UID (time, process id and a counter, scrambled).
#[must_use]
pub fn new_uid() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let c = COUNTER.fetch_add(1, Ordering::Relaxed);
    let seed = t ^ (u128::from(std::process::id()) << 96) ^ (u128::from(c) << 64);
    uid_from(mix(seed, u128::from(c) + 7))
}

/// A decimal string of at most 16 characters (the DS limit), as precise as fits.
#[must_use]
pub fn ds(v: f64) -> String {
    let v = if v.abs() < 1e-12 { 0.0 } else { v };
    for prec in (0..=12).rev() {
        let s = format!("{v:.prec$}");
        let s = if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        };
        if s.len() <= 16 {
            return if s == "-0" { "0".into() } else { s };
        }
    }
    format!("{v:.0}")
}

fn ds_multi(v: &[f64]) -> PrimitiveValue {
    PrimitiveValue::Strs(v.iter().map(|&x| ds(x)).collect())
}

/// Slice geometry in DICOM terms, from a RAS+ affine.
struct Geometry {
    /// Row then column direction cosines (LPS).
    iop: [f64; 6],
    /// [row spacing, column spacing].
    pixel_spacing: [f64; 2],
    slice_spacing: f64,
    lps: Matrix4<f64>,
}

impl Geometry {
    fn of(vol: &Volume) -> Geometry {
        let lps = Matrix4::from_diagonal(&Vector4::new(-1.0, -1.0, 1.0, 1.0)) * vol.affine();
        let axis = |c: usize| Vector3::new(lps[(0, c)], lps[(1, c)], lps[(2, c)]);
        let (a0, a1, a2) = (axis(0), axis(1), axis(2));
        let (r, c) = (a0.normalize(), a1.normalize());
        Geometry {
            iop: [r.x, r.y, r.z, c.x, c.y, c.z],
            pixel_spacing: [a1.norm(), a0.norm()],
            slice_spacing: a2.norm(),
            lps,
        }
    }

    /// ImagePositionPatient of slice `k`.
    fn position(&self, k: usize) -> [f64; 3] {
        let p = self.lps * Vector4::new(0.0, 0.0, k as f64, 1.0);
        [p.x, p.y, p.z]
    }
}

/// Stored uint16 values of slice `k`, row by row.
fn slice_pixels(vol: &Volume, k: usize, opts: &SeriesWriteOptions) -> Vec<u16> {
    let [ni, nj, _] = vol.dims();
    let slope = if opts.rescale_slope == 0.0 {
        1.0
    } else {
        opts.rescale_slope
    };
    let mut out = Vec::with_capacity(ni * nj);
    for j in 0..nj {
        for i in 0..ni {
            let v = f64::from(vol.data()[[i, j, k]]);
            let s = ((v - opts.rescale_intercept) / slope).round();
            out.push(if s.is_finite() {
                s.clamp(0.0, 65535.0) as u16
            } else {
                0
            });
        }
    }
    out
}

fn elem(tag: Tag, vr: VR, v: impl Into<PrimitiveValue>) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, vr, v.into())
}

fn seq(tag: Tag, items: Vec<InMemDicomObject>) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::SQ, DataSetSequence::from(items))
}

/// Patient/study/series and image-pixel attributes shared by both writers.
fn common(vol: &Volume, opts: &SeriesWriteOptions, sop_class: &str) -> InMemDicomObject {
    let [ni, nj, _] = vol.dims();
    let mut o = InMemDicomObject::new_empty();
    let image_type: C<String> = opts.image_type.iter().cloned().collect();
    for e in [
        elem(tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 100"),
        elem(tags::IMAGE_TYPE, VR::CS, PrimitiveValue::Strs(image_type)),
        elem(tags::SOP_CLASS_UID, VR::UI, sop_class),
        elem(tags::MODALITY, VR::CS, "MR"),
        elem(tags::MANUFACTURER, VR::LO, "strokeseg"),
        elem(
            tags::SERIES_DESCRIPTION,
            VR::LO,
            opts.series_description.as_str(),
        ),
        elem(tags::PATIENT_NAME, VR::PN, opts.patient_name.as_str()),
        elem(tags::PATIENT_ID, VR::LO, opts.patient_id.as_str()),
        elem(tags::STUDY_INSTANCE_UID, VR::UI, opts.study_uid.as_str()),
        elem(tags::SERIES_INSTANCE_UID, VR::UI, opts.series_uid.as_str()),
        elem(tags::SERIES_NUMBER, VR::IS, opts.series_number.to_string()),
        elem(
            tags::FRAME_OF_REFERENCE_UID,
            VR::UI,
            opts.frame_of_reference_uid.as_str(),
        ),
        elem(tags::SAMPLES_PER_PIXEL, VR::US, 1u16),
        elem(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2"),
        elem(tags::ROWS, VR::US, nj.min(65535) as u16),
        elem(tags::COLUMNS, VR::US, ni.min(65535) as u16),
        elem(tags::BITS_ALLOCATED, VR::US, 16u16),
        elem(tags::BITS_STORED, VR::US, 16u16),
        elem(tags::HIGH_BIT, VR::US, 15u16),
        elem(tags::PIXEL_REPRESENTATION, VR::US, 0u16),
    ] {
        o.put(e);
    }
    o
}

fn save(obj: InMemDicomObject, path: &Path) -> Result<(), InputError> {
    let file = obj
        .with_meta(FileMetaTableBuilder::new().transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN))
        .map_err(|e| InputError::dicom(path, format!("cannot build file meta: {e}")))?;
    file.write_to_file(path).map_err(|e| {
        InputError::dicom(
            path,
            format!("cannot write: {}", super::read::error_chain(&e)),
        )
    })
}

/// Writes `vol` as a classic MR Image Storage series, one file per slice (k), named
/// `IM_<instance number>.dcm`, into `dir` (created if needed). Returns the files written.
///
/// # Errors
/// [`InputError`] when a folder or file cannot be written.
pub fn write_mr_series(
    dir: &Path,
    vol: &Volume,
    opts: &SeriesWriteOptions,
) -> Result<Vec<PathBuf>, InputError> {
    std::fs::create_dir_all(dir).map_err(|e| InputError::io(dir, e))?;
    let g = Geometry::of(vol);
    let nk = vol.dims()[2];
    let mut written = Vec::with_capacity(nk);
    for k in 0..nk {
        let instance = opts.instance_number_start + k as i64;
        let path = dir.join(format!("IM_{instance:05}.dcm"));
        let mut o = common(vol, opts, uids::MR_IMAGE_STORAGE);
        let pos = g.position(k);
        for e in [
            elem(tags::SOP_INSTANCE_UID, VR::UI, new_uid()),
            elem(tags::INSTANCE_NUMBER, VR::IS, instance.to_string()),
            elem(tags::IMAGE_POSITION_PATIENT, VR::DS, ds_multi(&pos)),
            elem(tags::IMAGE_ORIENTATION_PATIENT, VR::DS, ds_multi(&g.iop)),
            elem(tags::PIXEL_SPACING, VR::DS, ds_multi(&g.pixel_spacing)),
            elem(tags::SLICE_THICKNESS, VR::DS, ds(g.slice_spacing)),
            elem(tags::SPACING_BETWEEN_SLICES, VR::DS, ds(g.slice_spacing)),
            elem(tags::RESCALE_INTERCEPT, VR::DS, ds(opts.rescale_intercept)),
            elem(tags::RESCALE_SLOPE, VR::DS, ds(opts.rescale_slope)),
            elem(
                tags::PIXEL_DATA,
                VR::OW,
                PrimitiveValue::U16(C::from_vec(slice_pixels(vol, k, opts))),
            ),
        ] {
            o.put(e);
        }
        if let Some(b) = opts.b_value {
            o.put(elem(tags::DIFFUSION_B_VALUE, VR::FD, b));
        }
        save(o, &path)?;
        written.push(path);
    }
    Ok(written)
}

/// Writes one Enhanced MR Image Storage file at `path` holding every slice of every given
/// `(b-value, volume)` as a frame. Orientation and pixel measures go in the shared functional
/// groups (taken from the first volume); position, diffusion and rescale per frame.
///
/// # Errors
/// [`InputError`] when the list is empty, the volumes' dims differ, or the file cannot be
/// written.
pub fn write_enhanced_mr(
    path: &Path,
    vols: &[(Option<f64>, &Volume)],
    opts: &SeriesWriteOptions,
) -> Result<(), InputError> {
    let Some((_, v0)) = vols.first() else {
        return Err(InputError::bad_image(path, "no volumes to write"));
    };
    if vols.iter().any(|(_, v)| v.dims()[..2] != v0.dims()[..2]) {
        return Err(InputError::bad_image(
            path,
            "volumes differ in rows/columns",
        ));
    }
    let g0 = Geometry::of(v0);
    let shared = InMemDicomObject::from_element_iter([
        seq(
            tags::PIXEL_MEASURES_SEQUENCE,
            vec![InMemDicomObject::from_element_iter([
                elem(tags::PIXEL_SPACING, VR::DS, ds_multi(&g0.pixel_spacing)),
                elem(tags::SLICE_THICKNESS, VR::DS, ds(g0.slice_spacing)),
                elem(tags::SPACING_BETWEEN_SLICES, VR::DS, ds(g0.slice_spacing)),
            ])],
        ),
        seq(
            tags::PLANE_ORIENTATION_SEQUENCE,
            vec![InMemDicomObject::from_element_iter([elem(
                tags::IMAGE_ORIENTATION_PATIENT,
                VR::DS,
                ds_multi(&g0.iop),
            )])],
        ),
    ]);
    let mut per_frame = Vec::new();
    let mut pixels: Vec<u16> = Vec::new();
    for (b, vol) in vols {
        let g = Geometry::of(vol);
        for k in 0..vol.dims()[2] {
            let directionality = match b {
                Some(b) if *b >= B0_THRESHOLD => "ISOTROPIC",
                _ => "NONE",
            };
            let mut diffusion = vec![elem(tags::DIFFUSION_DIRECTIONALITY, VR::CS, directionality)];
            if let Some(b) = b {
                diffusion.push(elem(tags::DIFFUSION_B_VALUE, VR::FD, *b));
            }
            per_frame.push(InMemDicomObject::from_element_iter([
                seq(
                    tags::PLANE_POSITION_SEQUENCE,
                    vec![InMemDicomObject::from_element_iter([elem(
                        tags::IMAGE_POSITION_PATIENT,
                        VR::DS,
                        ds_multi(&g.position(k)),
                    )])],
                ),
                seq(
                    tags::MR_DIFFUSION_SEQUENCE,
                    vec![InMemDicomObject::from_element_iter(diffusion)],
                ),
                seq(
                    tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE,
                    vec![InMemDicomObject::from_element_iter([
                        elem(tags::RESCALE_INTERCEPT, VR::DS, ds(opts.rescale_intercept)),
                        elem(tags::RESCALE_SLOPE, VR::DS, ds(opts.rescale_slope)),
                        elem(tags::RESCALE_TYPE, VR::LO, "US"),
                    ])],
                ),
            ]));
            pixels.extend(slice_pixels(vol, k, opts));
        }
    }
    let n_frames = per_frame.len();
    let mut o = common(v0, opts, uids::ENHANCED_MR_IMAGE_STORAGE);
    for e in [
        elem(tags::SOP_INSTANCE_UID, VR::UI, new_uid()),
        elem(
            tags::INSTANCE_NUMBER,
            VR::IS,
            opts.instance_number_start.to_string(),
        ),
        elem(tags::NUMBER_OF_FRAMES, VR::IS, n_frames.to_string()),
        elem(
            tags::PIXEL_DATA,
            VR::OW,
            PrimitiveValue::U16(C::from_vec(pixels)),
        ),
    ] {
        o.put(e);
    }
    o.put(seq(tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE, vec![shared]));
    o.put(seq(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE, per_frame));
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| InputError::io(parent, e))?;
    }
    save(o, path)
}

/// Where [`write_siemens_mosaic`] records the slice count and b-value (a reader must cope
/// with either, as anonymisers drop one or the other).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MosaicWriteOptions {
    /// Write Siemens (0019,100A) NumberOfImagesInMosaic (US) and, with a b-value,
    /// (0019,100C) B_value (IS), under the "SIEMENS MR HEADER" private creator.
    pub siemens_tags: bool,
    /// Write a CSA image header (0029,1010) with NumberOfImagesInMosaic, SliceNormalVector
    /// and, with a b-value, B_value, under the "SIEMENS CSA HEADER" private creator.
    pub csa_header: bool,
}

impl Default for MosaicWriteOptions {
    /// Both.
    fn default() -> Self {
        MosaicWriteOptions {
            siemens_tags: true,
            csa_header: true,
        }
    }
}

/// Writes `vol` as one Siemens mosaic MR image at `path`: its k slices tiled row by row in a
/// ceil(√k) × ceil(√k) grid (blank tiles at the end), ImageType with `MOSAIC`, and, as Siemens
/// does, ImagePositionPatient of the top-left corner of the whole mosaic taken as one image.
/// The slice normal in the CSA header is the direction of the affine's third axis (which may
/// be opposite to row × column). `opts.b_value` goes in the Siemens tags, not (0018,9087).
///
/// # Errors
/// [`InputError`] when the mosaic would exceed 65535 rows/columns or the file cannot be
/// written.
pub fn write_siemens_mosaic(
    path: &Path,
    vol: &Volume,
    opts: &SeriesWriteOptions,
    mosaic: MosaicWriteOptions,
) -> Result<(), InputError> {
    let [ni, nj, nk] = vol.dims();
    let grid = (1..=nk.max(1)).find(|g| g * g >= nk).unwrap_or(1);
    let (rows, cols) = (grid * nj, grid * ni);
    if rows > 65535 || cols > 65535 {
        return Err(InputError::bad_image(
            path,
            format!("mosaic of {rows}×{cols} pixels is too large"),
        ));
    }
    let g = Geometry::of(vol);
    let mut pixels = vec![0u16; rows * cols];
    for k in 0..nk {
        let (tr, tc) = (k / grid, k % grid);
        for (r, line) in slice_pixels(vol, k, opts).chunks_exact(ni).enumerate() {
            let start = (tr * nj + r) * cols + tc * ni;
            pixels[start..start + ni].copy_from_slice(line);
        }
    }
    let row = Vector3::new(g.iop[0], g.iop[1], g.iop[2]);
    let col = Vector3::new(g.iop[3], g.iop[4], g.iop[5]);
    let first = Vector3::from(g.position(0));
    let corner = first
        - col * g.pixel_spacing[0] * (rows - nj) as f64 / 2.0
        - row * g.pixel_spacing[1] * (cols - ni) as f64 / 2.0;
    let normal = Vector3::new(g.lps[(0, 2)], g.lps[(1, 2)], g.lps[(2, 2)]).normalize();

    let mut o = common(vol, opts, uids::MR_IMAGE_STORAGE);
    let mut image_type: Vec<String> = opts.image_type.clone();
    if !image_type.iter().any(|t| t == "MOSAIC") {
        image_type.push("MOSAIC".into());
    }
    for e in [
        elem(
            tags::IMAGE_TYPE,
            VR::CS,
            PrimitiveValue::Strs(image_type.into_iter().collect()),
        ),
        elem(tags::ROWS, VR::US, rows as u16),
        elem(tags::COLUMNS, VR::US, cols as u16),
        elem(tags::SOP_INSTANCE_UID, VR::UI, new_uid()),
        elem(
            tags::INSTANCE_NUMBER,
            VR::IS,
            opts.instance_number_start.to_string(),
        ),
        elem(
            tags::IMAGE_POSITION_PATIENT,
            VR::DS,
            ds_multi(&[corner.x, corner.y, corner.z]),
        ),
        elem(tags::IMAGE_ORIENTATION_PATIENT, VR::DS, ds_multi(&g.iop)),
        elem(tags::PIXEL_SPACING, VR::DS, ds_multi(&g.pixel_spacing)),
        elem(tags::SLICE_THICKNESS, VR::DS, ds(g.slice_spacing)),
        elem(tags::SPACING_BETWEEN_SLICES, VR::DS, ds(g.slice_spacing)),
        elem(tags::RESCALE_INTERCEPT, VR::DS, ds(opts.rescale_intercept)),
        elem(tags::RESCALE_SLOPE, VR::DS, ds(opts.rescale_slope)),
        elem(
            tags::PIXEL_DATA,
            VR::OW,
            PrimitiveValue::U16(C::from_vec(pixels)),
        ),
    ] {
        o.put(e);
    }
    if mosaic.siemens_tags {
        o.put(elem(Tag(0x0019, 0x0010), VR::LO, "SIEMENS MR HEADER"));
        o.put(elem(SIEMENS_N_MOSAIC, VR::US, nk as u16));
        if let Some(b) = opts.b_value {
            o.put(elem(SIEMENS_B_VALUE, VR::IS, format!("{}", b.round())));
        }
    }
    if mosaic.csa_header {
        let mut entries = vec![
            EncodeTag {
                name: "NumberOfImagesInMosaic",
                vr: "US",
                items: vec![nk.to_string()],
            },
            EncodeTag {
                name: "SliceNormalVector",
                vr: "FD",
                items: [normal.x, normal.y, normal.z]
                    .iter()
                    .map(|v| format!("{v:.8}"))
                    .collect(),
            },
        ];
        if let Some(b) = opts.b_value {
            entries.push(EncodeTag {
                name: "B_value",
                vr: "IS",
                items: vec![format!("{}", b.round())],
            });
        }
        o.put(elem(Tag(0x0029, 0x0010), VR::LO, "SIEMENS CSA HEADER"));
        o.put(elem(
            Tag(0x0029, 0x1010),
            VR::OB,
            PrimitiveValue::from(csa::encode(&entries)),
        ));
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| InputError::io(parent, e))?;
    }
    save(o, path)
}
