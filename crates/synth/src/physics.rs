//! Tissue physics on the template grid: per-voxel S0 (T2-weighted, CSF > GM > WM) and the
//! diffusion-weighted signal DWI = Σ_tissue f·S0·exp(−b·ADC) (partial volume mixed in the
//! signal domain, as in a real voxel), with smooth spatial variation, skull and scalp outside
//! the brain, and the lesions' and mimics' ADC/S0 changes.

use crate::lesions::{Lesion, Mimic, SparseField};
use crate::regions::{region_at, Region};
use crate::template::Template;
use ndarray::Array3;
use rand::Rng;
use rand_distr::{Distribution, Normal};
use serde::Serialize;

/// Skull (no signal) and scalp (fat-suppressed soft tissue) layers around the intracranial
/// space, by distance in mm, and where the cerebellum is. Computed once per template.
#[derive(Debug, Clone)]
pub struct HeadModel {
    /// Distance (mm, chamfer approximation) from the intracranial space, 0 inside.
    pub dist_mm: Array3<f32>,
    /// Intracranial voxels in the cerebellum ([`crate::regions::region_at`]), whose grey
    /// matter gets the cerebellar-cortex values of [`TissueParams::cerebellar_gm`].
    pub cerebellum: Array3<bool>,
}

/// Skull spans this distance range (mm) outside the intracranial space, scalp the next.
const SKULL_MM: (f32, f32) = (1.0, 6.5);
const SCALP_MM: (f32, f32) = (6.5, 12.0);
/// Outer edge of the head (mm outside the intracranial space).
pub const HEAD_OUTER_MM: f32 = SCALP_MM.1;
/// Cap of the distance map: beyond this everything is air.
const DIST_CAP_MM: f32 = 30.0;

impl HeadModel {
    /// Builds the layers for `tpl`.
    #[must_use]
    pub fn new(tpl: &Template) -> HeadModel {
        let mut cerebellum = Array3::from_elem(tpl.intracranial.dim(), false);
        for ((i, j, k), &inside) in tpl.intracranial.indexed_iter() {
            if inside && region_at(tpl.world([i, j, k])) == Region::Cerebellum {
                cerebellum[[i, j, k]] = true;
            }
        }
        HeadModel {
            dist_mm: chamfer_distance(&tpl.intracranial, DIST_CAP_MM),
            cerebellum,
        }
    }
}

/// Two-pass 3-4-5 chamfer distance (in voxels of 1 mm → mm) from the `true` voxels, capped.
/// Hand-written: a capped 3-D distance map on a ~12 M voxel grid in two linear passes; the
/// crates we use offer only morphology with box kernels.
fn chamfer_distance(inside: &Array3<bool>, cap: f32) -> Array3<f32> {
    let (nx, ny, nz) = inside.dim();
    let big = cap * 3.0 + 10.0;
    let mut d = inside.mapv(|b| if b { 0.0f32 } else { big * 3.0 });
    let w = |dx: i64, dy: i64, dz: i64| match dx.abs() + dy.abs() + dz.abs() {
        1 => 3.0f32,
        2 => 4.0,
        _ => 5.0,
    };
    let mut fwd = Vec::new();
    for dz in -1i64..=1 {
        for dy in -1i64..=1 {
            for dx in -1i64..=1 {
                let before = (dz, dy, dx) < (0, 0, 0);
                if before {
                    fwd.push((dx, dy, dz, w(dx, dy, dz)));
                }
            }
        }
    }
    let bwd: Vec<_> = fwd.iter().map(|&(x, y, z, c)| (-x, -y, -z, c)).collect();
    let pass = |d: &mut Array3<f32>, offs: &[(i64, i64, i64, f32)], forward: bool| {
        let order = |n: usize| -> Box<dyn Iterator<Item = usize>> {
            if forward {
                Box::new(0..n)
            } else {
                Box::new((0..n).rev())
            }
        };
        for k in order(nz) {
            for j in order(ny) {
                for i in order(nx) {
                    let mut best = d[[i, j, k]];
                    if best == 0.0 {
                        continue;
                    }
                    for &(dx, dy, dz, c) in offs {
                        let (a, b, e) = (i as i64 + dx, j as i64 + dy, k as i64 + dz);
                        if a < 0
                            || b < 0
                            || e < 0
                            || a >= nx as i64
                            || b >= ny as i64
                            || e >= nz as i64
                        {
                            continue;
                        }
                        let v = d[[a as usize, b as usize, e as usize]] + c;
                        if v < best {
                            best = v;
                        }
                    }
                    d[[i, j, k]] = best;
                }
            }
        }
    };
    pass(&mut d, &fwd, true);
    pass(&mut d, &bwd, false);
    d.mapv(|x| (x / 3.0).min(cap))
}

