//! Reading one file into [`Frame`]s: classic single-frame images, Enhanced MR multi-frame
//! (per-frame functional groups) and Siemens mosaics (one frame per tile), with pixel decoding
//! and the modality rescale.

use super::attrs::{self, first_item, fixed, int, number, text, texts, Obj};
use super::csa::{self, CsaHeader};
use super::mosaic;
use crate::error::InputError;
use dicom_core::value::Value;
use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::file::ReadPreamble;
use dicom_object::{DefaultDicomObject, OpenFileOptions};
use dicom_pixeldata::PixelDecoder;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const FLOAT_PIXEL_DATA: Tag = Tag(0x7FE0, 0x0008);
const DOUBLE_FLOAT_PIXEL_DATA: Tag = Tag(0x7FE0, 0x0009);

/// One 2-D image (a single-frame instance, or one frame of a multi-frame one).
#[derive(Debug, Clone)]
pub(crate) struct Frame {
    pub path: PathBuf,
    /// Frame number inside the file (0 for single-frame files, the tile index for Siemens
    /// mosaics).
    pub frame: u32,
    pub sop_instance_uid: String,
    pub sop_class_uid: String,
    pub study_uid: String,
    pub frame_of_reference_uid: String,
    /// Whether the file is a multi-frame instance (has NumberOfFrames), so that references
    /// to this image need a frame number.
    pub multi_frame: bool,
    /// Patient/study attributes to copy into derived objects (shared by a file's frames).
    pub header: Arc<Obj>,
    pub series_uid: String,
    pub series_number: Option<i64>,
    pub description: String,
    /// Modality (0008,0060), empty when absent.
    pub modality: String,
    pub image_type: Vec<String>,
    pub instance_number: Option<i64>,
    pub rows: usize,
    pub cols: usize,
    /// ImageOrientationPatient: row cosines then column cosines (LPS).
    pub orientation: Option<[f64; 6]>,
    /// ImagePositionPatient (LPS mm).
    pub position: Option<[f64; 3]>,
    /// PixelSpacing: [between rows, between columns] in mm.
    pub pixel_spacing: Option<[f64; 2]>,
    pub slice_thickness: Option<f64>,
    pub spacing_between_slices: Option<f64>,
    pub b_value: Option<f64>,
    pub isotropic: bool,
    /// `rows * cols` values, row by row, rescale applied.
    pub pixels: Vec<f32>,
}

/// What a file turned out to be.
#[derive(Debug)]
pub(crate) enum FileOutcome {
    /// Not usable as an image; the reason becomes a warning.
    Skipped(String),
    /// DICOM, but not an image (structured report, presentation state, DICOMDIR...).
    NoImage,
    /// Image frames.
    Frames(Vec<Frame>),
}

/// `e` and its sources, joined by ": ".
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        let t = inner.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = inner.source();
    }
    s
}

/// Whether the file has the 128-byte preamble followed by `DICM`.
pub(crate) fn has_dicm_marker(path: &Path) -> Result<bool, InputError> {
    let mut f = std::fs::File::open(path).map_err(|e| InputError::io(path, e))?;
    let mut head = [0u8; 132];
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(InputError::io(path, e)),
        }
    }
    Ok(n == 132 && &head[128..132] == b"DICM")
}

