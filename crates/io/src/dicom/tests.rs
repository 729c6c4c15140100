//! Tests of the DICOM reader and writers on tiny synthetic series: round trips and the
//! combination of directions/repeats. Shared helpers live here.

use super::*;
use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, VR};
use dicom_dictionary_std::tags;
use nalgebra::{Matrix4, Rotation3, Vector3};
use ndarray::Array3;

/// An affine rotated 15° about x and 12° about z, spacing 0.9 × 1.1 × 5 mm.
pub(super) fn oblique_affine() -> Matrix4<f64> {
    let r = Rotation3::from_axis_angle(&Vector3::z_axis(), 12f64.to_radians())
        * Rotation3::from_axis_angle(&Vector3::x_axis(), 15f64.to_radians());
    let mut a = Matrix4::identity();
    let sp = [0.9, 1.1, 5.0];
    for c in 0..3 {
        for r_ in 0..3 {
            a[(r_, c)] = r.matrix()[(r_, c)] * sp[c];
        }
    }
    a[(0, 3)] = -20.5;
    a[(1, 3)] = 31.25;
    a[(2, 3)] = 10.0;
    a
}

pub(super) fn volume(
    dims: [usize; 3],
    affine: Matrix4<f64>,
    f: impl Fn(usize, usize, usize) -> f32,
) -> Volume {
    let data = Array3::from_shape_fn((dims[0], dims[1], dims[2]), |(i, j, k)| f(i, j, k));
    Volume::new(data, affine).expect("valid test volume")
}

pub(super) fn b0_values(i: usize, j: usize, k: usize) -> f32 {
    (100 + 10 * i + 3 * j + 50 * k) as f32
}

pub(super) fn opts(series_uid: &str, b: Option<f64>, start: i64) -> SeriesWriteOptions {
    SeriesWriteOptions {
        series_uid: series_uid.to_string(),
        b_value: b,
        instance_number_start: start,
        ..SeriesWriteOptions::from_seed(42)
    }
}

pub(super) fn assert_affine_close(a: &Matrix4<f64>, b: &Matrix4<f64>, tol: f64) {
    let d = (a - b).abs().max();
    assert!(d < tol, "affines differ by {d}:\n{a}\n{b}");
}

pub(super) fn assert_values_close(got: &Volume, want: &Volume, tol: f32) {
    assert_eq!(got.dims(), want.dims());
    for ((idx, g), w) in got.data().indexed_iter().zip(want.data().iter()) {
        assert!(
            (g - w).abs() <= tol * w.abs().max(1.0),
            "at {idx:?}: got {g}, want {w}"
        );
    }
}

/// Renames every file in `dir` to a scrambled name so that order must come from geometry.
pub(super) fn shuffle_names(dir: &Path) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for (n, p) in files.iter().enumerate() {
        let name = format!("z{:03}", (n * 37 + 11) % 1000);
        std::fs::rename(p, dir.join(name)).unwrap();
    }
}

pub(super) fn only_series(scan: &DicomScan) -> &DicomSeries {
    assert_eq!(
        scan.series.len(),
        1,
        "series: {:?}",
        scan.series
            .iter()
            .map(|s| &s.series_uid)
            .collect::<Vec<_>>()
    );
    &scan.series[0]
}
#[test]
fn round_trip_two_b_values_oblique_shuffled() {
    let dir = tempfile::tempdir().unwrap();
    let a = oblique_affine();
    let v0 = volume([8, 6, 5], a, b0_values);
    let v1 = volume([8, 6, 5], a, |i, j, k| {
        (b0_values(i, j, k) / 2.0).round() + 1.0
    });
    let uid = uid_from(7);
    write_mr_series(dir.path(), &v0, &opts(&uid, Some(0.0), 1)).unwrap();
    write_mr_series(dir.path(), &v1, &opts(&uid, Some(1000.0), 101)).unwrap();
    shuffle_names(dir.path());

    let scan = scan_dir(dir.path()).unwrap();
    assert!(scan.warnings.is_empty(), "{:?}", scan.warnings);
    let s = only_series(&scan);
    assert_eq!(s.series_uid, uid);
    assert_eq!(s.n_files, 10);
    assert_eq!(s.series_number, Some(1));
    assert_eq!(s.image_type, vec!["ORIGINAL", "PRIMARY", "DIFFUSION"]);
    assert_eq!(s.folder, dir.path());
    assert_eq!(s.volumes.len(), 2);
    assert_eq!(s.volumes[0].b_value, Some(0.0));
    assert_eq!(s.volumes[1].b_value, Some(1000.0));
    for (bv, want) in s.volumes.iter().zip([&v0, &v1]) {
        assert_eq!(bv.n_combined, 1);
        assert_eq!(bv.volume.dims(), [8, 6, 5]);
        assert_affine_close(bv.volume.affine(), &a, 1e-3);
        assert_values_close(&bv.volume, want, 0.0);
    }
}

