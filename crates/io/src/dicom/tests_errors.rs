//! Tests of the DICOM reader's error paths (truncated files, missing slices, unequal spacing,
//! unsupported transfer syntaxes), vendor b-value tags and pixel sample formats.

use super::tests::*;
use super::*;
use dicom_core::value::{PixelFragmentSequence, PrimitiveValue, Value};
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use nalgebra::{Matrix4, Vector3, Vector4};

#[test]
fn truncated_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let v = volume([8, 6, 5], oblique_affine(), b0_values);
    let files = write_mr_series(dir.path(), &v, &opts(&uid_from(11), None, 1)).unwrap();
    let victim = &files[2];
    let bytes = std::fs::read(victim).unwrap();
    std::fs::write(victim, &bytes[..bytes.len() / 2]).unwrap();
    match scan_dir(dir.path()) {
        Err(InputError::Dicom { path, reason }) => {
            eprintln!("{reason}");
            assert_eq!(&path, victim, "{reason}");
        }
        other => panic!("expected a DICOM error naming the file, got {other:?}"),
    }
    // Also when only the end of the pixel data is missing.
    std::fs::write(victim, &bytes[..bytes.len() - 10]).unwrap();
    match scan_dir(dir.path()) {
        Err(InputError::Dicom { path, reason }) => {
            eprintln!("{reason}");
            assert_eq!(&path, victim, "{reason}");
        }
        other => panic!("expected a DICOM error naming the file, got {other:?}"),
    }
}

/// Position of slice k along the LPS slice normal (what the reader reports).
fn normal_position(a: &Matrix4<f64>, k: usize) -> f64 {
    let lps = Matrix4::from_diagonal(&Vector4::new(-1.0, -1.0, 1.0, 1.0)) * a;
    let col = |c: usize| Vector3::new(lps[(0, c)], lps[(1, c)], lps[(2, c)]);
    let n = col(0).cross(&col(1)).normalize();
    let p = lps * Vector4::new(0.0, 0.0, k as f64, 1.0);
    n.dot(&Vector3::new(p.x, p.y, p.z))
}

#[test]
fn missing_slice_is_reported_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let a = oblique_affine();
    let v = volume([8, 6, 6], a, b0_values);
    let files = write_mr_series(dir.path(), &v, &opts(&uid_from(12), Some(1000.0), 1)).unwrap();
    std::fs::remove_file(&files[3]).unwrap();
    let err = scan_dir(dir.path()).unwrap_err();
    let msg = err.to_string();
    eprintln!("{msg}");
    let at = format!("{:.1}", normal_position(&a, 3));
    assert!(
        msg.contains("missing") && msg.contains(&at),
        "{msg} (want {at})"
    );
    assert!(msg.contains(&uid_from(12)), "{msg}");
    assert!(matches!(err, InputError::Dicom { ref path, .. } if path == dir.path()));
}

#[test]
fn unequal_spacing_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let uid = uid_from(13);
    for (n, z) in [0.0, 5.0, 10.0, 16.0, 21.0].into_iter().enumerate() {
        let mut a = Matrix4::from_diagonal(&Vector4::new(1.0, 1.0, 5.0, 1.0));
        a[(2, 3)] = z;
        let v = volume([8, 6, 1], a, b0_values);
        write_mr_series(dir.path(), &v, &opts(&uid, None, n as i64 + 1)).unwrap();
    }
    let msg = scan_dir(dir.path()).unwrap_err().to_string();
    eprintln!("{msg}");
    assert!(msg.contains("unequal"), "{msg}");
}

#[test]
fn unequal_counts_per_position_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let a = oblique_affine();
    let uid = uid_from(14);
    let v = volume([8, 6, 5], a, b0_values);
    write_mr_series(dir.path(), &v, &opts(&uid, Some(1000.0), 1)).unwrap();
    let files = write_mr_series(dir.path(), &v, &opts(&uid, Some(1000.0), 11)).unwrap();
    std::fs::remove_file(&files[4]).unwrap();
    let msg = scan_dir(dir.path()).unwrap_err().to_string();
    assert!(msg.contains("unequal numbers of images"), "{msg}");
}

#[test]
fn empty_and_missing_folders() {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        matches!(scan_dir(dir.path()), Err(InputError::Empty { ref path, .. }) if path == dir.path())
    );
    std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
    assert!(matches!(
        scan_dir(dir.path()),
        Err(InputError::Empty { .. })
    ));
    let missing = dir.path().join("nope");
    assert!(matches!(scan_dir(&missing), Err(InputError::Io { ref path, .. }) if *path == missing));
}

