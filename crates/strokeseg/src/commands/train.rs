//! `strokeseg train`: load and prepare the data, then run the training loop with progress.

use crate::cli::{StreamArgs, TrainArgs, TrainHyper};
use crate::Status;
use indicatif::ProgressBar;
use std::path::PathBuf;
use strokeseg_implant::background::{read_list, BackgroundSpec};
use strokeseg_implant::{Background, ImplantConfig};
use strokeseg_infer::Plan;
use strokeseg_model::{run_device, TrainableParts, UNet3dConfig};
use strokeseg_preproc::{PrepConfig, CHANNELS};
use strokeseg_report::card::TrainingCard;
use strokeseg_synth::dataset::Generator;
use strokeseg_synth::site::find_site;
use strokeseg_train::data::{discover, load_case, Case, CaseRef};
use strokeseg_train::sampler::PatchConfig;
use strokeseg_train::spacing;
use strokeseg_train::stream::{CaseSource, ImplantSource, StreamConfig, SynthSource};
use strokeseg_train::training::Event;
use strokeseg_train::{train_from, Objective, Start, TrainConfig, TrainData, TrainError};

pub use strokeseg_pipeline::score::bar;

/// Loads every case of `refs`, reporting bad ones and skipping them.
pub fn load_all(refs: &[CaseRef], plan: &Plan, what: &str) -> (Vec<Case>, usize) {
    let b = bar(refs.len() as u64, what);
    let mut out = Vec::new();
    let mut bad = 0;
    for r in refs {
        match load_case(r, &plan.prep, plan.grid_multiple()) {
            Ok(c) => out.push(c),
            Err(e) => {
                b.suspend(|| eprintln!("error: {e} (skipped)"));
                bad += 1;
            }
        }
        b.inc(1);
    }
    b.finish_and_clear();
    (out, bad)
}

/// Every labelled study of `dirs`, in order.
pub fn refs(dirs: &[PathBuf]) -> Result<Vec<CaseRef>, strokeseg_io::InputError> {
    let mut v = Vec::new();
    for d in dirs {
        v.extend(discover(d)?);
    }
    Ok(v)
}

/// True when every folder is template-synthetic (a `synth` dataset has a manifest.json;
/// one made by `synth --implant` holds real backgrounds, so it does not count).
pub fn all_synthetic(dirs: &[PathBuf]) -> bool {
    let template_synth =
        |m: PathBuf| std::fs::read_to_string(m).is_ok_and(|t| !t.contains("synth --implant"));
    dirs.iter().all(|d| {
        template_synth(d.join("manifest.json"))
            || d.parent()
                .is_some_and(|p| template_synth(p.join("manifest.json")))
    })
}

/// Plan and schedule from the flags; the target spacing is planned from `train_refs`' headers
/// unless `--spacing` was given. `Err` is a message for the user (bad input).
pub fn plan_and_config(
    hp: &TrainHyper,
    data: &[PathBuf],
    train_refs: &[CaseRef],
) -> Result<(Plan, TrainConfig), String> {
    if !(hp.spacing.is_empty() || hp.spacing.len() == 3) || hp.patch.len() != 3 {
        return Err("--spacing and --patch take three comma-separated values".into());
    }
    if hp.spacing.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
        return Err(format!(
            "--spacing {:?}: values must be positive",
            hp.spacing
        ));
    }
    let model = UNet3dConfig::new()
        .with_base_channels(hp.base_channels)
        .with_depth(hp.depth)
        .with_seed(hp.seed);
    model.validate().map_err(|e| e.to_string())?;
    let mult = model.size_multiple();
    let patch = [hp.patch[0], hp.patch[1], hp.patch[2]];
    if (0..3).any(|i| patch[i] == 0 || patch[i] % mult[i] != 0) {
        return Err(format!(
            "--patch {patch:?} must be a multiple of {mult:?} for depth {}",
            hp.depth
        ));
    }
    let (spacing_mm, spacing_plan) = if hp.spacing.len() == 3 {
        let sp = [hp.spacing[0], hp.spacing[1], hp.spacing[2]];
        (sp, spacing::given(sp))
    } else {
        match spacing::plan_from_cases(train_refs) {
            Some(x) => x,
            None => {
                let sp = PrepConfig::default().spacing_mm;
                if train_refs.is_empty() {
                    tracing::warn!(
                        "no --data studies to plan the target spacing from: {sp:?} mm (the default; --spacing sets it)"
                    );
                } else {
                    tracing::warn!(
                        "no training study has a readable NIfTI DWI header; spacing {sp:?} (the default)"
                    );
                }
                let mut p = spacing::given(sp);
                p.method = "default (no readable headers)".into();
                (sp, p)
            }
        }
    };
    for s in spacing_plan.skipped.iter().take(5) {
        tracing::warn!("spacing planning skipped {s}");
    }
    tracing::info!(
        "target spacing {spacing_mm:?} mm ({}, {} studies)",
        spacing_plan.method,
        spacing_plan.studies
    );
    let plan = Plan {
        prep: PrepConfig {
            spacing_mm,
            ..PrepConfig::default()
        },
        model,
        window: [32.max(patch[0]), 128.max(patch[1]), 128.max(patch[2])],
        channels: CHANNELS.iter().map(|s| (*s).to_string()).collect(),
        training_data: data.iter().map(|d| d.display().to_string()).collect(),
        synthetic_only: all_synthetic(data),
        spacing_plan: Some(spacing_plan),
    };
    let cfg = TrainConfig {
        epochs: hp.epochs,
        steps_per_epoch: hp.steps_per_epoch,
        batch_size: hp.batch,
        lr: hp.lr,
        warmup_steps: (hp.steps_per_epoch * hp.epochs / 20).clamp(1, 500),
        patch: PatchConfig {
            size: patch,
            hard_negative_fraction: hp.hard_negatives,
            ..PatchConfig::default()
        },
        seed: hp.seed,
        patience: None,
        objective: Objective::Supervised,
        source_weights: Vec::new(),
        stream: None,
    };
    Ok((plan, cfg))
}

