//! Tissue-domain mimics: changes that are not acute infarcts but can look like one on DWI or
//! ADC — T2 shine-through, chronic infarcts, white-matter hyperintensities.
//!
//! A study gets 0–3 mimic draws ([`MIMIC_COUNT_WEIGHTS`]); one draw may give several fields
//! (a WMH pattern is bilateral caps, bands and dots), each returned as its own [`Mimic`]
//! sharing `group` and factors.

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::anatomy::{
    log_uniform, mirror, pick, random_white_matter, snap_to_tissue, WMH_BAND, WMH_FRONTAL_CAP,
    WMH_OCCIPITAL_CAP,
};
use super::field::{fit, Clip, Gauge, Noise, ShapeSpec, SparseField};
use super::{shapes, Lesion};
use crate::regions::Region;
use crate::template::Template;

/// What a mimic is.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum MimicKind {
    /// Bright on DWI from long T2, ADC normal or high (S0 × 1.5–2.2, ADC × 1.0–1.3).
    T2ShineThrough,
    /// CSF-like old infarct, dark on DWI (S0 × 1.6–2.5, ADC × 2.0–3.5).
    ChronicInfarct,
    /// Periventricular caps/bands and punctate deep dots (S0 × 1.2–1.6, ADC × 1.15–1.5).
    WhiteMatterHyperintensity,
}

impl MimicKind {
    /// Every kind.
    pub const ALL: [MimicKind; 3] = [
        MimicKind::T2ShineThrough,
        MimicKind::ChronicInfarct,
        MimicKind::WhiteMatterHyperintensity,
    ];

    /// (S0 factor range, ADC factor range).
    #[must_use]
    pub fn factor_ranges(self) -> ((f32, f32), (f32, f32)) {
        match self {
            MimicKind::T2ShineThrough => ((1.5, 2.2), (1.0, 1.3)),
            MimicKind::ChronicInfarct => ((1.6, 2.5), (2.0, 3.5)),
            MimicKind::WhiteMatterHyperintensity => ((1.2, 1.6), (1.15, 1.5)),
        }
    }
}

/// One non-infarct change in template space.
#[derive(Debug, Clone)]
pub struct Mimic {
    /// Kind.
    pub kind: MimicKind,
    /// Tissue S0 multiplier.
    pub s0_factor: f32,
    /// Tissue ADC multiplier.
    pub adc_factor: f32,
    /// Fractions on the template grid.
    pub frac: SparseField,
    /// Index of the draw within the study (the parts of one WMH pattern share it).
    pub group: usize,
}

/// Relative probabilities of 0, 1, 2, 3 mimic draws: (non-lesion study, lesion study). Lesion
/// studies (older, vascular patients) get slightly more.
pub const MIMIC_COUNT_WEIGHTS: ([f64; 4], [f64; 4]) =
    ([0.35, 0.35, 0.2, 0.1], [0.3, 0.35, 0.22, 0.13]);

/// Mimic kind weights (T2 shine-through, chronic, WMH): (non-lesion, lesion study). T2
/// shine-through, the hardest negative, is commoner where there is no infarct.
const KIND_WEIGHTS: ([f64; 3], [f64; 3]) = ([0.4, 0.3, 0.3], [0.25, 0.35, 0.4]);

/// The mimics of one study (see [`sample_tissue_mimics_avoiding`]).
pub fn sample_tissue_mimics<R: Rng>(rng: &mut R, tpl: &Template, lesion_study: bool) -> Vec<Mimic> {
    sample_tissue_mimics_avoiding(rng, tpl, lesion_study, &[])
}

/// The mimics of one study, none touching `avoid` (the study's lesions) or each other, so
/// the infarct truth stays clean. Deterministic for a given RNG state.
pub fn sample_tissue_mimics_avoiding<R: Rng>(
    rng: &mut R,
    tpl: &Template,
    lesion_study: bool,
    avoid: &[Lesion],
) -> Vec<Mimic> {
    let (cw, kw) = if lesion_study {
        (MIMIC_COUNT_WEIGHTS.1, KIND_WEIGHTS.1)
    } else {
        (MIMIC_COUNT_WEIGHTS.0, KIND_WEIGHTS.0)
    };
    let n = pick(rng, &cw);
    let mut out: Vec<Mimic> = Vec::new();
    for group in 0..n {
        let kind = MimicKind::ALL[pick(rng, &kw)];
        let ((s0a, s0b), (ada, adb)) = kind.factor_ranges();
        let s0_factor = rng.random_range(s0a..=s0b);
        let adc_factor = rng.random_range(ada..=adb);
        for frac in build(rng, tpl, kind) {
            let clash = avoid.iter().any(|l| l.frac.touches(&frac))
                || out.iter().any(|m| m.frac.touches(&frac));
            if !clash {
                out.push(Mimic {
                    kind,
                    s0_factor,
                    adc_factor,
                    frac,
                    group,
                });
            }
        }
    }
    out
}

