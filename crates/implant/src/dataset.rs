//! Writing implanted studies: the same BIDS tree as `strokeseg synth` (`sub-*/ses-0001/dwi/`
//! DWI, ADC, b0 and a JSON sidecar; truth under `derivatives/`, plus `*_ignore.nii.gz` where a
//! region is excluded from the loss) and a manifest (`manifest.json`, `manifest.csv`,
//! `lesions.csv`) that says every study is implanted into a real background.

use serde::Serialize;
use std::path::{Path, PathBuf};
use strokeseg_core::{Image, Volume};
use strokeseg_io::nifti_io::{write_mask, write_volume};
use strokeseg_synth::dataset::SynthError;
use strokeseg_synth::Template;

use crate::{implant, is_posterior, ImplantConfig, ImplantError, Implanted, Prepared};

/// One implanted lesion in the manifest.
#[derive(Debug, Clone, Serialize)]
pub struct LesionRecord {
    /// Study identifier.
    pub study: String,
    /// Kind (the template generator's).
    pub kind: String,
    /// Coarse region of the MNI centroid.
    pub region: String,
    /// True in the brainstem or cerebellum.
    pub posterior_fossa: bool,
    /// Volume the MNI shape was sized to (mL).
    pub target_volume_ml: f64,
    /// Partial-volume volume that landed in the native grid (mL).
    pub pv_volume_ml: f64,
    /// Largest one-voxel DWI rise over the background's noise SD (`physics::peak_cnr`).
    pub peak_cnr: f64,
    /// Voxels of the truth mask that belong to it.
    pub mask_voxels: usize,
    /// Their volume (mL).
    pub mask_volume_ml: f64,
    /// ADC factor (before the texture field).
    pub adc_factor: f32,
    /// S0 factor.
    pub s0_factor: f32,
    /// MNI centroid (mm).
    pub centroid_mni: [f64; 3],
    /// Native centroid (world mm, RAS+), when visible in the mask.
    pub centroid_mm: Option<[f64; 3]>,
}

/// One implanted study in the manifest.
#[derive(Debug, Clone, Serialize)]
pub struct ImplantRecord {
    /// Identifier (`sub-…`).
    pub id: String,
    /// Seed of this study.
    pub seed: u64,
    /// The real study it was made from.
    pub background: String,
    /// What is known about the background's own lesions.
    pub background_kind: String,
    /// True when the study has any lesion in its truth (implanted or its own).
    pub has_lesion: bool,
    /// Implanted lesions.
    pub n_implanted: usize,
    /// True when lesions were asked for and none could be placed.
    pub placement_failed: bool,
    /// b-value of the physics.
    pub b_value: f64,
    /// True when that b-value was assumed (not recorded in the study).
    pub b_value_assumed: bool,
    /// Noise SD of the background's DWI in brain tissue (`physics::noise_sd`; 0 when not
    /// measurable), the unit of the lesions' `peak_cnr`.
    pub noise_sd: f32,
    /// True when the ADC came from the study (else the physics assumed a tissue ADC and no
    /// ADC is written).
    pub has_adc: bool,
    /// True when a region is excluded from the loss (`*_ignore.nii.gz`).
    pub has_ignore: bool,
    /// Registration quality of the background (brain Dice with the template).
    pub registration_brain_dice: f64,
    /// Study brain volume ÷ template brain volume by the registration.
    pub registration_volume_ratio: f64,
    /// Files, relative to the dataset root.
    pub files: Vec<String>,
    /// Lesions.
    pub lesions: Vec<LesionRecord>,
}

