//! The JHU atlases (structures and arterial territories, Liu et al. 2023, CC BY-SA 4.0):
//! file names, label meanings and loading. The label tables are fixed by the atlas release;
//! they are written here (names and grouping only, no image data) because the text tables
//! shipped with the atlas repeat some codes (e.g. `MCAPL` for both sides).

use crate::AtlasError;
use ndarray::Array3;
use serde::{Deserialize, Serialize};
use std::path::Path;
use strokeseg_core::Grid;
use strokeseg_io::nifti_io::read_volume;

/// Structure atlas file.
pub const STRUCTURE_FILE: &str = "lobe_atlas_padding.nii.gz";
/// Arterial territory atlas file.
pub const TERRITORY_FILE: &str = "ArterialAtlas_padding.nii.gz";

/// Body side.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// Patient's left (MNI x < 0).
    Left,
    /// Patient's right (MNI x > 0).
    Right,
}

impl Side {
    /// "left" / "right".
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Side::Left => "left",
            Side::Right => "right",
        }
    }

    /// "L" / "R".
    #[must_use]
    pub fn letter(self) -> &'static str {
        match self {
            Side::Left => "L",
            Side::Right => "R",
        }
    }
}

/// What one label value means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabelInfo {
    /// Human name without side, e.g. "frontal lobe", "MCA, temporal part".
    pub name: &'static str,
    /// The atlas' code, e.g. `frontal`, `MCAT`.
    pub code: &'static str,
    /// Side from the label itself; `None` for midline labels (side then comes from MNI x).
    pub side: Option<Side>,
    /// Coarser group: for structures "supratentorial"/"brainstem"/"cerebellum"/"csf";
    /// for territories the atlas' level-2 territory "ACA"/"MCA"/"PCA"/"VB"/"ventricle".
    pub group: &'static str,
}

const fn li(
    name: &'static str,
    code: &'static str,
    side: Option<Side>,
    group: &'static str,
) -> LabelInfo {
    LabelInfo {
        name,
        code,
        side,
        group,
    }
}

const L: Option<Side> = Some(Side::Left);
const R: Option<Side> = Some(Side::Right);

/// Structure labels 1–31 (`LobesLabelLookupTable.txt`).
pub const STRUCTURES: [LabelInfo; 31] = [
    li("frontal lobe", "frontal", L, "supratentorial"),
    li("frontal lobe", "frontal", R, "supratentorial"),
    li("parietal lobe", "parietal", L, "supratentorial"),
    li("parietal lobe", "parietal", R, "supratentorial"),
    li("temporal lobe", "temporal", L, "supratentorial"),
    li("temporal lobe", "temporal", R, "supratentorial"),
    li("cingulate", "cingulum", L, "supratentorial"),
    li("cingulate", "cingulum", R, "supratentorial"),
    li("occipital lobe", "occipital", L, "supratentorial"),
    li("occipital lobe", "occipital", R, "supratentorial"),
    li("insula", "insula", L, "supratentorial"),
    li("insula", "insula", R, "supratentorial"),
    li("basal ganglia", "BasalGanglia", L, "supratentorial"),
    li("basal ganglia", "BasalGanglia", R, "supratentorial"),
    li("thalamus", "Thalamus", L, "supratentorial"),
    li("thalamus", "Thalamus", R, "supratentorial"),
    li("cerebellum", "cerebellum", L, "cerebellum"),
    li("cerebellum", "cerebellum", R, "cerebellum"),
    li("pons", "pons", None, "brainstem"),
    li("medulla", "medulla", None, "brainstem"),
    li("corona radiata", "CoronaRadiata", L, "supratentorial"),
    li("corona radiata", "CoronaRadiata", R, "supratentorial"),
    li("centrum semiovale", "CentrumSemiOvale", L, "supratentorial"),
    li("centrum semiovale", "CentrumSemiOvale", R, "supratentorial"),
    li("corpus callosum", "CorpusCallosum", None, "supratentorial"),
    li("internal capsule", "InternalCapsule", L, "supratentorial"),
    li("internal capsule", "InternalCapsule", R, "supratentorial"),
    li("lateral ventricle", "Ventricle", L, "csf"),
    li("lateral ventricle", "Ventricle", R, "csf"),
    li("fourth ventricle", "IVventricle", None, "csf"),
    li("midbrain", "midbrain", None, "brainstem"),
];

