//! Where each lesion is: shares of its volume per structure and per arterial territory
//! (with side), and a study-level summary; or, without an atlas, shares per coarse region.

use crate::atlas::Atlas;
use crate::jhu::{circulation, LabelInfo, Side, STRUCTURES, TERRITORIES};
use ndarray::Array3;
use ndarray_ndimage::{label, Kernel3d};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use strokeseg_core::Mask;
use strokeseg_measure::Lesion;
use strokeseg_mni::regions::{region_at, Region};

/// A share of a lesion's volume in one labelled region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Share {
    /// Region name, e.g. "frontal lobe", "MCA, temporal part", "brainstem".
    pub name: String,
    /// Side, when the region has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub side: Option<Side>,
    /// Coarser group (see [`LabelInfo::group`]); for coarse regions the region itself.
    pub group: String,
    /// Fraction of the lesion's volume (0–1).
    pub share: f64,
    /// Volume in that region (mL).
    pub volume_ml: f64,
}

impl Share {
    /// "frontal lobe L" style label.
    #[must_use]
    pub fn label(&self) -> String {
        match self.side {
            Some(s) => format!("{} {}", self.name, s.letter()),
            None => self.name.clone(),
        }
    }
}

/// Location of one lesion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LesionLocation {
    /// The lesion's id in the lesion table.
    pub id: usize,
    /// Its centroid in MNI mm (by the map that was used).
    pub centroid_mni: [f64; 3],
    /// Coarse region of each part: supratentorial / brainstem / cerebellum shares.
    pub regions: Vec<Share>,
    /// Structure shares, largest first (empty without an atlas).
    pub structures: Vec<Share>,
    /// Arterial territory shares, largest first (empty without an atlas).
    pub territories: Vec<Share>,
    /// Share of the lesion outside every atlas label (e.g. cortex ribbon edges, CSF).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unlabelled_share: Option<f64>,
}

/// The study-level summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Summary {
    /// Level-2 territories with side that hold ≥ 10 % of some lesion, e.g. "MCA L".
    pub territories: Vec<String>,
    /// "anterior", "posterior", "anterior and posterior", or "none".
    pub circulation: String,
    /// Some lesion has ≥ 10 % of its volume in the brainstem.
    pub brainstem: bool,
    /// Some lesion has ≥ 10 % of its volume in the cerebellum.
    pub cerebellum: bool,
    /// Sides involved.
    pub sides: Vec<Side>,
    /// One line for people, e.g. "left MCA (temporal lobe L, insula L)".
    pub text: String,
}

/// Shares below this are left out of the summary.
pub const SUMMARY_MIN_SHARE: f64 = 0.10;
/// A lesion smaller than this (mL) does not put its territory in the summary on its own
/// (specks of a few voxels are more often noise than a separate embolus).
pub const SUMMARY_MIN_LESION_ML: f64 = 0.2;

/// Connected components of `mask` matched to `lesions` (same 26-connectivity as
/// `find_lesions`): the lesion id of each voxel, 0 elsewhere.
#[must_use]
pub fn lesion_ids(mask: &Mask, lesions: &[Lesion]) -> Array3<usize> {
    // Row-major first: `label` on a column-major array misses one diagonal of the
    // 26-neighbourhood (see strokeseg-eval's components()).
    let (lab, n) = label::<u32>(
        &mask.data().as_standard_layout(),
        &Kernel3d::Full.generate(),
    );
    let mut stats: Vec<(usize, [usize; 3], [usize; 3])> = vec![(0, [usize::MAX; 3], [0; 3]); n + 1];
    for ((i, j, k), &l) in lab.indexed_iter() {
        if l == 0 {
            continue;
        }
        let s = &mut stats[l as usize];
        s.0 += 1;
        for (a, v) in [i, j, k].into_iter().enumerate() {
            s.1[a] = s.1[a].min(v);
            s.2[a] = s.2[a].max(v);
        }
    }
    let mut to_id = vec![0usize; n + 1];
    for (c, s) in stats.iter().enumerate().skip(1) {
        if let Some(l) = lesions
            .iter()
            .find(|l| l.n_voxels == s.0 && l.bbox_voxel == [s.1, s.2])
        {
            to_id[c] = l.id;
        }
    }
    lab.mapv(|l| to_id[l as usize])
}

/// Accumulates weighted label counts per lesion.
#[derive(Default)]
struct Tally {
    n: f64,
    structures: BTreeMap<(u8, Option<Side>), f64>,
    territories: BTreeMap<u8, f64>,
    regions: BTreeMap<&'static str, f64>,
    unlabelled: f64,
    centroid: [f64; 3],
}

fn region_name(r: Region) -> &'static str {
    r.name()
}

fn side_of(info: &LabelInfo, q: [f64; 3]) -> Option<Side> {
    info.side
        .or(Some(if q[0] < 0.0 { Side::Left } else { Side::Right }))
}

