//! Synthetic acute infarcts implanted into real DWI studies: training data on real brains.
//!
//! Owns: a real study as a *background* (healthy, labelled with its own truth, with a region
//! excluded from the loss where only a peer tool's prediction exists, or of unknown status),
//! placing the template generator's infarct shapes (`strokeseg-synth`, drawn in MNI space in
//! plausible arterial territories) into that brain through its registration to MNI
//! ([`place`]), changing DWI, ADC and b0 as an infarct would at the study's own b-value while
//! keeping the study's noise and texture ([`physics`]), the truth on the study's own grid
//! (implanted lesions ∪ the study's own), and the BIDS + manifest writer ([`dataset`]).
//! Must not touch: the model, training, reports; the user's input files are only read.
//!
//! Data flow of one implanted study: [`Background`] → [`prepare`] (brain mask, registration,
//! smoothed tissue DWI/ADC, where lesions may go) → [`implant`] (draw lesions in MNI, map them
//! onto the native grid, apply the physics, measure the truth) → [`dataset::write_study`].
#![warn(missing_docs)]

pub mod background;
pub mod dataset;
pub mod physics;
pub mod place;

pub use background::{contrast, Background, BackgroundKind, Contrast};
pub use dataset::{write_dataset, ImplantRecord, LesionRecord};

use ndarray::Array3;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::path::PathBuf;
use strokeseg_core::{Grid, Mask};
use strokeseg_register::{register, RegConfig, RegTemplate, Registration};
use strokeseg_synth::lesions::{sample_lesions_with, DrawOptions, Lesion, LesionKind};
use strokeseg_synth::truth::{lesion_truth, Measured};
use strokeseg_synth::{region_at, Region, Template};

/// Why a study cannot serve as a background.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImplantError {
    /// Reading the study or a mask failed.
    #[error(transparent)]
    Input(#[from] strokeseg_io::InputError),
    /// The study did not register to the MNI template, so lesions cannot be placed in its
    /// anatomy.
    #[error(
        "{study}: registration to MNI failed ({reason}); no lesion can be placed in this brain"
    )]
    Registration {
        /// The study.
        study: String,
        /// The registration's verdict.
        reason: String,
    },
    /// A mask given with the study does not match it.
    #[error("{path}: {reason}")]
    Mask {
        /// The mask file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The study has no brain to implant into.
    #[error("{study}: {reason}")]
    NoBrain {
        /// The study.
        study: String,
        /// What is wrong.
        reason: String,
    },
    /// Writing the output failed.
    #[error(transparent)]
    Synth(#[from] strokeseg_synth::dataset::SynthError),
}

/// Settings of the implant mode.
#[derive(Debug, Clone)]
pub struct ImplantConfig {
    /// How lesions are drawn (in MNI space).
    pub draw: DrawOptions,
    /// b-value assumed when the study records none (a warning and the manifest say so).
    pub assumed_b: f64,
    /// Tissue ADC (10⁻⁶ mm²/s) assumed for the physics when the study has no ADC.
    pub assumed_adc: f32,
    /// A lesion is kept when at least this share of its MNI volume lands in this brain's
    /// tissue and field of view (otherwise it is drawn again).
    pub min_visible_share: f64,
    /// Draws per study before giving up on placing lesions.
    pub tries: usize,
    /// A lesion is kept only when its largest one-voxel DWI rise is at least this many noise
    /// SDs of the study ([`physics::peak_cnr`]); fainter ones are drawn again. An expert
    /// labels only what the image shows: the small lesions of the ISLES'22 cases in
    /// `../shared` peak at 4.5 (5th percentile) to 9.2 (median) noise SDs above the tissue
    /// around them (docs/experiments.md §4), while a sub-voxel implant in a thick slice can
    /// land below 1 and would teach, and calibrate on, a lesion nobody could see.
    /// 0 (the default) keeps every lesion: a fold trained on a pool made with 4 was not
    /// better (docs/experiments.md §4, eleventh session), and 0 keeps earlier pools
    /// reproducible.
    pub min_cnr: f64,
    /// Registration options (the default accepts a field of view holding ≥ 45% of the
    /// template brain, where `segment` asks 75%).
    pub reg: RegConfig,
}

impl Default for ImplantConfig {
    fn default() -> Self {
        ImplantConfig {
            draw: DrawOptions {
                p_posterior: 0.3,
                p_small: 0.0,
            },
            assumed_b: strokeseg_io::study::ASSUMED_B,
            assumed_adc: 800.0,
            min_visible_share: 0.3,
            tries: 8,
            min_cnr: 0.0,
            reg: RegConfig {
                // A partial field of view is fine here: lesions that fall outside it are
                // drawn again (min_visible_share); the other quality limits stay.
                limits: strokeseg_register::Limits {
                    min_coverage: 0.45,
                    ..strokeseg_register::Limits::default()
                },
                ..RegConfig::default()
            },
        }
    }
}

/// A background made ready once and implanted many times.
pub struct Prepared<'a> {
    /// The background.
    pub bg: &'a Background,
    /// Its brain mask.
    pub brain: Mask,
    /// Its registration to MNI (passed its checks).
    pub reg: Registration,
    /// Where lesions may go and how much (0–1): brain tissue, not CSF, not near the study's
    /// own lesions or the excluded region.
    pub tissue: Array3<f32>,
    /// Local tissue DWI (normalised Gaussian, 1.5 mm), the base the DWI change scales.
    pub dwi_s: Array3<f32>,
    /// Local tissue ADC (10⁻⁶ mm²/s, clamped to 400–1200), or the assumed value.
    pub adc_s: Array3<f32>,
    /// Local b0, when the study has one.
    pub b0_s: Option<Array3<f32>>,
    /// b-value used for the physics.
    pub b_value: f64,
    /// True when `b_value` was assumed.
    pub b_assumed: bool,
    /// Region excluded from the loss (dilated), when any.
    pub exclude: Option<Array3<bool>>,
    /// Noise SD of the DWI in brain tissue ([`physics::noise_sd`]); 0 when not measurable.
    pub noise_sd: f32,
}

