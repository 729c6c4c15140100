//! `strokeseg adapt`: adapt a trained model to a new site with N of its studies.
//!
//! N studies are drawn (seeded, balanced over the given folders); 20% of them (at least 2) are
//! held out for early stopping and for the before/after metrics in the model card; the rest
//! adapt the model, with the training loop of `train` ([`train_from`]) started from the base
//! weights (`--no-holdout`: all N adapt, for the fixed number of epochs, and the last epoch
//! is kept — for a handful of studies, scored afterwards on others with `validate`):
//!
//! - `full`: every parameter, small learning rate (default 1e-4);
//! - `decoder`: transposed convolutions, decoder stages and head; the encoder frozen;
//! - `norm`: only the instance-norm affine parameters (scale and shift per channel, about 1%
//!   of the weights), learning rate 1e-3;
//! - `unsupervised`: no labels. The network normalises with *instance* norm, which has no
//!   running statistics: every study is already normalised by its own feature statistics, so
//!   "re-estimating normalisation statistics" (AdaBN) has nothing to re-estimate. What remains
//!   adaptable without labels are the norm layers' affine parameters, fitted by test-time
//!   entropy minimisation (TENT, Wang et al. 2021): minimise the mean binary entropy of the
//!   predictions on the site's studies, only `gamma`/`beta` trainable, Adam 1e-3, no
//!   augmentation, the labels (if any) never read for training. Early stopping watches the
//!   held-out studies' mean entropy (label-free); held-out labels, when present, only feed the
//!   card's before/after table. Input intensities need no extra site-level re-normalisation:
//!   the plan already z-scores DWI inside each study's brain mask (removing scanner gain and
//!   the b-value's overall signal level), and ADC is a physical quantity (10⁻³ mm²/s) whose
//!   scale must be kept — rescaling it per site would erase exactly the contrast that tells
//!   an infarct from a T2 shine-through.
//!
//! Supervised modes also start by scoring the base model on the held-out part (epoch 0) and
//! keep it unless an epoch beats it, so an adapted model is never worse on the held-out
//! studies than the model it came from. The output folder is a model folder (`plan.json`,
//! `config.json`, `model.bpk`, the base model's operating points, `MODEL_CARD.md`,
//! `adapt_metrics.json`), and also a training run folder (`checkpoints/`, `state.json`,
//! `train_log.csv`): `--resume` continues an interrupted adaptation.

use super::training::{progress, stopped};
use crate::cli::{AdaptArgs, AdaptMode};
use crate::Status;
use strokeseg_eval::Summary;
use strokeseg_infer::Plan;
use strokeseg_measure::LesionConfig;
use strokeseg_model::{load, run_device, TrainableParts, CONFIG_FILE, WEIGHTS_FILE};
use strokeseg_pipeline::ensemble::{is_ensemble, weights_dir};
use strokeseg_pipeline::score::{bar, manifests, score_model};
use strokeseg_pipeline::{Segmenter, OPERATING_POINTS_FILE};
use strokeseg_report::adapt_card::{adaptation_card, AdaptationCard, HeldOutScores};
use strokeseg_train::data::{all_synthetic, discover_studies, load_study, Case, CaseRef, StudyRef};
use strokeseg_train::sampler::PatchConfig;
use strokeseg_train::subsets::{balanced_order, held_out_count};
use strokeseg_train::training::checkpoint_dir;
use strokeseg_train::{train_from, Objective, Start, TrainConfig, TrainData};

/// Share of the N studies held out.
pub const HELD_OUT_FRACTION: f64 = 0.2;

fn bad(msg: String) -> anyhow::Result<Status> {
    eprintln!("error: {msg}");
    Ok(Status::BadInput)
}

