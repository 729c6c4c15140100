//! `strokeseg evaluate` on a tiny synthetic set whose truth masks, perturbed, stand in for the
//! predictions (no model needed): the files, some numbers, unmatched studies, and bad input.

use super::util::*;
use ndarray::s;
use std::path::Path;
use strokeseg_core::{Grid, Mask};
use strokeseg_io::nifti_io::{read_volume, write_mask};
use strokeseg_synth::dataset::Generator;
use strokeseg_synth::manifest::write_dataset;
use strokeseg_synth::site::find_site;
use strokeseg_synth::Template;

fn read_mask(p: &Path) -> Mask {
    read_volume(p).unwrap().map(|&x| x != 0.0)
}

/// Writes `m` as a `segment --out` style prediction of study `id`.
fn predict(pred: &Path, id: &str, m: &Mask) {
    let d = pred.join(id);
    std::fs::create_dir_all(&d).unwrap();
    write_mask(&d.join("lesion_mask.nii.gz"), m, "test prediction").unwrap();
}

#[test]
fn evaluate_scores_perturbed_truth_and_reports_unmatched_studies() {
    let d = tempfile::tempdir().unwrap();
    let (truth, pred, out) = (
        d.path().join("truth"),
        d.path().join("pred"),
        d.path().join("out"),
    );
    let gen = Generator::new(Template::phantom(3.0));
    let studies = write_dataset(
        &gen,
        &find_site("site-c").unwrap(),
        &truth,
        6,
        5,
        false,
        &|_| {},
    )
    .unwrap();
    let mask_of = |i: usize| read_mask(&truth.join(&studies[i].files.mask));
    let with: Vec<usize> = (0..studies.len())
        .filter(|&i| mask_of(i).count() > 0)
        .collect();
    let without: Vec<usize> = (0..studies.len())
        .filter(|&i| mask_of(i).count() == 0)
        .collect();
    assert!(
        with.len() >= 2 && !without.is_empty(),
        "seed gives {} lesion studies",
        with.len()
    );

    // Study A: the truth itself. Study B: the truth plus a 2×2×2 false positive in a corner
    // (no truth within 3 voxels). Study C (no lesion): nothing predicted. The last lesion
    // study gets no prediction at all; an extra prediction has no truth.
    let (a, b, c) = (with[0], with[1], without[0]);
    predict(&pred, &studies[a].id, &mask_of(a));
    let tb = mask_of(b);
    let mut pb = tb.clone();
    assert!(!tb.data().slice(s![0..5, 0..5, 0..5]).iter().any(|&x| x));
    pb.data_mut().slice_mut(s![1..3, 1..3, 1..3]).fill(true);
    predict(&pred, &studies[b].id, &pb);
    predict(&pred, &studies[c].id, &mask_of(c).map(|_| false));
    predict(&pred, "sub-zzz", &mask_of(c));
    let unpredicted: Vec<String> = (0..studies.len())
        .filter(|i| ![a, b, c].contains(i))
        .map(|i| studies[i].id.clone())
        .collect();

    let o = strokeseg(&[
        "evaluate",
        "--pred",
        s(&pred),
        "--truth",
        s(&truth),
        "--out",
        s(&out),
        "--bootstrap",
        "200",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("3 studies matched"), "{}", o.stdout);
    assert!(o.stdout.contains("sub-zzz"), "{}", o.stdout);
    for f in [
        "metrics.json",
        "cases.csv",
        "summary.md",
        "bland_altman.png",
        "sensitivity_by_size.png",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let png = image::open(out.join("bland_altman.png")).unwrap();
    assert!(png.width() > 100 && png.height() > 100);
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(m["studies"], 3);
    assert_eq!(m["unmatched_pred"], serde_json::json!(["sub-zzz"]));
    assert_eq!(m["unmatched_truth"], serde_json::json!(unpredicted));
    // Every truth lesion of A and B is found; the only false positive is B's cube.
    assert_eq!(m["lesion_sensitivity"], 1.0);
    assert_eq!(m["false_positive_lesions"], 1);
    let nb = tb.count() as f64;
    let dice_b = 2.0 * nb / (2.0 * nb + 8.0);
    let mean = m["isles22"]["dice"]["mean"].as_f64().unwrap();
    assert!(
        (mean - (1.0 + dice_b + 1.0) / 3.0).abs() < 1e-9,
        "{mean} vs {dice_b}"
    );
    // No report.json: the call is "any predicted lesion" (A, B positive; C negative).
    assert_eq!(m["patient"]["sensitivity"]["value"], 1.0);
    assert_eq!(m["patient"]["specificity"]["value"], 1.0);
    assert!(m["patient"]["auc"].is_null());
    assert!(!out.join("roc.png").exists());
    // The synth manifest gives every truth lesion a region.
    let regions = m["lesion_sensitivity_by_region"].as_array().unwrap();
    let n: u64 = regions.iter().map(|r| r["lesions"].as_u64().unwrap()).sum();
    assert_eq!(n, m["truth_lesions"].as_u64().unwrap());
    let csv = std::fs::read_to_string(out.join("cases.csv")).unwrap();
    let head: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = |n: &str| head.iter().position(|h| *h == n).unwrap();
    let row_b: Vec<&str> = csv
        .lines()
        .find(|l| l.starts_with(&studies[b].id))
        .unwrap()
        .split(',')
        .collect();
    assert_eq!(row_b[col("fp_lesions")], "1");
    assert_eq!(row_b[col("tp_lesions")], row_b[col("truth_lesions")]);
    assert_eq!(row_b[col("abs_lesion_count_diff")], "1");
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(
        md.contains("| lesion-wise F1 |") && md.contains("unavailable"),
        "{md}"
    );

    // Bad input: a missing folder, and a prediction on another grid (both files named).
    let o = strokeseg(&[
        "evaluate",
        "--pred",
        s(&pred),
        "--truth",
        s(&d.path().join("nope")),
        "--out",
        s(&out),
    ]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("nope"), "{}", o.stderr);
    let g = Grid::axis_aligned([10, 10, 10], [1.0; 3], [0.0; 3]);
    let other = Mask::on_grid(ndarray::Array3::from_elem((10, 10, 10), false), &g);
    predict(&pred, &studies[c].id, &other);
    let o = strokeseg(&[
        "evaluate",
        "--pred",
        s(&pred),
        "--truth",
        s(&truth),
        "--out",
        s(&out),
    ]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    let truth_file = truth.join(&studies[c].files.mask);
    assert!(
        o.stderr
            .contains(&format!("{}/lesion_mask.nii.gz", studies[c].id))
            && o.stderr.contains(s(&truth_file))
            && o.stderr.contains("different grids"),
        "{}",
        o.stderr
    );
}
