//! `strokeseg register` and `segment --atlas` on real studies (skip without ../shared or the
//! MNI template), and a bad `--atlas` folder as an input error.

use crate::util::strokeseg;

#[test]
fn register_writes_transform_and_picture_and_segment_reports_atlas_location() {
    let Some(case) = strokeseg_testkit::shared("data/real/ads/Subject02/Subject02_DWI.nii.gz")
    else {
        return;
    };
    let Some(atlas) = strokeseg_testkit::shared("data/atlas/jhu") else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let o = strokeseg(&[
        "register",
        "--dwi",
        case.to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("registered"), "{}", o.stdout);
    let dir = out.path().join("Subject02_DWI");
    let t: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("transform.json")).unwrap())
            .unwrap();
    assert!(t["failure"].is_null());
    assert!(t["quality"]["brain_dice"].as_f64().unwrap() > 0.9);
    for f in ["check.png", "dwi_mni.nii.gz", "brain_mask_mni.nii.gz"] {
        assert!(dir.join(f).is_file(), "{f}");
    }
    // The non-linear refinement is on by default; its field is written next to the JSON.
    assert_eq!(t["nonlinear"]["used"], true, "{}", t["nonlinear"]);
    assert_eq!(t["nonlinear"]["file"], "warp_mni.nii.gz");
    let warp = strokeseg_io::nifti_io::read_nifti(&dir.join("warp_mni.nii.gz")).unwrap();
    assert_eq!(warp.volumes.len(), 3, "x, y, z components");
    let max = warp
        .volumes
        .iter()
        .flat_map(|v| v.data().iter())
        .fold(0.0f32, |m, x| m.max(x.abs()));
    assert!(max > 0.1 && max <= 8.01, "displacement up to {max} mm");
    // --affine-only: no field, no record of one.
    let aff = tempfile::tempdir().unwrap();
    let o = strokeseg(&[
        "register",
        "--dwi",
        case.to_str().unwrap(),
        "--out",
        aff.path().to_str().unwrap(),
        "--affine-only",
    ]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    let d2 = aff.path().join("Subject02_DWI");
    let t2: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d2.join("transform.json")).unwrap()).unwrap();
    assert!(t2["nonlinear"].is_null(), "{}", t2["nonlinear"]);
    assert!(!d2.join("warp_mni.nii.gz").exists());
    assert_eq!(
        t2["mni_to_world"], t["mni_to_world"],
        "same affine either way"
    );

    let seg = tempfile::tempdir().unwrap();
    let o = strokeseg(&[
        "segment",
        "--dwi",
        case.to_str().unwrap(),
        "--out",
        seg.path().to_str().unwrap(),
        "--atlas",
        atlas.to_str().unwrap(),
    ]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    let r: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(seg.path().join("Subject02_DWI/report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(r["schema_version"], 7);
    crate::util::assert_report_valid(&r);
    assert_eq!(r["location"]["mni_map"], "registration");
    assert_eq!(r["location"]["method"], "atlas");
    let n_les = r["lesions"].as_array().unwrap().len();
    assert_eq!(r["location"]["lesions"].as_array().unwrap().len(), n_les);
    if n_les > 0 {
        assert!(o.stdout.contains("location:"), "{}", o.stdout);
    }

    let o = strokeseg(&[
        "register",
        "--dwi",
        case.to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
        "--atlas",
        out.path().to_str().unwrap(),
    ]);
    assert_eq!(o.code, 2, "{}{}", o.stdout, o.stderr);
    assert!(
        o.stderr.contains("lobe_atlas_padding.nii.gz"),
        "{}",
        o.stderr
    );
}
