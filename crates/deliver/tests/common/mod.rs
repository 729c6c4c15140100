//! Helpers shared by the deliver tests: small synthetic DICOM studies, masks, reading back,
//! and running dciodvfy.
#![allow(dead_code)]

use dicom_dictionary_std::tags;
use dicom_object::{open_file, DefaultDicomObject};
use ndarray::Array3;
use std::path::{Path, PathBuf};
use std::process::Command;
use strokeseg_core::{Mask, Volume};
use strokeseg_io::dicom::{write_enhanced_mr, write_mr_series, SeriesWriteOptions};
use strokeseg_io::{Study, StudySpec};

/// Dims of the synthetic volumes: 20 columns, 16 rows, 6 slices (oblique, anisotropic).
pub const DIMS: [usize; 3] = [20, 16, 6];

fn vol(f: impl Fn(usize, usize, usize) -> f32) -> Volume {
    let affine = strokeseg_testkit::oblique_affine(DIMS, [1.2, 0.9, 3.5], 17.0);
    Volume::new(
        Array3::from_shape_fn((DIMS[0], DIMS[1], DIMS[2]), |(i, j, k)| f(i, j, k)),
        affine,
    )
    .unwrap()
}

/// Options with recognisable patient/study identifiers.
pub fn opts(seed: u128) -> SeriesWriteOptions {
    SeriesWriteOptions {
        patient_id: "PAT-0042".into(),
        patient_name: "Test^Patient".into(),
        ..SeriesWriteOptions::from_seed(seed)
    }
}

/// A classic single-frame DWI series in `dir`: b0, and b=1000 in three directions (three
/// images per slice position, combined into one trace slice).
pub fn classic_study(dir: &Path) -> PathBuf {
    let mut o = opts(11);
    o.b_value = Some(0.0);
    write_mr_series(dir, &vol(|i, j, _| 900.0 + (i + j) as f32), &o).unwrap();
    for (n, start) in [101, 201, 301].into_iter().enumerate() {
        o.b_value = Some(1000.0);
        o.instance_number_start = start;
        let v = vol(|i, j, k| 300.0 + (i * 3 + j * 2 + k + n * 7) as f32);
        write_mr_series(dir, &v, &o).unwrap();
    }
    dir.to_path_buf()
}

/// One Enhanced MR multi-frame file (b0 and b=1000 frames) in `dir`.
pub fn enhanced_study(dir: &Path) -> PathBuf {
    let b0 = vol(|i, j, _| 900.0 + (i + j) as f32);
    let dwi = vol(|i, j, k| 300.0 + (i * 3 + j * 2 + k) as f32);
    write_enhanced_mr(
        &dir.join("enhanced.dcm"),
        &[(Some(0.0), &b0), (Some(1000.0), &dwi)],
        &opts(12),
    )
    .unwrap();
    dir.to_path_buf()
}

pub fn load(dir: &Path) -> Study {
    Study::load(&StudySpec {
        paths: vec![dir.to_path_buf()],
        ..StudySpec::default()
    })
    .unwrap()
}

/// A mask on the study's DWI grid: an off-centre box touching two slices, plus one voxel in
/// the last slice (so slice order and in-plane orientation both matter).
pub fn lesion_mask(study: &Study) -> Mask {
    let g = study.dwi.grid();
    let [ni, nj, nk] = g.dims;
    let data = Array3::from_shape_fn((ni, nj, nk), |(i, j, k)| {
        ((3..8).contains(&i) && (2..5).contains(&j) && (1..3).contains(&k))
            || (i, j, k) == (ni - 2, 1, nk - 1)
    });
    Mask::on_grid(data, &g)
}

pub fn open(p: &Path) -> DefaultDicomObject {
    open_file(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

pub fn text(o: &DefaultDicomObject, tag: dicom_core::Tag) -> String {
    o.element(tag)
        .ok()
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
        .unwrap_or_default()
}

/// `(errors, warnings)` of dciodvfy on `path`, or `None` (after printing SKIPPED) when the
/// tool is not installed.
pub fn dciodvfy(path: &Path) -> Option<(Vec<String>, Vec<String>)> {
    let out = match Command::new("dciodvfy").arg(path).output() {
        Ok(o) => o,
        Err(_) => {
            eprintln!("SKIPPED: dciodvfy not installed (Debian package dicom3tools)");
            return None;
        }
    };
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let pick = |prefix: &str| -> Vec<String> {
        all.lines()
            .filter(|l| l.starts_with(prefix))
            .map(str::to_string)
            .collect()
    };
    Some((pick("Error"), pick("Warning")))
}

/// Runs dciodvfy on `path`, prints its warnings, and fails on any error.
pub fn assert_dciodvfy_clean(path: &Path) {
    let Some((errors, warnings)) = dciodvfy(path) else {
        return;
    };
    eprintln!(
        "dciodvfy {}: {} error(s), {} warning(s)",
        path.display(),
        errors.len(),
        warnings.len()
    );
    for w in &warnings {
        eprintln!("  {w}");
    }
    assert!(
        errors.is_empty(),
        "dciodvfy errors for {}:\n{}",
        path.display(),
        errors.join("\n")
    );
}

/// Bytes of every file under `dir`, sorted by path (to prove the source is not modified).
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut v: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    v.sort();
    v
}

/// SOPInstanceUID → ImagePositionPatient of the b=1000 images of a classic series, read
/// straight from the files (independently of the study reader).
pub fn source_positions(dir: &Path) -> Vec<(String, [f64; 3])> {
    let mut out = Vec::new();
    for (p, _) in snapshot(dir) {
        let o = open(&p);
        let b = o
            .element(tags::DIFFUSION_B_VALUE)
            .unwrap()
            .to_float64()
            .unwrap();
        if b < 50.0 {
            continue;
        }
        let ipp: Vec<f64> = o
            .element(tags::IMAGE_POSITION_PATIENT)
            .unwrap()
            .to_multi_float64()
            .unwrap();
        out.push((text(&o, tags::SOP_INSTANCE_UID), [ipp[0], ipp[1], ipp[2]]));
    }
    out
}