fn fs_err(path: &Path) -> impl FnOnce(std::io::Error) -> SynthError + '_ {
    move |source| SynthError::Fs {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes one implanted study under `root`.
///
/// # Errors
/// A file that cannot be written.
pub fn write_study(
    root: &Path,
    s: &Implanted,
    prep: &Prepared<'_>,
) -> Result<ImplantRecord, SynthError> {
    let id = &s.id;
    let rel_dir = format!("{id}/ses-0001/dwi");
    let dir = root.join(&rel_dir);
    std::fs::create_dir_all(&dir).map_err(fs_err(&dir))?;
    let name = |k: &str| format!("{rel_dir}/{id}_ses-0001_{k}.nii.gz");
    let desc = format!(
        "strokeseg implant (SYNTHETIC lesions in real {})",
        prep.bg.id
    );
    let vol = |a: &ndarray::Array3<f32>| Volume::on_grid(a.clone(), &s.grid);
    let mut files = vec![name("dwi")];
    write_volume(&root.join(&files[0]), &vol(&s.dwi), &desc)?;
    if let Some(a) = &s.adc {
        files.push(name("adc"));
        write_volume(&root.join(name("adc")), &vol(a), &desc)?;
    }
    if let Some(b) = &s.b0 {
        files.push(name("b0"));
        write_volume(&root.join(name("b0")), &vol(b), &desc)?;
    }
    let sidecar = serde_json::json!({
        "DiffusionBValue": prep.b_value,
        "DiffusionBValueAssumed": prep.b_assumed,
        "Synthetic": true,
        "SyntheticLesionsInRealBackground": true,
        "Background": prep.bg.source,
        "BackgroundKind": prep.bg.kind.name(),
        "ADCUnits": "1e-6 mm2/s",
        "Generator": format!("strokeseg synth --implant {}", env!("CARGO_PKG_VERSION")),
    });
    let sc = dir.join(format!("{id}_ses-0001_dwi.json"));
    std::fs::write(
        &sc,
        serde_json::to_string_pretty(&sidecar).unwrap_or_default(),
    )
    .map_err(fs_err(&sc))?;
    let mdir = root.join(format!("derivatives/{id}/ses-0001"));
    std::fs::create_dir_all(&mdir).map_err(fs_err(&mdir))?;
    let mask_rel = format!("derivatives/{id}/ses-0001/{id}_ses-0001_msk.nii.gz");
    write_mask(
        &root.join(&mask_rel),
        &Image::on_grid(s.mask.clone(), &s.grid),
        "strokeseg implant truth (implanted SYNTHETIC lesions + the study's own)",
    )?;
    files.push(mask_rel);
    if let Some(e) = &s.exclude {
        let rel = format!("derivatives/{id}/ses-0001/{id}_ses-0001_ignore.nii.gz");
        write_mask(
            &root.join(&rel),
            &Image::on_grid(e.clone(), &s.grid),
            "strokeseg implant: region excluded from the loss (label unknown)",
        )?;
        files.push(rel);
    }
    let lesions = s
        .lesions
        .iter()
        .map(|(p, m)| LesionRecord {
            study: id.clone(),
            kind: format!("{:?}", p.lesion.kind).to_lowercase(),
            region: p.region.name().into(),
            posterior_fossa: is_posterior(p.lesion.kind, p.region),
            target_volume_ml: p.lesion.target_volume_ml,
            pv_volume_ml: p.pv_volume_ml,
            peak_cnr: p.peak_cnr,
            mask_voxels: m.n_voxels,
            mask_volume_ml: m.mask_volume_ml,
            adc_factor: p.lesion.adc_factor,
            s0_factor: p.lesion.s0_factor,
            centroid_mni: p.centroid_mni,
            centroid_mm: m.centroid_mm,
        })
        .collect();
    Ok(ImplantRecord {
        id: id.clone(),
        seed: s.seed,
        background: prep.bg.source.clone(),
        background_kind: prep.bg.kind.name().into(),
        has_lesion: s.mask.iter().any(|&m| m),
        n_implanted: s.lesions.len(),
        placement_failed: s.placement_failed,
        b_value: prep.b_value,
        b_value_assumed: prep.b_assumed,
        noise_sd: prep.noise_sd,
        has_adc: s.adc.is_some(),
        has_ignore: s.exclude.is_some(),
        registration_brain_dice: prep.reg.quality.brain_dice,
        registration_volume_ratio: prep.reg.quality.volume_ratio,
        files,
        lesions,
    })
}

/// Writes `n` implanted studies per prepared background (indices 1..=n; index 0, the
/// background unchanged, too when `include_original`) and the manifest. `on` is called
/// after each study.
///
/// # Errors
/// [`SynthError::Exists`] when `root` already holds a manifest; write failures.
#[allow(clippy::too_many_arguments)] // the dataset's shape (n, seed, originals) beside its inputs
pub fn write_dataset(
    root: &Path,
    preps: &[Prepared<'_>],
    tpl: &Template,
    cfg: &ImplantConfig,
    n: usize,
    seed: u64,
    include_original: bool,
    on: &mut dyn FnMut(&ImplantRecord),
) -> Result<Vec<ImplantRecord>, ImplantError> {
    if root.join("manifest.json").exists() {
        return Err(SynthError::Exists(root.to_path_buf()).into());
    }
    std::fs::create_dir_all(root).map_err(fs_err(root))?;
    let mut records = Vec::new();
    for prep in preps {
        let start = usize::from(!include_original);
        for index in start..=n {
            let s = implant(prep, tpl, cfg, seed, index, index > 0);
            let r = write_study(root, &s, prep)?;
            on(&r);
            records.push(r);
        }
    }
    write_manifest(root, &records, seed)?;
    Ok(records)
}

fn write_manifest(root: &Path, records: &[ImplantRecord], seed: u64) -> Result<(), SynthError> {
    let enc = |path: PathBuf, e: String| SynthError::Encode { path, reason: e };
    let m = serde_json::json!({
        "generator": format!("strokeseg synth --implant {}", env!("CARGO_PKG_VERSION")),
        "synthetic": true,
        "note": "SYNTHETIC infarcts implanted into REAL DWI backgrounds; the backgrounds' own \
                 lesions are labelled only where a truth mask was given",
        "seed": seed,
        "studies": records,
    });
    let p = root.join("manifest.json");
    std::fs::write(&p, serde_json::to_string_pretty(&m).unwrap_or_default()).map_err(fs_err(&p))?;
    let p = root.join("manifest.csv");
    let mut w = csv::Writer::from_path(&p).map_err(|e| enc(p.clone(), e.to_string()))?;
    w.write_record([
        "id",
        "background",
        "background_kind",
        "has_lesion",
        "n_implanted",
        "b_value",
        "b_value_assumed",
        "has_adc",
        "has_ignore",
        "dwi",
        "mask",
    ])
    .map_err(|e| enc(p.clone(), e.to_string()))?;
    for r in records {
        let mask = r.files.iter().find(|f| f.ends_with("_msk.nii.gz"));
        w.write_record([
            r.id.as_str(),
            &r.background,
            &r.background_kind,
            &r.has_lesion.to_string(),
            &r.n_implanted.to_string(),
            &format!("{}", r.b_value),
            &r.b_value_assumed.to_string(),
            &r.has_adc.to_string(),
            &r.has_ignore.to_string(),
            &r.files[0],
            mask.map_or("", String::as_str),
        ])
        .map_err(|e| enc(p.clone(), e.to_string()))?;
    }
    w.flush().map_err(fs_err(&p))?;
    let p = root.join("lesions.csv");
    let mut w = csv::Writer::from_path(&p).map_err(|e| enc(p.clone(), e.to_string()))?;
    for l in records.iter().flat_map(|r| r.lesions.iter()) {
        w.serialize(LesionCsv::from(l))
            .map_err(|e| enc(p.clone(), e.to_string()))?;
    }
    w.flush().map_err(fs_err(&p))?;
    Ok(())
}

#[derive(Serialize)]
struct LesionCsv<'a> {
    study: &'a str,
    kind: &'a str,
    region: &'a str,
    posterior_fossa: bool,
    target_volume_ml: f64,
    pv_volume_ml: f64,
    peak_cnr: f64,
    mask_voxels: usize,
    mask_volume_ml: f64,
    adc_factor: f32,
    s0_factor: f32,
    mni_x: f64,
    mni_y: f64,
    mni_z: f64,
}

impl<'a> From<&'a LesionRecord> for LesionCsv<'a> {
    fn from(l: &'a LesionRecord) -> Self {
        LesionCsv {
            study: &l.study,
            kind: &l.kind,
            region: &l.region,
            posterior_fossa: l.posterior_fossa,
            target_volume_ml: l.target_volume_ml,
            pv_volume_ml: l.pv_volume_ml,
            peak_cnr: l.peak_cnr,
            mask_voxels: l.mask_voxels,
            mask_volume_ml: l.mask_volume_ml,
            adc_factor: l.adc_factor,
            s0_factor: l.s0_factor,
            mni_x: l.centroid_mni[0],
            mni_y: l.centroid_mni[1],
            mni_z: l.centroid_mni[2],
        }
    }
}
