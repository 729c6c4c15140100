//! The registration driver: starting points, the coarse-to-fine search, and the quality
//! measures that decide whether the result may be used.

use crate::affine::{apply, from_rows, to_rows, update_matrix, Params, N};
use crate::metric::{brain_correlation, nmi, robust_max, Moving};
use crate::optim::{minimize, Search};
use crate::refine::{refine, WarpConfig};
use crate::template::RegTemplate;
use crate::warp::{Nonlinear, Warp};
use nalgebra::{Matrix4, Rotation3, Vector3};
use serde::{Deserialize, Serialize};
use std::time::Instant;
use strokeseg_core::{Grid, Image, Mask, Volume};
use strokeseg_measure::MniApprox;

/// Below these the registration is reported as failed (see [`Quality`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Limits {
    /// Least share of the template brain that must lie inside the study's field of view.
    pub min_coverage: f64,
    /// Least Dice between the template brain and the study's brain mask (where covered).
    pub min_brain_dice: f64,
    /// Least intensity correlation inside the template brain.
    pub min_correlation: f64,
    /// Allowed range of the volume ratio study ÷ template (determinant).
    pub volume_ratio: (f64, f64),
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            min_coverage: 0.75,
            min_brain_dice: 0.80,
            min_correlation: 0.15,
            volume_ratio: (0.55, 1.8),
        }
    }
}

/// How well the result fits; computed after the search, on the 2 mm template.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Quality {
    /// Share of the template brain inside the study's field of view (0–1).
    pub coverage: f64,
    /// Dice of the template brain and the study's own brain mask, over the covered part.
    pub brain_dice: f64,
    /// Correlation of the template's and the study's intensities inside the template brain.
    pub correlation: f64,
    /// Normalised mutual information at the finest level (1 – 2).
    pub nmi: f64,
    /// Study volume ÷ template volume (determinant of the linear part).
    pub volume_ratio: f64,
}

/// A registration: the affine between MNI and the study's world, the optional displacement
/// field applied before it (template point `q` is imaged at `affine · (q + d(q))`), its
/// quality and verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Registration {
    /// The fixed image used.
    pub template: String,
    /// Template (MNI mm) → study world (RAS+ mm), row-major 4×4.
    pub mni_to_world: [[f64; 4]; 4],
    /// Study world → MNI mm (the inverse).
    pub world_to_mni: [[f64; 4]; 4],
    /// Quality measures.
    pub quality: Quality,
    /// Why the result must not be used; `None` when it passed every limit.
    pub failure: Option<String>,
    /// Which starting point won.
    pub start: String,
    /// Cost evaluations.
    pub evaluations: usize,
    /// Wall-clock seconds (affine and non-linear steps together).
    pub seconds: f64,
    /// What the non-linear refinement did (absent in results made before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonlinear: Option<Nonlinear>,
    /// The displacement field, when the refinement was kept. Not serialised (hundreds of
    /// thousands of numbers): `strokeseg register` writes it as `warp_mni.nii.gz` and names
    /// the file in [`Nonlinear::file`]; a registration read back from JSON is affine only.
    #[serde(skip)]
    pub warp: Option<Warp>,
}

impl Registration {
    /// True when the registration passed its quality limits.
    #[must_use]
    pub fn ok(&self) -> bool {
        self.failure.is_none()
    }

    /// True when the displacement field is part of the map.
    #[must_use]
    pub fn is_nonlinear(&self) -> bool {
        self.warp.is_some()
    }

    /// The same registration without the displacement field (the affine alone; the
    /// record of the non-linear step is kept, marked unused).
    #[must_use]
    pub fn affine_only(&self) -> Registration {
        let mut r = self.clone();
        r.warp = None;
        if let Some(n) = r.nonlinear.as_mut() {
            if n.used {
                n.used = false;
                n.status = "dropped (affine only requested)".into();
            }
        }
        r
    }

    /// Study world point → MNI mm (affine inverse, then the field's inverse).
    #[must_use]
    pub fn to_mni(&self, p: [f64; 3]) -> [f64; 3] {
        let a = apply(&from_rows(&self.world_to_mni), p);
        match &self.warp {
            Some(w) => w.inverse(a),
            None => a,
        }
    }

