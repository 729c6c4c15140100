//! Imaging the subject on the scanner's native grid: every native voxel integrates the
//! template-space signal maps over its footprint — in-plane sub-samples and a Gaussian slice
//! profile through the slice thickness (the gap between slices is not imaged) — at the
//! template points the subject's pose, warp and atrophy map it to. Lesion truth is integrated
//! the same way, giving each lesion's partial volume in every native voxel.

use crate::acquire::Clean;
use crate::physics::TissueMaps;
use crate::subject::Subject;
use crate::template::Template;
use nalgebra::{Matrix3, Vector3, Vector4};
use ndarray::Array3;
use std::collections::HashMap;
use strokeseg_core::{sample_trilinear, Grid};

/// Lesion truth on the template grid: voxel labels (0 = none, n = lesion n−1) where the lesion
/// fraction is at least one half.
pub struct LesionLabels {
    /// One label per template voxel.
    pub labels: Array3<u16>,
}

/// Partial volume (0–1) of each lesion in each native voxel it touches: `(lesion, voxel
/// index [i, j, k], fraction)`.
pub type LesionPv = Vec<(usize, [usize; 3], f32)>;

/// How finely a native voxel is sub-sampled.
#[derive(Debug, Clone, Copy)]
pub struct Footprint {
    /// Sub-samples per in-plane axis.
    pub inplane: usize,
    /// Samples through the slice profile.
    pub through: usize,
    /// Slice thickness (mm), the FWHM of the Gaussian profile.
    pub thickness_mm: f64,
}

impl Footprint {
    /// A footprint for voxels of `inplane_mm` and slices of `thickness_mm`.
    #[must_use]
    pub fn for_voxel(inplane_mm: f64, thickness_mm: f64) -> Footprint {
        Footprint {
            inplane: if inplane_mm >= 1.5 { 2 } else { 1 },
            through: ((thickness_mm / 1.25).round() as usize).clamp(2, 6),
            thickness_mm,
        }
    }

    /// Sample offsets in native voxel-index units and their weights (summing to 1).
    fn samples(&self, slice_step_mm: f64) -> Vec<([f64; 3], f32)> {
        let n = self.inplane;
        let inplane: Vec<f64> = (0..n).map(|s| (s as f64 + 0.5) / n as f64 - 0.5).collect();
        // Gaussian profile, FWHM = thickness, sampled over ±0.75 thickness (real profiles
        // spill past the nominal edges).
        let sigma = self.thickness_mm / 2.355;
        let m = self.through;
        let through: Vec<(f64, f64)> = (0..m)
            .map(|s| {
                let z = ((s as f64 + 0.5) / m as f64 - 0.5) * 1.5 * self.thickness_mm;
                (z / slice_step_mm, (-z * z / (2.0 * sigma * sigma)).exp())
            })
            .collect();
        let mut out = Vec::new();
        for &a in &inplane {
            for &b in &inplane {
                for &(c, w) in &through {
                    out.push(([a, b, c], w as f32));
                }
            }
        }
        let total: f32 = out.iter().map(|x| x.1).sum();
        out.iter_mut().for_each(|x| x.1 /= total);
        out
    }
}

