//! `--engine fast|burn`: the tuned forward is the default, gives the same segmentation as
//! burn's, and a bad engine name is refused with exit code 2.

use crate::util::{bids_study, s, strokeseg};

#[test]
fn engine_flag_is_listed_in_help() {
    let out = strokeseg(&["segment", "--help"]);
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("--engine"), "{}", out.stdout);
    assert!(out.stdout.contains("fast") && out.stdout.contains("burn"));
}

#[test]
fn unknown_engine_in_the_environment_is_refused_and_named() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_strokeseg"))
        .args(["segment", "nowhere", "--out", "nowhere-out"])
        .env("STROKESEG_ENGINE", "turbo")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("STROKESEG_ENGINE") && err.contains("turbo"),
        "{err}"
    );
}

#[test]
fn segment_fast_and_burn_engines_give_the_same_probabilities() {
    let d = tempfile::tempdir().unwrap();
    let study = bids_study(&d.path().join("study"), 1.0);
    let mut probs = Vec::new();
    for engine in ["fast", "burn"] {
        let out_dir = d.path().join(engine);
        let out = strokeseg(&[
            "segment",
            s(&study),
            "--engine",
            engine,
            "--out",
            s(&out_dir),
            "--prob",
            "--no-register",
        ]);
        assert_eq!(out.code, 0, "{engine}: {}", out.stderr);
        // The study's folder (beside it: the BIDS dataset_description.json).
        let dir = std::fs::read_dir(&out_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.is_dir())
            .unwrap();
        let prob = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().contains("prob"))
            .unwrap_or_else(|| panic!("{engine}: no probability map in {}", dir.display()));
        probs.push(strokeseg_io::nifti_io::read_volume(&prob).unwrap());
    }
    let (a, b) = (probs[0].data(), probs[1].data());
    assert_eq!(a.dim(), b.dim());
    let max_diff = a
        .iter()
        .zip(b.iter())
        .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    assert!(
        max_diff < 1e-4,
        "fast vs burn probabilities differ by up to {max_diff}"
    );
    assert!(a.iter().any(|&p| p > 0.0), "probabilities are all zero");
}
