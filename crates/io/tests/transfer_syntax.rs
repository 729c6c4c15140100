//! The DICOM reader on real files in every transfer syntax we meet: pydicom 3.0.2's test files
//! (MIT; fetched outside the repository by `tools/fetch-test-dicom.sh`, skipped with a message
//! when absent).
//!
//! Lossless variants of `MR_small.dcm` must give exactly its voxels and geometry; the other
//! decodable files are checked against reference statistics computed with pydicom 3.0.2 (with
//! pylibjpeg-openjpeg, i.e. the C OpenJPEG, for JPEG 2000): sum, min, max and a
//! position-weighted sum Σ v·((31·row + 17·col) mod 101) of the rescaled pixels, so transposed
//! or shuffled pixels fail too. Syntaxes that have no pure-Rust decoder must come back as
//! [`InputError::UnsupportedTransferSyntax`] naming the file and the UID.
//!
//! Some files carry no patient geometry (NM, secondary capture); the reader skips such images
//! with a warning, so those are also checked on a copy that gets a plain axial geometry added
//! (the pixel data and transfer syntax left as they are).

use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, VR};
use dicom_dictionary_std::tags;
use std::path::{Path, PathBuf};
use strokeseg_core::Volume;
use strokeseg_io::dicom::{scan_dir, DicomScan};
use strokeseg_io::InputError;
use strokeseg_testkit::pydicom_test_file;
use tempfile::TempDir;

const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
const IMPLICIT_LE: &str = "1.2.840.10008.1.2";
const EXPLICIT_BE: &str = "1.2.840.10008.1.2.2";
const DEFLATED_LE: &str = "1.2.840.10008.1.2.1.99";
const RLE: &str = "1.2.840.10008.1.2.5";
const JPEG_EXTENDED: &str = "1.2.840.10008.1.2.4.51";
const JPEG_LS_LOSSLESS: &str = "1.2.840.10008.1.2.4.80";
const JPEG_LS_NEAR_LOSSLESS: &str = "1.2.840.10008.1.2.4.81";
const J2K_LOSSLESS: &str = "1.2.840.10008.1.2.4.90";
const J2K: &str = "1.2.840.10008.1.2.4.91";

/// A file copied alone into a fresh folder, and what `scan_dir` made of that folder.
struct Scanned {
    _dir: TempDir,
    path: PathBuf,
    result: Result<DicomScan, InputError>,
}

/// The transfer syntax UID recorded in a file's meta group.
fn transfer_syntax_of(path: &Path) -> String {
    let obj = dicom_object::open_file(path)
        .unwrap_or_else(|e| panic!("{}: dicom-object cannot open it: {e}", path.display()));
    obj.meta()
        .transfer_syntax()
        .trim_end_matches(['\0', ' '])
        .to_string()
}

/// Copies pydicom's `name` alone into a temporary folder (checking that it is in transfer
/// syntax `ts`) and scans that folder; `None` (test skipped) when the file is absent.
fn scan_copy(name: &str, ts: &str) -> Option<Scanned> {
    let src = pydicom_test_file(name)?;
    assert_eq!(
        transfer_syntax_of(&src),
        ts,
        "{name}: unexpected transfer syntax"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::copy(&src, &path).unwrap();
    let result = scan_dir(dir.path());
    Some(Scanned {
        _dir: dir,
        path,
        result,
    })
}

/// Like [`scan_copy`], on a copy given an axial geometry (ImageOrientationPatient
/// 1\0\0\0\1\0, ImagePositionPatient 0\0\0, 1 mm pixels and slice) and written back in its
/// own transfer syntax, pixel data untouched.
fn scan_copy_with_geometry(name: &str, ts: &str) -> Option<Scanned> {
    let src = pydicom_test_file(name)?;
    let mut obj = dicom_object::open_file(&src).unwrap();
    assert_eq!(
        obj.meta().transfer_syntax().trim_end_matches(['\0', ' ']),
        ts,
        "{name}: unexpected transfer syntax"
    );
    let ds = |v: &[&str]| PrimitiveValue::Strs(v.iter().map(|s| (*s).to_string()).collect());
    obj.put(DataElement::new(
        tags::IMAGE_ORIENTATION_PATIENT,
        VR::DS,
        ds(&["1", "0", "0", "0", "1", "0"]),
    ));
    obj.put(DataElement::new(
        tags::IMAGE_POSITION_PATIENT,
        VR::DS,
        ds(&["0", "0", "0"]),
    ));
    obj.put(DataElement::new(
        tags::PIXEL_SPACING,
        VR::DS,
        ds(&["1", "1"]),
    ));
    obj.put(DataElement::new(tags::SLICE_THICKNESS, VR::DS, ds(&["1"])));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    obj.write_to_file(&path)
        .unwrap_or_else(|e| panic!("{name}: cannot write the copy: {e}"));
    assert_eq!(transfer_syntax_of(&path), ts, "{name}: copy changed syntax");
    let result = scan_dir(dir.path());
    Some(Scanned {
        _dir: dir,
        path,
        result,
    })
}

/// The only volume of a scan that must hold exactly one series with one volume.
fn only_volume<'a>(name: &str, scan: &'a Result<DicomScan, InputError>) -> &'a Volume {
    let scan = match scan {
        Ok(s) => s,
        Err(e) => panic!("{name}: expected a volume, got error: {e}"),
    };
    assert_eq!(scan.series.len(), 1, "{name}: series");
    assert_eq!(scan.series[0].volumes.len(), 1, "{name}: volumes");
    &scan.series[0].volumes[0].volume
}

