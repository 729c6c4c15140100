//! Tests of Siemens mosaic reading on small synthetic mosaics: tile order, geometry (the
//! nibabel `MosaicWrapper` convention), slice count and b-value from the private tags or the
//! CSA header, the CSA slice normal, multi-direction series, and the errors.

use super::attrs::siemens_mosaic_count;
use super::tests::*;
use super::*;
use crate::study::{rough_brain_median, AdcOrigin, Study, StudySpec};
use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::{open_file, InMemDicomObject};
use nalgebra::Matrix4;

/// A distinct value for every voxel, so that a tile in the wrong place shows.
fn coded(i: usize, j: usize, k: usize) -> f32 {
    (1 + i + 10 * j + 1000 * k) as f32
}

fn write_one(dir: &Path, vol: &Volume, b: Option<f64>, m: MosaicWriteOptions) -> PathBuf {
    let path = dir.join("mosaic.dcm");
    write_siemens_mosaic(&path, vol, &opts(&uid_from(70), b, 1), m).unwrap();
    path
}

fn read_single(dir: &Path) -> BVolume {
    let scan = scan_dir(dir).unwrap();
    assert!(scan.warnings.is_empty(), "{:?}", scan.warnings);
    let s = only_series(&scan);
    assert_eq!(s.volumes.len(), 1);
    s.volumes[0].clone()
}

#[test]
fn tiles_are_cut_row_by_row_with_oblique_geometry() {
    // 5 columns × 4 rows × 7 slices: a 3×3 grid of 4×5 tiles, the last two blank.
    let dir = tempfile::tempdir().unwrap();
    let a = oblique_affine();
    let v = volume([5, 4, 7], a, coded);
    let path = write_one(dir.path(), &v, Some(1000.0), MosaicWriteOptions::default());

    // The file itself: one 12×15 image, slice 5 in tile row 1, tile column 2.
    let file = open_file(&path).unwrap();
    let rows = file.element(tags::ROWS).unwrap().to_int::<u32>().unwrap();
    let cols = file
        .element(tags::COLUMNS)
        .unwrap()
        .to_int::<u32>()
        .unwrap();
    assert_eq!((rows, cols), (12, 15));
    let px: Vec<u16> = file
        .element(tags::PIXEL_DATA)
        .unwrap()
        .to_multi_int::<u16>()
        .unwrap();
    let (i, j, k) = (3, 2, 5);
    assert_eq!(f32::from(px[(4 + j) * 15 + 10 + i]), coded(i, j, k));

    let got = read_single(dir.path());
    assert_eq!(got.b_value, Some(1000.0));
    assert_eq!(got.n_combined, 1);
    assert_eq!(got.volume.dims(), [5, 4, 7]);
    assert_eq!((got.dicom.rows, got.dicom.columns), (4, 5));
    assert_eq!(got.dicom.slices.len(), 7);
    assert_affine_close(got.volume.affine(), &a, 1e-4);
    assert_values_close(&got.volume, &v, 0.0);
    // Every slice refers to the one mosaic file.
    assert!(got
        .dicom
        .slices
        .iter()
        .all(|s| s.images.len() == 1 && s.images[0].path == path));
}

#[test]
fn first_slice_position_follows_nibabel() {
    // Axis-aligned 4×4×3 at 2 mm, RAS origin (10, 20, 30) = LPS (−10, −20, 30); row
    // direction LPS (−1, 0, 0), column direction (0, −1, 0). Mosaic 8×8 (2×2 tiles).
    // nibabel: first slice = IPP + col·2 mm·(8−4)/2 + row·2 mm·(8−4)/2, so the file's IPP
    // must be (−10, −20, 30) − (0, −4, 0) − (−4, 0, 0) = (−6, −16, 30).
    let dir = tempfile::tempdir().unwrap();
    let mut a = Matrix4::from_diagonal(&nalgebra::Vector4::new(2.0, 2.0, 2.0, 1.0));
    a[(0, 3)] = 10.0;
    a[(1, 3)] = 20.0;
    a[(2, 3)] = 30.0;
    let v = volume([4, 4, 3], a, coded);
    let path = write_one(dir.path(), &v, None, MosaicWriteOptions::default());
    let file = open_file(&path).unwrap();
    let ipp = file
        .element(tags::IMAGE_POSITION_PATIENT)
        .unwrap()
        .to_multi_float64()
        .unwrap();
    assert_eq!(ipp, vec![-6.0, -16.0, 30.0]);
    let got = read_single(dir.path());
    assert_eq!(got.b_value, None);
    assert_affine_close(got.volume.affine(), &a, 1e-9);
    assert_values_close(&got.volume, &v, 0.0);
}

