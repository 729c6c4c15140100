//! The non-linear refinement after the affine: a smooth displacement field on a 4 mm grid
//! over the template, found by Gaussian-regularised demons (Thirion 1998; symmetric "ESM"
//! force, Vercauteren et al. 2009), 60 iterations at 4 mm then 15 at 2 mm (forces at 2 mm
//! are block-averaged onto the 4 mm nodes).
//!
//! Two channels, forces averaged: (1) the study's intensities mapped to template-like
//! values by the conditional mean of the template per study bin (64-bin joint histogram at
//! the current alignment), so SSD on the mapped study stands in for the NMI the affine used;
//! (2) the study's brain mask against the template brain, which pins the outline where the
//! intensities (dark CSF against dark background) say little. Plausibility: the field is
//! smoothed with a Gaussian (σ = 1 node = 4 mm, border extended so a uniform field stays)
//! after each update and bounded (|d| ≤ 8 mm). Robustness: the study is skull-stripped with
//! its own brain mask (scalp cannot drag the field); values ≥ 1.5 × the brain median
//! (infarcts, artefacts) and points outside the study's field of view exert no intensity
//! force. Demons rather than B-splines + NMI: one resampling per iteration and no cost
//! derivatives. Hand-written because no Rust crate does deformable registration;
//! ndarray-ndimage smooths and rayon parallelises the per-slice resampling and forces.

use crate::affine::apply;
use crate::metric::{nmi, Moving};
use crate::template::{block_mean, RegTemplate};
use crate::warp::{Nonlinear, Warp};
use nalgebra::Matrix4;
use ndarray::Array3;
use ndarray_ndimage::BorderMode;
use rayon::prelude::*;
use std::time::Instant;
use strokeseg_core::{percentile_in_place, Grid, Mask, Volume};
use strokeseg_preproc::dilate_mm;

/// Options of the non-linear refinement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WarpConfig {
    /// Compute the refinement at all (`false`: affine only).
    pub enabled: bool,
    /// Largest displacement allowed (mm).
    pub max_mm: f64,
    /// Gaussian smoothing of the field after each update, in nodes (4 mm).
    pub smooth_nodes: f32,
    /// Gaussian smoothing of each update before it is added, in nodes (0: none).
    pub fluid_nodes: f32,
    /// Iterations at the 4 mm and the 2 mm level.
    pub iterations: [usize; 2],
    /// Largest update per iteration at the 4 mm and 2 mm level (mm).
    pub step_mm: [f64; 2],
    /// Least NMI gain (2 mm level) for the field to be kept.
    pub min_nmi_gain: f64,
    /// Weight of the brain-mask channel (study brain mask ↔ template brain) against the
    /// intensity channel (0: intensity only).
    pub mask_weight: f32,
}

impl Default for WarpConfig {
    fn default() -> Self {
        WarpConfig {
            enabled: true,
            max_mm: 8.0,
            smooth_nodes: 1.0,
            fluid_nodes: 0.0,
            iterations: [60, 15],
            step_mm: [2.0, 1.5],
            min_nmi_gain: 0.0005,
            mask_weight: 0.5,
        }
    }
}

/// Intensity bins of the study → template map.
const MAP_BINS: usize = 64;
/// The study is divided by `SCALE` × the median of its brain (robust to lesions smaller
/// than half the brain, unlike a high percentile), so normal tissue (GM ≈ 1.15, WM ≈ 0.95
/// × the median) sits near 0.5...
const SCALE: f32 = 2.0;
/// ... and values at or above 1.5 × the median (infarcts, artefacts: far brighter than
/// normal tissue) exert no force.
const SATURATED: f32 = 0.75;

/// One level: the fixed image and where forces are computed.
struct Stage {
    grid: Grid,
    fixed: Array3<f32>,
    grad_f: [Array3<f32>; 3],
    region: Array3<bool>,
    /// Study skull-stripped with its brain mask, smoothed for this level.
    moving: Moving,
    /// The template's brain (0–1) and its gradient: the second channel.
    fixed_m: Array3<f32>,
    grad_fm: [Array3<f32>; 3],
    /// The study's brain mask (0/1), smoothed like `moving`.
    mask: Moving,
    step_mm: f64,
    iters: usize,
}

