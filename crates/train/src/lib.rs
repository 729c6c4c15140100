//! Training for strokeseg: labelled data in, a model folder out (plan, weights, operating
//! points, metrics, model card).
//!
//! Owns: data discovery and loading, patch sampling and augmentation, the training loop with
//! validation and checkpoints, calibration of operating points, adaptation. Must not touch:
//! serving or report formats.
#![warn(missing_docs)]

pub mod data;
pub mod plan;
pub mod sampler;
pub mod training;

pub use plan::Plan;
pub use training::{train, TrainConfig, TrainState};
