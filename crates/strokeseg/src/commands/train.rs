//! `strokeseg train`: load and prepare the data, then run the training loop with progress.

use crate::cli::TrainArgs;
use crate::Status;
use indicatif::{ProgressBar, ProgressStyle};
use strokeseg_model::{cpu_device, UNet3dConfig};
use strokeseg_preproc::{PrepConfig, CHANNELS};
use strokeseg_train::data::{discover, load_case, Case, CaseRef};
use strokeseg_train::sampler::PatchConfig;
use strokeseg_train::training::Event;
use strokeseg_train::{train, Plan, TrainConfig};

fn bar(n: u64, what: &str) -> ProgressBar {
    let b = ProgressBar::new(n);
    b.set_style(
        ProgressStyle::with_template(&format!(
            "{what} [{{bar:30}}] {{pos}}/{{len}} ({{elapsed}}, eta {{eta}}) {{msg}}"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    b
}

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

fn refs(dirs: &[std::path::PathBuf]) -> Result<Vec<CaseRef>, strokeseg_io::InputError> {
    let mut v = Vec::new();
    for d in dirs {
        v.extend(discover(d)?);
    }
    Ok(v)
}

/// Runs `train`.
pub fn run(a: &TrainArgs) -> anyhow::Result<Status> {
    if a.spacing.len() != 3 || a.patch.len() != 3 {
        eprintln!("error: --spacing and --patch take three comma-separated values");
        return Ok(Status::BadInput);
    }
    let model = UNet3dConfig::new()
        .with_base_channels(a.base_channels)
        .with_depth(a.depth)
        .with_seed(a.seed);
    if let Err(e) = model.validate() {
        eprintln!("error: {e}");
        return Ok(Status::BadInput);
    }
    let mult = model.size_multiple();
    let patch = [a.patch[0], a.patch[1], a.patch[2]];
    if (0..3).any(|i| patch[i] % mult[i] != 0) {
        eprintln!(
            "error: --patch {patch:?} must be a multiple of {mult:?} for depth {}",
            a.depth
        );
        return Ok(Status::BadInput);
    }
    let train_refs = refs(&a.data)?;
    let val_refs = refs(&a.val)?;
    let synthetic_only = a.data.iter().all(|d| {
        d.join("manifest.json").is_file()
            || d.parent()
                .is_some_and(|p| p.join("manifest.json").is_file())
    });
    let plan = Plan {
        prep: PrepConfig {
            spacing_mm: [a.spacing[0], a.spacing[1], a.spacing[2]],
            ..PrepConfig::default()
        },
        model,
        window: [32.max(patch[0]), 128.max(patch[1]), 128.max(patch[2])].map(|x| x),
        channels: CHANNELS.iter().map(|s| (*s).to_string()).collect(),
        training_data: a.data.iter().map(|d| d.display().to_string()).collect(),
        synthetic_only,
    };
    let cfg = TrainConfig {
        epochs: a.epochs,
        steps_per_epoch: a.steps_per_epoch,
        batch_size: a.batch,
        lr: a.lr,
        warmup_steps: (a.steps_per_epoch * a.epochs / 20).clamp(1, 500),
        patch: PatchConfig {
            size: patch,
            ..PatchConfig::default()
        },
        seed: a.seed,
    };
    let (train_cases, bad_t) = load_all(&train_refs, &plan, "loading training studies");
    let step_v = (val_refs.len() as f64 / a.max_val.max(1) as f64).max(1.0);
    let val_pick: Vec<CaseRef> = (0..val_refs.len().min(a.max_val))
        .map(|i| val_refs[(i as f64 * step_v) as usize].clone())
        .collect();
    let (val_cases, bad_v) = load_all(&val_pick, &plan, "loading validation studies");
    if train_cases.is_empty() || val_cases.is_empty() {
        eprintln!("error: no usable training or validation studies");
        return Ok(Status::BadInput);
    }
    eprintln!(
        "training on {} studies ({} with lesions), validating on {}; {} params; patch {:?}, batch {}",
        train_cases.len(),
        train_cases.iter().filter(|c| c.has_lesion).count(),
        val_cases.len(),
        plan.model.params(),
        patch,
        a.batch
    );
    let b = bar((cfg.epochs * cfg.steps_per_epoch) as u64, "train");
    let mut recent = Vec::new();
    let mut on = |e: Event<'_>| match e {
        Event::Step(step, loss) => {
            recent.push(loss);
            if recent.len() > 20 {
                recent.remove(0);
            }
            b.set_position(step as u64);
            b.set_message(format!(
                "loss {:.3}",
                recent.iter().sum::<f32>() / recent.len() as f32
            ));
        }
        Event::Epoch(s) => {
            let (l, d) = s.history.last().copied().unwrap_or_default();
            b.suspend(|| {
                eprintln!(
                    "epoch {:>3}: train loss {l:.4}, val Dice {d:.3} (best {:.3} @ {})",
                    s.epoch, s.best_dice, s.best_epoch
                )
            });
        }
    };
    let device = cpu_device();
    let state = train(
        &plan,
        &cfg,
        (&train_cases, &val_cases),
        &a.out,
        a.resume,
        &device,
        &mut on,
    )
    .map_err(anyhow::Error::msg)?;
    b.finish_and_clear();
    println!(
        "trained {} epochs ({} steps); best validation Dice {:.3} at epoch {}; model in {}",
        state.epoch,
        state.step,
        state.best_dice,
        state.best_epoch,
        a.out.display()
    );
    Ok(if bad_t + bad_v > 0 {
        Status::BadInput
    } else {
        Status::Ok
    })
}
