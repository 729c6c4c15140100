//! Command-line flags (clap). Raw flags only; commands validate and resolve them.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Acute ischemic stroke detection on brain diffusion MRI (DWI).
///
/// RESEARCH USE ONLY. Not a medical device; not for diagnosis or treatment decisions.
#[derive(Debug, Parser)]
#[command(name = "strokeseg", version, about, propagate_version = true)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Where the network runs (train, segment, validate, calibrate, adapt, learning-curve,
    /// bench, demo, serve): cpu (burn's pure-Rust flex backend), libtorch-cpu, cuda or cuda:N
    /// (libtorch; these need a build with `--features tch`, see README). Default:
    /// $STROKESEG_DEVICE, else cpu.
    #[arg(long, global = true, value_name = "DEVICE")]
    pub device: Option<strokeseg_model::DeviceChoice>,
    /// Inference forward of segment, validate, calibrate, demo, serve and everything else that
    /// runs the sliding windows: fast (the tuned CPU path, same logits as burn to 1e-4, about
    /// 2× faster; CPU device only) or burn (burn's forward, the reference; used on libtorch
    /// devices). Training always uses burn. Default: $STROKESEG_ENGINE, else fast.
    #[arg(long, global = true, value_name = "ENGINE")]
    pub engine: Option<strokeseg_pipeline::Engine>,
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read a DWI study and report what was found: grid, b-value, which images, ADC units,
    /// brain volume, and warnings.
    ///
    /// PATH is a DICOM folder (searched recursively), a NIfTI file, or a folder of NIfTI files
    /// named like *_dwi.nii.gz, *_adc.nii.gz, *_b0.nii.gz (ISLES'22/BIDS). Each PATH is one
    /// study; a bad study is reported and the others still run (exit code 2 at the end).
    /// Use --dwi/--adc/--b0 to name the files of one study explicitly.
    Inspect(InspectArgs),
    /// Make synthetic DWI studies with known lesions (ISLES'22-like BIDS layout + manifest).
    ///
    /// Anatomy comes from the MNI ICBM152 2009a template (built into strokeseg; --template
    /// overrides). Every file says it is synthetic. The same --seed,
    /// --site and --n always give the same studies.
    Synth(SynthArgs),
    /// Train a model on labelled studies (synthetic or your own), with validation each epoch.
    ///
    /// --data and --val take dataset folders (sub-*/ studies with *_msk.nii.gz masks, as
    /// `synth` writes and ISLES'22 ships) or CSV manifests (columns dwi, mask, optional adc,
    /// b0, site, id). Writes OUT/plan.json, OUT/checkpoints/{best,last}/, OUT/state.json and
    /// OUT/train_log.csv; --resume continues an interrupted run.
    Train(TrainArgs),
    /// Segment acute infarcts: lesion mask, lesion table, patient-level call, overlay picture.
    ///
    /// For each study writes into OUT/<study>/ the lesion mask
    /// <entities>_space-orig_desc-lesion_mask.nii.gz (BIDS-derivative name, on the study's own
    /// DWI grid), report.json (docs/report-schema.md), key_images.png, overlay.png, and with
    /// --prob the probability map (*_desc-lesion_probseg.nii.gz); OUT gets a BIDS
    /// dataset_description.json. Prints one summary line per study. Accepts any study
    /// `inspect` does.
    Segment(SegmentArgs),
    /// Run as a service: a DICOM listener (C-STORE) and an HTTP API; each received study is
    /// segmented once complete, and its DICOM SEG + Secondary Capture sent to the PACS.
    ///
    /// A study is complete when no new instance arrived for `quiet_period_s`. Non-diffusion
    /// series (CT, T1, ...) are stored and ignored. Jobs persist in DATA_DIR/jobs.sqlite and
    /// an interrupted job is re-run on start. Every HTTP route needs `Authorization: Bearer
    /// TOKEN` (DATA_DIR/token unless set in the config). Without --config, defaults serve on
    /// localhost (HTTP 127.0.0.1:8080, DICOM STROKESEG@127.0.0.1:11112). Config file and
    /// routes: README, section `strokeseg serve`.
    Serve(ServeArgs),
    /// Register a study to the MNI ICBM152 2009a template (12-parameter affine).
    ///
    /// For each study writes OUT/<study>/transform.json (MNI↔study matrices, quality measures
    /// and, when it failed, why), dwi_mni.nii.gz and brain_mask_mni.nii.gz (2 mm MNI grid,
    /// for checking) and check.png (template outline over the registered DWI). Exit code 2
    /// when a registration fails its quality checks. See docs/location.md.
    Register(RegisterArgs),
    /// Choose operating points (95% and 99% patient-level sensitivity) for a model on labelled
    /// validation studies; writes MODEL/operating_points.json, every study's score to
    /// MODEL/calibration_scores.csv and every candidate lesion behind those scores (score,
    /// volume, DWI and ADC ratios, left–right DWI asymmetry, whether it lies on a truth lesion) to
    /// MODEL/calibration_candidates.csv. A positive counts as found at a threshold only when a
    /// candidate on its truth lesion reaches it (an artefact elsewhere in the study does not
    /// find the lesion); positives with no such candidate, and positives whose study score
    /// comes from a candidate away from their lesions, are listed.
    Calibrate(CalibrateArgs),
    /// Combine networks trained with the same plan (other seeds or recipes) into one model
    /// folder whose probabilities are their mean, window by window.
    ///
    /// MODEL... are training runs (their checkpoints/best/) or single-network model folders,
    /// at least two, with the same preprocessing, network, window and channels. OUT gets the
    /// first one's plan, members/<k>/ (k = 1, 2, ...) each one's weights with its card and
    /// training log, ensemble.json saying where each came from, and a model card. Every
    /// command that takes --model runs all members (the network stage takes as many times
    /// longer). Calibrate OUT before use: operating points are not copied.
    Ensemble(EnsembleArgs),
    /// Make one synthetic study, segment it with the shipped model and print the report.
    Demo(DemoArgs),
    /// Segment labelled studies with a model and score them against the truth: Dice,
    /// lesion-wise sensitivity by size, false-positive lesions, patient-level sensitivity and
    /// specificity at each operating point. Writes OUT/metrics.json and OUT/cases.csv.
    Validate(ValidateArgs),
    /// Score predicted lesion masks against truth masks (no model): the ISLES'22 metrics,
    /// lesion-wise sensitivity by size and region, false positives, patient-level statistics.
    ///
    /// --pred is a `segment --out` folder (<study>/*_desc-lesion_mask.nii.gz, with report.json for
    /// the patient score and operating points) or a folder of mask files; --truth a dataset
    /// folder (sub-*/ studies with *_msk.nii.gz, as `synth` writes and ISLES'22 ships) or a
    /// folder of mask files. Studies are matched by name (sub-XXX, or the file name without
    /// _msk/_mask/_lesion_mask/_pred/_seg); unmatched ones are listed. Writes OUT/metrics.json,
    /// cases.csv, summary.md and PNG plots (roc, bland_altman, sensitivity_by_size).
    /// Definitions: docs/evaluation.md.
    Evaluate(EvaluateArgs),
    /// Adapt a trained model to a new site with N of its studies: fine-tune all layers, the
    /// decoder or only the normalisation layers on labelled studies (early stopping on a
    /// held-out 20%), or without labels (entropy minimisation on the norm layers).
    ///
    /// Writes a model folder usable by `segment --model OUT` (plan.json, config.json,
    /// model.bpk, the base model's operating points) with MODEL_CARD.md (base model, site data,
    /// N, mode, before/after metrics on the held-out studies) and adapt_metrics.json;
    /// --resume continues an interrupted run.
    Adapt(AdaptArgs),
    /// Train one model per nested subset of the training studies (e.g. 25 ⊂ 50 ⊂ 100), score
    /// each on one fixed test set, and write the curve.
    ///
    /// Subsets are seeded and balanced across sites. Each model is kept in OUT/size-N/ (a
    /// training run folder, usable with --model). Writes OUT/curve.csv, OUT/curve.png (metric
    /// vs. training studies, log x), OUT/curve.json, and names the smallest subset reaching 95%
    /// of the largest subset's test Dice. Rerunning the same command skips finished sizes and
    /// resumes an interrupted one.
    LearningCurve(LearningCurveArgs),
    /// Time the network and `segment` side by side with the identical network in PyTorch
    /// and ONNX Runtime (same weights, inputs, machine and threads); print a Markdown report.
    ///
    /// Measures the forward pass (fixed 1×2×32×64×64 input and one `segment` window), one
    /// training step (batch 2 of 16×64×64 patches), `segment` end to end on the demo study
    /// (load/preprocess/network/postprocess/write), peak RSS, FLOPs and GFLOP/s against a
    /// matrix-multiply probe. The PyTorch/ONNX Runtime columns need the venv made by
    /// `bash tools/bench/setup-venv.sh` and are skipped with a message without it.
    /// `bash tools/bench/run.sh` regenerates docs/BENCHMARKS.md.
    Bench(BenchArgs),
    /// What is built into this binary (the default model, the MNI template, the JHU atlases),
    /// each with its size, licence and attribution, and where it is unpacked on first use.
    Licenses(LicensesArgs),
}

