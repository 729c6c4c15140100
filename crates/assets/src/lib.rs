//! The files strokeseg needs at run time, embedded in the binary, so that a copied or
//! `cargo install`ed binary works on a machine that has nothing else (no Python, no network,
//! no `../shared`): the default model (`models/realmix-v3`), the MNI ICBM152 2009a template
//! (T1, GM, WM at 1 mm, for the synthetic generator and registration) and the JHU structure
//! and arterial-territory atlases, each with its licence ([`Bundle::notice`]).
//!
//! Owns: the bytes, and writing them once into a cache folder ([`Bundle::dir`]) so that the
//! path-based loaders read them like any folder a user points `--model`, `--template` or
//! `--atlas` at. Must not: parse or interpret them (that is `train`, `synth` and `atlas`'s
//! job), or decide which folder wins over which (the callers' flags and variables do).
//!
//! Why by hand: the crates that embed folders (`include_dir`, `rust-embed`) give bytes too;
//! what is needed on top is a folder on disk for loaders that take paths, written atomically
//! and checked against the embedded bytes on every use, which is ~40 lines.

use std::io::Write;
use std::path::{Path, PathBuf};

/// One embedded folder: its files and the licence they ship under.
#[derive(Debug)]
pub struct Bundle {
    /// Folder name under the cache (also the name users see).
    pub name: &'static str,
    /// What it is, in a few words.
    pub what: &'static str,
    /// (file name, bytes).
    pub files: &'static [(&'static str, &'static [u8])],
    /// Licence and attribution.
    pub notice: &'static str,
}

macro_rules! embed {
    ($dir:literal, $name:literal) => {
        (
            $name,
            include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $dir, "/", $name)) as &[u8],
        )
    };
}

/// The default model of `segment`, `demo` and `serve` (weights, plan, calibration, card).
pub static MODEL: Bundle = Bundle {
    name: "realmix-v3",
    what: "default model (3-D U-Net, synthetic infarcts implanted into real studies + template-synthetic studies)",
    files: &[
        embed!("../../models/realmix-v3", "model.bpk"),
        embed!("../../models/realmix-v3", "config.json"),
        embed!("../../models/realmix-v3", "plan.json"),
        embed!("../../models/realmix-v3", "operating_points.json"),
        embed!("../../models/realmix-v3", "MODEL_CARD.md"),
    ],
    notice: MODEL_NOTICE,
};

const MODEL_NOTICE: &str = "\
strokeseg model realmix-v3 (weights trained by the strokeseg project; see its MODEL_CARD.md).
Training data: ISLES'22 cases 1-3 (CC BY 4.0; Hernandez Petzsche et al., Sci Data 2022), five
healthy volunteers' DWI (BSD-2-Clause), JHU ADS example data (GPL-3.0; Liu et al., Commun Med
2021), an AISD example study (non-commercial research terms), template-synthetic studies on
the MNI ICBM152 2009a template. Licence of the weights: they derive from the data above;
treat them as non-commercial research material.
Research use only; not a medical device.
";

/// The MNI ICBM152 2009a non-linear symmetric template (T1, GM, WM; 1 mm).
pub static TEMPLATE: Bundle = Bundle {
    name: "mni_icbm152_2009a",
    what: "MNI ICBM152 2009a non-linear symmetric template (T1, GM, WM; 1 mm)",
    files: &[
        embed!(
            "mni_icbm152_2009a",
            "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
        ),
        embed!(
            "mni_icbm152_2009a",
            "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz"
        ),
        embed!(
            "mni_icbm152_2009a",
            "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz"
        ),
        embed!("mni_icbm152_2009a", "NOTICE"),
    ],
    notice: include_str!("../mni_icbm152_2009a/NOTICE"),
};

/// The JHU structure (lobes, brainstem, cerebellum) and arterial-territory atlases.
pub static ATLAS: Bundle = Bundle {
    name: "jhu-atlas",
    what: "JHU brain-structure and arterial-territory atlases (MNI, 1 mm)",
    files: &[
        embed!("jhu", "lobe_atlas_padding.nii.gz"),
        embed!("jhu", "ArterialAtlas_padding.nii.gz"),
        embed!("jhu", "LobesLabelLookupTable.txt"),
        embed!("jhu", "ArterialAtlasLables.txt"),
        embed!("jhu", "NOTICE"),
    ],
    notice: include_str!("../jhu/NOTICE"),
};

/// Every bundle, in the order `strokeseg licenses` prints them.
pub static ALL: [&Bundle; 3] = [&MODEL, &TEMPLATE, &ATLAS];

