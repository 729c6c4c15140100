//! Finding and pairing the masks to score: predictions (`strokeseg segment` output folders or
//! plain mask files), truth (dataset folders or plain mask files), the patient scores in
//! `report.json`, and per-lesion regions from a synth manifest. Reads only; never writes.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use strokeseg_core::Mask;
use strokeseg_io::nifti_io::read_volume;
use strokeseg_io::study::find_truth_mask;
use strokeseg_io::InputError;
use strokeseg_measure::OperatingPoint;

/// The matching key of a file or folder name: a BIDS subject (`sub-XXX`, up to the first
/// `_`), else the name without `.nii[.gz]` and a trailing `_msk`, `_mask`, `_lesion_mask`,
/// `_lesion`, `_pred`, `_seg` or `_dwi`.
#[must_use]
pub fn case_key(name: &str) -> String {
    let n = name.trim_end_matches(".gz").trim_end_matches(".nii");
    if n.starts_with("sub-") {
        return n.split('_').next().unwrap_or(n).to_string();
    }
    for suf in [
        "_lesion_mask",
        "_msk",
        "_mask",
        "_lesion",
        "_pred",
        "_seg",
        "_dwi",
    ] {
        if let Some(s) = n.strip_suffix(suf) {
            return s.to_string();
        }
    }
    n.to_string()
}

fn is_nifti(p: &Path) -> bool {
    let n = p
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    p.is_file() && (n.ends_with(".nii") || n.ends_with(".nii.gz"))
}

fn name_of(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn list(dir: &Path) -> Result<Vec<PathBuf>, InputError> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| InputError::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    v.sort();
    Ok(v)
}

/// One side's masks by key, refusing duplicate keys.
fn insert(map: &mut BTreeMap<String, Found>, key: String, f: Found) -> Result<(), InputError> {
    if let Some(old) = map.get(&key) {
        return Err(InputError::Usage(format!(
            "{} and {} are both study `{key}`; keep one",
            old.mask.display(),
            f.mask.display()
        )));
    }
    map.insert(key, f);
    Ok(())
}

/// A mask found on one side, with its report.json when there is one.
#[derive(Debug, Clone)]
pub struct Found {
    /// The mask file.
    pub mask: PathBuf,
    /// `report.json` beside it (predictions only).
    pub report: Option<PathBuf>,
}

impl Found {
    /// A mask without a report.
    fn mask(mask: PathBuf) -> Found {
        Found { mask, report: None }
    }
}

fn must_be_dir(dir: &Path, what: &str) -> Result<(), InputError> {
    match std::fs::metadata(dir) {
        Err(e) => Err(InputError::io(dir, e)),
        Ok(m) if !m.is_dir() => Err(InputError::Usage(format!(
            "{}: {what} must be a folder",
            dir.display()
        ))),
        Ok(_) => Ok(()),
    }
}

/// Truth masks in `dir`: a dataset folder (`sub-*/` studies whose masks are `*_msk.nii.gz`
/// under `derivatives/sub-*/` or inside the study folder), or a folder of mask files.
///
/// # Errors
/// [`InputError`] when `dir` is unreadable or holds no mask.
pub fn truth_masks(dir: &Path) -> Result<BTreeMap<String, Found>, InputError> {
    must_be_dir(dir, "--truth")?;
    let mut out = BTreeMap::new();
    for p in list(dir)? {
        let name = name_of(&p);
        if p.is_dir() && name.starts_with("sub-") {
            // the dataset layout's one rule (crates/io), as training reads it
            match find_truth_mask(&p) {
                Some(m) => insert(&mut out, case_key(&name), Found::mask(m))?,
                None => tracing::warn!("{}: no *_msk.nii.gz found; skipped", p.display()),
            }
        } else if is_nifti(&p) {
            insert(&mut out, case_key(&name), Found::mask(p))?;
        }
    }
    if out.is_empty() {
        return Err(InputError::Empty {
            path: dir.to_path_buf(),
            reason: "no truth masks: expected sub-*/ studies with *_msk.nii.gz or mask files"
                .into(),
        });
    }
    Ok(out)
}

