//! Where the registration template and the atlas come from, for lesion location: the choice
//! between registration with the JHU atlas (the default, both built into the binary), the
//! coarse region rule without an atlas, and the moments approximation without registration.

use std::path::PathBuf;
use strokeseg_atlas::Locator;
use strokeseg_io::InputError;
use strokeseg_mni::Template;

/// What the user chose for lesion location (the CLI's `--atlas`, `--no-atlas`, `--template`,
/// `--no-register`, `--affine-only`).
#[derive(Debug, Clone, Default)]
pub struct LocationOptions {
    /// Atlas folder (default `$STROKESEG_ATLAS`, else the built-in JHU atlases).
    pub atlas: Option<PathBuf>,
    /// No atlas: the coarse supratentorial/brainstem/cerebellum rule.
    pub no_atlas: bool,
    /// Registration template folder (default [`Template::default_dir`]).
    pub template: Option<PathBuf>,
    /// No registration: the moments-based MNI approximation.
    pub no_register: bool,
    /// Affine registration only (no smooth non-linear refinement).
    pub affine_only: bool,
}

impl LocationOptions {
    /// The atlas folder: `atlas`, else `$STROKESEG_ATLAS`, else the JHU atlases built into
    /// strokeseg (none with `no_atlas`, or when they cannot be unpacked: a warning says why).
    #[must_use]
    pub fn atlas_dir(&self) -> Option<PathBuf> {
        if self.no_atlas {
            return None;
        }
        self.atlas
            .clone()
            .or_else(strokeseg_atlas::env_dir)
            .or_else(|| match strokeseg_assets::ATLAS.dir() {
                Ok(d) => Some(d),
                Err(e) => {
                    tracing::warn!("{e}; lesion location falls back to the coarse rule");
                    None
                }
            })
    }

    /// The registration template folder: `template`, else [`Template::default_dir`]
    /// (`$STROKESEG_TEMPLATE_DIR`, else the copy built into strokeseg).
    #[must_use]
    pub fn template_dir(&self) -> PathBuf {
        self.template.clone().unwrap_or_else(Template::default_dir)
    }

    /// Loads the registration template (and the atlas when configured). `Ok(None)` when
    /// registration is switched off or the template is not installed (a warning says so).
    ///
    /// # Errors
    /// A bad atlas folder, as [`InputError::Usage`].
    pub fn load_locator(&self) -> Result<Option<Locator>, InputError> {
        if self.no_register {
            return Ok(None);
        }
        let tdir = self.template_dir();
        let atlas = self.atlas_dir();
        let t = std::time::Instant::now();
        match Locator::load(&tdir, atlas.as_deref()) {
            Ok(mut l) => {
                tracing::debug!(
                    secs = t.elapsed().as_secs_f64(),
                    "template and atlas loaded"
                );
                l.reg_config.warp.enabled = !self.affine_only;
                Ok(Some(l))
            }
            Err(strokeseg_atlas::AtlasError::Template(e)) => {
                tracing::warn!("{e}; lesion location falls back to the moments approximation");
                Ok(None)
            }
            Err(e) => Err(InputError::Usage(e.to_string())),
        }
    }
}
