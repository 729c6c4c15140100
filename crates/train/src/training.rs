//! The training loop: patches from the training cases, AdamW with warm-up and poly decay,
//! validation Dice after every epoch, best and last checkpoints, a CSV log, and resume.

use crate::data::Case;
use crate::plan::Plan;
use crate::sampler::{sample_patch, PatchConfig};
use ndarray::{Array3, Array5, Axis};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use strokeseg_infer::{sliding_window, WindowConfig};
use strokeseg_model::{load, predict, save, Device, Trainer, UNet3d};

/// Training schedule and sampling.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Epochs to run in total.
    pub epochs: usize,
    /// Optimiser steps per epoch.
    pub steps_per_epoch: usize,
    /// Patches per step.
    pub batch_size: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Linear warm-up steps.
    pub warmup_steps: usize,
    /// Patch sampling and augmentation.
    pub patch: PatchConfig,
    /// Seed of sampling and augmentation.
    pub seed: u64,
}

/// Progress of a run, saved as `state.json` after every epoch (what `--resume` reads).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TrainState {
    /// Epochs completed.
    pub epoch: usize,
    /// Steps completed.
    pub step: usize,
    /// Best validation Dice so far.
    pub best_dice: f64,
    /// Epoch of the best checkpoint.
    pub best_epoch: usize,
    /// Per epoch: (mean training loss, validation Dice).
    pub history: Vec<(f32, f64)>,
}

/// What the loop reports after each step or epoch.
pub enum Event<'a> {
    /// A step finished: step number, loss.
    Step(usize, f32),
    /// An epoch finished.
    Epoch(&'a TrainState),
}

/// Learning rate at `step`: linear warm-up, then nnU-Net's poly decay (1 − t)^0.9.
#[must_use]
pub fn lr_at(cfg: &TrainConfig, step: usize) -> f64 {
    let total = (cfg.epochs * cfg.steps_per_epoch).max(1);
    if step < cfg.warmup_steps {
        cfg.lr * (step + 1) as f64 / cfg.warmup_steps as f64
    } else {
        cfg.lr * (1.0 - step as f64 / total as f64).max(0.0).powf(0.9)
    }
}

/// Probabilities [D, H, W] for a prepared input [C, D, H, W].
#[must_use]
pub fn predict_volume(
    model: &UNet3d,
    input: &ndarray::Array4<f32>,
    window: [usize; 3],
    tta: bool,
) -> Array3<f32> {
    let cfg = WindowConfig {
        window,
        overlap: 0.5,
        mirror_tta: tta,
    };
    sliding_window(input, &cfg, &mut |b: Array5<f32>| predict(model, b))
}

/// Dice of `prob ≥ 0.5` against `label ≥ 0.5` (1 when both are empty).
#[must_use]
pub fn dice(prob: &Array3<f32>, label: &Array3<f32>) -> f64 {
    strokeseg_core::dice(
        prob.iter().map(|&p| p >= 0.5),
        label.iter().map(|&l| l >= 0.5),
    )
}

/// Mean Dice over the validation cases that have a lesion, plus each case's probabilities.
pub fn validate(model: &UNet3d, plan: &Plan, cases: &[Case]) -> (f64, Vec<Array3<f32>>) {
    let probs: Vec<Array3<f32>> = cases
        .iter()
        .map(|c| predict_volume(model, &c.input, plan.window, false))
        .collect();
    let dices: Vec<f64> = cases
        .iter()
        .zip(&probs)
        .filter(|(c, _)| c.has_lesion)
        .map(|(c, p)| dice(p, &c.label))
        .collect();
    let mean = if dices.is_empty() {
        0.0
    } else {
        dices.iter().sum::<f64>() / dices.len() as f64
    };
    (mean, probs)
}

fn batch<R: Rng>(
    rng: &mut R,
    cases: &[Case],
    cfg: &PatchConfig,
    n: usize,
) -> (Array5<f32>, Array5<f32>) {
    let mut xs = Vec::with_capacity(n);
    let mut ys = Vec::with_capacity(n);
    for _ in 0..n {
        let c = &cases[rng.random_range(0..cases.len())];
        let (x, y) = sample_patch(rng, c, cfg);
        xs.push(x);
        ys.push(y.insert_axis(Axis(0)));
    }
    let xv: Vec<_> = xs.iter().map(|a| a.view()).collect();
    let yv: Vec<_> = ys.iter().map(|a| a.view()).collect();
    (
        ndarray::stack(Axis(0), &xv).expect("same patch shapes"),
        ndarray::stack(Axis(0), &yv).expect("same shapes"),
    )
}