#[test]
fn slice_count_and_b_value_from_either_place() {
    let a = oblique_affine();
    let v = volume([6, 6, 5], a, coded);
    for (siemens_tags, csa_header) in [(true, false), (false, true)] {
        let dir = tempfile::tempdir().unwrap();
        let m = MosaicWriteOptions {
            siemens_tags,
            csa_header,
        };
        write_one(dir.path(), &v, Some(800.0), m);
        let got = read_single(dir.path());
        assert_eq!(got.b_value, Some(800.0), "{m:?}");
        assert_eq!(got.volume.dims(), [6, 6, 5], "{m:?}");
        assert_affine_close(got.volume.affine(), &a, 1e-4);
        assert_values_close(&got.volume, &v, 0.0);
    }
}

#[test]
fn csa_slice_normal_opposite_to_row_cross_column() {
    // A left-handed affine: slices advance opposite to row × column, as Siemens sometimes
    // stores them; only the CSA SliceNormalVector says so.
    let mut a = oblique_affine();
    for r in 0..3 {
        a[(r, 2)] = -a[(r, 2)];
    }
    let nk = 5;
    let v = volume([6, 4, nk], a, coded);
    let dir = tempfile::tempdir().unwrap();
    write_one(dir.path(), &v, None, MosaicWriteOptions::default());
    let got = read_single(dir.path());
    // The reader orders slices along row × column: same voxels in world, k reversed.
    let mut flip = Matrix4::identity();
    flip[(2, 2)] = -1.0;
    flip[(2, 3)] = (nk - 1) as f64;
    assert_affine_close(got.volume.affine(), &(a * flip), 1e-4);
    let want = volume([6, 4, nk], a * flip, |i, j, k| coded(i, j, nk - 1 - k));
    assert_values_close(&got.volume, &want, 0.0);
}

#[test]
fn series_of_mosaics_groups_b_values_and_computes_adc() {
    // Two b0 and three b=1000 directions, one mosaic file each, names scrambled.
    let dir = tempfile::tempdir().unwrap();
    let a = oblique_affine();
    let dims = [6, 5, 4];
    let b0 = |n: f32| volume(dims, a, move |i, j, k| 1000.0 + n + (i + j + k) as f32);
    let dwi = |f: f32| {
        volume(dims, a, move |i, j, k| {
            (1000.0 + (i + j + k) as f32) * (-0.8f32 * f).exp()
        })
    };
    let inputs = [
        (None, b0(0.0)),
        (None, b0(20.0)),
        (Some(1000.0), dwi(0.5)),
        (Some(1000.0), dwi(1.0)),
        (Some(1000.0), dwi(1.5)),
    ];
    for (n, (b, vol)) in inputs.iter().enumerate() {
        let o = SeriesWriteOptions {
            series_uid: uid_from(71),
            b_value: Some(b.unwrap_or(0.0)),
            instance_number_start: n as i64 + 1,
            ..SeriesWriteOptions::from_seed(7)
        };
        let path = dir.path().join(format!("MR{n:03}"));
        write_siemens_mosaic(&path, vol, &o, MosaicWriteOptions::default()).unwrap();
    }
    shuffle_names(dir.path());
    let scan = scan_dir(dir.path()).unwrap();
    let s = only_series(&scan);
    assert_eq!(s.n_files, 5);
    assert_eq!(s.volumes.len(), 2);
    let (v0, v1) = (&s.volumes[0], &s.volumes[1]);
    assert_eq!((v0.b_value, v0.n_combined), (Some(0.0), 2));
    assert_eq!((v1.b_value, v1.n_combined), (Some(1000.0), 3));
    for v in [v0, v1] {
        assert_eq!(v.volume.dims(), dims);
        assert_affine_close(v.volume.affine(), &a, 1e-4);
    }
    // b0: arithmetic mean; b1000: geometric mean of the directions (the trace).
    assert!((v0.volume.data()[[1, 2, 3]] - 1016.0).abs() < 1e-3);
    let trace = 1003.0 * (-0.8f32).exp();
    let got = v1.volume.data()[[2, 1, 0]];
    assert!((got - trace).abs() < 1.0, "{got} vs {trace}");

    let study = Study::load(&StudySpec {
        paths: vec![dir.path().to_path_buf()],
        ..StudySpec::default()
    })
    .unwrap();
    assert_eq!(study.b_value, Some(1000.0));
    assert!(matches!(
        study.adc_origin,
        Some(AdcOrigin::Computed {
            b_value,
            b_value_assumed: false
        }) if b_value == 1000.0
    ));
    let adc = study.adc.as_ref().unwrap();
    let m = rough_brain_median(adc, &study.dwi).unwrap_or(0.0);
    // ln(S0/Sb)/b with S0 = 1010 + s and Sb = (1000 + s)·e^−0.8: ≈ 808 ×10⁻⁶ mm²/s.
    assert!((790.0..830.0).contains(&m), "ADC {m}");
}

