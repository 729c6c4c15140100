//! Structural limits checked on DICOM bytes *before* dicom-rs builds an object from them.
//!
//! Owns: the nesting-depth and declared-length policy for every DICOM byte stream the
//! product reads (files on disk, uploads, C-STORE data sets). Must not decode values.
//!
//! Why by hand around the parser: dicom-object builds nested sequences recursively, so a
//! crafted file with a few thousand nested undefined-length sequences overflows the thread's
//! stack (an abort, not an error); and the parser reserves a value's *declared* length before
//! reading it, so a 54 KB file declaring a 4 GB element costs 4 GB. The lazy token reader of
//! `dicom-parser` walks the data set iteratively without reading values; this module counts
//! the depth on its tokens and compares each declared length with the bytes left, and walks
//! the file meta group (always explicit VR little endian) itself.

use dicom_encoding::transfer_syntax::{Codec, TransferSyntaxIndex};
use dicom_parser::dataset::lazy_read::LazyDataSetReader;
use dicom_parser::dataset::LazyDataToken;
use dicom_parser::stateful::decode::StatefulDecode;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use std::io::{Read, Seek, SeekFrom};

/// Limits applied to every DICOM byte stream before parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DicomLimits {
    /// Deepest nesting of sequences and items accepted (each sequence and each item counts
    /// one). Real MR objects stay below 10 (enhanced multi-frame functional groups).
    pub max_depth: u32,
}

impl Default for DicomLimits {
    fn default() -> Self {
        Self { max_depth: 32 }
    }
}

/// Checks a Part 10 file (preamble or not, file meta group, data set).
///
/// # Errors
/// A sentence saying what is wrong: too deep, a declared length past the end, or a meta
/// group that cannot be walked. Other damage is left to the parser's own errors.
pub fn check_part10<R: Read + Seek>(mut src: R, limits: &DicomLimits) -> Result<(), String> {
    let end = src
        .seek(SeekFrom::End(0))
        .map_err(|e| format!("cannot seek: {e}"))?;
    let mut magic = [0u8; 4];
    src.seek(SeekFrom::Start(128))
        .and_then(|_| src.read_exact(&mut magic))
        .ok();
    let start = if &magic == b"DICM" {
        132
    } else {
        src.seek(SeekFrom::Start(0)).ok();
        src.read_exact(&mut magic).ok();
        if &magic != b"DICM" {
            return Ok(()); // not Part 10: the parser says so in its own words
        }
        4
    };
    src.seek(SeekFrom::Start(start))
        .map_err(|e| format!("cannot seek: {e}"))?;
    let ts = walk_meta(&mut src, end)?;
    match ts {
        Some(uid) => check_dataset_from(src, &uid, end, limits),
        None => Ok(()), // no transfer syntax: the parser's error names it
    }
}

/// Checks a data set (no meta group) encoded in transfer syntax `ts_uid`, such as one
/// received by C-STORE.
///
/// # Errors
/// As [`check_part10`].
pub fn check_dataset(bytes: &[u8], ts_uid: &str, limits: &DicomLimits) -> Result<(), String> {
    check_dataset_from(
        std::io::Cursor::new(bytes),
        ts_uid,
        bytes.len() as u64,
        limits,
    )
}

/// Walks the file meta group (explicit VR little endian, group 0002) from the current
/// position; returns the transfer syntax UID and leaves the reader at the data set. Like the
/// parser, it trusts (0002,0000) FileMetaInformationGroupLength for where the group ends, and
/// checks every element inside it whatever its tag says.
fn walk_meta<R: Read + Seek>(src: &mut R, end: u64) -> Result<Option<String>, String> {
    let mut ts = None;
    let mut group_end: Option<u64> = None;
    loop {
        let pos = src.stream_position().map_err(|e| e.to_string())?;
        if group_end.is_some_and(|g| pos >= g) {
            return Ok(ts);
        }
        let mut h = [0u8; 8];
        if src.read_exact(&mut h).is_err() {
            return Ok(ts); // truncated: the parser reports it
        }
        let group = u16::from_le_bytes([h[0], h[1]]);
        if group != 0x0002 && group_end.is_none() {
            src.seek(SeekFrom::Start(pos)).map_err(|e| e.to_string())?;
            return Ok(ts);
        }
        let elem = u16::from_le_bytes([h[2], h[3]]);
        let vr = [h[4], h[5]];
        const LONG: [&[u8; 2]; 13] = [
            b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"SQ", b"UT", b"UN", b"UC", b"UR", b"SV",
            b"UV",
        ];
        const SHORT: [&[u8; 2]; 21] = [
            b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT",
            b"PN", b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US",
        ];
        let long = LONG.contains(&&vr);
        // An unknown VR could be read with either length form (found by fuzzing: the meta
        // reader took a 4 GB length from one), so it is refused.
        if !long && !SHORT.contains(&&vr) {
            return Err(format!(
                "file meta element ({group:04X},{elem:04X}) has no valid VR ({:?})",
                String::from_utf8_lossy(&vr)
            ));
        }
        let len = if long {
            let mut l = [0u8; 4];
            if src.read_exact(&mut l).is_err() {
                return Ok(ts);
            }
            u64::from(u32::from_le_bytes(l))
        } else {
            u64::from(u16::from_le_bytes([h[6], h[7]]))
        };
        let here = src.stream_position().map_err(|e| e.to_string())?;
        if len > end.saturating_sub(here) {
            return Err(format!(
                "file meta element ({group:04X},{elem:04X}) declares {len} bytes but only {} remain",
                end.saturating_sub(here)
            ));
        }
        if (group, elem) == (0x0002, 0x0000) && len == 4 && group_end.is_none() {
            let mut v = [0u8; 4];
            src.read_exact(&mut v).map_err(|e| e.to_string())?;
            group_end = Some(here + 4 + u64::from(u32::from_le_bytes(v)));
            continue;
        }
        if (group, elem) == (0x0002, 0x0010) {
            let mut v = vec![0u8; len as usize]; // bounded by the file size just above
            src.read_exact(&mut v).map_err(|e| e.to_string())?;
            ts = Some(
                String::from_utf8_lossy(&v)
                    .trim_end_matches(['\0', ' '])
                    .to_string(),
            );
        } else {
            src.seek(SeekFrom::Current(len as i64))
                .map_err(|e| e.to_string())?;
        }
    }
}

