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
    /// Anatomy comes from the MNI ICBM152 2009a template (install it once with
    /// `bash tools/fetch-template.sh`). Every file says it is synthetic. The same --seed,
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
    /// For each study writes OUT/<study>/lesion_mask.nii.gz (on the study's own DWI grid),
    /// report.json (schema in docs/report-schema.md), overlay.png, and with --prob the
    /// probability map; prints one summary line per study. Accepts any study `inspect` does.
    Segment(SegmentArgs),
    /// Choose operating points (95% and 99% patient-level sensitivity) for a model on labelled
    /// validation studies; writes MODEL/operating_points.json.
    Calibrate(CalibrateArgs),
    /// Make one synthetic study, segment it with the shipped model and print the report.
    Demo(DemoArgs),
    /// Segment labelled studies with a model and score them against the truth: Dice,
    /// lesion-wise sensitivity by size, false-positive lesions, patient-level sensitivity and
    /// specificity at each operating point. Writes OUT/metrics.json and OUT/cases.csv.
    Validate(ValidateArgs),
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
    /// Model folder (default: the shipped models/synth-v1, or $STROKESEG_MODEL).
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// Mirror test-time augmentation (8× slower, slightly better).
    #[arg(long)]
    pub tta: bool,
    /// Probability threshold of the lesion mask.
    #[arg(long, default_value_t = 0.5)]
    pub threshold: f32,
    /// Drop lesions smaller than this (mL).
    #[arg(long, default_value_t = 0.0)]
    pub min_volume_ml: f64,
    /// Operating point of the headline call (sens95, sens99).
    #[arg(long, default_value = "sens99")]
    pub operating_point: String,
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
}

/// `strokeseg train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Training data (repeatable: several sites at once).
    #[arg(long, required = true, value_name = "DIR|CSV")]
    pub data: Vec<PathBuf>,
    /// Validation data (repeatable).
    #[arg(long, required = true, value_name = "DIR|CSV")]
    pub val: Vec<PathBuf>,
    /// Output model folder.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Continue the run in OUT from its last checkpoint.
    #[arg(long)]
    pub resume: bool,
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
    /// Target voxel size x,y,z in mm.
    #[arg(long, default_value = "1.6,1.6,4.0", value_delimiter = ',')]
    pub spacing: Vec<f64>,
    /// Training patch D,H,W (slices, rows, columns).
    #[arg(long, default_value = "16,64,64", value_delimiter = ',')]
    pub patch: Vec<usize>,
    /// At most this many validation studies (evenly picked) are scored each epoch.
    #[arg(long, default_value_t = 20)]
    pub max_val: usize,
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
    /// Site preset name (see --list-sites) or a site TOML file.
    #[arg(long, default_value = "site-a")]
    pub site: String,
    /// Also write each study as DICOM series (classic MR, one file per slice).
    #[arg(long)]
    pub dicom: bool,
    /// Template folder (default: $STROKESEG_TEMPLATE_DIR or ~/.cache/strokeseg/mni_icbm152_2009a).
    #[arg(long, value_name = "DIR")]
    pub template: Option<PathBuf>,
    /// List the built-in site presets and exit.
    #[arg(long)]
    pub list_sites: bool,
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