/// `strokeseg licenses`.
#[derive(Debug, Args)]
pub struct LicensesArgs {
    /// Also unpack the built-in files now and print their folders (otherwise they are
    /// unpacked on first use).
    #[arg(long)]
    pub unpack: bool,
}

/// `strokeseg bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Also put the report into this Markdown file, replacing its generated part (the text
    /// around it is kept; the file is created when missing).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Threads given to every stack (burn's rayon pool, PyTorch, ONNX Runtime).
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Timed runs per network measurement (after one warm-up).
    #[arg(long, default_value_t = 5)]
    pub repeats: usize,
    /// Timed `segment` runs (after one warm-up).
    #[arg(long, default_value_t = 3)]
    pub segment_repeats: usize,
    /// Model folder (default: $STROKESEG_MODEL, else realmix-v3, built into strokeseg).
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// Skip the PyTorch and ONNX Runtime columns.
    #[arg(long)]
    pub no_torch: bool,
    /// Skip `segment` end to end.
    #[arg(long)]
    pub no_segment: bool,
}

/// What `adapt` may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AdaptMode {
    /// All layers (labels needed).
    Full,
    /// Decoder and head only; encoder frozen (labels needed).
    Decoder,
    /// Instance-norm scale and shift only (labels needed).
    Norm,
    /// No labels: entropy minimisation (TENT) on the instance-norm scale and shift.
    Unsupervised,
}