/// Tissue constants of one study (recorded in the manifest).
#[derive(Debug, Clone, Serialize)]
pub struct TissueParams {
    /// Relative S0 (WM = 1) of GM, WM, CSF, scalp.
    pub s0: [f32; 4],
    /// ADC (mm²/s) of GM, WM, CSF, scalp.
    pub adc: [f32; 4],
    /// Amplitude of the smooth spatial ADC variation (fraction).
    pub adc_variation: f32,
    /// Cerebellar grey matter (cortex) relative to cerebral GM: [ADC factor, S0 factor].
    /// The densely packed granular layer diffuses less (cerebellar cortex ADC ≈ 0.65–0.75
    /// vs ≈ 0.80–0.85 ×10⁻³ mm²/s in the cerebrum), which is why the healthy cerebellum is
    /// bright on b1000–1500 DWI. Measured on the real healthy series here: cerebellar ADC
    /// 0.91 (0.88–0.95) × the brain median (docs/synth.md, "Normal tissue by region").
    pub cerebellar_gm: [f32; 2],
}

impl TissueParams {
    /// Draws per-subject tissue values around GM 0.80, WM 0.70, CSF 3.0 ×10⁻³ mm²/s.
    pub fn sample<R: Rng>(rng: &mut R) -> TissueParams {
        let mut j = |m: f32, sd: f32| {
            m * (1.0
                + Normal::new(0.0, sd)
                    .expect("sd")
                    .sample(rng)
                    .clamp(-2.5 * sd, 2.5 * sd))
        };
        TissueParams {
            s0: [j(1.3, 0.05), 1.0, j(2.3, 0.08), j(0.45, 0.2)],
            adc: [
                j(0.80e-3, 0.05),
                j(0.70e-3, 0.05),
                j(3.0e-3, 0.04),
                j(1.1e-3, 0.1),
            ],
            adc_variation: rng.random_range(0.03..0.10),
            cerebellar_gm: [1.0, 1.0],
        }
    }

    /// Draws the regional values ([`TissueParams::cerebellar_gm`]: ADC × 0.85 ± 0.03, S0 ×
    /// 1.03 ± 0.02). Kept apart from [`TissueParams::sample`] so that callers may draw them
    /// from their own random stream (the dataset does, so that adding them left every other
    /// draw of a study — anatomy, lesions, noise — unchanged).
    pub fn sample_regional<R: Rng>(&mut self, rng: &mut R) {
        let mut n = |m: f32, sd: f32| {
            m + Normal::new(0.0, sd)
                .expect("sd")
                .sample(rng)
                .clamp(-2.5 * sd, 2.5 * sd)
        };
        self.cerebellar_gm = [n(0.85, 0.03), n(1.03, 0.02)];
    }
}

/// A smooth separable field 1 + a·(f(x)+f(y)+f(z))/3 from random low-frequency sines.
#[derive(Debug, Clone)]
struct SmoothField {
    per_axis: [Vec<f32>; 3],
}

impl SmoothField {
    fn new<R: Rng>(rng: &mut R, dims: [usize; 3], amp: f32) -> SmoothField {
        let per_axis = std::array::from_fn(|a| {
            let n = dims[a];
            let waves: Vec<(f32, f32, f32)> = (0..3)
                .map(|_| {
                    (
                        rng.random_range(0.5..2.5f32),
                        rng.random_range(0.0..std::f32::consts::TAU),
                        rng.random_range(-1.0..1.0f32),
                    )
                })
                .collect();
            (0..n)
                .map(|i| {
                    let t = i as f32 / n as f32 * std::f32::consts::TAU;
                    amp / 3.0
                        * waves
                            .iter()
                            .map(|(f, ph, w)| w * (f * t + ph).sin())
                            .sum::<f32>()
                        / 1.5
                })
                .collect()
        });
        SmoothField { per_axis }
    }

    #[inline]
    fn at(&self, i: usize, j: usize, k: usize) -> f32 {
        1.0 + self.per_axis[0][i] + self.per_axis[1][j] + self.per_axis[2][k]
    }
}

