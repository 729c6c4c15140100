//! Siemens CSA headers: the private (0029,xx10) "CSA Image Header Info" and (0029,xx20) "CSA
//! Series Header Info" elements, a binary list of named items that holds, among others,
//! `NumberOfImagesInMosaic`, `B_value`, `SliceNormalVector` and `DiffusionGradientDirection`.
//!
//! Hand-written on purpose: no maintained Rust crate parses CSA headers (dicom-rs does not;
//! the known implementations are nibabel's `nicom.csareader` and the `csa_header` package in
//! Python, SPM's `spm_dicom_headers.m` and GDCM's C++ `CSAHeader`), and the format is small.
//! This follows nibabel and SPM:
//!
//! - CSA2 (`SV10`): `b"SV10\x04\x03\x02\x01"`, `n_tags` (u32 LE), an unused u32; CSA1 (older
//!   software, no magic): `n_tags`, unused u32.
//! - per tag: name (64 bytes, NUL-terminated), vm (i32), vr (4 bytes), syngodt (i32),
//!   n_items (i32), a marker (i32, 77 or 205);
//! - per item: four i32 (`x0..x3`), then the value, NUL-terminated text, padded to a multiple
//!   of 4 bytes. Its length is `x1` in CSA2, `x0 − n_items of the first tag` in CSA1.

use super::attrs::{text, Obj};
use dicom_core::value::PrimitiveValue;
use dicom_core::Tag;

/// Most tags (and items per tag) a sane header holds (nibabel's limit).
const MAX_ITEMS: usize = 1000;

/// One named CSA element: its value representation and its items as trimmed text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CsaTag {
    pub name: String,
    pub vm: i32,
    pub vr: String,
    pub items: Vec<String>,
}

/// A parsed CSA header.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct CsaHeader {
    pub tags: Vec<CsaTag>,
}

/// Little-endian reader over a byte slice that reports where it ran out.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err(format!(
                "CSA header truncated: {what} needs {n} bytes at offset {} of {}",
                self.pos,
                self.bytes.len()
            ));
        };
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn i32(&mut self, what: &str) -> Result<i32, String> {
        let b = self.take(4, what)?;
        Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u32(&mut self, what: &str) -> Result<u32, String> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// Text up to the first NUL, trimmed.
fn nul_text(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).trim().to_string()
}

/// Parses a CSA header (CSA1 or CSA2).
///
/// # Errors
/// A message when the bytes are not a CSA header or are truncated.
pub(crate) fn parse(bytes: &[u8]) -> Result<CsaHeader, String> {
    let mut c = Cursor { bytes, pos: 0 };
    let csa2 = bytes.starts_with(b"SV10");
    if csa2 {
        c.take(8, "magic")?;
    }
    let n_tags = c.u32("tag count")? as usize;
    c.u32("unused word")?;
    if n_tags == 0 || n_tags > MAX_ITEMS {
        return Err(format!(
            "not a CSA header: {n_tags} tags (expected 1–{MAX_ITEMS})"
        ));
    }
    let mut header = CsaHeader::default();
    let mut first_n_items: Option<i64> = None;
    for t in 0..n_tags {
        let name = nul_text(c.take(64, "tag name")?);
        let vm = c.i32("vm")?;
        let vr = nul_text(c.take(4, "vr")?);
        let _syngodt = c.i32("syngodt")?;
        let n_items = c.i32("item count")?;
        let _marker = c.i32("marker")?;
        let n_items = usize::try_from(n_items)
            .ok()
            .filter(|&n| n <= MAX_ITEMS)
            .ok_or_else(|| format!("CSA tag {t} '{name}': implausible item count {n_items}"))?;
        let first = *first_n_items.get_or_insert(n_items as i64);
        let mut items = Vec::new();
        for _ in 0..n_items {
            let x0 = c.i32("item header")?;
            let x1 = c.i32("item header")?;
            c.take(8, "item header")?;
            let len = if csa2 {
                i64::from(x1)
            } else {
                i64::from(x0) - first
            };
            let len = usize::try_from(len)
                .map_err(|_| format!("CSA tag '{name}': negative item length {len}"))?;
            let value = c.take(len, "item value")?;
            items.push(nul_text(value));
            let pad = (4 - len % 4) % 4;
            // The last item may end the buffer without its padding.
            c.pos = (c.pos + pad).min(bytes.len());
        }
        header.tags.push(CsaTag {
            name,
            vm,
            vr,
            items,
        });
    }
    Ok(header)
}

impl CsaHeader {
    /// The tag called `name` (the first, should there be several).
    pub(crate) fn get(&self, name: &str) -> Option<&CsaTag> {
        self.tags.iter().find(|t| t.name == name)
    }

