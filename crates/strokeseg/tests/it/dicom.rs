//! `inspect` on DICOM folders: made by the tests (geometry and b-values known) and real.

use super::util::*;
use std::path::Path;
use strokeseg_core::Volume;
use strokeseg_io::dicom::{write_enhanced_mr, write_mr_series, SeriesWriteOptions};
use strokeseg_testkit::shared;

fn f(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn series(dir: &Path, vol: &Volume, opts: &SeriesWriteOptions) {
    std::fs::create_dir_all(dir).unwrap();
    write_mr_series(dir, vol, opts).unwrap();
}

/// One DWI series with b=0 and b=1000 (same SeriesInstanceUID, in two sub-folders).
fn dwi_series(root: &Path, seed: u128, number: i64) -> SeriesWriteOptions {
    let h = head();
    let mut o = SeriesWriteOptions::from_seed(seed);
    o.series_number = number;
    o.series_description = "ep2d_diff".into();
    o.b_value = Some(0.0);
    series(&root.join(format!("s{number}_b0")), &h.b0, &o);
    o.b_value = Some(1000.0);
    o.instance_number_start = 1000;
    series(&root.join(format!("s{number}_b1000")), &h.dwi, &o);
    o
}

#[test]
fn dicom_folder_with_b0_and_b1000_gives_computed_adc() {
    let d = tempfile::tempdir().unwrap();
    dwi_series(d.path(), 7, 5);
    std::fs::write(d.path().join("README.txt"), "not dicom").unwrap();
    let (out, objs) = inspect_json(&[s(d.path())]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r = &objs[0];
    assert_eq!(r["dims"], serde_json::json!([60, 72, 34]));
    assert_eq!(f(&r["b_value"]), 1000.0);
    assert_eq!(r["inputs"]["adc"]["kind"], "computed");
    let m = f(&r["adc_brain_median_1e6"]);
    assert!((760.0..=840.0).contains(&m), "{m}");
    assert!(
        r["warnings"].to_string().contains("README.txt"),
        "skipped file is reported"
    );
    // The affine survives LPS↔RAS conversion: compare with the phantom grid.
    let g = head_grid();
    for (row, want) in r["affine"]
        .as_array()
        .unwrap()
        .iter()
        .zip(g.affine.row_iter())
    {
        for (a, b) in row.as_array().unwrap().iter().zip(want.iter()) {
            assert!(
                (f(a) - b).abs() < 1e-3,
                "affine {} vs {}",
                r["affine"],
                g.affine
            );
        }
    }
}

#[test]
fn dicom_adc_series_is_used_and_two_dwi_series_are_chosen_by_rule() {
    let d = tempfile::tempdir().unwrap();
    dwi_series(d.path(), 11, 3);
    // A second DWI series without b-value tags (an anonymised export).
    let mut o = SeriesWriteOptions::from_seed(12);
    o.series_number = 4;
    o.series_description = "ep2d_diff_TRACEW".into();
    series(&d.path().join("s4"), &head().dwi, &o);
    // A scanner ADC map in 10⁻⁶ mm²/s.
    let mut a = SeriesWriteOptions::from_seed(13);
    a.series_number = 6;
    a.series_description = "ep2d_diff_ADC".into();
    a.image_type = vec![
        "DERIVED".into(),
        "PRIMARY".into(),
        "DIFFUSION".into(),
        "ADC".into(),
    ];
    series(&d.path().join("adc"), &head().adc, &a);
    let (out, objs) = inspect_json(&[s(d.path())]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r = &objs[0];
    assert_eq!(f(&r["b_value"]), 1000.0, "the series with a known b wins");
    let w = r["warnings"].to_string();
    assert!(
        w.contains("2 candidate DWI series") && w.contains("ep2d_diff_TRACEW"),
        "{w}"
    );
    assert_eq!(r["inputs"]["adc"]["kind"], "given");
    assert_eq!(r["adc_units_detected"], "1e-6 mm2/s");
    let m = f(&r["adc_brain_median_1e6"]);
    assert!((790.0..=810.0).contains(&m), "{m}");
}

#[test]
fn enhanced_multiframe_dicom_is_read() {
    let d = tempfile::tempdir().unwrap();
    let h = head();
    let o = SeriesWriteOptions::from_seed(21);
    write_enhanced_mr(
        &d.path().join("enhanced.dcm"),
        &[(Some(0.0), &h.b0), (Some(1000.0), &h.dwi)],
        &o,
    )
    .unwrap();
    let (out, objs) = inspect_json(&[s(d.path())]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r = &objs[0];
    assert_eq!(r["dims"], serde_json::json!([60, 72, 34]));
    assert_eq!(f(&r["b_value"]), 1000.0);
    assert_eq!(r["inputs"]["adc"]["kind"], "computed");
}

fn rejected(dir: &Path, words: &[&str]) -> String {
    let out = strokeseg(&["inspect", s(dir)]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    for w in words {
        assert!(
            out.stderr.to_lowercase().contains(w),
            "want {w:?} in {}",
            out.stderr
        );
    }
    out.stderr
}

#[test]
fn truncated_dicom_file_is_named() {
    let d = tempfile::tempdir().unwrap();
    let files = write_mr_series(d.path(), &head().dwi, &SeriesWriteOptions::from_seed(31)).unwrap();
    let victim = &files[10];
    let b = std::fs::read(victim).unwrap();
    std::fs::write(victim, &b[..b.len() / 2]).unwrap();
    let err = rejected(d.path(), &[]);
    assert!(err.contains(s(victim)), "{err}");
}

#[test]
fn missing_slices_are_reported_with_positions() {
    let d = tempfile::tempdir().unwrap();
    let files = write_mr_series(d.path(), &head().dwi, &SeriesWriteOptions::from_seed(32)).unwrap();
    std::fs::remove_file(&files[12]).unwrap();
    std::fs::remove_file(&files[20]).unwrap();
    rejected(d.path(), &["missing", "mm"]);
}

#[test]
fn unequal_slice_spacing_is_rejected() {
    let d = tempfile::tempdir().unwrap();
    let mut v = head().dwi;
    // Stretch the upper half of the slices: 4 mm gaps below, then one 5.5 mm gap.
    let files = write_mr_series(d.path(), &v, &SeriesWriteOptions::from_seed(33)).unwrap();
    let upper = strokeseg_core::Grid {
        dims: v.dims(),
        affine: {
            let mut a = *v.affine();
            let shift = a.fixed_view::<3, 1>(0, 2) * (1.5 / 4.0);
            for r in 0..3 {
                a[(r, 3)] += shift[r];
            }
            a
        },
    };
    v = Volume::on_grid(v.into_data(), &upper);
    let tmp = tempfile::tempdir().unwrap();
    let shifted = write_mr_series(tmp.path(), &v, &SeriesWriteOptions::from_seed(33)).unwrap();
    for k in 17..34 {
        std::fs::copy(&shifted[k], &files[k]).unwrap();
    }
    rejected(d.path(), &["unequal"]);
}

#[test]
fn real_aisd_siemens_series_is_dwi_only() {
    let Some(dir) = shared("data/real/dicom/aisd-0019983-dwi") else {
        return;
    };
    let (out, objs) = inspect_json(&[s(&dir)]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r = &objs[0];
    // pydicom: Rows = Columns = 160, PixelSpacing 1.4375, slice gap along the normal 6.5 mm.
    assert_eq!(r["dims"], serde_json::json!([160, 160, 18]));
    for (a, b) in r["spacing_mm"]
        .as_array()
        .unwrap()
        .iter()
        .zip([1.4375, 1.4375, 6.5])
    {
        assert!((f(a) - b).abs() < 1e-3, "{}", r["spacing_mm"]);
    }
    assert!(r["b_value"].is_null());
    assert!(r["inputs"]["adc"].is_null() && r["inputs"]["b0"].is_null());
    assert!(r["warnings"].to_string().contains("DWI only"));
    let v = f(&r["brain_volume_ml"]);
    assert!((900.0..=2000.0).contains(&v), "brain {v} mL");
}

#[test]
fn real_philips_multi_b_gives_b0_trace_and_adc() {
    let Some(dir) = shared("data/real/dicom/philips-dwi-healthy") else {
        return;
    };
    let (out, objs) = inspect_json(&[s(&dir)]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r = &objs[0];
    // dcm2niix: 112×112×32×17, 2 mm voxels; .bval: 5 × b≈0 and 12 × b=1000.
    assert_eq!(r["dims"], serde_json::json!([112, 112, 32]));
    for a in r["spacing_mm"].as_array().unwrap() {
        assert!((f(a) - 2.0).abs() < 1e-3);
    }
    assert_eq!(f(&r["b_value"]), 1000.0);
    assert!(r["inputs"]["dwi"]["detail"]
        .as_str()
        .unwrap()
        .contains("trace of 12"));
    assert!(r["inputs"]["b0"]["detail"]
        .as_str()
        .unwrap()
        .contains("mean of 5"));
    assert_eq!(r["inputs"]["adc"]["kind"], "computed");
    let m = f(&r["adc_brain_median_1e6"]);
    // Reference (tools/reference_values.py, crude b0 mask incl. CSF): 782.
    assert!((600.0..=1100.0).contains(&m), "{m}");
    let v = f(&r["brain_volume_ml"]);
    assert!((900.0..=2000.0).contains(&v), "brain {v} mL");
}
