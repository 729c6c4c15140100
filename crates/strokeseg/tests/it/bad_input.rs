//! Bad input: a clear message naming the file, exit code 2, no panic.

use super::util::*;

fn assert_rejected(out: &Out, path: &std::path::Path, words: &[&str]) {
    assert_eq!(out.code, 2, "exit code; stderr: {}", out.stderr);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    assert!(
        out.stderr.contains(s(path)),
        "message must name {}: {}",
        path.display(),
        out.stderr
    );
    for w in words {
        assert!(
            out.stderr.to_lowercase().contains(w),
            "stderr should contain {w:?}: {}",
            out.stderr
        );
    }
}

#[test]
fn empty_folder() {
    let d = tempfile::tempdir().unwrap();
    let out = strokeseg(&["inspect", s(d.path())]);
    assert_rejected(&out, d.path(), &["no dicom"]);
}

#[test]
fn missing_path() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("nope");
    assert_rejected(&strokeseg(&["inspect", s(&p)]), &p, &["cannot read"]);
}

#[test]
fn folder_with_no_dwi() {
    let d = tempfile::tempdir().unwrap();
    let h = head();
    write(&d.path().join("t1w.nii.gz"), &h.b0);
    write(&d.path().join("x_adc.nii.gz"), &h.adc);
    let out = strokeseg(&["inspect", s(d.path())]);
    assert_rejected(&out, d.path(), &["no dwi"]);
}

#[test]
fn truncated_nifti() {
    let d = tempfile::tempdir().unwrap();
    let p = write(&d.path().join("c_dwi.nii"), &head().dwi);
    let b = std::fs::read(&p).unwrap();
    std::fs::write(&p, &b[..b.len() / 3]).unwrap();
    assert_rejected(&strokeseg(&["inspect", s(&p)]), &p, &["truncated"]);
}

#[test]
fn nan_voxels() {
    let d = tempfile::tempdir().unwrap();
    let mut v = head().dwi;
    v.data_mut()[[30, 30, 10]] = f32::NAN;
    let p = write(&d.path().join("n_dwi.nii.gz"), &v);
    assert_rejected(&strokeseg(&["inspect", s(&p)]), &p, &["nan"]);
}

#[test]
fn adc_in_unknown_units() {
    let d = tempfile::tempdir().unwrap();
    let h = head();
    write(&d.path().join("u_dwi.nii.gz"), &h.dwi);
    let adc = write(&d.path().join("u_adc.nii.gz"), &h.adc.map(|x| x * 0.05));
    assert_rejected(&strokeseg(&["inspect", s(d.path())]), &adc, &["units"]);
}

#[test]
fn a_bad_study_in_a_batch_does_not_stop_the_others() {
    let d = tempfile::tempdir().unwrap();
    let good = write(&d.path().join("g_dwi.nii.gz"), &head().dwi);
    let bad = d.path().join("b_dwi.nii.gz");
    std::fs::write(&bad, b"\x1f\x8bnot really gzip").unwrap();
    let (out, objs) = inspect_json(&[s(&bad), s(&good)]);
    assert_eq!(out.code, 2);
    assert_eq!(objs.len(), 1, "the good study is still reported");
    assert!(out.stderr.contains(s(&bad)), "{}", out.stderr);
}

