//! The training loop: patches from the training cases, AdamW with warm-up and poly decay,
//! validation after every epoch, best and last checkpoints (the last with the AdamW moments, so
//! `--resume` continues exactly), optional early stopping, a CSV log, and resume. The same loop
//! fine-tunes a loaded model with some parts frozen, or adapts it without labels by entropy
//! minimisation (see [`Objective`]).

use crate::data::Case;
use crate::error::TrainError;
use crate::mining::{self, MineConfig, Mined};
use crate::sampler::{sample_patch, sample_patch_near, PatchConfig};
use crate::stream::{CaseSource, StreamConfig};
use ndarray::{Array3, Array5, Axis};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use strokeseg_infer::{predict_volume, Plan};
use strokeseg_model::{load, save, Device, TrainableParts, Trainer, UNet3d, OPTIMIZER_FILE};

/// What the loop optimises, and what "validation" measures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Objective {
    /// Dice + BCE against the labels; validation metric: mean Dice of the validation cases
    /// with a lesion.
    #[default]
    Supervised,
    /// Mean binary entropy of the predictions (no labels; TENT); validation metric: minus the
    /// mean entropy of the predictions inside the validation cases' brains.
    Entropy,
}

/// Where a run starts: fresh weights from the plan, or a loaded model with only some parts
/// trainable.
#[derive(Clone, Copy)]
pub struct Start<'a> {
    /// Initial weights (`None`: initialise from `plan.model`).
    pub init: Option<&'a UNet3d>,
    /// Parameters the optimiser may change.
    pub parts: TrainableParts,
}

impl Start<'_> {
    /// A fresh model, every parameter trainable.
    #[must_use]
    pub fn fresh() -> Self {
        Start {
            init: None,
            parts: TrainableParts::All,
        }
    }
}

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
    /// Stop when the validation metric has not improved for this many epochs.
    #[serde(default)]
    pub patience: Option<usize>,
    /// What is optimised.
    #[serde(default)]
    pub objective: Objective,
    /// Sampling weight per source (a case's `site`): each patch first draws a source with
    /// these weights (a source not listed weighs 1), then a case of that source uniformly.
    /// Empty: every case equally likely (the default).
    #[serde(default)]
    pub source_weights: Vec<(String, f64)>,
    /// Pool and refresh schedule of each on-the-fly source, when [`TrainData::streams`] has
    /// any (each source has a pool of its own).
    #[serde(default)]
    pub stream: Option<StreamConfig>,
    /// Model-mined hard negatives ([`crate::mining`]); `None` (configs written before it
    /// existed) mines none.
    #[serde(default)]
    pub mine: Option<MineConfig>,
    /// Weight of the lesion-wise Dice added to the supervised loss
    /// ([`strokeseg_model::lesionwise_dice_loss`] over each patch's lesions, [`batch_lesions`]),
    /// so a lesion of a few voxels weighs as much as a large infarct; 0 (configs written before
    /// it existed) adds none.
    #[serde(default)]
    pub lesion_loss: f64,
}

/// Most lesions per batch given to the lesion-wise Dice (the largest are kept): an embolic
/// shower can put dozens of dots in a patch, each costing a masked sum over the batch.
pub const MAX_BATCH_LESIONS: usize = 16;

/// The lesions of a batch's targets (`[B, 1, D, H, W]`) for the lesion-wise Dice: each
/// sample's 26-connected components ([`crate::lesions::components`]) whose peak label reaches
/// [`crate::lesions::MIN_PEAK`] (fainter traces are resampling noise), as (sample, voxels);
/// at most [`MAX_BATCH_LESIONS`], the largest first.
#[must_use]
pub fn batch_lesions(target: &Array5<f32>) -> Vec<(usize, Vec<[usize; 3]>)> {
    let mut out: Vec<(usize, Vec<[usize; 3]>)> = Vec::new();
    for (b, sample) in target.outer_iter().enumerate() {
        let label = sample.index_axis(Axis(0), 0).to_owned();
        for comp in crate::lesions::components(&label) {
            let peak = comp.iter().map(|&v| label[v]).fold(0.0f32, f32::max);
            if peak >= crate::lesions::MIN_PEAK {
                out.push((b, comp));
            }
        }
    }
    if out.len() > MAX_BATCH_LESIONS {
        // stable: equal sizes keep their scan order, so a run is reproducible
        out.sort_by_key(|(_, c)| std::cmp::Reverse(c.len()));
        out.truncate(MAX_BATCH_LESIONS);
    }
    out
}

