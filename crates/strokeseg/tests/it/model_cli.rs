//! train → calibrate → segment → validate on a tiny model and phantom-template studies: the
//! machinery, end to end, as a user runs it (accuracy is not the point here).

use super::util::*;
use std::path::{Path, PathBuf};
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
        "--bias-field",
        "0.3",
        "--lesion-loss",
        "0.5",
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
    // every trained model has a card: what it learned from, how, and what is not measured
    let card = std::fs::read_to_string(model.join("MODEL_CARD.md")).unwrap();
    assert!(card.contains("RESEARCH USE ONLY"), "{card}");
    assert!(
        card.contains("**Trained on synthetic data only**"),
        "{card}"
    );
    assert!(card.contains(&format!("- {}", tr.display())), "{card}");
    assert!(card.contains("1 epochs, 2 steps"), "{card}");
    assert!(card.contains("|ln f| up to 0.3"), "{card}");
    assert!(
        card.contains("plus 0.5 × the mean over the patches' lesions"),
        "{card}"
    );
    assert!(card.contains("Operating points: none yet"), "{card}");
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
    // every calibration study's score is kept for audit, one row each
    let scores = std::fs::read_to_string(m.join("calibration_scores.csv")).unwrap();
    let n_val = std::fs::read_dir(&va)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("sub-")
        })
        .count();
    assert_eq!(scores.lines().count(), n_val + 1, "{scores}");
    assert!(
        scores.starts_with(
            "id,site,positive,truth_volume_ml,score,deciding_on_truth,located_score\n"
        ),
        "{scores}"
    );
    // the candidates the scores were made of: one row each, from the scored studies
    let cands = std::fs::read_to_string(m.join("calibration_candidates.csv")).unwrap();
    if let Some(header) = cands.lines().next() {
        assert!(
            header.starts_with("id,site,positive,on_truth,score,max_prob,mean_prob,volume_ml"),
            "{header}"
        );
        for row in cands.lines().skip(1) {
            let id = row.split(',').next().unwrap();
            assert!(scores.contains(&format!("{id},")), "{row}");
        }
    }
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
    assert_eq!(r["schema_version"], 7);
    crate::util::assert_report_valid(&r);
    assert_eq!(r["research_use_only"], true);
    assert_eq!(r["model"]["trained_on_synthetic_data_only"], true);
    assert!(r["patient"]["call"] == "infarct" || r["patient"]["call"] == "no_infarct");
    assert_eq!(r["study"]["inputs_used"], serde_json::json!(["dwi", "adc"]));
    // A site-c study is no noisier than the training data: measured, left as it is.
    let noise = &r["study"]["noise"];
    let rel = noise["dwi_relative_noise"].as_f64().expect("measured");
    assert!(rel > 0.0 && rel < 0.1, "{noise}");
    assert_eq!(noise["smooth_above"], 0.12);
    assert_eq!(noise["smoothed_sigma_mm"], 0.0);
    assert_eq!(
        r["files"]["lesion_mask"],
        "sub-sitec0001_space-orig_desc-lesion_mask.nii.gz"
    );
    assert!(dir.join("overlay.png").is_file() && dir.join("key_images.png").is_file());
    assert!(dir
        .join("sub-sitec0001_space-orig_desc-lesion_probseg.nii.gz")
        .is_file());
    // The same protocol at a b0 SNR of 3: measured as noisy, smoothed before reading, and
    // the report says so; the mask stays on the study's own grid.
    let noisy = d.path().join("noisy");
    let mut site = find_site("site-c").unwrap();
    site.name = "noisy".into();
    site.snr_b0 = 3.0;
    write_dataset(
        &Generator::new(Template::phantom(3.0)),
        &site,
        &noisy,
        1,
        5,
        false,
        &|_| {},
    )
    .unwrap();
    let study = noisy.join("sub-noisy0001");
    let out = strokeseg(&["segment", s(&study), "--model", s(&m), "--out", s(&seg_out)]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("noisy DWI") && out.stdout.contains("before reading"),
        "{}",
        out.stdout
    );
    let r: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(seg_out.join("sub-noisy0001/report.json")).unwrap(),
    )
    .unwrap();
    crate::util::assert_report_valid(&r);
    let noise = &r["study"]["noise"];
    assert!(
        noise["dwi_relative_noise"].as_f64().unwrap() > 0.1,
        "{noise}"
    );
    assert!(
        noise["smoothed_sigma_mm"].as_f64().unwrap() > 0.0,
        "{noise}"
    );
    let warned = r["study"]["warnings"].as_array().unwrap();
    assert!(
        warned
            .iter()
            .any(|w| w.as_str().unwrap().contains("smoothed in-plane")),
        "{warned:?}"
    );
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