fn check_dataset_from<R: Read + Seek>(
    src: R,
    ts_uid: &str,
    end: u64,
    limits: &DicomLimits,
) -> Result<(), String> {
    let Some(ts) = TransferSyntaxRegistry.get(ts_uid.trim_end_matches('\0')) else {
        return Ok(()); // unknown syntax: the parser's error names it
    };
    if matches!(ts.codec(), Codec::Dataset(_)) {
        return Ok(()); // deflated: the token reader would walk compressed bytes
    }
    let Ok(mut reader) = LazyDataSetReader::new_with_ts(src, ts) else {
        return Ok(()); // e.g. deflated: not walkable here, the parser decides
    };
    let mut depth = 0u32;
    while let Some(token) = reader.advance() {
        // A data set the token reader cannot walk is refused rather than handed to the parser,
        // which may reserve a damaged element's declared length before failing (found by
        // fuzzing: 3.8 GB from a 4 KB file).
        let token = token.map_err(|e| format!("corrupt or truncated data set: {e}"))?;
        match &token {
            LazyDataToken::SequenceStart { .. }
            | LazyDataToken::PixelSequenceStart
            | LazyDataToken::ItemStart { .. } => {
                depth += 1;
                if depth > limits.max_depth {
                    let at = match &token {
                        LazyDataToken::SequenceStart { tag, .. } => format!(" (at {tag})"),
                        _ => String::new(),
                    };
                    return Err(format!(
                        "sequences nested deeper than {} levels{at}",
                        limits.max_depth
                    ));
                }
            }
            LazyDataToken::SequenceEnd | LazyDataToken::ItemEnd => {
                depth = depth.saturating_sub(1);
            }
            LazyDataToken::LazyValue { header, decoder } => {
                let left = end.saturating_sub(decoder.position());
                let len = u64::from(header.len.0);
                if header.len.is_defined() && len > left {
                    return Err(format!(
                        "element {} declares {len} bytes but only {left} remain",
                        header.tag
                    ));
                }
                // The parser reads binary numbers whole and leaves the rest of a length that
                // is not a multiple of their size, so it loses step with what this walk skips
                // and reads garbage as the next header (found by fuzzing: a 362-byte implicit
                // VR data set with a 1-byte UL, then 4 GB reserved for a made-up length).
                let width = binary_width(header.vr);
                if header.len.is_defined() && len % width != 0 {
                    return Err(format!(
                        "element {} ({}) declares {len} bytes, not a multiple of {width}",
                        header.tag,
                        header.vr.to_string()
                    ));
                }
            }
            LazyDataToken::LazyItemValue { len, decoder } => {
                let left = end.saturating_sub(decoder.position());
                if u64::from(*len) > left {
                    return Err(format!(
                        "pixel data fragment declares {len} bytes but only {left} remain"
                    ));
                }
            }
            _ => {}
        }
        let is_value = matches!(
            token,
            LazyDataToken::LazyValue { .. } | LazyDataToken::LazyItemValue { .. }
        );
        if is_value {
            token
                .skip()
                .map_err(|e| format!("corrupt or truncated data set: {e}"))?;
        }
    }
    // The token reader stops early on some damage the parser reads through (found by fuzzing:
    // an implicit VR data set whose walk ended at byte 0 while the parser went on to reserve
    // 3.4 GB). A data set that is not walked to its end is refused.
    let at = reader.into_decoder().position();
    if at < end {
        return Err(format!(
            "corrupt data set: its elements end at byte {at} of {end}"
        ));
    }
    Ok(())
}

/// Bytes per value of a binary VR (1 for the rest).
fn binary_width(vr: dicom_core::VR) -> u64 {
    use dicom_core::VR;
    match vr {
        VR::US | VR::SS | VR::OW => 2,
        VR::UL | VR::SL | VR::FL | VR::AT | VR::OL | VR::OF => 4,
        VR::FD | VR::SV | VR::UV | VR::OD | VR::OV => 8,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `serve_ingest` fuzz target: an implicit VR data set with a 1-byte UL. The
    /// walk skipped 1 byte, the parser read no value and lost step, then reserved 4 GB for a
    /// length made of the following bytes. Refused before parsing now.
    #[test]
    fn a_binary_value_whose_length_is_not_a_multiple_of_its_size_is_refused() {
        let implicit = "1.2.840.10008.1.2";
        // (0028,0010) Rows is US: 1 byte. (0020,0013) InstanceNumber IS: 1 byte is fine.
        let mut bad = vec![0x28, 0x00, 0x10, 0x00, 1, 0, 0, 0, 7];
        bad.extend_from_slice(&[0x20, 0x00, 0x13, 0x00, 2, 0, 0, 0, b'1', b' ']);
        let e = check_dataset(&bad, implicit, &DicomLimits::default()).unwrap_err();
        assert!(
            e.contains("(0028,0010)") && e.contains("not a multiple of 2"),
            "{e}"
        );
        let good = [0x28, 0x00, 0x10, 0x00, 2, 0, 0, 0, 64, 0];
        check_dataset(&good, implicit, &DicomLimits::default()).unwrap();
    }
}
