//! Coarse anatomical regions in MNI ICBM152 2009a world coordinates (mm, RAS+): enough to say
//! whether a point is supratentorial, in the brainstem or in the cerebellum without an atlas.
//!
//! The rule (checked against the template by eye and by `tests::regions_are_where_expected`):
//! - brainstem: within ~12–15 mm of the midbrain–pons–medulla axis, a line from
//!   (0, −22, −4) to (0, −42, −62), wider at the pons;
//! - cerebellum: posterior fossa (y < −40 mm) below the tentorium, a plane that falls from
//!   z = −6 at y = −40 to z = −24 at y = −95 and sags laterally, and not brainstem;
//! - supratentorial: everything else.

use serde::{Deserialize, Serialize};

/// Where a point (or a lesion's centroid) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Region {
    /// Cerebral hemispheres, basal ganglia, thalamus.
    Supratentorial,
    /// Midbrain, pons, medulla.
    Brainstem,
    /// Cerebellar hemispheres and vermis.
    Cerebellum,
}

impl Region {
    /// Lower-case name as used in manifests.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Region::Supratentorial => "supratentorial",
            Region::Brainstem => "brainstem",
            Region::Cerebellum => "cerebellum",
        }
    }
}

const STEM_TOP: [f64; 3] = [0.0, -22.0, -4.0];
const STEM_BOTTOM: [f64; 3] = [0.0, -42.0, -62.0];

/// Distance from the brainstem axis and the position along it (0 at the top, 1 at the bottom).
#[must_use]
pub fn brainstem_axis(p: [f64; 3]) -> (f64, f64) {
    let d: Vec<f64> = (0..3).map(|i| STEM_BOTTOM[i] - STEM_TOP[i]).collect();
    let len2: f64 = d.iter().map(|x| x * x).sum();
    let t = (0..3).map(|i| (p[i] - STEM_TOP[i]) * d[i]).sum::<f64>() / len2;
    let tc = t.clamp(0.0, 1.0);
    let dist = (0..3)
        .map(|i| (p[i] - (STEM_TOP[i] + tc * d[i])).powi(2))
        .sum::<f64>()
        .sqrt();
    (dist, t)
}

/// Brainstem radius (mm) at position `t` along the axis: midbrain 12, pons 15, medulla 10.
fn stem_radius(t: f64) -> f64 {
    if t < 0.25 {
        12.0
    } else if t < 0.6 {
        15.0
    } else {
        10.0
    }
}

/// True when `p` lies in the brainstem region (see module docs).
#[must_use]
pub fn in_brainstem(p: [f64; 3]) -> bool {
    let (dist, t) = brainstem_axis(p);
    (-0.05..=1.05).contains(&t) && dist <= stem_radius(t.clamp(0.0, 1.0))
}

/// Height of the tentorium (mm) above which the posterior fossa ends, at (x, y).
#[must_use]
pub fn tentorium_z(x: f64, y: f64) -> f64 {
    -6.0 + (y + 40.0).min(0.0) * (18.0 / 55.0) - 0.12 * x.abs()
}

/// The coarse region of an MNI point.
#[must_use]
pub fn region_at(p: [f64; 3]) -> Region {
    if in_brainstem(p) {
        Region::Brainstem
    } else if p[1] < -40.0 && p[2] < tentorium_z(p[0], p[1]) {
        Region::Cerebellum
    } else {
        Region::Supratentorial
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_are_where_expected() {
        // Landmarks (MNI 2009a, mm): pons, midbrain, medulla, cerebellar hemispheres,
        // vermis, thalamus, putamen, occipital pole, motor cortex, temporal pole.
        assert_eq!(region_at([0.0, -28.0, -30.0]), Region::Brainstem);
        assert_eq!(region_at([0.0, -24.0, -10.0]), Region::Brainstem);
        assert_eq!(region_at([0.0, -40.0, -52.0]), Region::Brainstem);
        assert_eq!(region_at([25.0, -65.0, -35.0]), Region::Cerebellum);
        assert_eq!(region_at([-30.0, -75.0, -30.0]), Region::Cerebellum);
        assert_eq!(region_at([0.0, -60.0, -25.0]), Region::Cerebellum);
        assert_eq!(region_at([10.0, -18.0, 8.0]), Region::Supratentorial);
        assert_eq!(region_at([-25.0, 2.0, 2.0]), Region::Supratentorial);
        assert_eq!(region_at([10.0, -98.0, 5.0]), Region::Supratentorial);
        assert_eq!(region_at([-38.0, -20.0, 60.0]), Region::Supratentorial);
        assert_eq!(region_at([40.0, 15.0, -35.0]), Region::Supratentorial);
    }
}