/// Arterial territory labels 1–32 (`ArterialAtlasLables.txt`; odd = left, even = right).
pub const TERRITORIES: [LabelInfo; 32] = [
    li("ACA", "ACA", L, "ACA"),
    li("ACA", "ACA", R, "ACA"),
    li("medial lenticulostriate", "MLS", L, "ACA"),
    li("medial lenticulostriate", "MLS", R, "ACA"),
    li("lateral lenticulostriate", "LLS", L, "MCA"),
    li("lateral lenticulostriate", "LLS", R, "MCA"),
    li("MCA, frontal part", "MCAF", L, "MCA"),
    li("MCA, frontal part", "MCAF", R, "MCA"),
    li("MCA, parietal part", "MCAP", L, "MCA"),
    li("MCA, parietal part", "MCAP", R, "MCA"),
    li("MCA, temporal part", "MCAT", L, "MCA"),
    li("MCA, temporal part", "MCAT", R, "MCA"),
    li("MCA, occipital part", "MCAO", L, "MCA"),
    li("MCA, occipital part", "MCAO", R, "MCA"),
    li("MCA, insular part", "MCAI", L, "MCA"),
    li("MCA, insular part", "MCAI", R, "MCA"),
    li("PCA, temporal part", "PCAT", L, "PCA"),
    li("PCA, temporal part", "PCAT", R, "PCA"),
    li("PCA, occipital part", "PCAO", L, "PCA"),
    li("PCA, occipital part", "PCAO", R, "PCA"),
    li(
        "posterior choroidal and thalamoperforators",
        "PCTP",
        L,
        "PCA",
    ),
    li(
        "posterior choroidal and thalamoperforators",
        "PCTP",
        R,
        "PCA",
    ),
    li(
        "anterior choroidal and thalamoperforators",
        "ACTP",
        L,
        "PCA",
    ),
    li(
        "anterior choroidal and thalamoperforators",
        "ACTP",
        R,
        "PCA",
    ),
    li("basilar", "B", L, "VB"),
    li("basilar", "B", R, "VB"),
    li("superior cerebellar", "SC", L, "VB"),
    li("superior cerebellar", "SC", R, "VB"),
    li("inferior cerebellar", "IC", L, "VB"),
    li("inferior cerebellar", "IC", R, "VB"),
    li("lateral ventricle", "LV", L, "ventricle"),
    li("lateral ventricle", "LV", R, "ventricle"),
];

/// Circulation of a level-2 territory, as the atlas groups them.
#[must_use]
pub fn circulation(group: &str) -> Option<&'static str> {
    match group {
        "ACA" | "MCA" => Some("anterior"),
        "PCA" | "VB" => Some("posterior"),
        _ => None,
    }
}

/// A label volume in the atlas' own space.
#[derive(Debug, Clone)]
pub struct LabelMap {
    /// Labels (0 = none).
    pub labels: Array3<u8>,
    /// Its grid (JHU "MNI" mm).
    pub grid: Grid,
}

impl LabelMap {
    /// Reads a label NIfTI (labels stored as float are rounded), checking the range.
    ///
    /// # Errors
    /// Unreadable file, or labels outside 0–`max`.
    pub fn read(path: &Path, max: u8) -> Result<LabelMap, AtlasError> {
        let v = read_volume(path).map_err(|e| AtlasError::Bad {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let mut bad = None;
        let labels = v.data().mapv(|x| {
            let r = x.round();
            if !(0.0..=f32::from(max)).contains(&r) {
                bad = Some(x);
                0
            } else {
                r as u8
            }
        });
        if let Some(x) = bad {
            return Err(AtlasError::Bad {
                path: path.to_path_buf(),
                reason: format!("label {x} outside 0–{max}: is this the JHU atlas?"),
            });
        }
        if labels.iter().all(|&l| l == 0) {
            return Err(AtlasError::Bad {
                path: path.to_path_buf(),
                reason: "no labels".into(),
            });
        }
        Ok(LabelMap {
            labels,
            grid: v.grid(),
        })
    }

    /// Label at an atlas-space point (nearest voxel); 0 outside.
    #[must_use]
    pub fn at(&self, w2v: &nalgebra::Matrix4<f64>, p: [f64; 3]) -> u8 {
        let v = strokeseg_register::affine::apply(w2v, p);
        let d = self.grid.dims;
        let r: [f64; 3] = std::array::from_fn(|a| v[a].round());
        if (0..3).any(|a| r[a] < 0.0 || r[a] > (d[a] - 1) as f64) {
            return 0;
        }
        self.labels[[r[0] as usize, r[1] as usize, r[2] as usize]]
    }
}