    /// MNI point → study world mm (the field, then the affine).
    #[must_use]
    pub fn to_world(&self, q: [f64; 3]) -> [f64; 3] {
        let q = match &self.warp {
            Some(w) => w.forward(q),
            None => q,
        };
        apply(&from_rows(&self.mni_to_world), q)
    }

    /// `img` resampled (trilinear) onto `grid` in MNI space; 0 outside the study.
    #[must_use]
    pub fn volume_to_mni(&self, img: &Volume, grid: &Grid) -> Volume {
        let w2v = img.grid().world_to_voxel_affine();
        let src = img.data().view();
        let d = img.dims();
        let data = ndarray::Array3::from_shape_fn(
            (grid.dims[0], grid.dims[1], grid.dims[2]),
            |(i, j, k)| {
                let q = grid.voxel_to_world([i as f64, j as f64, k as f64]);
                let v = apply(&w2v, self.to_world(q));
                if (0..3).any(|a| v[a] < -0.5 || v[a] > d[a] as f64 - 0.5) {
                    return 0.0;
                }
                strokeseg_core::sample_trilinear(
                    &src,
                    std::array::from_fn(|a| v[a].clamp(0.0, (d[a] - 1) as f64)),
                )
            },
        );
        Image::on_grid(data, grid)
    }

    /// `mask` resampled onto `grid` in MNI space (see [`pull_mask`]); false outside the study.
    #[must_use]
    pub fn mask_to_mni(&self, mask: &Mask, grid: &Grid) -> Mask {
        pull_mask_with(mask, grid, &|q| self.to_world(q))
    }
}

/// `mask` (on its own grid) seen on `grid` through `grid_world → mask_world`: trilinear
/// interpolation of the mask as 0/1, thresholded at ½ (smoother than nearest-neighbour
/// across thick slices); false outside the mask's grid.
#[must_use]
pub fn pull_mask(mask: &Mask, grid: &Grid, grid_to_mask_world: &Matrix4<f64>) -> Mask {
    pull_mask_with(mask, grid, &|p| apply(grid_to_mask_world, p))
}

/// [`pull_mask`] through any map `grid world → mask world` (e.g. a registration with its
/// displacement field: `&|q| reg.to_world(q)`).
#[must_use]
pub fn pull_mask_with(
    mask: &Mask,
    grid: &Grid,
    grid_to_mask_world: &dyn Fn([f64; 3]) -> [f64; 3],
) -> Mask {
    let w2v = mask.grid().world_to_voxel_affine();
    let d = mask.dims();
    let src = mask.data().mapv(|b| if b { 1.0f32 } else { 0.0 });
    let view = src.view();
    let data =
        ndarray::Array3::from_shape_fn((grid.dims[0], grid.dims[1], grid.dims[2]), |(i, j, k)| {
            let v = apply(
                &w2v,
                grid_to_mask_world(grid.voxel_to_world([i as f64, j as f64, k as f64])),
            );
            if (0..3).any(|a| v[a] < -0.5 || v[a] > d[a] as f64 - 0.5) {
                return false;
            }
            let c: [f64; 3] = std::array::from_fn(|a| v[a].clamp(0.0, (d[a] - 1) as f64));
            strokeseg_core::sample_trilinear(&view, c) >= 0.5
        });
    Image::on_grid(data, grid)
}

/// Options of [`register`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RegConfig {
    /// Failure limits.
    pub limits: Limits,
    /// The non-linear refinement after the affine (on by default; `warp.enabled = false`
    /// for an affine-only result).
    pub warp: WarpConfig,
}

/// Template → study matrix of a moments-based study → MNI approximation.
fn approx_matrix(a: &MniApprox) -> Matrix4<f64> {
    let r = Rotation3::from_axis_angle(&Vector3::x_axis(), a.pitch_deg.to_radians());
    let mut b = Matrix4::identity();
    for row in 0..3 {
        for c in 0..3 {
            b[(row, c)] = a.scale[row] * r.matrix()[(row, c)];
        }
        b[(row, 3)] = a.offset[row];
    }
    b.try_inverse().unwrap_or_else(Matrix4::identity)
}