#[test]
fn three_directions_are_combined_by_geometric_mean() {
    let dir = tempfile::tempdir().unwrap();
    let a = oblique_affine();
    let uid = uid_from(8);
    let dirs: Vec<Volume> = (0..3)
        .map(|d| {
            volume([8, 6, 5], a, move |i, j, k| {
                (20 + 7 * d + i + 2 * j + 3 * k) as f32
            })
        })
        .collect();
    write_mr_series(
        dir.path(),
        &volume([8, 6, 5], a, b0_values),
        &opts(&uid, Some(0.0), 1),
    )
    .unwrap();
    for (d, v) in dirs.iter().enumerate() {
        write_mr_series(
            dir.path(),
            v,
            &opts(&uid, Some(1000.0), 101 + 100 * d as i64),
        )
        .unwrap();
    }
    let scan = scan_dir(dir.path()).unwrap();
    let s = only_series(&scan);
    assert_eq!(s.n_files, 20);
    let b1000 = &s.volumes[1];
    assert_eq!(b1000.b_value, Some(1000.0));
    assert_eq!(b1000.n_combined, 3);
    let want = volume([8, 6, 5], a, |i, j, k| {
        let p: f64 = dirs
            .iter()
            .map(|v| f64::from(v.data()[[i, j, k]]))
            .product();
        p.cbrt() as f32
    });
    assert_values_close(&b1000.volume, &want, 1e-5);
    assert_affine_close(b1000.volume.affine(), &a, 1e-3);
}

#[test]
fn b0_repeats_are_averaged() {
    let dir = tempfile::tempdir().unwrap();
    let a = oblique_affine();
    let uid = uid_from(9);
    let r1 = volume([8, 6, 5], a, |i, _, _| (10 + i) as f32);
    let r2 = volume([8, 6, 5], a, |i, _, _| (20 + i) as f32);
    write_mr_series(dir.path(), &r1, &opts(&uid, Some(0.0), 1)).unwrap();
    write_mr_series(dir.path(), &r2, &opts(&uid, Some(0.002), 11)).unwrap();
    let scan = scan_dir(dir.path()).unwrap();
    let s = only_series(&scan);
    assert_eq!(s.volumes.len(), 1);
    assert_eq!(s.volumes[0].b_value, Some(0.0));
    assert_eq!(s.volumes[0].n_combined, 2);
    assert_values_close(
        &s.volumes[0].volume,
        &volume([8, 6, 5], a, |i, _, _| (15 + i) as f32),
        1e-6,
    );
}

#[test]
fn enhanced_multiframe_round_trip_with_rescale() {
    let dir = tempfile::tempdir().unwrap();
    let a = oblique_affine();
    // Even values minus 100 so that slope 2 / intercept -100 quantises exactly.
    let v0 = volume([8, 6, 5], a, |i, j, k| 2.0 * b0_values(i, j, k) - 100.0);
    let v1 = volume([8, 6, 5], a, |i, j, k| 2.0 * (i + j + k) as f32 - 60.0);
    let o = SeriesWriteOptions {
        rescale_slope: 2.0,
        rescale_intercept: -100.0,
        ..SeriesWriteOptions::from_seed(3)
    };
    let path = dir.path().join("sub").join("enhanced.dcm");
    write_enhanced_mr(&path, &[(Some(0.0), &v0), (Some(1000.0), &v1)], &o).unwrap();
    let scan = scan_dir(dir.path()).unwrap();
    let s = only_series(&scan);
    assert_eq!(s.n_files, 1);
    assert_eq!(s.folder, dir.path().join("sub"));
    assert_eq!(s.series_uid, o.series_uid);
    assert_eq!(s.volumes.len(), 2);
    for (bv, (b, want)) in s.volumes.iter().zip([(0.0, &v0), (1000.0, &v1)]) {
        assert_eq!(bv.b_value, Some(b));
        assert_eq!(bv.n_combined, 1);
        assert_affine_close(bv.volume.affine(), &a, 1e-3);
        assert_values_close(&bv.volume, want, 0.0);
    }
}