/// S0 and DWI maps on the template grid for one study, plus the intracranial fraction.
#[derive(Debug, Clone)]
pub struct TissueMaps {
    /// S0 (WM ≈ 1).
    pub s0: Array3<f32>,
    /// Diffusion-weighted signal at the study's b-value.
    pub dwi: Array3<f32>,
    /// Intracranial (brain incl. CSF) indicator, 0/1, for partial-volume brain masks.
    pub brain: Array3<f32>,
}

/// Signal of one voxel given its tissue fractions (GM, WM, CSF, scalp), the smooth ADC
/// variation `var`, the lesion/mimic modifiers `m` (ADC factor, S0 factor) and the regional
/// grey-matter modifiers `gm_mod` ([ADC factor, S0 factor], e.g. cerebellar cortex).
#[inline]
fn voxel(
    p: &TissueParams,
    b: f32,
    (g, w, c, scalp): (f32, f32, f32, f32),
    var: f32,
    (m_adc, m_s0): (f32, f32),
    gm_mod: [f32; 2],
) -> (f32, f32) {
    let s_g = p.s0[0] * gm_mod[1] * m_s0;
    let s_w = p.s0[1] * m_s0;
    let a_g = p.adc[0] * gm_mod[0] * var * m_adc;
    let a_w = p.adc[1] * var * m_adc;
    let s0 = g * s_g + w * s_w + c * p.s0[2] + scalp * p.s0[3];
    let dwi = g * s_g * (-b * a_g).exp()
        + w * s_w * (-b * a_w).exp()
        + c * p.s0[2] * (-b * p.adc[2]).exp()
        + scalp * p.s0[3] * (-b * p.adc[3]).exp();
    (s0, dwi)
}

