//! Where a lesion is: atlas loading, the map from MNI ICBM152 2009a to the atlas' own space,
//! and per-lesion shares of brain structures and arterial territories with side, plus a
//! study-level summary ([`Locator`], [`StudyLocation`]).
//!
//! Owns: reading an atlas directory (the JHU structure and arterial-territory atlases,
//! Liu et al., Sci Data 2023, CC BY-SA 4.0; never copied into this repository — the user
//! points `--atlas DIR` or `$STROKESEG_ATLAS` at it), mapping it onto the template once
//! (cached), and turning a lesion mask plus a study→MNI map into shares. Without an atlas,
//! or when registration failed, it falls back to the coarse supratentorial / brainstem /
//! cerebellum rule of `strokeseg_mni::regions` and says so. Must not touch: registration
//! internals (`strokeseg-register`), lesion finding (`strokeseg-measure`), reports.
#![warn(missing_docs)]

pub mod atlas;
pub mod jhu;
pub mod locate;

pub use atlas::{env_dir, Atlas};
pub use jhu::Side;
pub use locate::{locate_lesions, summarize, LesionLocation, Share, Summary};

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use strokeseg_core::{Mask, Volume};
use strokeseg_measure::{Lesion, MniApprox, TemplateMoments};
use strokeseg_mni::Template;
use strokeseg_register::{register, RegConfig, RegTemplate, Registration};

/// Why an atlas or template cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AtlasError {
    /// A required file is absent.
    #[error(
        "atlas folder {dir}: {file} not found (expected the JHU arterial-territory atlas \
         release; see docs/location.md for where to get it)"
    )]
    Missing {
        /// The folder.
        dir: PathBuf,
        /// The missing file.
        file: String,
    },
    /// A file is unreadable or not what we expect.
    #[error("atlas file {path}: {reason}")]
    Bad {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The atlas outline did not register to the template.
    #[error("atlas folder {dir}: cannot map it onto the MNI template: {reason}")]
    Mapping {
        /// The folder.
        dir: PathBuf,
        /// Why.
        reason: String,
    },
    /// The template is missing or bad.
    #[error(transparent)]
    Template(#[from] strokeseg_mni::TemplateError),
}

/// The registration template and, optionally, an atlas: loaded once, used per study.
pub struct Locator {
    /// DWI-like MNI template.
    pub template: RegTemplate,
    /// The atlas, when configured.
    pub atlas: Option<Atlas>,
    /// Options of study registrations (default: affine + non-linear refinement; set
    /// `reg_config.warp.enabled = false` for affine only).
    pub reg_config: RegConfig,
}

/// About the atlas used, for reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AtlasInfo {
    /// Folder it was read from.
    pub dir: String,
    /// Name and licence.
    pub name: String,
    /// Dice of the atlas outline with the template brain after mapping.
    pub mapping_dice: f64,
}

/// How a study's lesions were located.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LocationMethod {
    /// JHU atlas shares (structures, arterial territories) through a passed registration.
    Atlas,
    /// The coarse supratentorial/brainstem/cerebellum rule of MNI coordinates.
    CoarseRule,
}

/// How study coordinates became MNI coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MniMethod {
    /// The study's registration to the template (it passed its checks).
    Registration,
    /// The moments approximation from the brain mask (no registration, or it failed).
    MomentsApproximation,
}

/// Location of a study's lesions, as written into the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StudyLocation {
    /// How the lesions were located.
    pub method: LocationMethod,
    /// How study coordinates became MNI.
    pub mni_map: MniMethod,
    /// Why a fallback was used, in words (empty when none was).
    pub note: String,
    /// The registration, when one was attempted (failed ones included, with the reason).
    pub registration: Option<Registration>,
    /// The atlas, when used.
    pub atlas: Option<AtlasInfo>,
    /// Per lesion, in lesion-table order.
    pub lesions: Vec<LesionLocation>,
    /// Study-level summary.
    pub summary: Summary,
}

/// Name and licence of the JHU atlas, for reports.
pub const JHU_NAME: &str =
    "JHU Digital 3D Brain MRI Arterial Territories Atlas (Liu et al. 2023), CC BY-SA 4.0";

