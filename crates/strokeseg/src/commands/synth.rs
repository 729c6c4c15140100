//! `strokeseg synth`: write a synthetic dataset with a progress bar.

use crate::cli::SynthArgs;
use crate::Status;
use indicatif::{ProgressBar, ProgressStyle};
use strokeseg_synth::dataset::{Generator, SynthError};
use strokeseg_synth::manifest::write_dataset;
use strokeseg_synth::site::{builtin_sites, find_site, random_site};
use strokeseg_synth::{Template, TemplateError};

/// The template of `--template` (or the default folder); `None` after printing the message
/// when it is not installed (a user error, exit 2).
pub(super) fn load_template(a: &SynthArgs) -> anyhow::Result<Option<Template>> {
    let dir = a.template.clone().unwrap_or_else(Template::default_dir);
    match Template::load(&dir) {
        Ok(t) => Ok(Some(t)),
        Err(e @ TemplateError::Missing(_)) => {
            eprintln!("error: {e}");
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Runs `synth`. User mistakes (unknown site, existing dataset, missing template) print one
/// clear message and give exit code 2.
pub fn run(a: &SynthArgs) -> anyhow::Result<Status> {
    if a.list_sites {
        println!(
            "{:<10} {:>5} {:>5} {:>9} {:>11} {:>6} {:>6} {:>5}  description",
            "site", "T", "SNR", "in-plane", "slice+gap", "slices", "b", "skull"
        );
        for s in builtin_sites() {
            println!(
                "{:<10} {:>5.1} {:>5.0} {:>7.2}mm {:>5.1}+{:<3.1}mm {:>6} {:>6.0} {:>5}  {}",
                s.name,
                s.field_strength_t,
                s.snr_b0,
                s.inplane_mm,
                s.slice_thickness_mm,
                s.slice_gap_mm,
                s.n_slices,
                s.b_value,
                if s.skull { "on" } else { "off" },
                s.description
            );
        }
        let r = random_site();
        println!(
            "{:<10} {:>5} {:>5} {:>9} {:>11} {:>6} {:>6} {:>5}  {}",
            r.name,
            "1.5/3",
            "5-60",
            "0.8-2.5mm",
            "1-7+0-2mm",
            "varies",
            "500-2500",
            "both",
            r.description
        );
        return Ok(Status::Ok);
    }
    let Some(out) = &a.out else {
        eprintln!("error: --out DIR is required");
        return Ok(Status::BadInput);
    };
    if !a.implant.is_empty() || a.implant_list.is_some() {
        return super::implant::run(a, out);
    }
    let site = match find_site(&a.site) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(Status::BadInput);
        }
    };
    let Some(template) = load_template(a)? else {
        return Ok(Status::BadInput);
    };
    let bar = ProgressBar::new(a.n as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} synth [{bar:30}] {pos}/{len} studies ({elapsed}, eta {eta}) {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message("preparing template");
    let gen = Generator::new(template);
    let progress = |s: &strokeseg_synth::dataset::StudyTruth| {
        bar.set_message(format!(
            "{} {}",
            s.id,
            if s.has_lesion { "lesion" } else { "no lesion" }
        ));
        bar.inc(1);
    };
    let result = write_dataset(&gen, &site, out, a.n, a.seed, a.dicom, &progress);
    bar.finish_and_clear();
    match result {
        Ok(studies) => {
            let with = studies.iter().filter(|s| s.has_lesion).count();
            println!(
                "wrote {} synthetic studies ({} with lesions) of site {} to {} (manifest.json, manifest.csv, lesions.csv)",
                studies.len(),
                with,
                site.name,
                out.display()
            );
            Ok(Status::Ok)
        }
        Err(e @ SynthError::Exists(_)) => {
            eprintln!("error: {e}");
            Ok(Status::BadInput)
        }
        Err(e) => Err(e.into()),
    }
}
