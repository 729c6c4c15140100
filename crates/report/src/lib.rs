//! Reports for people and machines: the key-image page, overlay montages, every chart
//! (plotters), the typed `report.json` and its JSON Schema, and the model cards that training
//! and adaptation runs write.
//!
//! Owns: turning volumes, masks and results into pictures and documents. Must not touch:
//! models, file input.
#![warn(missing_docs)]

pub mod adapt_card;
pub mod card;
pub mod json;
pub mod keyimages;
pub mod montage;
pub mod names;
pub mod plot;
pub mod text;

pub use montage::{montage, pick_slices, Row};
