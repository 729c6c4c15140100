//! A lesion drawn in MNI space (fractions on the 1 mm template grid) onto a study's native
//! grid through the study's registration: each native voxel averages the template fraction
//! over sub-samples spread across its own extent (so thick slices get true partial volumes),
//! then is weighted by where lesions may go in this brain.

use nalgebra::{Matrix4, Vector4};
use ndarray::Array3;
use strokeseg_core::Grid;
use strokeseg_register::Registration;
use strokeseg_synth::lesions::SparseField;
use strokeseg_synth::Template;

fn apply(m: &Matrix4<f64>, p: [f64; 3]) -> [f64; 3] {
    let v = m * Vector4::new(p[0], p[1], p[2], 1.0);
    [v[0], v[1], v[2]]
}

/// Trilinear sample of a sparse field at a (fractional) template voxel position.
fn sample_sparse(f: &SparseField, t: [f64; 3]) -> f32 {
    let base = t.map(f64::floor);
    let w = [t[0] - base[0], t[1] - base[1], t[2] - base[2]];
    let mut acc = 0.0f64;
    for corner in 0..8 {
        let off = [corner & 1, (corner >> 1) & 1, (corner >> 2) & 1];
        let mut ijk = [0usize; 3];
        let mut weight = 1.0;
        let mut inside = true;
        for a in 0..3 {
            let c = base[a] + off[a] as f64;
            if c < 0.0 {
                inside = false;
                break;
            }
            ijk[a] = c as usize;
            weight *= if off[a] == 1 { w[a] } else { 1.0 - w[a] };
        }
        if inside && weight > 0.0 {
            acc += weight * f64::from(f.get(ijk));
        }
    }
    acc as f32
}

/// Sub-samples per native voxel along each axis: about one per template millimetre, 1–4.
fn subsamples(spacing: [f64; 3]) -> [usize; 3] {
    spacing.map(|s| (s.ceil() as usize).clamp(1, 4))
}

/// The native voxels the lesion covers and their fractions (× `weight`, which is 0 where no
/// lesion may be), sorted by voxel index.
#[must_use]
pub fn native_fraction(
    frac: &SparseField,
    tpl: &Template,
    reg: &Registration,
    grid: &Grid,
    weight: &Array3<f32>,
) -> Vec<([usize; 3], f32)> {
    let d = frac.data.dim();
    let o = frac.origin;
    // Bounding box: the template box's corners mapped into the native grid, plus a margin
    // for the non-linear field between corners.
    let w2v = grid.world_to_voxel_affine();
    let mut lo = [f64::INFINITY; 3];
    let mut hi = [f64::NEG_INFINITY; 3];
    for corner in 0..8 {
        let t = [
            (o[0] + if corner & 1 == 1 { d.0 } else { 0 }) as f64,
            (o[1] + if corner & 2 == 2 { d.1 } else { 0 }) as f64,
            (o[2] + if corner & 4 == 4 { d.2 } else { 0 }) as f64,
        ];
        let q = tpl.grid.voxel_to_world(t);
        let v = apply(&w2v, reg.to_world(q));
        for a in 0..3 {
            lo[a] = lo[a].min(v[a]);
            hi[a] = hi[a].max(v[a]);
        }
    }
    let dims = grid.dims;
    let range = |a: usize| {
        let s = (lo[a] - 3.0).floor().max(0.0) as usize;
        let e = ((hi[a] + 3.0).ceil().max(0.0) as usize).min(dims[a]);
        s..e
    };
    let (ri, rj, rk) = (range(0), range(1), range(2));
    let tpl_w2v = tpl.grid.world_to_voxel_affine();
    let ns = subsamples(grid.spacing_mm());
    let n_sub = (ns[0] * ns[1] * ns[2]) as f32;
    let mut out = Vec::new();
    for i in ri {
        for j in rj.clone() {
            for k in rk.clone() {
                let w = weight[[i, j, k]];
                if w <= 0.0 {
                    continue;
                }
                let mut acc = 0.0f32;
                for si in 0..ns[0] {
                    for sj in 0..ns[1] {
                        for sk in 0..ns[2] {
                            let v = [
                                i as f64 + (si as f64 + 0.5) / ns[0] as f64 - 0.5,
                                j as f64 + (sj as f64 + 0.5) / ns[1] as f64 - 0.5,
                                k as f64 + (sk as f64 + 0.5) / ns[2] as f64 - 0.5,
                            ];
                            let q = reg.to_mni(grid.voxel_to_world(v));
                            acc += sample_sparse(frac, apply(&tpl_w2v, q));
                        }
                    }
                }
                let f = (acc / n_sub * w).min(1.0);
                if f > 1e-3 {
                    out.push(([i, j, k], f));
                }
            }
        }
    }
    out
}