/// Reads one file. Non-DICOM files are [`FileOutcome::Skipped`]; a file with a DICOM
/// preamble that cannot be parsed or decoded is an error naming it.
pub(crate) fn read_file(path: &Path) -> Result<FileOutcome, InputError> {
    if !has_dicm_marker(path)? {
        // Issue 16 item 8: an empty or damaged first/last slice was dropped with a warning
        // only, and the study read with one slice fewer. A file that is empty, or named as a
        // DICOM image, is damage, not a stray file.
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        if !name.starts_with('.') {
            let empty = std::fs::metadata(path).is_ok_and(|m| m.len() == 0);
            if empty {
                return Err(InputError::dicom(
                    path,
                    "empty file (0 bytes) among the DICOM files: an interrupted copy? Remove it or copy the series again",
                ));
            }
            if name.ends_with(".dcm") || name.ends_with(".ima") {
                return Err(InputError::dicom(
                    path,
                    "named as a DICOM image but has no DICM marker (damaged or not DICOM)",
                ));
            }
        }
        return Ok(FileOutcome::Skipped(
            "not a DICOM file (no DICM marker)".into(),
        ));
    }
    let file = std::fs::File::open(path).map_err(|e| InputError::io(path, e))?;
    super::guard::check_part10(
        std::io::BufReader::new(file),
        &super::DicomLimits::default(),
    )
    .map_err(|m| InputError::dicom(path, format!("refused before parsing: {m}")))?;
    let obj = OpenFileOptions::new()
        .read_preamble(ReadPreamble::Always)
        .open_file(path)
        .map_err(|e| {
            InputError::dicom(
                path,
                format!("corrupt or truncated file: {}", error_chain(&e)),
            )
        })?;
    let has_pixels = [tags::PIXEL_DATA, FLOAT_PIXEL_DATA, DOUBLE_FLOAT_PIXEL_DATA]
        .iter()
        .any(|&t| obj.get(t).is_some());
    if !has_pixels {
        if obj.get(tags::ROWS).is_some() && obj.get(tags::COLUMNS).is_some() {
            return Err(InputError::dicom(
                path,
                "image attributes but no pixel data (truncated file?)",
            ));
        }
        tracing::debug!("{}: DICOM without pixel data, skipped", path.display());
        return Ok(FileOutcome::NoImage);
    }
    frames_of(path, &obj)
}