#[test]
fn undecodable_transfer_syntax_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let v = volume([8, 6, 1], oblique_affine(), b0_values);
    let files = write_mr_series(dir.path(), &v, &opts(&uid_from(16), None, 1)).unwrap();
    let mut obj = dicom_object::open_file(&files[0]).unwrap();
    // JPEG-LS: registered by dicom-rs, but its decoder (CharLS) is C++ and not enabled.
    let jpeg_ls = "1.2.840.10008.1.2.4.80";
    obj.meta_mut().transfer_syntax = jpeg_ls.to_string();
    obj.meta_mut().update_information_group_length();
    obj.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OB,
        Value::PixelSequence(PixelFragmentSequence::new(
            Vec::<u32>::new(),
            vec![vec![0u8; 16]],
        )),
    ));
    if let Err(e) = obj.write_to_file(&files[0]) {
        eprintln!("skipping: cannot write a JPEG-LS test file: {e}");
        return;
    }
    match scan_dir(dir.path()) {
        Err(InputError::UnsupportedTransferSyntax { path, uid, name }) => {
            assert_eq!(path, files[0]);
            assert_eq!(uid, jpeg_ls);
            assert!(name.contains("JPEG-LS"), "{name}");
        }
        other => panic!("expected UnsupportedTransferSyntax, got {other:?}"),
    }
}

fn obj_with(elems: Vec<DataElement<InMemDicomObject>>) -> InMemDicomObject {
    InMemDicomObject::from_element_iter(elems)
}

#[test]
fn vendor_b_value_tags() {
    let un = |tag: Tag, bytes: &[u8]| DataElement::new(tag, VR::UN, PrimitiveValue::from(bytes));
    // Standard FD.
    let o = obj_with(vec![DataElement::new(
        tags::DIFFUSION_B_VALUE,
        VR::FD,
        PrimitiveValue::from(800.0f64),
    )]);
    assert_eq!(b_value(&o), Some(800.0));
    let o = obj_with(vec![un(tags::DIFFUSION_B_VALUE, &1500.0f64.to_le_bytes())]);
    assert_eq!(b_value(&o), Some(1500.0));
    // Siemens IS, explicit and UN, with and without a private creator.
    let o = obj_with(vec![DataElement::new(
        Tag(0x0019, 0x100C),
        VR::IS,
        PrimitiveValue::from("1000"),
    )]);
    assert_eq!(b_value(&o), Some(1000.0));
    let o = obj_with(vec![
        DataElement::new(
            Tag(0x0019, 0x0010),
            VR::LO,
            PrimitiveValue::from("SIEMENS MR HEADER"),
        ),
        un(Tag(0x0019, 0x100C), b"0 "),
    ]);
    assert_eq!(b_value(&o), Some(0.0));
    // Same tag under another vendor's creator is not a b-value.
    let o = obj_with(vec![
        DataElement::new(
            Tag(0x0019, 0x0010),
            VR::LO,
            PrimitiveValue::from("GEMS_ACQU_01"),
        ),
        DataElement::new(Tag(0x0019, 0x100C), VR::IS, PrimitiveValue::from("1000")),
    ]);
    assert_eq!(b_value(&o), None);
    // GE: multi-valued IS, first value, 1e9 offset.
    let strs = |v: &[&str]| PrimitiveValue::Strs(v.iter().map(|s| s.to_string()).collect());
    let o = obj_with(vec![DataElement::new(
        GE_TAG,
        VR::IS,
        strs(&["1000000001000", "8", "0", "0"]),
    )]);
    assert_eq!(b_value(&o), Some(1000.0));
    let o = obj_with(vec![un(GE_TAG, b"1000000000\\8\\0\\0 ")]);
    assert_eq!(b_value(&o), Some(0.0));
    let o = obj_with(vec![DataElement::new(GE_TAG, VR::IS, strs(&["2000", "0"]))]);
    assert_eq!(b_value(&o), Some(2000.0));
    // Philips FL, explicit and UN (little-endian f32).
    let o = obj_with(vec![DataElement::new(
        Tag(0x2001, 0x1003),
        VR::FL,
        PrimitiveValue::from(1000.0f32),
    )]);
    assert_eq!(b_value(&o), Some(1000.0));
    let o = obj_with(vec![un(Tag(0x2001, 0x1003), &0.001f32.to_le_bytes())]);
    let b = b_value(&o).unwrap();
    assert!((b - 0.001).abs() < 1e-9 && b < B0_THRESHOLD, "{b}");
    // Standard tag wins over private ones; nothing → None.
    let o = obj_with(vec![
        DataElement::new(
            tags::DIFFUSION_B_VALUE,
            VR::FD,
            PrimitiveValue::from(0.0f64),
        ),
        DataElement::new(Tag(0x2001, 0x1003), VR::FL, PrimitiveValue::from(1000.0f32)),
    ]);
    assert_eq!(b_value(&o), Some(0.0));
    assert_eq!(b_value(&InMemDicomObject::new_empty()), None);
}