/// At most `max` studies of `refs`, evenly picked.
pub fn pick_even(refs: &[CaseRef], max: usize) -> Vec<CaseRef> {
    let step = (refs.len() as f64 / max.max(1) as f64).max(1.0);
    (0..refs.len().min(max))
        .map(|i| refs[(i as f64 * step) as usize].clone())
        .collect()
}

/// Seconds of every epoch in a run's `train_log.csv` (its last column), summed.
fn log_seconds(path: &std::path::Path) -> f64 {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|l| l.rsplit(',').next()?.trim().parse::<f64>().ok())
        .sum()
}

/// The exit of a training run that stopped with `e`: a mistake in the user's input is
/// printed and gives exit code 2; anything else is an internal error (exit code 1).
pub fn stopped(e: TrainError, bar: &ProgressBar) -> anyhow::Result<Status> {
    bar.finish_and_clear();
    if e.is_user_error() {
        eprintln!("error: {e}");
        Ok(Status::BadInput)
    } else {
        Err(e.into())
    }
}

/// A progress bar over training steps and the event handler that drives it (per-epoch lines
/// on stderr).
pub fn progress(total_steps: usize, what: &str) -> (ProgressBar, impl FnMut(Event<'_>)) {
    let b = bar(total_steps as u64, what);
    let b2 = b.clone();
    let mut recent = Vec::new();
    let on = move |e: Event<'_>| match e {
        Event::Step(step, loss) => {
            recent.push(loss);
            if recent.len() > 20 {
                recent.remove(0);
            }
            b2.set_position(step as u64);
            b2.set_message(format!(
                "loss {:.3}",
                recent.iter().sum::<f32>() / recent.len() as f32
            ));
        }
        Event::Epoch(s) => {
            let (l, d) = s.history.last().copied().unwrap_or_default();
            b2.suspend(|| {
                if d.is_nan() {
                    eprintln!("epoch {:>3}: train loss {l:.4} (no validation)", s.epoch);
                    return;
                }
                eprintln!(
                    "epoch {:>3}: train loss {l:.4}, val {d:.3} (best {:.3} @ {})",
                    s.epoch, s.best_dice, s.best_epoch
                )
            });
        }
    };
    (b, on)
}

/// Per-source weights from `--weight` (aligned with `--data`), keyed by the sources' site
/// names as discovery gives them.
fn source_weights(a: &TrainArgs) -> Result<Vec<(String, f64)>, String> {
    if a.weights.is_empty() {
        return Ok(Vec::new());
    }
    if a.weights.len() != a.data.len() {
        return Err(format!(
            "--weight given {} times for {} --data sources: give one weight per source, in order",
            a.weights.len(),
            a.data.len()
        ));
    }
    let mut out: Vec<(String, f64)> = Vec::new();
    for (d, &w) in a.data.iter().zip(&a.weights) {
        if !(w.is_finite() && w >= 0.0) {
            return Err(format!("--weight {w} for {}: must be ≥ 0", d.display()));
        }
        let sites: Vec<String> = {
            let mut v: Vec<String> = discover(d)
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(|r| r.site)
                .collect();
            v.sort();
            v.dedup();
            v
        };
        for s in &sites {
            if out.iter().any(|(o, _)| o == s) {
                return Err(format!(
                    "source name `{s}` ({}) is used by two --data entries: weights need distinct \
                     folder names",
                    d.display()
                ));
            }
            out.push((s.clone(), w / sites.len() as f64));
        }
    }
    Ok(out)
}

