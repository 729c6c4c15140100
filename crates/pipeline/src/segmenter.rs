//! The segmentation pipeline for one study: prepare → sliding-window network → probabilities
//! on the study's own grid → lesions, location and the patient-level call. Shared by
//! `segment`, `validate`, `calibrate`, `adapt`, `demo` and `serve`.

use std::path::{Path, PathBuf};
use std::time::Instant;
use strokeseg_core::{Mask, Volume};
use strokeseg_infer::{predict_volume_with, Plan};
use strokeseg_io::{InputError, Study, StudySpec};
use strokeseg_measure::{find_lesions, Lesion, LesionConfig, OperatingPoint};
use strokeseg_model::{load, predict, run_device, UNet3d};
use strokeseg_preproc::{dilate_mm, prepare};

use crate::quality::{self, Refused};
use crate::PipelineError;

/// File of a model folder holding its calibrated operating points.
pub const OPERATING_POINTS_FILE: &str = "operating_points.json";

/// The default model: `$STROKESEG_MODEL`, else the one built into the binary
/// (`strokeseg_assets::MODEL`, `realmix-v3`: synthetic infarcts implanted into real studies
/// plus template-synthetic studies; its MODEL_CARD.md says which and how it measures),
/// unpacked once into `~/.cache/strokeseg/embedded/`.
///
/// # Errors
/// The built-in model cannot be unpacked (the cache and the temporary folder named).
pub fn default_model_dir() -> Result<PathBuf, PipelineError> {
    if let Some(p) = std::env::var_os("STROKESEG_MODEL").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    strokeseg_assets::MODEL
        .dir()
        .map_err(|e| PipelineError::Setup(format!("the built-in model: {e}")))
}

/// Writes `ops` as `dir/operating_points.json`; returns the file.
///
/// # Errors
/// The file cannot be written.
pub fn save_operating_points(dir: &Path, ops: &[OperatingPoint]) -> Result<PathBuf, PipelineError> {
    let path = dir.join(OPERATING_POINTS_FILE);
    let text = serde_json::to_string_pretty(ops).map_err(|e| PipelineError::write(&path, e))?;
    std::fs::write(&path, text).map_err(|e| PipelineError::write(&path, e))?;
    Ok(path)
}

/// A loaded model folder.
pub struct Segmenter {
    /// Folder it came from.
    pub dir: PathBuf,
    /// Plan (preprocessing, network, window).
    pub plan: Plan,
    /// The networks (one, or the members of an ensemble: `crate::ensemble`), whose
    /// probabilities are averaged.
    nets: Vec<Net>,
    /// Calibrated operating points (may be empty for an uncalibrated model).
    pub operating_points: Vec<OperatingPoint>,
    /// Mirror test-time augmentation.
    pub tta: bool,
    /// Registration template and atlas for lesion location (`None`: moments approximation
    /// and the coarse region rule). Set by the caller after [`Segmenter::load`].
    pub locator: Option<strokeseg_atlas::Locator>,
}

pub use strokeseg_report::json::Timing;

/// One network of a model folder.
struct Net {
    model: UNet3d,
    /// The tuned forward of `model` when the inference engine is `fast` (src/engine.rs).
    fast: Option<strokeseg_fastnet::FastUNet>,
}

impl Net {
    fn forward(&self, window: ndarray::Array5<f32>) -> ndarray::Array5<f32> {
        match &self.fast {
            Some(f) => f.predict(&window),
            None => predict(&self.model, window),
        }
    }
}

/// The result for one study.
pub struct Segmentation {
    /// Lesion probability on the study's DWI grid.
    pub prob: Volume,
    /// Lesion mask (kept components) on the DWI grid.
    pub mask: Mask,
    /// Lesions, largest first.
    pub lesions: Vec<Lesion>,
    /// Patient score: the highest score (`strokeseg_measure::patient_score`: the mean of a
    /// candidate's three most probable voxels) over candidate lesions at p ≥ 0.1
    /// (`strokeseg_measure::CANDIDATE_THRESHOLD`); 0 when there is none.
    pub score: f32,
    /// Inputs the network saw.
    pub inputs_used: Vec<&'static str>,
    /// Stage timings.
    pub timing: Timing,
    /// Where the lesions are (registration, atlas shares or the coarse rule).
    pub location: strokeseg_atlas::StudyLocation,
    /// Lesions dropped for lack of restricted diffusion (`LesionConfig::max_adc_ratio`).
    pub dropped_not_restricted: usize,
    /// The candidate that set `score`, and whether it holds a lesion of `mask`; `None` when
    /// the score is 0.
    pub deciding_candidate: Option<(Lesion, bool)>,
    /// Every candidate that counts for the call (`score` is the highest of their scores), so
    /// calibration can ask which of them lie on a truth lesion.
    pub candidates: Vec<Lesion>,
    /// The DWI's measured noise and the smoothing applied before the network.
    pub noise: strokeseg_preproc::NoiseInfo,
}

