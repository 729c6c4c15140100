//! `strokeseg synth`: realistic multi-site synthetic DWI studies built on the real MNI
//! ICBM152 2009a template, with known lesions and mimics — training and test data that says
//! it is synthetic.
//!
//! Owns: subject anatomy (pose, scale, warp, atrophy), tissue physics, lesions
//! and mimics, scanner sites and acquisition simulation, and the dataset writer. Must not
//! touch: models or reports. Reads and writes images only through `strokeseg-io`.
//!
//! Data flow of one study: [`subject`] + [`lesions`] → [`physics`] (template-space S0/DWI
//! maps) → [`render`] (native grid, slice profile) → [`acquire`] (artefacts, bias, Rician
//! noise, integers, ADC) → [`truth`] (lesion mask) → [`dataset`]/[`manifest`] (files).
#![warn(missing_docs)]

pub mod acquire;
pub mod dataset;
pub mod lesions;
pub mod manifest;
pub mod physics;
pub mod render;
pub mod site;
pub mod subject;
pub mod truth;

pub use strokeseg_mni::{region_at, Region, Template, TemplateError};
/// The template and the regions live in `strokeseg-mni` (MNI space is not the generator's
/// alone); re-exported so that the generator's paths stay as they were.
pub use strokeseg_mni::{regions, template};
