//! The engine that turns a shape (a gauge function around a centre, roughened by smooth
//! noise, clipped to tissue and anatomy) into a fraction field of a requested volume.

use ndarray::Array3;
use rand::Rng;

pub(crate) use super::sparse::SparseField;
use crate::regions::{region_at, Region};
use crate::template::Template;

/// A star-shaped unit body K around the origin and its gauge g(q) = inf{s : q ∈ s·K}, in mm.
#[derive(Debug, Clone)]
pub(crate) enum Gauge {
    /// Ellipsoid with orthonormal `axes` (rows, world) and semi-axes `radii` (largest 1).
    Ellipsoid {
        axes: [[f64; 3]; 3],
        radii: [f64; 3],
    },
    /// Cone from a base on the brain surface (the centre) to an apex at depth 1 along the
    /// inward unit vector `u`, with half-angle tan `tan`, extended `back` outward (cut off by
    /// the brain surface anyway).
    Wedge { u: [f64; 3], tan: f64, back: f64 },
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

impl Gauge {
    fn eval(&self, q: [f64; 3]) -> f64 {
        match self {
            Gauge::Ellipsoid { axes, radii } => {
                let s: f64 = (0..3).map(|k| (dot(axes[k], q) / radii[k]).powi(2)).sum();
                s.sqrt()
            }
            Gauge::Wedge { u, tan, back } => {
                let h = dot(*u, q);
                let rho = (dot(q, q) - h * h).max(0.0).sqrt();
                (h + rho / tan).max(-h / back)
            }
        }
    }

    /// Axis-aligned bounds (world offsets, mm) of the unit body.
    fn bounds(&self) -> ([f64; 3], [f64; 3]) {
        match self {
            Gauge::Ellipsoid { axes, radii } => {
                let e: Vec<f64> = (0..3)
                    .map(|i| {
                        (0..3)
                            .map(|k| (radii[k] * axes[k][i]).powi(2))
                            .sum::<f64>()
                            .sqrt()
                    })
                    .collect();
                ([-e[0], -e[1], -e[2]], [e[0], e[1], e[2]])
            }
            Gauge::Wedge { u, tan, back } => {
                let rb = (1.0 + back) * tan;
                let (mut lo, mut hi) = ([0.0; 3], [0.0; 3]);
                for i in 0..3 {
                    let disk = rb * (1.0 - u[i] * u[i]).max(0.0).sqrt();
                    lo[i] = u[i].min(-back * u[i] - disk);
                    hi[i] = u[i].max(-back * u[i] + disk);
                }
                (lo, hi)
            }
        }
    }

    /// Volume (mm³) of the unit body.
    fn unit_volume(&self) -> f64 {
        match self {
            Gauge::Ellipsoid { radii, .. } => {
                4.0 / 3.0 * std::f64::consts::PI * radii[0] * radii[1] * radii[2]
            }
            Gauge::Wedge { tan, back, .. } => {
                let h = 1.0 + back;
                std::f64::consts::PI * (h * tan).powi(2) * h / 3.0
            }
        }
    }
}

/// Smooth boundary roughness: a normalised sum of plane waves in [−1, 1], with wavelengths
/// relative to the lesion's size.
#[derive(Debug, Clone)]
pub(crate) struct Noise {
    /// Relative amplitude (the gauge is multiplied by 1 + amp·n).
    pub amp: f64,
    /// (unit direction, wavelength relative to size, phase, weight).
    waves: Vec<([f64; 3], f64, f64, f64)>,
}

impl Noise {
    /// `n` waves with wavelengths 0.4–1.6 × the lesion size.
    pub fn draw<R: Rng>(rng: &mut R, amp: f64, n: usize) -> Noise {
        let waves = (0..n)
            .map(|_| {
                let d = super::anatomy::random_unit(rng);
                (
                    d,
                    rng.random_range(0.4..1.6),
                    rng.random_range(0.0..std::f64::consts::TAU),
                    rng.random_range(0.5..1.0),
                )
            })
            .collect();
        Noise {
            amp: amp.clamp(0.0, 0.6),
            waves,
        }
    }
}

/// Where a shape may extend besides tissue.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Clip {
    /// Stay on one side of the midline: (sign of x, tolerance in mm).
    pub side: Option<(f64, f64)>,
    /// Stay in this coarse region.
    pub region: Option<Region>,
}