/// Registers a study image (`img`, with its brain mask `brain`) to `tpl`.
#[must_use]
pub fn register(tpl: &RegTemplate, img: &Volume, brain: &Mask, cfg: &RegConfig) -> Registration {
    let t0 = Instant::now();
    let max = robust_max(img, brain);
    let approx = MniApprox::fit(brain, &tpl.moments);
    let m0 = approx_matrix(&approx);
    // Starting points: the moments fit, the same pitched ±10°, and the brain centroid alone
    // (in case the moments were fooled by a poor brain mask).
    let pitch = |deg: f64| {
        let mut p = [0.0; N];
        p[3] = deg.to_radians() * crate::affine::LEVER_MM;
        m0 * update_matrix(&p, tpl.centre)
    };
    let centroid_only = {
        let mut m = Matrix4::identity();
        let c = approx_centroid(brain).unwrap_or(tpl.centre);
        for a in 0..3 {
            m[(a, 3)] = c[a] - tpl.centre[a];
        }
        m
    };
    let starts = [
        ("moments", m0),
        ("moments, pitch +10°", pitch(10.0)),
        ("moments, pitch −10°", pitch(-10.0)),
        ("brain centroid", centroid_only),
    ];
    let sigmas = [4.0, 2.0, 1.0];
    let mut evals = 0;
    // Coarse level: every start searches with the 4 and 2 mm steps; only the best goes on to
    // the 1 mm step (what it would have done had every start gone on: the search is the same
    // sequence, cut in two), since the others have lost by then.
    let coarse = Moving::new(img, sigmas[0], max);
    let scaling: [usize; 9] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
    let mut best: Option<(f64, Matrix4<f64>, Params, &str, usize)> = None;
    for (name, m) in starts {
        let mut f =
            |p: &Params| -nmi(&tpl.levels[0], &coarse, &(m * update_matrix(p, tpl.centre))).0;
        let s = Search {
            step: 4.0,
            min_step: 2.0,
            max_evals: 400,
        };
        let (p, fx, n) = minimize(&mut f, [0.0; N], &scaling, s);
        evals += n;
        if best.as_ref().is_none_or(|b| fx < b.0) {
            best = Some((fx, m, p, name, n));
        }
    }
    let (_, m0, p0, start, used) = best.expect("at least one start");
    let mut f = |p: &Params| {
        -nmi(
            &tpl.levels[0],
            &coarse,
            &(m0 * update_matrix(p, tpl.centre)),
        )
        .0
    };
    let s = Search {
        step: 1.0,
        min_step: 1.0,
        max_evals: 400usize.saturating_sub(used).max(1),
    };
    let (p, _, n) = minimize(&mut f, p0, &scaling, s);
    evals += n;
    let mut m = m0 * update_matrix(&p, tpl.centre);
    tracing::debug!(
        evals,
        secs = t0.elapsed().as_secs_f64(),
        start,
        "coarse level done"
    );
    let all: Vec<usize> = (0..N).collect();
    for (lv, (sigma, step)) in [(1usize, (sigmas[1], 2.0)), (2, (sigmas[2], 1.0))] {
        let mov = Moving::new(img, sigma, max);
        let mut f = |p: &Params| -nmi(&tpl.levels[lv], &mov, &(m * update_matrix(p, tpl.centre))).0;
        let s = Search {
            step,
            min_step: step / 4.0,
            max_evals: 800,
        };
        let (p, _, n) = minimize(&mut f, [0.0; N], &all, s);
        evals += n;
        m *= update_matrix(&p, tpl.centre);
        tracing::debug!(lv, evals, secs = t0.elapsed().as_secs_f64(), "level done");
    }
    let fine = Moving::new(img, sigmas[2], max);
    // The verdict is the affine's: a failed affine is never refined (and so never rescued).
    let quality = measure_quality(tpl, &fine, brain, &m);
    let failure = judge(&quality, &cfg.limits);
    let (warp, nonlinear) = if let Some(f) = &failure {
        tracing::warn!("registration to {} failed: {f}", tpl.name);
        let n = Nonlinear {
            status: "skipped: the affine failed its quality checks".into(),
            ..Default::default()
        };
        (None, cfg.warp.enabled.then_some(n))
    } else if cfg.warp.enabled {
        let (w, n) = refine(tpl, img, brain, &fine, &m, &cfg.warp);
        (w, Some(n))
    } else {
        (None, None)
    };
    let inv = m.try_inverse().unwrap_or_else(Matrix4::identity);
    Registration {
        template: tpl.name.clone(),
        mni_to_world: to_rows(&m),
        world_to_mni: to_rows(&inv),
        quality,
        failure,
        start: start.to_string(),
        evaluations: evals,
        seconds: t0.elapsed().as_secs_f64(),
        nonlinear,
        warp,
    }
}