    /// The numeric values of `name`: its items up to the first empty one (Siemens writes
    /// `n_items` ≥ the real value count and leaves the rest empty), at most `vm` when vm > 0.
    /// `None` when absent, empty, or any value is not a finite number.
    pub(crate) fn numbers(&self, name: &str) -> Option<Vec<f64>> {
        let tag = self.get(name)?;
        let limit = usize::try_from(tag.vm)
            .ok()
            .filter(|&v| v > 0)
            .unwrap_or(usize::MAX);
        let mut out = Vec::new();
        for item in tag.items.iter().take(limit) {
            if item.is_empty() {
                break;
            }
            let v: f64 = item.parse().ok()?;
            if !v.is_finite() {
                return None;
            }
            out.push(v);
        }
        (!out.is_empty()).then_some(out)
    }

    /// The first numeric value of `name`.
    pub(crate) fn number(&self, name: &str) -> Option<f64> {
        self.numbers(name)?.first().copied()
    }
}

/// The raw bytes of the CSA Image Header Info of a data set: the (0029,xx10) element of the
/// private block reserved by "SIEMENS CSA HEADER", or (0029,1010) when no creator says so.
/// `None` when absent.
fn image_header_bytes(obj: &Obj) -> Option<&[u8]> {
    let block = (0x10u16..=0xFF)
        .find(|&b| {
            text(obj, Tag(0x0029, b)).is_some_and(|s| s.eq_ignore_ascii_case("SIEMENS CSA HEADER"))
        })
        .unwrap_or(0x10);
    let elem = obj.get(Tag(0x0029, (block << 8) | 0x10))?;
    match elem.value().primitive()? {
        PrimitiveValue::U8(b) => Some(&b[..]),
        _ => None,
    }
}

/// The parsed CSA Image Header of a data set: `None` when it has none, `Some(Err)` when it
/// has one that cannot be parsed.
pub(crate) fn image_header(obj: &Obj) -> Option<Result<CsaHeader, String>> {
    image_header_bytes(obj).map(parse)
}

/// One value to encode with [`encode`].
#[derive(Debug, Clone)]
pub(crate) struct EncodeTag<'a> {
    pub name: &'a str,
    pub vr: &'a str,
    pub items: Vec<String>,
}

/// Encodes a CSA2 (`SV10`) header, as Siemens writes it (6 items for single values, the vm
/// items filled and the rest empty), for tests and the synthetic mosaic writer.
pub(crate) fn encode(tags: &[EncodeTag]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"SV10\x04\x03\x02\x01");
    out.extend_from_slice(&(tags.len() as u32).to_le_bytes());
    out.extend_from_slice(&77u32.to_le_bytes());
    for t in tags {
        let mut name = [0u8; 64];
        let n = t.name.len().min(63);
        name[..n].copy_from_slice(&t.name.as_bytes()[..n]);
        out.extend_from_slice(&name);
        out.extend_from_slice(&(t.items.len() as i32).to_le_bytes());
        let mut vr = [0u8; 4];
        let n = t.vr.len().min(3);
        vr[..n].copy_from_slice(&t.vr.as_bytes()[..n]);
        out.extend_from_slice(&vr);
        out.extend_from_slice(&0i32.to_le_bytes());
        let n_items = t.items.len().max(6);
        out.extend_from_slice(&(n_items as i32).to_le_bytes());
        out.extend_from_slice(&77i32.to_le_bytes());
        for i in 0..n_items {
            let mut value = t
                .items
                .get(i)
                .map_or_else(Vec::new, |s| s.as_bytes().to_vec());
            if !value.is_empty() {
                value.push(0);
            }
            let len = value.len() as i32;
            for x in [len, len, 77, len] {
                out.extend_from_slice(&x.to_le_bytes());
            }
            out.extend_from_slice(&value);
            out.resize(out.len() + (4 - value.len() % 4) % 4, 0);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_numbers() {
        let bytes = encode(&[
            EncodeTag {
                name: "NumberOfImagesInMosaic",
                vr: "US",
                items: vec!["60".into()],
            },
            EncodeTag {
                name: "SliceNormalVector",
                vr: "FD",
                items: vec!["0.0".into(), "0.1".into(), "0.99".into()],
            },
            EncodeTag {
                name: "ImaComments",
                vr: "LT",
                items: vec![],
            },
        ]);
        let h = parse(&bytes).unwrap();
        assert_eq!(h.tags.len(), 3);
        assert_eq!(h.number("NumberOfImagesInMosaic"), Some(60.0));
        assert_eq!(h.numbers("SliceNormalVector"), Some(vec![0.0, 0.1, 0.99]));
        assert_eq!(h.numbers("ImaComments"), None);
        assert_eq!(h.number("B_value"), None);
        assert_eq!(h.get("SliceNormalVector").unwrap().vr, "FD");
    }

    #[test]
    fn bad_headers_are_errors() {
        assert!(parse(b"").is_err());
        assert!(parse(b"SV10\x04\x03\x02\x01\0\0\0\0M\0\0\0").is_err());
        let bytes = encode(&[EncodeTag {
            name: "B_value",
            vr: "IS",
            items: vec!["1000".into()],
        }]);
        let err = parse(&bytes[..bytes.len() - 40]).unwrap_err();
        assert!(err.contains("truncated"), "{err}");
    }
}