/// Renders the clean native images and the lesions' partial volumes.
#[must_use]
pub fn render(
    tpl: &Template,
    maps: &TissueMaps,
    labels: &LesionLabels,
    head_dist_mm: &Array3<f32>,
    subject: &Subject,
    grid: &Grid,
    footprint: Footprint,
) -> (Clean, LesionPv) {
    let d = grid.dims;
    let t_inv = tpl.grid.world_to_voxel_affine();
    let to_tidx = |q: [f64; 3]| {
        let v = t_inv * Vector4::new(q[0], q[1], q[2], 1.0);
        [v[0], v[1], v[2]]
    };
    // Offsets: native index units → template mm, using the pose's linear part only (the warp
    // and atrophy vary slowly over a voxel's footprint).
    let lin: Matrix3<f64> = grid.linear();
    let probe = subject.to_template([0.0; 3]);
    let pose = Matrix3::from_columns(&[0, 1, 2].map(|a| {
        let mut e = [0.0; 3];
        e[a] = 1.0;
        let q = subject.to_template(e);
        Vector3::new(q[0] - probe[0], q[1] - probe[1], q[2] - probe[2])
    }));
    let offset_map = t_inv.fixed_view::<3, 3>(0, 0) * pose * lin;
    let samples: Vec<(Vector3<f64>, f32)> = footprint
        .samples(grid.spacing_mm()[2])
        .into_iter()
        .map(|(o, w)| (offset_map * Vector3::new(o[0], o[1], o[2]), w))
        .collect();
    let reach_mm = samples.iter().map(|(o, _)| o.norm()).fold(0.0f64, f64::max);
    let skip_beyond_mm = (crate::physics::HEAD_OUTER_MM as f64 + reach_mm + 1.5) as f32;
    let slices: Vec<usize> = (0..d[2]).collect();
    let run = |ks: &[usize]| {
        let mut s0 = Array3::<f32>::zeros((d[0], d[1], ks.len()));
        let mut dwi = s0.clone();
        let mut brain = s0.clone();
        let mut mni = Array3::from_elem((d[0], d[1], ks.len()), [0f32; 3]);
        let mut pv: HashMap<(usize, [usize; 3]), f32> = HashMap::new();
        for (kk, &k) in ks.iter().enumerate() {
            for j in 0..d[1] {
                for i in 0..d[0] {
                    let q =
                        subject.to_template(grid.voxel_to_world([i as f64, j as f64, k as f64]));
                    mni[[i, j, kk]] = [q[0] as f32, q[1] as f32, q[2] as f32];
                    let c = to_tidx(q);
                    // Outside the template grid, or so far outside the scalp that no part of
                    // the footprint can reach it: air.
                    let ci = [c[0].round(), c[1].round(), c[2].round()];
                    let dims = head_dist_mm.dim();
                    if ci[0] < 0.0
                        || ci[1] < 0.0
                        || ci[2] < 0.0
                        || ci[0] as usize >= dims.0
                        || ci[1] as usize >= dims.1
                        || ci[2] as usize >= dims.2
                        || head_dist_mm[[ci[0] as usize, ci[1] as usize, ci[2] as usize]]
                            > skip_beyond_mm
                    {
                        continue;
                    }
                    let (mut a, mut b, mut br) = (0.0f32, 0.0f32, 0.0f32);
                    for (o, w) in &samples {
                        let (x, y, z) = (c[0] + o[0], c[1] + o[1], c[2] + o[2]);
                        a += w * sample_trilinear(&maps.s0.view(), [x, y, z]);
                        b += w * sample_trilinear(&maps.dwi.view(), [x, y, z]);
                        br += w * sample_trilinear(&maps.brain.view(), [x, y, z]);
                        let (xi, yi, zi) = (x.round(), y.round(), z.round());
                        if xi >= 0.0 && yi >= 0.0 && zi >= 0.0 {
                            if let Some(&l) =
                                labels.labels.get([xi as usize, yi as usize, zi as usize])
                            {
                                if l > 0 {
                                    *pv.entry((usize::from(l) - 1, [i, j, k])).or_insert(0.0) += w;
                                }
                            }
                        }
                    }
                    s0[[i, j, kk]] = a;
                    dwi[[i, j, kk]] = b;
                    brain[[i, j, kk]] = br;
                }
            }
        }
        (s0, dwi, brain, mni, pv)
    };
    // Two halves of the slices in parallel (the machine this targets has 2 cores).
    let (lo, hi) = slices.split_at(d[2] / 2);
    let (r_lo, r_hi) = std::thread::scope(|s| {
        let h = s.spawn(|| run(hi));
        (run(lo), h.join().expect("render thread"))
    });
    let cat = |a: Array3<f32>, b: Array3<f32>| {
        ndarray::concatenate(ndarray::Axis(2), &[a.view(), b.view()]).expect("same in-plane shape")
    };
    let mni =
        ndarray::concatenate(ndarray::Axis(2), &[r_lo.3.view(), r_hi.3.view()]).expect("shape");
    let clean = Clean {
        s0: cat(r_lo.0, r_hi.0),
        dwi: cat(r_lo.1, r_hi.1),
        brain: cat(r_lo.2, r_hi.2),
        mni,
    };
    let mut pv: LesionPv = r_lo
        .4
        .into_iter()
        .chain(r_hi.4)
        .map(|((l, v), f)| (l, v, f))
        .collect();
    pv.sort_by_key(|a| (a.0, a.1));
    (clean, pv)
}
