//! Attribute access that never panics: text, numbers (from text or binary VRs, including
//! private tags stored as `UN`), sequences, and the vendor-specific b-value tags.

use dicom_core::value::PrimitiveValue;
use dicom_core::{Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

/// The in-memory data set type used throughout (standard dictionary).
pub(crate) type Obj = InMemDicomObject;

/// b-values below this (s/mm²) count as b≈0 (Philips writes its b0 as 0.001–0.004).
pub const B0_THRESHOLD: f64 = 50.0;

/// Siemens "SIEMENS MR HEADER" B_value (IS).
pub const SIEMENS_B_VALUE: Tag = Tag(0x0019, 0x100C);
/// Siemens "SIEMENS MR HEADER" NumberOfImagesInMosaic (US).
pub const SIEMENS_N_MOSAIC: Tag = Tag(0x0019, 0x100A);
/// GE "GEMS_PARM_01" slop_int_6..9 (IS, multi-valued; first value is b, maybe + 1e9).
pub const GE_B_VALUE: Tag = Tag(0x0043, 0x1039);
/// Philips "Philips Imaging DD 001" DiffusionBFactor (FL).
pub const PHILIPS_B_VALUE: Tag = Tag(0x2001, 0x1003);
/// Philips "Philips Imaging DD 001" DiffusionDirection (CS; `I` = isotropic).
pub const PHILIPS_DIFFUSION_DIRECTION: Tag = Tag(0x2001, 0x1004);

/// The text of an element with leading/trailing spaces and NULs removed (multi-values joined by `\`).
pub(crate) fn text(obj: &Obj, tag: Tag) -> Option<String> {
    let elem = obj.get(tag)?;
    let prim = elem.value().primitive()?;
    let s = match prim {
        PrimitiveValue::U8(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        PrimitiveValue::Empty => return None,
        p => p.to_str().into_owned(),
    };
    let s = trim(&s);
    (!s.is_empty()).then(|| s.to_string())
}

/// The values of a multi-valued text element, each trimmed (empty values kept).
pub(crate) fn texts(obj: &Obj, tag: Tag) -> Vec<String> {
    text(obj, tag)
        .map(|s| s.split('\\').map(|v| trim(v).to_string()).collect())
        .unwrap_or_default()
}

fn trim(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || c == '\0')
}

/// Parses `\`-separated decimal numbers; `None` when empty or any value is not a finite number.
pub(crate) fn parse_numbers(s: &str) -> Option<Vec<f64>> {
    let mut out = Vec::new();
    for part in s.split('\\') {
        let t = trim(part);
        if t.is_empty() {
            continue;
        }
        let v: f64 = t.parse().ok()?;
        if !v.is_finite() {
            return None;
        }
        out.push(v);
    }
    (!out.is_empty()).then_some(out)
}

/// How to read the bytes of an element whose VR is unknown (`UN`, e.g. private tags in
/// implicit-VR files).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RawKind {
    /// Decimal text (IS, DS).
    Text,
    /// Little-endian f32 values (FL).
    F32,
    /// Little-endian f64 values (FD).
    F64,
    /// Little-endian u16 values (US); never read as text.
    U16,
}

fn looks_like_text(bytes: &[u8]) -> bool {
    let t: Vec<u8> = bytes
        .iter()
        .copied()
        .filter(|&b| b != 0 && b != b' ')
        .collect();
    !t.is_empty()
        && t.iter()
            .all(|b| b.is_ascii_digit() || b"+-.eE\\".contains(b))
}

fn decode_raw(bytes: &[u8], kind: RawKind) -> Option<Vec<f64>> {
    if kind == RawKind::U16 {
        return (!bytes.is_empty() && bytes.len() % 2 == 0).then(|| {
            bytes
                .chunks_exact(2)
                .map(|c| f64::from(u16::from_le_bytes([c[0], c[1]])))
                .collect()
        });
    }
    let text_first = kind == RawKind::Text || looks_like_text(bytes);
    if text_first {
        if let Some(v) = parse_numbers(&String::from_utf8_lossy(bytes)) {
            return Some(v);
        }
        if kind == RawKind::Text {
            return None;
        }
    }
    let v: Vec<f64> = match kind {
        RawKind::F32 if !bytes.is_empty() && bytes.len() % 4 == 0 => bytes
            .chunks_exact(4)
            .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        RawKind::F64 if !bytes.is_empty() && bytes.len() % 8 == 0 => bytes
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect(),
        _ => return None,
    };
    v.iter().all(|x| x.is_finite()).then_some(v)
}

