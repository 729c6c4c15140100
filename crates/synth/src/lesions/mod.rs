//! Acute infarcts and tissue-domain mimics in template (MNI) space: shapes as fraction fields
//! on boxes of the template grid, plus the ADC and S0 factors that `physics` applies (in a
//! voxel with fraction f the tissue's ADC is multiplied by 1 − f + f·adc_factor and its S0 by
//! 1 − f + f·s0_factor).
//!
//! Shapes act on brain tissue: fractions are 0 outside the intracranial mask and where GM+WM
//! ≤ 0.15 (CSF), full where GM+WM ≥ 0.5 (see `field::tissue_weight`). Each shape is a gauge
//! body (a cortical wedge or an ellipsoid) around an anatomical site (named MNI constants in
//! `anatomy`), roughened by smooth noise, clipped to its hemisphere/region, and sized by
//! bisection so that Σ fraction × voxel volume matches the drawn target (a soft one-voxel
//! edge makes even sub-voxel targets exact); it is built in its bounding box only.
//!
//! Per lesion study ([`sample_lesions`]):
//! - 1 ischaemic event (70%), 2 (18%), 3 (8%) or 4 (4%); with probability
//!   [`P_POSTERIOR_FOSSA`] the first is a brainstem or cerebellar lesion. Events never touch
//!   (a new one that would merge with an earlier one is redrawn).
//! - Each event's volume is log-uniform in [`VOLUME_RANGE_ML`]; the kind is chosen among
//!   those plausible at that volume and the volume redrawn log-uniformly inside the kind's
//!   range ([`LesionKind::volume_range_ml`]) when outside it.
//! - An embolic shower is one event made of several separate dots; **each dot is returned as
//!   its own [`Lesion`]** of kind [`LesionKind::EmbolicShower`] (so counting connected
//!   components matches the lesion list), sharing the event's factors and `group`, with the
//!   dot's own volume as `target_volume_ml`.
//! - Factors: acute ADC × 0.40–0.70, S0 × 1.00–1.30; a subtle hyperacute subgroup
//!   ([`P_SUBTLE`] of events) ADC × 0.70–0.85, S0 × 1.00–1.05.

mod anatomy;
mod field;
mod mimics;
mod shapes;
mod sparse;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_real;

use rand::Rng;
use serde::{Deserialize, Serialize};

pub use mimics::{sample_tissue_mimics, sample_tissue_mimics_avoiding, Mimic, MimicKind};
pub use sparse::SparseField;

use crate::regions::{region_at, Region};
use crate::template::Template;
use anatomy::{log_uniform, pick};

/// What kind of infarct a lesion is.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum LesionKind {
    /// Cortical/subcortical wedge in an MCA, ACA or PCA territory.
    Territorial,
    /// Deep small ellipsoid (3–15 mm): basal ganglia, thalamus, internal capsule, corona
    /// radiata, pons.
    Lacune,
    /// One dot of an embolic shower (1–6 mm; the dots of one shower share `group`).
    EmbolicShower,
    /// Large MCA infarct (≥ 20 mL) over the lateral hemisphere, insula and basal ganglia.
    LargeMca,
    /// Paramedian midbrain, pons or medulla.
    Brainstem,
    /// Cerebellar hemisphere (PICA/SCA/AICA wedge or blob).
    Cerebellar,
}

impl LesionKind {
    /// Every kind.
    pub const ALL: [LesionKind; 6] = [
        LesionKind::Territorial,
        LesionKind::Lacune,
        LesionKind::EmbolicShower,
        LesionKind::LargeMca,
        LesionKind::Brainstem,
        LesionKind::Cerebellar,
    ];

