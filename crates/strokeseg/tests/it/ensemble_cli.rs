//! `strokeseg ensemble`: two tiny networks of one plan become one model folder whose
//! probabilities are the mean of theirs; what cannot be averaged is refused, naming why.

use super::adapt_cli::dataset;
use super::model_cli::train_tiny;
use super::util::*;
use std::path::Path;

/// A tiny training run into `out` (one epoch of two steps) with the given seed and spacing.
fn train(tr: &Path, va: &Path, out: &Path, seed: &str, spacing: &str) {
    let o = train_tiny(
        &[
            "--data",
            s(tr),
            "--val",
            s(va),
            "--out",
            s(out),
            "--max-val",
            "1",
            "--spacing",
            spacing,
            "--seed",
            seed,
        ],
        "2",
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
}

/// `segment --prob` of `study` with `model`: the probability map's values.
fn prob(model: &Path, study: &Path, out: &Path) -> Vec<f32> {
    let o = strokeseg(&[
        "segment",
        s(study),
        "--model",
        s(model),
        "--out",
        s(out),
        "--prob",
        "--no-register",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let name = study.file_name().unwrap().to_string_lossy().into_owned();
    let f = out
        .join(&name)
        .join(format!("{name}_space-orig_desc-lesion_probseg.nii.gz"));
    let v = strokeseg_io::nifti_io::read_volume(&f).unwrap();
    v.data().iter().copied().collect()
}

#[test]
fn an_ensemble_averages_its_members_and_refuses_what_cannot_be_averaged() {
    let d = tempfile::tempdir().unwrap();
    let p = |n: &str| d.path().join(n);
    dataset(&p("train"), "site-c", 2, 1);
    dataset(&p("val"), "site-c", 2, 2);
    train(&p("train"), &p("val"), &p("a"), "1", "3,3,3");
    train(&p("train"), &p("val"), &p("b"), "2", "3,3,3");
    let out = strokeseg(&["ensemble", "--out", s(&p("ens")), s(&p("a")), s(&p("b"))]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for f in ["plan.json", "ensemble.json", "MODEL_CARD.md"] {
        assert!(p("ens").join(f).is_file(), "{f}");
    }
    for k in ["1", "2"] {
        let m = p("ens").join("members").join(k);
        for f in ["config.json", "model.bpk", "train_log.csv", "MODEL_CARD.md"] {
            assert!(m.join(f).is_file(), "members/{k}/{f}");
        }
    }
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p("ens").join("ensemble.json")).unwrap())
            .unwrap();
    assert_eq!(info["combine"], "mean");
    assert_eq!(info["members"][1]["source"], p("b").display().to_string());
    // the ensemble's probability is the mean of its members', voxel by voxel
    let study = p("val").join("sub-sitec0001");
    let (pa, pb, pe) = (
        prob(&p("a"), &study, &p("seg-a")),
        prob(&p("b"), &study, &p("seg-b")),
        prob(&p("ens"), &study, &p("seg-ens")),
    );
    assert_eq!(pe.len(), pa.len());
    let worst = pa
        .iter()
        .zip(&pb)
        .zip(&pe)
        .map(|((a, b), e)| (e - (a + b) / 2.0).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-4, "ensemble vs mean of members: {worst}");
    assert!(
        pa.iter().zip(&pb).any(|(a, b)| (a - b).abs() > 1e-3),
        "two seeds should give two different networks"
    );
    // the report says how many networks made it
    let networks = |seg: &str| {
        let r: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(p(seg).join("sub-sitec0001/report.json")).unwrap(),
        )
        .unwrap();
        r["model"]["networks"].clone()
    };
    assert_eq!(networks("seg-a"), 1);
    assert_eq!(networks("seg-ens"), 2);
    // it calibrates like any model folder
    let out = strokeseg(&["calibrate", "--model", s(&p("ens")), "--data", s(&p("val"))]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(p("ens").join("operating_points.json").is_file());

    // refused, each with exit 2 and the reason
    let refused = |args: &[&str], want: &str| {
        let out = strokeseg(args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(want), "{args:?}: {}", out.stderr);
    };
    train(&p("train"), &p("val"), &p("thin"), "1", "3,3,1.5");
    refused(
        &["ensemble", "--out", s(&p("e2")), s(&p("a")), s(&p("thin"))],
        "differs from that of",
    );
    assert!(!p("e2").exists(), "nothing is written when refused");
    refused(
        &["ensemble", "--out", s(&p("ens")), s(&p("a")), s(&p("b"))],
        "exists and is not empty",
    );
    refused(
        &["ensemble", "--out", s(&p("e3")), s(&p("ens")), s(&p("a"))],
        "is itself an ensemble",
    );
    refused(&["ensemble", "--out", s(&p("e4")), s(&p("a"))], "MODEL");
    let out = strokeseg(&[
        "train",
        "--data",
        s(&p("train")),
        "--val",
        s(&p("val")),
        "--out",
        s(&p("c")),
        "--init",
        s(&p("ens")),
    ]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("is an ensemble"), "{}", out.stderr);
}