/// What a run learns from: cases loaded once, the validation cases, and sources that make
/// more studies while the run goes ([`crate::stream`]).
#[derive(Clone, Copy)]
pub struct TrainData<'a> {
    /// Training cases held for the whole run.
    pub train: &'a [Case],
    /// Validation cases.
    pub val: &'a [Case],
    /// On-the-fly sources, each with a pool refreshed as [`TrainConfig::stream`] says.
    pub streams: &'a [&'a dyn CaseSource],
}

impl<'a> TrainData<'a> {
    /// Loaded cases only.
    #[must_use]
    pub fn new(train: &'a [Case], val: &'a [Case]) -> Self {
        TrainData {
            train,
            val,
            streams: &[],
        }
    }
}

/// Progress of a run, saved as `state.json` after every epoch (what `--resume` reads).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TrainState {
    /// Epochs completed.
    pub epoch: usize,
    /// Steps completed.
    pub step: usize,
    /// Best validation metric so far (Dice; minus the entropy for [`Objective::Entropy`]).
    pub best_dice: f64,
    /// Epoch of the best checkpoint (0: the initial weights of a fine-tuning run).
    pub best_epoch: usize,
    /// Per epoch: (mean training loss, validation metric; NaN — `null` in JSON — when the
    /// run had no validation cases).
    #[serde(deserialize_with = "history_with_nulls")]
    pub history: Vec<(f32, f64)>,
    /// Validation metric of the initial weights of a fine-tuning run (epoch 0).
    #[serde(default)]
    pub baseline: Option<f64>,
    /// True when early stopping ended the run.
    #[serde(default)]
    pub stopped_early: bool,
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

/// Dice of `prob ≥ 0.5` against `label ≥ 0.5` (1 when both are empty); voxels whose label is
/// negative (excluded from the loss, [`crate::data::IGNORE`]) are not counted.
#[must_use]
pub fn dice(prob: &Array3<f32>, label: &Array3<f32>) -> f64 {
    let kept = || prob.iter().zip(label.iter()).filter(|(_, &l)| l >= 0.0);
    strokeseg_core::dice(
        kept().map(|(&p, _)| p >= 0.5),
        kept().map(|(_, &l)| l >= 0.5),
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

/// Mean binary entropy (nats) of the predicted probabilities inside the brain (voxels whose
/// DWI channel is not zero), averaged over `cases`.
#[must_use]
pub fn mean_entropy(model: &UNet3d, plan: &Plan, cases: &[Case]) -> f64 {
    let mut per_case = Vec::with_capacity(cases.len());
    for c in cases {
        let p = predict_volume(model, &c.input, plan.window, false);
        let dwi = c.input.index_axis(Axis(0), 0);
        let (mut sum, mut n) = (0.0f64, 0usize);
        for (&q, &x) in p.iter().zip(dwi.iter()) {
            if x != 0.0 {
                let q = f64::from(q).clamp(1e-7, 1.0 - 1e-7);
                sum -= q * q.ln() + (1.0 - q) * (1.0 - q).ln();
                n += 1;
            }
        }
        per_case.push(sum / n.max(1) as f64);
    }
    per_case.iter().sum::<f64>() / per_case.len().max(1) as f64
}

/// The validation metric of `objective` (higher is better).
fn metric(model: &UNet3d, plan: &Plan, cases: &[Case], objective: Objective) -> f64 {
    match objective {
        Objective::Supervised => validate(model, plan, cases).0,
        Objective::Entropy => -mean_entropy(model, plan, cases),
    }
}

/// Cases grouped by source with the sources' sampling weights (`None` when sampling is
/// uniform over cases).
pub struct SourcePicker {
    groups: Vec<(f64, Vec<usize>)>,
}

impl SourcePicker {
    /// Groups `cases` by `site` with `weights` (unlisted sources weigh 1; sources of weight
    /// ≤ 0 are never drawn). `None` when `weights` is empty.
    #[must_use]
    pub fn new<'c>(
        cases: impl IntoIterator<Item = &'c Case>,
        weights: &[(String, f64)],
    ) -> Option<SourcePicker> {
        if weights.is_empty() {
            return None;
        }
        let mut groups: Vec<(String, f64, Vec<usize>)> = Vec::new();
        for (i, c) in cases.into_iter().enumerate() {
            if let Some(g) = groups.iter_mut().find(|g| g.0 == c.site) {
                g.2.push(i);
            } else {
                let w = weights
                    .iter()
                    .find(|(s, _)| *s == c.site)
                    .map_or(1.0, |(_, w)| *w);
                groups.push((c.site.clone(), w, vec![i]));
            }
        }
        groups.retain(|g| g.1 > 0.0 && g.1.is_finite());
        if groups.is_empty() {
            return None;
        }
        Some(SourcePicker {
            groups: groups.into_iter().map(|(_, w, v)| (w, v)).collect(),
        })
    }

    fn pick<R: Rng>(&self, rng: &mut R) -> usize {
        let total: f64 = self.groups.iter().map(|g| g.0).sum();
        let mut u = rng.random_range(0.0..total);
        for (w, v) in &self.groups {
            if u < *w {
                return v[rng.random_range(0..v.len())];
            }
            u -= w;
        }
        let v = &self.groups[self.groups.len() - 1].1;
        v[rng.random_range(0..v.len())]
    }
}

/// The cases a step draws from: the loaded ones, then the on-the-fly pool.
struct Drawable<'a> {
    fixed: &'a [Case],
    pool: &'a [Case],
}

