//! `strokeseg train`: load and prepare the data, then run the training loop with progress.

use super::training::{load_all, plan_and_config, progress, stopped};
use crate::cli::{StreamArgs, TrainArgs};
use crate::Status;
use strokeseg_implant::background::{read_list, BackgroundSpec};
use strokeseg_implant::{Background, ImplantConfig};
use strokeseg_infer::Plan;
use strokeseg_model::{run_device, TrainableParts};
use strokeseg_pipeline::score::bar;
use strokeseg_report::card::TrainingCard;
use strokeseg_synth::dataset::Generator;
use strokeseg_synth::site::find_site;
use strokeseg_train::data::{discover, discover_all, pick_even};
use strokeseg_train::stream::{CaseSource, ImplantSource, StreamConfig, SynthSource};
use strokeseg_train::{train_from, Start, TrainData};

/// Seconds of every epoch in a run's `train_log.csv` (its last column), summed.
fn log_seconds(path: &std::path::Path) -> f64 {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|l| l.rsplit(',').next()?.trim().parse::<f64>().ok())
        .sum()
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
    if strokeseg_pipeline::ensemble::is_ensemble(dir) {
        anyhow::bail!("is an ensemble; --init takes one network: name one member's training run");
    }
    let wdir = strokeseg_pipeline::ensemble::weights_dir(dir);
    let (mut model, _) = strokeseg_model::load(&wdir, device)?;
    let mut p = base.clone();
    p.training_data = plan.training_data.clone();
    p.training_data
        .push(format!("initialised from {}", dir.display()));
    p.synthetic_only = plan.synthetic_only && base.synthetic_only;
    if plan.prep.mirror_channel && !base.prep.mirror_channel {
        // the base network learns the new input from zero weights: it starts as it was
        let extra = plan
            .model
            .in_channels
            .saturating_sub(base.model.in_channels);
        model = model.with_extra_inputs(extra);
        p.prep.mirror_channel = true;
        p.model.in_channels = plan.model.in_channels;
        p.channels.clone_from(&plan.channels);
        p.training_data.push(format!(
            "input {:?}; the base model's {:?} (new inputs started at zero weight)",
            plan.channels, base.channels
        ));
    }
    if a.hp.spacing.len() == 3 {
        // a convolution's weights do not depend on the grid they run on, so the base model can
        // be fine-tuned on another spacing; the plan records the one this run trains on
        p.prep.spacing_mm = plan.prep.spacing_mm;
        p.spacing_plan.clone_from(&plan.spacing_plan);
        p.training_data.push(format!(
            "target spacing {:?} mm (the base model's: {:?} mm)",
            plan.prep.spacing_mm, base.prep.spacing_mm
        ));
    }
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
    let train_refs = discover_all(&a.data)?;
    let val_refs = discover_all(&a.val)?;
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
    let (train_cases, bad_t) = load_all(
        &train_refs,
        &plan,
        cfg.patch.peak_labels,
        "loading training studies",
    );
    let val_pick = pick_even(&val_refs, a.hp.max_val);
    let (val_cases, bad_v) = load_all(&val_pick, &plan, false, "loading validation studies");
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
        mirror_channel: plan.prep.mirror_channel,
        spacing_mm: plan.prep.spacing_mm,
        denoise_above: plan.prep.denoise_above,
        spacing_method: plan
            .spacing_plan
            .as_ref()
            .map_or_else(|| "given".into(), |p| p.method.clone()),
        patch: cfg.patch.size,
        batch: cfg.batch_size,
        lr: cfg.lr,
        hard_negatives: cfg.patch.hard_negative_fraction,
        hard_negative_levels: cfg.patch.hard_negative_levels,
        bias_field: cfg.patch.bias_field,
        low_snr: cfg.patch.low_snr,
        mined: cfg.mine.map(|m| strokeseg_report::card::Mining {
            share: m.fraction,
            threshold: f64::from(m.threshold),
            studies: m.cases_per_epoch,
            margin_mm: m.margin_mm,
        }),
        lesion_sampling: cfg.patch.component_share,
        peak_labels: cfg.patch.peak_labels,
        lesion_loss: cfg.lesion_loss,
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