/// `strokeseg train ARGS` with a tiny network: one epoch of `steps` steps of batch 1.
pub fn train_tiny(args: &[&str], steps: &str) -> Out {
    let mut v = vec!["train"];
    v.extend_from_slice(args);
    v.extend_from_slice(&[
        "--epochs",
        "1",
        "--base-channels",
        "4",
        "--depth",
        "2",
        "--patch",
        "8,32,32",
        "--steps-per-epoch",
        steps,
        "--batch",
        "1",
    ]);
    strokeseg(&v)
}

/// The phantom template written as a template folder (the three files `Template::load` reads).
fn phantom_template(dir: &Path) {
    use strokeseg_core::Volume;
    use strokeseg_io::nifti_io::write_volume;
    let t = Template::phantom(3.0);
    std::fs::create_dir_all(dir).unwrap();
    let t1 = t.intracranial.mapv(|b| if b { 100.0f32 } else { 0.0 });
    for (name, v) in strokeseg_synth::template::FILES
        .iter()
        .zip([t1, t.gm.clone(), t.wm.clone()])
    {
        write_volume(&dir.join(name), &Volume::on_grid(v, &t.grid), "phantom").unwrap();
    }
}

#[test]
fn train_on_studies_made_on_the_fly_without_a_dataset_on_disk() {
    let d = tempfile::tempdir().unwrap();
    let (va, model, tpl) = (
        d.path().join("val"),
        d.path().join("model"),
        d.path().join("tpl"),
    );
    dataset(&va, 2, 2);
    phantom_template(&tpl);
    let out = train_tiny(
        &[
            "--synth-stream",
            "random",
            "--synth-template",
            s(&tpl),
            "--stream-pool",
            "2",
            "--stream-refresh",
            "1",
            "--val",
            s(&va),
            "--out",
            s(&model),
            "--spacing",
            "3,3,3",
        ],
        "2",
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("2 on-the-fly of synth-stream-random"),
        "{}",
        out.stderr
    );
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(model.join("plan.json")).unwrap()).unwrap();
    assert_eq!(plan["synthetic_only"], true);
    let data = plan["training_data"].to_string();
    assert!(
        data.contains("on the fly: strokeseg synth --site random --seed 1"),
        "{data}"
    );
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(model.join("train_config.json")).unwrap())
            .unwrap();
    assert_eq!(cfg["stream"]["pool"], 2);
    // nothing but the run's own files was written
    assert!(!d.path().join("sub-random0001").exists());
    let names: Vec<String> = std::fs::read_dir(&model)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.starts_with("sub-")), "{names:?}");
}

/// Two tiny datasets under `root` (train, val) and a one-step base model trained on them with
/// `extra` flags: the starting point of the `--init` tests.
fn init_fixture(root: &Path, extra: &[&str]) -> (PathBuf, PathBuf, PathBuf) {
    let (tr, va, base) = (root.join("train"), root.join("val"), root.join("base"));
    dataset(&tr, 2, 1);
    dataset(&va, 2, 2);
    let mut a = vec![
        "--data",
        s(&tr),
        "--val",
        s(&va),
        "--max-val",
        "1",
        "--out",
        s(&base),
    ];
    a.extend_from_slice(extra);
    let out = train_tiny(&a, "1");
    assert_eq!(out.code, 0, "{}", out.stderr);
    (tr, va, base)
}

/// `--init` keeps the base model's network and grid; `--init` with `--spacing` keeps the
/// network and fine-tunes it on the given grid, and the plan says so.
#[test]
fn init_keeps_the_network_and_takes_a_new_spacing_only_when_given() {
    let d = tempfile::tempdir().unwrap();
    let (tr, va, base) = init_fixture(d.path(), &["--spacing", "3,3,3"]);
    let common = ["--data", s(&tr), "--val", s(&va), "--max-val", "1"];
    let plan = |m: &Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(m.join("plan.json")).unwrap()).unwrap()
    };
    for (name, spacing, want) in [("kept", None, 3.0), ("thin", Some("3,3,1.5"), 1.5)] {
        let m = d.path().join(name);
        let mut a = common.to_vec();
        a.extend_from_slice(&["--out", s(&m), "--init", s(&base)]);
        if let Some(sp) = spacing {
            a.extend_from_slice(&["--spacing", sp]);
        }
        let out = train_tiny(&a, "1");
        assert_eq!(out.code, 0, "{name}: {}", out.stderr);
        let p = plan(&m);
        assert_eq!(p["prep"]["spacing_mm"][2], want, "{name}: {p}");
        assert_eq!(
            p["model"],
            plan(&base)["model"],
            "{name}: the network is kept"
        );
        let data = p["training_data"].to_string();
        assert_eq!(
            data.contains("the base model's: [3.0, 3.0, 3.0] mm"),
            spacing.is_some(),
            "{name}: {data}"
        );
    }
}