/// Registers the background and computes what every implant of it needs.
///
/// # Errors
/// [`ImplantError::Registration`] when the study does not register to MNI (its anatomy is
/// unknown, so no lesion is placed: never a silent wrong label), [`ImplantError::NoBrain`]
/// when no brain is found.
pub fn prepare<'a>(
    bg: &'a Background,
    reg_tpl: &RegTemplate,
    cfg: &ImplantConfig,
) -> Result<Prepared<'a>, ImplantError> {
    let brain = strokeseg_preproc::brain_mask(
        &bg.study.dwi,
        &strokeseg_preproc::BrainMaskConfig::default(),
    );
    if brain.volume_ml() < 50.0 {
        return Err(ImplantError::NoBrain {
            study: bg.id.clone(),
            reason: format!(
                "brain mask is {:.1} mL: not a brain DWI this mode can implant into",
                brain.volume_ml()
            ),
        });
    }
    let reg = register(reg_tpl, &bg.study.dwi, &brain, &cfg.reg);
    if let Some(reason) = &reg.failure {
        return Err(ImplantError::Registration {
            study: bg.id.clone(),
            reason: reason.clone(),
        });
    }
    let (b_value, b_assumed) = match bg.study.b_value {
        Some(b) if b > 50.0 => (b, false),
        _ => {
            tracing::warn!(
                "{}: b-value not recorded; the implanted contrast assumes b = {}",
                bg.id,
                cfg.assumed_b
            );
            (cfg.assumed_b, true)
        }
    };
    let local = physics::Local::new(bg, &brain, cfg.assumed_adc);
    let exclude = bg.exclusion(&brain);
    let tissue = physics::tissue_weight(bg, &brain, &local, exclude.as_ref());
    let noise_sd = physics::noise_sd(bg.study.dwi.data(), &local.dwi, &tissue);
    Ok(Prepared {
        bg,
        brain,
        reg,
        tissue,
        dwi_s: local.dwi,
        adc_s: local.adc_tissue,
        b0_s: local.b0,
        b_value,
        b_assumed,
        exclude,
        noise_sd,
    })
}

/// A placed lesion with its native voxels and their partial-volume fractions.
pub type PlacedVoxels = (Placed, Vec<([usize; 3], f32)>);

/// One implanted lesion as placed in the native grid.
#[derive(Debug, Clone)]
pub struct Placed {
    /// The template-space lesion (kind, factors, MNI shape).
    pub lesion: Lesion,
    /// Coarse region of its MNI centroid.
    pub region: Region,
    /// MNI centroid (mm).
    pub centroid_mni: [f64; 3],
    /// Partial-volume volume that landed in this brain (mL).
    pub pv_volume_ml: f64,
    /// Its largest one-voxel DWI rise over the study's noise SD ([`physics::peak_cnr`]).
    pub peak_cnr: f64,
}