fn approx_centroid(brain: &Mask) -> Option<[f64; 3]> {
    let g = brain.grid();
    let (mut n, mut s) = (0.0, [0.0; 3]);
    for ((i, j, k), &b) in brain.data().indexed_iter() {
        if b {
            let p = g.voxel_to_world([i as f64, j as f64, k as f64]);
            n += 1.0;
            (0..3).for_each(|a| s[a] += p[a]);
        }
    }
    (n > 0.0).then(|| s.map(|x| x / n))
}

fn measure_quality(tpl: &RegTemplate, fine: &Moving, brain: &Mask, m: &Matrix4<f64>) -> Quality {
    let level = &tpl.levels[2];
    let (nmi_v, _) = nmi(level, fine, m);
    let correlation = brain_correlation(level, fine, m);
    // Coverage and Dice on the 2 mm template grid.
    let g = tpl.brain.grid();
    let w2v = brain.grid().world_to_voxel_affine() * m;
    let d = brain.dims();
    let (mut t_in, mut t_cov, mut both, mut s_cov) = (0usize, 0usize, 0usize, 0usize);
    for ((i, j, k), &t) in tpl.brain.data().indexed_iter() {
        let v = apply(&w2v, g.voxel_to_world([i as f64, j as f64, k as f64]));
        let r: [f64; 3] = std::array::from_fn(|a| v[a].round());
        let covered = (0..3).all(|a| r[a] >= 0.0 && r[a] <= (d[a] - 1) as f64);
        t_in += usize::from(t);
        if !covered {
            continue;
        }
        t_cov += usize::from(t);
        let s = brain.data()[[r[0] as usize, r[1] as usize, r[2] as usize]];
        s_cov += usize::from(s);
        both += usize::from(s && t);
    }
    let coverage = t_cov as f64 / t_in.max(1) as f64;
    let brain_dice = if t_cov + s_cov == 0 {
        0.0
    } else {
        2.0 * both as f64 / (t_cov + s_cov) as f64
    };
    let volume_ratio = m.fixed_view::<3, 3>(0, 0).determinant();
    Quality {
        coverage,
        brain_dice,
        correlation,
        nmi: nmi_v,
        volume_ratio,
    }
}

/// The first limit a result breaks, in words.
#[must_use]
pub fn judge(q: &Quality, l: &Limits) -> Option<String> {
    if !(l.volume_ratio.0..=l.volume_ratio.1).contains(&q.volume_ratio) {
        return Some(format!(
            "implausible size: the study brain would be {:.2}× the template's (allowed {:.2}–{:.2})",
            q.volume_ratio, l.volume_ratio.0, l.volume_ratio.1
        ));
    }
    if q.coverage < l.min_coverage {
        return Some(format!(
            "the field of view holds only {:.0}% of the template brain (need ≥ {:.0}%)",
            100.0 * q.coverage,
            100.0 * l.min_coverage
        ));
    }
    if q.brain_dice < l.min_brain_dice {
        return Some(format!(
            "the study's brain mask overlaps the template brain poorly (Dice {:.2} < {:.2})",
            q.brain_dice, l.min_brain_dice
        ));
    }
    if q.correlation < l.min_correlation {
        return Some(format!(
            "the study's intensities do not look like a brain in the template (correlation {:.2} < {:.2})",
            q.correlation, l.min_correlation
        ));
    }
    None
}
