//! `strokeseg synth` from the command line.

use super::util::*;

fn template_installed() -> bool {
    let ok = strokeseg_synth::Template::default_dir()
        .join(strokeseg_synth::template::FILES[0])
        .is_file();
    if !ok {
        eprintln!("SKIPPED: MNI template not installed (run tools/fetch-template.sh)");
    }
    ok
}

#[test]
fn list_sites_shows_the_presets() {
    let out = strokeseg(&["synth", "--list-sites"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for s in ["site-a", "site-b", "site-c", "site-d", "site-e"] {
        assert!(out.stdout.contains(s), "{}", out.stdout);
    }
}

#[test]
fn unknown_site_and_missing_template_are_user_errors() {
    let d = tempfile::tempdir().unwrap();
    let out = strokeseg(&[
        "synth",
        "--out",
        s(&d.path().join("x")),
        "--site",
        "nowhere",
    ]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("site-a"),
        "lists the known sites: {}",
        out.stderr
    );
    let out = strokeseg(&[
        "synth",
        "--out",
        s(&d.path().join("y")),
        "--template",
        s(d.path()),
    ]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("fetch-template.sh"), "{}", out.stderr);
}

#[test]
fn synth_writes_a_dataset_that_inspect_reads_and_refuses_to_overwrite_it() {
    if !template_installed() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let out_dir = d.path().join("ds");
    let out = strokeseg(&[
        "synth",
        "--out",
        s(&out_dir),
        "--n",
        "2",
        "--seed",
        "4",
        "--site",
        "site-c",
        "--dicom",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("wrote 2 synthetic studies"),
        "{}",
        out.stdout
    );
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(m["synthetic"], true);
    assert_eq!(m["studies"].as_array().unwrap().len(), 2);
    let (o, objs) = inspect_json(&[s(&out_dir.join("sub-sitec0001"))]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(objs[0]["dims"], serde_json::json!([112, 112, 72]));
    assert_eq!(objs[0]["b_value"].as_f64(), Some(800.0));
    assert_eq!(objs[0]["adc_units_detected"], "mm2/s");
    let dicom = out_dir.join("sourcedata/sub-sitec0001/dicom");
    let (o, objs) = inspect_json(&[s(&dicom)]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(objs[0]["dims"], serde_json::json!([112, 112, 72]));
    let again = strokeseg(&[
        "synth",
        "--out",
        s(&out_dir),
        "--n",
        "1",
        "--site",
        "site-c",
    ]);
    assert_eq!(again.code, 2);
    assert!(again.stderr.contains("already holds"), "{}", again.stderr);
}

#[test]
fn demo_segments_a_synthetic_study_with_the_shipped_model() {
    if !template_installed() {
        return;
    }
    let model = std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../models/realmix-v1"
    ));
    if !model.join("model.bpk").is_file() {
        eprintln!("SKIPPED: no shipped model in {}", model.display());
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let out = strokeseg(&["demo", "--out", s(d.path()), "--site", "site-c"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("\"schema_version\": 2"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("synthetic study"), "{}", out.stdout);
    assert!(d.path().join("result/overlay.png").is_file());
    let r: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(d.path().join("result/report.json")).unwrap(),
    )
    .unwrap();
    // realmix-v1 learned from real studies (with synthetic infarcts implanted), so it is not
    // labelled synthetic-only; its name says which model answered.
    assert_eq!(r["model"]["trained_on_synthetic_data_only"], false);
    assert_eq!(r["model"]["name"], "realmix-v1");
    assert!(
        r["patient"]["operating_point"]["name"] == "sens99",
        "calibrated: {}",
        r["patient"]
    );
}
