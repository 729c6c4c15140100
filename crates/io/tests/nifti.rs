//! NIfTI reading and writing: geometry round trips, nibabel's transform rules, scaling, 4-D
//! DWI with .bval, and every kind of bad file.

use nalgebra::Matrix4;
use std::path::{Path, PathBuf};
use strokeseg_core::{Grid, Mask, Volume};
use strokeseg_io::nifti_io::{read_nifti, read_volume, write_mask, write_volume};
use strokeseg_io::InputError;
use strokeseg_testkit::{oblique_affine, phantom};

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

fn small_oblique() -> Volume {
    let dims = [12, 10, 6];
    let g = Grid {
        dims,
        affine: oblique_affine(dims, [0.9, 1.1, 5.0], 17.0),
    };
    phantom(&g).dwi
}

fn close(a: &Matrix4<f64>, b: &Matrix4<f64>, tol: f64) -> bool {
    a.iter().zip(b.iter()).all(|(x, y)| (x - y).abs() <= tol)
}

/// Writes an uncompressed file and patches raw header bytes (offsets from the NIfTI-1 spec).
fn patched(dir: &Path, name: &str, patch: impl FnOnce(&mut Vec<u8>)) -> PathBuf {
    let p = dir.join(name);
    write_volume(&p, &small_oblique(), "test").unwrap();
    let mut bytes = std::fs::read(&p).unwrap();
    patch(&mut bytes);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn put_i16(b: &mut [u8], off: usize, v: i16) {
    b[off..off + 2].copy_from_slice(&v.to_le_bytes());
}
fn put_f32(b: &mut [u8], off: usize, v: f32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn oblique_round_trip_keeps_geometry_and_values() {
    let d = tmp();
    let v = small_oblique();
    for name in ["a.nii", "a.nii.gz"] {
        let p = d.path().join(name);
        write_volume(&p, &v, "round trip").unwrap();
        let img = read_nifti(&p).unwrap();
        assert_eq!(img.affine_source, "sform");
        let r = &img.volumes[0];
        assert_eq!(r.dims(), v.dims());
        assert!(
            close(r.affine(), v.affine(), 1e-4),
            "{name}: {} vs {}",
            r.affine(),
            v.affine()
        );
        assert_eq!(r.data(), v.data());
    }
}

#[test]
fn written_files_have_sform_and_qform_that_agree() {
    let d = tmp();
    let v = small_oblique();
    let p = d.path().join("b.nii");
    write_volume(&p, &v, "").unwrap();
    let bytes = std::fs::read(&p).unwrap();
    let code = |off: usize| i16::from_le_bytes([bytes[off], bytes[off + 1]]);
    assert_eq!((code(252), code(254)), (1, 1), "qform_code, sform_code");
    // Knock out the sform: the qform alone must give the same affine.
    let p2 = patched(d.path(), "q.nii", |b| put_i16(b, 254, 0));
    let img = read_nifti(&p2).unwrap();
    assert_eq!(img.affine_source, "qform");
    assert!(close(img.volumes[0].affine(), v.affine(), 1e-3));
}

#[test]
fn sform_wins_over_qform_and_base_affine_when_neither() {
    let d = tmp();
    // sform shifted by 7 mm in x; qform untouched: nibabel uses the sform.
    let p = patched(d.path(), "s.nii", |b| {
        let x = f32::from_le_bytes([b[292], b[293], b[294], b[295]]);
        put_f32(b, 292, x + 7.0);
    });
    let img = read_nifti(&p).unwrap();
    let v = small_oblique();
    assert_eq!(img.affine_source, "sform");
    assert!((img.volumes[0].affine()[(0, 3)] - (v.affine()[(0, 3)] + 7.0)).abs() < 1e-3);
    // Both codes zero: nibabel's base affine, diag(-dx, dy, dz) centred on the volume.
    let p = patched(d.path(), "n.nii", |b| {
        put_i16(b, 252, 0);
        put_i16(b, 254, 0);
    });
    let img = read_nifti(&p).unwrap();
    assert_eq!(img.affine_source, "base");
    let a = img.volumes[0].affine();
    assert!(
        (a[(0, 0)] + 0.9).abs() < 1e-5
            && (a[(1, 1)] - 1.1).abs() < 1e-5
            && (a[(2, 2)] - 5.0).abs() < 1e-5
    );
    assert!((a[(0, 3)] - 0.9 * 11.0 / 2.0).abs() < 1e-4, "{a}");
}

#[test]
fn scl_slope_and_inter_are_applied_like_nibabel() {
    let d = tmp();
    let v = small_oblique();
    let p = patched(d.path(), "scaled.nii", |b| {
        put_f32(b, 112, 2.0);
        put_f32(b, 116, 10.0);
    });
    let r = read_volume(&p).unwrap();
    let (i, j, k) = (6, 5, 3);
    assert_eq!(r.data()[[i, j, k]], v.data()[[i, j, k]] * 2.0 + 10.0);
    // slope 0 or NaN means "no scaling" in nibabel.
    for slope in [0.0f32, f32::NAN] {
        let p = patched(d.path(), "noscale.nii", |b| {
            put_f32(b, 112, slope);
            put_f32(b, 116, 10.0);
        });
        assert_eq!(read_volume(&p).unwrap().data(), v.data());
    }
}

#[test]
fn masks_are_written_as_uint8_and_read_back() {
    let d = tmp();
    let v = small_oblique();
    let m: Mask = v.map(|&x| x > 452.0);
    let p = d.path().join("m.nii.gz");
    write_mask(&p, &m, "mask").unwrap();
    let img = read_nifti(&p).unwrap();
    assert_eq!(img.datatype, "Uint8");
    let back = img.volumes[0].map(|&x| x > 0.5);
    assert!(m.count() > 0);
    assert_eq!(back.data(), m.data());
    assert!(close(back.affine(), m.affine(), 1e-4));
}

fn expect_bad(p: &Path, words: &[&str]) {
    let err = read_nifti(p).expect_err("must be rejected");
    let msg = err.to_string();
    assert!(
        msg.contains(&p.display().to_string()),
        "message must name the file: {msg}"
    );
    for w in words {
        assert!(
            msg.to_lowercase().contains(w),
            "message {msg:?} should contain {w:?}"
        );
    }
}

#[test]
fn truncated_files_are_rejected_with_the_file_named() {
    let d = tmp();
    let v = small_oblique();
    let p = d.path().join("t.nii");
    write_volume(&p, &v, "").unwrap();
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    expect_bad(&p, &["truncated"]);
    std::fs::write(&p, &bytes[..200]).unwrap();
    expect_bad(&p, &["nifti"]);
    let gz = d.path().join("t.nii.gz");
    write_volume(&gz, &v, "").unwrap();
    let bytes = std::fs::read(&gz).unwrap();
    std::fs::write(&gz, &bytes[..bytes.len() * 2 / 3]).unwrap();
    expect_bad(&gz, &[]);
}

#[test]
fn zero_absurd_dims_and_garbage_are_rejected() {
    let d = tmp();
    expect_bad(
        &patched(d.path(), "z.nii", |b| put_i16(b, 44, 0)),
        &["zero"],
    );
    expect_bad(
        &patched(d.path(), "big.nii", |b| {
            put_i16(b, 42, 30000);
            put_i16(b, 44, 30000);
        }),
        &["absurd"],
    );
    expect_bad(
        &patched(d.path(), "dim0.nii", |b| put_i16(b, 40, 9)),
        &["dim[0]"],
    );
    expect_bad(
        &patched(d.path(), "px.nii", |b| {
            put_i16(b, 252, 0);
            put_i16(b, 254, 0);
            put_f32(b, 80, 0.0);
        }),
        &["voxel size"],
    );
    let p = d.path().join("text.nii");
    std::fs::write(&p, "this is not an image").unwrap();
    expect_bad(&p, &["nifti"]);
    let missing = d.path().join("missing.nii.gz");
    assert!(matches!(read_nifti(&missing), Err(InputError::Io { .. })));
}

#[test]
fn nan_and_inf_voxels_are_rejected() {
    let d = tmp();
    let mut v = small_oblique();
    v.data_mut()[[3, 4, 2]] = f32::NAN;
    v.data_mut()[[5, 4, 2]] = f32::INFINITY;
    let p = d.path().join("nan.nii.gz");
    write_volume(&p, &v, "").unwrap();
    expect_bad(&p, &["2 voxels", "nan", "[3, 4, 2]"]);
}
