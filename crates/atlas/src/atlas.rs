//! A loaded atlas directory and its map from ICBM152 2009a (MNI) mm to the atlas' own mm.
//!
//! The JHU atlas' "MNI" space is not ICBM152 2009a world space (centroids differ by about
//! (+2, +16, −19) mm, with a slight scale difference). So at load time the atlas' brain
//! outline (structure labels > 0) is registered to the template brain with the same affine
//! search as studies (`strokeseg-register`, NMI of the two masks) and the result is cached
//! as JSON under `$STROKESEG_CACHE` (default `~/.cache/strokeseg`), keyed by the atlas
//! file's size and a hash of its first bytes and the template's name; the atlas files
//! themselves are only read.

use crate::jhu::{LabelMap, STRUCTURE_FILE, TERRITORY_FILE};
use crate::AtlasError;
use nalgebra::Matrix4;

use std::path::{Path, PathBuf};
use strokeseg_core::{Mask, Volume};
use strokeseg_register::affine::{from_rows, to_rows};
use strokeseg_register::{register, RegConfig, RegTemplate, Registration};

/// A JHU atlas ready for lookups in MNI ICBM152 2009a coordinates.
#[derive(Debug, Clone)]
pub struct Atlas {
    /// Where it was read from.
    pub dir: PathBuf,
    /// Structures (labels 1–31).
    pub structures: LabelMap,
    /// Arterial territories (labels 1–32).
    pub territories: LabelMap,
    /// MNI (ICBM152 2009a) mm → atlas mm.
    pub mni_to_atlas: Matrix4<f64>,
    /// The registration that made `mni_to_atlas` (quality included).
    pub mapping: Registration,
    /// The mapping came from the cache.
    pub cached: bool,
}

/// `$STROKESEG_ATLAS`, when set.
#[must_use]
pub fn env_dir() -> Option<PathBuf> {
    std::env::var_os("STROKESEG_ATLAS").map(PathBuf::from)
}

fn cache_dir() -> PathBuf {
    std::env::var("STROKESEG_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| ".".into()))
                .join(".cache/strokeseg")
        })
        .join("atlas-map")
}

/// FNV-1a of some bytes.
fn fnv(bytes: &[u8], mut h: u64) -> u64 {
    for b in bytes {
        h = (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
    }
    h
}

impl Atlas {
    /// Loads the JHU atlas from `dir` and maps it onto `template` (from the cache when there).
    ///
    /// # Errors
    /// Missing or malformed atlas files (named), or a failed atlas→template registration.
    pub fn load(dir: &Path, template: &RegTemplate) -> Result<Atlas, AtlasError> {
        for f in [STRUCTURE_FILE, TERRITORY_FILE] {
            if !dir.join(f).is_file() {
                return Err(AtlasError::Missing {
                    dir: dir.to_path_buf(),
                    file: f.to_string(),
                });
            }
        }
        let structures = LabelMap::read(&dir.join(STRUCTURE_FILE), 31)?;
        let territories = LabelMap::read(&dir.join(TERRITORY_FILE), 32)?;
        let raw = std::fs::read(dir.join(STRUCTURE_FILE)).map_err(|e| AtlasError::Bad {
            path: dir.join(STRUCTURE_FILE),
            reason: e.to_string(),
        })?;
        let key = fnv(
            template.name.as_bytes(),
            fnv(&raw, 0xcbf2_9ce4_8422_2325 ^ raw.len() as u64),
        );
        let cache = cache_dir().join(format!("jhu-{key:016x}.json"));
        let (mapping, cached) = match std::fs::read_to_string(&cache)
            .ok()
            .and_then(|s| serde_json::from_str::<Registration>(&s).ok())
            .filter(Registration::ok)
        {
            Some(r) => (r, true),
            None => {
                let r = map_outline(&structures, template);
                if r.ok()
                    && std::fs::create_dir_all(cache.parent().unwrap_or(Path::new(".")))
                        .and_then(|()| {
                            // Beside and renamed: a concurrent run reads the old file or the
                            // whole new one.
                            let tmp = cache.with_extension(format!("{}.tmp", std::process::id()));
                            std::fs::write(
                                &tmp,
                                serde_json::to_string_pretty(&r).unwrap_or_default(),
                            )?;
                            std::fs::rename(&tmp, &cache)
                        })
                        .is_err()
                {
                    tracing::warn!("cannot cache the atlas map in {}", cache.display());
                }
                (r, false)
            }
        };
        if let Some(f) = &mapping.failure {
            return Err(AtlasError::Mapping {
                dir: dir.to_path_buf(),
                reason: f.clone(),
            });
        }
        tracing::info!(
            dice = mapping.quality.brain_dice,
            cached,
            "JHU atlas mapped onto {}",
            template.name
        );
        Ok(Atlas {
            dir: dir.to_path_buf(),
            structures,
            territories,
            mni_to_atlas: from_rows(&mapping.mni_to_world),
            mapping,
            cached,
        })
    }

    /// Structure and territory labels at an MNI point.
    #[must_use]
    pub fn labels_at_mni(&self, q: [f64; 3]) -> (u8, u8) {
        let p = strokeseg_register::affine::apply(&self.mni_to_atlas, q);
        let s = self
            .structures
            .at(&self.structures.grid.world_to_voxel_affine(), p);
        let t = self
            .territories
            .at(&self.territories.grid.world_to_voxel_affine(), p);
        (s, t)
    }

    /// Row-major MNI → atlas matrix (for reports).
    #[must_use]
    pub fn mni_to_atlas_rows(&self) -> [[f64; 4]; 4] {
        to_rows(&self.mni_to_atlas)
    }
}

/// Registers the atlas brain outline (structure labels > 0, ventricles included) to the
/// template brain: both sides are binary masks, so NMI here is a smooth overlap measure.
fn map_outline(structures: &LabelMap, template: &RegTemplate) -> Registration {
    let fixed_vals = template.brain.data().mapv(|b| if b { 1.0f32 } else { 0.0 });
    let fixed = RegTemplate::from_fixed(
        &fixed_vals,
        &fixed_vals,
        &template.brain.grid(),
        &format!("{} brain outline", template.name),
    );
    let inside = structures.labels.mapv(|l| l > 0);
    let img = Volume::on_grid(inside.mapv(|b| if b { 1.0 } else { 0.0 }), &structures.grid);
    let mask = Mask::on_grid(inside, &structures.grid);
    let mut cfg = RegConfig::default();
    // Both sides are constant inside the brain: the correlation there means nothing (the
    // outline's fit is judged by the brain Dice).
    cfg.limits.min_correlation = -1.0;
    // Affine only: labels are read through `mni_to_atlas`, a matrix.
    cfg.warp.enabled = false;
    register(&fixed, &img, &mask, &cfg)
}