fn gradient(a: &Array3<f32>, sp: f64) -> [Array3<f32>; 3] {
    let (n0, n1, n2) = a.dim();
    let n = [n0, n1, n2];
    std::array::from_fn(|ax| {
        Array3::from_shape_fn((n0, n1, n2), |(i, j, k)| {
            let c = [i, j, k];
            if c[ax] == 0 || c[ax] + 1 >= n[ax] {
                return 0.0;
            }
            let mut p = c;
            let mut m = c;
            p[ax] += 1;
            m[ax] -= 1;
            (a[p] - a[m]) / (2.0 * sp as f32)
        })
    })
}

/// Study value and study brain-mask value at every level voxel of the region through `warp`
/// then `m` (NaN outside the region or the study).
fn pull(level: &Stage, warp: &Warp, m: &Matrix4<f64>) -> (Array3<f32>, Array3<f32>) {
    let (n0, n1, n2) = level.fixed.dim();
    let mut out = vec![[f32::NAN; 2]; n0 * n1 * n2];
    let region = &level.region;
    // Level voxel → study voxel without the field, field (mm) → study voxel offset, and
    // level voxel → field node index: all affine, so one matrix each.
    let tpl_to_vox = level.moving.world_to_voxel() * m;
    let base = tpl_to_vox * level.grid.affine;
    let lin = tpl_to_vox.fixed_view::<3, 3>(0, 0).into_owned();
    let to_node = warp.world_to_index() * level.grid.affine;
    out.par_chunks_mut(n1 * n2).enumerate().for_each(|(i, sl)| {
        for j in 0..n1 {
            for k in 0..n2 {
                if !region[[i, j, k]] {
                    continue;
                }
                let ijk = [i as f64, j as f64, k as f64];
                let d = warp.at_index(apply(&to_node, ijk));
                let b = apply(&base, ijk);
                let v: [f64; 3] = std::array::from_fn(|r| {
                    b[r] + lin[(r, 0)] * d[0] + lin[(r, 1)] * d[1] + lin[(r, 2)] * d[2]
                });
                if let (Some(x), Some(b)) = (level.moving.at_voxel(v), level.mask.at_voxel(v)) {
                    sl[j * n2 + k] = [x, b];
                }
            }
        }
    });
    let part = |c: usize| {
        Array3::from_shape_vec((n0, n1, n2), out.iter().map(|x| x[c]).collect()).expect("shape")
    };
    (part(0), part(1))
}

/// Conditional mean of the fixed value per study bin (empty bins interpolated).
fn intensity_map(raw: &Array3<f32>, fixed: &Array3<f32>) -> [f32; MAP_BINS] {
    let mut sum = [0.0f64; MAP_BINS];
    let mut cnt = [0.0f64; MAP_BINS];
    ndarray::Zip::from(raw).and(fixed).for_each(|&r, &f| {
        if r.is_finite() {
            let b = ((r * (MAP_BINS - 1) as f32).round() as usize).min(MAP_BINS - 1);
            sum[b] += f64::from(f);
            cnt[b] += 1.0;
        }
    });
    let known: Vec<usize> = (0..MAP_BINS).filter(|&b| cnt[b] >= 5.0).collect();
    let mut g = [0.0f32; MAP_BINS];
    if known.is_empty() {
        return g;
    }
    for (b, gb) in g.iter_mut().enumerate() {
        let hi = known.iter().position(|&k| k >= b);
        *gb = match hi {
            Some(0) => (sum[known[0]] / cnt[known[0]]) as f32,
            None => {
                let k = known[known.len() - 1];
                (sum[k] / cnt[k]) as f32
            }
            Some(h) => {
                let (a, c) = (known[h - 1], known[h]);
                let (va, vc) = (sum[a] / cnt[a], sum[c] / cnt[c]);
                let t = (b - a) as f64 / (c - a) as f64;
                (va + t * (vc - va)) as f32
            }
        };
    }
    g
}

fn as_slice(a: &Array3<f32>) -> &[f32] {
    a.as_slice().expect("standard layout")
}

