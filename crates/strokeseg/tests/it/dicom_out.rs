//! `segment --dicom-out`: SEG and Secondary Capture of a synthetic DICOM study (the
//! generator's `--dicom` series), recorded in report.json, read back with our own reader,
//! validated by dciodvfy (when installed) and by highdicom via tools/check_seg.py (when the
//! venv of tools/setup-dicom-venv.sh exists); NIfTI input is refused with exit 2.

use super::util::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use strokeseg_synth::dataset::Generator;
use strokeseg_synth::manifest::write_dataset;
use strokeseg_synth::site::find_site;
use strokeseg_synth::Template;

/// One synthetic study (phantom template, 3 mm) with DICOM series; its DICOM folder.
fn dicom_study(root: &Path) -> PathBuf {
    let gen = Generator::new(Template::phantom(3.0));
    let site = find_site("site-c").unwrap();
    let truth = write_dataset(&gen, &site, root, 1, 5, true, &|_| {}).unwrap();
    let dir = root.join(truth[0].files.dicom.as_ref().expect("DICOM written"));
    assert!(dir.is_dir(), "{}", dir.display());
    dir
}

fn shipped_model() -> Option<PathBuf> {
    let m = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../models/realmix-v3"
    ));
    if m.join("model.bpk").is_file() {
        Some(m)
    } else {
        eprintln!("SKIPPED: no shipped model in {}", m.display());
        None
    }
}

/// `(errors, warnings)` lines of dciodvfy, or `None` when it is not installed.
fn dciodvfy(p: &Path) -> Option<(Vec<String>, Vec<String>)> {
    let Ok(o) = Command::new("dciodvfy").arg(p).output() else {
        eprintln!("SKIPPED: dciodvfy not installed (Debian package dicom3tools)");
        return None;
    };
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let pick = |pre: &str| {
        all.lines()
            .filter(|l| l.starts_with(pre))
            .map(String::from)
            .collect()
    };
    Some((pick("Error"), pick("Warning")))
}

/// The python of the highdicom venv, or `None` (after SKIPPED) when absent.
fn highdicom_python() -> Option<PathBuf> {
    let cache = std::env::var_os("STROKESEG_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/strokeseg")))?;
    let py = cache.join("venv-dicom/bin/python");
    if py.is_file() {
        Some(py)
    } else {
        eprintln!(
            "SKIPPED: highdicom check: no venv at {} (run tools/setup-dicom-venv.sh)",
            py.display()
        );
        None
    }
}

#[test]
fn segment_writes_seg_and_secondary_capture_that_validators_accept() {
    let Some(model) = shipped_model() else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let src = dicom_study(&d.path().join("data"));
    let (out, dcm) = (d.path().join("out"), d.path().join("dcm"));
    let run = strokeseg(&[
        "segment",
        s(&src),
        "--model",
        s(&model),
        "--out",
        s(&out),
        "--dicom-out",
        s(&dcm),
        // A very low threshold and no restricted-diffusion rule, so that the mask is not
        // empty whatever the model makes of the phantom (the point is the DICOM encoding,
        // not accuracy; realmix-v3 leaves no voxel of it at 0.02).
        "--threshold",
        "0.001",
        "--no-adc-rule",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let name = src.file_name().unwrap().to_str().unwrap();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join(name).join("report.json")).unwrap())
            .unwrap();
    crate::util::assert_report_valid(&report);
    let files = &report["files"]["dicom"];
    let seg = PathBuf::from(files["seg"].as_str().expect("files.dicom.seg"));
    let sc: Vec<PathBuf> = files["secondary_capture"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| PathBuf::from(v.as_str().unwrap()))
        .collect();
    assert_eq!(seg, dcm.join(name).join("seg.dcm").canonicalize().unwrap());
    assert_eq!(sc.len(), 1);
    assert!(seg.is_file() && sc[0].is_file());
    assert_ne!(files["seg_series_uid"], files["sc_series_uid"]);

    // Our reader: the SEG is a volume on the DWI grid holding exactly the NIfTI lesion mask.
    let mask_name = report["files"]["lesion_mask"].as_str().unwrap();
    assert!(mask_name.ends_with("_space-orig_desc-lesion_mask.nii.gz"));
    let mask = strokeseg_io::nifti_io::read_volume(&out.join(name).join(mask_name)).unwrap();
    let scan = strokeseg_io::dicom::scan_dir(&dcm.join(name)).unwrap();
    assert_eq!(scan.series.len(), 1, "{:?}", scan.warnings);
    assert_eq!(
        scan.series[0].series_uid,
        files["seg_series_uid"].as_str().unwrap()
    );
    let v = &scan.series[0].volumes[0].volume;
    assert_eq!(v.dims(), mask.dims());
    assert!((v.affine() - mask.affine()).amax() < 1e-3);
    let n_mask = mask.data().iter().filter(|&&x| x > 0.5).count();
    for (idx, &m) in mask.data().indexed_iter() {
        assert_eq!(v.data()[idx] > 0.5, m > 0.5, "voxel {idx:?}");
    }
    eprintln!("lesion mask: {n_mask} voxels");
    assert!(n_mask > 0, "the test needs a non-empty mask");

    for p in [&seg, &sc[0]] {
        if let Some((errors, warnings)) = dciodvfy(p) {
            eprintln!(
                "dciodvfy {}: {} errors, {} warnings",
                p.display(),
                errors.len(),
                warnings.len()
            );
            for w in &warnings {
                eprintln!("  {w}");
            }
            assert!(errors.is_empty(), "{}:\n{}", p.display(), errors.join("\n"));
        }
    }

    if let Some(py) = highdicom_python() {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tools/check_seg.py");
        let o = Command::new(py)
            .args([
                script,
                s(&seg),
                s(&src),
                "--mask-voxels",
                &n_mask.to_string(),
            ])
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        eprintln!("{text}");
        assert!(
            o.status.success() && text.contains("check_seg: OK"),
            "{text}"
        );
    }
}

#[test]
fn dicom_out_refuses_nifti_input_before_any_work() {
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("in");
    let nii = write(&input.join("case_dwi.nii.gz"), &head().dwi);
    let (out, dcm) = (d.path().join("out"), d.path().join("dcm"));
    let missing_model = d.path().join("no-model");
    // A file input is refused before the model is even looked at.
    let run = strokeseg(&[
        "segment",
        s(&nii),
        "--model",
        s(&missing_model),
        "--out",
        s(&out),
        "--dicom-out",
        s(&dcm),
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("needs a DICOM input study"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("case_dwi.nii.gz"), "{}", run.stderr);
    assert!(!out.exists() && !dcm.exists());
    // A folder of NIfTI files is refused once read, before segmentation.
    let Some(model) = shipped_model() else {
        return;
    };
    let run = strokeseg(&[
        "segment",
        s(&input),
        "--model",
        s(&model),
        "--out",
        s(&out),
        "--dicom-out",
        s(&dcm),
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("needs a DICOM input study"),
        "{}",
        run.stderr
    );
    assert!(!out.exists() && !dcm.exists());
}
