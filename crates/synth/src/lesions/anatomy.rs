//! Anatomical landmarks in MNI ICBM152 2009a world coordinates (mm, RAS+) used to place
//! lesions and mimics, and small geometric helpers on the template.
//!
//! All positions are given for the right hemisphere (x > 0) and mirrored (x → −x) for the
//! left. They were checked against the template's tissue maps (`tests::landmarks_are_tissue`).

use rand::Rng;

use crate::regions::{region_at, Region};
use crate::template::Template;

/// An arterial territory as rays from a deep seed to the brain surface: the ray direction is
/// `dir` plus a uniform random offset in ±`spread` per component (right hemisphere).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Territory {
    pub seed: [f64; 3],
    pub dir: [f64; 3],
    pub spread: [f64; 3],
    /// Stop the ray at the midline (medial surfaces: ACA, medial occipital/temporal).
    pub medial: bool,
    /// Region the ray and the lesion stay in.
    pub region: Region,
}

/// MCA, lateral convexity: from the deep corona radiata out over the frontal, parietal and
/// temporal lateral surface.
pub(crate) const MCA: Territory = Territory {
    seed: [28.0, -10.0, 15.0],
    dir: [1.0, 0.0, 0.15],
    spread: [0.0, 0.9, 0.6],
    medial: false,
    region: Region::Supratentorial,
};
/// ACA: from the superior frontal white matter towards the medial frontal/parietal surface
/// (the interhemispheric fissure) and the parasagittal vertex.
pub(crate) const ACA: Territory = Territory {
    seed: [16.0, 10.0, 38.0],
    dir: [-1.0, 0.0, 0.5],
    spread: [0.0, 0.7, 0.4],
    medial: true,
    region: Region::Supratentorial,
};
/// PCA, occipital lobe: from the optic radiation backwards to the occipital pole and the
/// medial (calcarine) surface.
pub(crate) const PCA_OCCIPITAL: Territory = Territory {
    seed: [20.0, -62.0, 8.0],
    dir: [0.0, -1.0, 0.0],
    spread: [0.6, 0.0, 0.5],
    medial: true,
    region: Region::Supratentorial,
};
/// PCA, inferomedial temporal lobe: from the temporal white matter above the temporal horn
/// down to the basal temporal (fusiform/parahippocampal) surface.
pub(crate) const PCA_TEMPORAL: Territory = Territory {
    seed: [38.0, -28.0, -8.0],
    dir: [-0.2, -0.1, -1.0],
    spread: [0.3, 0.35, 0.0],
    medial: true,
    region: Region::Supratentorial,
};
/// Large MCA infarct: rays from the putamen/insula out over the Sylvian fissure to the lateral
/// frontal, temporal and parietal surface; the wedge reaches back to the basal ganglia.
pub(crate) const MCA_STEM: Territory = Territory {
    seed: [30.0, -5.0, 8.0],
    dir: [1.0, 0.0, 0.1],
    spread: [0.0, 0.3, 0.3],
    medial: false,
    region: Region::Supratentorial,
};
/// PICA: inferior/posterior cerebellar hemisphere.
pub(crate) const PICA: Territory = Territory {
    seed: [18.0, -58.0, -35.0],
    dir: [0.3, -0.7, -0.7],
    spread: [0.4, 0.3, 0.3],
    medial: false,
    region: Region::Cerebellum,
};
/// SCA: superior cerebellar surface (under the tentorium).
pub(crate) const SCA: Territory = Territory {
    seed: [18.0, -55.0, -35.0],
    dir: [0.3, -0.5, 0.8],
    spread: [0.4, 0.3, 0.2],
    medial: false,
    region: Region::Cerebellum,
};
/// AICA: anterior-inferior lateral cerebellum (middle cerebellar peduncle region).
pub(crate) const AICA: Territory = Territory {
    seed: [20.0, -52.0, -35.0],
    dir: [1.0, 0.1, -0.3],
    spread: [0.0, 0.3, 0.3],
    medial: false,
    region: Region::Cerebellum,
};

