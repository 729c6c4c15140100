//! What the training commands (`train`, `adapt`, `learning-curve`) share: the plan and
//! schedule from the flags, loading studies with a progress bar, the progress of a run, and
//! the exit of a run that stopped.

use crate::cli::TrainHyper;
use crate::Status;
use indicatif::ProgressBar;
use std::path::PathBuf;
use strokeseg_infer::Plan;
use strokeseg_model::UNet3dConfig;
use strokeseg_pipeline::score::bar;
use strokeseg_preproc::{channel_names, PrepConfig};
use strokeseg_train::data::{all_synthetic, load_case, Case, CaseRef};
use strokeseg_train::mining::MineConfig;
use strokeseg_train::sampler::PatchConfig;
use strokeseg_train::spacing;
use strokeseg_train::training::Event;
use strokeseg_train::{Objective, TrainConfig, TrainError};

/// Loads every case of `refs`, reporting bad ones and skipping them; `peak_labels`: as
/// training cases with [`PatchConfig::peak_labels`] (validation cases keep lesion fractions).
pub fn load_all(
    refs: &[CaseRef],
    plan: &Plan,
    peak_labels: bool,
    what: &str,
) -> (Vec<Case>, usize) {
    let b = bar(refs.len() as u64, what);
    let mut out = Vec::new();
    let mut bad = 0;
    for r in refs {
        match load_case(r, &plan.prep, plan.grid_multiple()) {
            Ok(mut c) => {
                if peak_labels {
                    c.use_peak_labels();
                }
                out.push(c);
            }
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
    let prep = PrepConfig {
        mirror_channel: hp.mirror_channel,
        ..PrepConfig::default()
    };
    let channels = channel_names(&prep);
    let model = UNet3dConfig::new()
        .with_in_channels(channels.len())
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
        prep: PrepConfig { spacing_mm, ..prep },
        model,
        window: [32.max(patch[0]), 128.max(patch[1]), 128.max(patch[2])],
        channels,
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
            hard_negative_levels: hp.hard_negative_levels,
            bias_field: hp.bias_field,
            low_snr: hp.low_snr,
            component_share: hp.lesion_sampling,
            peak_labels: hp.peak_labels,
            ..PatchConfig::default()
        },
        seed: hp.seed,
        patience: None,
        objective: Objective::Supervised,
        source_weights: Vec::new(),
        stream: None,
        mine: (hp.mine > 0.0).then_some(MineConfig {
            fraction: hp.mine,
            threshold: hp.mine_threshold as f32,
            cases_per_epoch: hp.mine_studies,
            margin_mm: hp.mine_margin,
        }),
        lesion_loss: hp.lesion_loss,
    };
    Ok((plan, cfg))
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
