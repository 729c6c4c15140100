//! Making studies and writing a dataset: an ISLES'22-like BIDS tree (`sub-*/ses-0001/dwi/`
//! with DWI, ADC and b0; lesion masks under `derivatives/`), optional DICOM series, and a
//! manifest (JSON and CSV) with per-study and per-lesion truth.

use crate::acquire::{
    acquire_with, receive_coil_profile, skull_base_pileup, AcquireOptions, Acquired, Artefact,
};
use crate::lesions::{
    sample_lesions, sample_tissue_mimics_avoiding, Lesion, LesionKind, MimicKind,
};
use crate::physics::{tissue_maps, HeadModel, TissueParams};
use crate::regions::{region_at, Region};
use crate::render::{render, Footprint, LesionLabels};
use crate::site::{AdcUnitsOut, RandomDraw, Site};
use crate::subject::Subject;
use crate::template::Template;
use crate::truth::{lesion_truth, Measured};
use ndarray::Array3;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::path::{Path, PathBuf};
use strokeseg_core::{Grid, Image, Volume};

/// Share of studies that hold at least one acute infarct.
pub const LESION_STUDY_FRACTION: f64 = 0.55;

/// Why a dataset could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SynthError {
    /// Writing an output failed.
    #[error(transparent)]
    Io(#[from] strokeseg_io::InputError),
    /// Plain file-system failure.
    #[error("{path}: {source}")]
    Fs {
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The output folder already holds a dataset.
    #[error(
        "{0}: already holds a synthetic dataset (manifest.json); choose another --out or remove it"
    )]
    Exists(PathBuf),
    /// CSV or JSON encoding.
    #[error("{path}: {reason}")]
    Encode {
        /// The file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
}

fn fs_err(path: &Path) -> impl FnOnce(std::io::Error) -> SynthError + '_ {
    move |source| SynthError::Fs {
        path: path.to_path_buf(),
        source,
    }
}

/// One lesion's truth, as in the manifest.
#[derive(Debug, Clone, Serialize)]
pub struct LesionTruth {
    /// 1-based index within the study.
    pub index: usize,
    /// Shape family.
    pub kind: LesionKind,
    /// Coarse region of the lesion's centroid.
    pub region: Region,
    /// Hyperacute/subtle subgroup (smaller ADC drop, no T2 change).
    pub subtle: bool,
    /// ADC multiplier in the lesion.
    pub adc_factor: f32,
    /// S0 multiplier in the lesion.
    pub s0_factor: f32,
    /// Volume drawn for the lesion (mL).
    pub target_volume_ml: f64,
    /// Volume of the lesion on the 1 mm template (mL).
    pub template_volume_ml: f64,
    /// Its centroid in MNI mm.
    pub centroid_mni: [f64; 3],
    /// Measured on the native grid (what the mask holds).
    #[serde(flatten)]
    pub measured: Measured,
    /// True when at least one mask voxel represents it.
    pub visible: bool,
}

/// One study's truth and files, as in the manifest.
#[derive(Debug, Clone, Serialize)]
pub struct StudyTruth {
    /// BIDS subject label, e.g. `sub-siteA0001`.
    pub id: String,
    /// Site preset name.
    pub site: String,
    /// Seed of this study (reproduces it alone).
    pub seed: u64,
    /// True when the study has at least one visible acute infarct in its mask.
    pub has_lesion: bool,
    /// Total lesion mask volume (mL).
    pub lesion_volume_ml: f64,
    /// Lesions (including any too small to be visible at this resolution).
    pub lesions: Vec<LesionTruth>,
    /// Non-infarct mimics in the tissue, one entry per mimic.
    pub mimics: Vec<MimicKind>,
    /// Image artefacts.
    pub artefacts: Vec<Artefact>,
    /// b-value of the DWI.
    pub b_value: f64,
    /// Native grid dims and spacing.
    pub dims: [usize; 3],
    /// Voxel size (mm).
    pub spacing_mm: [f64; 3],
    /// Subject anatomy parameters.
    pub subject: Subject,
    /// Tissue constants (after the randomised appearance, for a `random` study).
    pub tissue: TissueParams,
    /// For a study of a randomised site (`--site random`): everything it drew (its
    /// acquisition, appearance and artefact settings). Absent for fixed sites.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub randomized: Option<RandomDraw>,
    /// Files, relative to the dataset root.
    pub files: StudyFiles,
}

