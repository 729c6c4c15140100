//! Every object we create passes dciodvfy (dicom3tools) with zero errors; its warnings are
//! printed. Prints SKIPPED where dciodvfy is not installed (`.ci/run` installs it).

mod common;

use common::*;
use strokeseg_deliver::{write_dicom_outputs, DeliverOptions};

fn check(src: &std::path::Path, out: &std::path::Path) {
    let study = load(src);
    let mask = lesion_mask(&study);
    let pic = image::RgbImage::from_fn(64, 40, |x, y| image::Rgb([x as u8, y as u8, 128]));
    let w = write_dicom_outputs(&study, &mask, &[pic], &DeliverOptions::default(), out).unwrap();
    assert_dciodvfy_clean(&w.seg);
    for sc in &w.secondary_capture {
        assert_dciodvfy_clean(sc);
    }
}

#[test]
fn dciodvfy_accepts_seg_and_sc_of_a_classic_series() {
    let d = tempfile::tempdir().unwrap();
    check(&classic_study(&d.path().join("src")), &d.path().join("out"));
}

#[test]
fn dciodvfy_accepts_seg_and_sc_of_an_enhanced_source() {
    let d = tempfile::tempdir().unwrap();
    check(
        &enhanced_study(&d.path().join("src")),
        &d.path().join("out"),
    );
}