fn build<R: Rng>(rng: &mut R, tpl: &Template, kind: MimicKind) -> Vec<SparseField> {
    match kind {
        MimicKind::T2ShineThrough => {
            let f = if rng.random_bool(0.7) {
                let ml = log_uniform(rng, 0.05, 8.0);
                wm_blob(rng, tpl, ml, (0.5, 1.0), 0.2)
            } else {
                // subacute infarct whose ADC has pseudo-normalised
                let ml = log_uniform(rng, 0.5, 30.0);
                shapes::territorial(rng, tpl, ml)
            };
            f.into_iter().collect()
        }
        MimicKind::ChronicInfarct => {
            let f = match pick(rng, &[0.55, 0.3, 0.15]) {
                0 => {
                    let ml = log_uniform(rng, 0.3, 60.0);
                    shapes::territorial(rng, tpl, ml)
                }
                1 => {
                    let ml = log_uniform(rng, 0.02, 1.5);
                    shapes::lacune(rng, tpl, ml)
                }
                _ => {
                    let ml = log_uniform(rng, 0.2, 20.0);
                    shapes::cerebellar(rng, tpl, ml)
                }
            };
            f.into_iter().collect()
        }
        MimicKind::WhiteMatterHyperintensity => wmh(rng, tpl),
    }
}

/// Ellipsoid in supratentorial deep white matter.
fn wm_blob<R: Rng>(
    rng: &mut R,
    tpl: &Template,
    ml: f64,
    minor: (f64, f64),
    amp: f64,
) -> Option<SparseField> {
    let c = random_white_matter(rng, tpl, 0.8, 8.0)?;
    ellipsoid(rng, tpl, c, None, minor, amp, ml)
}

fn ellipsoid<R: Rng>(
    rng: &mut R,
    tpl: &Template,
    c: [f64; 3],
    axis: Option<[f64; 3]>,
    minor: (f64, f64),
    amp: f64,
    ml: f64,
) -> Option<SparseField> {
    let axes = super::anatomy::random_frame(rng, axis);
    let radii = [
        1.0,
        rng.random_range(minor.0..minor.1),
        rng.random_range(minor.0..minor.1),
    ];
    let side = if c[0] >= 0.0 { 1.0 } else { -1.0 };
    let spec = ShapeSpec {
        center: c,
        gauge: Gauge::Ellipsoid { axes, radii },
        noise: Noise::draw(rng, amp, 3),
        clip: Clip {
            side: Some((side, 2.0)),
            region: Some(Region::Supratentorial),
        },
        fill: 0.8,
    };
    fit(tpl, &spec, ml)
}

/// A bilateral WMH pattern: periventricular caps (frontal, occipital), bands along the
/// ventricular bodies, punctate deep dots; sizes scale with one severity draw.
fn wmh<R: Rng>(rng: &mut R, tpl: &Template) -> Vec<SparseField> {
    let severity = log_uniform(rng, 0.3, 3.0);
    let mut out = Vec::new();
    let caps = rng.random_bool(0.75);
    let bands = rng.random_bool(0.4);
    let dots = rng.random_bool(0.6) || !(caps || bands);
    let mut sym =
        |rng: &mut R, site: [f64; 3], axis: Option<[f64; 3]>, minor: (f64, f64), ml: f64| {
            for side in [1.0, -1.0] {
                let p = mirror(site, side);
                let p = [
                    p[0] + rng.random_range(-3.0..3.0),
                    p[1] + rng.random_range(-3.0..3.0),
                    p[2] + rng.random_range(-3.0..3.0),
                ];
                let vol = ml * rng.random_range(0.6..1.4);
                if let Some(c) = snap_to_tissue(tpl, p, 0.6, 6.0) {
                    if let Some(f) = ellipsoid(rng, tpl, c, axis, minor, 0.2, vol) {
                        out.push(f);
                    }
                }
            }
        };
    if caps {
        sym(rng, WMH_FRONTAL_CAP, None, (0.45, 0.8), 0.4 * severity);
        if rng.random_bool(0.7) {
            sym(rng, WMH_OCCIPITAL_CAP, None, (0.45, 0.8), 0.4 * severity);
        }
    }
    if bands {
        sym(
            rng,
            WMH_BAND,
            Some([0.0, 1.0, 0.1]),
            (0.22, 0.35),
            0.8 * severity,
        );
    }
    if dots {
        let n = rng.random_range(3..=15usize);
        for _ in 0..n {
            let ml = log_uniform(rng, 0.004, 0.05);
            if let Some(f) = wm_blob(rng, tpl, ml, (0.7, 1.0), 0.1) {
                if !out.iter().any(|o: &SparseField| o.touches(&f)) {
                    out.push(f);
                }
            }
        }
    }
    // caps/bands of both sides may meet across a thin septum: keep parts separate
    let mut kept: Vec<SparseField> = Vec::new();
    for f in out {
        if !kept.iter().any(|k| k.touches(&f)) {
            kept.push(f);
        }
    }
    kept
}
