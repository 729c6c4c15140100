//! The strokeseg model: a residual 3-D U-Net (nnU-Net style) in burn 0.22, its loss, one
//! training step, inference on patches, and saving/loading.
//!
//! Owns: the network ([`UNet3dConfig`], [`UNet3d`]), [`dice_bce_loss`], [`Trainer`] (with its
//! AdamW state saved/restored for exact resume, partial fine-tuning via [`TrainableParts`], and
//! the entropy objective [`binary_entropy_with_logits`]), [`predict`], [`save`]/[`load`], the
//! CPU device ([`cpu_device`]) and the device choice (`device.rs`: [`DeviceChoice`],
//! [`run_device`]; libtorch CPU/CUDA with the optional `tch` feature), the weights as
//! SafeTensors for other frameworks
//! ([`export_safetensors`], [`import_safetensors`]). Must not touch: file formats
//! of images (`strokeseg-io`), preprocessing and patch sampling (`strokeseg-preproc`), the CLI.
//!
//! Arrays cross the boundary as `ndarray::Array5<f32>` in `[B, C, D, H, W]` order, `D` the
//! slice axis.
//!
//! # Seeding
//!
//! Initial weights come from a ChaCha8 generator seeded with [`UNet3dConfig::seed`], not from
//! burn's RNG: burn 0.22 parameters initialise lazily on first access, and the flex backend's
//! `Device::seed` sets one process-wide `StdRng` shared by all threads, so burn-initialised
//! weights would depend on access order and concurrent work. The same config gives bit-identical
//! weights. The forward pass draws nothing (no dropout); data order and augmentation are the
//! caller's. On the flex device training was also bit-reproducible in the tests (same seed, data
//! and steps → same losses and weights); tensors of ≥ 4 Mi elements are summed by flex with a
//! rayon reduction whose combining order may vary, so large batches may differ in the last bits.
//!
//! # Size and cost
//!
//! With 2 input channels, base 16 and one anisotropic level, on a 1×2×32×128×128 patch:
//! depth 3 has 1,402,881 parameters and 64.6 GFLOP per forward, depth 4 (the default) 3,796,609
//! and 70.7 GFLOP ([`UNet3dConfig::params`], [`UNet3dConfig::flops`]).
//! `cargo run --release -p strokeseg-model --example speed` times it on this machine.
//!
//! # Saved model
//!
//! A directory with `config.json` ([`UNet3dConfig`], burn `Config` JSON) and `model.bpk` (burn's
//! burnpack record of every parameter by module path, f32, native byte order): about
//! 4 × [`UNet3dConfig::params`] bytes (5.6 MB for base 16 / depth 3, 15.2 MB for depth 4).
//! The record does not name a device: weights saved from one device load onto any other
//! (tests/tch.rs checks flex ↔ libtorch with the `tch` feature).
#![warn(missing_docs)]

mod device;
mod export;
mod loss;
mod train;
mod unet;

use std::path::{Path, PathBuf};

use burn::config::Config;
use burn::module::Module;
use burn::store::ModuleRecord;
pub use device::{
    run_device, run_device_choice, set_run_device, DeviceChoice, DeviceError, TCH_BUILD_HINT,
};
pub use export::{
    export_safetensors, import_safetensors, logits, named_tensors, read_safetensors, NamedTensor,
    BURN_VERSION,
};
pub use loss::{
    bce_with_logits, dice_bce_loss, lesion_masks, lesionwise_dice_loss, masked_dice_bce_loss,
    soft_dice_loss, DICE_SMOOTH,
};
pub use train::{binary_entropy_with_logits, predict, to_array, to_tensor, Trainer, WEIGHT_DECAY};
pub use unet::{TrainableParts, UNet3d, UNet3dConfig, LEAKY_SLOPE, NORM_EPS};

/// burn's device type, re-exported so callers need not depend on burn to name one.
pub use burn::tensor::Device;

/// File name of the hyper-parameters in a saved model directory.
pub const CONFIG_FILE: &str = "config.json";
/// File name of the weights (burnpack) in a saved model directory.
pub const WEIGHTS_FILE: &str = "model.bpk";
/// File name of the AdamW state (burnpack) beside a training checkpoint's weights.
pub const OPTIMIZER_FILE: &str = "optimizer.bpk";

/// Errors of this crate; every file error names the file.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// Hyper-parameters that cannot build a model.
    #[error("invalid model config: {0}")]
    InvalidConfig(String),
    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// `config.json` is missing or malformed.
    #[error("{}: bad model config: {msg}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// The cause.
        msg: String,
    },
    /// The weights file is missing, malformed, or does not fit the config.
    #[error("{}: bad model weights: {msg}", path.display())]
    Weights {
        /// The file.
        path: PathBuf,
        /// The cause.
        msg: String,
    },
}

/// The CPU device (burn's pure-Rust flex backend, multi-threaded with rayon). Commands use
/// [`run_device`] instead, which is this unless `--device` chose another.
pub fn cpu_device() -> Device {
    Device::flex()
}

/// Writes `dir/config.json` and `dir/model.bpk` (creating `dir`), replacing earlier files.
pub fn save(model: &UNet3d, config: &UNet3dConfig, dir: &Path) -> Result<(), ModelError> {
    config.validate()?;
    std::fs::create_dir_all(dir).map_err(|source| ModelError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let config_path = dir.join(CONFIG_FILE);
    config.save(&config_path).map_err(|source| ModelError::Io {
        path: config_path,
        source,
    })?;
    let weights_path = dir.join(WEIGHTS_FILE);
    model
        .valid()
        .into_record()
        .save(&weights_path)
        .map_err(|e| ModelError::Weights {
            path: weights_path,
            msg: e.to_string(),
        })
}

/// Reads a directory written by [`save`] onto `device` (no autodiff).
pub fn load(dir: &Path, device: &Device) -> Result<(UNet3d, UNet3dConfig), ModelError> {
    let config_path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&config_path).map_err(|source| ModelError::Io {
        path: config_path.clone(),
        source,
    })?;
    let config: UNet3dConfig = serde_json::from_str(&text).map_err(|e| ModelError::Config {
        path: config_path.clone(),
        msg: e.to_string(),
    })?;
    config.validate().map_err(|e| ModelError::Config {
        path: config_path,
        msg: e.to_string(),
    })?;
    let weights_path = dir.join(WEIGHTS_FILE);
    if !weights_path.is_file() {
        return Err(ModelError::Weights {
            path: weights_path,
            msg: "file not found".into(),
        });
    }
    let bad = |msg: String| ModelError::Weights {
        path: weights_path.clone(),
        msg,
    };
    let record = ModuleRecord::load(&weights_path).map_err(|e| bad(e.to_string()))?;
    let model = config
        .init(&device.clone().without_autodiff())
        .try_load_record(record)
        .map_err(|e| bad(e.to_string()))?;
    Ok((model, config))
}
