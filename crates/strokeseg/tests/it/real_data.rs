//! Real studies in `../shared/data/real` (skipped with a message when absent).
//!
//! Expected dims and spacings are constants read with independent tools (nibabel 5.4.2,
//! pydicom 3.0.2, dcm2niix v1.0.20260724) by `tools/reference_values.py`; its output is
//! `tools/reference_values.json`. Rerun: `python3 tools/reference_values.py`.

use super::util::*;
use strokeseg_io::nifti_io::read_volume;
use strokeseg_testkit::shared;

fn f(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn check_grid(r: &serde_json::Value, dims: [u64; 3], spacing: [f64; 3], tol: f64) {
    let got: Vec<u64> = r["dims"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect();
    assert_eq!(got, dims, "{}", r["study"]);
    for (a, b) in r["spacing_mm"].as_array().unwrap().iter().zip(spacing) {
        assert!(
            (f(a) - b).abs() < tol,
            "spacing {} vs {spacing:?}",
            r["spacing_mm"]
        );
    }
}

fn brain_ok(r: &serde_json::Value) {
    let v = f(&r["brain_volume_ml"]);
    assert!(
        (900.0..=2000.0).contains(&v),
        "{}: brain {v} mL",
        r["study"]
    );
}

fn adc_ok(r: &serde_json::Value) {
    let m = f(&r["adc_brain_median_1e6"]);
    assert!(
        (600.0..=1100.0).contains(&m),
        "{}: ADC brain median {m}",
        r["study"]
    );
}

/// ISLES'22: (case, dims, voxel sizes from the affine's column norms, ADC units as stored, b).
type IslesCase = (&'static str, [u64; 3], f64, &'static str, Option<f64>);
const ISLES: [IslesCase; 3] = [
    (
        "sub-strokecase0001",
        [112, 112, 73],
        2.0,
        "1e-3 mm2/s",
        Some(800.0),
    ),
    ("sub-strokecase0002", [112, 112, 72], 2.0, "mm2/s", None),
    (
        "sub-strokecase0003",
        [112, 112, 72],
        2.0,
        "mm2/s",
        Some(1000.0),
    ),
];

#[test]
fn isles22_cases_read_with_adc_in_micro_units() {
    for (case, dims, sp, units, b) in ISLES {
        let Some(dir) = shared(&format!("data/real/isles22/{case}")) else {
            return;
        };
        let (out, objs) = inspect_json(&[s(&dir)]);
        assert_eq!(out.code, 0, "{case}: {}", out.stderr);
        let r = &objs[0];
        check_grid(r, dims, [sp; 3], 0.12); // oblique: column norms 1.89–2.0
        assert_eq!(r["adc_units_detected"], units, "{case}");
        assert_eq!(r["b_value"].as_f64(), b, "{case}");
        adc_ok(r);
        brain_ok(r);
        assert_eq!(r["orientation"], "LAS", "{case}");
    }
}

#[test]
fn isles22_brain_mask_holds_the_expert_lesions() {
    use strokeseg_preproc::{brain_mask, BrainMaskConfig};
    for (case, ..) in ISLES {
        let Some(dir) = shared(&format!("data/real/isles22/{case}")) else {
            return;
        };
        let dwi = read_volume(&dir.join(format!("{case}_ses-0001_dwi.nii.gz"))).unwrap();
        let les = read_volume(&dir.join(format!("{case}_ses-0001_msk.nii.gz"))).unwrap();
        let mask = brain_mask(&dwi, &BrainMaskConfig::default());
        let (mut n, mut inside) = (0usize, 0usize);
        for (l, m) in les.data().iter().zip(mask.data().iter()) {
            if *l > 0.5 {
                n += 1;
                inside += usize::from(*m);
            }
        }
        assert!(n > 0);
        let frac = inside as f64 / n as f64;
        assert!(
            frac >= 0.98,
            "{case}: brain mask holds {:.1}% of {n} lesion voxels",
            100.0 * frac
        );
    }
}

#[test]
fn ads_skull_on_clinical_cases() {
    // Subject01: DWI + b0 only (ADC computed, b assumed 1000); Subject02: ADC given in mm²/s.
    for (subj, dims, sp, computed) in [
        ("Subject01", [256u64, 256, 30], [0.9375, 0.9375, 5.0], true),
        ("Subject02", [192, 192, 32], [1.1979, 1.1979, 5.0], false),
    ] {
        let Some(dir) = shared(&format!("data/real/ads/{subj}")) else {
            return;
        };
        let (out, objs) = inspect_json(&[s(&dir)]);
        assert_eq!(out.code, 0, "{subj}: {}", out.stderr);
        let r = &objs[0];
        check_grid(r, dims, sp, 1e-3);
        assert!(r["inputs"]["b0"]["path"]
            .as_str()
            .unwrap()
            .ends_with("_b0.nii.gz"));
        let kind = &r["inputs"]["adc"]["kind"];
        assert_eq!(kind, if computed { "computed" } else { "given" }, "{subj}");
        if computed {
            // No b-value is recorded, so b = 1000 is assumed. Subject01's separately exported
            // DWI and b0 then give a brain median of ~1190 (1204 inside the ADS tool's own
            // brain mask, computed with nibabel): the assumption, or a scaling between the two
            // exports, is off for this case. We check the plausible range only.
            let m = f(&r["adc_brain_median_1e6"]);
            assert!((600.0..=1400.0).contains(&m), "{subj}: {m}");
            assert!(r["warnings"].to_string().contains("assuming b = 1000"));
        } else {
            adc_ok(r);
        }
        brain_ok(r);
    }
}

#[test]
fn ads_brain_mask_agrees_with_the_provided_one() {
    use strokeseg_preproc::{brain_mask, BrainMaskConfig};
    for subj in ["Subject01", "Subject02"] {
        let Some(dir) = shared(&format!("data/real/ads/{subj}")) else {
            return;
        };
        let dwi = read_volume(&dir.join(format!("{subj}_DWI.nii.gz"))).unwrap();
        let theirs = read_volume(&dir.join(format!("{subj}_Mask.nii.gz"))).unwrap();
        let ours = brain_mask(&dwi, &BrainMaskConfig::default());
        let (mut both, mut a, mut b) = (0usize, 0usize, 0usize);
        for (t, o) in theirs.data().iter().zip(ours.data().iter()) {
            let t = *t > 0.5;
            both += usize::from(t && *o);
            a += usize::from(t);
            b += usize::from(*o);
        }
        let dice = 2.0 * both as f64 / (a + b) as f64;
        assert!(
            dice > 0.85,
            "{subj}: Dice with the ADS tool's brain mask {dice:.3}"
        );
    }
}
