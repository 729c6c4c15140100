//! Model ensembles: one model folder holding several networks trained with the same plan
//! (other seeds or recipes), whose probabilities are averaged window by window, as nnU-Net
//! averages its folds. Independently trained networks agree on infarcts and disagree on where
//! they put their false positives, so the mean keeps the first and dilutes the second.
//!
//! Layout: `plan.json` (shared), `ensemble.json` (where each member came from), a generated
//! `MODEL_CARD.md`, and `members/<k>/` (k = 1, 2, …), each a member's `config.json` +
//! `model.bpk` with its own card, settings and training log. A folder without `members/` is
//! one network (its own `config.json` + `model.bpk`, or a training run's
//! `checkpoints/best/`). Owns: finding the
//! members and building an ensemble folder from training runs or model folders. Must not
//! touch: the sources (they are only read), the network, calibration (an ensemble is
//! calibrated like any model folder, after it is built).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use strokeseg_infer::{Plan, PLAN_FILE};
use strokeseg_model::{UNet3dConfig, CONFIG_FILE, WEIGHTS_FILE};

use crate::PipelineError;

/// Sub-folder of an ensemble folder holding its members.
pub const MEMBERS_DIR: &str = "members";
/// File of an ensemble folder saying where its members came from.
pub const ENSEMBLE_FILE: &str = "ensemble.json";
/// Training-run files copied beside each member's weights, when the source has them.
const RUN_FILES: [&str; 4] = [
    "MODEL_CARD.md",
    "train_config.json",
    "train_log.csv",
    "state.json",
];

/// The folder holding the weights of the model folder or training run `dir` itself: `dir`,
/// or `dir/checkpoints/best` for a training run.
#[must_use]
pub fn weights_dir(dir: &Path) -> PathBuf {
    let best = dir.join("checkpoints").join("best");
    if !dir.join(CONFIG_FILE).is_file() && best.is_dir() {
        best
    } else {
        dir.to_path_buf()
    }
}

/// Every weights folder of the model folder `dir`: each `members/<k>/` that holds a
/// `config.json`, in order of k, or else its own ([`weights_dir`]).
///
/// # Errors
/// `members/` exists but cannot be listed.
pub fn member_dirs(dir: &Path) -> Result<Vec<PathBuf>, PipelineError> {
    let mut out = Vec::new();
    let members = dir.join(MEMBERS_DIR);
    if members.is_dir() {
        let bad = |e: std::io::Error| PipelineError::Model {
            dir: dir.to_path_buf(),
            message: format!("{}: {e}", members.display()),
        };
        let mut more: Vec<PathBuf> = std::fs::read_dir(&members)
            .map_err(bad)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.join(CONFIG_FILE).is_file())
            .collect();
        // 1, 2, …, 10 in number order; other names after, by name
        more.sort_by_key(|p| {
            let name = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            (name.parse::<u64>().unwrap_or(u64::MAX), name)
        });
        out.extend(more);
    }
    if out.is_empty() {
        out.push(weights_dir(dir));
    }
    Ok(out)
}

/// True when `dir` is an ensemble folder (it has `members/`).
#[must_use]
pub fn is_ensemble(dir: &Path) -> bool {
    dir.join(MEMBERS_DIR).is_dir()
}

/// Where one member came from (`ensemble.json`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MemberSource {
    /// The member's folder inside the ensemble (`members/<k>`).
    pub folder: String,
    /// The training run or model folder it was copied from, as given.
    pub source: String,
}

/// `ensemble.json`: the members and how their probabilities are combined.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EnsembleInfo {
    /// How the members' probabilities are combined (always "mean").
    pub combine: String,
    /// The members, in the order they run.
    pub members: Vec<MemberSource>,
}

/// A network's shape: its hyper-parameters without the seed of its first initialisation,
/// which is all two members of an ensemble may differ in.
#[must_use]
pub fn network_shape(config: &UNet3dConfig) -> UNet3dConfig {
    UNet3dConfig {
        seed: 0,
        ..config.clone()
    }
}

/// The parts of a plan that must agree for probabilities to be averaged: preprocessing,
/// network shape, window and input channels.
fn plan_key(plan: &Plan) -> serde_json::Value {
    serde_json::json!({
        "prep": plan.prep,
        "model": network_shape(&plan.model),
        "window": plan.window,
        "channels": plan.channels,
    })
}