impl Clip {
    fn allows(&self, p: [f64; 3]) -> bool {
        if let Some((s, tol)) = self.side {
            if p[0] * s < -tol {
                return false;
            }
        }
        match self.region {
            None => true,
            // quick exit: the brainstem and cerebellum rules never hold above/anterior to this
            Some(r) if p[1] > -5.0 || p[2] > 16.0 => r == Region::Supratentorial,
            Some(r) => region_at(p) == r,
        }
    }
}

/// A shape to be sized: gauge around `center` (world mm), noise, clipping, and the expected
/// share of the unit body that lands on tissue (for the first size guess).
#[derive(Debug, Clone)]
pub(crate) struct ShapeSpec {
    pub center: [f64; 3],
    pub gauge: Gauge,
    pub noise: Noise,
    pub clip: Clip,
    pub fill: f64,
}

/// How much of a voxel counts as lesion-capable tissue: 0 where GM+WM ≤ 0.15 (CSF), 1 where
/// ≥ 0.5, linear between — lesions and mimics act on tissue, the physics weights by tissue.
#[must_use]
pub(crate) fn tissue_weight(gm_wm: f32) -> f32 {
    ((gm_wm - 0.15) / 0.35).clamp(0.0, 1.0)
}

/// Voxel box [lo, hi] (inclusive) containing `center + reach·K`, clamped to the grid.
fn voxel_box(
    tpl: &Template,
    center: [f64; 3],
    gauge: &Gauge,
    reach: f64,
) -> Option<([usize; 3], [usize; 3])> {
    let (blo, bhi) = gauge.bounds();
    let inv = tpl.grid.world_to_voxel_affine();
    let (mut lo, mut hi) = ([f64::INFINITY; 3], [f64::NEG_INFINITY; 3]);
    for corner in 0..8 {
        let w: Vec<f64> = (0..3)
            .map(|i| center[i] + reach * if corner >> i & 1 == 1 { bhi[i] } else { blo[i] })
            .collect();
        let v = inv * nalgebra::Vector4::new(w[0], w[1], w[2], 1.0);
        for i in 0..3 {
            lo[i] = lo[i].min(v[i]);
            hi[i] = hi[i].max(v[i]);
        }
    }
    let d = tpl.grid.dims;
    let (mut l, mut h) = ([0usize; 3], [0usize; 3]);
    for i in 0..3 {
        if !(lo[i].is_finite() && hi[i].is_finite()) || hi[i] < 0.0 || lo[i] > (d[i] - 1) as f64 {
            return None;
        }
        l[i] = lo[i].floor().max(0.0) as usize;
        h[i] = (hi[i].ceil() as usize).min(d[i] - 1);
    }
    Some((l, h))
}

/// One candidate voxel: index within the box, roughened gauge (mm), tissue × clip weight.
struct Cand {
    idx: [u32; 3],
    g: f32,
    w: f32,
}

/// Candidates of one box: (voxels, box lo, box hi, largest threshold they cover).
type Candidates = (Vec<Cand>, [usize; 3], [usize; 3], f64);

fn frac(t: f64, g: f32, edge: f64) -> f64 {
    ((t - f64::from(g)) / edge + 0.5).clamp(0.0, 1.0)
}

fn volume_at(c: &[Cand], t: f64, edge: f64) -> f64 {
    c.iter().map(|c| f64::from(c.w) * frac(t, c.g, edge)).sum()
}

