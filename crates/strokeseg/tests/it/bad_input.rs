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