/// `strokeseg adapt`.
#[derive(Debug, Args)]
pub struct AdaptArgs {
    /// Model folder to adapt (a shipped model or a training run).
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    /// The new site's studies (repeatable), as for `train --data`; masks are needed except
    /// for --mode unsupervised.
    #[arg(long, required = true, value_name = "DIR|CSV")]
    pub data: Vec<PathBuf>,
    /// How many of the site's studies to use (20%, at least 2, are held out unless
    /// --no-holdout).
    #[arg(long, default_value_t = 50)]
    pub n: usize,
    /// Adapt on all N studies: nothing held out, no early stopping, the last epoch is kept
    /// and the model card has no before/after table. For a handful of studies (e.g.
    /// leave-one-out over a few real cases, scored afterwards with `validate` on the one
    /// left out), where a held-out part would be too small to select on.
    #[arg(long)]
    pub no_holdout: bool,
    /// What to adapt.
    #[arg(long, value_enum, default_value_t = AdaptMode::Full)]
    pub mode: AdaptMode,
    /// Output model folder.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Continue an interrupted adaptation in OUT.
    #[arg(long)]
    pub resume: bool,
    /// Maximum epochs.
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// Optimiser steps per epoch.
    #[arg(long, default_value_t = 25)]
    pub steps_per_epoch: usize,
    /// Patches per step.
    #[arg(long, default_value_t = 2)]
    pub batch: usize,
    /// Peak learning rate (default 1e-4 for full/decoder, 1e-3 for norm/unsupervised).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Stop after this many epochs without improvement on the held-out studies.
    #[arg(long, default_value_t = 3)]
    pub patience: usize,
    /// Seed (which studies, sampling, augmentation).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Training patch D,H,W.
    #[arg(long, default_value = "16,64,64", value_delimiter = ',')]
    pub patch: Vec<usize>,
}

/// `strokeseg learning-curve`.
#[derive(Debug, Args)]
pub struct LearningCurveArgs {
    /// Training pool (repeatable: several sites).
    #[arg(long, required = true, value_name = "DIR|CSV")]
    pub data: Vec<PathBuf>,
    /// Validation data (repeatable), the same for every size.
    #[arg(long, required = true, value_name = "DIR|CSV")]
    pub val: Vec<PathBuf>,
    /// Test data (repeatable), the same for every size.
    #[arg(long, required = true, value_name = "DIR|CSV")]
    pub test: Vec<PathBuf>,
    /// Subset sizes (number of training studies).
    #[arg(long, default_value = "25,50,100,200,400", value_delimiter = ',')]
    pub sizes: Vec<usize>,
    /// Output folder.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Score at most this many test studies per --test (evenly picked).
    #[arg(long)]
    pub max_test: Option<usize>,
    #[command(flatten)]
    pub hp: TrainHyper,
}