impl Segmenter {
    /// Loads `dir` (plan.json, config.json, model.bpk, optional operating_points.json; or a
    /// training run's folder, whose weights are in checkpoints/best/), with the members of an
    /// ensemble (`members/<k>/`, `crate::ensemble`).
    ///
    /// # Errors
    /// Missing or malformed files, named.
    pub fn load(dir: &Path) -> Result<Segmenter, PipelineError> {
        let bad = |message: String| PipelineError::Model {
            dir: dir.to_path_buf(),
            message,
        };
        let plan = Plan::load(dir).map_err(|e| bad(e.to_string()))?;
        let mut nets = Vec::new();
        let mut first_config = None;
        for weights in crate::ensemble::member_dirs(dir)? {
            let (model, config) = load(&weights, &run_device()).map_err(|e| bad(e.to_string()))?;
            // members are averaged voxel by voxel, so they must share one network shape
            let shape = crate::ensemble::network_shape(&config);
            match &first_config {
                None => first_config = Some(shape),
                Some(c) if *c != shape => {
                    return Err(bad(format!(
                        "the network in {} differs from the first member's",
                        weights.display()
                    )))
                }
                Some(_) => {}
            }
            let fast = crate::engine::fast_net(&model, &config).map_err(|e| bad(e.to_string()))?;
            nets.push(Net { model, fast });
        }
        let ops_path = dir.join(OPERATING_POINTS_FILE);
        let operating_points = if ops_path.is_file() {
            let text = std::fs::read_to_string(&ops_path)
                .map_err(|e| bad(format!("{}: {e}", ops_path.display())))?;
            serde_json::from_str(&text).map_err(|e| bad(format!("{}: {e}", ops_path.display())))?
        } else {
            Vec::new()
        };
        Ok(Segmenter {
            dir: dir.to_path_buf(),
            plan,
            nets,
            operating_points,
            tta: false,
            locator: None,
        })
    }

    /// Loads the model folder `dir`, or the default one ([`default_model_dir`]), with mirror
    /// test-time augmentation on or off.
    ///
    /// # Errors
    /// As [`Segmenter::load`].
    pub fn open(dir: Option<&Path>, tta: bool) -> Result<Segmenter, PipelineError> {
        let dir = match dir {
            Some(d) => d.to_path_buf(),
            None => default_model_dir()?,
        };
        let mut s = Segmenter::load(&dir)?;
        s.tta = tta;
        Ok(s)
    }

    /// How many networks the folder holds (more than one: an ensemble, probabilities
    /// averaged).
    #[must_use]
    pub fn members(&self) -> usize {
        self.nets.len()
    }

    /// The operating point called `name`, if calibrated.
    #[must_use]
    pub fn operating_point(&self, name: &str) -> Option<&OperatingPoint> {
        self.operating_points.iter().find(|o| o.name == name)
    }

    /// Loads the study `spec` and segments it; with `need_dicom`, a study not read from
    /// DICOM is refused (the DICOM outputs need its identifiers).
    ///
    /// # Errors
    /// [`PipelineError::Input`] naming the input: unreadable, not DICOM when it must be, or
    /// refused by the quality gate.
    pub fn load_and_run(
        &self,
        spec: &StudySpec,
        lesion_cfg: &LesionConfig,
        need_dicom: bool,
    ) -> Result<(Study, Segmentation), PipelineError> {
        let t = Instant::now();
        let study = Study::load(spec)?;
        if need_dicom {
            crate::dicom_out::check_study(&study)?;
        }
        let load_s = t.elapsed().as_secs_f64();
        let seg = self.run(&study, lesion_cfg, load_s).map_err(|refused| {
            let at = spec.paths.first().or(spec.dwi.as_ref()).cloned();
            InputError::bad_image(at.unwrap_or_default(), refused.0)
        })?;
        Ok((study, seg))
    }