    /// Plausible event volume range (mL); for a shower, the total of its dots.
    #[must_use]
    pub fn volume_range_ml(self) -> (f64, f64) {
        match self {
            LesionKind::Territorial => (0.01, 120.0),
            LesionKind::Lacune => (0.01, 1.8),
            LesionKind::EmbolicShower => (0.01, 1.0),
            LesionKind::LargeMca => (20.0, 150.0),
            LesionKind::Brainstem => (0.01, 4.0),
            LesionKind::Cerebellar => (0.01, 60.0),
        }
    }
}

/// One acute infarct (or one dot of an embolic shower) in template space.
#[derive(Debug, Clone)]
pub struct Lesion {
    /// Kind.
    pub kind: LesionKind,
    /// Coarse region of the fraction-weighted centroid.
    pub region: Region,
    /// Hyperacute/subtle: ADC only mildly reduced, S0 nearly normal.
    pub subtle: bool,
    /// Tissue ADC multiplier inside the lesion.
    pub adc_factor: f32,
    /// Tissue S0 multiplier inside the lesion.
    pub s0_factor: f32,
    /// Volume the shape was sized to (mL).
    pub target_volume_ml: f64,
    /// Fractions on the template grid.
    pub frac: SparseField,
    /// Index of the ischaemic event within the study (the dots of one shower share it).
    pub group: usize,
}

/// Range of the log-uniform volume draw per event (mL).
pub const VOLUME_RANGE_ML: (f64, f64) = (0.01, 150.0);
/// Probability that a lesion study's first event is in the posterior fossa.
pub const P_POSTERIOR_FOSSA: f64 = 0.25;
/// Share of events that are subtle/hyperacute.
pub const P_SUBTLE: f64 = 0.15;
/// Relative probabilities of 1, 2, 3 and 4 events per lesion study.
pub const EVENT_COUNT_WEIGHTS: [f64; 4] = [0.70, 0.18, 0.08, 0.04];

/// Kind, volume and factors of one event.
#[derive(Debug, Clone, Copy)]
struct Plan {
    kind: LesionKind,
    target_ml: f64,
    subtle: bool,
    adc: f32,
    s0: f32,
}

fn draw_plan<R: Rng>(rng: &mut R, posterior: bool, small: bool) -> Plan {
    use LesionKind as K;
    let v = if small {
        log_uniform(rng, VOLUME_RANGE_ML.0, SMALL_LESION_ML)
    } else {
        log_uniform(rng, VOLUME_RANGE_ML.0, VOLUME_RANGE_ML.1)
    };
    let kind = if posterior {
        if v > K::Brainstem.volume_range_ml().1 || rng.random_bool(0.45) {
            K::Cerebellar
        } else {
            K::Brainstem
        }
    } else if v >= 20.0 {
        [K::LargeMca, K::Territorial][pick(rng, &[0.55, 0.45])]
    } else if v > 1.8 {
        [K::Territorial, K::Cerebellar][pick(rng, &[0.95, 0.05])]
    } else {
        let k = [
            K::Lacune,
            K::Territorial,
            K::EmbolicShower,
            K::Brainstem,
            K::Cerebellar,
        ][pick(rng, &[0.42, 0.27, 0.25, 0.03, 0.03])];
        if k == K::EmbolicShower && v > K::EmbolicShower.volume_range_ml().1 {
            K::Lacune
        } else {
            k
        }
    };
    let (lo, hi) = kind.volume_range_ml();
    let target_ml = shapes::within(rng, v, lo, hi);
    let subtle = rng.random_bool(P_SUBTLE);
    let (adc, s0) = if subtle {
        (
            rng.random_range(0.70..=0.85f32),
            rng.random_range(1.00..=1.05f32),
        )
    } else {
        (
            rng.random_range(0.40..=0.70f32),
            rng.random_range(1.00..=1.30f32),
        )
    };
    Plan {
        kind,
        target_ml,
        subtle,
        adc,
        s0,
    }
}