const GE_TAG: Tag = Tag(0x0043, 0x1039);

#[test]
fn pixel_sample_formats() {
    let p = Path::new("x");
    // 8-bit signed, 8 bits stored.
    assert_eq!(
        read::samples(p, &[0x7F, 0x80, 0xFF], 8, 8, true).unwrap(),
        vec![127.0, -128.0, -1.0]
    );
    // 16-bit signed with 12 bits stored (sign in bit 11).
    let v: Vec<u8> = [0x0FFFu16, 0x0800, 0x07FF]
        .iter()
        .flat_map(|x| x.to_ne_bytes())
        .collect();
    assert_eq!(
        read::samples(p, &v, 16, 12, true).unwrap(),
        vec![-1.0, -2048.0, 2047.0]
    );
    // 16-bit unsigned.
    let v: Vec<u8> = [65535u16, 3].iter().flat_map(|x| x.to_ne_bytes()).collect();
    assert_eq!(
        read::samples(p, &v, 16, 16, false).unwrap(),
        vec![65535.0, 3.0]
    );
    // 32-bit signed and unsigned.
    let v: Vec<u8> = [-5i32, 70000]
        .iter()
        .flat_map(|x| x.to_ne_bytes())
        .collect();
    assert_eq!(
        read::samples(p, &v, 32, 32, true).unwrap(),
        vec![-5.0, 70000.0]
    );
    let v: Vec<u8> = [u32::MAX].iter().flat_map(|x| x.to_ne_bytes()).collect();
    assert_eq!(
        read::samples(p, &v, 32, 32, false).unwrap(),
        vec![f64::from(u32::MAX)]
    );
    // 1-bit (binary segmentations): least significant bit first.
    assert_eq!(
        read::samples(p, &[0b0000_0101], 1, 1, false).unwrap(),
        vec![1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    );
    assert!(read::samples(p, &[0, 0], 12, 12, false).is_err());
}

/// Issue 16 item 7: a negative PixelSpacing was accepted; the grid flipped and the call changed.
#[test]
fn negative_pixel_spacing_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let v = volume([8, 6, 5], oblique_affine(), b0_values);
    let files = write_mr_series(dir.path(), &v, &opts(&uid_from(12), None, 1)).unwrap();
    for f in &files {
        let mut obj = dicom_object::open_file(f).unwrap();
        obj.put(DataElement::new(
            tags::PIXEL_SPACING,
            VR::DS,
            PrimitiveValue::from("-2.0\\2.0"),
        ));
        obj.write_to_file(f).unwrap();
    }
    let e = scan_dir(dir.path()).expect_err("refused").to_string();
    assert!(
        e.contains("PixelSpacing") && files.iter().any(|f| e.contains(&f.display().to_string())),
        "{e}"
    );
}

/// Issue 16 item 8: an empty or non-DICOM first/last slice was dropped (17 of 18 slices read,
/// exit 0, a warning only inside the JSON). Now an error naming the file.
#[test]
fn empty_or_damaged_end_slice_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let v = volume([8, 6, 5], oblique_affine(), b0_values);
    let files = write_mr_series(dir.path(), &v, &opts(&uid_from(13), None, 1)).unwrap();
    std::fs::write(&files[0], b"").unwrap();
    let e = scan_dir(dir.path()).expect_err("refused").to_string();
    assert!(
        e.contains(&files[0].display().to_string()) && e.contains("empty"),
        "{e}"
    );
    let dir = tempfile::tempdir().unwrap();
    let files = write_mr_series(dir.path(), &v, &opts(&uid_from(14), None, 1)).unwrap();
    let last = files.last().unwrap();
    std::fs::write(last, vec![7u8; 600]).unwrap();
    let e = scan_dir(dir.path()).expect_err("refused").to_string();
    assert!(
        e.contains(&last.display().to_string()) && e.contains("DICM"),
        "{e}"
    );
    // A stray non-image file (not named .dcm) is still skipped.
    let dir = tempfile::tempdir().unwrap();
    write_mr_series(dir.path(), &v, &opts(&uid_from(15), None, 1)).unwrap();
    std::fs::write(dir.path().join("README.txt"), b"notes").unwrap();
    assert!(scan_dir(dir.path()).is_ok());
}