/// Builds the maps for the study's lesions and mimics (`pathology`). `atrophy` 0–1 widens sulci (moves GM fraction to CSF at the cortex).
pub fn tissue_maps<R: Rng>(
    rng: &mut R,
    tpl: &Template,
    head: &HeadModel,
    p: &TissueParams,
    b: f64,
    atrophy: f64,
    pathology: (&[Lesion], &[Mimic]),
) -> TissueMaps {
    let (lesions, mimics) = pathology;
    let b = b as f32;
    let field = SmoothField::new(rng, tpl.grid.dims, p.adc_variation);
    let shrink = 0.55 * atrophy as f32;
    let fractions = |i: usize, j: usize, k: usize| {
        let (mut g, w, mut c) = (tpl.gm[[i, j, k]], tpl.wm[[i, j, k]], tpl.csf[[i, j, k]]);
        if shrink > 0.0 && g > 0.0 {
            let s = shrink * g * (4.0 * c).min(1.0);
            g -= s;
            c += s;
        }
        let dist = head.dist_mm[[i, j, k]];
        let scalp = if (SCALP_MM.0..SCALP_MM.1).contains(&dist) {
            1.0
        } else {
            0.0
        };
        let _skull = (SKULL_MM.0..SKULL_MM.1).contains(&dist); // bone: no signal
        (g, w, c, scalp)
    };
    let gm_mod = |i: usize, j: usize, k: usize| {
        if head.cerebellum.get([i, j, k]).copied().unwrap_or(false) {
            p.cerebellar_gm
        } else {
            [1.0, 1.0]
        }
    };
    let dims = tpl.gm.dim();
    let mut s0 = Array3::<f32>::zeros(dims);
    let mut dwi = Array3::<f32>::zeros(dims);
    for ((i, j, k), o) in s0.indexed_iter_mut() {
        let fr = fractions(i, j, k);
        if fr.0 + fr.1 + fr.2 + fr.3 == 0.0 {
            continue;
        }
        let (a, d) = voxel(p, b, fr, field.at(i, j, k), (1.0, 1.0), gm_mod(i, j, k));
        *o = a;
        dwi[[i, j, k]] = d;
    }
    // Lesions and mimics: recompute the voxels they touch with combined modifiers.
    let mut m_adc = std::collections::HashMap::<[usize; 3], (f32, f32)>::new();
    let mut apply = |f: &SparseField, adc_factor: f32, s0_factor: f32| {
        for ((a, bb, c), &x) in f.data.indexed_iter() {
            if x <= 0.0 {
                continue;
            }
            let idx = [f.origin[0] + a, f.origin[1] + bb, f.origin[2] + c];
            let e = m_adc.entry(idx).or_insert((1.0, 1.0));
            e.0 *= 1.0 - x + x * adc_factor;
            e.1 *= 1.0 - x + x * s0_factor;
        }
    };
    for l in lesions {
        apply(&l.frac, l.adc_factor, l.s0_factor);
    }
    for m in mimics {
        apply(&m.frac, m.adc_factor, m.s0_factor);
    }
    for (idx, (ma, ms)) in m_adc {
        let [i, j, k] = idx;
        if i >= dims.0 || j >= dims.1 || k >= dims.2 {
            continue;
        }
        let fr = fractions(i, j, k);
        let (a, d) = voxel(p, b, fr, field.at(i, j, k), (ma, ms), gm_mod(i, j, k));
        s0[idx] = a;
        dwi[idx] = d;
    }
    let brain = tpl.intracranial.mapv(|x| if x { 1.0 } else { 0.0 });
    TissueMaps { s0, dwi, brain }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn chamfer_distance_grows_outward() {
        let mut m = Array3::from_elem((21, 21, 21), false);
        m[[10, 10, 10]] = true;
        let d = chamfer_distance(&m, 20.0);
        assert_eq!(d[[10, 10, 10]], 0.0);
        assert!((d[[15, 10, 10]] - 5.0).abs() < 1e-5);
        assert!((d[[13, 14, 10]] - 5.0).abs() < 0.6, "{}", d[[13, 14, 10]]);
    }

    #[test]
    fn signal_model_orders_tissues_like_a_dwi() {
        let p = TissueParams {
            s0: [1.3, 1.0, 2.3, 0.45],
            adc: [0.8e-3, 0.7e-3, 3.0e-3, 1.1e-3],
            adc_variation: 0.0,
            cerebellar_gm: [0.85, 1.03],
        };
        let (s0_g, d_g) = voxel(&p, 1000.0, GM, 1.0, (1.0, 1.0), ONE);
        let (s0_w, d_w) = voxel(&p, 1000.0, (0.0, 1.0, 0.0, 0.0), 1.0, (1.0, 1.0), ONE);
        let (s0_c, d_c) = voxel(&p, 1000.0, (0.0, 0.0, 1.0, 0.0), 1.0, (1.0, 1.0), ONE);
        assert!(s0_c > s0_g && s0_g > s0_w, "T2: CSF > GM > WM");
        assert!(d_c < d_w && d_c < d_g, "DWI: CSF dark");
        // ADC recovered from the two signals.
        assert!(((s0_g / d_g).ln() / 1000.0 - 0.8e-3).abs() < 1e-7);
        // An infarct (ADC ×0.55, S0 ×1.1) is bright on DWI: ratio to normal GM ≈ 1.1·e^{0.36}.
        let (_, d_l) = voxel(&p, 1000.0, GM, 1.0, (0.55, 1.1), ONE);
        assert!((d_l / d_g - 1.1 * (0.36f32).exp()).abs() < 1e-3);
        // Cerebellar cortex: lower ADC, so brighter on DWI than cerebral GM, ADC recovered.
        let (s0_cb, d_cb) = voxel(&p, 1000.0, GM, 1.0, (1.0, 1.0), [0.85, 1.03]);
        assert!(d_cb / d_g > 1.15, "{}", d_cb / d_g);
        assert!(((s0_cb / d_cb).ln() / 1000.0 - 0.68e-3).abs() < 1e-7);
    }

    const ONE: [f32; 2] = [1.0, 1.0];
    const GM: (f32, f32, f32, f32) = (1.0, 0.0, 0.0, 0.0);

    #[test]
    fn cerebellar_grey_matter_is_marked_on_the_phantom() {
        let tpl = Template::phantom(3.0);
        let head = HeadModel::new(&tpl);
        let n = head.cerebellum.iter().filter(|&&b| b).count();
        assert!(n > 1000, "{n} cerebellar voxels");
        for ((i, j, k), &c) in head.cerebellum.indexed_iter() {
            if c {
                assert!(tpl.intracranial[[i, j, k]]);
                assert_eq!(region_at(tpl.world([i, j, k])), Region::Cerebellum);
            }
        }
        let mut p = TissueParams::sample(&mut rand_chacha::ChaCha8Rng::seed_from_u64(1));
        assert_eq!(p.cerebellar_gm, [1.0, 1.0]);
        p.sample_regional(&mut rand_chacha::ChaCha8Rng::seed_from_u64(2));
        let [a, s] = p.cerebellar_gm;
        assert!(
            (0.77..=0.93).contains(&a) && (0.98..=1.08).contains(&s),
            "{a} {s}"
        );
    }
}