/// The mask `strokeseg segment` wrote into a study folder: `*_desc-lesion_mask.nii.gz`
/// (BIDS-derivative name), or `lesion_mask.nii.gz` (before report schema 3).
fn segment_mask(dir: &Path) -> Option<PathBuf> {
    let old = dir.join("lesion_mask.nii.gz");
    if old.is_file() {
        return Some(old);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.file_name().is_some_and(|n| {
                    n.to_string_lossy()
                        .ends_with(strokeseg_report::names::MASK_SUFFIX)
                })
        })
        .collect();
    found.sort();
    found.into_iter().next()
}

/// Predicted masks in `dir`: `strokeseg segment --out` folders (`<study>/*_desc-lesion_mask.nii.gz`,
/// or `lesion_mask.nii.gz` before report schema 3, with `report.json`), `sub-*/` studies with `*_msk.nii.gz`, or plain mask files.
///
/// # Errors
/// [`InputError`] when `dir` is unreadable or holds no mask.
pub fn pred_masks(dir: &Path) -> Result<BTreeMap<String, Found>, InputError> {
    must_be_dir(dir, "--pred")?;
    let mut out = BTreeMap::new();
    for p in list(dir)? {
        let name = name_of(&p);
        if p.is_dir() {
            let m = segment_mask(&p);
            if let Some(m) = m {
                let r = p.join("report.json");
                let report = r.is_file().then_some(r);
                insert(&mut out, case_key(&name), Found { mask: m, report })?;
            } else if let Some(m) = name
                .starts_with("sub-")
                .then(|| find_truth_mask(&p))
                .flatten()
            {
                insert(&mut out, case_key(&name), Found::mask(m))?;
            }
        } else if is_nifti(&p) {
            insert(&mut out, case_key(&name), Found::mask(p))?;
        }
    }
    if out.is_empty() {
        return Err(InputError::Empty {
            path: dir.to_path_buf(),
            reason: "no predicted masks: expected <study>/*_desc-lesion_mask.nii.gz (strokeseg segment --out) or mask files".into(),
        });
    }
    Ok(out)
}

/// Cases present on both sides, and the keys found on one side only.
#[derive(Debug, Clone)]
pub struct Pairing {
    /// (key, truth, prediction), sorted by key.
    pub matched: Vec<(String, Found, Found)>,
    /// Truth studies without a prediction.
    pub truth_only: Vec<String>,
    /// Predictions without a truth study.
    pub pred_only: Vec<String>,
}

/// Pairs truth and predictions by [`case_key`].
///
/// # Errors
/// [`InputError::Empty`] when no study is on both sides.
pub fn pair(
    truth_dir: &Path,
    truth: &BTreeMap<String, Found>,
    pred_dir: &Path,
    pred: &BTreeMap<String, Found>,
) -> Result<Pairing, InputError> {
    let matched: Vec<_> = truth
        .iter()
        .filter_map(|(k, t)| pred.get(k).map(|p| (k.clone(), t.clone(), p.clone())))
        .collect();
    if matched.is_empty() {
        let ex =
            |m: &BTreeMap<String, Found>| m.keys().take(3).cloned().collect::<Vec<_>>().join(", ");
        return Err(InputError::Empty {
            path: pred_dir.to_path_buf(),
            reason: format!(
                "no prediction matches a study of {} (predictions: {}; truth: {})",
                truth_dir.display(),
                ex(pred),
                ex(truth)
            ),
        });
    }
    Ok(Pairing {
        matched,
        truth_only: truth
            .keys()
            .filter(|k| !pred.contains_key(*k))
            .cloned()
            .collect(),
        pred_only: pred
            .keys()
            .filter(|k| !truth.contains_key(*k))
            .cloned()
            .collect(),
    })
}

/// A voxel is lesion when its value is non-zero (the challenge's `astype(bool)`); NaN is not.
///
/// # Errors
/// [`InputError`] when the file cannot be read.
pub fn read_mask(path: &Path) -> Result<Mask, InputError> {
    Ok(read_volume(path)?.map(|&x| x != 0.0 && !x.is_nan()))
}

