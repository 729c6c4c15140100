//! `strokeseg inspect` on studies the tests make: layouts, units, computed ADC, warnings.

use super::util::*;
use strokeseg_core::Volume;

fn f(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// True brain volume of the phantom ellipsoid: 4/3·π·60·75·55 mm³.
const PHANTOM_BRAIN_ML: f64 = 4.0 / 3.0 * std::f64::consts::PI * 60.0 * 75.0 * 55.0 / 1000.0;

#[test]
fn bids_folder_with_adc_in_each_unit_comes_out_in_micro_units() {
    for (scale, unit) in [(1.0, "1e-6 mm2/s"), (1e-3, "1e-3 mm2/s"), (1e-6, "mm2/s")] {
        let d = tempfile::tempdir().unwrap();
        let root = bids_study(d.path(), scale);
        let (out, objs) = inspect_json(&[s(&root)]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let r = &objs[0];
        assert_eq!(r["dims"], serde_json::json!([60, 72, 34]));
        for (a, b) in r["spacing_mm"]
            .as_array()
            .unwrap()
            .iter()
            .zip([2.5, 2.5, 4.0])
        {
            assert!((f(a) - b).abs() < 1e-4);
        }
        assert_eq!(r["adc_units_detected"], unit);
        let m = f(&r["adc_brain_median_1e6"]);
        assert!((790.0..=810.0).contains(&m), "median {m} for {unit}");
        assert!(r["inputs"]["dwi"]["path"]
            .as_str()
            .unwrap()
            .ends_with("_dwi.nii.gz"));
        assert!(r["inputs"]["adc"]["source"]["path"]
            .as_str()
            .unwrap()
            .ends_with("_adc.nii.gz"));
        assert!(r["inputs"]["b0"].is_null());
        assert!(r["b_value"].is_null());
        let vol = f(&r["brain_volume_ml"]);
        assert!(
            (vol - PHANTOM_BRAIN_ML).abs() < 0.08 * PHANTOM_BRAIN_ML,
            "brain {vol} mL vs {PHANTOM_BRAIN_ML}"
        );
        // The phantom is noiseless: measured, and far under the smoothing threshold.
        let noise = f(&r["dwi_relative_noise"]);
        assert!((0.0..0.05).contains(&noise), "relative noise {noise}");
    }
}

#[test]
fn dwi_file_finds_its_bids_siblings_and_text_output_reads_well() {
    let d = tempfile::tempdir().unwrap();
    let root = bids_study(d.path(), 1e-3);
    let dwi = root.join("sub-001/ses-0001/dwi/sub-001_ses-0001_dwi.nii.gz");
    let out = strokeseg(&["inspect", s(&dwi)]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("60×72×34 voxels"), "{}", out.stdout);
    assert!(out.stdout.contains("given in 1e-3 mm2/s"), "{}", out.stdout);
    assert!(out.stdout.contains("brain"), "{}", out.stdout);
    assert!(out.stdout.contains("noise  0.0"), "{}", out.stdout);
}

#[test]
fn dwi_plus_b0_with_bval_gives_computed_adc() {
    let d = tempfile::tempdir().unwrap();
    let h = head();
    let dwi = write(&d.path().join("case_dwi.nii.gz"), &h.dwi);
    std::fs::write(d.path().join("case_dwi.bval"), "1000\n").unwrap();
    write(&d.path().join("case_b0.nii.gz"), &h.b0);
    let (out, objs) = inspect_json(&[s(&dwi)]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r = &objs[0];
    assert_eq!(f(&r["b_value"]), 1000.0);
    assert_eq!(r["inputs"]["adc"]["kind"], "computed");
    let m = f(&r["adc_brain_median_1e6"]);
    // Phantom: ADC 800 in most of the brain; the fixed noise pattern shifts it slightly.
    assert!((760.0..=840.0).contains(&m), "computed ADC median {m}");
}

#[test]
fn four_d_dwi_with_bval_sidecar_is_split_into_b0_and_trace() {
    use ndarray::{Array4, Axis};
    let d = tempfile::tempdir().unwrap();
    let h = head();
    // b0, then three directions whose geometric mean is the phantom DWI.
    let factors = [1.0f32, 0.8, 1.25, 1.0];
    let mut a = Array4::<f32>::zeros((60, 72, 34, 4));
    a.index_axis_mut(Axis(3), 0).assign(h.b0.data());
    for (v, &k) in factors.iter().enumerate().skip(1) {
        a.index_axis_mut(Axis(3), v).assign(&(h.dwi.data() * k));
    }
    let p = d.path().join("multi_dwi.nii.gz");
    let mut hdr = nifti::NiftiHeader::default();
    hdr.set_sform(h.dwi.affine(), nifti::XForm::ScannerAnat);
    hdr.set_qform(h.dwi.affine(), nifti::XForm::ScannerAnat);
    nifti::writer::WriterOptions::new(&p)
        .reference_header(&hdr)
        .write_nifti(&a)
        .unwrap();
    std::fs::write(d.path().join("multi_dwi.bval"), "0 1000 1000 1000\n").unwrap();
    let (out, objs) = inspect_json(&[s(&p)]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r = &objs[0];
    assert_eq!(f(&r["b_value"]), 1000.0);
    assert!(r["inputs"]["dwi"]["detail"]
        .as_str()
        .unwrap()
        .contains("trace of 3"));
    assert!(r["inputs"]["b0"]["detail"]
        .as_str()
        .unwrap()
        .contains("mean of 1"));
    let m = f(&r["adc_brain_median_1e6"]);
    assert!((760.0..=840.0).contains(&m), "ADC from 4-D {m}");
}

#[test]
fn dwi_only_is_valid_and_says_so() {
    let d = tempfile::tempdir().unwrap();
    let p = write(&d.path().join("x_dwi.nii.gz"), &head().dwi);
    let (out, objs) = inspect_json(&[s(&p)]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r = &objs[0];
    assert!(r["inputs"]["adc"].is_null() && r["inputs"]["b0"].is_null());
    let w = r["warnings"].to_string();
    assert!(
        w.contains("DWI only") && w.contains("b-value is not recorded"),
        "{w}"
    );
}

#[test]
fn explicit_flags_and_adc_on_another_grid_is_resampled_with_a_warning() {
    let d = tempfile::tempdir().unwrap();
    let h = head();
    let dwi = write(&d.path().join("a.nii.gz"), &h.dwi);
    // ADC of the same head on a 2 mm axis-aligned grid.
    let g2 = strokeseg_core::Grid::axis_aligned([80, 96, 64], [2.0; 3], [-80.0, -96.0, -64.0]);
    let adc2: Volume = strokeseg_testkit::phantom(&g2).adc;
    let adc = write(&d.path().join("b.nii.gz"), &adc2);
    let (out, objs) = inspect_json(&["--dwi", s(&dwi), "--adc", s(&adc)]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r = &objs[0];
    assert_eq!(r["dims"], serde_json::json!([60, 72, 34]));
    let w = r["warnings"].to_string();
    assert!(
        w.contains("different grid") && w.contains("resampled"),
        "{w}"
    );
    let m = f(&r["adc_brain_median_1e6"]);
    assert!((780.0..=820.0).contains(&m), "resampled ADC median {m}");
}

#[test]
fn two_candidate_dwi_files_pick_by_rule_and_say_which() {
    let d = tempfile::tempdir().unwrap();
    let h = head();
    write(&d.path().join("s_dwi.nii.gz"), &h.dwi);
    write(&d.path().join("s_dwi_repeat.nii.gz"), &h.dwi);
    let (out, objs) = inspect_json(&[s(d.path())]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r = &objs[0];
    assert!(r["inputs"]["dwi"]["path"]
        .as_str()
        .unwrap()
        .ends_with("s_dwi.nii.gz"));
    let w = r["warnings"].to_string();
    assert!(
        w.contains("2 candidate") && w.contains("s_dwi_repeat"),
        "{w}"
    );
}

#[test]
fn help_is_there_for_every_subcommand() {
    let out = strokeseg(&["--help"]);
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("RESEARCH USE ONLY"));
    let out = strokeseg(&["inspect", "--help"]);
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("--json") && out.stdout.contains("--adc"));
}
