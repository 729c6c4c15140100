//! SEG and Secondary Capture over the real DICOM series in ../shared (skipped with a message
//! when absent): read back with our reader on the source grid, references to real instances,
//! and dciodvfy with zero errors.

mod common;

use common::*;
use strokeseg_deliver::{write_dicom_outputs, DeliverOptions};

fn run(rel: &str, expect_refs_per_slice: usize) {
    let Some(src) = strokeseg_testkit::shared(rel) else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let study = load(&src);
    let prov = study.dicom.as_ref().expect("DICOM provenance");
    assert!(
        prov.geometry
            .slices
            .iter()
            .all(|s| s.images.len() == expect_refs_per_slice),
        "{rel}: {:?}",
        prov.geometry
            .slices
            .iter()
            .map(|s| s.images.len())
            .collect::<Vec<_>>()
    );
    let mask = lesion_mask(&study);
    let pic = image::RgbImage::from_pixel(50, 30, image::Rgb([10, 200, 30]));
    let out = d.path().join("out");
    let w = write_dicom_outputs(&study, &mask, &[pic], &DeliverOptions::default(), &out).unwrap();
    let scan = strokeseg_io::dicom::scan_dir(&out).unwrap();
    let v = &scan.series[0].volumes[0].volume;
    assert_eq!(v.dims(), study.dwi.dims());
    assert!((v.affine() - study.dwi.affine()).amax() < 1e-3);
    for (idx, &m) in mask.data().indexed_iter() {
        assert_eq!(v.data()[idx] > 0.5, m, "{rel}: voxel {idx:?}");
    }
    let seg = open(&w.seg);
    for t in [
        dicom_dictionary_std::tags::PATIENT_ID,
        dicom_dictionary_std::tags::STUDY_INSTANCE_UID,
        dicom_dictionary_std::tags::STUDY_DATE,
        dicom_dictionary_std::tags::ACCESSION_NUMBER,
    ] {
        let first = open(&prov.geometry.slices[0].images[0].path);
        assert_eq!(text(&seg, t), text(&first, t), "{rel}: {t} copied");
    }
    assert_dciodvfy_clean(&w.seg);
    assert_dciodvfy_clean(&w.secondary_capture[0]);
}

#[test]
fn real_aisd_siemens_series() {
    run("data/real/dicom/aisd-0019983-dwi", 1);
}

#[test]
fn real_philips_multi_b_series_references_each_direction() {
    run("data/real/dicom/philips-dwi-healthy", 12);
}
