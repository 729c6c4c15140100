//! `strokeseg synth --implant`: synthetic infarcts implanted into real studies, with a
//! progress bar. A background that cannot be used (unreadable, no brain, failed registration)
//! is reported and skipped; the exit code is then 2.

use crate::cli::SynthArgs;
use crate::Status;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::Path;
use strokeseg_implant::background::{
    default_id, parse_kind, read_list, BackgroundKind, BackgroundSpec,
};
use strokeseg_implant::{
    prepare, write_dataset, Background, ImplantConfig, ImplantError, Prepared,
};
use strokeseg_io::StudySpec;
use strokeseg_register::RegTemplate;
use strokeseg_synth::dataset::SynthError;
use strokeseg_synth::lesions::SMALL_LESION_ML;

fn specs(a: &SynthArgs) -> Result<Vec<BackgroundSpec>, String> {
    if let Some(list) = &a.implant_list {
        if !a.implant.is_empty() {
            return Err("give backgrounds either with --implant or with --implant-list".into());
        }
        return read_list(list);
    }
    if a.implant.len() > 1 && (a.truth.is_some() || a.exclude.is_some()) {
        return Err(
            "--truth and --exclude belong to one study: give one --implant PATH with them, \
             or use --implant-list"
                .into(),
        );
    }
    let kind = parse_kind(&a.background)?;
    Ok(a.implant
        .iter()
        .map(|p| BackgroundSpec {
            id: default_id(p),
            path: p.clone(),
            kind,
            truth: a.truth.clone(),
            exclude: a.exclude.clone(),
        })
        .collect())
}

/// Runs the implant mode of `synth` into `out`.
pub fn run(a: &SynthArgs, out: &Path) -> anyhow::Result<Status> {
    if !(a.implant_min_cnr.is_finite() && a.implant_min_cnr >= 0.0) {
        eprintln!(
            "error: --implant-min-cnr must be a number of noise SDs >= 0, got {}",
            a.implant_min_cnr
        );
        return Ok(Status::BadInput);
    }
    let resolved: Vec<_> = match specs(a).and_then(|s| {
        s.into_iter()
            .map(BackgroundSpec::resolve)
            .collect::<Result<Vec<_>, _>>()
    }) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(Status::BadInput);
        }
    };
    if out.join("manifest.json").exists() {
        eprintln!("error: {}", SynthError::Exists(out.to_path_buf()));
        return Ok(Status::BadInput);
    }
    let Some(template) = super::synth::load_template(a)? else {
        return Ok(Status::BadInput);
    };
    let cfg = ImplantConfig {
        min_cnr: a.implant_min_cnr,
        ..ImplantConfig::default()
    };
    let (backgrounds, mut status) = load_backgrounds(resolved);
    let bar = ProgressBar::new((backgrounds.len() * (a.n + usize::from(!a.no_original))) as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} implant [{bar:30}] {pos}/{len} studies ({elapsed}, eta {eta}) {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let (preps, st) = prepare_all(&backgrounds, &template, &cfg, &bar);
    if st != Status::Ok {
        status = st;
    }
    if preps.is_empty() {
        bar.finish_and_clear();
        eprintln!("error: no usable background study; nothing written");
        return Ok(Status::BadInput);
    }
    bar.set_length((preps.len() * (a.n + usize::from(!a.no_original))) as u64);
    let result = write_dataset(
        out,
        &preps,
        &template,
        &cfg,
        a.n,
        a.seed,
        !a.no_original,
        &mut |r| {
            bar.set_message(format!("{} ({} lesions)", r.id, r.n_implanted));
            bar.inc(1);
        },
    );
    bar.finish_and_clear();
    let records = match result {
        Ok(r) => r,
        Err(ImplantError::Synth(e @ SynthError::Exists(_))) => {
            eprintln!("error: {e}");
            return Ok(Status::BadInput);
        }
        Err(e) => return Err(e.into()),
    };
    let implanted: Vec<_> = records.iter().filter(|r| r.n_implanted > 0).collect();
    let posterior = implanted
        .iter()
        .filter(|r| r.lesions.iter().any(|l| l.posterior_fossa))
        .count();
    let lesions: Vec<_> = implanted.iter().flat_map(|r| r.lesions.iter()).collect();
    let small = lesions
        .iter()
        .filter(|l| l.pv_volume_ml <= SMALL_LESION_ML)
        .count();
    println!(
        "wrote {} studies from {} real backgrounds to {} (manifest.json, manifest.csv, lesions.csv): \
         {} with implanted lesions ({} with a brainstem/cerebellar lesion), {} lesions ({} ≤ {} mL); \
         lesions are SYNTHETIC, backgrounds real",
        records.len(),
        preps.len(),
        out.display(),
        implanted.len(),
        posterior,
        lesions.len(),
        small,
        SMALL_LESION_ML
    );
    let failed = records.iter().filter(|r| r.placement_failed).count();
    if failed > 0 {
        eprintln!(
            "warning: {failed} studies got no implanted lesion (none fitted the field of view); \
             the manifest marks them placement_failed"
        );
    }
    Ok(status)
}

/// Loads the backgrounds; one that cannot be read is reported and skipped (status 2).
pub(super) fn load_backgrounds(
    resolved: Vec<(BackgroundSpec, BackgroundKind)>,
) -> (Vec<Background>, Status) {
    let mut status = Status::Ok;
    let mut backgrounds = Vec::new();
    for (s, kind) in resolved {
        let spec = StudySpec {
            paths: vec![s.path.clone()],
            ..StudySpec::default()
        };
        match Background::load(&s.id, &spec, kind, s.truth.as_deref(), s.exclude.as_deref()) {
            Ok(b) => {
                for w in &b.study.warnings {
                    tracing::warn!("{}: {w}", s.path.display());
                }
                backgrounds.push(b);
            }
            Err(e) => {
                eprintln!("error: {e}");
                status = Status::BadInput;
            }
        }
    }
    (backgrounds, status)
}

/// Registers every background once (with `bar`'s message saying which); one that fails is
/// reported and skipped (status 2).
pub(super) fn prepare_all<'a>(
    backgrounds: &'a [Background],
    template: &strokeseg_synth::Template,
    cfg: &ImplantConfig,
    bar: &ProgressBar,
) -> (Vec<Prepared<'a>>, Status) {
    let reg_tpl = RegTemplate::dwi_like(template);
    let mut status = Status::Ok;
    let mut preps = Vec::new();
    for b in backgrounds {
        bar.set_message(format!("registering {}", b.id));
        match prepare(b, &reg_tpl, cfg) {
            Ok(p) => preps.push(p),
            Err(e) => {
                bar.suspend(|| eprintln!("error: {e}"));
                status = Status::BadInput;
            }
        }
    }
    (preps, status)
}
