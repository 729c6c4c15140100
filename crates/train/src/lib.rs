//! Training for strokeseg: labelled data in, a model folder out (plan, weights, operating
//! points, metrics, model card).
//!
//! Owns: data discovery and loading, planning a new model's plan (`strokeseg_infer::Plan`;
//! the target spacing planned from the training set, [`spacing`]), patch sampling and augmentation, the training loop with
//! validation, checkpoints, exact resume and early stopping (also used to fine-tune or adapt a
//! loaded model, [`train_from`]), studies made on the fly while a run goes ([`stream`]), hard negatives mined by the model in training ([`mining`]), subset selection for learning curves and adaptation
//! ([`subsets`]). Must not touch: serving, scoring or report formats.
#![warn(missing_docs)]

pub mod data;
mod error;
pub mod lesions;
pub mod mining;
pub mod sampler;
pub mod spacing;
pub mod stream;
pub mod subsets;
pub mod training;

pub use error::TrainError;
pub use training::{train, train_from, Objective, Start, TrainConfig, TrainData, TrainState};