impl AdaptMode {
    fn parts(self) -> TrainableParts {
        match self {
            AdaptMode::Full => TrainableParts::All,
            AdaptMode::Decoder => TrainableParts::Decoder,
            AdaptMode::Norm | AdaptMode::Unsupervised => TrainableParts::NormAffine,
        }
    }
    fn name(self) -> &'static str {
        match self {
            AdaptMode::Full => "full",
            AdaptMode::Decoder => "decoder",
            AdaptMode::Norm => "norm",
            AdaptMode::Unsupervised => "unsupervised",
        }
    }
    fn default_lr(self) -> f64 {
        match self {
            AdaptMode::Full | AdaptMode::Decoder => 1e-4,
            AdaptMode::Norm | AdaptMode::Unsupervised => 1e-3,
        }
    }
}

fn load_cases(refs: &[StudyRef], plan: &Plan, what: &str) -> Result<Vec<Case>, String> {
    let b = bar(refs.len() as u64, what);
    let mut out = Vec::with_capacity(refs.len());
    for r in refs {
        out.push(load_study(r, &plan.prep, plan.grid_multiple()).map_err(|e| e.to_string())?);
        b.inc(1);
    }
    b.finish_and_clear();
    Ok(out)
}

fn labelled(refs: &[StudyRef]) -> Vec<CaseRef> {
    refs.iter()
        .filter_map(|r| {
            r.mask.as_ref().map(|m| CaseRef {
                id: r.id.clone(),
                site: r.site.clone(),
                spec: r.spec.clone(),
                mask: m.clone(),
            })
        })
        .collect()
}

