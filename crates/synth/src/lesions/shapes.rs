//! Shape builders shared by lesions and mimics: cortical wedges in arterial territories,
//! deep ellipsoids (lacunes, brainstem, blobs) and showers of dots, each sized to a volume.

use rand::Rng;

use super::anatomy::{
    log_uniform, mirror, normalize, pick, random_frame, random_side, snap_to_tissue, surface_along,
    territory_dir, Territory, ACA, AICA, CEREBELLAR_HEMISPHERE, LACUNE_SITES, MCA, MCA_STEM,
    PCA_OCCIPITAL, PCA_TEMPORAL, PICA, SCA, STEM_SITES,
};
use super::field::{fit, Clip, Gauge, Noise, ShapeSpec, SparseField};
use crate::regions::{region_at, Region};
use crate::template::Template;

/// Tries per shape before giving up (a new site each time).
const TRIES: usize = 6;

/// A large MCA infarct stays lateral to this |x| (mm): the caudate head and lateral
/// ventricle wall, sparing the medial (ACA) surface.
const LARGE_MCA_MEDIAL_X: f64 = 10.0;

/// Wedge from the brain surface of territory `t` inwards, half-angle in `deg`, boundary
/// roughness `amp`.
fn wedge<R: Rng>(
    rng: &mut R,
    tpl: &Template,
    t: &Territory,
    side: f64,
    deg: (f64, f64),
    amp: (f64, f64),
    target_ml: f64,
) -> Option<SparseField> {
    for _ in 0..TRIES {
        let dir = territory_dir(rng, t, side);
        let Some(c) = surface_along(tpl, t, side, dir) else {
            continue;
        };
        let tan = rng.random_range(deg.0..deg.1).to_radians().tan();
        let a = rng.random_range(amp.0..amp.1);
        let tol = match t.region {
            Region::Supratentorial if t.seed == MCA_STEM.seed => -LARGE_MCA_MEDIAL_X,
            Region::Supratentorial => 0.0,
            _ => 2.0,
        };
        let spec = ShapeSpec {
            center: c,
            gauge: Gauge::Wedge {
                u: [-dir[0], -dir[1], -dir[2]],
                tan,
                back: 0.3,
            },
            noise: Noise::draw(rng, a, 5),
            clip: Clip {
                side: Some((side, tol)),
                region: Some(t.region),
            },
            fill: 0.45,
        };
        if let Some(f) = fit(tpl, &spec, target_ml) {
            return Some(f);
        }
    }
    None
}

/// Ellipsoid around `center` with major axis `axis` (random when `None`) and minor radii
/// drawn in `minor` (relative to the major).
#[allow(clippy::too_many_arguments)]
fn blob<R: Rng>(
    rng: &mut R,
    tpl: &Template,
    center: [f64; 3],
    axis: Option<[f64; 3]>,
    minor: (f64, f64),
    amp: f64,
    clip: Clip,
    target_ml: f64,
) -> Option<SparseField> {
    let axes = random_frame(rng, axis);
    let radii = [
        1.0,
        rng.random_range(minor.0..minor.1),
        rng.random_range(minor.0..minor.1),
    ];
    let spec = ShapeSpec {
        center,
        gauge: Gauge::Ellipsoid { axes, radii },
        noise: Noise::draw(rng, amp, 3),
        clip,
        fill: 0.85,
    };
    fit(tpl, &spec, target_ml)
}

fn jitter<R: Rng>(rng: &mut R, p: [f64; 3], mm: [f64; 3]) -> [f64; 3] {
    let mut q = p;
    for i in 0..3 {
        if mm[i] > 0.0 {
            q[i] += rng.random_range(-mm[i]..mm[i]);
        }
    }
    q
}

/// Territorial cortical wedge: MCA convexity, ACA medial frontal/parietal, PCA occipital or
/// inferomedial temporal.
/// The half-angle widens with the volume (≈ 20° at 0.1 mL to ≈ 45° at 100 mL).
pub(crate) fn territorial<R: Rng>(
    rng: &mut R,
    tpl: &Template,
    target_ml: f64,
) -> Option<SparseField> {
    let t = [MCA, ACA, PCA_OCCIPITAL, PCA_TEMPORAL][pick(rng, &[0.55, 0.12, 0.2, 0.13])];
    let side = random_side(rng);
    let deg = 20.0 + 25.0 * ((target_ml / 0.1).log10() / 3.0).clamp(0.0, 1.0);
    wedge(
        rng,
        tpl,
        &t,
        side,
        (deg - 5.0, deg + 5.0),
        (0.15, 0.3),
        target_ml,
    )
}

