//! Damaged files never panic: every truncation length class and many single-byte corruptions
//! of a valid NIfTI and a valid DICOM file either read or fail with an `InputError`.

use strokeseg_core::Grid;
use strokeseg_io::dicom::{scan_dir, write_mr_series, SeriesWriteOptions};
use strokeseg_io::nifti_io::{read_nifti, write_volume};
use strokeseg_testkit::hostile_dicom::{before_pixel_data, huge_declared_length, nested_sequences};
use strokeseg_testkit::{oblique_affine, phantom};

fn small() -> strokeseg_core::Volume {
    let dims = [10, 9, 4];
    phantom(&Grid {
        dims,
        affine: oblique_affine(dims, [2.0, 2.0, 5.0], 9.0),
    })
    .dwi
}

/// A tiny deterministic generator (no external RNG needed for a damage pattern).
fn lcg(state: &mut u64) -> u64 {
    *state = state
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    *state >> 33
}

#[test]
fn damaged_nifti_never_panics() {
    let d = tempfile::tempdir().unwrap();
    let good = d.path().join("g.nii");
    write_volume(&good, &small(), "").unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let p = d.path().join("x.nii");
    for cut in (0..bytes.len()).step_by(37) {
        std::fs::write(&p, &bytes[..cut]).unwrap();
        assert!(read_nifti(&p).is_err(), "truncated at {cut} must fail");
    }
    let mut s = 7u64;
    for _ in 0..300 {
        let mut b = bytes.clone();
        let at = (lcg(&mut s) as usize) % 352; // the header is where damage bites
        b[at] = lcg(&mut s) as u8;
        std::fs::write(&p, &b).unwrap();
        let _ = read_nifti(&p); // Ok or Err, never a panic
    }
}

#[test]
fn damaged_dicom_never_panics() {
    let d = tempfile::tempdir().unwrap();
    let files = write_mr_series(d.path(), &small(), &SeriesWriteOptions::from_seed(5)).unwrap();
    let victim = files[1].clone();
    let bytes = std::fs::read(&victim).unwrap();
    for cut in (132..bytes.len()).step_by(131) {
        std::fs::write(&victim, &bytes[..cut]).unwrap();
        assert!(scan_dir(d.path()).is_err(), "truncated at {cut} must fail");
    }
    let mut s = 11u64;
    for _ in 0..80 {
        let mut b = bytes.clone();
        let at = 128 + (lcg(&mut s) as usize) % (bytes.len().min(1200) - 128);
        b[at] = lcg(&mut s) as u8;
        std::fs::write(&victim, &b).unwrap();
        let _ = scan_dir(d.path());
    }
}

/// Issue 16 item 3: a float32 NIfTI whose header says bitpix = 8 panicked inside the `nifti`
/// crate ("Inconsistent raw data size") with no file named.
#[test]
fn nifti_bitpix_inconsistent_with_datatype_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("f32_bitpix8.nii");
    write_volume(&p, &small(), "").unwrap();
    let mut b = std::fs::read(&p).unwrap();
    assert_eq!(i16::from_le_bytes([b[70], b[71]]), 16, "written as float32");
    b[72..74].copy_from_slice(&8i16.to_le_bytes());
    std::fs::write(&p, &b).unwrap();
    let e = read_nifti(&p)
        .expect_err("inconsistent header must fail")
        .to_string();
    assert!(
        e.contains("f32_bitpix8.nii") && e.contains("bitpix = 8"),
        "{e}"
    );
}

/// Writes one slice of a small MR series with `insert` spliced in just before PixelData.
fn slice_with_inserted(dir: &std::path::Path, insert: &[u8]) -> std::path::PathBuf {
    let files = write_mr_series(dir, &small(), &SeriesWriteOptions::from_seed(3)).unwrap();
    let p = files[1].clone();
    let b = std::fs::read(&p).unwrap();
    std::fs::write(&p, before_pixel_data(&b, insert)).unwrap();
    p
}

/// Issue 16 item 1: 2,000 nested undefined-length sequences before PixelData overflowed the
/// stack of the reading thread (abort, exit 134). Now refused with a sentence, file named;
/// ordinary nesting still reads.
#[test]
fn deeply_nested_sequences_are_refused_not_a_stack_overflow() {
    let d = tempfile::tempdir().unwrap();
    let p = slice_with_inserted(d.path(), &nested_sequences(2000));
    let e = scan_dir(d.path()).expect_err("refused").to_string();
    assert!(
        e.contains(&p.display().to_string()) && e.contains("nested deeper than"),
        "{e}"
    );
    let ok = tempfile::tempdir().unwrap();
    slice_with_inserted(ok.path(), &nested_sequences(4));
    scan_dir(ok.path()).expect("four levels of nesting read as usual");
}

/// Issue 16 item 2: an element declaring 0xFFFFFFF0 bytes in a small file made the parser
/// allocate 4 GB before failing. Now refused before any allocation, naming the element.
#[test]
fn declared_length_past_the_end_is_refused_before_allocation() {
    let d = tempfile::tempdir().unwrap();
    let p = slice_with_inserted(d.path(), &huge_declared_length());
    let e = scan_dir(d.path()).expect_err("refused").to_string();
    assert!(
        e.contains(&p.display().to_string()) && e.contains("declares 4294967280 bytes"),
        "{e}"
    );
}