#[test]
fn non_dicom_file_is_skipped_with_warning() {
    let dir = tempfile::tempdir().unwrap();
    let v = volume([8, 6, 5], oblique_affine(), b0_values);
    write_mr_series(dir.path(), &v, &opts(&uid_from(10), None, 1)).unwrap();
    std::fs::write(dir.path().join("README.txt"), "not an image\n").unwrap();
    let scan = scan_dir(dir.path()).unwrap();
    assert_eq!(scan.warnings.len(), 1);
    assert!(
        scan.warnings[0].contains("README.txt"),
        "{:?}",
        scan.warnings
    );
    let s = only_series(&scan);
    assert_eq!(s.volumes.len(), 1);
    assert_eq!(s.volumes[0].b_value, None);
    assert_values_close(&s.volumes[0].volume, &v, 0.0);
}

#[test]
fn single_slice_uses_spacing_between_slices() {
    let dir = tempfile::tempdir().unwrap();
    let a = oblique_affine();
    let v = volume([8, 6, 1], a, b0_values);
    write_mr_series(dir.path(), &v, &opts(&uid_from(15), None, 1)).unwrap();
    let scan = scan_dir(dir.path()).unwrap();
    assert_affine_close(only_series(&scan).volumes[0].volume.affine(), &a, 1e-3);
}

#[test]
fn isotropic_image_is_preferred_over_directions() {
    let dir = tempfile::tempdir().unwrap();
    let a = oblique_affine();
    let uid = uid_from(17);
    for d in 0..3 {
        let v = volume([8, 6, 5], a, move |i, _, _| (30 + d + i) as f32);
        write_mr_series(dir.path(), &v, &opts(&uid, Some(1000.0), 1 + 10 * d as i64)).unwrap();
    }
    let trace = volume([8, 6, 5], a, |i, j, _| (7 + i + j) as f32);
    for p in write_mr_series(dir.path(), &trace, &opts(&uid, Some(1000.0), 100)).unwrap() {
        let mut obj = dicom_object::open_file(&p).unwrap();
        obj.put(DataElement::new(
            tags::DIFFUSION_DIRECTIONALITY,
            VR::CS,
            PrimitiveValue::from("ISOTROPIC"),
        ));
        obj.write_to_file(&p).unwrap();
    }
    let scan = scan_dir(dir.path()).unwrap();
    let bv = &only_series(&scan).volumes[0];
    assert_eq!(bv.n_combined, 1);
    assert_values_close(&bv.volume, &trace, 0.0);
}

#[test]
fn duplicate_copies_are_ignored_with_warning() {
    let dir = tempfile::tempdir().unwrap();
    let v = volume([8, 6, 5], oblique_affine(), b0_values);
    let files = write_mr_series(dir.path(), &v, &opts(&uid_from(18), None, 1)).unwrap();
    std::fs::create_dir(dir.path().join("copy")).unwrap();
    std::fs::copy(&files[1], dir.path().join("copy").join("again.dcm")).unwrap();
    let scan = scan_dir(dir.path()).unwrap();
    assert!(
        scan.warnings.iter().any(|w| w.contains("duplicate")),
        "{:?}",
        scan.warnings
    );
    let s = only_series(&scan);
    assert_eq!(s.volumes[0].n_combined, 1);
    assert_eq!(s.folder, dir.path());
}

#[test]
fn localizer_with_three_planes_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let uid = uid_from(19);
    let mut a = Matrix4::identity();
    write_mr_series(
        dir.path(),
        &volume([8, 6, 1], a, b0_values),
        &opts(&uid, None, 1),
    )
    .unwrap();
    // A sagittal slice in the same series.
    a = Matrix4::new(
        0., 0., 1., 0., 1., 0., 0., 0., 0., 1., 0., 0., 0., 0., 0., 1.,
    );
    write_mr_series(
        dir.path(),
        &volume([8, 6, 1], a, b0_values),
        &opts(&uid, None, 2),
    )
    .unwrap();
    let dwi = volume([8, 6, 5], oblique_affine(), b0_values);
    write_mr_series(
        &dir.path().join("dwi"),
        &dwi,
        &opts(&uid_from(20), Some(0.0), 1),
    )
    .unwrap();
    let scan = scan_dir(dir.path()).unwrap();
    assert!(
        scan.warnings.iter().any(|w| w.contains("orientations")),
        "{:?}",
        scan.warnings
    );
    assert_eq!(only_series(&scan).series_uid, uid_from(20));
}