/// The plan of `--init`'s model with this run's training data, and the model to start from.
fn init_plan(
    a: &TrainArgs,
    plan: &Plan,
    device: &strokeseg_model::Device,
) -> anyhow::Result<(Plan, strokeseg_model::UNet3d)> {
    let Some(dir) = &a.init else {
        anyhow::bail!("no --init");
    };
    let base = Plan::load(dir)?;
    let best = strokeseg_train::training::checkpoint_dir(dir, "best");
    let wdir = if !dir.join(strokeseg_model::CONFIG_FILE).is_file() && best.is_dir() {
        best
    } else {
        dir.clone()
    };
    let (model, _) = strokeseg_model::load(&wdir, device)?;
    let mut p = base.clone();
    p.training_data = plan.training_data.clone();
    p.training_data
        .push(format!("initialised from {}", dir.display()));
    p.synthetic_only = plan.synthetic_only && base.synthetic_only;
    Ok((p, model))
}

/// A sampling weight from a flag: finite and ≥ 0.
fn check_weight(flag: &str, w: Option<f64>) -> Result<(), String> {
    match w {
        Some(w) if !(w.is_finite() && w >= 0.0) => Err(format!("{flag} {w}: must be ≥ 0")),
        _ => Ok(()),
    }
}

/// The template the on-the-fly sources draw lesions (and synthetic brains) from, when a
/// stream was asked for.
fn stream_template(s: &StreamArgs) -> Result<Option<strokeseg_synth::Template>, String> {
    if s.synth_stream.is_none() && s.implant_stream.is_none() {
        return Ok(None);
    }
    check_weight("--synth-weight", s.synth_weight)?;
    check_weight("--implant-weight", s.implant_weight)?;
    let dir = s
        .synth_template
        .clone()
        .unwrap_or_else(strokeseg_synth::Template::default_dir);
    strokeseg_synth::Template::load(&dir)
        .map(Some)
        .map_err(|e| format!("template {}: {e}", dir.display()))
}

/// The source of `--synth-stream`, its weight added to `weights`.
fn synth_source(
    s: &StreamArgs,
    template: Option<&strokeseg_synth::Template>,
    weights: &mut Vec<(String, f64)>,
) -> Result<Option<SynthSource>, String> {
    let (Some(name), Some(template)) = (&s.synth_stream, template) else {
        return Ok(None);
    };
    let site = find_site(name).map_err(|e| format!("--synth-stream: {e}"))?;
    let source = SynthSource::new(Generator::new(template.clone()), site, s.stream_seed);
    if let Some(w) = s.synth_weight {
        weights.push((source.name(), w));
    }
    Ok(Some(source))
}

/// The backgrounds of `--implant-stream`, loaded (not yet registered); unusable ones are
/// reported and skipped (status 2).
fn implant_backgrounds(s: &StreamArgs) -> Result<(Vec<Background>, Status), String> {
    let Some(list) = &s.implant_stream else {
        return Ok((Vec::new(), Status::Ok));
    };
    let resolved = read_list(list)?
        .into_iter()
        .map(BackgroundSpec::resolve)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", list.display()))?;
    Ok(super::implant::load_backgrounds(resolved))
}

