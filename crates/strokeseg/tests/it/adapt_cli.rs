//! `adapt` end to end with a tiny base model on phantom-template studies: every mode runs and
//! writes a loadable model folder with a card; frozen parameters really stay put; resume and
//! bad input.

use super::util::*;
use std::path::Path;
use strokeseg_model::{cpu_device, load, TrainableParts};
use strokeseg_synth::dataset::Generator;
use strokeseg_synth::manifest::write_dataset;
use strokeseg_synth::site::find_site;
use strokeseg_synth::Template;

pub fn dataset(root: &Path, site: &str, n: usize, seed: u64) {
    let gen = Generator::new(Template::phantom(3.0));
    let site = find_site(site).unwrap();
    write_dataset(&gen, &site, root, n, seed, false, &|_| {}).unwrap();
}

/// Tiny network, few steps, coarse voxels (3 × 3 × 6 mm keeps every prepared volume small;
/// spacing planning itself is unit-tested in strokeseg-train and exercised by model_cli).
pub const TINY: [&str; 12] = [
    "--spacing",
    "3,3,6",
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
];

/// Parameters (path → values) of a saved model folder's weights.
fn params(dir: &Path) -> Vec<(String, Vec<f32>)> {
    load(dir, &cpu_device()).unwrap().0.named_params()
}

