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
