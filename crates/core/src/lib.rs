//! Core image types for strokeseg: a 3-D image on a voxel grid with a voxel→world affine.
//!
//! Owns: [`Image`] (and its aliases [`Volume`] for f32 intensities and [`Mask`] for booleans),
//! [`Grid`] geometry, reorientation to canonical RAS+ axis order, and resampling by world
//! coordinates. Must not touch: file formats (see `strokeseg-io`) or any model code.
//!
//! # Axis order and world space (defined once, here)
//! Arrays are indexed `[i, j, k]`, the NIfTI voxel axes (i fastest on disk). The affine maps a
//! voxel centre `(i, j, k, 1)` to world millimetres in RAS+, as NIfTI and nibabel do: +x towards
//! the patient's right, +y anterior, +z superior. DICOM's LPS+ patient space is converted at
//! the reader (x and y negated) so that nothing downstream ever sees LPS.
#![warn(missing_docs)]

mod grid;
mod image;
mod reorient;
mod resample;
mod stats;

pub use grid::{Grid, GridError};
pub use image::{percentile_in_place, Image, Mask, Volume};
pub use reorient::{axis_codes, Reoriented};
pub use resample::{sample_trilinear, Interp};
pub use stats::{dice, otsu_threshold};
