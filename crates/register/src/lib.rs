//! Registration of a DWI study to the MNI ICBM152 2009a template: 12-parameter affine, then
//! an optional smooth non-linear refinement (on by default).
//!
//! Owns: the registration template (a DWI-like image synthesised from the template's tissue
//! maps, [`RegTemplate`]), the 12-parameter affine search ([`register`]), the displacement
//! field and its optimiser ([`Warp`], [`refine`]) and the quality measures that mark a result
//! as failed ([`Quality`], [`Limits`]). Must not touch: atlases, lesions, reports or file
//! formats (callers read images through `strokeseg-io` and write the field themselves).
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
//! - **Non-linear refinement** ([`refine`], [`WarpConfig`]; off with
//!   `RegConfig.warp.enabled = false` or `--affine-only`): a displacement field on a 4 mm
//!   grid over the template, applied before the affine (template point `q` is imaged at
//!   `affine · (q + d(q))`), found by demons (symmetric force, Gaussian-regularised: σ = 4 mm
//!   after each update, |d| ≤ 8 mm), 60 iterations at 4 mm then 15 at 2 mm. Two channels:
//!   the study's intensities mapped to template-like values through the joint histogram at
//!   the current alignment (conditional mean of the template per study bin, so SSD works
//!   across the DWI ↔ template contrast), and the study's brain mask against the template
//!   brain (weight 0.5; aligns the outlines, which intensities barely constrain). The study
//!   is skull-stripped with its own mask and voxels brighter than 1.5 × its brain median
//!   (infarcts, artefacts) exert no intensity force. Why demons and not B-splines + NMI: one
//!   resampling per iteration and no cost derivatives, fast enough for the 3 s budget. Kept
//!   only when it raises the 2 mm NMI and does not fold (Jacobian > 0); otherwise the result
//!   says "discarded" and stays affine. Never run on a failed affine, and the verdict is
//!   the affine's, so a field cannot rescue a bad registration. Hand-written because no
//!   Rust crate does deformable registration; ndarray-ndimage smooths, rayon parallelises.
//!   Measured gains (synthetic error vs the full warped truth, ADS masks) are in
//!   docs/location.md.
#![warn(missing_docs)]

pub mod affine;
pub mod metric;
pub mod optim;
pub mod refine;
mod register;
pub mod template;
pub mod warp;

pub use refine::WarpConfig;
pub use register::{
    judge, pull_mask, pull_mask_with, register, Limits, Quality, RegConfig, Registration,
};
pub use template::RegTemplate;
pub use warp::{Nonlinear, Warp};