/// The learning curve picture: training loss and validation Dice per epoch.
#[must_use]
pub fn learning_curve(state: &TrainState) -> image::RgbImage {
    use strokeseg_report::chart::{line_chart, Series};
    let pts = |f: &dyn Fn(&(f32, f64)) -> f64| -> Vec<(f64, f64)> {
        state
            .history
            .iter()
            .enumerate()
            .map(|(i, h)| ((i + 1) as f64, f(h)))
            .collect()
    };
    let ymax = state
        .history
        .iter()
        .map(|h| f64::from(h.0))
        .fold(1.0, f64::max);
    line_chart(
        "learning curve",
        "epoch",
        &[
            Series {
                label: "train loss",
                points: pts(&|h| f64::from(h.0)),
                color: image::Rgb([200, 60, 40]),
            },
            Series {
                label: "val Dice",
                points: pts(&|h| h.1),
                color: image::Rgb([30, 90, 200]),
            },
        ],
        (0.0, ymax),
    )
}

/// Sub-folders of a training run.
#[must_use]
pub fn checkpoint_dir(out: &Path, which: &str) -> PathBuf {
    out.join("checkpoints").join(which)
}

/// Trains (or resumes) on (training, validation) cases into `out`: `plan.json`, `checkpoints/{last,best}/`, `state.json`,
/// `train_log.csv`. Returns the final state.
///
/// # Errors
/// File-system and model-file errors, as text naming the path.
pub fn train(
    plan: &Plan,
    cfg: &TrainConfig,
    (train_cases, val_cases): (&[Case], &[Case]),
    out: &Path,
    resume: bool,
    device: &Device,
    on: &mut dyn FnMut(Event<'_>),
) -> Result<TrainState, String> {
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let state_path = out.join("state.json");
    let (mut trainer, mut state) = if resume && state_path.is_file() {
        let s: TrainState = serde_json::from_str(
            &std::fs::read_to_string(&state_path)
                .map_err(|e| format!("{}: {e}", state_path.display()))?,
        )
        .map_err(|e| format!("{}: {e}", state_path.display()))?;
        let (m, c) = load(&checkpoint_dir(out, "last"), device).map_err(|e| e.to_string())?;
        tracing::info!(
            "resuming at epoch {} (step {}), best Dice {:.3}",
            s.epoch,
            s.step,
            s.best_dice
        );
        (Trainer::from_model(m, &c, device), s)
    } else {
        (Trainer::new(&plan.model, device), TrainState::default())
    };
    plan.save(out).map_err(|e| e.to_string())?;
    std::fs::write(
        out.join("train_config.json"),
        serde_json::to_string_pretty(cfg).unwrap_or_default(),
    )
    .map_err(|e| format!("{}: {e}", out.display()))?;
    let log_path = out.join("train_log.csv");
    let new_log = !log_path.is_file() || !resume;
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(!new_log)
        .write(true)
        .truncate(new_log)
        .open(&log_path)
        .map_err(|e| format!("{}: {e}", log_path.display()))?;
    if new_log {
        writeln!(log, "epoch,step,train_loss,val_dice,lr,seconds").map_err(|e| e.to_string())?;
    }
    // One RNG stream per epoch, so a resumed run samples what the uninterrupted one would.
    while state.epoch < cfg.epochs {
        let t0 = std::time::Instant::now();
        let mut rng =
            ChaCha8Rng::seed_from_u64(cfg.seed ^ (state.epoch as u64).wrapping_mul(0x9E37_79B9));
        let mut loss_sum = 0.0f32;
        for _ in 0..cfg.steps_per_epoch {
            let (x, y) = batch(&mut rng, train_cases, &cfg.patch, cfg.batch_size);
            let lr = lr_at(cfg, state.step);
            let loss = trainer.step(x, y, lr);
            loss_sum += loss;
            state.step += 1;
            on(Event::Step(state.step, loss));
        }
        let model = trainer.model();
        let (val_dice, _) = validate(&model, plan, val_cases);
        state.epoch += 1;
        let mean_loss = loss_sum / cfg.steps_per_epoch.max(1) as f32;
        state.history.push((mean_loss, val_dice));
        save(&model, trainer.config(), &checkpoint_dir(out, "last")).map_err(|e| e.to_string())?;
        if val_dice >= state.best_dice || state.epoch == 1 {
            state.best_dice = val_dice;
            state.best_epoch = state.epoch;
            save(&model, trainer.config(), &checkpoint_dir(out, "best"))
                .map_err(|e| e.to_string())?;
        }
        writeln!(
            log,
            "{},{},{:.5},{:.4},{:.6},{:.1}",
            state.epoch,
            state.step,
            mean_loss,
            val_dice,
            lr_at(cfg, state.step),
            t0.elapsed().as_secs_f64()
        )
        .map_err(|e| e.to_string())?;
        log.flush().map_err(|e| e.to_string())?;
        std::fs::write(
            &state_path,
            serde_json::to_string_pretty(&state).unwrap_or_default(),
        )
        .map_err(|e| format!("{}: {e}", state_path.display()))?;
        on(Event::Epoch(&state));
    }
    Ok(state)
}