/// Paths of a study's files, relative to the dataset root.
#[derive(Debug, Clone, Serialize)]
pub struct StudyFiles {
    /// DWI (b = site b-value) NIfTI.
    pub dwi: String,
    /// ADC NIfTI (site units).
    pub adc: String,
    /// b0 NIfTI.
    pub b0: String,
    /// Lesion mask NIfTI.
    pub mask: String,
    /// DICOM folder, when written.
    pub dicom: Option<String>,
}

/// A generated study in memory.
pub struct Study {
    /// Truth (files are filled in when written).
    pub truth: StudyTruth,
    /// b0, DWI and ADC as the scanner stores them.
    pub images: Acquired,
    /// Lesion mask.
    pub mask: Array3<bool>,
    /// Native grid.
    pub grid: Grid,
}

/// A study seed from the dataset seed, the site and the index (stable across runs).
#[must_use]
pub fn study_seed(seed: u64, site: &str, index: usize) -> u64 {
    // FNV-1a over the site name, mixed with splitmix64.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in site.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    let mut z = seed ^ h ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Seed mixer of a study's own stream of regional-tissue and skull-base pile-up draws.
const NORMAL_TISSUE_STREAM: u64 = 0x4E_4F52_4D41_4C54;

/// Seed mixer of a randomised study's own stream of acquisition/appearance draws.
const RANDOM_DRAW_STREAM: u64 = 0xD03A_14A4_D081_5A7E;

/// The template plus what is derived from it once.
pub struct Generator {
    /// Template anatomy.
    pub template: Template,
    head: HeadModel,
}

impl Generator {
    /// Prepares a generator (computes the head layers).
    #[must_use]
    pub fn new(template: Template) -> Generator {
        let head = HeadModel::new(&template);
        Generator { template, head }
    }

    /// Generates study `index` of `site` for dataset `seed`. For a randomised site
    /// ([`Site::randomize`]) the study first draws its own acquisition and appearance
    /// ([`RandomDraw::sample`], from a stream of its own seeded by the study seed) and is
    /// made with those.
    #[must_use]
    pub fn study(&self, site: &Site, seed: u64, index: usize) -> Study {
        let sseed = study_seed(seed, &site.name, index);
        let mut draw = site.randomize.then(|| {
            RandomDraw::sample(&mut ChaCha8Rng::seed_from_u64(sseed ^ RANDOM_DRAW_STREAM))
        });
        let named = site;
        let site = draw
            .as_ref()
            .map_or_else(|| site.clone(), |d| d.site.clone());
        let site = &site;
        let mut rng = ChaCha8Rng::seed_from_u64(sseed);
        let tpl = &self.template;
        let lesion_study = rng.random_bool(LESION_STUDY_FRACTION);
        let subject = Subject::sample(&mut rng);
        let mut tissue = TissueParams::sample(&mut rng);
        // Regional normal tissue and the skull-base EPI pile-up draw from a stream of their
        // own, so that every other draw of a seed (anatomy, lesions, noise) is what it was
        // before they were added.
        let mut normal_rng = ChaCha8Rng::seed_from_u64(sseed ^ NORMAL_TISSUE_STREAM);
        tissue.sample_regional(&mut normal_rng);
        let tissue = match &draw {
            Some(d) => d.tissue.apply(&tissue),
            None => tissue,
        };
        let lesions: Vec<Lesion> = if lesion_study {
            sample_lesions(&mut rng, tpl)
        } else {
            Vec::new()
        };
        let mimics = sample_tissue_mimics_avoiding(&mut rng, tpl, lesion_study, &lesions);
        let maps = tissue_maps(
            &mut rng,
            tpl,
            &self.head,
            &tissue,
            site.b_value,
            subject.atrophy,
            (&lesions, &mimics),
        );
        let labels = label_map(tpl, &lesions);
        let tilt = (
            rng.random_range(-site.max_tilt_deg..=site.max_tilt_deg),
            rng.random_range(-site.max_tilt_deg..=site.max_tilt_deg) * 0.5,
            rng.random_range(-site.max_tilt_deg..=site.max_tilt_deg) * 0.3,
        );
        let mut fov_centre = [
            subject.centre_mm[0] + rng.random_range(-4.0..4.0),
            subject.centre_mm[1] + rng.random_range(-6.0..6.0),
            subject.centre_mm[2] + rng.random_range(-6.0..6.0),
        ];
        let (profile, options) = match &mut draw {
            Some(d) => {
                d.tilt_deg = [tilt.0, tilt.1, tilt.2];
                fov_centre[2] += d.fov_shift_mm;
                (d.slice_profile_fwhm, d.acquire)
            }
            None => (1.0, AcquireOptions::default()),
        };
        let grid = site.native_grid(tilt, fov_centre);
        let fp = Footprint::for_voxel(site.inplane_mm, site.slice_thickness_mm * profile);
        let (mut clean, pv) = render(tpl, &maps, &labels, &self.head.dist_mm, &subject, &grid, fp);
        receive_coil_profile(&mut normal_rng, &mut clean);
        skull_base_pileup(&mut normal_rng, site.field_strength_t, &mut clean);
        drop(maps);
        let images = acquire_with(&mut rng, site, &grid, &clean, &options);
        let (mask, measured) = lesion_truth(&grid, &pv, lesions.len());
        let voxel_ml = tpl.grid.voxel_volume_ml();
        let lesions_truth: Vec<LesionTruth> = lesions
            .iter()
            .zip(measured)
            .enumerate()
            .map(|(i, (l, m))| {
                let centroid_mni = l.frac.centroid_world(tpl);
                LesionTruth {
                    index: i + 1,
                    kind: l.kind,
                    region: region_at(centroid_mni),
                    subtle: l.subtle,
                    adc_factor: l.adc_factor,
                    s0_factor: l.s0_factor,
                    target_volume_ml: l.target_volume_ml,
                    template_volume_ml: l.frac.volume_ml(voxel_ml),
                    centroid_mni,
                    visible: m.n_voxels > 0,
                    measured: m,
                }
            })
            .collect();
        let lesion_volume_ml = mask.iter().filter(|&&b| b).count() as f64 * grid.voxel_volume_ml();
        let id = format!("sub-{}{:04}", bids_label(&named.name), index + 1);
        let truth = StudyTruth {
            has_lesion: lesion_volume_ml > 0.0,
            lesion_volume_ml,
            id,
            site: named.name.clone(),
            seed: sseed,
            lesions: lesions_truth,
            mimics: {
                // one entry per mimic (a pattern of several parts shares a group)
                let mut seen = std::collections::BTreeSet::new();
                mimics
                    .iter()
                    .filter(|m| seen.insert(m.group))
                    .map(|m| m.kind)
                    .collect()
            },
            artefacts: images.artefacts.clone(),
            b_value: site.b_value,
            dims: grid.dims,
            spacing_mm: grid.spacing_mm(),
            subject,
            tissue,
            randomized: draw,
            files: StudyFiles {
                dwi: String::new(),
                adc: String::new(),
                b0: String::new(),
                mask: String::new(),
                dicom: None,
            },
        };
        Study {
            truth,
            images,
            mask,
            grid,
        }
    }
}

/// Template-space labels of the lesions (fraction ≥ ½), later ones on top.
fn label_map(tpl: &Template, lesions: &[Lesion]) -> LesionLabels {
    let mut labels = Array3::<u16>::zeros(tpl.gm.dim());
    for (n, l) in lesions.iter().enumerate() {
        for ((a, b, c), &f) in l.frac.data.indexed_iter() {
            if f >= 0.5 {
                let idx = [
                    l.frac.origin[0] + a,
                    l.frac.origin[1] + b,
                    l.frac.origin[2] + c,
                ];
                if let Some(x) = labels.get_mut(idx) {
                    *x = u16::try_from(n + 1).unwrap_or(u16::MAX);
                }
            }
        }
    }
    LesionLabels { labels }
}

/// Letters and digits of a site name, for BIDS labels.
#[must_use]
pub fn bids_label(name: &str) -> String {
    name.chars().filter(char::is_ascii_alphanumeric).collect()
}

/// Writes one study under `root`; fills in `truth.files`. The sidecar and DICOM use the
/// study's own acquisition when it was randomised (`truth.randomized`), else `site`.
///
/// # Errors
/// [`SynthError`] when a file cannot be written.
pub fn write_study(
    root: &Path,
    study: &mut Study,
    site: &Site,
    dicom: bool,
) -> Result<(), SynthError> {
    let drawn = study.truth.randomized.as_ref().map(|d| d.site.clone());
    let site = drawn.as_ref().unwrap_or(site);
    let id = study.truth.id.clone();
    let rel_dir = format!("{id}/ses-0001/dwi");
    let dir = root.join(&rel_dir);
    std::fs::create_dir_all(&dir).map_err(fs_err(&dir))?;
    let name = |s: &str| format!("{rel_dir}/{id}_ses-0001_{s}.nii.gz");
    let vol = |a: &Array3<f32>| Volume::on_grid(a.clone(), &study.grid);
    let desc = format!("strokeseg synth (SYNTHETIC) site {}", site.name);
    let files = StudyFiles {
        dwi: name("dwi"),
        adc: name("adc"),
        b0: name("b0"),
        mask: format!("derivatives/{id}/ses-0001/{id}_ses-0001_msk.nii.gz"),
        dicom: dicom.then(|| format!("sourcedata/{id}/dicom")),
    };
    use strokeseg_io::nifti_io::{write_mask, write_volume};
    write_volume(&root.join(&files.dwi), &vol(&study.images.dwi), &desc)?;
    write_volume(&root.join(&files.adc), &vol(&study.images.adc), &desc)?;
    write_volume(&root.join(&files.b0), &vol(&study.images.b0), &desc)?;
    let sidecar = serde_json::json!({
        "DiffusionBValue": site.b_value,
        "Synthetic": true,
        "Generator": format!("strokeseg synth {}", env!("CARGO_PKG_VERSION")),
        "Site": site.name,
        "MagneticFieldStrength": site.field_strength_t,
        "SliceThickness": site.slice_thickness_mm,
        "SpacingBetweenSlices": site.slice_thickness_mm + site.slice_gap_mm,
        "ADCUnits": match site.adc_units { AdcUnitsOut::Micro => "1e-6 mm2/s", AdcUnitsOut::Milli => "1e-3 mm2/s", AdcUnitsOut::Si => "mm2/s" },
    });
    let sc = dir.join(format!("{id}_ses-0001_dwi.json"));
    std::fs::write(
        &sc,
        serde_json::to_string_pretty(&sidecar).unwrap_or_default(),
    )
    .map_err(fs_err(&sc))?;
    let mdir = root.join(format!("derivatives/{id}/ses-0001"));
    std::fs::create_dir_all(&mdir).map_err(fs_err(&mdir))?;
    write_mask(
        &root.join(&files.mask),
        &Image::on_grid(study.mask.clone(), &study.grid),
        "strokeseg synth lesion truth (SYNTHETIC)",
    )?;
    if let Some(d) = &files.dicom {
        write_dicom(&root.join(d), study, site)?;
    }
    study.truth.files = files;
    Ok(())
}

/// DWI series (b0 and b) plus an ADC series (10⁻⁶ mm²/s integers, as scanners store it).
fn write_dicom(dir: &Path, study: &Study, site: &Site) -> Result<(), SynthError> {
    use strokeseg_io::dicom::{write_mr_series, SeriesWriteOptions};
    let mut o = SeriesWriteOptions::from_seed(u128::from(study.truth.seed));
    o.patient_id = study.truth.id.clone();
    o.patient_name = format!("SYNTHETIC^{}", study.truth.id);
    o.series_description = format!("SYNTHETIC DWI {}", site.name);
    o.series_number = 5;
    o.image_type = vec![
        "ORIGINAL".into(),
        "PRIMARY".into(),
        "DIFFUSION".into(),
        "TRACEW".into(),
    ];
    let g = &study.grid;
    for (sub, b, img, start) in [
        ("dwi_b0", 0.0, &study.images.b0, 1),
        ("dwi_b", site.b_value, &study.images.dwi, 1001),
    ] {
        let d = dir.join(sub);
        std::fs::create_dir_all(&d).map_err(fs_err(&d))?;
        o.b_value = Some(b);
        o.instance_number_start = start;
        write_mr_series(&d, &Volume::on_grid(img.clone(), g), &o)?;
    }
    let k = match site.adc_units {
        AdcUnitsOut::Micro => 1.0,
        AdcUnitsOut::Milli => 1e3,
        AdcUnitsOut::Si => 1e6,
    };
    let adc_micro = study.images.adc.mapv(|x| (x * k).round());
    let mut a = SeriesWriteOptions::from_seed(u128::from(study.truth.seed) ^ 0xADC);
    a.study_uid = o.study_uid.clone();
    a.frame_of_reference_uid = o.frame_of_reference_uid.clone();
    a.patient_id = o.patient_id.clone();
    a.patient_name = o.patient_name.clone();
    a.series_number = 6;
    a.series_description = format!("SYNTHETIC ADC {}", site.name);
    a.image_type = vec![
        "DERIVED".into(),
        "PRIMARY".into(),
        "DIFFUSION".into(),
        "ADC".into(),
    ];
    let d = dir.join("adc");
    std::fs::create_dir_all(&d).map_err(fs_err(&d))?;
    write_mr_series(&d, &Volume::on_grid(adc_micro, g), &a)?;
    Ok(())
}
