//! The MNI ICBM152 2009a template (1 mm): tissue fractions and the intracranial mask, read
//! from the copy built into the binary (`strokeseg-assets`) or a folder the user names.

use ndarray::Array3;
use std::path::{Path, PathBuf};
use strokeseg_core::{Grid, Volume};
use strokeseg_io::nifti_io::read_volume;

/// Why the template cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// Not installed where we looked.
    #[error(
        "MNI ICBM152 2009a template not found in {0} (needs the T1, GM and WM \
         mni_icbm152_*_tal_nlin_sym_09a_converted.nii.gz); without --template or \
         STROKESEG_TEMPLATE_DIR strokeseg uses the copy built into it"
    )]
    Missing(PathBuf),
    /// A file is there but unreadable or inconsistent.
    #[error("template file {path}: {reason}")]
    Bad {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// File names inside the template folder.
pub const FILES: [&str; 3] = [
    "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
    "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz",
    "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz",
];

/// Voxels of padding added on every side, so that a skull and scalp fit around the brain.
pub const PAD: usize = 12;

/// Template anatomy on a 1 mm RAS+ grid in MNI space.
#[derive(Debug, Clone)]
pub struct Template {
    /// The (padded) grid.
    pub grid: Grid,
    /// Grey-matter fraction 0–1.
    pub gm: Array3<f32>,
    /// White-matter fraction 0–1.
    pub wm: Array3<f32>,
    /// CSF fraction 0–1 (intracranial − GM − WM).
    pub csf: Array3<f32>,
    /// Intracranial mask (where the skull-stripped T1 is non-zero).
    pub intracranial: Array3<bool>,
    /// Where the template came from ("MNI ICBM152 2009a" or "phantom").
    pub name: String,
}

impl Template {
    /// `$STROKESEG_TEMPLATE_DIR`, else the copy embedded in the binary
    /// (`strokeseg_assets::TEMPLATE`, unpacked once into `~/.cache/strokeseg/embedded/`).
    /// Where the embedded copy cannot be unpacked (a warning says why),
    /// `${STROKESEG_CACHE:-$HOME/.cache/strokeseg}/mni_icbm152_2009a`, so that
    /// [`Template::load`] names a folder in its error.
    #[must_use]
    pub fn default_dir() -> PathBuf {
        if let Some(d) = std::env::var_os("STROKESEG_TEMPLATE_DIR").filter(|d| !d.is_empty()) {
            return PathBuf::from(d);
        }
        strokeseg_assets::TEMPLATE.dir().unwrap_or_else(|e| {
            tracing::warn!("{e}");
            strokeseg_assets::cache_root().join("mni_icbm152_2009a")
        })
    }

    /// Loads the template from `dir` (see [`Template::default_dir`]).
    ///
    /// # Errors
    /// [`TemplateError::Missing`] when the files are absent, [`TemplateError::Bad`] when
    /// unreadable or on different grids.
    pub fn load(dir: &Path) -> Result<Template, TemplateError> {
        if FILES.iter().any(|f| !dir.join(f).is_file()) {
            return Err(TemplateError::Missing(dir.to_path_buf()));
        }
        let read = |f: &str| {
            let p = dir.join(f);
            read_volume(&p).map_err(|e| TemplateError::Bad {
                path: p,
                reason: e.to_string(),
            })
        };
        // The three files are read on their own threads: decompressing them is most of the
        // start-up time of `segment` (which registers every study to this template).
        let (t1, gm, wm) = std::thread::scope(|s| {
            let [t1, gm, wm] = FILES.map(|f| s.spawn(move || read(f)));
            let join = |h: std::thread::ScopedJoinHandle<'_, Result<Volume, TemplateError>>| {
                h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
            };
            Ok::<_, TemplateError>((join(t1)?, join(gm)?, join(wm)?))
        })?;
        if !(t1.grid().same_as(&gm.grid(), 1e-3) && t1.grid().same_as(&wm.grid(), 1e-3)) {
            return Err(TemplateError::Bad {
                path: dir.join(FILES[1]),
                reason: "T1, GM and WM grids differ".into(),
            });
        }
        let scale = |v: &Array3<f32>| {
            let max = v.iter().copied().fold(0.0f32, f32::max).max(1e-6);
            v.mapv(|x| (x / max).clamp(0.0, 1.0))
        };
        let (gm, wm) = (scale(gm.data()), scale(wm.data()));
        let intracranial = t1.data().mapv(|x| x > 0.0);
        Ok(Self::assemble(
            &t1.grid(),
            gm,
            wm,
            intracranial,
            "MNI ICBM152 2009a",
        ))
    }

    /// Normalises fractions, derives CSF and pads the grid by [`PAD`] voxels.
    fn assemble(
        grid: &Grid,
        gm: Array3<f32>,
        wm: Array3<f32>,
        ic: Array3<bool>,
        name: &str,
    ) -> Template {
        let d = grid.dims;
        let pd = (d[0] + 2 * PAD, d[1] + 2 * PAD, d[2] + 2 * PAD);
        let mut out_gm = Array3::zeros(pd);
        let mut out_wm = Array3::zeros(pd);
        let mut out_csf = Array3::zeros(pd);
        let mut out_ic = Array3::from_elem(pd, false);
        for ((i, j, k), &inside) in ic.indexed_iter() {
            if !inside {
                continue;
            }
            let (g, w) = (gm[[i, j, k]], wm[[i, j, k]]);
            let sum = g + w;
            let (g, w) = if sum > 1.0 {
                (g / sum, w / sum)
            } else {
                (g, w)
            };
            let o = [i + PAD, j + PAD, k + PAD];
            out_gm[o] = g;
            out_wm[o] = w;
            out_csf[o] = 1.0 - g - w;
            out_ic[o] = true;
        }
        let mut affine = grid.affine;
        let shift = grid.linear() * nalgebra::Vector3::repeat(PAD as f64);
        for r in 0..3 {
            affine[(r, 3)] -= shift[r];
        }
        Template {
            grid: Grid {
                dims: [pd.0, pd.1, pd.2],
                affine,
            },
            gm: out_gm,
            wm: out_wm,
            csf: out_csf,
            intracranial: out_ic,
            name: name.to_string(),
        }
    }

    /// A small analytic stand-in (ellipsoid brain with cortex, white matter, ventricles, a
    /// brainstem and cerebellum) at `spacing_mm`, for fast tests that must not depend on
    /// the download. Coordinates are MNI-like so the region rules apply.
    #[must_use]
    pub fn phantom(spacing_mm: f64) -> Template {
        let n = |ext: f64| (ext / spacing_mm).round() as usize;
        let origin = [-75.0, -110.0, -70.0];
        let grid = Grid::axis_aligned([n(150.0), n(190.0), n(150.0)], [spacing_mm; 3], origin);
        let d = grid.dims;
        let mut gm = Array3::zeros((d[0], d[1], d[2]));
        let mut wm = gm.clone();
        let mut ic = Array3::from_elem((d[0], d[1], d[2]), false);
        for ((i, j, k), g) in gm.indexed_iter_mut() {
            let p = grid.voxel_to_world([i as f64, j as f64, k as f64]);
            let cer = ((p[0] / 50.0).powi(2)
                + ((p[1] + 65.0) / 28.0).powi(2)
                + ((p[2] + 35.0) / 22.0).powi(2))
            .sqrt();
            let cere = ((p[0] / 65.0).powi(2)
                + ((p[1] + 15.0) / 85.0).powi(2)
                + ((p[2] - 15.0) / 55.0).powi(2))
            .sqrt();
            let stem = crate::regions::in_brainstem(p);
            let vent = ((p[0] / 12.0).powi(2)
                + ((p[1] + 5.0) / 30.0).powi(2)
                + ((p[2] - 12.0) / 10.0).powi(2))
            .sqrt();
            if cere <= 1.0 || cer <= 1.0 || stem {
                ic[[i, j, k]] = true;
                let r = if cere <= 1.0 { cere } else { cer };
                if vent <= 1.0 {
                    // CSF
                } else if stem || r < 0.85 {
                    wm[[i, j, k]] = if stem { 0.8 } else { 1.0 };
                    if stem {
                        *g = 0.2;
                    }
                } else if r < 0.97 {
                    *g = 1.0;
                }
            }
        }
        Self::assemble(&grid, gm, wm, ic, "phantom")
    }

    /// MNI world position of a voxel of the (padded) grid.
    #[must_use]
    pub fn world(&self, ijk: [usize; 3]) -> [f64; 3] {
        self.grid
            .voxel_to_world([ijk[0] as f64, ijk[1] as f64, ijk[2] as f64])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phantom_has_plausible_tissue_volumes() {
        let t = Template::phantom(3.0);
        let ml = |a: &Array3<f32>| a.sum() as f64 * 27.0 / 1000.0;
        let ic = t.intracranial.iter().filter(|&&b| b).count() as f64 * 27.0 / 1000.0;
        assert!((1000.0..2000.0).contains(&ic), "intracranial {ic}");
        assert!(ml(&t.gm) > 200.0 && ml(&t.wm) > 500.0 && ml(&t.csf) > 10.0);
        // fractions sum to 1 inside, 0 outside
        for ((g, w), (c, i)) in
            t.gm.iter()
                .zip(&t.wm)
                .zip(t.csf.iter().zip(&t.intracranial))
        {
            let s = g + w + c;
            assert!(if *i { (s - 1.0).abs() < 1e-5 } else { s == 0.0 });
        }
    }

    #[test]
    fn the_embedded_template_loads() {
        let dir = Template::default_dir();
        match Template::load(&dir) {
            Err(e) => panic!("{e}"),
            Ok(t) => {
                assert_eq!(t.grid.dims, [197 + 2 * PAD, 233 + 2 * PAD, 189 + 2 * PAD]);
                let ic = t.intracranial.iter().filter(|&&b| b).count() as f64 / 1000.0;
                assert!((1700.0..2000.0).contains(&ic), "intracranial {ic} mL");
                let gm = t.gm.sum() as f64 / 1000.0;
                assert!((800.0..1100.0).contains(&gm), "GM {gm} mL");
                // (0,0,0) MNI is deep in the brain; a point 100 mm lateral is outside.
                let inv = t.grid.world_to_voxel_affine();
                let idx = |p: [f64; 3]| {
                    let v = inv * nalgebra::Vector4::new(p[0], p[1], p[2], 1.0);
                    [
                        v[0].round() as usize,
                        v[1].round() as usize,
                        v[2].round() as usize,
                    ]
                };
                assert!(t.intracranial[idx([0.0, 0.0, 0.0])]);
                assert!(!t.intracranial[idx([90.0, 0.0, 0.0])]);
            }
        }
    }
}