/// An implanted study.
pub struct Implanted {
    /// Output identifier (`sub-…`).
    pub id: String,
    /// Seed of this study.
    pub seed: u64,
    /// The native grid (the background's DWI grid).
    pub grid: Grid,
    /// DWI after implanting.
    pub dwi: Array3<f32>,
    /// ADC (10⁻⁶ mm²/s) after implanting, when the background has one.
    pub adc: Option<Array3<f32>>,
    /// b0 after implanting, when the background has one.
    pub b0: Option<Array3<f32>>,
    /// Truth: implanted lesions ∪ the background's own.
    pub mask: Array3<bool>,
    /// Region excluded from the loss, when any.
    pub exclude: Option<Array3<bool>>,
    /// The implanted lesions with their native measurements.
    pub lesions: Vec<(Placed, Measured)>,
    /// True when lesions were asked for but none could be placed.
    pub placement_failed: bool,
}

/// Implants lesions into a prepared background: study `index` of `seed` (deterministic).
/// `lesions` false gives the background unchanged (with its own truth).
#[must_use]
pub fn implant(
    prep: &Prepared<'_>,
    tpl: &Template,
    cfg: &ImplantConfig,
    seed: u64,
    index: usize,
    lesions: bool,
) -> Implanted {
    let study_seed = strokeseg_synth::dataset::study_seed(seed, &prep.bg.id, index);
    let mut rng = ChaCha8Rng::seed_from_u64(study_seed);
    let grid = prep.bg.study.dwi.grid();
    let mut placed: Vec<PlacedVoxels> = Vec::new();
    let mut placement_failed = false;
    if lesions {
        for _ in 0..cfg.tries {
            let drawn = sample_lesions_with(&mut rng, tpl, &cfg.draw);
            placed = drawn
                .into_iter()
                .filter_map(|l| {
                    let pv = place::native_fraction(&l.frac, tpl, &prep.reg, &grid, &prep.tissue);
                    let vol: f64 =
                        pv.iter().map(|(_, f)| f64::from(*f)).sum::<f64>() * grid.voxel_volume_ml();
                    let mni_vol = l.frac.volume_ml(tpl.grid.voxel_volume_ml());
                    if vol < cfg.min_visible_share * mni_vol || vol <= 0.0 {
                        return None;
                    }
                    let cnr = physics::peak_cnr(prep, &l, &pv);
                    (cnr >= cfg.min_cnr).then(|| {
                        let c = l.frac.centroid_world(tpl);
                        (
                            Placed {
                                region: region_at(c),
                                centroid_mni: c,
                                pv_volume_ml: vol,
                                peak_cnr: cnr,
                                lesion: l,
                            },
                            pv,
                        )
                    })
                })
                .collect();
            if !placed.is_empty() {
                break;
            }
        }
        if placed.is_empty() {
            placement_failed = true;
            tracing::warn!(
                "{}: no lesion could be placed in {} tries (field of view or registration too \
                 small, or every lesion fainter than {} noise SDs); written without implanted \
                 lesions",
                prep.bg.id,
                cfg.tries,
                cfg.min_cnr
            );
        }
    }
    let pv: Vec<(usize, [usize; 3], f32)> = placed
        .iter()
        .enumerate()
        .flat_map(|(l, (_, v))| v.iter().map(move |&(ijk, f)| (l, ijk, f)))
        .collect();
    let (mut mask, measured) = lesion_truth(&grid, &pv, placed.len());
    let hetero = physics::Heterogeneity::draw(&mut rng);
    let images = physics::apply(prep, &placed, &pv, &hetero);
    if let Some(t) = &prep.bg.truth {
        mask.zip_mut_with(t.data(), |m, &t| *m |= t);
    }
    Implanted {
        id: format!(
            "sub-{}{index:03}",
            strokeseg_synth::dataset::bids_label(
                prep.bg.id.strip_prefix("sub-").unwrap_or(&prep.bg.id)
            )
        ),
        seed: study_seed,
        grid,
        dwi: images.dwi,
        adc: images.adc,
        b0: images.b0,
        mask,
        exclude: prep.exclude.clone(),
        lesions: placed.into_iter().map(|(p, _)| p).zip(measured).collect(),
        placement_failed,
    }
}

/// True for the kinds that sit in the posterior fossa.
#[must_use]
pub fn is_posterior(kind: LesionKind, region: Region) -> bool {
    matches!(kind, LesionKind::Brainstem | LesionKind::Cerebellar)
        || matches!(region, Region::Brainstem | Region::Cerebellum)
}