/// `strokeseg evaluate`.
#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// Predictions: a `strokeseg segment --out` folder or a folder of mask NIfTI files.
    #[arg(long, value_name = "DIR")]
    pub pred: PathBuf,
    /// Truth: a dataset folder (sub-*/ with *_msk.nii.gz) or a folder of mask NIfTI files.
    #[arg(long, value_name = "DIR")]
    pub truth: PathBuf,
    /// Per-lesion regions: a synth manifest.json or lesions.csv (default: TRUTH/manifest.json
    /// when present).
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Where to write metrics.json, cases.csv, summary.md and the plots.
    #[arg(long, value_name = "DIR", default_value = "evaluation")]
    pub out: PathBuf,
    /// Bootstrap resamples for the 95% confidence intervals (0: none).
    #[arg(long, default_value_t = 2000)]
    pub bootstrap: usize,
    /// Seed of the bootstrap.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// `strokeseg validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Labelled studies (repeatable), as for `train --data`.
    #[arg(long, required = true, value_name = "DIR|CSV")]
    pub data: Vec<PathBuf>,
    /// Where to write metrics.json and cases.csv.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Score at most this many studies per --data (evenly picked).
    #[arg(long)]
    pub max: Option<usize>,
}

/// Model and lesion settings shared by segment-like commands.
#[derive(Debug, Args, Clone)]
pub struct ModelArgs {
    /// Model folder (default: $STROKESEG_MODEL, else realmix-v3, built into strokeseg).
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// Mirror test-time augmentation: the mean of 8 flipped copies (8× slower).
    ///
    /// The operating points were calibrated without it, and on real healthy series it added
    /// false positives (docs/experiments.md, tenth session); off by default.
    #[arg(long)]
    pub tta: bool,
    /// Probability threshold of the lesion mask (0 < t ≤ 1).
    #[arg(long, default_value_t = 0.5, value_parser = probability)]
    pub threshold: f32,
    /// Drop lesions smaller than this (mL, finite, ≥ 0).
    #[arg(long, default_value_t = 0.0, value_parser = volume_ml)]
    pub min_volume_ml: f64,
    /// Operating point of the headline call.
    #[arg(long, default_value = "sens99", value_parser = ["sens95", "sens99"])]
    pub operating_point: String,
    /// Restricted diffusion: where the study has an ADC, drop lesions whose lowest quarter
    /// of ADC values is not below this share of the brain's median ADC (acute infarcts sit
    /// at 0.5–0.8; bright spots with normal ADC are artefacts or T2 shine-through). In (0, 2].
    #[arg(long, default_value_t = strokeseg_measure::RESTRICTED_ADC_RATIO, value_parser = adc_ratio)]
    pub max_adc_ratio: f32,
    /// Keep every lesion whatever its ADC (turns --max-adc-ratio off).
    #[arg(long)]
    pub no_adc_rule: bool,
}

impl ModelArgs {
    /// The lesion settings these flags give.
    #[must_use]
    pub fn lesion_config(&self) -> strokeseg_measure::LesionConfig {
        strokeseg_measure::LesionConfig {
            threshold: self.threshold,
            min_volume_ml: self.min_volume_ml,
            max_adc_ratio: (!self.no_adc_rule).then_some(self.max_adc_ratio),
        }
    }

    /// The pipeline settings these flags give (lesions and the headline operating point).
    #[must_use]
    pub fn settings(&self) -> strokeseg_pipeline::Settings {
        strokeseg_pipeline::Settings {
            lesion: self.lesion_config(),
            operating_point: self.operating_point.clone(),
        }
    }

    /// Loads the model these flags name (or the default one).
    ///
    /// # Errors
    /// The model folder cannot be loaded.
    pub fn segmenter(
        &self,
    ) -> Result<strokeseg_pipeline::Segmenter, strokeseg_pipeline::PipelineError> {
        strokeseg_pipeline::Segmenter::open(self.model.as_deref(), self.tta)
    }
}

/// An ADC ratio: finite, in (0, 2].
fn adc_ratio(s: &str) -> Result<f32, String> {
    let v: f32 = s.parse().map_err(|e| format!("`{s}`: {e}"))?;
    if v.is_finite() && v > 0.0 && v <= 2.0 {
        Ok(v)
    } else {
        Err(format!("`{s}`: must be a ratio in (0, 2]"))
    }
}

/// A probability threshold: finite, in (0, 1].
fn probability(s: &str) -> Result<f32, String> {
    let v: f32 = s.parse().map_err(|e| format!("`{s}`: {e}"))?;
    if v.is_finite() && v > 0.0 && v <= 1.0 {
        Ok(v)
    } else {
        Err(format!("`{s}`: must be a probability in (0, 1]"))
    }
}

/// A finite number ≥ 0 of `what` (e.g. "volume ≥ 0 mL"), for clap.
fn non_negative(s: &str, what: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|e| format!("`{s}`: {e}"))?;
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(format!("`{s}`: must be a finite {what}"))
    }
}