/// The fields of one event, each with the volume it was sized to.
fn build<R: Rng>(
    rng: &mut R,
    tpl: &Template,
    kind: LesionKind,
    target_ml: f64,
) -> Vec<(SparseField, f64)> {
    let one = match kind {
        LesionKind::Territorial => shapes::territorial(rng, tpl, target_ml),
        LesionKind::Lacune => shapes::lacune(rng, tpl, target_ml),
        LesionKind::EmbolicShower => return shapes::shower(rng, tpl, target_ml),
        LesionKind::LargeMca => shapes::large_mca(rng, tpl, target_ml),
        LesionKind::Brainstem => shapes::brainstem(rng, tpl, target_ml),
        LesionKind::Cerebellar => shapes::cerebellar(rng, tpl, target_ml),
    };
    one.map(|f| vec![(f, target_ml)]).unwrap_or_default()
}

/// How lesions are drawn: [`DrawOptions::default`] is the template generator's mix (the
/// module docs); the implant mode asks for more posterior-fossa studies and more tiny lesions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DrawOptions {
    /// Probability that a lesion study's first event is in the brainstem or cerebellum.
    pub p_posterior: f64,
    /// Probability that an event's volume is drawn log-uniformly in
    /// [0.01, [`SMALL_LESION_ML`]] mL instead of the whole [`VOLUME_RANGE_ML`] (0: never; no
    /// extra random draw is made then, so the default stream is unchanged).
    pub p_small: f64,
}

impl Default for DrawOptions {
    fn default() -> Self {
        DrawOptions {
            p_posterior: P_POSTERIOR_FOSSA,
            p_small: 0.0,
        }
    }
}

/// The size of lesion the mission insists on finding (mL): 0.087 mL and smaller.
pub const SMALL_LESION_ML: f64 = 0.087;

/// The acute infarcts of one lesion study (see the module docs): at least one lesion unless
/// the template has no usable tissue. Deterministic for a given RNG state.
pub fn sample_lesions<R: Rng>(rng: &mut R, tpl: &Template) -> Vec<Lesion> {
    sample_lesions_with(rng, tpl, &DrawOptions::default())
}

/// [`sample_lesions`] with another mix of locations and sizes.
pub fn sample_lesions_with<R: Rng>(rng: &mut R, tpl: &Template, opts: &DrawOptions) -> Vec<Lesion> {
    let n_events = 1 + pick(rng, &EVENT_COUNT_WEIGHTS);
    let posterior = rng.random_bool(opts.p_posterior);
    let mut out: Vec<Lesion> = Vec::new();
    let mut group = 0;
    for ev in 0..n_events {
        for _attempt in 0..4 {
            let small = opts.p_small > 0.0 && rng.random_bool(opts.p_small);
            let plan = draw_plan(rng, posterior && ev == 0, small);
            let parts = build(rng, tpl, plan.kind, plan.target_ml);
            if parts.is_empty()
                || parts
                    .iter()
                    .any(|(f, _)| out.iter().any(|l| l.frac.touches(f)))
            {
                continue;
            }
            for (frac, target_volume_ml) in parts {
                out.push(Lesion {
                    kind: plan.kind,
                    region: region_at(frac.centroid_world(tpl)),
                    subtle: plan.subtle,
                    adc_factor: plan.adc,
                    s0_factor: plan.s0,
                    target_volume_ml,
                    frac,
                    group,
                });
            }
            group += 1;
            break;
        }
    }
    if out.is_empty() {
        // Fallback: a small deep lacune (the sites are deep white/grey matter).
        let plan = draw_plan(rng, false, false);
        for _ in 0..4 {
            if let Some(frac) = shapes::lacune(rng, tpl, 0.3) {
                out.push(Lesion {
                    kind: LesionKind::Lacune,
                    region: region_at(frac.centroid_world(tpl)),
                    subtle: plan.subtle,
                    adc_factor: plan.adc,
                    s0_factor: plan.s0,
                    target_volume_ml: 0.3,
                    frac,
                    group: 0,
                });
                break;
            }
        }
    }
    out
}
