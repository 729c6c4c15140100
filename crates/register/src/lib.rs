//! Affine registration of a DWI study to the MNI ICBM152 2009a template.
//!
//! Owns: the registration template (a DWI-like image synthesised from the template's tissue
//! maps, [`RegTemplate`]), the 12-parameter affine search ([`register`]) and the quality
//! measures that mark a result as failed ([`Quality`], [`Limits`]). Must not touch: atlases,
//! lesions, reports or file formats (callers read images through `strokeseg-io`).
//!
//! # Method, and why
//! - **Fixed image**: a skull-stripped b≈1000 DWI-like template, `1.0·GM + 0.85·WM + 0.2·CSF`
//!   from the ICBM152 2009a tissue fractions, averaged to 2 mm. DWI trace is what every
//!   study has (b0 and ADC are optional), and its contrast (GM ≳ WM ≫ CSF) is stable across
//!   b-values.
//! - **Similarity**: normalised mutual information over sample points of the template
//!   brain plus an 8 mm margin of background. MI rather than cross-correlation because the
//!   study-to-template intensity relation is not linear: skull-on studies have scalp and
//!   orbit signal where the template is 0, bright infarcts have no template counterpart,
//!   and bias fields differ. The *normalised* form is insensitive to how many points overlap
//!   the study, which matters for clinical studies with a partial field of view.
//! - **Search**: starting points from the brain mask's moments (`strokeseg-measure`'s
//!   [`strokeseg_measure::MniApprox`], which handles pitch and cut-off coverage), ±10° pitch
//!   variants and the brain centroid; a 9-parameter search (translation, rotation, scale) at
//!   8 mm from each, the best continued with all 12 parameters at 4 mm and 2 mm (study
//!   smoothed to match each level). The optimiser is a coordinate search with parabolic
//!   steps ([`optim`]): hand-written, since NMI of a histogram has no cheap gradient.
//!   Transform maths uses nalgebra; cost evaluation is split over threads with rayon.
//! - **Quality** (after the search): share of the template brain inside the field of view,
//!   Dice of the template brain with the study's own brain mask, intensity correlation
//!   inside the brain, and the volume ratio. Any outside its [`Limits`] marks the
//!   registration failed, with a reason in words; callers must not use a failed one.
//! - No non-linear refinement: see docs/location.md for the measured affine-only error.
#![warn(missing_docs)]

pub mod affine;
pub mod metric;
pub mod optim;
mod register;
pub mod synth_check;
pub mod template;

pub use register::{judge, pull_mask, register, Limits, Quality, RegConfig, Registration};
pub use template::RegTemplate;