/// A volume in mL: finite and ≥ 0.
fn volume_ml(s: &str) -> Result<f64, String> {
    non_negative(s, "volume ≥ 0 mL")
}

/// `strokeseg segment`.
#[derive(Debug, Args)]
pub struct SegmentArgs {
    #[command(flatten)]
    pub study: StudyArgs,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Output folder (one sub-folder per study).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Also write the probability map.
    #[arg(long)]
    pub prob: bool,
    /// Also write DICOM results into DIR/<study>/: seg.dcm (DICOM Segmentation of the lesion
    /// mask over the source DWI slices) and sc-1.dcm (the overlay as Secondary Capture), new
    /// series in the source study. Needs DICOM input.
    #[arg(long, value_name = "DIR")]
    pub dicom_out: Option<PathBuf>,
    #[command(flatten)]
    pub location: LocationArgs,
}

/// Lesion location: registration to MNI and atlas lookup.
#[derive(Debug, Args)]
pub struct LocationArgs {
    /// Atlas folder: the JHU arterial-territory atlas release (lobe_atlas_padding.nii.gz,
    /// ArterialAtlas_padding.nii.gz); default $STROKESEG_ATLAS, else the JHU atlases built
    /// into strokeseg. See docs/location.md.
    #[arg(long, value_name = "DIR")]
    pub atlas: Option<PathBuf>,
    /// No atlas: lesion location by the coarse supratentorial/brainstem/cerebellum rule.
    #[arg(long, conflicts_with = "atlas")]
    pub no_atlas: bool,
    /// MNI ICBM152 2009a template folder for registration (default
    /// $STROKESEG_TEMPLATE_DIR, else the copy built into strokeseg).
    #[arg(long, value_name = "DIR")]
    pub template: Option<PathBuf>,
    /// Skip registration (location from a moments-based MNI approximation).
    #[arg(long)]
    pub no_register: bool,
    /// Register with the 12-parameter affine only (no smooth non-linear refinement).
    #[arg(long)]
    pub affine_only: bool,
}

impl LocationArgs {
    /// The pipeline's location options these flags give.
    #[must_use]
    pub fn options(&self) -> strokeseg_pipeline::LocationOptions {
        strokeseg_pipeline::LocationOptions {
            atlas: self.atlas.clone(),
            no_atlas: self.no_atlas,
            template: self.template.clone(),
            no_register: self.no_register,
            affine_only: self.affine_only,
        }
    }
}

/// `strokeseg register`.
#[derive(Debug, Args)]
pub struct RegisterArgs {
    #[command(flatten)]
    pub study: StudyArgs,
    /// Output folder (one sub-folder per study).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    #[command(flatten)]
    pub location: LocationArgs,
}

/// `strokeseg serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// TOML configuration file (every key optional; see README).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data folder (received studies, results, job database); overrides the config.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// HTTP address host:port; overrides the config.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<String>,
    /// DICOM listener address host:port; overrides the config.
    #[arg(long, value_name = "ADDR")]
    pub dicom: Option<String>,
    /// Seconds without a new instance after which a study is complete; overrides the config.
    #[arg(long, value_name = "S")]
    pub quiet_period: Option<f64>,
    /// Print the configuration in force as TOML and exit.
    #[arg(long)]
    pub print_config: bool,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub location: LocationArgs,
}

/// `strokeseg calibrate`.
#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// Model folder to calibrate.
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    /// Labelled validation data (repeatable), as for `train --val`.
    #[arg(long, required = true, value_name = "DIR|CSV")]
    pub data: Vec<PathBuf>,
}

/// `strokeseg ensemble`.
#[derive(Debug, Args)]
pub struct EnsembleArgs {
    /// New model folder (must not exist, or be empty).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Training runs or model folders to combine (at least two).
    #[arg(required = true, num_args = 2.., value_name = "MODEL")]
    pub models: Vec<PathBuf>,
}

/// `strokeseg demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to put the synthetic study and the results.
    #[arg(long, default_value = "strokeseg-demo")]
    pub out: PathBuf,
    /// Seed of the synthetic study.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Site preset of the synthetic study.
    #[arg(long, default_value = "site-a")]
    pub site: String,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub location: LocationArgs,
}