/// One demons update on `level` from both channels (intensity, brain mask; the mask's
/// force weighted by `mask_weight`): the displacement increment per level voxel.
fn force(
    level: &Stage,
    raw: &Array3<f32>,
    raw_m: &Array3<f32>,
    mask_weight: f32,
) -> [Array3<f32>; 3] {
    let g = intensity_map(raw, &level.fixed);
    let map = |r: f32| {
        let x = r.clamp(0.0, 1.0) * (MAP_BINS - 1) as f32;
        let lo = (x.floor() as usize).min(MAP_BINS - 2);
        let t = x - lo as f32;
        g[lo] * (1.0 - t) + g[lo + 1] * t
    };
    let (n0, n1, n2) = raw.dim();
    let (raw_s, raw_ms) = (as_slice(raw), as_slice(raw_m));
    let (fixed_s, fixed_ms) = (as_slice(&level.fixed), as_slice(&level.fixed_m));
    let gf: [&[f32]; 3] =
        std::array::from_fn(|a| level.grad_f[a].as_slice().expect("standard layout"));
    let gfm: [&[f32]; 3] =
        std::array::from_fn(|a| level.grad_fm[a].as_slice().expect("standard layout"));
    // Mapped study; where it exerts no force (outside the region or the study, saturated),
    // the fixed value: zero residual there. The mask channel acts wherever the study is.
    let ok = |r: f32| r.is_finite() && r < SATURATED;
    let w: Vec<f32> = raw_s
        .par_iter()
        .zip(fixed_s.par_iter())
        .map(|(&r, &f)| if ok(r) { map(r) } else { f })
        .collect();
    let wm: Vec<f32> = raw_ms
        .par_iter()
        .zip(fixed_ms.par_iter())
        .map(|(&r, &f)| if r.is_finite() { r } else { f })
        .collect();
    let sp = level.grid.spacing_mm()[0] as f32;
    let alpha2 = (1.0 / (2.0 * level.step_mm)).powi(2) as f32;
    let stride = [n1 * n2, n2, 1];
    let n = [n0, n1, n2];
    let norm = 1.0 / (1.0 + mask_weight);
    let mut du = vec![[0.0f32; 3]; n0 * n1 * n2];
    du.par_chunks_mut(n1 * n2).enumerate().for_each(|(i, out)| {
        for j in 0..n1 {
            for k in 0..n2 {
                let ix = i * stride[0] + j * stride[1] + k;
                if !raw_s[ix].is_finite() {
                    continue;
                }
                let c = [i, j, k];
                // Demons (ESM) step of one channel: moving `w`, fixed `f`, its gradient `gf`.
                let step = |w: &[f32], f: &[f32], gf: &[&[f32]; 3]| {
                    let r = w[ix] - f[ix];
                    let mut jv = [0.0f32; 3];
                    for a in 0..3 {
                        let gw = if c[a] == 0 || c[a] + 1 >= n[a] {
                            0.0
                        } else {
                            (w[ix + stride[a]] - w[ix - stride[a]]) / (2.0 * sp)
                        };
                        jv[a] = 0.5 * (gf[a][ix] + gw);
                    }
                    let den = jv.iter().map(|x| x * x).sum::<f32>() + alpha2 * r * r;
                    if den > 1e-9 {
                        jv.map(|x| -r * x / den)
                    } else {
                        [0.0; 3]
                    }
                };
                let a = if ok(raw_s[ix]) {
                    step(&w, fixed_s, &gf)
                } else {
                    [0.0; 3]
                };
                let b = if mask_weight > 0.0 {
                    step(&wm, fixed_ms, &gfm)
                } else {
                    [0.0; 3]
                };
                out[j * n2 + k] = std::array::from_fn(|x| norm * (a[x] + mask_weight * b[x]));
            }
        }
    });
    std::array::from_fn(|a| {
        Array3::from_shape_vec((n0, n1, n2), du.iter().map(|d| d[a]).collect()).expect("shape")
    })
}