/// Reference statistics of a single-slice volume (see the module comment).
#[derive(Debug, PartialEq)]
struct Stats {
    dims: [usize; 3],
    sum: f64,
    min: f64,
    max: f64,
    weighted_sum: f64,
}

/// Voxel `[i, j, 0]` of a single-slice volume is pixel (row j, column i) of the image.
fn stats(v: &Volume) -> Stats {
    let d = v.data();
    let mut s = Stats {
        dims: v.dims(),
        sum: 0.0,
        min: f64::INFINITY,
        max: f64::NEG_INFINITY,
        weighted_sum: 0.0,
    };
    for ((col, row, _), &x) in d.indexed_iter() {
        let x = f64::from(x);
        s.sum += x;
        s.min = s.min.min(x);
        s.max = s.max.max(x);
        s.weighted_sum += x * ((31 * row + 17 * col) % 101) as f64;
    }
    s
}

/// MR_small.dcm (explicit VR little endian), the reference for its lossless variants.
fn mr_small() -> Option<Volume> {
    let s = scan_copy("MR_small.dcm", EXPLICIT_LE)?;
    Some(only_volume("MR_small.dcm", &s.result).clone())
}

/// `name` must decode to exactly MR_small.dcm's voxels on exactly its grid.
fn assert_same_as_mr_small(name: &str, ts: &str) {
    let (Some(reference), Some(s)) = (mr_small(), scan_copy(name, ts)) else {
        return;
    };
    let v = only_volume(name, &s.result);
    assert_eq!(v.dims(), reference.dims(), "{name}: dims");
    let diff = (v.affine() - reference.affine()).abs().max();
    assert!(
        diff < 1e-6,
        "{name}: affine differs by {diff}:\n{}\nvs MR_small.dcm:\n{}",
        v.affine(),
        reference.affine()
    );
    let differing = v
        .data()
        .iter()
        .zip(reference.data().iter())
        .filter(|(a, b)| a != b)
        .count();
    assert_eq!(differing, 0, "{name}: voxels differing from MR_small.dcm");
    assert!(s.result.as_ref().unwrap().warnings.is_empty(), "{name}");
}

/// `name` must be rejected as an undecodable transfer syntax `uid`, naming the file.
fn assert_unsupported(name: &str, uid: &str, name_part: &str) {
    let Some(s) = scan_copy(name, uid) else {
        return;
    };
    match &s.result {
        Err(
            e @ InputError::UnsupportedTransferSyntax {
                path,
                uid: got_uid,
                name: ts_name,
            },
        ) => {
            assert_eq!(*path, s.path, "{name}");
            assert_eq!(got_uid, uid, "{name}");
            assert!(ts_name.contains(name_part), "{name}: {ts_name}");
            let text = e.to_string();
            assert!(text.contains(&s.path.display().to_string()), "{text}");
            assert!(text.contains(uid), "{text}");
        }
        other => panic!("{name}: expected UnsupportedTransferSyntax, got {other:?}"),
    }
}

/// The scan of a file without patient geometry: nothing usable, and a warning that says why
/// (reached only after its pixel data decoded).
fn assert_skipped_for_geometry(name: &str, s: &Scanned) {
    match &s.result {
        Err(InputError::Empty { reason, .. }) => assert!(
            reason.contains("have no usable ImagePositionPatient")
                || reason.contains("have no usable ImageOrientationPatient")
                || reason.contains("have no usable PixelSpacing"),
            "{name}: {reason}"
        ),
        other => panic!("{name}: expected the image skipped for lack of geometry, got {other:?}"),
    }
}

#[test]
fn explicit_vr_little_endian_matches_pydicom() {
    let Some(v) = mr_small() else {
        return;
    };
    // One slice: the slice spacing falls back to SliceThickness (0.8 mm).
    assert_eq!(v.spacing_mm(), [0.3125, 0.3125, 0.8]);
    assert_eq!(
        stats(&v),
        Stats {
            dims: [64, 64, 1],
            sum: 2_125_338.0,
            min: 127.0,
            max: 2145.0,
            weighted_sum: 106_691_053.0,
        }
    );
}

#[test]
fn implicit_vr_little_endian_is_lossless() {
    assert_same_as_mr_small("MR_small_implicit.dcm", IMPLICIT_LE);
}