fn frames_of(path: &Path, file: &DefaultDicomObject) -> Result<FileOutcome, InputError> {
    let obj: &Obj = file;
    let rows = int(obj, tags::ROWS).unwrap_or(0);
    let cols = int(obj, tags::COLUMNS).unwrap_or(0);
    if rows <= 0 || cols <= 0 {
        return Err(InputError::dicom(
            path,
            format!("bad image size {rows}×{cols}"),
        ));
    }
    let (rows, cols) = (rows as usize, cols as usize);
    let spp = int(obj, tags::SAMPLES_PER_PIXEL).unwrap_or(1);
    if spp != 1 {
        return Ok(FileOutcome::Skipped(format!(
            "{spp} samples per pixel (colour image), skipped"
        )));
    }
    let n_frames = int(obj, tags::NUMBER_OF_FRAMES).unwrap_or(1).max(1);
    if n_frames > 1_000_000 {
        return Err(InputError::dicom(
            path,
            format!("implausible NumberOfFrames {n_frames}"),
        ));
    }
    let n_frames = n_frames as usize;
    let per_frame = attrs::items(obj, tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE);
    if n_frames > 1 && per_frame.is_none() {
        return Ok(FileOutcome::Skipped(format!(
            "multi-frame image ({n_frames} frames) without per-frame geometry, skipped"
        )));
    }
    let csa = csa::image_header(obj);
    let image_type: Vec<String> = texts(obj, tags::IMAGE_TYPE)
        .into_iter()
        .map(|s| s.to_uppercase())
        .collect();
    let mosaic = mosaic::layout(path, obj, &image_type, csa.as_ref(), (rows, cols), n_frames)?;
    let raw = decode_pixels(path, file, rows * cols, n_frames)?;

    let base = Frame {
        path: path.to_path_buf(),
        frame: 0,
        sop_instance_uid: text(obj, tags::SOP_INSTANCE_UID).unwrap_or_default(),
        sop_class_uid: text(obj, tags::SOP_CLASS_UID).unwrap_or_default(),
        study_uid: text(obj, tags::STUDY_INSTANCE_UID).unwrap_or_default(),
        frame_of_reference_uid: text(obj, tags::FRAME_OF_REFERENCE_UID).unwrap_or_default(),
        multi_frame: obj.get(tags::NUMBER_OF_FRAMES).is_some(),
        header: Arc::new(super::provenance::copied_attributes(obj)),
        series_uid: text(obj, tags::SERIES_INSTANCE_UID).unwrap_or_default(),
        series_number: int(obj, tags::SERIES_NUMBER),
        description: text(obj, tags::SERIES_DESCRIPTION).unwrap_or_default(),
        modality: text(obj, tags::MODALITY).unwrap_or_default(),
        image_type,
        instance_number: int(obj, tags::INSTANCE_NUMBER),
        rows,
        cols,
        orientation: fixed::<6>(obj, tags::IMAGE_ORIENTATION_PATIENT),
        position: fixed::<3>(obj, tags::IMAGE_POSITION_PATIENT),
        pixel_spacing: fixed::<2>(obj, tags::PIXEL_SPACING),
        slice_thickness: number(obj, tags::SLICE_THICKNESS),
        spacing_between_slices: number(obj, tags::SPACING_BETWEEN_SLICES),
        b_value: attrs::b_value(obj).or_else(|| csa_b_value(csa.as_ref())),
        isotropic: attrs::is_isotropic(obj),
        pixels: Vec::new(),
    };
    let top_rescale = rescale_of(obj);
    let mut frames = Vec::with_capacity(n_frames);
    let shared = first_item(obj, tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE);
    for (f, raw_frame) in raw.chunks_exact(rows * cols).take(n_frames).enumerate() {
        let mut fr = base.clone();
        fr.frame = f as u32;
        let mut rescale = top_rescale;
        if let Some(pf) = per_frame {
            let item = pf.get(f);
            apply_functional_groups(&mut fr, &mut rescale, shared, item);
        }
        let (slope, intercept) = rescale;
        fr.pixels = raw_frame
            .iter()
            .map(|&v| (v * slope + intercept) as f32)
            .collect();
        frames.push(fr);
    }
    if let Some(layout) = mosaic {
        let normal = mosaic::csa_slice_normal(csa.as_ref().and_then(|r| r.as_ref().ok()));
        let mut tiles = Vec::with_capacity(layout.n * frames.len());
        for f in frames {
            tiles.extend(mosaic::split(f, &layout, normal)?);
        }
        return Ok(FileOutcome::Frames(tiles));
    }
    Ok(FileOutcome::Frames(frames))
}

/// The CSA image header's `B_value` (Siemens), when plausible (0 ≤ b < 100 000 s/mm²).
fn csa_b_value(csa: Option<&Result<CsaHeader, String>>) -> Option<f64> {
    let h = csa?.as_ref().ok()?;
    h.number("B_value").filter(|b| (0.0..100_000.0).contains(b))
}

/// (slope, intercept) of a data set, defaulting to (1, 0) for missing or unusable values.
fn rescale_of(obj: &Obj) -> (f64, f64) {
    let slope = number(obj, tags::RESCALE_SLOPE).filter(|s| *s != 0.0);
    let intercept = number(obj, tags::RESCALE_INTERCEPT);
    (slope.unwrap_or(1.0), intercept.unwrap_or(0.0))
}

/// Looks an attribute up in the per-frame item's `seq`, then in the shared item's.
fn lookup<'a, T>(
    per: Option<&'a Obj>,
    shared: Option<&'a Obj>,
    seq: Tag,
    get: impl Fn(&'a Obj) -> Option<T>,
) -> Option<T> {
    [per, shared]
        .into_iter()
        .flatten()
        .filter_map(|group| first_item(group, seq))
        .find_map(get)
}