/// `train --mirror-channel --init` widens a two-channel model to three inputs (DWI, ADC, the
/// DWI mirrored through the fitted mid-sagittal plane); the plan and card say so, and the
/// model segments and validates like any other.
#[test]
fn mirror_channel_widens_an_init_model_and_the_result_segments() {
    let d = tempfile::tempdir().unwrap();
    let (tr, va, base) = init_fixture(d.path(), &[]);
    let common = ["--data", s(&tr), "--val", s(&va), "--max-val", "1"];
    let wide = d.path().join("wide");
    let mut a = common.to_vec();
    a.extend_from_slice(&["--out", s(&wide), "--init", s(&base), "--mirror-channel"]);
    let out = train_tiny(&a, "2");
    assert_eq!(out.code, 0, "{}", out.stderr);
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(wide.join("plan.json")).unwrap()).unwrap();
    assert_eq!(plan["model"]["in_channels"], 3, "{plan}");
    assert_eq!(plan["prep"]["mirror_channel"], true, "{plan}");
    assert_eq!(plan["channels"][2], "dwi_mirror", "{plan}");
    assert!(
        plan["training_data"]
            .to_string()
            .contains("new inputs started at zero weight"),
        "{plan}"
    );
    let card = std::fs::read_to_string(wide.join("MODEL_CARD.md")).unwrap();
    assert!(card.contains("+ the DWI mirrored through"), "{card}");
    // a fresh three-channel model trains too (no --init)
    let fresh = d.path().join("fresh");
    let mut a = common.to_vec();
    a.extend_from_slice(&["--out", s(&fresh), "--mirror-channel"]);
    assert_eq!(train_tiny(&a, "1").code, 0);
    // the widened model reads studies as any model does
    let study = std::fs::read_dir(&va)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("sub-"))
        .unwrap();
    let seg = d.path().join("seg");
    let out = strokeseg(&["segment", s(&study), "--model", s(&wide), "--out", s(&seg)]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        seg.join(study.file_name().unwrap())
            .join("report.json")
            .is_file(),
        "{}",
        out.stdout
    );
    let out = strokeseg(&[
        "validate",
        "--model",
        s(&wide),
        "--data",
        s(&va),
        "--out",
        s(&d.path().join("val-out")),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[test]
fn a_bad_on_the_fly_source_is_a_user_error() {
    let d = tempfile::tempdir().unwrap();
    let va = d.path().join("val");
    dataset(&va, 1, 2);
    let m = d.path().join("m");
    let base = ["train", "--val", s(&va), "--out", s(&m)];
    let mut args = base.to_vec();
    args.extend(["--synth-stream", "nowhere"]);
    let out = strokeseg(&args);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("--synth-stream"), "{}", out.stderr);
    assert!(out.stderr.contains("site-a"), "{}", out.stderr);
    let mut args = base.to_vec();
    args.extend(["--synth-stream", "random", "--synth-weight=-1"]);
    let out = strokeseg(&args);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let mut args = base.to_vec();
    let missing = d.path().join("no-such-list.csv");
    args.extend(["--implant-stream", s(&missing)]);
    let out = strokeseg(&args);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("no-such-list.csv"), "{}", out.stderr);
    // neither --data nor --synth-stream: clap says what is missing
    let out = strokeseg(&base);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("--data"), "{}", out.stderr);
}

