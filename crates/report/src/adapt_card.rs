//! The model card `adapt` writes beside an adapted model (`MODEL_CARD.md`): the base model
//! and the site data, the mode and what was trainable, what the held-out studies said before
//! and after, and how to reproduce it. Plain values in, Markdown out: the card does not depend
//! on the training or scoring crates.

use std::fmt::Write;

/// Scores of one model on the held-out studies (a row of the before/after table each).
#[derive(Debug, Clone, Default)]
pub struct HeldOutScores {
    /// Studies scored.
    pub studies: usize,
    /// Of them, studies with a lesion.
    pub positives: usize,
    /// Mean Dice over the studies with a lesion.
    pub dice_positive: Option<f64>,
    /// Mean lesion-wise F1.
    pub lesion_f1: Option<f64>,
    /// Lesion-wise sensitivity.
    pub lesion_sensitivity: Option<f64>,
    /// False-positive lesions per study.
    pub fp_lesions_per_study: f64,
    /// Patient-level sensitivity.
    pub patient_sensitivity: Option<f64>,
    /// Patient-level specificity.
    pub patient_specificity: Option<f64>,
}

/// What the adaptation card needs to know.
#[derive(Debug, Clone, Default)]
pub struct AdaptationCard {
    /// Mode name (`supervised`, `decoder`, `unsupervised`, …).
    pub mode: String,
    /// True for the label-free (entropy) objective.
    pub unsupervised: bool,
    /// The base model folder.
    pub base_model: String,
    /// What the base model was trained on (its plan's lines).
    pub base_training_data: Vec<String>,
    /// True when the base model saw synthetic data only.
    pub base_synthetic_only: bool,
    /// True when every site folder is synthetic.
    pub site_synthetic: bool,
    /// The site folders.
    pub data: Vec<String>,
    /// Studies drawn, and the seed of the draw.
    pub n: usize,
    /// Seed of the draw and of training.
    pub seed: u64,
    /// Studies adapted on.
    pub fit: usize,
    /// Studies held out.
    pub held: usize,
    /// Held-out studies with labels.
    pub held_labelled: usize,
    /// Trainable parameters, and all parameters.
    pub trainable: usize,
    /// All parameters of the network.
    pub params: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Planned epochs, steps per epoch and batch.
    pub epochs: usize,
    /// Steps per epoch.
    pub steps_per_epoch: usize,
    /// Patches per step.
    pub batch: usize,
    /// Early-stopping patience; `None` with `--no-holdout`.
    pub patience: Option<usize>,
    /// Epochs run.
    pub epochs_run: usize,
    /// True when early stopping ended the run.
    pub stopped_early: bool,
    /// Epoch kept (0: the base weights unchanged).
    pub best_epoch: usize,
    /// Held-out validation figure of the kept epoch (Dice, or −entropy when unsupervised).
    pub best_score: f64,
    /// The same figure for the base weights.
    pub baseline: Option<f64>,
    /// True when the base model's operating points were copied.
    pub ops_copied: bool,
    /// Target voxel size of the (unchanged) plan.
    pub spacing_mm: [f64; 3],
    /// Held-out scores of the base and of the adapted model, when some held-out study has a
    /// label.
    pub before_after: Option<(HeldOutScores, HeldOutScores)>,
    /// The command line that made it.
    pub command: String,
}

fn f3(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".into(), |v| format!("{v:.3}"))
}