/// Fills geometry, b-value and rescale of frame `fr` from the Enhanced MR functional groups
/// (per-frame first, then shared; top-level values stay when neither has them).
fn apply_functional_groups(
    fr: &mut Frame,
    rescale: &mut (f64, f64),
    shared: Option<&Obj>,
    per: Option<&Obj>,
) {
    if let Some(p) = lookup(per, shared, tags::PLANE_POSITION_SEQUENCE, |o| {
        fixed::<3>(o, tags::IMAGE_POSITION_PATIENT)
    }) {
        fr.position = Some(p);
    }
    if let Some(o) = lookup(per, shared, tags::PLANE_ORIENTATION_SEQUENCE, |o| {
        fixed::<6>(o, tags::IMAGE_ORIENTATION_PATIENT)
    }) {
        fr.orientation = Some(o);
    }
    if let Some(s) = lookup(per, shared, tags::PIXEL_MEASURES_SEQUENCE, |o| {
        fixed::<2>(o, tags::PIXEL_SPACING)
    }) {
        fr.pixel_spacing = Some(s);
    }
    if let Some(t) = lookup(per, shared, tags::PIXEL_MEASURES_SEQUENCE, |o| {
        number(o, tags::SLICE_THICKNESS)
    }) {
        fr.slice_thickness = Some(t);
    }
    if let Some(t) = lookup(per, shared, tags::PIXEL_MEASURES_SEQUENCE, |o| {
        number(o, tags::SPACING_BETWEEN_SLICES)
    }) {
        fr.spacing_between_slices = Some(t);
    }
    let diffusion = lookup(per, shared, tags::MR_DIFFUSION_SEQUENCE, Some);
    if let Some(d) = diffusion {
        if let Some(b) = attrs::b_value(d) {
            fr.b_value = Some(b);
        }
        fr.isotropic |= attrs::is_isotropic(d);
    }
    if let Some(r) = lookup(
        per,
        shared,
        tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE,
        |o| {
            o.get(tags::RESCALE_SLOPE)
                .or(o.get(tags::RESCALE_INTERCEPT))
                .map(|_| rescale_of(o))
        },
    ) {
        *rescale = r;
    }
}

