//! train → calibrate → segment → validate on a tiny model and phantom-template studies: the
//! machinery, end to end, as a user runs it (accuracy is not the point here).

use super::util::*;
use std::path::Path;
use strokeseg_synth::dataset::Generator;
use strokeseg_synth::manifest::write_dataset;
use strokeseg_synth::site::find_site;
use strokeseg_synth::Template;

fn dataset(root: &Path, n: usize, seed: u64) {
    let gen = Generator::new(Template::phantom(3.0));
    let site = find_site("site-c").unwrap();
    write_dataset(&gen, &site, root, n, seed, false, &|_| {}).unwrap();
}

#[test]
fn train_calibrate_segment_validate_with_a_tiny_model() {
    let d = tempfile::tempdir().unwrap();
    let (tr, va, model) = (
        d.path().join("train"),
        d.path().join("val"),
        d.path().join("model"),
    );
    dataset(&tr, 4, 1);
    dataset(&va, 4, 2);
    let tiny = [
        "--base-channels",
        "4",
        "--depth",
        "2",
        "--patch",
        "8,32,32",
        "--steps-per-epoch",
        "2",
        "--batch",
        "1",
        "--max-val",
        "2",
    ];
    let mut args = vec![
        "train",
        "--data",
        s(&tr),
        "--val",
        s(&va),
        "--out",
        s(&model),
        "--epochs",
        "1",
    ];
    args.extend_from_slice(&tiny);
    let out = strokeseg(&args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("trained 1 epochs"), "{}", out.stdout);
    // resume to epoch 2: continues from the checkpoint, the log gains a row
    let mut args2 = vec![
        "train",
        "--data",
        s(&tr),
        "--val",
        s(&va),
        "--out",
        s(&model),
        "--epochs",
        "2",
        "--resume",
    ];
    args2.extend_from_slice(&tiny);
    let out = strokeseg(&args2);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let log = std::fs::read_to_string(model.join("train_log.csv")).unwrap();
    assert_eq!(log.lines().count(), 3, "{log}");
    // a model folder = plan + weights (+ operating points)
    // a training run's folder is a usable model folder (weights in checkpoints/best)
    let m = model.clone();
    let out = strokeseg(&["calibrate", "--model", s(&m), "--data", s(&va)]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let ops: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(m.join("operating_points.json")).unwrap())
            .unwrap();
    assert_eq!(ops.as_array().unwrap().len(), 2);
    // segment a study: outputs on the study's own grid
    let study = va.join("sub-sitec0001");
    let seg_out = d.path().join("seg");
    let out = strokeseg(&[
        "segment",
        s(&study),
        "--model",
        s(&m),
        "--out",
        s(&seg_out),
        "--prob",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.starts_with("sub-sitec0001: "), "{}", out.stdout);
    let dir = seg_out.join("sub-sitec0001");
    let dwi = strokeseg_io::nifti_io::read_volume(
        &study.join("ses-0001/dwi/sub-sitec0001_ses-0001_dwi.nii.gz"),
    )
    .unwrap();
    // BIDS-derivative names with the study's entities; the segment --out root is described.
    let mask_file = dir.join("sub-sitec0001_space-orig_desc-lesion_mask.nii.gz");
    let mask = strokeseg_io::nifti_io::read_volume(&mask_file).unwrap();
    let dd: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(seg_out.join("dataset_description.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(dd["DatasetType"], "derivative");
    assert_eq!(mask.dims(), dwi.dims());
    assert!(mask
        .affine()
        .iter()
        .zip(dwi.affine().iter())
        .all(|(a, b)| (a - b).abs() < 1e-4));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(r["schema_version"], 3);
    crate::util::assert_report_valid(&r);
    assert_eq!(r["research_use_only"], true);
    assert_eq!(r["model"]["trained_on_synthetic_data_only"], true);
    assert!(r["patient"]["call"] == "infarct" || r["patient"]["call"] == "no_infarct");
    assert_eq!(r["study"]["inputs_used"], serde_json::json!(["dwi", "adc"]));
    assert_eq!(
        r["files"]["lesion_mask"],
        "sub-sitec0001_space-orig_desc-lesion_mask.nii.gz"
    );
    assert!(dir.join("overlay.png").is_file() && dir.join("key_images.png").is_file());
    assert!(dir
        .join("sub-sitec0001_space-orig_desc-lesion_probseg.nii.gz")
        .is_file());
    // validate writes metrics with the agreed fields
    let vout = d.path().join("val_metrics");
    let out = strokeseg(&[
        "validate",
        "--model",
        s(&m),
        "--data",
        s(&va),
        "--out",
        s(&vout),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mj: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(vout.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(mj["studies"], 4);
    // a number when some study has a lesion, null (not a made-up 0) when none has
    let positives = mj["positives"].as_u64().expect("positives in metrics.json");
    assert_eq!(
        mj["mean_dice_positive_studies"].is_number(),
        positives > 0,
        "{mj}"
    );
    // a missing model is a clear error
    let out = strokeseg(&[
        "segment",
        s(&study),
        "--model",
        s(&d.path().join("nope")),
        "--out",
        s(&seg_out),
    ]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("nope"), "{}", out.stderr);
}
