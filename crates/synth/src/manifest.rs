//! The dataset writer's loop and its manifest: `manifest.json` (everything), `manifest.csv`
//! (one row per study) and `lesions.csv` (one row per lesion), plus a BIDS
//! `dataset_description.json` that says the data are synthetic.

use crate::dataset::{write_study, Generator, StudyTruth, SynthError};
use crate::site::Site;
use serde::Serialize;
use std::path::Path;

/// The whole manifest.
#[derive(Debug, Serialize)]
pub struct Manifest<'a> {
    /// Always true: these studies are synthetic.
    pub synthetic: bool,
    /// Generator name and version.
    pub generator: String,
    /// Template the anatomy comes from.
    pub template: String,
    /// Dataset seed.
    pub seed: u64,
    /// The site preset, in full.
    pub site: &'a Site,
    /// One entry per study.
    pub studies: &'a [StudyTruth],
}

fn encode_err(path: &Path, e: impl std::fmt::Display) -> SynthError {
    SynthError::Encode {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

fn join<T: Serialize>(items: &[T]) -> String {
    items
        .iter()
        .map(|x| {
            serde_json::to_value(x)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(";")
}

/// Writes manifest.json, manifest.csv, lesions.csv and dataset_description.json.
///
/// # Errors
/// [`SynthError`] when a file cannot be written.
pub fn write_manifest(root: &Path, m: &Manifest<'_>) -> Result<(), SynthError> {
    let p = root.join("manifest.json");
    let json = serde_json::to_string_pretty(m).map_err(|e| encode_err(&p, e))?;
    std::fs::write(&p, json).map_err(|e| encode_err(&p, e))?;

    let p = root.join("manifest.csv");
    let mut w = csv::Writer::from_path(&p).map_err(|e| encode_err(&p, e))?;
    w.write_record([
        "id",
        "site",
        "seed",
        "has_lesion",
        "n_lesions",
        "n_visible_lesions",
        "lesion_volume_ml",
        "b_value",
        "dims",
        "spacing_mm",
        "mimics",
        "artefacts",
        "dwi",
        "adc",
        "b0",
        "mask",
    ])
    .map_err(|e| encode_err(&p, e))?;
    for s in m.studies {
        let visible = s.lesions.iter().filter(|l| l.visible).count();
        w.write_record([
            s.id.clone(),
            s.site.clone(),
            s.seed.to_string(),
            s.has_lesion.to_string(),
            s.lesions.len().to_string(),
            visible.to_string(),
            format!("{:.5}", s.lesion_volume_ml),
            s.b_value.to_string(),
            format!("{}x{}x{}", s.dims[0], s.dims[1], s.dims[2]),
            format!(
                "{:.3}x{:.3}x{:.3}",
                s.spacing_mm[0], s.spacing_mm[1], s.spacing_mm[2]
            ),
            join(&s.mimics),
            join(&s.artefacts),
            s.files.dwi.clone(),
            s.files.adc.clone(),
            s.files.b0.clone(),
            s.files.mask.clone(),
        ])
        .map_err(|e| encode_err(&p, e))?;
    }
    w.flush().map_err(|e| encode_err(&p, e))?;

    let p = root.join("lesions.csv");
    let mut w = csv::Writer::from_path(&p).map_err(|e| encode_err(&p, e))?;
    w.write_record([
        "id",
        "lesion",
        "kind",
        "region",
        "subtle",
        "visible",
        "target_volume_ml",
        "template_volume_ml",
        "mask_volume_ml",
        "n_voxels",
        "max_pv",
        "centroid_x_mm",
        "centroid_y_mm",
        "centroid_z_mm",
        "centroid_mni_x",
        "centroid_mni_y",
        "centroid_mni_z",
        "adc_factor",
        "s0_factor",
    ])
    .map_err(|e| encode_err(&p, e))?;
    for s in m.studies {
        for l in &s.lesions {
            let c = l
                .measured
                .centroid_mm
                .map_or([String::new(), String::new(), String::new()], |c| {
                    c.map(|x| format!("{x:.2}"))
                });
            w.write_record([
                s.id.clone(),
                l.index.to_string(),
                join(&[l.kind]),
                l.region.name().to_string(),
                l.subtle.to_string(),
                l.visible.to_string(),
                format!("{:.5}", l.target_volume_ml),
                format!("{:.5}", l.template_volume_ml),
                format!("{:.5}", l.measured.mask_volume_ml),
                l.measured.n_voxels.to_string(),
                format!("{:.3}", l.measured.max_pv),
                c[0].clone(),
                c[1].clone(),
                c[2].clone(),
                format!("{:.2}", l.centroid_mni[0]),
                format!("{:.2}", l.centroid_mni[1]),
                format!("{:.2}", l.centroid_mni[2]),
                format!("{:.3}", l.adc_factor),
                format!("{:.3}", l.s0_factor),
            ])
            .map_err(|e| encode_err(&p, e))?;
        }
    }
    w.flush().map_err(|e| encode_err(&p, e))?;

    let p = root.join("dataset_description.json");
    let dd = serde_json::json!({
        "Name": format!("strokeseg synthetic DWI, site {}", m.site.name),
        "BIDSVersion": "1.8.0",
        "DatasetType": "raw",
        "GeneratedBy": [{"Name": "strokeseg synth", "Version": env!("CARGO_PKG_VERSION")}],
        "Synthetic": true,
        "HowToAcknowledge": "Synthetic data made from the MNI ICBM152 2009a template (Fonov et al. 2011); see the template's NOTICE.",
    });
    std::fs::write(&p, serde_json::to_string_pretty(&dd).unwrap_or_default())
        .map_err(|e| encode_err(&p, e))?;
    Ok(())
}

/// Generates and writes `n` studies of `site` into `root`, calling `progress` after each.
///
/// # Errors
/// [`SynthError::Exists`] when `root` already holds a manifest; otherwise write failures.
pub fn write_dataset(
    gen: &Generator,
    site: &Site,
    root: &Path,
    n: usize,
    seed: u64,
    dicom: bool,
    progress: &dyn Fn(&StudyTruth),
) -> Result<Vec<StudyTruth>, SynthError> {
    if root.join("manifest.json").exists() {
        return Err(SynthError::Exists(root.to_path_buf()));
    }
    std::fs::create_dir_all(root).map_err(|source| SynthError::Fs {
        path: root.to_path_buf(),
        source,
    })?;
    let mut truths = Vec::with_capacity(n);
    for i in 0..n {
        let mut s = gen.study(site, seed, i);
        write_study(root, &mut s, site, dicom)?;
        progress(&s.truth);
        truths.push(s.truth);
    }
    let m = Manifest {
        synthetic: true,
        generator: format!("strokeseg synth {}", env!("CARGO_PKG_VERSION")),
        template: gen.template.name.clone(),
        seed,
        site,
        studies: &truths,
    };
    write_manifest(root, &m)?;
    Ok(truths)
}