#[test]
fn train_on_implants_made_on_the_fly_into_a_real_study() {
    let Some(isles) = strokeseg_testkit::shared("data/real/isles22/sub-strokecase0003") else {
        eprintln!("SKIPPED: ../shared/data/real/isles22 not present");
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let (va, model, list) = (
        d.path().join("val"),
        d.path().join("model"),
        d.path().join("bg.csv"),
    );
    dataset(&va, 2, 2);
    std::fs::write(
        &list,
        format!("path,kind,id\n{},labelled,isles3\n", isles.display()),
    )
    .unwrap();
    let out = train_tiny(
        &[
            "--implant-stream",
            s(&list),
            "--stream-pool",
            "2",
            "--stream-refresh",
            "1",
            "--val",
            s(&va),
            "--out",
            s(&model),
        ],
        "2",
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("2 on-the-fly of implant-stream"),
        "{}",
        out.stderr
    );
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(model.join("plan.json")).unwrap()).unwrap();
    // real backgrounds: not a synthetic-only model, and its card says so
    assert_eq!(plan["synthetic_only"], false);
    let card = std::fs::read_to_string(model.join("MODEL_CARD.md")).unwrap();
    assert!(!card.contains("synthetic data only"), "{card}");
    assert!(card.contains("into real backgrounds isles3"), "{card}");
    assert!(
        plan["training_data"]
            .to_string()
            .contains("into real backgrounds isles3"),
        "{}",
        plan["training_data"]
    );
}

/// A synthetic dataset rewritten in nnU-Net's raw layout (`imagesTr/<case>_0000.nii.gz` DWI,
/// `_0001` ADC, `labelsTr/<case>.nii.gz`, `dataset.json`).
fn as_nnunet(bids: &Path, root: &Path) {
    std::fs::create_dir_all(root.join("imagesTr")).unwrap();
    std::fs::create_dir_all(root.join("labelsTr")).unwrap();
    let mut n = 0;
    for e in std::fs::read_dir(bids).unwrap() {
        let id = e.unwrap().file_name().to_string_lossy().into_owned();
        if !id.starts_with("sub-") {
            continue;
        }
        let case = format!("stroke_{:03}", n + 1);
        let f = |k: &str| bids.join(format!("{id}/ses-0001/dwi/{id}_ses-0001_{k}.nii.gz"));
        std::fs::copy(f("dwi"), root.join(format!("imagesTr/{case}_0000.nii.gz"))).unwrap();
        std::fs::copy(f("adc"), root.join(format!("imagesTr/{case}_0001.nii.gz"))).unwrap();
        std::fs::copy(
            bids.join(format!(
                "derivatives/{id}/ses-0001/{id}_ses-0001_msk.nii.gz"
            )),
            root.join(format!("labelsTr/{case}.nii.gz")),
        )
        .unwrap();
        n += 1;
    }
    std::fs::write(
        root.join("dataset.json"),
        format!(
            r#"{{"channel_names": {{"0": "DWI", "1": "ADC"}}, "labels": {{"background": 0, "lesion": 1}}, "numTraining": {n}, "file_ending": ".nii.gz"}}"#
        ),
    )
    .unwrap();
}

#[test]
fn train_and_validate_read_an_nnunet_raw_dataset() {
    let d = tempfile::tempdir().unwrap();
    let (bids, nn, model) = (
        d.path().join("bids"),
        d.path().join("Dataset501_Stroke"),
        d.path().join("model"),
    );
    dataset(&bids, 3, 4);
    as_nnunet(&bids, &nn);
    let out = train_tiny(
        &[
            "--data",
            s(&nn),
            "--val",
            s(&nn),
            "--out",
            s(&model),
            "--max-val",
            "1",
        ],
        "1",
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("training on 3 studies"),
        "{}",
        out.stderr
    );
    // the same studies as the BIDS copy, the same weights: one reader for both layouts
    let out = strokeseg(&[
        "validate",
        "--model",
        s(&model),
        "--data",
        s(&nn),
        "--out",
        s(&d.path().join("v")),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.starts_with("3 studies:"), "{}", out.stdout);
    let cases = std::fs::read_to_string(d.path().join("v/cases.csv")).unwrap();
    for case in ["stroke_001", "stroke_002", "stroke_003"] {
        assert!(cases.contains(case), "{cases}");
    }
}

#[test]
fn resuming_a_damaged_run_is_a_user_error_naming_its_state_file() {
    let d = tempfile::tempdir().unwrap();
    let (va, run) = (d.path().join("val"), d.path().join("run"));
    dataset(&va, 2, 2);
    std::fs::create_dir_all(&run).unwrap();
    std::fs::write(run.join("state.json"), "{ this is not a training state").unwrap();
    let out = train_tiny(
        &[
            "--data",
            s(&va),
            "--val",
            s(&va),
            "--out",
            s(&run),
            "--resume",
        ],
        "1",
    );
    // before: the loop's errors were text, so this exited 1 like an internal failure
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("state.json") && out.stderr.contains("cannot resume"),
        "{}",
        out.stderr
    );
    // nothing the user gave was changed
    assert_eq!(
        std::fs::read_to_string(run.join("state.json")).unwrap(),
        "{ this is not a training state"
    );
}
