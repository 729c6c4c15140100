//! The model card a training run writes beside its weights (`MODEL_CARD.md`): what the model
//! learned from (and whether any of it was real), how it was trained, what its validation
//! said, and what has not been measured yet. Numbers only from the run itself; nothing here
//! claims accuracy on patients.

use std::fmt::Write;

/// How hard negatives were mined by the model in training (the train crate's `MineConfig`,
/// restated here because this crate sits below it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mining {
    /// Share of patches centred on a mined false call.
    pub share: f64,
    /// Probability from which a voxel counted as called.
    pub threshold: f64,
    /// Training studies scored before every epoch.
    pub studies: usize,
    /// Calls within this many mm of a labelled voxel were not mined (0: all were).
    pub margin_mm: f64,
}

/// What a card needs to know about a training run (plain values, so the card does not depend
/// on the training crate).
#[derive(Debug, Clone)]
pub struct TrainingCard {
    /// Where the run was written.
    pub out: String,
    /// Training data as the plan records it, one line per source.
    pub training_data: Vec<String>,
    /// True when every study was synthetic (template-generated).
    pub synthetic_only: bool,
    /// Validation data, one line per source.
    pub validation_data: Vec<String>,
    /// Sampling weights per source (empty: every study equally likely).
    pub source_weights: Vec<(String, f64)>,
    /// The model it started from, when fine-tuned.
    pub init: Option<String>,
    /// Network: parameters, base channels, depth.
    pub params: usize,
    /// Network base channels.
    pub base_channels: usize,
    /// Network depth.
    pub depth: usize,
    /// A third input: the DWI mirrored through the brain's fitted mid-sagittal plane.
    pub mirror_channel: bool,
    /// Target voxel size (mm) and how it was chosen.
    pub spacing_mm: [f64; 3],
    /// How the spacing was planned.
    pub spacing_method: String,
    /// Relative DWI noise above which studies are smoothed in-plane before the network, in
    /// training and in use (`None`: never).
    pub denoise_above: Option<f64>,
    /// Patch size and batch.
    pub patch: [usize; 3],
    /// Patches per step.
    pub batch: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Share of hard-negative patches.
    pub hard_negatives: f64,
    /// Hard negatives drawn level by level in this many axial slabs (0: voxel by voxel).
    pub hard_negative_levels: usize,
    /// Largest amplitude (|ln f|) of the coil-shading augmentation on DWI (0: none).
    pub bias_field: f64,
    /// Largest relative noise of the low-SNR augmentation (0: none).
    pub low_snr: f64,
    /// Model-mined hard negatives; `None`: none mined.
    pub mined: Option<Mining>,
    /// Share of lesion-centred patches drawn lesion by lesion.
    pub lesion_sampling: f64,
    /// Trained on peak-normalised labels.
    pub peak_labels: bool,
    /// Weight of the lesion-wise Dice added to the loss (0: none).
    pub lesion_loss: f64,
    /// Where the network ran (device and backend).
    pub device: String,
    /// Epochs and steps completed.
    pub epochs: usize,
    /// Steps completed.
    pub steps: usize,
    /// Wall-clock seconds of the epochs (the train log's sum).
    pub seconds: f64,
    /// Best validation Dice and its epoch (0: the start weights of a fine-tuning run).
    pub best: (f64, usize),
    /// Validation Dice of the start weights of a fine-tuning run.
    pub baseline: Option<f64>,
    /// True when early stopping ended the run.
    pub stopped_early: bool,
}

