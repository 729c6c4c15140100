//! Contrast of implanted lesions per background, measured like docs/synth.md's realism table
//! (median in lesion ÷ median in the rest of the brain, DWI and ADC), plus the share of lesion
//! studies with a brainstem/cerebellar lesion and of lesions ≤ 0.087 mL.
//!
//! ```sh
//! cargo run --release -p strokeseg-implant --example pool_contrast -- DATASET_DIR...
//! ```
//! Each DATASET_DIR is one `synth --implant` output; a study's implanted lesions are its truth
//! minus the truth of the unchanged background (`sub-*000`) when that is in the folder.

use std::path::{Path, PathBuf};
use strokeseg_io::nifti_io::read_volume;
use strokeseg_io::{Study, StudySpec};

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn range(v: &[f64]) -> (f64, f64) {
    v.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
            (a.min(x), b.max(x))
        })
}

fn mask_of(root: &Path, id: &str) -> Option<ndarray::Array3<bool>> {
    let p = root.join(format!(
        "derivatives/{id}/ses-0001/{id}_ses-0001_msk.nii.gz"
    ));
    read_volume(&p).ok().map(|v| v.data().mapv(|x| x > 0.5))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("| background | kind | b | lesion studies | DWI lesion/normal | ADC lesion/normal | posterior-fossa studies | lesions ≤ 0.087 mL |");
    println!("|---|---|---|---|---|---|---|---|");
    for root in std::env::args_os().skip(1).map(PathBuf::from) {
        let m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(root.join("manifest.json"))?)?;
        let studies = m["studies"].as_array().ok_or("manifest without studies")?;
        let original = studies
            .iter()
            .find(|s| s["n_implanted"] == 0)
            .and_then(|s| s["id"].as_str())
            .and_then(|id| mask_of(&root, id));
        let (mut dwi, mut adc) = (Vec::new(), Vec::new());
        let (mut n, mut post, mut lesions, mut small) = (0, 0, 0, 0);
        let mut kind = String::new();
        let mut b = 0.0;
        for s in studies
            .iter()
            .filter(|s| s["n_implanted"].as_u64() > Some(0))
        {
            let id = s["id"].as_str().unwrap_or_default();
            kind = s["background_kind"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            b = s["b_value"].as_f64().unwrap_or(0.0);
            n += 1;
            let ls = s["lesions"].as_array().cloned().unwrap_or_default();
            post += usize::from(ls.iter().any(|l| l["posterior_fossa"] == true));
            lesions += ls.len();
            small += ls
                .iter()
                .filter(|l| l["pv_volume_ml"].as_f64().unwrap_or(0.0) <= 0.087)
                .count();
            let study = Study::load(&StudySpec {
                paths: vec![root.join(id)],
                ..StudySpec::default()
            })?;
            let Some(mut mask) = mask_of(&root, id) else {
                continue;
            };
            if let Some(o) = &original {
                mask.zip_mut_with(o, |m, &o| *m &= !o);
            }
            if mask.iter().filter(|&&x| x).count() < 20 {
                continue;
            }
            let brain = strokeseg_preproc::brain_mask(
                &study.dwi,
                &strokeseg_preproc::BrainMaskConfig::default(),
            );
            if let Some(c) = strokeseg_implant::contrast(
                study.dwi.data(),
                study.adc.as_ref().map(|a| a.data()),
                brain.data(),
                &mask,
            ) {
                dwi.push(c.dwi_ratio);
                if let Some(a) = c.adc_ratio {
                    adc.push(a);
                }
            }
        }
        let (dl, dh) = range(&dwi);
        let (al, ah) = range(&adc);
        let name = root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let adc_cell = if adc.is_empty() {
            "– (DWI only)".to_string()
        } else {
            format!("{:.2} ({al:.2}–{ah:.2})", median(adc.clone()))
        };
        println!(
            "| {name} | {kind} | {b:.0} | {n} | {:.2} ({dl:.2}–{dh:.2}) | {adc_cell} | {:.0}% | {:.0}% of {lesions} |",
            median(dwi.clone()),
            100.0 * post as f64 / n.max(1) as f64,
            100.0 * small as f64 / lesions.max(1) as f64,
        );
    }
    Ok(())
}