/// `${STROKESEG_CACHE:-$HOME/.cache/strokeseg}`.
#[must_use]
pub fn cache_root() -> PathBuf {
    if let Some(d) = std::env::var_os("STROKESEG_CACHE").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        Some(h) => PathBuf::from(h).join(".cache").join("strokeseg"),
        None => std::env::temp_dir().join("strokeseg-cache"),
    }
}

impl Bundle {
    /// Total size of the embedded files in bytes.
    #[must_use]
    pub fn size(&self) -> usize {
        self.files.iter().map(|(_, b)| b.len()).sum()
    }

    /// The bundle as a folder on disk: `<cache>/embedded/<version>/<name>/` (the folder keeps
    /// the bundle's name, which reports show as the model name), written on first
    /// use (and rewritten where a file differs from the embedded bytes, so a stale or damaged
    /// copy never loads); under the system temporary folder when the cache cannot be written.
    ///
    /// # Errors
    /// Neither the cache nor the temporary folder can be written (both named).
    pub fn dir(&self) -> std::io::Result<PathBuf> {
        let leaf = Path::new(env!("CARGO_PKG_VERSION")).join(self.name);
        let primary = cache_root().join("embedded").join(&leaf);
        match self.write_into(&primary) {
            Ok(()) => Ok(primary),
            Err(e1) => {
                let user = std::env::var("USER").unwrap_or_else(|_| "user".into());
                let fallback = std::env::temp_dir()
                    .join(format!("strokeseg-embedded-{user}"))
                    .join(&leaf);
                tracing::debug!("{}: {e1}; using {}", primary.display(), fallback.display());
                self.write_into(&fallback)
                    .map(|()| fallback.clone())
                    .map_err(|e2| {
                        std::io::Error::new(
                            e2.kind(),
                            format!(
                                "cannot unpack the embedded {} into {} ({e1}) nor {} ({e2})",
                                self.name,
                                primary.display(),
                                fallback.display()
                            ),
                        )
                    })
            }
        }
    }

    fn write_into(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        for (name, bytes) in self.files {
            // a name may hold folders (an ensemble's members/<k>/model.bpk)
            let path = dir.join(name);
            if std::fs::read(&path).is_ok_and(|have| have == *bytes) {
                continue;
            }
            let parent = path.parent().unwrap_or(dir);
            std::fs::create_dir_all(parent)?;
            let leaf = path.file_name().unwrap_or_default().to_string_lossy();
            // Written beside and renamed, so a concurrent reader sees the old file or the
            // whole new one, never half of it.
            let tmp = parent.join(format!(".{leaf}.{}.tmp", std::process::id()));
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            drop(f);
            std::fs::rename(&tmp, &path)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bundle_has_files_and_a_notice() {
        for b in ALL {
            assert!(b.size() > 1000, "{} is empty", b.name);
            assert!(
                b.notice.contains("icence") || b.notice.contains("ermission"),
                "{}",
                b.name
            );
            assert!(b.files.iter().all(|(_, bytes)| !bytes.is_empty()));
        }
        assert!(ATLAS.notice.contains("CC BY-SA 4.0"));
        assert!(TEMPLATE.notice.contains("Copyright"));
    }

    #[test]
    fn files_in_sub_folders_are_unpacked_into_them() {
        static NESTED: Bundle = Bundle {
            name: "nested",
            what: "a model folder with members",
            files: &[
                ("plan.json", b"{}"),
                ("members/1/model.bpk", b"one"),
                ("members/2/model.bpk", b"two"),
            ],
            notice: "licence: test",
        };
        let tmp = tempfile::tempdir().unwrap();
        NESTED.write_into(tmp.path()).unwrap();
        for (name, bytes) in NESTED.files {
            assert_eq!(
                std::fs::read(tmp.path().join(name)).unwrap(),
                *bytes,
                "{name}"
            );
        }
        let stray: Vec<_> = std::fs::read_dir(tmp.path().join("members/2"))
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(stray.is_empty());
    }

    #[test]
    fn unpacks_once_and_repairs_a_damaged_copy() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("atlas");
        ATLAS.write_into(&dir).unwrap();
        let (name, bytes) = ATLAS.files[0];
        assert_eq!(std::fs::read(dir.join(name)).unwrap(), bytes);
        // A truncated file (a crash mid-copy by an older version, a user's edit) is rewritten.
        std::fs::write(dir.join(name), &bytes[..10]).unwrap();
        ATLAS.write_into(&dir).unwrap();
        assert_eq!(std::fs::read(dir.join(name)).unwrap(), bytes);
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn an_unwritable_target_is_an_error_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("not-a-folder");
        std::fs::write(&file, b"x").unwrap();
        assert!(ATLAS.write_into(&file.join("sub")).is_err());
    }
}