/// Per-lesion locations. `to_mni` maps study world mm to MNI mm; `atlas` is optional.
/// Each native voxel is split into sub-points no more than 2 mm apart, so thick slices are
/// not read at their centre plane only.
#[must_use]
pub fn locate_lesions(
    mask: &Mask,
    lesions: &[Lesion],
    to_mni: &dyn Fn([f64; 3]) -> [f64; 3],
    atlas: Option<&Atlas>,
) -> Vec<LesionLocation> {
    let ids = lesion_ids(mask, lesions);
    let g = mask.grid();
    let sp = g.spacing_mm();
    let nsub: [usize; 3] = std::array::from_fn(|a| ((sp[a] / 2.0).ceil() as usize).max(1));
    let w = 1.0 / (nsub[0] * nsub[1] * nsub[2]) as f64;
    let mut tallies: BTreeMap<usize, Tally> = BTreeMap::new();
    for ((i, j, k), &id) in ids.indexed_iter() {
        if id == 0 {
            continue;
        }
        let t = tallies.entry(id).or_default();
        for a in 0..nsub[0] {
            for b in 0..nsub[1] {
                for c in 0..nsub[2] {
                    let off = |s: usize, n: usize| (s as f64 + 0.5) / n as f64 - 0.5;
                    let p = g.voxel_to_world([
                        i as f64 + off(a, nsub[0]),
                        j as f64 + off(b, nsub[1]),
                        k as f64 + off(c, nsub[2]),
                    ]);
                    let q = to_mni(p);
                    t.n += w;
                    (0..3).for_each(|d| t.centroid[d] += w * q[d]);
                    *t.regions.entry(region_name(region_at(q))).or_default() += w;
                    if let Some(at) = atlas {
                        let (s, tr) = at.labels_at_mni(q);
                        if s == 0 && tr == 0 {
                            t.unlabelled += w;
                        }
                        if s > 0 {
                            let side = side_of(&STRUCTURES[usize::from(s) - 1], q);
                            *t.structures.entry((s, side)).or_default() += w;
                        }
                        if tr > 0 {
                            *t.territories.entry(tr).or_default() += w;
                        }
                    }
                }
            }
        }
    }
    let vml = g.voxel_volume_ml();
    lesions
        .iter()
        .filter_map(|l| {
            let t = tallies.get(&l.id)?;
            let mk = |name: &str, side, group: &str, n: f64| Share {
                name: name.to_string(),
                side,
                group: group.to_string(),
                share: n / t.n,
                volume_ml: n * vml,
            };
            let sort = |mut v: Vec<Share>| {
                v.sort_by(|a, b| b.share.total_cmp(&a.share));
                v
            };
            let regions = sort(t.regions.iter().map(|(r, &n)| mk(r, None, r, n)).collect());
            let structures = sort(
                t.structures
                    .iter()
                    .map(|(&(s, side), &n)| {
                        let info = &STRUCTURES[usize::from(s) - 1];
                        mk(info.name, side, info.group, n)
                    })
                    .collect(),
            );
            let territories = sort(
                t.territories
                    .iter()
                    .map(|(&tr, &n)| {
                        let info = &TERRITORIES[usize::from(tr) - 1];
                        mk(info.name, info.side, info.group, n)
                    })
                    .collect(),
            );
            Some(LesionLocation {
                id: l.id,
                centroid_mni: t.centroid.map(|c| c / t.n),
                regions,
                structures,
                territories,
                unlabelled_share: atlas.map(|_| t.unlabelled / t.n),
            })
        })
        .collect()
}