/// Runs `adapt`.
pub fn run(a: &AdaptArgs) -> anyhow::Result<Status> {
    if !a.model.join(strokeseg_infer::PLAN_FILE).is_file() {
        return bad(format!(
            "{}: not a model folder (no plan.json)",
            a.model.display()
        ));
    }
    if a.patch.len() != 3 {
        return bad("--patch takes three comma-separated values".into());
    }
    if is_ensemble(&a.model) {
        return bad(format!(
            "{}: is an ensemble; adapt takes one network: adapt each member's training run, \
             then `strokeseg ensemble` the adapted folders",
            a.model.display()
        ));
    }
    let base_plan = Plan::load(&a.model)?;
    let device = run_device();
    let (base_model, _) = load(&weights_dir(&a.model), &device)?;
    let mult = base_plan.model.size_multiple();
    let patch = [a.patch[0], a.patch[1], a.patch[2]];
    if (0..3).any(|i| patch[i] == 0 || patch[i] % mult[i] != 0) {
        return bad(format!(
            "--patch {patch:?} must be a multiple of {mult:?} for this model"
        ));
    }
    let supervised = a.mode != AdaptMode::Unsupervised;
    let mut pool = Vec::new();
    for d in &a.data {
        let mut r = discover_studies(d)?;
        if supervised {
            r.retain(|s| s.mask.is_some());
            if r.is_empty() {
                return bad(format!(
                    "{}: no labelled studies (*_msk.nii.gz); use --mode unsupervised for unlabelled data",
                    d.display()
                ));
            }
        }
        pool.extend(r);
    }
    if a.n > pool.len() {
        return bad(format!(
            "--n {} but {} hold only {} {}studies",
            a.n,
            a.data
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            pool.len(),
            if supervised { "labelled " } else { "" }
        ));
    }
    let n_held = if a.no_holdout {
        if a.n == 0 {
            return bad("--n 0: need at least 1 study to adapt on".into());
        }
        0
    } else {
        let Some(k) = held_out_count(a.n, HELD_OUT_FRACTION) else {
            return bad(format!(
                "--n {}: need at least 3 studies (2 held out, 1 to adapt on), or --no-holdout",
                a.n
            ));
        };
        k
    };
    // balanced over the --data folders, seeded
    let as_case: Vec<CaseRef> = pool
        .iter()
        .map(|s| CaseRef {
            id: s.id.clone(),
            site: s.site.clone(),
            spec: s.spec.clone(),
            mask: s.mask.clone().unwrap_or_default(),
        })
        .collect();
    let order = balanced_order(&as_case, a.seed);
    let picked: Vec<StudyRef> = order[..a.n].iter().map(|&i| pool[i].clone()).collect();
    let (fit_refs, held_refs) = picked.split_at(a.n - n_held);
    // Unsupervised adaptation must not see labels: drop the masks of the studies it fits on.
    let fit_refs: Vec<StudyRef> = fit_refs
        .iter()
        .cloned()
        .map(|mut s| {
            if !supervised {
                s.mask = None;
            }
            s
        })
        .collect();
    // Held-out: labelled ones are scored; for the unsupervised objective their labels are
    // never used by the loop (its validation metric is the entropy).
    let held_cases_refs: Vec<StudyRef> = held_refs.to_vec();
    let fit_cases = match load_cases(&fit_refs, &base_plan, "loading site studies") {
        Ok(c) => c,
        Err(e) => return bad(e),
    };
    let held_cases = match load_cases(&held_cases_refs, &base_plan, "loading held-out studies") {
        Ok(c) => c,
        Err(e) => return bad(e),
    };
    let site_synthetic = all_synthetic(&a.data);
    let mut plan = base_plan.clone();
    plan.training_data = base_plan
        .training_data
        .iter()
        .cloned()
        .chain(a.data.iter().map(|d| {
            format!(
                "{} (adaptation, {} mode, {} studies)",
                d.display(),
                a.mode.name(),
                fit_refs.len()
            )
        }))
        .collect();
    plan.synthetic_only = base_plan.synthetic_only && site_synthetic;
    let lr = a.lr.unwrap_or_else(|| a.mode.default_lr());
    let cfg = TrainConfig {
        epochs: a.epochs,
        steps_per_epoch: a.steps_per_epoch,
        batch_size: a.batch,
        lr,
        warmup_steps: (a.steps_per_epoch / 2).clamp(1, 50),
        patch: PatchConfig {
            size: patch,
            augment: supervised,
            ..PatchConfig::default()
        },
        seed: a.seed,
        patience: (!a.no_holdout).then_some(a.patience),
        objective: if supervised {
            Objective::Supervised
        } else {
            Objective::Entropy
        },
        source_weights: Vec::new(),
        stream: None,
        mine: None,
        lesion_loss: 0.0,
    };
    let parts = a.mode.parts();
    let trainable = base_model
        .named_params()
        .iter()
        .filter(|(p, _)| parts.includes(p))
        .map(|(_, v)| v.len())
        .sum::<usize>();
    eprintln!(
        "adapting {} ({} mode: {trainable} of {} parameters trainable, lr {lr}) on {} studies, {} held out",
        a.model.display(),
        a.mode.name(),
        base_plan.model.params(),
        fit_cases.len(),
        held_cases.len()
    );
    let (b, mut on) = progress(cfg.epochs * cfg.steps_per_epoch, "adapt");
    let state = match train_from(
        &plan,
        &cfg,
        Start {
            init: Some(&base_model),
            parts,
        },
        TrainData::new(&fit_cases, &held_cases),
        &a.out,
        a.resume,
        &device,
        &mut on,
    ) {
        Ok(s) => s,
        Err(e) => return stopped(e, &b),
    };
    b.finish_and_clear();
    // the model folder: best weights beside the plan
    let best = checkpoint_dir(&a.out, "best");
    for f in [CONFIG_FILE, WEIGHTS_FILE] {
        std::fs::copy(best.join(f), a.out.join(f))
            .map_err(|e| anyhow::anyhow!("{}: {e}", best.join(f).display()))?;
    }
    let base_ops = a.model.join(OPERATING_POINTS_FILE);
    if base_ops.is_file() {
        std::fs::copy(&base_ops, a.out.join(OPERATING_POINTS_FILE))
            .map_err(|e| anyhow::anyhow!("{}: {e}", base_ops.display()))?;
    }
    // before/after on the held-out studies that have labels
    let held_labelled = labelled(&held_cases_refs);
    let (before, after) = if held_labelled.is_empty() {
        (None, None)
    } else {
        let base_seg = Segmenter::load(&a.model)?;
        let new_seg = Segmenter::load(&a.out)?;
        let regions = manifests(&a.data)?;
        (
            Some(
                score_model(
                    &base_seg,
                    &held_labelled,
                    &regions,
                    &LesionConfig::default(),
                    None,
                    "scoring the base model",
                )?
                .1,
            ),
            Some(
                score_model(
                    &new_seg,
                    &held_labelled,
                    &regions,
                    &LesionConfig::default(),
                    None,
                    "scoring the adapted model",
                )?
                .1,
            ),
        )
    };
    let split = serde_json::json!({
        "adapt_on": fit_refs.iter().map(|r| &r.id).collect::<Vec<_>>(),
        "held_out": held_cases_refs.iter().map(|r| &r.id).collect::<Vec<_>>(),
    });
    let metrics = serde_json::json!({
        "base_model": a.model.display().to_string(),
        "mode": a.mode.name(),
        "n": a.n,
        "split": split,
        "trainable_parameters": trainable,
        "lr": lr,
        "state": state,
        "held_out_before": before,
        "held_out_after": after,
    });
    std::fs::write(
        a.out.join("adapt_metrics.json"),
        serde_json::to_string_pretty(&metrics)?,
    )?;
    let scores = |s: &Summary| HeldOutScores {
        studies: s.studies,
        positives: s.positives,
        dice_positive: s.mean_dice_positive_studies,
        lesion_f1: s.isles22.lesion_f1.mean,
        lesion_sensitivity: s.lesion_sensitivity,
        fp_lesions_per_study: s.false_positive_lesions_per_study,
        patient_sensitivity: s.patient.sensitivity.value,
        patient_specificity: s.patient.specificity.value,
    };
    let card = adaptation_card(&AdaptationCard {
        mode: a.mode.name().to_string(),
        unsupervised: a.mode == AdaptMode::Unsupervised,
        base_model: a.model.display().to_string(),
        base_training_data: base_plan.training_data.clone(),
        base_synthetic_only: base_plan.synthetic_only,
        site_synthetic,
        data: a.data.iter().map(|d| d.display().to_string()).collect(),
        n: a.n,
        seed: a.seed,
        fit: fit_refs.len(),
        held: held_cases_refs.len(),
        held_labelled: held_labelled.len(),
        trainable,
        params: plan.model.params(),
        lr,
        epochs: a.epochs,
        steps_per_epoch: a.steps_per_epoch,
        batch: a.batch,
        patience: (!a.no_holdout).then_some(a.patience),
        epochs_run: state.epoch,
        stopped_early: state.stopped_early,
        best_epoch: state.best_epoch,
        best_score: state.best_dice,
        baseline: state.baseline,
        ops_copied: base_ops.is_file(),
        spacing_mm: plan.prep.spacing_mm,
        before_after: before
            .as_ref()
            .zip(after.as_ref())
            .map(|(b, f)| (scores(b), scores(f))),
        command: std::iter::once("strokeseg".to_string())
            .chain(std::env::args().skip(1))
            .map(|x| if x.contains(' ') { format!("'{x}'") } else { x })
            .collect::<Vec<_>>()
            .join(" "),
    });
    std::fs::write(a.out.join("MODEL_CARD.md"), card)?;
    let d = |s: Option<&Summary>| {
        s.and_then(|s| s.mean_dice_positive_studies)
            .map_or_else(|| "n/a".to_string(), |v| format!("{v:.3}"))
    };
    println!(
        "adapted ({} mode, {} studies, {} held out): held-out Dice {} → {}; best epoch {}{}; model in {}",
        a.mode.name(),
        fit_refs.len(),
        held_cases_refs.len(),
        d(before.as_ref()),
        d(after.as_ref()),
        state.best_epoch,
        if state.stopped_early { " (stopped early)" } else { "" },
        a.out.display()
    );
    Ok(Status::Ok)
}