/// `strokeseg train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Training data (repeatable: several sites at once). Optional with --synth-stream or
    /// --implant-stream.
    #[arg(long, required_unless_present_any = ["synth_stream", "implant_stream"], value_name = "DIR|CSV")]
    pub data: Vec<PathBuf>,
    /// Validation data (repeatable).
    #[arg(long, required = true, value_name = "DIR|CSV")]
    pub val: Vec<PathBuf>,
    /// Output model folder.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Continue the run in OUT from its last checkpoint (weights and AdamW moments).
    #[arg(long)]
    pub resume: bool,
    /// Start from this model's weights (a model folder with plan.json, or a training run)
    /// instead of fresh ones: its network and window are kept, so --base-channels and
    /// --depth are ignored; its target spacing too, unless --spacing is given (the weights
    /// are then fine-tuned on that grid, e.g. thinner slices for small lesions). The new plan
    /// records it.
    #[arg(long, value_name = "DIR")]
    pub init: Option<PathBuf>,
    /// Sampling weight of each --data source, in the same order (default 1 each): a patch
    /// first draws a source by weight, then a study of it uniformly.
    #[arg(long = "weight", value_name = "W")]
    pub weights: Vec<f64>,
    #[command(flatten)]
    pub stream: StreamArgs,
    #[command(flatten)]
    pub hp: TrainHyper,
}

/// Studies made while training runs, in memory (nothing written to disk).
#[derive(Debug, Args, Clone)]
pub struct StreamArgs {
    /// Also train on studies `strokeseg synth --site SITE` would make, made as the run goes:
    /// a preset (site-a … site-e) or `random` (domain randomisation, a new acquisition and
    /// appearance per study). Labelled SYNTHETIC in the plan.
    #[arg(long, value_name = "SITE")]
    pub synth_stream: Option<String>,
    /// Template folder for --synth-stream and --implant-stream (default: the built-in one).
    #[arg(long, value_name = "DIR")]
    pub synth_template: Option<PathBuf>,
    /// Sampling weight of the --synth-stream studies as one source (each --data site weighs
    /// 1 unless --weight says otherwise).
    #[arg(long, value_name = "W", requires = "synth_stream")]
    pub synth_weight: Option<f64>,
    /// Also train on synthetic infarcts implanted into the real studies of this list (the CSV
    /// of `synth --implant-list`: path, kind, truth, exclude, id), made as the run goes: each
    /// background is registered once at the start, then every study is a new implant.
    #[arg(long, value_name = "CSV")]
    pub implant_stream: Option<PathBuf>,
    /// Sampling weight of the --implant-stream studies as one source.
    #[arg(long, value_name = "W", requires = "implant_stream")]
    pub implant_weight: Option<f64>,
    /// On-the-fly studies held in memory at once, per stream.
    #[arg(long, default_value_t = 16, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub stream_pool: u64,
    /// Optimiser steps between two new studies of a stream (each replaces its oldest one).
    #[arg(long, default_value_t = 10, value_name = "STEPS", value_parser = clap::value_parser!(u64).range(1..))]
    pub stream_refresh: u64,
    /// Seed of the on-the-fly studies (--synth-stream study i is `synth --seed SEED`'s
    /// study i).
    #[arg(long, default_value_t = 1, value_name = "SEED")]
    pub stream_seed: u64,
}