/// Refuses masks on different grids (dims, or voxel positions further apart than a twentieth
/// of the smallest voxel side).
///
/// # Errors
/// [`InputError::BadImage`] naming both files.
pub fn same_grid(truth: &Mask, tf: &Path, pred: &Mask, pf: &Path) -> Result<(), InputError> {
    let (tg, pg) = (truth.grid(), pred.grid());
    let tol = 0.05
        * tg.spacing_mm()
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min);
    if tg.same_as(&pg, tol) {
        return Ok(());
    }
    let why = if tg.dims == pg.dims {
        "the same dims but different voxel positions (affines)".to_string()
    } else {
        format!("dims {:?} vs {:?}", pg.dims, tg.dims)
    };
    Err(InputError::BadImage {
        path: pf.to_path_buf(),
        reason: format!(
            "prediction and truth {} are on different grids: {why}; resample the prediction onto the truth grid first",
            tf.display()
        ),
    })
}

#[derive(Deserialize)]
struct ReportFile {
    patient: ReportPatient,
}
#[derive(Deserialize)]
struct ReportPatient {
    score: f32,
    call: String,
    #[serde(default)]
    all_operating_points: Vec<ReportCallAt>,
}
#[derive(Deserialize)]
struct ReportCallAt {
    operating_point: OperatingPoint,
}

/// What a `report.json` (docs/report-schema.md) says about the patient.
#[derive(Debug, Clone)]
pub struct PatientReport {
    /// The patient score.
    pub score: f32,
    /// The headline call ("infarct", "no_infarct" or "uncalibrated").
    pub call: String,
    /// The model's calibrated operating points.
    pub operating_points: Vec<OperatingPoint>,
}

/// Reads the patient part of a `report.json`.
///
/// # Errors
/// [`InputError`] when the file is unreadable or not a strokeseg report.
pub fn read_report(path: &Path) -> Result<PatientReport, InputError> {
    let text = std::fs::read_to_string(path).map_err(|e| InputError::io(path, e))?;
    let r: ReportFile = serde_json::from_str(&text).map_err(|e| {
        InputError::Usage(format!(
            "{}: not a strokeseg report.json: {e}",
            path.display()
        ))
    })?;
    Ok(PatientReport {
        score: r.patient.score,
        call: r.patient.call,
        operating_points: r
            .patient
            .all_operating_points
            .into_iter()
            .map(|c| c.operating_point)
            .collect(),
    })
}

/// A lesion of the truth manifest: region and centroid (world mm).
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestLesion {
    /// "supratentorial", "brainstem", "cerebellum", …
    pub region: String,
    /// Centroid of its voxels in world millimetres.
    pub centroid_mm: [f64; 3],
    /// Volume of its voxels in the truth mask (mL).
    pub volume_ml: f64,
}

#[derive(Deserialize)]
struct MFile {
    studies: Vec<MStudy>,
}
#[derive(Deserialize)]
struct MStudy {
    id: String,
    lesions: Vec<MLesion>,
}
#[derive(Deserialize)]
struct MLesion {
    region: String,
    centroid_mm: Option<[f64; 3]>,
    #[serde(default)]
    mask_volume_ml: f64,
}