#[test]
fn adapt_every_mode_writes_a_usable_model_and_freezes_what_it_should() {
    let d = tempfile::tempdir().unwrap();
    let (tr, va, site, base) = (
        d.path().join("train"),
        d.path().join("val"),
        d.path().join("site"),
        d.path().join("base"),
    );
    dataset(&tr, "site-a", 3, 1);
    dataset(&va, "site-a", 2, 2);
    dataset(&site, "site-d", 4, 3);
    let mut args = vec![
        "train",
        "--data",
        s(&tr),
        "--val",
        s(&va),
        "--out",
        s(&base),
        "--epochs",
        "1",
        "--max-val",
        "2",
    ];
    args.extend_from_slice(&TINY);
    let out = strokeseg(&args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let base_w = params(&base.join("checkpoints/best"));
    for (mode, parts) in [
        ("full", TrainableParts::All),
        ("decoder", TrainableParts::Decoder),
        ("norm", TrainableParts::NormAffine),
        ("unsupervised", TrainableParts::NormAffine),
    ] {
        let o = d.path().join(format!("adapted-{mode}"));
        let cmd = [
            "adapt",
            "--model",
            s(&base),
            "--data",
            s(&site),
            "--n",
            "4",
            "--mode",
            mode,
            "--out",
            s(&o),
            "--epochs",
            "1",
            "--steps-per-epoch",
            "2",
            "--batch",
            "1",
            "--patch",
            "8,32,32",
            "--lr",
            "1e-2",
        ];
        let out = strokeseg(&cmd);
        assert_eq!(out.code, 0, "{mode}: {}", out.stderr);
        assert!(out.stdout.contains("2 held out"), "{mode}: {}", out.stdout);
        // a model folder: plan, config, weights, card
        for f in [
            "plan.json",
            "config.json",
            "model.bpk",
            "MODEL_CARD.md",
            "adapt_metrics.json",
        ] {
            assert!(o.join(f).is_file(), "{mode}: no {f}");
        }
        let card = std::fs::read_to_string(o.join("MODEL_CARD.md")).unwrap();
        assert!(card.contains(&format!("`{mode}`")), "{card}");
        assert!(card.contains("synthetic data only"), "{card}");
        assert!(card.contains(s(&base)), "{card}");
        assert!(card.contains("N = 4"), "{card}");
        let m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(o.join("adapt_metrics.json")).unwrap())
                .unwrap();
        assert_eq!(m["split"]["held_out"].as_array().unwrap().len(), 2);
        assert!(m["held_out_before"]["studies"] == 2 && m["held_out_after"]["studies"] == 2);
        // the last checkpoint really trained only the allowed parts
        let last = params(&o.join("checkpoints/last"));
        let mut moved_trainable = 0;
        for ((p, a), (q, b)) in base_w.iter().zip(&last) {
            assert_eq!(p, q);
            let moved = a.iter().zip(b).any(|(x, y)| x != y);
            if parts.includes(p) {
                moved_trainable += usize::from(moved);
            } else {
                assert!(!moved, "{mode}: frozen parameter {p} moved");
            }
        }
        assert!(moved_trainable > 0, "{mode}: nothing trained");
        // the kept weights (model.bpk) are the base or an epoch of this run: frozen ones equal
        for ((p, a), (_, b)) in base_w.iter().zip(&params(&o)) {
            if !parts.includes(p) {
                assert_eq!(a, b, "{mode}: kept model changed frozen {p}");
            }
        }
        let plan: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(o.join("plan.json")).unwrap()).unwrap();
        assert_eq!(plan["synthetic_only"], true);
    }
    // unsupervised on a site without any mask: runs, and the card says there is nothing to
    // compare against
    let unl = d.path().join("unlabelled");
    for e in std::fs::read_dir(&site).unwrap() {
        let p = e.unwrap().path();
        if p.file_name().unwrap().to_string_lossy().starts_with("sub-") {
            copy_dir(&p, &unl.join(p.file_name().unwrap()));
        }
    }
    let o = d.path().join("adapted-unlabelled");
    let out = strokeseg(&[
        "adapt",
        "--model",
        s(&base),
        "--data",
        s(&unl),
        "--n",
        "3",
        "--mode",
        "unsupervised",
        "--out",
        s(&o),
        "--epochs",
        "1",
        "--steps-per-epoch",
        "2",
        "--batch",
        "1",
        "--patch",
        "8,32,32",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let card = std::fs::read_to_string(o.join("MODEL_CARD.md")).unwrap();
    assert!(card.contains("No held-out study has a label"), "{card}");
    // ... while the supervised modes refuse it
    let out = strokeseg(&[
        "adapt",
        "--model",
        s(&base),
        "--data",
        s(&unl),
        "--n",
        "3",
        "--out",
        s(&o),
    ]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("unlabelled"), "{}", out.stderr);
    // the adapted folder works with segment
    let study = site.join("sub-sited0001");
    let seg = d.path().join("seg");
    let out = strokeseg(&[
        "segment",
        s(&study),
        "--model",
        s(&d.path().join("adapted-norm")),
        "--out",
        s(&seg),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(seg.join("sub-sited0001/report.json").is_file());
    // resume of a finished run: nothing retrained, log unchanged
    let o = d.path().join("adapted-decoder");
    let log0 = std::fs::read_to_string(o.join("train_log.csv")).unwrap();
    let out = strokeseg(&[
        "adapt",
        "--model",
        s(&base),
        "--data",
        s(&site),
        "--n",
        "4",
        "--mode",
        "decoder",
        "--out",
        s(&o),
        "--epochs",
        "1",
        "--steps-per-epoch",
        "2",
        "--batch",
        "1",
        "--patch",
        "8,32,32",
        "--lr",
        "1e-2",
        "--resume",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        std::fs::read_to_string(o.join("train_log.csv")).unwrap(),
        log0
    );
    // N = 2 needs --no-holdout; with it both studies adapt, the last epoch is kept and a
    // resume of the finished run reads its state back (the empty metric is `null` in JSON)
    let o = d.path().join("adapted-noholdout");
    let mut args = vec![
        "adapt",
        "--model",
        s(&base),
        "--data",
        s(&site),
        "--n",
        "2",
        "--mode",
        "full",
        "--out",
        s(&o),
        "--epochs",
        "2",
        "--steps-per-epoch",
        "2",
        "--batch",
        "1",
        "--patch",
        "8,32,32",
        "--lr",
        "1e-2",
    ];
    let out = strokeseg(&args);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("--no-holdout"), "{}", out.stderr);
    args.push("--no-holdout");
    let out = strokeseg(&args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(o.join("adapt_metrics.json")).unwrap())
            .unwrap();
    assert_eq!(m["split"]["adapt_on"].as_array().unwrap().len(), 2);
    assert_eq!(m["split"]["held_out"].as_array().unwrap().len(), 0);
    assert_eq!(m["state"]["best_epoch"], 2, "{m}");
    let log = std::fs::read_to_string(o.join("train_log.csv")).unwrap();
    assert_eq!(log.lines().count(), 3, "{log}"); // header + 2 epochs, no epoch-0 baseline
    let adapted = params(&o);
    let changed = adapted
        .iter()
        .zip(&base_w)
        .filter(|((_, a), (_, b))| a != b)
        .count();
    assert!(
        changed > 0,
        "full adaptation without hold-out changed nothing"
    );
    assert!(std::fs::read_to_string(o.join("MODEL_CARD.md"))
        .unwrap()
        .contains("--no-holdout"));
    args.push("--resume");
    let out = strokeseg(&args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        std::fs::read_to_string(o.join("train_log.csv")).unwrap(),
        log
    );
    // bad input: exit 2, the path named
    let nope = d.path().join("no-such-model");
    let out = strokeseg(&[
        "adapt",
        "--model",
        s(&nope),
        "--data",
        s(&site),
        "--out",
        s(&o),
    ]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("no-such-model"), "{}", out.stderr);
    let nodata = d.path().join("no-such-site");
    let out = strokeseg(&[
        "adapt",
        "--model",
        s(&base),
        "--data",
        s(&nodata),
        "--out",
        s(&o),
    ]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("no-such-site"), "{}", out.stderr);
    let out = strokeseg(&[
        "adapt",
        "--model",
        s(&base),
        "--data",
        s(&site),
        "--n",
        "40",
        "--out",
        s(&o),
    ]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains(s(&site)), "{}", out.stderr);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let t = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &t);
        } else {
            std::fs::copy(&p, &t).unwrap();
        }
    }
}
