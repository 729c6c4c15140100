//! MNI space: the ICBM152 2009a tissue template (1 mm, from the copy built into the binary or a
//! folder the user names, or a small analytic phantom for tests) and the coarse regions of MNI
//! coordinates (supratentorial, brainstem, cerebellum).
//!
//! Owns: what every stage that asks "where is this in MNI space" reads — the generator draws
//! anatomy from the template, registration aligns studies to it, measurement and the atlas name
//! regions by it. Must not touch: studies, registration or synthesis themselves.
#![warn(missing_docs)]

pub mod regions;
pub mod template;

pub use regions::{region_at, Region};
pub use template::{Template, TemplateError};