#[test]
fn usage_errors_exit_2() {
    let out = strokeseg(&["inspect"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let out = strokeseg(&["inspect", "a", "b", "--dwi", "c"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let out = strokeseg(&["frobnicate"]);
    assert_eq!(out.code, 2);
}

/// Issue 16, item 10: flag values that cannot be meant are refused before any work.
#[test]
fn segment_flag_values_out_of_range_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let study = bids_study(d.path(), 1.0);
    let out_dir = d.path().join("out");
    for (flag, value, word) in [
        ("--threshold", "NaN", "probability"),
        ("--threshold", "2", "probability"),
        ("--threshold", "-1", "probability"),
        ("--threshold", "0", "probability"),
        ("--min-volume-ml", "inf", "finite"),
        ("--min-volume-ml", "-0.5", "finite"),
        ("--operating-point", "sens50", "sens99"),
        ("--max-adc-ratio", "NaN", "ratio"),
        ("--max-adc-ratio", "0", "ratio"),
        ("--max-adc-ratio", "3", "ratio"),
    ] {
        let arg = format!("{flag}={value}");
        let out = strokeseg(&["segment", s(&study), "--out", s(&out_dir), &arg]);
        assert_eq!(out.code, 2, "{flag} {value}: {}", out.stderr);
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
        assert!(
            out.stderr.contains(value) && out.stderr.contains(word),
            "{flag} {value}: {}",
            out.stderr
        );
        assert!(!out_dir.exists(), "{flag} {value}: nothing written");
    }
}

/// Training weights and distances that cannot be meant are refused before any study is read.
#[test]
fn train_flag_values_out_of_range_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let out_dir = d.path().join("run");
    for (flag, value, word) in [
        ("--lesion-loss", "-1", "weight"),
        ("--lesion-loss", "NaN", "weight"),
        ("--mine-margin", "-2", "distance"),
    ] {
        let arg = format!("{flag}={value}");
        let out = strokeseg(&["train", "--data", s(d.path()), "--out", s(&out_dir), &arg]);
        assert_eq!(out.code, 2, "{flag} {value}: {}", out.stderr);
        assert!(
            out.stderr.contains(value) && out.stderr.contains(word),
            "{flag} {value}: {}",
            out.stderr
        );
        assert!(!out_dir.exists(), "{flag} {value}: nothing written");
    }
}

/// Issue 16, item 11: an --out that is a file is refused at once with exit 2, naming it.
#[test]
fn segment_out_that_is_a_file_is_refused_before_work() {
    let d = tempfile::tempdir().unwrap();
    let study = bids_study(d.path(), 1.0);
    let file = d.path().join("not-a-folder");
    std::fs::write(&file, b"x").unwrap();
    let t = std::time::Instant::now();
    let out = strokeseg(&["segment", s(&study), "--out", s(&file)]);
    assert_rejected(&out, &file, &["not a folder"]);
    assert_eq!(
        std::fs::read(&file).unwrap(),
        b"x",
        "the user's file is untouched"
    );
    eprintln!("refused in {:.2} s", t.elapsed().as_secs_f64());
}

/// Issue 16 item 4: a study under a folder whose name is not UTF-8 used to panic (exit 101)
/// while writing report.json, after lesion_mask.nii.gz was already written.
#[cfg(unix)]
#[test]
fn non_utf8_path_gets_a_report_not_a_panic() {
    use std::os::unix::ffi::OsStrExt;
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join(std::ffi::OsStr::from_bytes(b"bad\xffname"));
    std::fs::create_dir(&root).unwrap();
    let study = bids_study(&root, 1.0);
    let out_dir = d.path().join(std::ffi::OsStr::from_bytes(b"out\xffdir"));
    let out = strokeseg(&[
        std::ffi::OsStr::new("segment"),
        study.as_os_str(),
        std::ffi::OsStr::new("--out"),
        out_dir.as_os_str(),
    ]);
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    let report = std::fs::read_dir(&out_dir)
        .unwrap()
        .flatten()
        .map(|e| e.path().join("report.json"))
        .find(|p| p.exists())
        .or_else(|| Some(out_dir.join("report.json")).filter(|p| p.exists()))
        .expect("a report.json is written");
    let j: serde_json::Value = serde_json::from_slice(&std::fs::read(report).unwrap()).unwrap();
    crate::util::assert_report_valid(&j);
    let src = j["study"]["sources"]["dwi"]["path"].as_str().unwrap();
    assert!(
        src.contains("bad\u{fffd}name"),
        "lossy path in the report: {src}"
    );
}

/// Issue 16 item 6: with --out inside a DICOM folder, the second run read the first run's
/// lesion_mask.nii.gz as the DWI and answered "no infarct". Now --out inside an input folder
/// is refused before any work, and a folder mixing DICOM and NIfTI files is refused by name.
#[test]
fn out_inside_the_input_and_mixed_dicom_nifti_folders_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let dcm = d.path().join("dicom");
    strokeseg_io::dicom::write_mr_series(
        &dcm,
        &head().dwi,
        &strokeseg_io::dicom::SeriesWriteOptions::from_seed(4),
    )
    .unwrap();
    let inside = dcm.join("out");
    let out = strokeseg(&["segment", s(&dcm), "--out", s(&inside)]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("inside the input folder"),
        "{}",
        out.stderr
    );
    assert!(!inside.exists());
    write(&dcm.join("lesion_mask.nii.gz"), &head().adc);
    let out = strokeseg(&["inspect", s(&dcm)]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("both DICOM files") && out.stderr.contains("lesion_mask.nii.gz"),
        "{}",
        out.stderr
    );
}

/// Issue 16 item 9: degenerate studies got confident calls (a single slice: INFARCT 1.00; a
/// constant image with 0 mL of brain: "no infarct"). The quality gate refuses them, exit 2.
#[test]
fn degenerate_studies_are_refused_by_the_quality_gate() {
    let d = tempfile::tempdir().unwrap();
    let h = head();
    let one = h.dwi.data().slice(ndarray::s![.., .., 10..11]).to_owned();
    let single = write(
        &d.path().join("single_dwi.nii.gz"),
        &strokeseg_core::Volume::new(one, *h.dwi.affine()).unwrap(),
    );
    let out = strokeseg(&["segment", s(&single), "--out", s(&d.path().join("o1"))]);
    assert_rejected(&out, &single, &["not a brain dwi volume"]);
    let flat = write(&d.path().join("flat_dwi.nii.gz"), &h.dwi.map(|_| 500.0));
    let out = strokeseg(&["segment", s(&flat), "--out", s(&d.path().join("o2"))]);
    assert_rejected(&out, &flat, &["no brain found"]);
    assert!(!d.path().join("o1").join("report.json").exists());
}

/// Issue 16 item 13: a constant DWI given with a valid ADC blamed the ADC file ("ADC has no
/// positive values inside the brain"); the DWI is named now.
#[test]
fn a_constant_dwi_with_a_valid_adc_names_the_dwi() {
    let d = tempfile::tempdir().unwrap();
    let h = head();
    let flat = write(&d.path().join("flat_dwi.nii.gz"), &h.dwi.map(|_| 500.0));
    let adc = write(&d.path().join("good_adc.nii.gz"), &h.adc);
    let out = strokeseg(&[
        "segment",
        "--dwi",
        s(&flat),
        "--adc",
        s(&adc),
        "--out",
        s(&d.path().join("o")),
    ]);
    assert_rejected(&out, &flat, &["no brain found", "dwi is constant"]);
    assert!(!out.stderr.contains("good_adc"), "{}", out.stderr);
}

/// Issue 16 item 16: the CLI processed a series tagged Modality = CT (serve ignored it).
#[test]
fn a_ct_series_is_not_read_as_dwi() {
    let d = tempfile::tempdir().unwrap();
    let files = strokeseg_io::dicom::write_mr_series(
        d.path(),
        &head().dwi,
        &strokeseg_io::dicom::SeriesWriteOptions::from_seed(6),
    )
    .unwrap();
    for f in &files {
        let mut o = dicom_object::open_file(f).unwrap();
        o.put(dicom_core::DataElement::new(
            dicom_dictionary_std::tags::MODALITY,
            dicom_core::VR::CS,
            dicom_core::PrimitiveValue::from("CT"),
        ));
        o.write_to_file(f).unwrap();
    }
    let out = strokeseg(&["inspect", s(d.path())]);
    assert_rejected(&out, d.path(), &["modality ct is not mr"]);
}