/// Deep sites for lacunes (right side) with relative weights: putamen, caudate head,
/// thalamus, posterior limb of the internal capsule, corona radiata (posterior and
/// anterior), centrum semiovale, paramedian pons.
pub(crate) const LACUNE_SITES: [([f64; 3], f64); 8] = [
    ([25.0, 2.0, 2.0], 0.18),
    ([13.0, 13.0, 10.0], 0.10),
    ([12.0, -18.0, 8.0], 0.18),
    ([22.0, -10.0, 8.0], 0.12),
    ([26.0, -12.0, 28.0], 0.15),
    ([24.0, 10.0, 26.0], 0.10),
    ([26.0, -25.0, 38.0], 0.10),
    ([4.0, -26.0, -30.0], 0.07),
];

/// Brainstem lesion sites (right paramedian): midbrain (cerebral peduncle/tegmentum), upper
/// and lower pons (basis pontis), medulla.
pub(crate) const STEM_SITES: [([f64; 3], f64); 4] = [
    ([5.0, -22.0, -12.0], 0.25),
    ([4.0, -26.0, -26.0], 0.30),
    ([4.0, -30.0, -36.0], 0.25),
    ([4.0, -40.0, -50.0], 0.20),
];

/// Cerebellar hemisphere blob centre (right): the centre of the hemisphere.
pub(crate) const CEREBELLAR_HEMISPHERE: [f64; 3] = [26.0, -66.0, -36.0];

/// Periventricular white-matter caps and bands (right): anterior cap of the frontal horn,
/// posterior cap of the occipital horn/atrium, band along the body of the lateral ventricle.
pub(crate) const WMH_FRONTAL_CAP: [f64; 3] = [20.0, 24.0, 14.0];
/// See [`WMH_FRONTAL_CAP`].
pub(crate) const WMH_OCCIPITAL_CAP: [f64; 3] = [26.0, -52.0, 12.0];
/// See [`WMH_FRONTAL_CAP`].
pub(crate) const WMH_BAND: [f64; 3] = [22.0, -10.0, 26.0];

/// Mirrors a right-hemisphere point to `side` (+1 right, −1 left).
#[must_use]
pub(crate) fn mirror(p: [f64; 3], side: f64) -> [f64; 3] {
    [p[0] * side, p[1], p[2]]
}

/// Uniformly random unit vector.
pub(crate) fn random_unit<R: Rng>(rng: &mut R) -> [f64; 3] {
    loop {
        let v = [
            rng.random_range(-1.0..1.0),
            rng.random_range(-1.0..1.0),
            rng.random_range(-1.0..1.0f64),
        ];
        let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
        if (0.1..=1.0).contains(&n) {
            return [v[0] / n, v[1] / n, v[2] / n];
        }
    }
}

/// Normalised vector (the x axis for a zero vector).
#[must_use]
pub(crate) fn normalize(v: [f64; 3]) -> [f64; 3] {
    let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
    if n > 1e-12 {
        [v[0] / n, v[1] / n, v[2] / n]
    } else {
        [1.0, 0.0, 0.0]
    }
}

/// Random orthonormal frame (rows) whose first axis is `first` (random when `None`).
pub(crate) fn random_frame<R: Rng>(rng: &mut R, first: Option<[f64; 3]>) -> [[f64; 3]; 3] {
    let a = normalize(first.unwrap_or_else(|| random_unit(rng)));
    let mut b = random_unit(rng);
    let d = a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
    b = [b[0] - d * a[0], b[1] - d * a[1], b[2] - d * a[2]];
    if (b[0] * b[0] + b[1] * b[1] + b[2] * b[2]) < 1e-6 {
        b = if a[0].abs() < 0.9 {
            [1.0, 0.0, 0.0]
        } else {
            [0.0, 1.0, 0.0]
        };
        let d = a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
        b = [b[0] - d * a[0], b[1] - d * a[1], b[2] - d * a[2]];
    }
    let b = normalize(b);
    let c = [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ];
    [a, b, c]
}

/// Nearest template voxel of a world point, when inside the grid.
#[must_use]
pub(crate) fn voxel_of(tpl: &Template, p: [f64; 3]) -> Option<[usize; 3]> {
    let v = tpl.grid.world_to_voxel_affine() * nalgebra::Vector4::new(p[0], p[1], p[2], 1.0);
    let d = tpl.grid.dims;
    let mut out = [0usize; 3];
    for i in 0..3 {
        let r = v[i].round();
        if !r.is_finite() || r < 0.0 || r > (d[i] - 1) as f64 {
            return None;
        }
        out[i] = r as usize;
    }
    Some(out)
}

