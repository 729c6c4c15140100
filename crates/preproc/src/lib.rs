//! Preprocessing for strokeseg: brain masking (and, later, normalisation and resampling with
//! undo records).
//!
//! Owns: operations that turn a loaded study into model-ready arrays. Must not touch: file
//! formats (`strokeseg-io`) or model code.
#![warn(missing_docs)]

mod brain_mask;
mod denoise;
mod mirror;
mod morph;
mod prepare;

pub use brain_mask::{brain_mask, BrainMaskConfig};
pub use denoise::{
    harmonise_noise, relative_noise, sigma_for, smooth_inplane, NoiseInfo, DEFAULT_DENOISE_ABOVE,
};
pub use mirror::{fit_midplane, reflect_image, MidPlane};
pub use morph::{dilate_mm, erode_mm, fill_holes, largest_component};
pub use prepare::{channel_names, prepare, PrepConfig, Prepared, CHANNELS, MIRROR_CHANNEL};