/// The study-level summary of per-lesion locations. A level-2 territory (or the brainstem,
/// or the cerebellum) is "involved" when it holds ≥ [`SUMMARY_MIN_SHARE`] of the study's
/// total lesion volume, or most (≥ ½) of some lesion of ≥ [`SUMMARY_MIN_LESION_ML`], so that a
/// small separate infarct still counts; territories are listed largest first.
#[must_use]
pub fn summarize(locs: &[LesionLocation], with_atlas: bool) -> Summary {
    let total: f64 = locs
        .iter()
        .map(|l| l.regions.iter().map(|r| r.volume_ml).sum::<f64>())
        .sum();
    let mut terr: BTreeMap<(String, Side), (f64, bool)> = BTreeMap::new();
    let mut groups: BTreeMap<&str, (f64, bool)> = BTreeMap::new();
    for l in locs {
        let lesion_ml: f64 = l.regions.iter().map(|r| r.volume_ml).sum();
        let counts = lesion_ml >= SUMMARY_MIN_LESION_ML;
        let mut lv2: BTreeMap<(String, Side), (f64, f64)> = BTreeMap::new();
        for t in l.territories.iter().filter(|t| t.group != "ventricle") {
            if let Some(s) = t.side {
                let e = lv2.entry((t.group.clone(), s)).or_default();
                e.0 += t.volume_ml;
                e.1 += t.share;
            }
        }
        for (k, (ml, share)) in lv2 {
            let e = terr.entry(k).or_default();
            e.0 += ml;
            e.1 |= counts && share >= 0.5;
        }
        let parts = if with_atlas {
            &l.structures
        } else {
            &l.regions
        };
        for g in ["brainstem", "cerebellum"] {
            let (ml, share) = parts
                .iter()
                .filter(|s| s.group == g)
                .fold((0.0, 0.0), |a, s| (a.0 + s.volume_ml, a.1 + s.share));
            let e = groups.entry(g).or_default();
            e.0 += ml;
            e.1 |= counts && share >= 0.5;
        }
    }
    let involved =
        |(ml, dominant): (f64, bool)| dominant || (total > 0.0 && ml / total >= SUMMARY_MIN_SHARE);
    let mut tv: Vec<((String, Side), f64)> = terr
        .into_iter()
        .filter(|(_, v)| involved(*v))
        .map(|(k, v)| (k, v.0))
        .collect();
    tv.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut sides = std::collections::BTreeSet::new();
    let mut circ = std::collections::BTreeSet::new();
    for ((g, s), _) in &tv {
        sides.insert(*s);
        if let Some(c) = circulation(g) {
            circ.insert(c);
        }
    }
    if !with_atlas {
        for l in locs {
            sides.insert(if l.centroid_mni[0] < 0.0 {
                Side::Left
            } else {
                Side::Right
            });
        }
    }
    let territories: Vec<String> = tv
        .iter()
        .map(|((g, s), _)| format!("{g} {}", s.letter()))
        .collect();
    let circulation = match (circ.contains("anterior"), circ.contains("posterior")) {
        (true, true) => "anterior and posterior",
        (true, false) => "anterior",
        (false, true) => "posterior",
        (false, false) => "none",
    }
    .to_string();
    let brainstem = groups.get("brainstem").copied().is_some_and(involved);
    let cerebellum = groups.get("cerebellum").copied().is_some_and(involved);
    let text = if locs.is_empty() {
        "no lesion".to_string()
    } else if with_atlas {
        let top: Vec<String> = locs[0]
            .structures
            .iter()
            .filter(|s| s.share >= SUMMARY_MIN_SHARE)
            .take(3)
            .map(Share::label)
            .collect();
        format!(
            "{} territory; largest lesion in {}",
            if territories.is_empty() {
                "no arterial".to_string()
            } else {
                territories.join(", ")
            },
            if top.is_empty() {
                "unlabelled tissue".to_string()
            } else {
                top.join(", ")
            }
        )
    } else {
        let top = locs[0]
            .regions
            .first()
            .map_or("?".to_string(), |r| r.name.clone());
        format!("{top} (coarse rule, no atlas)")
    };
    Summary {
        territories,
        circulation,
        brainstem,
        cerebellum,
        sides: sides.into_iter().collect(),
        text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share(name: &str, side: Option<Side>, group: &str, share: f64, ml: f64) -> Share {
        Share {
            name: name.into(),
            side,
            group: group.into(),
            share,
            volume_ml: ml,
        }
    }

    #[test]
    fn summary_counts_large_shares_and_small_separate_lesions_but_not_specks() {
        let big = LesionLocation {
            id: 1,
            centroid_mni: [-40.0, 0.0, 10.0],
            regions: vec![share("supratentorial", None, "supratentorial", 1.0, 10.0)],
            structures: vec![share(
                "temporal lobe",
                Some(Side::Left),
                "supratentorial",
                1.0,
                10.0,
            )],
            territories: vec![
                share("MCA, temporal part", Some(Side::Left), "MCA", 0.95, 9.5),
                share("PCA, temporal part", Some(Side::Left), "PCA", 0.05, 0.5),
            ],
            unlabelled_share: Some(0.0),
        };
        let pons = LesionLocation {
            id: 2,
            centroid_mni: [2.0, -25.0, -30.0],
            regions: vec![share("brainstem", None, "brainstem", 1.0, 0.3)],
            structures: vec![share("pons", Some(Side::Right), "brainstem", 1.0, 0.3)],
            territories: vec![share("basilar", Some(Side::Right), "VB", 0.8, 0.24)],
            unlabelled_share: Some(0.0),
        };
        let s = summarize(&[big.clone(), pons], true);
        assert_eq!(s.territories, vec!["MCA L", "VB R"]);
        assert_eq!(s.circulation, "anterior and posterior");
        assert!(s.brainstem && !s.cerebellum);
        assert_eq!(s.sides, vec![Side::Left, Side::Right]);
        assert!(
            s.text
                .starts_with("MCA L, VB R territory; largest lesion in temporal lobe L"),
            "{}",
            s.text
        );
        let s = summarize(&[big], true);
        assert_eq!(
            s.territories,
            vec!["MCA L"],
            "a 5 % PCA edge is not an involved territory"
        );
        assert_eq!(s.circulation, "anterior");
        assert!(!s.brainstem);
    }
}