/// The part of `img` and `region` inside the bounding box of `region` grown by 4 voxels,
/// starting at an even index with an even size; with its grid.
fn crop(
    img: &Array3<f32>,
    region: &Array3<bool>,
    grid: &Grid,
) -> (Array3<f32>, Array3<bool>, Grid) {
    let d = grid.dims;
    let (mut lo, mut hi) = (d, [0usize; 3]);
    for ((i, j, k), &r) in region.indexed_iter() {
        if r {
            for (a, x) in [i, j, k].into_iter().enumerate() {
                lo[a] = lo[a].min(x);
                hi[a] = hi[a].max(x + 1);
            }
        }
    }
    let mut start = [0usize; 3];
    let mut size = [0usize; 3];
    for a in 0..3 {
        if lo[a] >= hi[a] {
            (lo[a], hi[a]) = (0, d[a]);
        }
        start[a] = lo[a].saturating_sub(4) & !1;
        let end = (hi[a] + 4).min(d[a]);
        size[a] = (end - start[a]) & !1;
    }
    let sl = ndarray::s![
        start[0]..start[0] + size[0],
        start[1]..start[1] + size[1],
        start[2]..start[2] + size[2]
    ];
    let shift = Matrix4::new_translation(&nalgebra::Vector3::new(
        start[0] as f64,
        start[1] as f64,
        start[2] as f64,
    ));
    (
        img.slice(sl).to_owned(),
        region.slice(sl).to_owned(),
        Grid {
            dims: size,
            affine: grid.affine * shift,
        },
    )
}

/// Block mean by 2 of a 2 mm level array onto the 4 mm field grid of `dims`.
fn to_field(a: &Array3<f32>, dims: [usize; 3]) -> Array3<f32> {
    Array3::from_shape_fn((dims[0], dims[1], dims[2]), |(i, j, k)| {
        let mut s = 0.0;
        for (x, y, z) in (0..8).map(|c| (c & 1, (c >> 1) & 1, c >> 2)) {
            s += a[[2 * i + x, 2 * j + y, 2 * k + z]];
        }
        s / 8.0
    })
}

/// Adds `du`, smooths (the border extended, so a uniform field is kept) and bounds the
/// length.
fn update(field: &mut [Array3<f32>; 3], du: [Array3<f32>; 3], cfg: &WarpConfig) {
    let smooth =
        |a: &Array3<f32>, s: f32| ndarray_ndimage::gaussian_filter(a, s, 0, BorderMode::Nearest, 3);
    field.par_iter_mut().zip(du).for_each(|(f, d)| {
        // "Fluid" smoothing of the increment, then "elastic" smoothing of the field.
        let d = if cfg.fluid_nodes > 0.0 {
            smooth(&d, cfg.fluid_nodes)
        } else {
            d
        };
        *f += &d;
        *f = smooth(f, cfg.smooth_nodes);
    });
    let max = cfg.max_mm as f32;
    let [x, y, z] = field;
    ndarray::Zip::from(x).and(y).and(z).for_each(|a, b, c| {
        let len = (*a * *a + *b * *b + *c * *c).sqrt();
        if len > max {
            let s = max / len;
            *a *= s;
            *b *= s;
            *c *= s;
        }
    });
}

