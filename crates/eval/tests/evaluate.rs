//! `evaluate` on small hand-made folders: layouts, pairing, size and region bins, scores from
//! report.json, and the errors for bad input. Expected values are derived by hand in comments.

use ndarray::{s, Array3};
use std::path::Path;
use strokeseg_core::{Grid, Mask};
use strokeseg_eval::summary::size_bin;
use strokeseg_eval::{evaluate, Bootstrap, Options};
use strokeseg_io::nifti_io::write_mask;
use strokeseg_io::InputError;

/// 40×40×20 grid of 2 mm voxels: 0.008 mL per voxel.
fn grid() -> Grid {
    Grid::axis_aligned([40, 40, 20], [2.0; 3], [-40.0, -40.0, -20.0])
}

/// A mask with cubes of side `n` voxels at corner `at`.
fn cubes(c: &[([usize; 3], usize)]) -> Mask {
    let mut a = Array3::from_elem((40, 40, 20), false);
    for &(p, n) in c {
        a.slice_mut(s![p[0]..p[0] + n, p[1]..p[1] + n, p[2]..p[2] + n])
            .fill(true);
    }
    Mask::on_grid(a, &grid())
}

fn report(dir: &Path, score: f32, call: &str) {
    let op = |name: &str, t: f32| serde_json::json!({"operating_point": {"name": name, "threshold": t, "sensitivity": 0.95, "specificity": 0.5}, "call": "x"});
    let r = serde_json::json!({"patient": {"score": score, "call": call,
        "all_operating_points": [op("sens95", 0.6), op("sens99", 0.3)]}});
    std::fs::write(dir.join("report.json"), r.to_string()).unwrap();
}

/// Truth: dataset layout (derivatives/sub-*/…_msk.nii.gz) + manifest.json; predictions:
/// `segment --out` layout with report.json.
fn layout(root: &Path, studies: &[(&str, Mask, Mask, f32)], manifest: &serde_json::Value) {
    for (id, t, p, score) in studies {
        let study = root.join("truth").join(id).join("ses-0001/dwi");
        std::fs::create_dir_all(&study).unwrap();
        let d = root.join("truth/derivatives").join(id).join("ses-0001");
        std::fs::create_dir_all(&d).unwrap();
        write_mask(&d.join(format!("{id}_ses-0001_msk.nii.gz")), t, "truth").unwrap();
        let pd = root.join("pred").join(id);
        std::fs::create_dir_all(&pd).unwrap();
        // As `strokeseg segment` names it (BIDS derivative); the CLI test keeps the old name.
        write_mask(
            &pd.join(format!("{id}_space-orig_desc-lesion_mask.nii.gz")),
            p,
            "pred",
        )
        .unwrap();
        report(
            &pd,
            *score,
            if *score >= 0.3 {
                "infarct"
            } else {
                "no_infarct"
            },
        );
    }
    std::fs::write(root.join("truth/manifest.json"), manifest.to_string()).unwrap();
}

fn opts(root: &Path) -> Options {
    Options {
        pred: root.join("pred"),
        truth: root.join("truth"),
        manifest: None,
        bootstrap: Bootstrap {
            resamples: 300,
            seed: 3,
        },
    }
}

#[test]
fn size_bins_have_inclusive_upper_bounds() {
    assert_eq!(size_bin(0.0), 0);
    assert_eq!(size_bin(0.087), 0);
    assert_eq!(size_bin(0.0871), 1);
    assert_eq!(size_bin(1.0), 1);
    assert_eq!(size_bin(10.0), 2);
    assert_eq!(size_bin(10.01), 3);
}