/// Large MCA infarct: a wide wedge from the lateral surface over the Sylvian fissure through
/// the insula to the basal ganglia (deeper the larger), kept lateral to the caudate.
pub(crate) fn large_mca<R: Rng>(
    rng: &mut R,
    tpl: &Template,
    target_ml: f64,
) -> Option<SparseField> {
    let side = random_side(rng);
    wedge(
        rng,
        tpl,
        &MCA_STEM,
        side,
        (35.0, 48.0),
        (0.15, 0.3),
        target_ml,
    )
}

/// Deep lacune: small ellipsoid at a basal ganglia, thalamus, internal capsule, corona
/// radiata or pontine site.
pub(crate) fn lacune<R: Rng>(rng: &mut R, tpl: &Template, target_ml: f64) -> Option<SparseField> {
    let weights: Vec<f64> = LACUNE_SITES.iter().map(|s| s.1).collect();
    for _ in 0..TRIES {
        let site = mirror(LACUNE_SITES[pick(rng, &weights)].0, random_side(rng));
        let p = jitter(rng, site, [3.0, 3.0, 3.0]);
        let Some(c) = snap_to_tissue(tpl, p, 0.6, 6.0) else {
            continue;
        };
        let clip = Clip {
            side: None,
            region: Some(region_at(c)),
        };
        if let Some(f) = blob(rng, tpl, c, None, (0.55, 1.0), 0.08, clip, target_ml) {
            return Some(f);
        }
    }
    None
}

/// Brainstem infarct: paramedian ellipsoid elongated along the brainstem axis in the
/// midbrain, pons or medulla, usually respecting the midline.
pub(crate) fn brainstem<R: Rng>(
    rng: &mut R,
    tpl: &Template,
    target_ml: f64,
) -> Option<SparseField> {
    let weights: Vec<f64> = STEM_SITES.iter().map(|s| s.1).collect();
    // midbrain–pons–medulla axis (see regions.rs)
    let axis = normalize([0.0, -20.0, -58.0]);
    for _ in 0..TRIES {
        let side = random_side(rng);
        let site = mirror(STEM_SITES[pick(rng, &weights)].0, side);
        let p = jitter(rng, site, [2.0, 3.0, 3.0]);
        let Some(c) = snap_to_tissue(tpl, p, 0.5, 5.0) else {
            continue;
        };
        if region_at(c) != Region::Brainstem {
            continue;
        }
        let midline = rng.random_bool(0.75).then_some((side, 1.0));
        let clip = Clip {
            side: midline,
            region: Some(Region::Brainstem),
        };
        if let Some(f) = blob(rng, tpl, c, Some(axis), (0.45, 0.8), 0.12, clip, target_ml) {
            return Some(f);
        }
    }
    None
}

/// Cerebellar infarct: a wedge from the PICA, SCA or AICA surface, or a hemispheric blob.
pub(crate) fn cerebellar<R: Rng>(
    rng: &mut R,
    tpl: &Template,
    target_ml: f64,
) -> Option<SparseField> {
    let side = random_side(rng);
    if rng.random_bool(0.65) {
        let t = [PICA, SCA, AICA][pick(rng, &[0.5, 0.3, 0.2])];
        if let Some(f) = wedge(rng, tpl, &t, side, (25.0, 45.0), (0.15, 0.3), target_ml) {
            return Some(f);
        }
    }
    for _ in 0..TRIES {
        let p = jitter(rng, mirror(CEREBELLAR_HEMISPHERE, side), [8.0, 10.0, 6.0]);
        let Some(c) = snap_to_tissue(tpl, p, 0.6, 5.0) else {
            continue;
        };
        if region_at(c) != Region::Cerebellum {
            continue;
        }
        let clip = Clip {
            side: Some((side, 2.0)),
            region: Some(Region::Cerebellum),
        };
        if let Some(f) = blob(rng, tpl, c, None, (0.5, 0.9), 0.2, clip, target_ml) {
            return Some(f);
        }
    }
    None
}