/// Network, schedule and sampling flags shared by `train` and `learning-curve`.
#[derive(Debug, Args, Clone)]
pub struct TrainHyper {
    /// Epochs.
    #[arg(long, default_value_t = 50)]
    pub epochs: usize,
    /// Optimiser steps per epoch.
    #[arg(long, default_value_t = 100)]
    pub steps_per_epoch: usize,
    /// Patches per step.
    #[arg(long, default_value_t = 2)]
    pub batch: usize,
    /// Peak learning rate (AdamW).
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Seed (weights, sampling, augmentation).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// U-Net channels at full resolution.
    #[arg(long, default_value_t = 16)]
    pub base_channels: usize,
    /// U-Net down-samplings.
    #[arg(long, default_value_t = 3)]
    pub depth: usize,
    /// Target voxel size x,y,z in mm (default: planned from the training studies' headers,
    /// nnU-Net's median rule; recorded in plan.json).
    #[arg(long, value_delimiter = ',')]
    pub spacing: Vec<f64>,
    /// Training patch D,H,W (slices, rows, columns).
    #[arg(long, default_value = "16,64,64", value_delimiter = ',')]
    pub patch: Vec<usize>,
    /// At most this many validation studies (evenly picked) are scored each epoch.
    #[arg(long, default_value_t = 20)]
    pub max_val: usize,
    /// Share (0–1) of the patches not centred on a lesion that are centred on bright normal
    /// tissue (DWI two SD above the brain mean, outside any lesion): hard negatives, where a
    /// network makes its confident false calls on real brains. 0 samples the brain uniformly.
    #[arg(long, default_value_t = 0.0, value_parser = unit_interval)]
    pub hard_negatives: f64,
    /// Draw the hard negatives level by level: the brain's axial extent in this many slabs,
    /// each slab holding bright normal tissue equally often, so skull-base susceptibility (on
    /// real DWI most of the bright normal tissue) does not teach the network that everything
    /// bright in the posterior fossa is normal. 0: voxel by voxel, as before.
    #[arg(long, default_value_t = 0)]
    pub hard_negative_levels: usize,
    /// Coil-shading augmentation: a smooth random intensity field on each patch's DWI, with
    /// |ln f| up to this (0.3: up to ±35%), as real scanners shade the brain differently (bright
    /// or dark regions with normal ADC). 0: none, as before.
    #[arg(long, default_value_t = 0.0, value_parser = unit_interval)]
    pub bias_field: f64,
    /// Low-SNR augmentation: on half the patches, noise of relative size up to this (to the
    /// brain's mean DWI signal) on the DWI, carried into the ADC as an ADC computed from the
    /// noisy images would carry it (0.2: about a b0 SNR of 6 at b1000, where an untrained
    /// network calls noise speckle infarcts). 0: none, as before.
    #[arg(long, default_value_t = 0.0, value_parser = unit_interval)]
    pub low_snr: f64,
    /// Share (0–1) of the lesion-centred patches whose centre is drawn lesion by lesion (a
    /// lesion uniformly, then one of its voxels) instead of voxel by voxel, so a lesion of a
    /// few voxels is trained on as often as a large infarct in the same study. 0: voxel by
    /// voxel, as before.
    #[arg(long, default_value_t = 0.0, value_parser = unit_interval)]
    pub lesion_sampling: f64,
    /// Train on peak-normalised labels: a lesion too small to fill one voxel of the working
    /// grid gets the label 1 at its most lesion-like voxel (its partial-volume rim scaled
    /// alike) instead of a fraction the network would learn to answer below the mask
    /// threshold. Lesions that fill a voxel are unchanged; validation keeps the fractions.
    #[arg(long)]
    pub peak_labels: bool,
    /// Give the network a third input: the DWI mirrored through the brain's fitted
    /// mid-sagittal plane, so it can tell a one-sided bright region (an infarct) from a
    /// symmetric one (posterior-fossa brightness, ghosts). With --init from a two-channel
    /// model the new input's first-layer weights start at zero.
    #[arg(long)]
    pub mirror_channel: bool,
    /// Model-mined hard negatives: this share (0–1) of all patches is centred on a false call
    /// the model itself makes on its training studies (probability ≥ --mine-threshold where
    /// the label is 0), found by scoring --mine-studies of them before every epoch, so the
    /// network is shown the normal tissue it currently mistakes for infarct (a capsule, the
    /// posterior fossa of one scanner) rather than bright tissue in general. The lists are
    /// kept in mined.json, so --resume continues exactly. 0: none, as before.
    #[arg(long, default_value_t = 0.0, value_parser = unit_interval)]
    pub mine: f64,
    /// Probability from which a voxel counts as called when mining (--mine).
    #[arg(long, default_value_t = 0.5, value_parser = unit_interval)]
    pub mine_threshold: f64,
    /// Training studies scored before every epoch when mining (--mine), drawn with the
    /// sources' sampling weights; each costs about one `segment` (a few seconds on 2 cores).
    #[arg(long, default_value_t = 12)]
    pub mine_studies: usize,
    /// When mining (--mine), leave out calls reaching within this many mm of a labelled
    /// voxel (a lesion, its rim, an excluded real stroke): there a call is a lesion drawn too
    /// wide or infarct the expert left out, not normal tissue mistaken for infarct, and
    /// training it away costs faint-lesion detection. 0: every call.
    #[arg(long, default_value_t = 0.0, value_parser = non_negative_mm)]
    pub mine_margin: f64,
    /// Add this weight × a lesion-wise Dice to the loss ("blob loss", Kofler et al. 2023): each
    /// connected lesion in a batch's patches gets a Dice of its own (over its voxels and the
    /// patch's lesion-free tissue), and their mean is added, so a 3-voxel lesion counts as much
    /// as the 30 mL infarct beside it, which the batch Dice lets drown. 0: batch Dice +
    /// cross-entropy only, as before.
    #[arg(long, default_value_t = 0.0, value_parser = non_negative_weight)]
    pub lesion_loss: f64,
}

/// A loss weight, 0 or more, for clap.
fn non_negative_weight(s: &str) -> Result<f64, String> {
    non_negative(s, "weight ≥ 0")
}