/// The card as Markdown.
#[must_use]
pub fn adaptation_card(c: &AdaptationCard) -> String {
    let mut s = String::new();
    let synth_note = match (c.base_synthetic_only, c.site_synthetic) {
        (true, true) => "**Trained and adapted on synthetic data only.** Its numbers say nothing about real patients.\n\n",
        (true, false) => "**The base model was trained on synthetic data only**; only the adaptation used the site's data.\n\n",
        (false, true) => "**The adaptation used synthetic data only.**\n\n",
        (false, false) => "",
    };
    let _ = write!(
        s,
        "# Adapted model ({} mode)\n\nRESEARCH USE ONLY. Not a medical device; not for diagnosis or treatment decisions.\n\n{synth_note}",
        c.mode
    );
    s.push_str("## Provenance\n\n");
    let _ = writeln!(
        s,
        "- Base model: `{}`, trained on: {}",
        c.base_model,
        c.base_training_data.join(", ")
    );
    let _ = writeln!(
        s,
        "- Site data: {} — N = {} studies drawn (seed {}), {} adapted on, {} held out ({} with labels)",
        c.data
            .iter()
            .map(|d| format!("`{d}`"))
            .collect::<Vec<_>>()
            .join(", "),
        c.n,
        c.seed,
        c.fit,
        c.held,
        c.held_labelled
    );
    let _ = writeln!(
        s,
        "- Mode: `{}` — {} of {} parameters trainable; objective {}; AdamW lr {} (warm-up, poly decay), {} epochs × {} steps, batch {}, patience {}",
        c.mode,
        c.trainable,
        c.params,
        if c.unsupervised {
            "mean prediction entropy (TENT; no labels)"
        } else {
            "Dice + BCE"
        },
        c.lr,
        c.epochs,
        c.steps_per_epoch,
        c.batch,
        c.patience
            .map_or_else(|| "none (--no-holdout)".to_string(), |p| p.to_string())
    );
    if c.patience.is_none() {
        let _ = writeln!(
            s,
            "- Ran {} epochs on all {} studies (--no-holdout: nothing held out, no early stopping); kept the last epoch",
            c.epochs_run, c.fit
        );
    } else {
        let _ = writeln!(
            s,
            "- Ran {} epochs{}; kept epoch {} (0 = the base weights unchanged); held-out {} on the model's grid {:.4} (base {})",
            c.epochs_run,
            if c.stopped_early { " (early stop)" } else { "" },
            c.best_epoch,
            if c.unsupervised { "−entropy" } else { "Dice" },
            c.best_score,
            c.baseline.map_or_else(|| "n/a".into(), |v| format!("{v:.4}"))
        );
    }
    let _ = write!(
        s,
        "- Operating points: {}\n- Preprocessing and network: unchanged from the base model (plan.json; spacing {:?} mm)\n\n",
        if c.ops_copied {
            "copied from the base model (thresholds on the patient score), not recalibrated: with a few held-out studies a 95%/99%-sensitivity threshold cannot be estimated. Recalibrate with `strokeseg calibrate --model OUT --data SITE_VALIDATION` once the site has enough labelled studies."
        } else {
            "none (the base model had none); run `strokeseg calibrate`."
        },
        c.spacing_mm
    );
    s.push_str("## Before / after on the held-out studies\n\n");
    match &c.before_after {
        Some((b, f)) => {
            let _ = write!(
                s,
                "{} studies ({} with a lesion). Scored with `strokeseg-eval` (ISLES'22 definitions); patient call = any predicted lesion.\n\n",
                f.studies, f.positives
            );
            s.push_str("| metric | base | adapted |\n|---|---|---|\n");
            type Getter = fn(&HeldOutScores) -> Option<f64>;
            let rows: [(&str, Getter); 6] = [
                ("Dice (studies with a lesion)", |s| s.dice_positive),
                ("lesion-wise F1", |s| s.lesion_f1),
                ("lesion-wise sensitivity", |s| s.lesion_sensitivity),
                ("false-positive lesions / study", |s| {
                    Some(s.fp_lesions_per_study)
                }),
                ("patient sensitivity", |s| s.patient_sensitivity),
                ("patient specificity", |s| s.patient_specificity),
            ];
            for (name, g) in rows {
                let _ = writeln!(s, "| {name} | {} | {} |", f3(g(b)), f3(g(f)));
            }
            let _ = writeln!(
                s,
                "\nWith {} held-out studies these numbers are noisy; `adapt_metrics.json` has the full summaries with bootstrap intervals.",
                f.studies
            );
        }
        None if c.patience.is_none() => s.push_str(
            "Nothing was held out (--no-holdout): score the model on studies it has not seen with `strokeseg validate --model OUT --data DIR`.\n",
        ),
        None => s.push_str("No held-out study has a label: no before/after metrics.\n"),
    }
    let _ = write!(s, "\n## Reproduce\n\n```\n{}\n```\n", c.command);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card() -> AdaptationCard {
        AdaptationCard {
            mode: "decoder".into(),
            base_model: "models/base".into(),
            base_training_data: vec!["a (SYNTHETIC)".into()],
            base_synthetic_only: true,
            data: vec!["site".into()],
            n: 10,
            fit: 8,
            held: 2,
            held_labelled: 2,
            patience: Some(3),
            epochs_run: 4,
            best_epoch: 2,
            best_score: 0.5,
            command: "strokeseg adapt --model models/base".into(),
            ..AdaptationCard::default()
        }
    }

    #[test]
    fn says_what_it_was_trained_on_and_the_before_after_table() {
        let mut c = card();
        let b = HeldOutScores {
            studies: 2,
            positives: 1,
            dice_positive: Some(0.25),
            ..HeldOutScores::default()
        };
        let f = HeldOutScores {
            dice_positive: Some(0.5),
            ..b.clone()
        };
        c.before_after = Some((b, f));
        let s = adaptation_card(&c);
        assert!(s.contains("RESEARCH USE ONLY"));
        assert!(s.contains("**The base model was trained on synthetic data only**"));
        assert!(
            s.contains("| Dice (studies with a lesion) | 0.250 | 0.500 |"),
            "{s}"
        );
        assert!(s.contains("| lesion-wise F1 | n/a | n/a |"), "{s}");
        assert!(s.contains("kept epoch 2"));
        assert!(s.ends_with("strokeseg adapt --model models/base\n```\n"));
    }

    #[test]
    fn without_holdout_or_labels_it_says_why_there_is_no_table() {
        let mut c = card();
        c.patience = None;
        let s = adaptation_card(&c);
        assert!(s.contains("patience none (--no-holdout)"));
        assert!(s.contains("Nothing was held out (--no-holdout)"));
        let s = adaptation_card(&card());
        assert!(s.contains("No held-out study has a label"));
        assert!(!s.contains("| metric |"));
    }
}