/// Rewrites `path` with `edit` applied to its data set.
fn edit_file(path: &Path, edit: impl FnOnce(&mut InMemDicomObject)) {
    let mut file = open_file(path).unwrap();
    edit(&mut file);
    file.write_to_file(path).unwrap();
}

fn dicom_error(dir: &Path) -> (PathBuf, String) {
    match scan_dir(dir) {
        Err(InputError::Dicom { path, reason }) => {
            eprintln!("{reason}");
            (path, reason)
        }
        other => panic!("expected a DICOM error, got {other:?}"),
    }
}

#[test]
fn mosaic_without_slice_count_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let v = volume([4, 4, 4], oblique_affine(), coded);
    let m = MosaicWriteOptions {
        siemens_tags: false,
        csa_header: false,
    };
    let path = write_one(dir.path(), &v, None, m);
    let (p, reason) = dicom_error(dir.path());
    assert_eq!(p, path);
    assert!(
        reason.contains("MOSAIC") && reason.contains("slice count"),
        "{reason}"
    );
    // An unreadable CSA header is named as the reason.
    edit_file(&path, |o| {
        o.put(DataElement::new(
            Tag(0x0029, 0x1010),
            VR::OB,
            PrimitiveValue::from(b"SV10\x04\x03\x02\x01\xff\xff".to_vec()),
        ));
    });
    let (p, reason) = dicom_error(dir.path());
    assert_eq!(p, path);
    assert!(reason.contains("CSA"), "{reason}");
}

#[test]
fn tile_count_that_does_not_fit_is_an_error() {
    // 4 slices of 4×4 make an 8×8 mosaic (2×2 grid); a count of 5 needs a 3×3 grid.
    let dir = tempfile::tempdir().unwrap();
    let v = volume([4, 4, 4], oblique_affine(), coded);
    let m = MosaicWriteOptions {
        siemens_tags: true,
        csa_header: false,
    };
    let path = write_one(dir.path(), &v, None, m);
    edit_file(&path, |o| {
        o.put(DataElement::new(
            Tag(0x0019, 0x100A),
            VR::US,
            PrimitiveValue::from(5u16),
        ));
    });
    let (p, reason) = dicom_error(dir.path());
    assert_eq!(p, path);
    assert!(reason.contains("3×3") && reason.contains("8×8"), "{reason}");
}

#[test]
fn private_tag_and_csa_counts_must_agree() {
    let dir = tempfile::tempdir().unwrap();
    let v = volume([4, 4, 4], oblique_affine(), coded);
    let path = write_one(dir.path(), &v, None, MosaicWriteOptions::default());
    edit_file(&path, |o| {
        o.put(DataElement::new(
            Tag(0x0019, 0x100A),
            VR::US,
            PrimitiveValue::from(3u16),
        ));
    });
    let (p, reason) = dicom_error(dir.path());
    assert_eq!(p, path);
    assert!(
        reason.contains("says 3") && reason.contains('4'),
        "{reason}"
    );
}

#[test]
fn mosaic_count_tag_formats() {
    let creator = DataElement::new(
        Tag(0x0019, 0x0010),
        VR::LO,
        PrimitiveValue::from("SIEMENS MR HEADER"),
    );
    let us = DataElement::new(Tag(0x0019, 0x100A), VR::US, PrimitiveValue::from(60u16));
    let o = InMemDicomObject::from_element_iter([creator.clone(), us]);
    assert_eq!(siemens_mosaic_count(&o), Some(60.0));
    // Implicit VR files give private tags as UN: little-endian binary, never text
    // (48 = b"0\0" would read as "0").
    let un = DataElement::new(
        Tag(0x0019, 0x100A),
        VR::UN,
        PrimitiveValue::from(&48u16.to_le_bytes()[..]),
    );
    let o = InMemDicomObject::from_element_iter([creator, un.clone()]);
    assert_eq!(siemens_mosaic_count(&o), Some(48.0));
    // Another vendor's block: not a mosaic count.
    let ge = DataElement::new(
        Tag(0x0019, 0x0010),
        VR::LO,
        PrimitiveValue::from("GEMS_ACQU_01"),
    );
    let o = InMemDicomObject::from_element_iter([ge, un]);
    assert_eq!(siemens_mosaic_count(&o), None);
}