impl Locator {
    /// Loads the template from `template_dir` and, when given, the atlas from `atlas_dir`.
    ///
    /// # Errors
    /// Missing/bad template or atlas files, or an atlas that does not map onto the template.
    pub fn load(template_dir: &Path, atlas_dir: Option<&Path>) -> Result<Locator, AtlasError> {
        let t0 = std::time::Instant::now();
        let t = Template::load(template_dir)?;
        let read = t0.elapsed().as_secs_f64();
        let template = RegTemplate::dwi_like(&t);
        drop(t);
        let built = t0.elapsed().as_secs_f64();
        let atlas = atlas_dir.map(|d| Atlas::load(d, &template)).transpose()?;
        tracing::debug!(
            read,
            built,
            atlas = t0.elapsed().as_secs_f64(),
            "locator loaded (seconds since start: template read, registration template built, atlas loaded)"
        );
        Ok(Locator {
            template,
            atlas,
            reg_config: RegConfig::default(),
        })
    }

    /// Registers a study's DWI (with its brain mask) to the template, with
    /// [`Locator::reg_config`] (its displacement field, when kept, is part of the result and
    /// of every study → MNI lookup made through it).
    #[must_use]
    pub fn register(&self, dwi: &Volume, brain: &Mask) -> Registration {
        register(&self.template, dwi, brain, &self.reg_config)
    }

    /// Locates `lesions` (components of `mask`) given the registration, falling back to the
    /// moments approximation when it failed or is absent.
    #[must_use]
    pub fn describe(
        &self,
        reg: Option<&Registration>,
        brain: &Mask,
        mask: &Mask,
        lesions: &[Lesion],
    ) -> StudyLocation {
        describe(reg, self.atlas.as_ref(), brain, mask, lesions)
    }
}

/// A study world → MNI map.
pub type MniMap<'a> = Box<dyn Fn([f64; 3]) -> [f64; 3] + Sync + 'a>;

/// The study → MNI map to use and how it was made: the registration when it passed, else
/// the moments approximation from the brain mask.
#[must_use]
pub fn mni_map<'a>(reg: Option<&'a Registration>, brain: &Mask) -> (MniMap<'a>, MniMethod) {
    match reg {
        Some(r) if r.ok() => (Box::new(move |p| r.to_mni(p)), MniMethod::Registration),
        _ => {
            let a = MniApprox::fit(brain, &TemplateMoments::mni_icbm152_2009a());
            (
                Box::new(move |p| a.to_mni(p)),
                MniMethod::MomentsApproximation,
            )
        }
    }
}

/// See [`Locator::describe`]; usable without a loaded template (e.g. no template installed).
#[must_use]
pub fn describe(
    reg: Option<&Registration>,
    atlas: Option<&Atlas>,
    brain: &Mask,
    mask: &Mask,
    lesions: &[Lesion],
) -> StudyLocation {
    let (to_mni, map_name) = mni_map(reg, brain);
    let registered = map_name == MniMethod::Registration;
    let use_atlas = if registered { atlas } else { None };
    let mut note = Vec::new();
    match reg {
        None => note.push("no registration (MNI template not installed)".to_string()),
        Some(r) => {
            if let Some(f) = &r.failure {
                note.push(format!("registration failed: {f}"));
            }
        }
    }
    if atlas.is_none() {
        note.push("no atlas configured (--atlas DIR or STROKESEG_ATLAS)".to_string());
    } else if !registered {
        note.push("atlas not used without a passed registration".to_string());
    }
    if use_atlas.is_none() {
        note.push("location from the coarse supratentorial/brainstem/cerebellum rule".to_string());
    }
    let lesions_loc = locate_lesions(mask, lesions, &*to_mni, use_atlas);
    let summary = summarize(&lesions_loc, use_atlas.is_some());
    StudyLocation {
        method: if use_atlas.is_some() {
            LocationMethod::Atlas
        } else {
            LocationMethod::CoarseRule
        },
        mni_map: map_name,
        note: note.join("; "),
        registration: reg.cloned(),
        atlas: use_atlas.map(|a| AtlasInfo {
            dir: a.dir.display().to_string(),
            name: JHU_NAME.to_string(),
            mapping_dice: a.mapping.quality.brain_dice,
        }),
        lesions: lesions_loc,
        summary,
    }
}