/// Found by `cargo fuzz` (nifti_file): a 2-D NIfTI without sform/qform panicked in the nifti
/// crate's base affine, which indexes three dims. Now it reads as one slice, or fails cleanly.
#[test]
fn two_d_nifti_without_orientation_does_not_panic() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("two_d.nii");
    write_volume(&p, &small(), "").unwrap();
    let mut b = std::fs::read(&p).unwrap();
    b[40..42].copy_from_slice(&2i16.to_le_bytes()); // dim[0] = 2
    b[252..256].copy_from_slice(&[0, 0, 0, 0]); // qform_code = sform_code = 0
    std::fs::write(&p, &b).unwrap();
    let _ = read_nifti(&p); // Ok or Err, never a panic
}

/// Issue 16 item 16: `dim[0] = 9` was reported as the byte-swapped 2304.
#[test]
fn nifti_dim0_out_of_range_is_reported_as_stored() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("dim9.nii");
    write_volume(&p, &small(), "").unwrap();
    let mut b = std::fs::read(&p).unwrap();
    b[40..42].copy_from_slice(&9i16.to_le_bytes());
    std::fs::write(&p, &b).unwrap();
    let e = read_nifti(&p).unwrap_err().to_string();
    assert!(e.contains("dim[0] = 9 ") && !e.contains("2304"), "{e}");
    assert!(e.contains("dim9.nii"), "names the file: {e}");
}

/// Issue 16 item 16: a folder symlinked into itself was walked again at every depth, so one
/// NIfTI file was found six times. Symlinked folders are not followed.
#[cfg(unix)]
#[test]
fn a_folder_linked_into_itself_is_walked_once() {
    let d = tempfile::tempdir().unwrap();
    let study = d.path().join("study");
    std::fs::create_dir_all(&study).unwrap();
    write_volume(&study.join("x_dwi.nii.gz"), &small(), "").unwrap();
    std::os::unix::fs::symlink(&study, study.join("loop")).unwrap();
    let found = strokeseg_io::study::nifti_files(&study).unwrap();
    assert_eq!(found, vec![study.join("x_dwi.nii.gz")]);
}

/// Explicit VR little endian element bytes (2-byte length form, or 4-byte for OB).
fn el(group: u16, elem: u16, vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&group.to_le_bytes());
    v.extend_from_slice(&elem.to_le_bytes());
    v.extend_from_slice(vr);
    if vr == b"OB" {
        v.extend_from_slice(&[0, 0]);
        v.extend_from_slice(&(value.len() as u32).to_le_bytes());
    } else {
        v.extend_from_slice(&(value.len() as u16).to_le_bytes());
    }
    v.extend_from_slice(value);
    v
}

/// Found by `cargo fuzz` (dicom_folder, serve_ingest): a meta group whose length spans an
/// element with a damaged group number hid the transfer syntax from the guard, and the parser
/// then reserved a data set element's declared 4 GB. Now the guard follows the group length as
/// the parser does and refuses the file before it is parsed.
#[test]
fn meta_group_length_is_followed_and_the_data_set_still_checked() {
    let mut meta = el(0x0002, 0x0001, b"OB", &[0, 1]);
    meta.extend(el(0x0101, 0x0003, b"UI", b"1.2\0")); // damaged tag inside the group
    meta.extend(el(0x0002, 0x0010, b"UI", b"1.2.840.10008.1.2.1\0"));
    let mut f = vec![0u8; 128];
    f.extend_from_slice(b"DICM");
    f.extend(el(
        0x0002,
        0x0000,
        b"UL",
        &(meta.len() as u32).to_le_bytes(),
    ));
    f.extend(meta);
    f.extend_from_slice(&[0x08, 0x00, 0x01, 0x00, b'O', b'B', 0, 0]);
    f.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    f.extend_from_slice(&[0u8; 64]);
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("IM_00001.dcm");
    std::fs::write(&p, &f).unwrap();
    let e = scan_dir(d.path()).expect_err("refused").to_string();
    assert!(
        e.contains("IM_00001.dcm") && e.contains("declares 4294967280"),
        "{e}"
    );
}

/// Found by `cargo fuzz` (nifti_file): a qform quaternion with b² + c² + d² > 1 panicked in the
/// nifti crate. Now an error naming the file.
#[test]
fn qform_quaternion_that_is_not_a_rotation_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("bad_quatern.nii");
    write_volume(&p, &small(), "").unwrap();
    let mut b = std::fs::read(&p).unwrap();
    b[252..254].copy_from_slice(&1i16.to_le_bytes()); // qform_code = 1
    b[254..256].copy_from_slice(&0i16.to_le_bytes()); // sform_code = 0
    for off in [256, 260, 264] {
        b[off..off + 4].copy_from_slice(&0.9f32.to_le_bytes()); // quatern_b, c, d
    }
    std::fs::write(&p, &b).unwrap();
    let e = read_nifti(&p).expect_err("refused").to_string();
    assert!(
        e.contains("bad_quatern.nii") && e.contains("quaternion"),
        "{e}"
    );
}

/// Found by `cargo fuzz` (serve_ingest): a file meta element with an unknown VR made the meta
/// reader take a 4-byte length and reserve 4 GB. Unknown VRs in the meta group are refused.
#[test]
fn unknown_vr_in_the_file_meta_group_is_refused() {
    let mut f = vec![0u8; 128];
    f.extend_from_slice(b"DICM");
    f.extend(el(0x0002, 0x0001, b"OB", &[0, 1]));
    f.extend_from_slice(&[0x02, 0x00, 0x02, 0x00, b'Z', b'Z', 0xF0, 0xFF, 0xFF, 0xFF]);
    f.extend_from_slice(&[0u8; 64]);
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("IM_00001.dcm");
    std::fs::write(&p, &f).unwrap();
    let e = scan_dir(d.path()).expect_err("refused").to_string();
    assert!(
        e.contains("IM_00001.dcm") && e.contains("no valid VR"),
        "{e}"
    );
}