/// Sizes `spec` so that Σ fraction × voxel volume ≈ `target_ml` (bisection on the gauge
/// threshold, soft one-voxel edge). Returns `None` when the shape holds no tissue. When the
/// target cannot be reached (clipped by anatomy or the grid) the largest field is returned.
pub(crate) fn fit(tpl: &Template, spec: &ShapeSpec, target_ml: f64) -> Option<SparseField> {
    let grid = &tpl.grid;
    let vox_ml = grid.voxel_volume_ml();
    let sp = grid.spacing_mm();
    let edge = (sp[0] + sp[1] + sp[2]) / 3.0;
    let target = target_ml.max(1e-6) / vox_ml; // in voxels
    let size0 = (target_ml.max(1e-6) * 1000.0
        / (spec.gauge.unit_volume() * spec.fill.clamp(0.05, 1.0)))
    .cbrt();
    let amp = spec.noise.amp;
    let waves: Vec<([f64; 3], f64, f64)> = spec
        .noise
        .waves
        .iter()
        .map(|&(d, rel, ph, w)| {
            let k = std::f64::consts::TAU / (rel * size0.max(edge));
            ([d[0] * k, d[1] * k, d[2] * k], ph, w)
        })
        .collect();
    let wsum: f64 = waves.iter().map(|w| w.2).sum::<f64>().max(1e-9);
    let a = grid.affine;
    let c0 = spec.center;
    let mut s_box = (size0 * 1.3).max(edge);
    let mut best: Option<Candidates> = None;
    for _ in 0..7 {
        let reach = s_box / (1.0 - amp) + edge;
        let Some((lo, hi)) = voxel_box(tpl, c0, &spec.gauge, reach) else {
            break;
        };
        let limit = s_box + edge / 2.0;
        let mut cands = Vec::new();
        for i in lo[0]..=hi[0] {
            for j in lo[1]..=hi[1] {
                for k in lo[2]..=hi[2] {
                    if !tpl.intracranial[[i, j, k]] {
                        continue;
                    }
                    let w = tissue_weight(tpl.gm[[i, j, k]] + tpl.wm[[i, j, k]]);
                    if w <= 0.0 {
                        continue;
                    }
                    let (x, y, z) = (i as f64, j as f64, k as f64);
                    let p = [
                        a[(0, 0)] * x + a[(0, 1)] * y + a[(0, 2)] * z + a[(0, 3)],
                        a[(1, 0)] * x + a[(1, 1)] * y + a[(1, 2)] * z + a[(1, 3)],
                        a[(2, 0)] * x + a[(2, 1)] * y + a[(2, 2)] * z + a[(2, 3)],
                    ];
                    let q = [p[0] - c0[0], p[1] - c0[1], p[2] - c0[2]];
                    let g = spec.gauge.eval(q);
                    if g * (1.0 - amp) > limit || !spec.clip.allows(p) {
                        continue;
                    }
                    let n: f64 = waves
                        .iter()
                        .map(|(kv, ph, w)| w * (dot(*kv, p) + ph).sin())
                        .sum::<f64>()
                        / wsum;
                    let g = g * (1.0 + amp * n);
                    if g > limit {
                        continue;
                    }
                    let idx = [(i - lo[0]) as u32, (j - lo[1]) as u32, (k - lo[2]) as u32];
                    cands.push(Cand {
                        idx,
                        g: g as f32,
                        w,
                    });
                }
            }
        }
        let vmax = volume_at(&cands, s_box, edge);
        let grew = best
            .as_ref()
            .is_none_or(|b| vmax > volume_at(&b.0, b.3, edge) * 1.02);
        let done = vmax >= target || !grew;
        if grew {
            best = Some((cands, lo, hi, s_box));
        }
        if done || s_box > 300.0 {
            break;
        }
        s_box *= 1.6;
    }
    let (cands, lo, hi, s_box) = best?;
    let t = if volume_at(&cands, s_box, edge) <= target {
        s_box
    } else {
        let (mut l, mut h) = (-edge, s_box);
        for _ in 0..60 {
            let m = 0.5 * (l + h);
            let v = volume_at(&cands, m, edge);
            if (v - target).abs() <= 1e-3 * target {
                l = m;
                h = m;
                break;
            }
            if v < target {
                l = m;
            } else {
                h = m;
            }
        }
        0.5 * (l + h)
    };
    let mut data = Array3::<f32>::zeros((hi[0] - lo[0] + 1, hi[1] - lo[1] + 1, hi[2] - lo[2] + 1));
    let (mut nlo, mut nhi) = ([u32::MAX; 3], [0u32; 3]);
    for c in &cands {
        let f = (f64::from(c.w) * frac(t, c.g, edge)) as f32;
        if f > 1e-4 {
            data[[c.idx[0] as usize, c.idx[1] as usize, c.idx[2] as usize]] = f.min(1.0);
            for ax in 0..3 {
                nlo[ax] = nlo[ax].min(c.idx[ax]);
                nhi[ax] = nhi[ax].max(c.idx[ax]);
            }
        }
    }
    if nlo[0] == u32::MAX {
        return None;
    }
    let (l, h) = (nlo.map(|x| x as usize), nhi.map(|x| x as usize));
    let data = data
        .slice(ndarray::s![l[0]..=h[0], l[1]..=h[1], l[2]..=h[2]])
        .to_owned();
    Some(SparseField {
        origin: [lo[0] + l[0], lo[1] + l[1], lo[2] + l[2]],
        data,
    })
}