/// Refines the affine `m` (template → study world) with a displacement field. Returns the
/// field when it improved the NMI at the 2 mm level by at least `cfg.min_nmi_gain`, and a
/// record of what happened either way. `fine` is the study as the affine's finest level saw
/// it (for the NMI check).
#[must_use]
pub fn refine(
    tpl: &RegTemplate,
    img: &Volume,
    brain: &Mask,
    fine: &Moving,
    m: &Matrix4<f64>,
    cfg: &WarpConfig,
) -> (Option<Warp>, Nonlinear) {
    let t0 = Instant::now();
    let g2 = tpl.image.grid();
    let mut rec = Nonlinear {
        spacing_mm: 2.0 * g2.spacing_mm()[0],
        nmi_affine: nmi(&tpl.levels[2], fine, m).0,
        ..Default::default()
    };
    let lin = g2.linear();
    let axis_aligned = (0..3).all(|r| (0..3).all(|c| r == c || lin[(r, c)].abs() < 1e-9));
    if !axis_aligned || brain.count() < 100 {
        rec.status = "skipped: template grid not axis-aligned or empty study brain mask".into();
        return (None, rec);
    }
    // The study skull-stripped with its own brain mask.
    let mut stripped = img.data().clone();
    stripped.zip_mut_with(brain.data(), |v, &b| {
        if !b {
            *v = 0.0;
        }
    });
    let mut inside: Vec<f32> = stripped
        .iter()
        .copied()
        .filter(|v| v.is_finite() && *v > 0.0)
        .collect();
    let scale = SCALE
        * percentile_in_place(&mut inside, 50.0)
            .unwrap_or(1.0)
            .max(1e-6);
    let stripped = Volume::on_grid(stripped, &img.grid());
    // Work on the bounding box of the template brain plus 8 mm (where forces act) plus 8 mm
    // (where the field fades to zero), cut at even 2 mm indices so 4 mm nodes align.
    let region_full = dilate_mm(tpl.brain.data(), 8.0, g2.spacing_mm());
    let (fixed2, region2, g2c) = crop(tpl.image.data(), &region_full, &g2);
    let brain_f = tpl.brain.data().mapv(|b| if b { 1.0f32 } else { 0.0 });
    let (fixed_m2, _, _) = crop(&brain_f, &region_full, &g2);
    let g2 = g2c;
    let (fixed4, g4) = block_mean(&fixed2, &g2, 2);
    let (fixed_m4, _) = block_mean(&fixed_m2, &g2, 2);
    let mask_vol = Volume::on_grid(
        brain.data().mapv(|b| if b { 1.0f32 } else { 0.0 }),
        &img.grid(),
    );
    let (r4, _) = block_mean(&region2.mapv(|b| if b { 1.0f32 } else { 0.0 }), &g2, 2);
    let sp2 = g2.spacing_mm()[0];
    let levels = [
        Stage {
            grad_f: gradient(&fixed4, 2.0 * sp2),
            fixed: fixed4,
            region: r4.mapv(|x| x > 0.0),
            grid: g4.clone(),
            moving: Moving::new(&stripped, 2.0, scale),
            grad_fm: gradient(&fixed_m4, 2.0 * sp2),
            fixed_m: fixed_m4,
            mask: Moving::new(&mask_vol, 2.0, 1.0),
            step_mm: cfg.step_mm[0],
            iters: cfg.iterations[0],
        },
        Stage {
            grad_f: gradient(&fixed2, sp2),
            fixed: fixed2,
            region: region2,
            grid: g2.clone(),
            moving: Moving::new(&stripped, 1.0, scale),
            grad_fm: gradient(&fixed_m2, sp2),
            fixed_m: fixed_m2,
            mask: Moving::new(&mask_vol, 1.0, 1.0),
            step_mm: cfg.step_mm[1],
            iters: cfg.iterations[1],
        },
    ];
    let mut warp = Warp::zeros(&g4);
    tracing::debug!(secs = t0.elapsed().as_secs_f64(), "non-linear set-up done");
    for (li, level) in levels.iter().enumerate() {
        let (mut tp, mut tf, mut tu) = (0.0, 0.0, 0.0);
        for _ in 0..level.iters {
            let t = Instant::now();
            let (raw, raw_m) = pull(level, &warp, m);
            tp += t.elapsed().as_secs_f64();
            let t = Instant::now();
            let du = force(level, &raw, &raw_m, cfg.mask_weight);
            tf += t.elapsed().as_secs_f64();
            let t = Instant::now();
            let du = if li == 0 {
                du
            } else {
                du.map(|d| to_field(&d, g4.dims))
            };
            let mut field = warp.field.clone();
            update(&mut field, du, cfg);
            warp = Warp::from_parts(g4.clone(), field);
            tu += t.elapsed().as_secs_f64();
        }
        tracing::debug!(
            level = li,
            pull = tp,
            force = tf,
            update = tu,
            "non-linear level done (seconds)"
        );
        rec.iterations.push(level.iters);
    }
    let lv = &tpl.levels[2];
    let warped = crate::template::Level {
        points: lv.points.iter().map(|p| warp.forward(*p)).collect(),
        ..lv.clone()
    };
    rec.nmi_warped = nmi(&warped, fine, m).0;
    rec.max_mm = warp.max_mm();
    rec.mean_mm = warp.mean_mm_in(&tpl.brain);
    rec.min_jacobian = warp.min_jacobian();
    rec.seconds = t0.elapsed().as_secs_f64();
    let gain = rec.nmi_warped - rec.nmi_affine;
    if gain >= cfg.min_nmi_gain && rec.min_jacobian > 0.0 {
        rec.used = true;
        rec.status = "used".into();
        (Some(warp), rec)
    } else {
        rec.status = if rec.min_jacobian <= 0.0 {
            format!(
                "discarded: the field folds (Jacobian {:.2})",
                rec.min_jacobian
            )
        } else {
            format!(
                "discarded: NMI gain {gain:.4} < {:.4}; affine kept",
                cfg.min_nmi_gain
            )
        };
        tracing::info!("non-linear refinement {}", rec.status);
        (None, rec)
    }
}