/// The stored pixel values (no rescale) of all frames, `frame_len` per frame.
fn decode_pixels(
    path: &Path,
    file: &DefaultDicomObject,
    frame_len: usize,
    n_frames: usize,
) -> Result<Vec<f64>, InputError> {
    let obj: &Obj = file;
    let need = frame_len * n_frames;
    let short = |have: usize| {
        InputError::dicom(
            path,
            format!("pixel data holds {have} values, expected {need} (truncated file?)"),
        )
    };
    for (tag, width) in [(FLOAT_PIXEL_DATA, 4usize), (DOUBLE_FLOAT_PIXEL_DATA, 8)] {
        if let Some(e) = obj.get(tag) {
            let bytes = e
                .to_bytes()
                .map_err(|err| InputError::dicom(path, format!("float pixel data: {err}")))?;
            let v: Vec<f64> = if width == 4 {
                bytes
                    .chunks_exact(4)
                    .map(|c| f64::from(f32::from_ne_bytes([c[0], c[1], c[2], c[3]])))
                    .collect()
            } else {
                bytes
                    .chunks_exact(8)
                    .map(|c| f64::from_ne_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                    .collect()
            };
            return if v.len() < need {
                Err(short(v.len()))
            } else {
                Ok(v)
            };
        }
    }

    let encapsulated = matches!(
        obj.get(tags::PIXEL_DATA).map(|e| e.value()),
        Some(Value::PixelSequence(_))
    );
    let ba = int(obj, tags::BITS_ALLOCATED).unwrap_or(16);
    let bs = int(obj, tags::BITS_STORED).unwrap_or(ba);
    let signed = int(obj, tags::PIXEL_REPRESENTATION).unwrap_or(0) == 1;
    if !encapsulated {
        let bytes = obj
            .get(tags::PIXEL_DATA)
            .ok_or_else(|| InputError::dicom(path, "no pixel data"))?
            .to_bytes()
            .map_err(|e| InputError::dicom(path, format!("pixel data: {e}")))?;
        let v = samples(path, &bytes, ba, bs, signed)?;
        return if v.len() < need {
            Err(short(v.len()))
        } else {
            Ok(v)
        };
    }
    let uid = file.meta().transfer_syntax().to_string();
    let name = attrs::transfer_syntax_name(&uid).to_string();
    let decoded = file.decode_pixel_data().map_err(|e| {
        let msg = error_chain(&e);
        let lower = msg.to_lowercase();
        if lower.contains("transfer syntax") || lower.contains("transfersyntax") {
            InputError::UnsupportedTransferSyntax {
                path: path.to_path_buf(),
                uid: uid.clone(),
                name: name.clone(),
            }
        } else if let Some(feature) = unsupported_jpeg_feature(&msg) {
            // The syntax is registered, but this variant of it is not decodable in pure Rust
            // (jpeg-decoder has no 12-bit lossy JPEG, the usual form of JPEG Extended).
            InputError::UnsupportedTransferSyntax {
                path: path.to_path_buf(),
                uid: uid.clone(),
                name: format!("{name}, {feature}"),
            }
        } else {
            InputError::dicom(path, format!("cannot decode {name} pixel data: {msg}"))
        }
    })?;
    let signed = decoded.pixel_representation() == dicom_pixeldata::PixelRepresentation::Signed;
    let v = samples(
        path,
        decoded.data(),
        i64::from(decoded.bits_allocated()),
        i64::from(decoded.bits_stored()),
        signed,
    )?;
    if v.len() < need {
        Err(short(v.len()))
    } else {
        Ok(v)
    }
}

/// The JPEG coding feature a decoder error says it lacks (`"12-bit samples"` for
/// jpeg-decoder's `unsupported JPEG feature: SamplePrecision(12)`), if that is the error.
fn unsupported_jpeg_feature(msg: &str) -> Option<String> {
    const MARK: &str = "unsupported JPEG feature: ";
    let rest = &msg[msg.find(MARK)? + MARK.len()..];
    let feature = rest.split(':').next().unwrap_or(rest).trim();
    let bits = feature
        .strip_prefix("SamplePrecision(")
        .and_then(|s| s.strip_suffix(')'));
    Some(match bits {
        Some(b) => format!("{b}-bit samples"),
        None => format!("JPEG feature {feature}"),
    })
}

/// Native-endian samples of `ba` bits allocated, `bs` bits stored, as f64.
pub(super) fn samples(
    path: &Path,
    bytes: &[u8],
    ba: i64,
    bs: i64,
    signed: bool,
) -> Result<Vec<f64>, InputError> {
    let bs = if (1..=ba).contains(&bs) {
        bs as u32
    } else {
        ba as u32
    };
    let conv = |u: u32| -> f64 {
        let mask = if bs >= 32 { u32::MAX } else { (1u32 << bs) - 1 };
        let u = u & mask;
        if signed && bs < 32 && (u >> (bs - 1)) & 1 == 1 {
            f64::from(u) - f64::from(1u32 << (bs - 1)) * 2.0
        } else if signed && bs == 32 {
            f64::from(u as i32)
        } else {
            f64::from(u)
        }
    };
    Ok(match ba {
        // Binary segmentations: 8 pixels a byte, least significant bit first, frames packed
        // back to back (PS3.5 8.1.1).
        1 => bytes
            .iter()
            .flat_map(|&b| (0..8).map(move |i| f64::from((b >> i) & 1)))
            .collect(),
        8 => bytes.iter().map(|&b| conv(u32::from(b))).collect(),
        16 => bytes
            .chunks_exact(2)
            .map(|c| conv(u32::from(u16::from_ne_bytes([c[0], c[1]]))))
            .collect(),
        32 => bytes
            .chunks_exact(4)
            .map(|c| conv(u32::from_ne_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        _ => {
            return Err(InputError::dicom(
                path,
                format!("unsupported BitsAllocated {ba} (expected 1, 8, 16 or 32)"),
            ))
        }
    })
}