#[test]
fn scores_a_dataset_with_bins_regions_and_scores() {
    let d = tempfile::tempdir().unwrap();
    // sub-a: lesions of 1 voxel (0.008 mL, bin 0), 27 (0.216 mL, bin 1), 216 (1.728 mL,
    //   bin 2) and 1331 voxels (10.648 mL, bin 3); the prediction hits the 27 and 1331
    //   voxel lesions, misses the others, and adds one false-positive cube.
    // sub-b: no lesion, clean prediction. sub-c: no lesion, one false positive.
    // sub-d: one 27-voxel lesion in the brainstem (per the manifest), found.
    let t_a = cubes(&[
        ([1, 1, 1], 1),
        ([5, 5, 5], 3),
        ([12, 1, 1], 6),
        ([25, 25, 5], 11),
    ]);
    let p_a = cubes(&[([6, 6, 6], 1), ([30, 30, 8], 2), ([1, 30, 15], 2)]);
    let t_d = cubes(&[([20, 20, 10], 3)]);
    let empty = cubes(&[]);
    let manifest = serde_json::json!({"studies": [
        {"id": "sub-a", "lesions": [
            {"region": "supratentorial", "centroid_mm": [-38.0, -38.0, -18.0]},
            {"region": "cerebellum", "centroid_mm": [-28.0, -28.0, -8.0]},
            {"region": "supratentorial", "centroid_mm": [-11.0, -33.0, -13.0]},
            {"region": "supratentorial", "centroid_mm": [20.0, 20.0, 0.0]},
            {"region": "brainstem", "centroid_mm": null}]},
        {"id": "sub-d", "lesions": [{"region": "brainstem", "centroid_mm": [2.0, 2.0, 2.0]}]}]});
    layout(
        d.path(),
        &[
            ("sub-a", t_a, p_a, 0.9),
            ("sub-b", empty.clone(), empty.clone(), 0.1),
            ("sub-c", empty.clone(), cubes(&[([3, 3, 3], 2)]), 0.5),
            ("sub-d", t_d.clone(), t_d, 0.8),
        ],
        &manifest,
    );
    // An extra truth study with no prediction is reported, not scored.
    let extra = d.path().join("truth/derivatives/sub-e/ses-0001");
    std::fs::create_dir_all(d.path().join("truth/sub-e")).unwrap();
    std::fs::create_dir_all(&extra).unwrap();
    write_mask(&extra.join("sub-e_ses-0001_msk.nii.gz"), &empty, "t").unwrap();

    let ev = evaluate(&opts(d.path()), &|_, _| {}).unwrap();
    assert_eq!(ev.truth_only, vec!["sub-e".to_string()]);
    assert!(ev.pred_only.is_empty());
    let s = &ev.summary;
    assert_eq!((s.studies, s.positives, s.negatives), (4, 2, 2));
    assert_eq!((s.truth_lesions, s.detected_lesions), (5, 3));
    // FPs: sub-a's cube at (1,30,15), sub-c's cube → 2 over 4 studies.
    assert_eq!(s.false_positive_lesions, 2);
    assert!((s.false_positive_lesions_per_study - 0.5).abs() < 1e-12);
    let bins: Vec<(usize, usize)> = s
        .lesion_sensitivity_by_size
        .iter()
        .map(|r| (r.lesions, r.detected))
        .collect();
    assert_eq!(bins, vec![(1, 0), (2, 2), (1, 0), (1, 1)]);
    let reg = s.lesion_sensitivity_by_region.as_ref().unwrap();
    let get = |n: &str| {
        reg.iter()
            .find(|r| r.size == n)
            .map(|r| (r.lesions, r.detected))
    };
    // Lesion centroids (voxel centre × 2 mm − 40/−40/−20): sub-a's 1, 27, 216 and 1331
    // voxel cubes sit at (−38,−38,−18), (−28,−28,−8), (−11,−33,−13) and (20,20,0) mm, i.e. on
    // the manifest's supratentorial, cerebellum, supratentorial, supratentorial entries;
    // sub-d's cube at (2,2,2) mm is its brainstem lesion.
    assert_eq!(get("supratentorial"), Some((3, 1)));
    assert_eq!(get("cerebellum"), Some((1, 1)));
    assert_eq!(get("brainstem"), Some((1, 1)));
    // sub-a case metrics: |T| = 1+27+216+1331 = 1575, |P| = 1+8+8 = 17, |T∩P| = 1+8 = 9.
    let a = &ev.cases[0];
    assert!((a.metrics.dice - 18.0 / 1592.0).abs() < 1e-12);
    assert!((a.metrics.abs_volume_diff_ml - 1558.0 * 0.008).abs() < 1e-9);
    assert_eq!(
        (
            a.metrics.tp_lesions,
            a.metrics.fn_lesions,
            a.metrics.fp_lesions
        ),
        (2, 2, 1)
    );
    assert!((a.metrics.lesion_f1 - 2.0 / 3.5).abs() < 1e-12);
    // Patient level: headline calls (score >= 0.3): a, c, d positive; b negative.
    let p = &s.patient;
    assert!(p.binary_call.contains("headline"));
    assert_eq!(
        (
            p.confusion.tp,
            p.confusion.fp,
            p.confusion.tn,
            p.confusion.fn_
        ),
        (2, 1, 1, 0)
    );
    assert_eq!(p.sensitivity.value, Some(1.0));
    assert_eq!(p.specificity.value, Some(0.5));
    assert_eq!(p.ppv.value, Some(2.0 / 3.0));
    // AUC: positives 0.9, 0.8 vs negatives 0.1, 0.5 → all 4 pairs ordered → 1.
    let auc = p.auc.unwrap();
    assert_eq!(auc.value, Some(1.0));
    assert_eq!(s.patient_level.len(), 2);
    // sens95 (threshold 0.6): a, d positive, c, b negative → sens 1, spec 1.
    assert_eq!(s.patient_level[0].specificity, Some(1.0));
    assert_eq!(s.patient_level[1].specificity, Some(0.5));

    // The outputs, and determinism of the intervals for a seed.
    let out = d.path().join("out");
    let files =
        strokeseg_eval::output::write_all(&out, "t", serde_json::Map::new(), &ev.cases, s).unwrap();
    for f in [
        "metrics.json",
        "cases.csv",
        "summary.md",
        "roc.png",
        "bland_altman.png",
        "sensitivity_by_size.png",
    ] {
        assert!(
            files.contains(&f.to_string()) && out.join(f).is_file(),
            "{f}"
        );
    }
    let csv = std::fs::read_to_string(out.join("cases.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5);
    let again = evaluate(&opts(d.path()), &|_, _| {}).unwrap();
    assert_eq!(again.summary.patient.specificity, s.patient.specificity);
}

#[test]
fn without_reports_the_call_is_any_lesion_and_auc_is_unavailable() {
    let d = tempfile::tempdir().unwrap();
    for (dir, m) in [
        ("truth", cubes(&[([2, 2, 2], 2)])),
        ("pred", cubes(&[([9, 9, 9], 2)])),
    ] {
        std::fs::create_dir_all(d.path().join(dir)).unwrap();
        write_mask(&d.path().join(dir).join("case1.nii.gz"), &m, "m").unwrap();
        write_mask(
            &d.path().join(dir).join("case2_msk.nii.gz"),
            &cubes(&[]),
            "m",
        )
        .unwrap();
    }
    let ev = evaluate(&opts(d.path()), &|_, _| {}).unwrap();
    let p = &ev.summary.patient;
    assert!(p.binary_call.starts_with("any predicted lesion"));
    assert!(p.auc.is_none() && p.auc_note.as_deref().unwrap().contains("unavailable"));
    assert!(ev.summary.patient_level.is_empty());
    // case1: missed lesion + one FP, called positive (any lesion); case2: both empty.
    assert_eq!(p.confusion.tp, 1);
    assert_eq!(ev.cases[1].metrics.dice, 1.0);
    assert_eq!(ev.cases[1].metrics.lesion_f1, 1.0);
    assert_eq!(ev.cases[0].metrics.lesion_f1, 0.0);
}

#[test]
fn bad_input_names_the_files() {
    let d = tempfile::tempdir().unwrap();
    let missing = evaluate(&opts(d.path()), &|_, _| {}).unwrap_err();
    assert!(missing.to_string().contains("truth"), "{missing}");
    std::fs::create_dir_all(d.path().join("truth")).unwrap();
    std::fs::create_dir_all(d.path().join("pred")).unwrap();
    write_mask(&d.path().join("truth/x.nii.gz"), &cubes(&[]), "m").unwrap();
    write_mask(&d.path().join("pred/y.nii.gz"), &cubes(&[]), "m").unwrap();
    let e = evaluate(&opts(d.path()), &|_, _| {}).unwrap_err();
    assert!(
        matches!(e, InputError::Empty { .. }) && e.to_string().contains("no prediction matches"),
        "{e}"
    );
    // Same name, different grid.
    let other = Mask::on_grid(
        Array3::from_elem((40, 40, 21), false),
        &Grid::axis_aligned([40, 40, 21], [2.0; 3], [0.0; 3]),
    );
    write_mask(&d.path().join("pred/x.nii.gz"), &other, "m").unwrap();
    let e = evaluate(&opts(d.path()), &|_, _| {})
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("pred/x.nii.gz")
            && e.contains("truth/x.nii.gz")
            && e.contains("different grids"),
        "{e}"
    );
    // Shifted affine, same dims.
    let shifted = Mask::on_grid(
        Array3::from_elem((40, 40, 20), false),
        &Grid::axis_aligned([40, 40, 20], [2.0; 3], [0.0; 3]),
    );
    write_mask(&d.path().join("pred/x.nii.gz"), &shifted, "m").unwrap();
    let e = evaluate(&opts(d.path()), &|_, _| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("affines"), "{e}");
}
