//! `strokeseg synth` from the command line.

use super::util::*;

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
    assert!(out.stderr.contains("built into"), "{}", out.stderr);
}

#[test]
fn synth_writes_a_dataset_that_inspect_reads_and_refuses_to_overwrite_it() {
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
fn demo_from_another_folder_with_no_environment_uses_what_is_built_in() {
    // A fresh machine: an empty HOME, no STROKESEG_* variables, run from an unrelated folder.
    // Model, template and atlas must come out of the binary itself.
    let d = tempfile::tempdir().unwrap();
    let (home, cwd) = (d.path().join("home"), d.path().join("elsewhere"));
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&cwd).unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_strokeseg"))
        .arg("demo")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .current_dir(&cwd)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert_eq!(o.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("\"schema_version\": 7"), "{stdout}");
    let res = cwd.join("strokeseg-demo/result");
    assert!(res.join("overlay.png").is_file());
    assert!(res.join("key_images.png").is_file());
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(res.join("report.json")).unwrap()).unwrap();
    super::util::assert_report_valid(&r);
    // realmix-v3 learned from real studies (with synthetic infarcts implanted), so it is not
    // labelled synthetic-only; its name says which model answered; it is calibrated.
    assert_eq!(r["model"]["trained_on_synthetic_data_only"], false);
    assert_eq!(r["model"]["name"], "realmix-v3");
    assert_eq!(
        r["patient"]["operating_point"]["name"], "sens99",
        "{}",
        r["patient"]
    );
    // Every lesion is measured against the brain, and with an ADC only restricted diffusion
    // is kept (the default rule, recorded in the report).
    let rule = r["model"]["max_adc_ratio"].as_f64().expect("rule applied");
    assert!((rule - 0.8).abs() < 1e-6, "{}", r["model"]);
    for l in r["lesions"].as_array().unwrap() {
        let a = l["signal"]["adc_ratio_low"]
            .as_f64()
            .expect("ADC ratio measured");
        assert!(a < rule, "{l}");
        assert!(l["signal"]["dwi_ratio"].as_f64().unwrap() > 1.0, "{l}");
    }
    // Registered to the built-in template and located with the built-in JHU atlas.
    let loc = &r["location"];
    assert_eq!(loc["mni_map"], "registration", "{loc}");
    assert_eq!(loc["method"], "atlas", "{loc}");
    let n = r["lesions"].as_array().unwrap().len();
    assert_eq!(loc["lesions"].as_array().unwrap().len(), n);
    // The demo study (site-a, seed 7) holds two infarcts; every lesion found gets a JHU
    // structure and arterial territory with its side.
    assert!(n >= 1, "{stdout}");
    for l in loc["lesions"].as_array().unwrap() {
        let s = &l["structures"][0];
        let t = &l["territories"][0];
        assert!(s["name"].is_string() && s["side"].is_string(), "{l}");
        assert!(t["group"].is_string() && t["side"].is_string(), "{l}");
    }
    assert!(stdout.contains("territory"), "{stdout}");
    let embedded = home.join(".cache/strokeseg/embedded");
    for b in ["realmix-v3", "mni_icbm152_2009a", "jhu-atlas"] {
        let dir = embedded.join(env!("CARGO_PKG_VERSION")).join(b);
        assert!(
            dir.join("NOTICE").is_file() || dir.join("MODEL_CARD.md").is_file(),
            "{}",
            dir.display()
        );
    }
}

#[test]
fn licenses_names_what_is_built_in_with_its_licence() {
    let out = strokeseg(&["licenses"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for needle in [
        "realmix-v3",
        "MNI ICBM152 2009a",
        "Copyright (C) 1993-2009 Louis Collins",
        "CC BY-SA 4.0",
        "Liu",
        "Research use only",
        "NiiVue 0.69.0",
        "Copyright (c) 2021, Niivue",
    ] {
        assert!(out.stdout.contains(needle), "{needle}: {}", out.stdout);
    }
}