/// GM+WM fraction at a world point (0 outside the grid or the intracranial mask).
#[must_use]
pub(crate) fn tissue_at(tpl: &Template, p: [f64; 3]) -> f32 {
    match voxel_of(tpl, p) {
        Some(v) if tpl.intracranial[v] => tpl.gm[v] + tpl.wm[v],
        _ => 0.0,
    }
}

/// Random ray direction of a territory on `side`.
pub(crate) fn territory_dir<R: Rng>(rng: &mut R, t: &Territory, side: f64) -> [f64; 3] {
    let mut d = t.dir;
    for (x, &s) in d.iter_mut().zip(&t.spread) {
        if s > 0.0 {
            *x += rng.random_range(-s..s);
        }
    }
    normalize(mirror(d, side))
}

/// The brain surface along a ray: the last point with GM+WM ≥ 0.5 before the ray leaves the
/// intracranial space, the territory's region, or (for medial territories) its hemisphere.
#[must_use]
pub(crate) fn surface_along(
    tpl: &Template,
    t: &Territory,
    side: f64,
    dir: [f64; 3],
) -> Option<[f64; 3]> {
    let seed = mirror(t.seed, side);
    let mut last = None;
    let mut s = 0.0;
    while s < 120.0 {
        let p = [
            seed[0] + s * dir[0],
            seed[1] + s * dir[1],
            seed[2] + s * dir[2],
        ];
        if (t.medial && p[0] * side < 0.0) || region_at(p) != t.region {
            break;
        }
        match voxel_of(tpl, p) {
            Some(v) if tpl.intracranial[v] => {
                if tpl.gm[v] + tpl.wm[v] >= 0.5 {
                    last = Some(p);
                }
            }
            _ => break,
        }
        s += 0.5;
    }
    last
}

/// The point with GM+WM ≥ `min` nearest to `p` within `radius_mm` (scanned in a fixed
/// order, so deterministic).
#[must_use]
pub(crate) fn snap_to_tissue(
    tpl: &Template,
    p: [f64; 3],
    min: f32,
    radius_mm: f64,
) -> Option<[f64; 3]> {
    if tissue_at(tpl, p) >= min {
        return Some(p);
    }
    let step = tpl
        .grid
        .spacing_mm()
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min)
        .max(0.5);
    let n = (radius_mm / step).ceil() as i64;
    let mut best: Option<(f64, [f64; 3])> = None;
    for a in -n..=n {
        for b in -n..=n {
            for c in -n..=n {
                let d2 = ((a * a + b * b + c * c) as f64) * step * step;
                if d2 > radius_mm * radius_mm || best.is_some_and(|(bd, _)| bd <= d2) {
                    continue;
                }
                let q = [
                    p[0] + a as f64 * step,
                    p[1] + b as f64 * step,
                    p[2] + c as f64 * step,
                ];
                if tissue_at(tpl, q) >= min {
                    best = Some((d2, q));
                }
            }
        }
    }
    best.map(|b| b.1)
}

/// A random world point with WM ≥ `min_wm` in the supratentorial region, away from the
/// midline by at least `min_abs_x` mm (rejection sampling over the intracranial box).
pub(crate) fn random_white_matter<R: Rng>(
    rng: &mut R,
    tpl: &Template,
    min_wm: f32,
    min_abs_x: f64,
) -> Option<[f64; 3]> {
    let d = tpl.grid.dims;
    for _ in 0..400 {
        let v = [
            rng.random_range(0..d[0]),
            rng.random_range(0..d[1]),
            rng.random_range(0..d[2]),
        ];
        if !tpl.intracranial[v] || tpl.wm[v] < min_wm {
            continue;
        }
        let p = tpl.world(v);
        if p[0].abs() >= min_abs_x && region_at(p) == Region::Supratentorial {
            return Some(p);
        }
    }
    None
}

/// Picks an index by weights.
pub(crate) fn pick<R: Rng>(rng: &mut R, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut x = rng.random_range(0.0..total.max(1e-12));
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    weights.len() - 1
}

/// Log-uniform draw in [lo, hi].
pub(crate) fn log_uniform<R: Rng>(rng: &mut R, lo: f64, hi: f64) -> f64 {
    if hi <= lo {
        return lo;
    }
    (lo.ln() + rng.random::<f64>() * (hi.ln() - lo.ln())).exp()
}

/// ±1 with equal probability.
pub(crate) fn random_side<R: Rng>(rng: &mut R) -> f64 {
    if rng.random_bool(0.5) {
        1.0
    } else {
        -1.0
    }
}