/// Numeric values of an element, whatever its VR: decimal text (DS, IS), binary (US, SS, UL,
/// SL, FL, FD, ...), or raw bytes (`UN`/`OB`) interpreted as `raw`. `None` when absent,
/// empty, or not numeric.
pub(crate) fn numbers_as(obj: &Obj, tag: Tag, raw: RawKind) -> Option<Vec<f64>> {
    let elem = obj.get(tag)?;
    let prim = elem.value().primitive()?;
    let v: Vec<f64> = match prim {
        PrimitiveValue::Empty => return None,
        PrimitiveValue::Str(_) | PrimitiveValue::Strs(_) => return parse_numbers(&prim.to_str()),
        PrimitiveValue::U8(b) => {
            if matches!(elem.vr(), VR::UN | VR::OB) {
                return decode_raw(b, raw);
            }
            b.iter().map(|&x| f64::from(x)).collect()
        }
        PrimitiveValue::I16(v) => v.iter().map(|&x| f64::from(x)).collect(),
        PrimitiveValue::U16(v) => v.iter().map(|&x| f64::from(x)).collect(),
        PrimitiveValue::I32(v) => v.iter().map(|&x| f64::from(x)).collect(),
        PrimitiveValue::U32(v) => v.iter().map(|&x| f64::from(x)).collect(),
        PrimitiveValue::I64(v) => v.iter().map(|&x| x as f64).collect(),
        PrimitiveValue::U64(v) => v.iter().map(|&x| x as f64).collect(),
        PrimitiveValue::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
        PrimitiveValue::F64(v) => v.to_vec(),
        _ => return None,
    };
    (!v.is_empty() && v.iter().all(|x| x.is_finite())).then_some(v)
}

/// Numeric values of a standard element (raw bytes read as text).
pub(crate) fn numbers(obj: &Obj, tag: Tag) -> Option<Vec<f64>> {
    numbers_as(obj, tag, RawKind::Text)
}

/// The first numeric value of an element.
pub(crate) fn number(obj: &Obj, tag: Tag) -> Option<f64> {
    numbers(obj, tag).and_then(|v| v.first().copied())
}

/// Exactly `N` numeric values, or `None`.
pub(crate) fn fixed<const N: usize>(obj: &Obj, tag: Tag) -> Option<[f64; N]> {
    let v = numbers(obj, tag)?;
    <[f64; N]>::try_from(v.as_slice()).ok()
}

/// The first value of an integer element.
pub(crate) fn int(obj: &Obj, tag: Tag) -> Option<i64> {
    let v = number(obj, tag)?;
    (v.fract() == 0.0 && v.abs() < 9.0e15).then_some(v as i64)
}

/// The items of a sequence element (`None` when absent or not a sequence).
pub(crate) fn items(obj: &Obj, tag: Tag) -> Option<&[Obj]> {
    obj.get(tag)?.value().items()
}

/// The first item of a sequence element.
pub(crate) fn first_item(obj: &Obj, tag: Tag) -> Option<&Obj> {
    items(obj, tag)?.first()
}

/// Whether the private block holding `tag` is unlabelled or labelled with a creator that
/// contains `vendor` (case-insensitive), so that another vendor's use of the same private
/// tag is not mistaken for a b-value.
fn private_creator_is(obj: &Obj, tag: Tag, vendor: &str) -> bool {
    let block = tag.element() >> 8;
    match text(obj, Tag(tag.group(), block)) {
        None => true,
        Some(creator) => creator.to_uppercase().contains(vendor),
    }
}