/// Builds the ensemble folder `out` from `sources` (training runs or single-network model
/// folders, at least two, all with the same plan): the first source's plan, every source's
/// weights in `members/<k>/` with its card, settings and training log when it has them,
/// `ensemble.json` and a `MODEL_CARD.md`. Operating points are not copied: the ensemble must
/// be calibrated (`strokeseg calibrate`). Returns the info written.
///
/// # Errors
/// Fewer than two sources; a source that is not a model folder or training run, is itself an
/// ensemble, or has a plan that differs from the first's (named); `out` exists and is not
/// empty; a file cannot be copied.
pub fn build(out: &Path, sources: &[PathBuf]) -> Result<EnsembleInfo, PipelineError> {
    let bad = |dir: &Path, message: String| PipelineError::Model {
        dir: dir.to_path_buf(),
        message,
    };
    if sources.len() < 2 {
        return Err(PipelineError::Setup(
            "an ensemble needs at least two models".into(),
        ));
    }
    let mut plans = Vec::new();
    for s in sources {
        let plan = Plan::load(s).map_err(|e| bad(s, e.to_string()))?;
        if is_ensemble(s) {
            return Err(bad(
                s,
                "is itself an ensemble; name its members' training runs instead".into(),
            ));
        }
        let w = weights_dir(s);
        for f in [CONFIG_FILE, WEIGHTS_FILE] {
            if !w.join(f).is_file() {
                return Err(bad(s, format!("no {f} in {}", w.display())));
            }
        }
        plans.push(plan);
    }
    let key = plan_key(&plans[0]);
    for (s, p) in sources.iter().zip(&plans).skip(1) {
        if plan_key(p) != key {
            return Err(bad(
                s,
                format!(
                    "its plan (preprocessing, network, window or channels) differs from that of {}; \
                     only networks trained with the same plan can be averaged",
                    sources[0].display()
                ),
            ));
        }
    }
    if out.exists()
        && std::fs::read_dir(out)
            .map_err(|e| PipelineError::write(out, e))?
            .next()
            .is_some()
    {
        return Err(PipelineError::Setup(format!(
            "{}: exists and is not empty; name a new folder",
            out.display()
        )));
    }
    let mut members = Vec::new();
    for (k, s) in sources.iter().enumerate() {
        let folder = format!("{MEMBERS_DIR}/{}", k + 1);
        let dest = out.join(&folder);
        std::fs::create_dir_all(&dest).map_err(|e| PipelineError::write(&dest, e))?;
        let w = weights_dir(s);
        for f in [CONFIG_FILE, WEIGHTS_FILE] {
            copy(&w.join(f), &dest.join(f))?;
        }
        for f in RUN_FILES {
            if s.join(f).is_file() {
                copy(&s.join(f), &dest.join(f))?;
            }
        }
        members.push(MemberSource {
            folder,
            source: s.display().to_string(),
        });
    }
    let mut plan = plans[0].clone();
    plan.synthetic_only = plans.iter().all(|p| p.synthetic_only);
    plan.training_data.push(format!(
        "ensemble of {} networks with this plan, probabilities averaged ({ENSEMBLE_FILE})",
        sources.len()
    ));
    plan.save(out)
        .map_err(|e| PipelineError::write(out.join(PLAN_FILE), e))?;
    let info = EnsembleInfo {
        combine: "mean".into(),
        members,
    };
    let path = out.join(ENSEMBLE_FILE);
    let text = serde_json::to_string_pretty(&info).map_err(|e| PipelineError::write(&path, e))?;
    std::fs::write(&path, text).map_err(|e| PipelineError::write(&path, e))?;
    let path = out.join("MODEL_CARD.md");
    std::fs::write(&path, card(&plan, &info)).map_err(|e| PipelineError::write(&path, e))?;
    Ok(info)
}

/// The ensemble's model card: what it is, where its members came from, what is not measured.
fn card(plan: &Plan, info: &EnsembleInfo) -> String {
    let mut c = String::from(
        "# Model card: an ensemble\n\n**RESEARCH USE ONLY, not a medical device.**\n\n",
    );
    c += &format!(
        "{} networks with one plan; each study's probability is the mean of theirs, window by \
         window. Each member's own card, training settings and log are in its folder.\n\n",
        info.members.len()
    );
    if plan.synthetic_only {
        c += "**Trained on synthetic data only** (every member).\n\n";
    }
    c += "| member | from |\n|---|---|\n";
    for m in &info.members {
        c += &format!("| `{}` | `{}` |\n", m.folder, m.source);
    }
    c += "\nOperating points: none yet. Run `strokeseg calibrate --model THIS_FOLDER --data ...` \
          before relying on the patient-level call; the members' own operating points do not \
          apply to their mean.\n";
    c
}

fn copy(from: &Path, to: &Path) -> Result<(), PipelineError> {
    std::fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| PipelineError::write(to, format!("copying {}: {e}", from.display())))
}