/// Runs `train`.
/// Runs `train`.
pub fn run(a: &TrainArgs) -> anyhow::Result<Status> {
    let train_refs = refs(&a.data)?;
    let val_refs = refs(&a.val)?;
    let (mut plan, mut cfg) = match plan_and_config(&a.hp, &a.data, &train_refs) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(Status::BadInput);
        }
    };
    cfg.source_weights = match source_weights(a) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(Status::BadInput);
        }
    };
    let template = match stream_template(&a.stream) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(Status::BadInput);
        }
    };
    let synth = match synth_source(&a.stream, template.as_ref(), &mut cfg.source_weights) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(Status::BadInput);
        }
    };
    let (backgrounds, mut bad_bg) = match implant_backgrounds(&a.stream) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: --implant-stream: {e}");
            return Ok(Status::BadInput);
        }
    };
    let implant = match (&a.stream.implant_stream, &template) {
        (Some(list), Some(tpl)) => {
            let b = bar(0, "registering backgrounds");
            let cfg_i = ImplantConfig::default();
            let (preps, st) = super::implant::prepare_all(&backgrounds, tpl, &cfg_i, &b);
            b.finish_and_clear();
            if st != Status::Ok {
                bad_bg = st;
            }
            let Some(src) = ImplantSource::new(preps, tpl, cfg_i, a.stream.stream_seed) else {
                eprintln!(
                    "error: --implant-stream {}: no usable background study",
                    list.display()
                );
                return Ok(Status::BadInput);
            };
            if let Some(w) = a.stream.implant_weight {
                cfg.source_weights.push((src.name(), w));
            }
            // real backgrounds: the model is no longer trained on synthetic data only
            plan.synthetic_only = false;
            Some(src)
        }
        _ => None,
    };
    let mut streams: Vec<&dyn CaseSource> = Vec::new();
    if let Some(s) = &synth {
        streams.push(s);
    }
    if let Some(s) = &implant {
        streams.push(s);
    }
    if !streams.is_empty() {
        let sc = StreamConfig::new(
            usize::try_from(a.stream.stream_pool)?,
            usize::try_from(a.stream.stream_refresh)?,
        )
        .ok_or_else(|| anyhow::anyhow!("--stream-pool and --stream-refresh must be ≥ 1"))?;
        cfg.stream = Some(sc);
        for s in &streams {
            plan.training_data.push(format!(
                "{}; pool {}, a new study every {} steps",
                s.describe(),
                sc.pool,
                sc.refresh_every
            ));
        }
    }
    let device = run_device();
    let init = match &a.init {
        Some(dir) => match init_plan(a, &plan, &device) {
            Ok((p, m)) => {
                let mult = p.model.size_multiple();
                if (0..3).any(|i| cfg.patch.size[i] % mult[i] != 0) {
                    eprintln!(
                        "error: --patch {:?} must be a multiple of {mult:?} for {}",
                        cfg.patch.size,
                        dir.display()
                    );
                    return Ok(Status::BadInput);
                }
                plan = p;
                Some(m)
            }
            Err(e) => {
                eprintln!("error: --init {}: {e:#}", dir.display());
                return Ok(Status::BadInput);
            }
        },
        None => None,
    };
    let (train_cases, bad_t) = load_all(&train_refs, &plan, "loading training studies");
    let val_pick = pick_even(&val_refs, a.hp.max_val);
    let (val_cases, bad_v) = load_all(&val_pick, &plan, "loading validation studies");
    if (train_cases.is_empty() && streams.is_empty()) || val_cases.is_empty() {
        eprintln!("error: no usable training or validation studies");
        return Ok(Status::BadInput);
    }
    let pool = cfg.stream.map_or(0, |c| c.pool);
    eprintln!(
        "training on {} studies ({} with lesions){}, validating on {}; {} params; spacing {:?} mm; patch {:?}, batch {}",
        train_cases.len(),
        train_cases.iter().filter(|c| c.has_lesion).count(),
        streams
            .iter()
            .map(|s| format!(" + {pool} on-the-fly of {}", s.name()))
            .collect::<String>(),
        val_cases.len(),
        plan.model.params(),
        plan.prep.spacing_mm,
        cfg.patch.size,
        cfg.batch_size
    );
    let (b, mut on) = progress(cfg.epochs * cfg.steps_per_epoch, "train");
    let state = match train_from(
        &plan,
        &cfg,
        Start {
            init: init.as_ref(),
            parts: TrainableParts::All,
        },
        TrainData {
            train: &train_cases,
            val: &val_cases,
            streams: &streams,
        },
        &a.out,
        a.resume,
        &device,
        &mut on,
    ) {
        Ok(s) => s,
        Err(e) => return stopped(e, &b),
    };
    b.finish_and_clear();
    let card = strokeseg_report::card::training_card(&TrainingCard {
        out: a.out.display().to_string(),
        training_data: plan.training_data.clone(),
        synthetic_only: plan.synthetic_only,
        validation_data: a.val.iter().map(|v| v.display().to_string()).collect(),
        source_weights: cfg.source_weights.clone(),
        init: a.init.as_ref().map(|p| p.display().to_string()),
        params: plan.model.params(),
        base_channels: plan.model.base_channels,
        depth: plan.model.depth,
        spacing_mm: plan.prep.spacing_mm,
        spacing_method: plan
            .spacing_plan
            .as_ref()
            .map_or_else(|| "given".into(), |p| p.method.clone()),
        patch: cfg.patch.size,
        batch: cfg.batch_size,
        lr: cfg.lr,
        hard_negatives: cfg.patch.hard_negative_fraction,
        device: strokeseg_model::run_device_choice().to_string(),
        epochs: state.epoch,
        steps: state.step,
        seconds: log_seconds(&a.out.join("train_log.csv")),
        best: (state.best_dice, state.best_epoch),
        baseline: state.baseline,
        stopped_early: state.stopped_early,
    });
    let card_path = a.out.join("MODEL_CARD.md");
    std::fs::write(&card_path, card)
        .map_err(|e| anyhow::anyhow!("{}: {e}", card_path.display()))?;
    println!(
        "trained {} epochs ({} steps); best validation Dice {:.3} at epoch {}; model in {}",
        state.epoch,
        state.step,
        state.best_dice,
        state.best_epoch,
        a.out.display()
    );
    Ok(if bad_t + bad_v > 0 || bad_bg != Status::Ok {
        Status::BadInput
    } else {
        Status::Ok
    })
}