/// A distance in mm, 0 or more, for clap.
fn non_negative_mm(s: &str) -> Result<f64, String> {
    non_negative(s, "distance ≥ 0 mm")
}

/// A number in [0, 1] (a share), for clap.
fn unit_interval(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|e| format!("{s:?}: {e}"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{s} is not a share between 0 and 1"))
    }
}

/// `strokeseg synth`.
#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Output folder (created; must not already hold a dataset).
    #[arg(long, value_name = "DIR", required_unless_present = "list_sites")]
    pub out: Option<PathBuf>,
    /// Number of studies.
    #[arg(long, default_value_t = 10)]
    pub n: usize,
    /// Dataset seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Site preset name (see --list-sites), a site TOML file, or `random`: domain
    /// randomisation, where every study draws its own acquisition and tissue appearance
    /// (recorded per study in the manifest; see docs/synth.md).
    #[arg(long, default_value = "site-a")]
    pub site: String,
    /// Also write each study as DICOM series (classic MR, one file per slice).
    #[arg(long)]
    pub dicom: bool,
    /// Template folder (default: $STROKESEG_TEMPLATE_DIR, else the copy built into strokeseg).
    #[arg(long, value_name = "DIR")]
    pub template: Option<PathBuf>,
    /// List the built-in site presets (and the pseudo-site `random`) and exit.
    #[arg(long)]
    pub list_sites: bool,
    /// Implant mode: real studies (any study `inspect` accepts: DICOM folder, NIfTI file or
    /// folder) to implant synthetic infarcts into, instead of rendering the template. Writes
    /// --n implanted studies per background (plus the background unchanged, unless
    /// --no-original) on the background's own grid.
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub implant: Vec<PathBuf>,
    /// Implant mode: a CSV of backgrounds with columns `path`, `kind`
    /// (healthy|labelled|peer|unknown) and optional `truth`, `exclude`, `id` (paths relative to
    /// the CSV).
    #[arg(long, value_name = "CSV")]
    pub implant_list: Option<PathBuf>,
    /// Implant mode: what is known about the backgrounds' own lesions. `auto`: `labelled` when
    /// a truth mask is given or found (`*_msk.nii.gz` in the study folder or under
    /// `derivatives/<study>/`), otherwise an error asking to choose; `healthy`: known healthy
    /// (true negatives); `peer`: only a peer tool's prediction (--exclude) is known, excluded
    /// from the loss; `unknown`: a threshold rule's candidates are excluded from the loss.
    #[arg(long, value_name = "KIND", default_value = "auto")]
    pub background: String,
    /// Implant mode: truth mask of the background's own lesions (one --implant study only).
    #[arg(long, value_name = "FILE")]
    pub truth: Option<PathBuf>,
    /// Implant mode: a peer tool's lesion prediction to exclude from the loss (one --implant
    /// study only; implies --background peer).
    #[arg(long, value_name = "FILE")]
    pub exclude: Option<PathBuf>,
    /// Implant mode: do not write the unchanged background (index 000).
    #[arg(long)]
    pub no_original: bool,
    /// Implant mode: keep a lesion only when its largest one-voxel DWI rise is at least this
    /// many noise SDs of the background (measured in its brain tissue); fainter lesions are
    /// drawn again, since no reader could label them. Real small infarcts (ISLES'22 in
    /// ../shared) peak at 4.5–27 noise SDs (5th percentile to maximum). 0 keeps every
    /// lesion (the default; see docs/synth.md).
    #[arg(long, value_name = "SDS", default_value_t = 0.0)]
    pub implant_min_cnr: f64,
}

/// Which images make up one study.
#[derive(Debug, Args, Clone)]
pub struct StudyArgs {
    /// Studies: DICOM folders, NIfTI files, or folders of NIfTI files.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// DWI (trace, or 4-D with a .bval sidecar) NIfTI file.
    #[arg(long, value_name = "FILE")]
    pub dwi: Option<PathBuf>,
    /// ADC NIfTI file (any of 10⁻⁶, 10⁻³ or 1 mm²/s; detected).
    #[arg(long, value_name = "FILE")]
    pub adc: Option<PathBuf>,
    /// b=0 NIfTI file.
    #[arg(long, value_name = "FILE")]
    pub b0: Option<PathBuf>,
}

/// `strokeseg inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    #[command(flatten)]
    pub study: StudyArgs,
    /// Print one JSON object per study (one per line) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Also write each study's brain mask as NIfTI into this folder (named after the study;
    /// existing files are not overwritten).
    #[arg(long, value_name = "DIR")]
    pub brain_mask_dir: Option<PathBuf>,
}