/// The card as Markdown.
#[must_use]
pub fn training_card(c: &TrainingCard) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Model card: `{}`\n", c.out);
    s.push_str(
        "RESEARCH USE ONLY. Not a medical device; not for diagnosis or treatment decisions.\n\n",
    );
    if c.synthetic_only {
        s.push_str(
            "**Trained on synthetic data only** (`strokeseg synth`). Its validation numbers \
             say how it does on the generator's studies, nothing about real patients.\n\n",
        );
    } else {
        s.push_str(
            "Trained on data that includes real studies (see below); synthetic parts are \
             marked SYNTHETIC.\n\n",
        );
    }
    s.push_str("## Training data\n\n");
    for d in &c.training_data {
        let _ = writeln!(s, "- {d}");
    }
    if !c.source_weights.is_empty() {
        let w: Vec<String> = c
            .source_weights
            .iter()
            .map(|(n, w)| format!("`{n}` {w}"))
            .collect();
        let _ = writeln!(
            s,
            "- sampling weights per source: {} (unlisted sources 1)",
            w.join(", ")
        );
    }
    s.push_str("\nValidation (model selection, not a test):\n\n");
    for d in &c.validation_data {
        let _ = writeln!(s, "- {d}");
    }
    s.push_str("\n## Training\n\n");
    if let Some(init) = &c.init {
        let _ = writeln!(s, "- fine-tuned from `{init}`");
    }
    let _ = writeln!(
        s,
        "- 3-D U-Net, {} parameters (base channels {}, depth {}); input DWI + ADC{} at {:?} mm ({})",
        c.params,
        c.base_channels,
        c.depth,
        if c.mirror_channel {
            " + the DWI mirrored through the brain's fitted mid-sagittal plane"
        } else {
            ""
        },
        c.spacing_mm,
        c.spacing_method
    );
    let _ = writeln!(
        s,
        "- {}",
        match c.denoise_above {
            Some(t) => format!(
                "studies with a relative DWI noise above {t} are smoothed in-plane to half of it before the network, in training and in use"
            ),
            None => "no noise smoothing of the input".into(),
        }
    );
    let _ = writeln!(
        s,
        "- patches {:?} × batch {}, AdamW peak lr {} (warm-up, poly decay), hard-negative share {}{}",
        c.patch,
        c.batch,
        c.lr,
        c.hard_negatives,
        if c.hard_negative_levels > 0 {
            format!(" (drawn level by level, {} axial slabs)", c.hard_negative_levels)
        } else {
            String::new()
        }
    );
    let _ = writeln!(
        s,
        "- lesion-centred patches drawn lesion by lesion: share {}; labels: {}",
        c.lesion_sampling,
        if c.peak_labels {
            "peak-normalised (a sub-voxel lesion is 1 at its centre)"
        } else {
            "lesion fraction per voxel"
        }
    );
    if c.lesion_loss > 0.0 {
        let _ = writeln!(
            s,
            "- loss: Dice + cross-entropy over the batch, plus {} × the mean over the patches' lesions of each lesion's own Dice (lesion-wise, every lesion weighs alike)",
            c.lesion_loss
        );
    }
    if c.bias_field > 0.0 {
        let _ = writeln!(
            s,
            "- coil-shading augmentation: a smooth random field on each patch's DWI, |ln f| up to {}",
            c.bias_field
        );
    }
    if let Some(m) = c.mined {
        let away = if m.margin_mm > 0.0 {
            format!(
                ", leaving out calls within {} mm of a labelled voxel",
                m.margin_mm
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "- model-mined hard negatives: {} training studies scored before every epoch by the model then trained; a share {} of the patches centred on its false calls there (probability ≥ {:.2} where the label is 0{away})",
            m.studies, m.share, m.threshold
        );
    }
    if c.low_snr > 0.0 {
        let _ = writeln!(
            s,
            "- low-SNR augmentation: on half the patches, relative noise up to {} on the DWI, carried into the ADC",
            c.low_snr
        );
    }
    let _ = writeln!(
        s,
        "- {} epochs, {} steps, {:.1} h on {}{}",
        c.epochs,
        c.steps,
        c.seconds / 3600.0,
        c.device,
        if c.stopped_early {
            " (stopped early)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        s,
        "- best validation Dice {:.3} at epoch {}{} (the weights kept)",
        c.best.0,
        c.best.1,
        c.baseline
            .map_or_else(String::new, |b| format!("; start weights {b:.3}"))
    );
    s.push_str(
        "\n## Not measured by training\n\n\
         - Operating points: none yet. `strokeseg calibrate --model DIR --data VALIDATION` \
         sets the 95%/99%-sensitivity thresholds of the patient call (include real negatives).\n\
         - Test accuracy: `strokeseg validate --model DIR --data TEST --out DIR/test` on studies \
         the run never saw; real studies scored only by a model that never saw them.\n",
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(synthetic_only: bool) -> TrainingCard {
        TrainingCard {
            out: "runs/x".into(),
            training_data: vec!["data/a".into(), "on the fly: strokeseg synth".into()],
            synthetic_only,
            validation_data: vec!["data/v".into()],
            source_weights: vec![("a".into(), 2.0)],
            init: None,
            params: 1234,
            base_channels: 16,
            depth: 3,
            mirror_channel: synthetic_only,
            spacing_mm: [1.6, 1.6, 4.0],
            spacing_method: "median".into(),
            denoise_above: Some(0.12),
            patch: [16, 64, 64],
            batch: 2,
            lr: 1e-3,
            hard_negatives: 0.5,
            hard_negative_levels: 0,
            bias_field: 0.3,
            low_snr: 0.2,
            mined: None,
            lesion_sampling: 0.5,
            peak_labels: true,
            lesion_loss: 0.0,
            device: "cpu".into(),
            epochs: 3,
            steps: 300,
            seconds: 7200.0,
            best: (0.42, 2),
            baseline: None,
            stopped_early: false,
        }
    }

    #[test]
    fn the_card_says_what_the_model_learned_from_and_what_is_not_measured() {
        let s = training_card(&card(true));
        assert!(s.contains("RESEARCH USE ONLY"));
        assert!(s.contains("**Trained on synthetic data only**"));
        assert!(s.contains("- on the fly: strokeseg synth"));
        assert!(s.contains("`a` 2"));
        assert!(s.contains("2.0 h on cpu"), "{s}");
        assert!(s.contains("best validation Dice 0.420 at epoch 2"));
        assert!(s.contains("drawn lesion by lesion: share 0.5; labels: peak-normalised"));
        assert!(s.contains("coil-shading augmentation: a smooth random field on each patch's DWI, |ln f| up to 0.3"));
        assert!(s.contains("Operating points: none yet"));
        assert!(
            s.contains("input DWI + ADC + the DWI mirrored through"),
            "{s}"
        );
        assert!(!training_card(&card(false)).contains("mirrored"));
        assert!(
            s.contains("relative DWI noise above 0.12 are smoothed in-plane"),
            "{s}"
        );
        let real = training_card(&card(false));
        assert!(!real.contains("synthetic data only"));
        assert!(!real.contains("model-mined"));
        assert!(!real.contains("lesion-wise"));
        let blob = training_card(&TrainingCard {
            lesion_loss: 0.5,
            ..card(false)
        });
        assert!(
            blob.contains(
                "plus 0.5 × the mean over the patches' lesions of each lesion's own Dice"
            ),
            "{blob}"
        );
        let mined = training_card(&TrainingCard {
            mined: Some(Mining {
                share: 0.2,
                threshold: f64::from(0.3f32),
                studies: 12,
                margin_mm: 0.0,
            }),
            ..card(false)
        });
        assert!(
            mined.contains(
                "model-mined hard negatives: 12 training studies scored before every epoch"
            ) && mined.contains("share 0.2 of the patches")
                && mined.contains("probability ≥ 0.30 where the label is 0)"),
            "{mined}"
        );
        let away = training_card(&TrainingCard {
            mined: Some(Mining {
                share: 0.2,
                threshold: 0.3,
                studies: 12,
                margin_mm: 8.0,
            }),
            ..card(false)
        });
        assert!(
            away.contains(
                "where the label is 0, leaving out calls within 8 mm of a labelled voxel)"
            ),
            "{away}"
        );
    }
}