/// Issue 16 item 13: a middle slice made unreadable in a way the reader skips (here
/// NumberOfFrames = 65535 without per-frame geometry) left only "missing slices at … mm"; the
/// error now names the skipped file and why.
#[test]
fn missing_slices_error_names_the_skipped_file() {
    let dir = tempfile::tempdir().unwrap();
    let v = volume([8, 6, 5], oblique_affine(), b0_values);
    let files = write_mr_series(dir.path(), &v, &opts(&uid_from(21), None, 1)).unwrap();
    let mid = &files[files.len() / 2];
    let mut o = dicom_object::open_file(mid).unwrap();
    o.put(dicom_core::DataElement::new(
        dicom_dictionary_std::tags::NUMBER_OF_FRAMES,
        dicom_core::VR::IS,
        dicom_core::PrimitiveValue::from("65535"),
    ));
    o.write_to_file(mid).unwrap();
    let e = scan_dir(dir.path()).expect_err("refused").to_string();
    assert!(e.contains("missing slices"), "{e}");
    let name = mid.display().to_string();
    assert!(e.contains(&name) && e.contains("65535 frames"), "{e}");
}

/// Issue 16 item 13: a folder of colour images said "no DICOM image found" with no reason.
#[test]
fn no_image_error_says_why_files_were_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let v = volume([8, 6, 3], oblique_affine(), b0_values);
    let files = write_mr_series(dir.path(), &v, &opts(&uid_from(22), None, 1)).unwrap();
    for f in &files {
        let mut o = dicom_object::open_file(f).unwrap();
        o.put(dicom_core::DataElement::new(
            dicom_dictionary_std::tags::SAMPLES_PER_PIXEL,
            dicom_core::VR::US,
            dicom_core::PrimitiveValue::from(3u16),
        ));
        o.write_to_file(f).unwrap();
    }
    let e = scan_dir(dir.path()).expect_err("refused").to_string();
    assert!(e.contains("no DICOM image found"), "{e}");
    assert!(
        e.contains("samples per pixel") && e.contains(&files[0].display().to_string()),
        "{e}"
    );
}

/// Issue 16 item 13: a missing or NaN ImagePositionPatient named the series only.
#[test]
fn missing_or_nan_image_position_names_the_file() {
    for value in [None, Some("NaN\\0\\0")] {
        let dir = tempfile::tempdir().unwrap();
        let v = volume([8, 6, 5], oblique_affine(), b0_values);
        let files = write_mr_series(dir.path(), &v, &opts(&uid_from(23), None, 1)).unwrap();
        let victim = &files[3];
        let mut o = dicom_object::open_file(victim).unwrap();
        match value {
            None => {
                o.remove_element(tags::IMAGE_POSITION_PATIENT);
            }
            Some(v) => {
                o.put(DataElement::new(
                    tags::IMAGE_POSITION_PATIENT,
                    VR::DS,
                    PrimitiveValue::from(v),
                ));
            }
        }
        o.write_to_file(victim).unwrap();
        let e = scan_dir(dir.path()).expect_err("refused").to_string();
        assert!(
            e.contains("ImagePositionPatient") && e.contains(&victim.display().to_string()),
            "{value:?}: {e}"
        );
        assert!(e.contains("1 of 5 images have no usable"), "{e}");
    }
}

/// Issue 16 item 13: two files at one slice position said "unequal numbers" with no file.
#[test]
fn duplicate_slice_position_names_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let v = volume([8, 6, 5], oblique_affine(), b0_values);
    let files = write_mr_series(dir.path(), &v, &opts(&uid_from(24), None, 1)).unwrap();
    // A copy of slice 2 under a new SOP Instance UID (a re-sent or re-exported image).
    let mut o = dicom_object::open_file(&files[2]).unwrap();
    o.put(DataElement::new(
        tags::SOP_INSTANCE_UID,
        VR::UI,
        PrimitiveValue::from("1.2.826.0.1.3680043.2.1125.99.1"),
    ));
    let copy = dir.path().join("copy-of-slice-2.dcm");
    o.write_to_file(&copy).unwrap();
    let e = scan_dir(dir.path()).expect_err("refused").to_string();
    assert!(e.contains("unequal numbers of images"), "{e}");
    let orig = files[2].file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        e.contains("2 images") && e.contains("copy-of-slice-2.dcm") && e.contains(&orig),
        "{e}"
    );
    assert!(e.contains("duplicate"), "{e}");
}