impl Drawable<'_> {
    fn len(&self) -> usize {
        self.fixed.len() + self.pool.len()
    }

    fn get(&self, i: usize) -> &Case {
        if i < self.fixed.len() {
            &self.fixed[i]
        } else {
            &self.pool[i - self.fixed.len()]
        }
    }

    fn iter(&self) -> impl Iterator<Item = &Case> {
        self.fixed.iter().chain(self.pool)
    }
}

/// `n` patches: each a mined false call's with probability `mined.1` (while one is held; the
/// study indices of [`Mined`] are the fixed cases', which come first in `cases`), else a
/// study drawn by `picker` and a patch as [`sample_patch`] draws it.
fn batch<R: Rng>(
    rng: &mut R,
    cases: &Drawable<'_>,
    picker: Option<&SourcePicker>,
    mined: Option<(&Mined, f64)>,
    cfg: &PatchConfig,
    n: usize,
) -> (Array5<f32>, Array5<f32>) {
    let mut xs = Vec::with_capacity(n);
    let mut ys = Vec::with_capacity(n);
    for _ in 0..n {
        // (no draw without mining, so older runs sample exactly as before)
        let call = match mined {
            Some((m, share)) if rng.random_bool(share.clamp(0.0, 1.0)) => m.draw(rng),
            _ => None,
        };
        let (x, y) = if let Some((i, v)) = call {
            sample_patch_near(rng, cases.get(i), cfg, v)
        } else {
            let c = match picker {
                Some(p) => cases.get(p.pick(rng)),
                None => cases.get(rng.random_range(0..cases.len())),
            };
            sample_patch(rng, c, cfg)
        };
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

/// serde_json writes a NaN metric as `null`; read it back as NaN.
fn history_with_nulls<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<(f32, f64)>, D::Error> {
    let raw: Vec<(f32, Option<f64>)> = Deserialize::deserialize(d)?;
    Ok(raw
        .into_iter()
        .map(|(l, v)| (l, v.unwrap_or(f64::NAN)))
        .collect())
}

/// The learning curve picture: training loss and validation Dice per epoch.
#[must_use]
pub fn learning_curve(state: &TrainState) -> image::RgbImage {
    use strokeseg_report::plot::{line_chart, Series};
    let pts = |f: &dyn Fn(&(f32, f64)) -> f64| -> Vec<(f64, f64)> {
        state
            .history
            .iter()
            .enumerate()
            .map(|(i, h)| ((i + 1) as f64, f(h)))
            .filter(|(_, v)| v.is_finite())
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

/// Trains (or resumes) a fresh model on (training, validation) cases into `out`: `plan.json`,
/// `checkpoints/{last,best}/` (last with `optimizer.bpk`), `state.json`, `train_log.csv`.
/// Returns the final state.
///
/// # Errors
/// File-system and model-file errors, as text naming the path.
pub fn train(
    plan: &Plan,
    cfg: &TrainConfig,
    data: TrainData<'_>,
    out: &Path,
    resume: bool,
    device: &Device,
    on: &mut dyn FnMut(Event<'_>),
) -> Result<TrainState, TrainError> {
    train_from(plan, cfg, Start::fresh(), data, out, resume, device, on)
}

/// The on-the-fly studies as the loop receives them: a producer thread makes them in the
/// order the schedule needs ([`StreamConfig::order_from`]), one ahead of the loop.
struct Feed {
    cfg: StreamConfig,
    rx: std::sync::mpsc::Receiver<(u64, Result<Case, String>)>,
}

impl Feed {
    fn start<'scope, 'env>(
        scope: &'scope std::thread::Scope<'scope, 'env>,
        source: &'env dyn CaseSource,
        cfg: StreamConfig,
        step: usize,
        plan: &'env Plan,
        peak_labels: bool,
    ) -> Feed {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        scope.spawn(move || {
            let multiple = plan.grid_multiple();
            for index in cfg.order_from(step) {
                let case = source.case(index, &plan.prep, multiple).map(|mut c| {
                    if peak_labels {
                        c.use_peak_labels();
                    }
                    c
                });
                if tx.send((index, case)).is_err() {
                    return; // the run is over
                }
            }
        });
        Feed { cfg, rx }
    }

    fn next(&self) -> Result<(u64, Result<Case, String>), TrainError> {
        let t0 = std::time::Instant::now();
        let got = self.rx.recv().map_err(|_| TrainError::SourceStopped)?;
        let waited = t0.elapsed().as_secs_f64();
        if waited > 1.0 {
            tracing::debug!("waited {waited:.1} s for on-the-fly study {}", got.0);
        }
        Ok(got)
    }

    /// The pool as it stands after the steps already done.
    fn initial_pool(&self) -> Result<Vec<Case>, TrainError> {
        (0..self.cfg.pool)
            .map(|_| {
                let (index, case) = self.next()?;
                case.map_err(|e| TrainError::Usage(format!("on-the-fly study {index}: {e}")))
            })
            .collect()
    }

    /// After step `step`: the next study replaces the oldest of `pool` when the schedule says
    /// so. A study that could not be made leaves the slot's previous study (with a warning).
    fn refresh(&self, step: usize, pool: &mut [Case]) -> Result<(), TrainError> {
        if !self.cfg.refresh_after(step) {
            return Ok(());
        }
        let (index, case) = self.next()?;
        match case {
            Ok(c) => pool[(index % self.cfg.pool as u64) as usize] = c,
            Err(e) => tracing::warn!("on-the-fly study {index} skipped: {e}"),
        }
        Ok(())
    }
}

/// The mined false calls of a run, beside `state.json` ([`crate::mining`]).
pub const MINED_FILE: &str = "mined.json";

/// The lists a run continues with: those saved after the last epoch when resuming (`epoch`
/// above 0) and they belong to `cases`, else none yet (a resumed run without them warns: its
/// sampling differs from the uninterrupted run's until every study is scored again).
fn read_mined(path: &Path, cases: &[Case], epoch: usize) -> Result<Mined, TrainError> {
    if epoch == 0 {
        return Ok(Mined::new(cases));
    }
    if !path.is_file() {
        tracing::warn!(
            "{}: missing; mined hard negatives start empty",
            path.display()
        );
        return Ok(Mined::new(cases));
    }
    let m: Mined = read_json(path)?;
    if m.matches(cases) {
        Ok(m)
    } else {
        Err(TrainError::State {
            path: path.to_path_buf(),
            reason: "its studies are not this run's training studies (different --data?)".into(),
        })
    }
}

/// Up to `k` distinct fixed cases (indices below `n_fixed`) for a mining pass, drawn as patches
/// draw studies (`picker`'s source weights, else uniformly).
fn mine_picks<R: Rng>(
    rng: &mut R,
    n_fixed: usize,
    picker: Option<&SourcePicker>,
    k: usize,
) -> Vec<usize> {
    let want = k.min(n_fixed);
    let mut picks = Vec::with_capacity(want);
    let mut tries = 0;
    while picks.len() < want && tries < 100 * want {
        tries += 1;
        let i = match picker {
            Some(p) => p.pick(rng),
            None => rng.random_range(0..n_fixed),
        };
        if i < n_fixed && !picks.contains(&i) {
            picks.push(i);
        }
    }
    picks
}

/// A run file (`state.json`, `mined.json`) read back; an unreadable one is a
/// [`TrainError::State`] naming it.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, TrainError> {
    let bad = |reason: String| TrainError::State {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| bad(e.to_string()))
}

fn write_json<T: Serialize>(path: &Path, v: &T) -> Result<(), TrainError> {
    std::fs::write(path, serde_json::to_string_pretty(v).unwrap_or_default())
        .map_err(TrainError::io(path))
}

/// [`train`] from a given start: a loaded model with only `start.parts` trainable, and
/// `cfg.objective` as the loss. A run that starts from given weights scores them first
/// (epoch 0, [`TrainState::baseline`]) and keeps them as the best checkpoint until an epoch
/// beats them, so fine-tuning never ends worse than it began on the validation cases. On
/// resume the start weights are ignored: the last checkpoint and its AdamW moments are loaded
/// and `start.parts` applied again.
///
/// # Errors
/// File-system and model-file errors, as text naming the path.
#[allow(clippy::too_many_arguments)]
pub fn train_from(
    plan: &Plan,
    cfg: &TrainConfig,
    start: Start<'_>,
    data: TrainData<'_>,
    out: &Path,
    resume: bool,
    device: &Device,
    on: &mut dyn FnMut(Event<'_>),
) -> Result<TrainState, TrainError> {
    let (train_cases, val_cases) = (data.train, data.val);
    std::fs::create_dir_all(out).map_err(TrainError::io(out))?;
    let schedule = match (data.streams.is_empty(), cfg.stream) {
        (false, None) => {
            return Err(TrainError::Usage(
                "an on-the-fly source needs a pool and refresh schedule".into(),
            ))
        }
        (_, sc) => sc,
    };
    if train_cases.is_empty() && data.streams.is_empty() {
        return Err(TrainError::Usage(format!(
            "{}: no training cases",
            out.display()
        )));
    }
    let state_path = out.join("state.json");
    let last = checkpoint_dir(out, "last");
    // A state of epoch 0 (only the baseline of a fine-tuning run was scored) has no last
    // checkpoint yet: start over.
    let prior = if resume && state_path.is_file() {
        Some(read_json::<TrainState>(&state_path)?).filter(|s| s.epoch > 0)
    } else {
        None
    };
    let resuming = prior.is_some();
    let (mut trainer, mut state) = if let Some(s) = prior {
        let (m, c) = load(&last, device)?;
        let mut t = Trainer::from_model(m.with_trainable(start.parts), &c, device);
        let opt = last.join(OPTIMIZER_FILE);
        if opt.is_file() {
            t.load_optimizer(&opt)?;
        } else {
            tracing::warn!(
                "{}: no optimizer state; AdamW restarts from zero moments",
                opt.display()
            );
        }
        tracing::info!(
            "resuming at epoch {} (step {}), best {:.3}",
            s.epoch,
            s.step,
            s.best_dice
        );
        (t, s)
    } else {
        let t = match start.init {
            Some(m) => {
                Trainer::from_model(m.clone().with_trainable(start.parts), &plan.model, device)
            }
            None => Trainer::new(&plan.model, device),
        };
        (t, TrainState::default())
    };
    plan.save(out)
        .map_err(TrainError::io(out.join("plan.json")))?;
    write_json(&out.join("train_config.json"), cfg)?;
    let log_path = out.join("train_log.csv");
    let new_log = !log_path.is_file() || !resuming;
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(!new_log)
        .write(true)
        .truncate(new_log)
        .open(&log_path)
        .map_err(TrainError::io(&log_path))?;
    let val_name = match cfg.objective {
        Objective::Supervised => "val_dice",
        Objective::Entropy => "val_neg_entropy",
    };
    if new_log {
        writeln!(log, "epoch,step,train_loss,{val_name},lr,seconds")
            .map_err(TrainError::io(&log_path))?;
    }
    // Without validation cases there is nothing to select on: every epoch becomes the best
    // checkpoint (the last one is kept), no baseline is scored, the log's metric is empty.
    let no_val = val_cases.is_empty();
    if !resuming && !no_val {
        if let Some(m) = start.init {
            let t0 = std::time::Instant::now();
            let m0 = metric(m, plan, val_cases, cfg.objective);
            state.baseline = Some(m0);
            state.best_dice = m0;
            save(m, &plan.model, &checkpoint_dir(out, "best"))?;
            writeln!(log, "0,0,,{m0:.4},,{:.1}", t0.elapsed().as_secs_f64())
                .map_err(TrainError::io(&log_path))?;
            write_json(&state_path, &state)?;
        }
    }
    std::thread::scope(|scope| {
        let feeds: Vec<Feed> = match schedule {
            Some(sc) => data
                .streams
                .iter()
                .map(|&source| {
                    Feed::start(scope, source, sc, state.step, plan, cfg.patch.peak_labels)
                })
                .collect(),
            None => Vec::new(),
        };
        let mut pool = Vec::new();
        for f in &feeds {
            pool.extend(f.initial_pool()?);
        }
        run_epochs(
            (plan, cfg),
            &mut trainer,
            &mut state,
            (train_cases, val_cases),
            (&feeds, &mut pool),
            (out, &mut log),
            on,
        )
    })?;
    Ok(state)
}

/// The epochs left of a run (after set-up, resume and the baseline).
#[allow(clippy::too_many_lines)]
fn run_epochs(
    (plan, cfg): (&Plan, &TrainConfig),
    trainer: &mut Trainer,
    state: &mut TrainState,
    (train_cases, val_cases): (&[Case], &[Case]),
    (feeds, pool): (&[Feed], &mut Vec<Case>),
    (out, log): (&Path, &mut std::fs::File),
    on: &mut dyn FnMut(Event<'_>),
) -> Result<(), TrainError> {
    let state_path = out.join("state.json");
    let last = checkpoint_dir(out, "last");
    let no_val = val_cases.is_empty();
    // Pool slots keep their source when refreshed (each source refreshes its own slots), so
    // the groups stay valid.
    let picker = SourcePicker::new(
        Drawable {
            fixed: train_cases,
            pool: pool.as_slice(),
        }
        .iter(),
        &cfg.source_weights,
    );
    let mined_path = out.join(MINED_FILE);
    let mut mined = match cfg.mine {
        Some(_) => Some(read_mined(&mined_path, train_cases, state.epoch)?),
        None => None,
    };
    // One RNG stream per epoch, so a resumed run samples what the uninterrupted one would.
    while state.epoch < cfg.epochs && !state.stopped_early {
        let t0 = std::time::Instant::now();
        if let (Some(mc), Some(m)) = (&cfg.mine, mined.as_mut()) {
            let mut rng = ChaCha8Rng::seed_from_u64(
                cfg.seed ^ 0x6D69_6E65 ^ (state.epoch as u64).wrapping_mul(0x9E37_79B9),
            );
            let picks = mine_picks(
                &mut rng,
                train_cases.len(),
                picker.as_ref(),
                mc.cases_per_epoch,
            );
            let model = trainer.model();
            mining::pass(
                (&model, trainer.config()),
                (plan.window, plan.prep.spacing_mm),
                train_cases,
                &picks,
                mc,
                m,
                state.epoch + 1,
            );
        }
        let mut rng =
            ChaCha8Rng::seed_from_u64(cfg.seed ^ (state.epoch as u64).wrapping_mul(0x9E37_79B9));
        let mut loss_sum = 0.0f32;
        for _ in 0..cfg.steps_per_epoch {
            let drawable = Drawable {
                fixed: train_cases,
                pool: pool.as_slice(),
            };
            let (x, y) = batch(
                &mut rng,
                &drawable,
                picker.as_ref(),
                cfg.mine
                    .as_ref()
                    .zip(mined.as_ref())
                    .map(|(c, m)| (m, c.fraction)),
                &cfg.patch,
                cfg.batch_size,
            );
            let lr = lr_at(cfg, state.step);
            let loss = match cfg.objective {
                Objective::Supervised if cfg.lesion_loss > 0.0 => {
                    let lesions = batch_lesions(&y);
                    trainer.step_lesionwise(x, y, &lesions, cfg.lesion_loss, lr)
                }
                Objective::Supervised => trainer.step(x, y, lr),
                Objective::Entropy => trainer.step_entropy(x, lr),
            };
            loss_sum += loss;
            state.step += 1;
            for (f, slots) in feeds
                .iter()
                .zip(pool.chunks_mut(cfg.stream.map_or(1, |c| c.pool)))
            {
                f.refresh(state.step, slots)?;
            }
            on(Event::Step(state.step, loss));
        }
        let model = trainer.model();
        let val = if no_val {
            f64::NAN
        } else {
            metric(&model, plan, val_cases, cfg.objective)
        };
        state.epoch += 1;
        let mean_loss = loss_sum / cfg.steps_per_epoch.max(1) as f32;
        state.history.push((mean_loss, val));
        save(&model, trainer.config(), &last)?;
        trainer.save_optimizer(&last.join(OPTIMIZER_FILE))?;
        if no_val || val >= state.best_dice || (state.baseline.is_none() && state.epoch == 1) {
            state.best_dice = if no_val { 0.0 } else { val };
            state.best_epoch = state.epoch;
            save(&model, trainer.config(), &checkpoint_dir(out, "best"))?;
        }
        if !no_val
            && cfg
                .patience
                .is_some_and(|p| state.epoch - state.best_epoch >= p && state.epoch < cfg.epochs)
        {
            tracing::info!(
                "early stop after epoch {}: no improvement since epoch {}",
                state.epoch,
                state.best_epoch
            );
            state.stopped_early = true;
        }
        writeln!(
            log,
            "{},{},{:.5},{},{:.6},{:.1}",
            state.epoch,
            state.step,
            mean_loss,
            if no_val {
                String::new()
            } else {
                format!("{val:.4}")
            },
            lr_at(cfg, state.step),
            t0.elapsed().as_secs_f64()
        )
        .map_err(TrainError::io(out.join("train_log.csv")))?;
        log.flush()
            .map_err(TrainError::io(out.join("train_log.csv")))?;
        if let Some(m) = &mined {
            // compact: the lists are long, and nobody reads them by eye
            std::fs::write(&mined_path, serde_json::to_string(m).unwrap_or_default())
                .map_err(TrainError::io(&mined_path))?;
        }
        write_json(&state_path, state)?;
        on(Event::Epoch(state));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_lesions_are_each_samples_components_above_the_trace_level() {
        let mut t = Array5::<f32>::zeros((2, 1, 4, 8, 8));
        // sample 0: a 2-voxel lesion and a 1-voxel partial-volume lesion; a resampling trace
        t[[0, 0, 1, 1, 1]] = 1.0;
        t[[0, 0, 1, 1, 2]] = 0.6;
        t[[0, 0, 3, 6, 6]] = 0.3;
        t[[0, 0, 0, 6, 0]] = 0.04;
        // sample 1: one lesion beside ignored voxels
        t[[1, 0, 2, 4, 4]] = 1.0;
        t[[1, 0, 2, 4, 5]] = -1.0;
        let l = batch_lesions(&t);
        assert_eq!(
            l,
            vec![
                (0, vec![[1, 1, 1], [1, 1, 2]]),
                (0, vec![[3, 6, 6]]),
                (1, vec![[2, 4, 4]]),
            ]
        );
        // a shower of more dots than the cap keeps the largest
        let mut s = Array5::<f32>::zeros((1, 1, 4, 64, 64));
        for k in 0..(MAX_BATCH_LESIONS + 4) {
            s[[0, 0, 1, 3 * k, 3]] = 1.0;
        }
        s[[0, 0, 2, 30, 4]] = 1.0;
        let l = batch_lesions(&s);
        assert_eq!(l.len(), MAX_BATCH_LESIONS);
        assert_eq!(l[0].1, vec![[1, 30, 3], [2, 30, 4]]);
    }
}