    /// Segments a loaded study.
    ///
    /// # Errors
    /// [`Refused`] when the study fails the quality gate (`crate::quality`): too few
    /// voxels, too small a field of view, or no plausible brain.
    pub fn run(
        &self,
        study: &Study,
        lesion_cfg: &LesionConfig,
        load_s: f64,
    ) -> Result<Segmentation, Refused> {
        quality::check_grid(study).map_err(Refused)?;
        let t = Instant::now();
        let p = prepare(study, &self.plan.prep, self.plan.grid_multiple());
        quality::check_brain(p.native_brain.volume_ml()).map_err(Refused)?;
        let preprocess = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let prob_dhw = predict_volume_with(&p.input, self.plan.window, self.tta, &mut |w| {
            if self.nets.len() == 1 {
                return self.nets[0].forward(w);
            }
            let mut sum = self.nets[0].forward(w.clone());
            for net in &self.nets[1..] {
                sum += &net.forward(w.clone());
            }
            sum / self.nets.len() as f32
        });
        let network = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let prob = p.to_native(&prob_dhw);
        let brain = p.native_brain.clone();
        let sp = p.native.spacing_mm();
        let search = Mask::on_grid(
            dilate_mm(brain.data(), self.plan.prep.mask_dilate_mm, sp),
            &p.native,
        );
        let t_reg = Instant::now();
        let reg = self
            .locator
            .as_ref()
            .map(|l| l.register(&study.dwi, &brain));
        let register = t_reg.elapsed().as_secs_f64();
        let (to_mni, _) = strokeseg_atlas::mni_map(reg.as_ref(), &brain);
        // Lesions are measured on the images the network saw (smoothed when the study was
        // too noisy, `strokeseg_preproc::harmonise_noise`).
        let (sig_dwi, sig_adc) = p.signal(study);
        let mirror = p.mirror_world();
        let mirror = mirror.as_ref().map(|m| m as strokeseg_measure::Mirror<'_>);
        // Lesions, each measured against the brain on DWI and ADC; without restricted
        // diffusion (where there is an ADC) a bright spot is not an acute infarct.
        let measured = |cfg: &LesionConfig| {
            let (mask, mut lesions) = find_lesions(&prob, Some(&search), &*to_mni, cfg);
            strokeseg_measure::add_signal(&mut lesions, &mask, &brain, sig_dwi, sig_adc, mirror);
            strokeseg_measure::keep_restricted(mask, lesions, cfg.max_adc_ratio)
        };
        let (mask, lesions, not_restricted) = measured(lesion_cfg);
        let atlas = self.locator.as_ref().and_then(|l| l.atlas.as_ref());
        let location = strokeseg_atlas::describe(reg.as_ref(), atlas, &brain, &mask, &lesions);
        // The call ranks candidates found at a lower probability than the mask's (the
        // lesions of the report), each scored by its three most probable voxels.
        let (candidates, holding) = {
            let cfg = strokeseg_measure::candidate_config(lesion_cfg);
            let (cmask, mut c) = find_lesions(&prob, Some(&search), &*to_mni, &cfg);
            strokeseg_measure::add_signal(&mut c, &cmask, &brain, sig_dwi, sig_adc, mirror);
            let holding = strokeseg_measure::holding_kept(&cmask, &c, &mask);
            (
                strokeseg_measure::call_candidates(c, cfg.max_adc_ratio, &holding),
                holding,
            )
        };
        let score = strokeseg_measure::patient_score(&candidates);
        let deciding_candidate = strokeseg_measure::deciding_candidate(&candidates, &holding);
        let postprocess = t.elapsed().as_secs_f64();
        let mut inputs_used = vec!["dwi"];
        if p.has_adc {
            inputs_used.push("adc");
        }
        Ok(Segmentation {
            prob,
            mask,
            lesions,
            score,
            inputs_used,
            timing: Timing {
                load: load_s,
                preprocess,
                network,
                postprocess,
                register,
                write: 0.0,
            },
            location,
            dropped_not_restricted: not_restricted,
            deciding_candidate,
            candidates,
            noise: p.noise,
        })
    }
}