/// Per-study lesion regions from a synth `manifest.json` or `lesions.csv` (lesions without
/// voxels, i.e. without a centroid, are left out), keyed by [`case_key`].
///
/// # Errors
/// [`InputError`] when the file is unreadable or has neither layout.
pub fn read_manifest(path: &Path) -> Result<BTreeMap<String, Vec<ManifestLesion>>, InputError> {
    let bad = |e: &dyn std::fmt::Display| {
        InputError::Usage(format!(
            "{}: not a synth manifest.json or lesions.csv: {e}",
            path.display()
        ))
    };
    let mut out: BTreeMap<String, Vec<ManifestLesion>> = BTreeMap::new();
    let is_csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    if is_csv {
        let mut r = csv::Reader::from_path(path).map_err(|e| bad(&e))?;
        let h = r.headers().map_err(|e| bad(&e))?.clone();
        let col = |n: &str| {
            h.iter()
                .position(|x| x == n)
                .ok_or_else(|| bad(&format!("no column `{n}`")))
        };
        let (id, region, vol) = (col("id")?, col("region")?, col("mask_volume_ml")?);
        let xyz = [
            col("centroid_x_mm")?,
            col("centroid_y_mm")?,
            col("centroid_z_mm")?,
        ];
        for rec in r.records() {
            let rec = rec.map_err(|e| bad(&e))?;
            let c: Option<Vec<f64>> = xyz.iter().map(|&i| rec.get(i)?.parse().ok()).collect();
            if let (Some(c), Some(i), Some(g)) = (c, rec.get(id), rec.get(region)) {
                out.entry(case_key(i)).or_default().push(ManifestLesion {
                    region: g.to_string(),
                    centroid_mm: [c[0], c[1], c[2]],
                    volume_ml: rec.get(vol).and_then(|v| v.parse().ok()).unwrap_or(0.0),
                });
            }
        }
    } else {
        let text = std::fs::read_to_string(path).map_err(|e| InputError::io(path, e))?;
        let m: MFile = serde_json::from_str(&text).map_err(|e| bad(&e))?;
        for s in m.studies {
            let v = out.entry(case_key(&s.id)).or_default();
            v.extend(s.lesions.into_iter().filter_map(|l| {
                l.centroid_mm.map(|c| ManifestLesion {
                    region: l.region,
                    centroid_mm: c,
                    volume_ml: l.mask_volume_ml,
                })
            }));
        }
    }
    Ok(out)
}

fn radius_mm(volume_ml: f64) -> f64 {
    (3.0 * volume_ml.max(0.0) * 1000.0 / (4.0 * std::f64::consts::PI)).cbrt()
}

/// Region of a truth component at `centroid_mm`: that of the manifest lesion whose
/// equivalent sphere (centred on its centroid, with its volume) is nearest, i.e. the smallest
/// distance between centroids minus that lesion's equivalent radius, so that a fragment of a
/// large lesion split off by the mask goes to the large lesion rather than to a small
/// neighbour. None when the study has no manifest lesion. `_volume_ml` (the component's
/// volume) does not enter this rule; it stays in the signature that callers already use.
#[must_use]
pub fn region_of(
    centroid_mm: [f64; 3],
    _volume_ml: f64,
    lesions: &[ManifestLesion],
) -> Option<String> {
    lesions
        .iter()
        .map(|l| {
            let d2: f64 = (0..3)
                .map(|i| (l.centroid_mm[i] - centroid_mm[i]).powi(2))
                .sum();
            (d2.sqrt() - radius_mm(l.volume_ml), l)
        })
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, l)| l.region.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_across_layouts() {
        assert_eq!(
            case_key("sub-strokecase0001_ses-0001_msk.nii.gz"),
            "sub-strokecase0001"
        );
        assert_eq!(case_key("sub-sitea0004"), "sub-sitea0004");
        assert_eq!(case_key("sub-sitea0004_ses-0001_dwi"), "sub-sitea0004");
        assert_eq!(case_key("case7_lesion_mask.nii"), "case7");
        assert_eq!(case_key("case7.nii.gz"), "case7");
        assert_eq!(case_key("case7_msk.nii.gz"), "case7");
    }

    #[test]
    fn region_is_that_of_the_nearest_lesion_sphere() {
        let l = |region: &str, c: [f64; 3], v: f64| ManifestLesion {
            region: region.into(),
            centroid_mm: c,
            volume_ml: v,
        };
        // A 14 mL lesion (radius 15 mm) centred at x = 40 and a lacune at x = 10.
        let ls = vec![
            l("brainstem", [10.0, 0.0, 0.0], 0.02),
            l("cerebellum", [40.0, 0.0, 0.0], 14.1),
        ];
        assert_eq!(
            region_of([11.0, 0.0, 0.0], 0.001, &ls).as_deref(),
            Some("brainstem")
        );
        // A fragment at x = 22: 12 mm from the lacune, 18 − 15 = 3 mm from the big sphere.
        assert_eq!(
            region_of([22.0, 0.0, 0.0], 0.5, &ls).as_deref(),
            Some("cerebellum")
        );
        assert_eq!(region_of([0.0; 3], 1.0, &[]), None);
    }
}