/// The b-value (s/mm²) of a single-frame data set (or of a functional-group item), from, in
/// order: (0018,9087) DiffusionBValue, an MR Diffusion Sequence holding one, Siemens
/// (0019,100C), GE (0043,1039) (first value, modulo 10⁹), Philips (2001,1003).
/// `None` when none is present and plausible (finite, 0 ≤ b < 100 000).
pub fn b_value(obj: &InMemDicomObject) -> Option<f64> {
    let plausible = |b: f64| (b.is_finite() && (0.0..100_000.0).contains(&b)).then_some(b);
    let first = |v: Option<Vec<f64>>| v.and_then(|v| v.first().copied());
    if let Some(b) = first(numbers_as(obj, tags::DIFFUSION_B_VALUE, RawKind::F64)) {
        return plausible(b);
    }
    if let Some(b) = first_item(obj, tags::MR_DIFFUSION_SEQUENCE).and_then(b_value) {
        return Some(b);
    }
    if private_creator_is(obj, SIEMENS_B_VALUE, "SIEMENS") {
        if let Some(b) = first(numbers_as(obj, SIEMENS_B_VALUE, RawKind::Text)) {
            return plausible(b);
        }
    }
    if private_creator_is(obj, GE_B_VALUE, "GEMS") {
        if let Some(b) = first(numbers_as(obj, GE_B_VALUE, RawKind::Text)) {
            return plausible(b.rem_euclid(1.0e9));
        }
    }
    if private_creator_is(obj, PHILIPS_B_VALUE, "PHILIPS") {
        if let Some(b) = first(numbers_as(obj, PHILIPS_B_VALUE, RawKind::F32)) {
            return plausible(b);
        }
    }
    None
}

/// Siemens (0019,100A) NumberOfImagesInMosaic (US; raw little-endian bytes when the file is
/// implicit VR), when present under a Siemens (or no) private creator.
pub(crate) fn siemens_mosaic_count(obj: &Obj) -> Option<f64> {
    if !private_creator_is(obj, SIEMENS_N_MOSAIC, "SIEMENS") {
        return None;
    }
    numbers_as(obj, SIEMENS_N_MOSAIC, RawKind::U16).and_then(|v| v.first().copied())
}

/// Whether a data set (or functional-group item) is marked as an isotropic (trace) diffusion
/// image: (0018,9075) DiffusionDirectionality `ISOTROPIC` (also inside an MR Diffusion
/// Sequence), or Philips (2001,1004) DiffusionDirection `I`.
pub(crate) fn is_isotropic(obj: &Obj) -> bool {
    if text(obj, tags::DIFFUSION_DIRECTIONALITY)
        .is_some_and(|s| s.eq_ignore_ascii_case("ISOTROPIC"))
    {
        return true;
    }
    if first_item(obj, tags::MR_DIFFUSION_SEQUENCE).is_some_and(is_isotropic) {
        return true;
    }
    private_creator_is(obj, PHILIPS_DIFFUSION_DIRECTION, "PHILIPS")
        && text(obj, PHILIPS_DIFFUSION_DIRECTION).is_some_and(|s| s.eq_ignore_ascii_case("I"))
}

/// Name of a transfer syntax UID, for messages.
pub(crate) fn transfer_syntax_name(uid: &str) -> &'static str {
    match uid {
        "1.2.840.10008.1.2" => "Implicit VR Little Endian",
        "1.2.840.10008.1.2.1" => "Explicit VR Little Endian",
        "1.2.840.10008.1.2.1.99" => "Deflated Explicit VR Little Endian",
        "1.2.840.10008.1.2.2" => "Explicit VR Big Endian",
        "1.2.840.10008.1.2.4.50" => "JPEG Baseline (Process 1)",
        "1.2.840.10008.1.2.4.51" => "JPEG Extended (Process 2 & 4)",
        "1.2.840.10008.1.2.4.57" => "JPEG Lossless, Non-Hierarchical (Process 14)",
        "1.2.840.10008.1.2.4.70" => "JPEG Lossless, First-Order Prediction",
        "1.2.840.10008.1.2.4.80" => "JPEG-LS Lossless",
        "1.2.840.10008.1.2.4.81" => "JPEG-LS Near-Lossless",
        "1.2.840.10008.1.2.4.90" => "JPEG 2000 (Lossless Only)",
        "1.2.840.10008.1.2.4.91" => "JPEG 2000",
        "1.2.840.10008.1.2.4.92" | "1.2.840.10008.1.2.4.93" => "JPEG 2000 Part 2",
        "1.2.840.10008.1.2.4.201" | "1.2.840.10008.1.2.4.202" | "1.2.840.10008.1.2.4.203" => {
            "High-Throughput JPEG 2000"
        }
        "1.2.840.10008.1.2.4.110" | "1.2.840.10008.1.2.4.111" | "1.2.840.10008.1.2.4.112" => {
            "JPEG XL"
        }
        "1.2.840.10008.1.2.5" => "RLE Lossless",
        u if u.starts_with("1.2.840.10008.1.2.4.10") => "MPEG video",
        _ => "unknown transfer syntax",
    }
}