/// Smallest dot of a shower (mL): a couple of 1 mm voxels.
pub(crate) const DOT_MIN_ML: f64 = 0.004;
/// Largest dot of a shower (mL): about 6 mm across.
pub(crate) const DOT_MAX_ML: f64 = 0.1;

/// Embolic shower: `total_ml` split into 1..=25 separate dots (each ≥ [`DOT_MIN_ML`], mostly
/// 1–4 mm) at the grey–white junction of one territory, both anterior territories, or the
/// posterior circulation (PCA and cerebellum, both sides). Dots never touch each other.
/// Returns each dot with the volume it was sized to.
pub(crate) fn shower<R: Rng>(
    rng: &mut R,
    tpl: &Template,
    total_ml: f64,
) -> Vec<(SparseField, f64)> {
    let side = random_side(rng);
    let pool: Vec<(Territory, f64, f64)> = match pick(rng, &[0.5, 0.25, 0.25]) {
        0 => vec![(MCA, side, 0.75), (ACA, side, 0.25)],
        1 => vec![
            (MCA, 1.0, 0.4),
            (MCA, -1.0, 0.4),
            (ACA, 1.0, 0.1),
            (ACA, -1.0, 0.1),
        ],
        _ => [1.0, -1.0]
            .iter()
            .flat_map(|&s| {
                [
                    (PCA_OCCIPITAL, s, 0.2),
                    (PCA_TEMPORAL, s, 0.1),
                    (PICA, s, 0.12),
                    (SCA, s, 0.08),
                ]
            })
            .collect(),
    };
    let weights: Vec<f64> = pool.iter().map(|p| p.2).collect();
    let max_n = ((total_ml / DOT_MIN_ML).floor() as usize).clamp(1, 25);
    let min_n = ((total_ml / 0.06).ceil() as usize).clamp(1, 25);
    let n = rng.random_range(3..=12usize).max(min_n).min(max_n);
    let w: Vec<f64> = (0..n)
        .map(|_| rng.random_range(0.3..1.0f64).powi(2))
        .collect();
    let wsum: f64 = w.iter().sum();
    let mut dots: Vec<(SparseField, [f64; 3], f64, f64)> = Vec::new();
    for wi in w {
        let vol = (total_ml * wi / wsum).clamp(DOT_MIN_ML, DOT_MAX_ML);
        let r = (3.0 * vol * 1000.0 / (4.0 * std::f64::consts::PI)).cbrt();
        for _ in 0..8 {
            let (t, s, _) = pool[pick(rng, &weights)];
            let dir = territory_dir(rng, &t, s);
            let Some(surf) = surface_along(tpl, &t, s, dir) else {
                continue;
            };
            let depth = rng.random_range(0.5..12.0);
            let p = [
                surf[0] - depth * dir[0],
                surf[1] - depth * dir[1],
                surf[2] - depth * dir[2],
            ];
            let Some(c) = snap_to_tissue(tpl, p, 0.5, 3.0) else {
                continue;
            };
            let far = |d: &(SparseField, [f64; 3], f64, f64)| {
                let dd: f64 = (0..3).map(|i| (d.1[i] - c[i]).powi(2)).sum::<f64>().sqrt();
                dd > d.2 + r + 3.0
            };
            if !dots.iter().all(far) {
                continue;
            }
            let clip = Clip {
                side: None,
                region: Some(region_at(c)),
            };
            let Some(f) = blob(rng, tpl, c, None, (0.7, 1.0), 0.1, clip, vol) else {
                continue;
            };
            if dots.iter().any(|d| d.0.touches(&f)) {
                continue;
            }
            dots.push((f, c, r, vol));
            break;
        }
    }
    dots.into_iter().map(|d| (d.0, d.3)).collect()
}

/// Volume (mL) drawn log-uniformly in `[lo, hi]`, kept when `v` already lies there.
pub(crate) fn within<R: Rng>(rng: &mut R, v: f64, lo: f64, hi: f64) -> f64 {
    if (lo..=hi).contains(&v) {
        v
    } else {
        log_uniform(rng, lo, hi)
    }
}
