//! `strokeseg synth`: realistic multi-site synthetic DWI studies built on the real MNI
//! ICBM152 2009a template, with known lesions and mimics — training and test data that says
//! it is synthetic.
//!
//! Owns: the template, subject anatomy (pose, scale, warp, atrophy), tissue physics, lesions
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
pub mod regions;
pub mod render;
pub mod site;
pub mod subject;
pub mod template;
pub mod truth;

pub use regions::{region_at, Region};
pub use template::{Template, TemplateError};