#[test]
fn explicit_vr_big_endian_is_lossless() {
    assert_same_as_mr_small("MR_small_bigendian.dcm", EXPLICIT_BE);
    assert_same_as_mr_small("MR_small_expb.dcm", EXPLICIT_BE);
}

#[test]
fn rle_lossless_is_lossless() {
    assert_same_as_mr_small("MR_small_RLE.dcm", RLE);
}

#[test]
fn jpeg_2000_lossless_is_lossless() {
    assert_same_as_mr_small("MR_small_jp2klossless.dcm", J2K_LOSSLESS);
}

#[test]
fn jpeg_2000_lossy_ct_matches_openjpeg() {
    // CT, 14 bits stored, signed, rescale intercept −1024.
    let Some(s) = scan_copy("693_J2KI.dcm", J2K) else {
        return;
    };
    assert_eq!(
        stats(only_volume("693_J2KI.dcm", &s.result)),
        Stats {
            dims: [512, 512, 1],
            sum: -270_617_240.0,
            min: -3995.0,
            max: 1812.0,
            weighted_sum: -13_531_055_364.0,
        }
    );
}

#[test]
fn jpeg_2000_unsigned_stream_in_signed_image_matches_pydicom() {
    // pydicom issue 1149: the J2K stream says unsigned, the header PixelRepresentation 1,
    // BitsStored 13; the header wins (negative values are kept).
    let Some(s) = scan_copy("J2K_pixelrep_mismatch.dcm", J2K_LOSSLESS) else {
        return;
    };
    assert_eq!(
        stats(only_volume("J2K_pixelrep_mismatch.dcm", &s.result)),
        Stats {
            dims: [512, 512, 1],
            sum: -172_605_258.0,
            min: -2000.0,
            max: 1896.0,
            weighted_sum: -8_630_675_425.0,
        }
    );
}

#[test]
fn jpeg_2000_without_geometry_decodes() {
    // NM image, 1024 rows × 256 columns, no ImagePositionPatient/ImageOrientationPatient.
    let Some(s) = scan_copy("JPEG2000.dcm", J2K) else {
        return;
    };
    assert_skipped_for_geometry("JPEG2000.dcm", &s);
    let Some(s) = scan_copy_with_geometry("JPEG2000.dcm", J2K) else {
        return;
    };
    assert_eq!(
        stats(only_volume("JPEG2000.dcm", &s.result)),
        Stats {
            dims: [256, 1024, 1],
            sum: 3_527_976.0,
            min: -30.0,
            max: 245.0,
            weighted_sum: 176_401_777.0,
        }
    );
}

#[test]
fn corrupt_jpeg_2000_stream_is_an_error_naming_the_file() {
    // A copy of JPEG2000.dcm with 4 bytes of the codestream overwritten (pydicom #1140).
    let name = "JPEG2000-embedded-sequence-delimiter.dcm";
    let Some(s) = scan_copy(name, J2K) else {
        return;
    };
    match &s.result {
        Err(e @ InputError::Dicom { path, .. }) => {
            assert_eq!(*path, s.path, "{e}");
            assert!(e.to_string().contains("JPEG 2000"), "{e}");
        }
        other => panic!("{name}: expected a DICOM error, got {other:?}"),
    }
}

#[test]
fn deflated_explicit_vr_little_endian_decodes() {
    // Secondary capture, 512 × 512, 8 bits, no patient geometry.
    let Some(s) = scan_copy("image_dfl.dcm", DEFLATED_LE) else {
        return;
    };
    assert_skipped_for_geometry("image_dfl.dcm", &s);
    let Some(s) = scan_copy_with_geometry("image_dfl.dcm", DEFLATED_LE) else {
        return;
    };
    assert_eq!(
        stats(only_volume("image_dfl.dcm", &s.result)),
        Stats {
            dims: [512, 512, 1],
            sum: 33_322_688.0,
            min: 0.0,
            max: 255.0,
            weighted_sum: 1_666_117_814.0,
        }
    );
}

#[test]
fn jpeg_ls_is_unsupported() {
    // CharLS (C++) is not enabled: no pure-Rust JPEG-LS decoder.
    assert_unsupported(
        "MR_small_jpeg_ls_lossless.dcm",
        JPEG_LS_LOSSLESS,
        "JPEG-LS Lossless",
    );
    assert_unsupported(
        "JPEGLSNearLossless_16.dcm",
        JPEG_LS_NEAR_LOSSLESS,
        "JPEG-LS Near-Lossless",
    );
}

#[test]
fn jpeg_extended_12_bit_is_unsupported() {
    // NM, 12-bit lossy JPEG (process 4): jpeg-decoder only decodes 8-bit lossy JPEG. The
    // first file has broken SOS parameters, the second is its fixed version; both fail in
    // the same clean way (before the missing geometry would matter).
    for name in ["JPEG-lossy.dcm", "JPGExtended.dcm"] {
        assert_unsupported(name, JPEG_EXTENDED, "12-bit");
    }
}
