//! Datasets: the studies of a folder or list, with their lesion masks where there are any, in
//! the layouts users of the field already have. One reader for every command that takes
//! `--data` (train, validate, calibrate, adapt, learning-curve); [`discover_labelled`] keeps
//! the studies with a mask.
//!
//! - **ISLES'22 / BIDS** (what `synth` writes): `sub-*` study folders; a study's mask is the
//!   `*_msk.nii.gz` under `derivatives/<sub>/` or in the folder itself
//!   ([`crate::study::find_truth_mask`]).
//! - **nnU-Net raw** (`Dataset0XX_Name/`): `dataset.json` names the channels;
//!   `imagesTr/<case>_<XXXX>.nii.gz` are the channels of a case, `labelsTr/<case>.nii.gz` its
//!   label map (every label above 0 is lesion); `imagesTs/` cases come without labels. Channels
//!   are mapped by name: DWI (or trace, b1000), ADC, b0; others (FLAIR, T1, …) are ignored.
//! - **CSV** (a file): columns `dwi` and optionally `mask`, `adc`, `b0`, `site`, `id`, paths
//!   relative to the CSV.
//!
//! Must not touch: loading or preparing the images (that is [`crate::Study`] and the callers).

use crate::error::InputError;
use crate::study::{find_truth_mask, StudySpec};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A study of a dataset: what to load, and its lesion mask when it has one.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetStudy {
    /// Identifier (subject folder, nnU-Net case or CSV `id`).
    pub id: String,
    /// Source name (the dataset folder's name, or the CSV's `site` column): sampling weights
    /// and site-balanced subsets refer to it.
    pub site: String,
    /// What to load.
    pub spec: StudySpec,
    /// Lesion mask (NIfTI, > 0 is lesion), when the study is labelled.
    pub mask: Option<PathBuf>,
}

/// A study of a dataset that has a lesion mask (what training, validation and calibration
/// read).
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledStudy {
    /// Identifier (subject folder, nnU-Net case or CSV `id`).
    pub id: String,
    /// Source name, as [`DatasetStudy::site`].
    pub site: String,
    /// What to load.
    pub spec: StudySpec,
    /// Lesion mask (NIfTI, > 0 is lesion).
    pub mask: PathBuf,
}

/// The labelled studies of `root` ([`discover`]); a study without a mask is skipped with a
/// warning.
///
/// # Errors
/// [`InputError`] when the folder or CSV is unreadable or holds no labelled study.
pub fn discover_labelled(root: &Path) -> Result<Vec<LabelledStudy>, InputError> {
    let all = discover(root)?;
    let n = all.len();
    let out: Vec<LabelledStudy> = all
        .into_iter()
        .filter_map(|s| match s.mask {
            Some(mask) => Some(LabelledStudy {
                id: s.id,
                site: s.site,
                spec: s.spec,
                mask,
            }),
            None => {
                tracing::warn!(
                    "{}: {}: no lesion mask found; skipped",
                    root.display(),
                    s.id
                );
                None
            }
        })
        .collect();
    if out.is_empty() {
        return Err(InputError::Empty {
            path: root.to_path_buf(),
            reason: format!(
                "none of its {n} studies has a lesion mask (*_msk.nii.gz, labelsTr/, or a mask \
                 column)"
            ),
        });
    }
    Ok(out)
}

/// Every study of `root` (a folder in one of the layouts above, or a CSV), in a stable order.
///
/// # Errors
/// [`InputError`] naming the file or folder: unreadable, a layout it cannot tell, a
/// `dataset.json` without DWI channel, a CSV without `dwi` column, or no study at all.
pub fn discover(root: &Path) -> Result<Vec<DatasetStudy>, InputError> {
    let out = if root.is_file() {
        from_csv(root)?
    } else if root.join("dataset.json").is_file() && root.join("imagesTr").is_dir() {
        from_nnunet(root)?
    } else {
        from_bids(root)?
    };
    if out.is_empty() {
        return Err(InputError::Empty {
            path: root.to_path_buf(),
            reason: "no study found (expected sub-* folders, an nnU-Net raw dataset with \
                     dataset.json and imagesTr/, or a CSV with a dwi column)"
                .into(),
        });
    }
    Ok(out)
}

fn folder_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn from_bids(root: &Path) -> Result<Vec<DatasetStudy>, InputError> {
    let site = folder_name(root);
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .map_err(|e| InputError::io(root, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && folder_name(p).starts_with("sub-"))
        .collect();
    dirs.sort();
    Ok(dirs
        .into_iter()
        .map(|d| DatasetStudy {
            id: folder_name(&d),
            site: site.clone(),
            mask: find_truth_mask(&d),
            spec: StudySpec {
                paths: vec![d],
                ..StudySpec::default()
            },
        })
        .collect())
}

/// Which study role an nnU-Net channel name plays.
fn channel_role(name: &str) -> Option<&'static str> {
    let n = name.to_ascii_lowercase();
    if n.contains("adc") {
        Some("adc")
    } else if n.contains("dwi") || n.contains("trace") || n.contains("b1000") || n == "diffusion" {
        Some("dwi")
    } else if n == "b0" || n.contains("b=0") || n.contains("b0_") || n.ends_with("_b0") {
        Some("b0")
    } else {
        None
    }
}

fn from_nnunet(root: &Path) -> Result<Vec<DatasetStudy>, InputError> {
    let json_path = root.join("dataset.json");
    let bad = |reason: String| InputError::Usage(format!("{}: {reason}", json_path.display()));
    let text = std::fs::read_to_string(&json_path).map_err(|e| InputError::io(&json_path, e))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
    // nnU-Net v2 `channel_names`; v1 `modality`
    let channels = json
        .get("channel_names")
        .or_else(|| json.get("modality"))
        .and_then(serde_json::Value::as_object)
        .ok_or_else(|| bad("no channel_names (or modality)".into()))?;
    let mut roles: BTreeMap<&'static str, String> = BTreeMap::new();
    for (index, name) in channels {
        let name = name.as_str().unwrap_or_default();
        let Ok(i) = index.parse::<u32>() else {
            return Err(bad(format!("channel index {index:?} is not a number")));
        };
        if let Some(role) = channel_role(name) {
            roles.entry(role).or_insert(format!("{i:04}"));
        }
    }
    if !roles.contains_key("dwi") {
        return Err(bad(format!(
            "no DWI channel among {:?} (a channel named DWI, trace or b1000 is needed)",
            channels
                .values()
                .filter_map(|v| v.as_str())
                .collect::<Vec<_>>()
        )));
    }
    let ending = json
        .get("file_ending")
        .and_then(serde_json::Value::as_str)
        .unwrap_or(".nii.gz")
        .to_string();
    let site = folder_name(root);
    let mut out = Vec::new();
    for (images, labels) in [("imagesTr", Some("labelsTr")), ("imagesTs", None)] {
        let dir = root.join(images);
        if !dir.is_dir() {
            continue;
        }
        let suffix = format!("_{}{ending}", roles["dwi"]);
        let mut cases: Vec<String> = std::fs::read_dir(&dir)
            .map_err(|e| InputError::io(&dir, e))?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_string_lossy()
                    .strip_suffix(&suffix)
                    .map(String::from)
            })
            .collect();
        cases.sort();
        for case in cases {
            let channel = |role: &str| {
                roles
                    .get(role)
                    .map(|c| dir.join(format!("{case}_{c}{ending}")))
                    .filter(|p| p.is_file())
            };
            let mask = labels
                .map(|l| root.join(l).join(format!("{case}{ending}")))
                .filter(|p| p.is_file());
            out.push(DatasetStudy {
                id: case.clone(),
                site: site.clone(),
                spec: StudySpec {
                    paths: vec![],
                    dwi: channel("dwi"),
                    adc: channel("adc"),
                    b0: channel("b0"),
                },
                mask,
            });
        }
    }
    Ok(out)
}

fn from_csv(path: &Path) -> Result<Vec<DatasetStudy>, InputError> {
    let base = path.parent().unwrap_or(Path::new("."));
    let usage = |e: &dyn std::fmt::Display| InputError::Usage(format!("{}: {e}", path.display()));
    let mut r = csv::Reader::from_path(path).map_err(|e| usage(&e))?;
    let headers = r.headers().map_err(|e| usage(&e))?.clone();
    let col = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let Some(dwi) = col("dwi") else {
        return Err(usage(&"needs a `dwi` column"));
    };
    let (mask, adc, b0, site, id) = (col("mask"), col("adc"), col("b0"), col("site"), col("id"));
    let mut out = Vec::new();
    for (n, rec) in r.records().enumerate() {
        let row = n + 2;
        let rec = rec.map_err(|e| usage(&format!("row {row}: {e}")))?;
        let get = |c: Option<usize>| {
            c.and_then(|c| rec.get(c))
                .filter(|s| !s.is_empty())
                .map(|s| base.join(s))
        };
        out.push(DatasetStudy {
            id: id
                .and_then(|c| rec.get(c))
                .filter(|s| !s.is_empty())
                .map_or_else(|| format!("row{row}"), String::from),
            site: site
                .and_then(|c| rec.get(c))
                .filter(|s| !s.is_empty())
                .map_or_else(|| "csv".into(), String::from),
            spec: StudySpec {
                paths: vec![],
                dwi: Some(get(Some(dwi)).ok_or_else(|| usage(&format!("row {row}: empty dwi")))?),
                adc: get(adc),
                b0: get(b0),
            },
            mask: get(mask),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(p: &Path) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"x").unwrap();
    }

    #[test]
    fn nnunet_raw_layout_maps_channels_by_name_and_labels_by_case() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("Dataset501_Stroke");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(
            root.join("dataset.json"),
            r#"{"channel_names": {"0": "DWI", "1": "ADC", "2": "FLAIR"},
                "labels": {"background": 0, "infarct": 1}, "numTraining": 2,
                "file_ending": ".nii.gz"}"#,
        )
        .unwrap();
        for case in ["case_001", "case_002"] {
            for c in 0..3 {
                touch(&root.join(format!("imagesTr/{case}_{c:04}.nii.gz")));
            }
        }
        touch(&root.join("labelsTr/case_001.nii.gz"));
        touch(&root.join("imagesTs/test_007_0000.nii.gz"));
        let s = discover(&root).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].id, "case_001");
        assert_eq!(s[0].site, "Dataset501_Stroke");
        assert_eq!(
            s[0].spec.dwi.as_deref(),
            Some(root.join("imagesTr/case_001_0000.nii.gz").as_path())
        );
        assert_eq!(
            s[0].spec.adc.as_deref(),
            Some(root.join("imagesTr/case_001_0001.nii.gz").as_path())
        );
        assert_eq!(s[0].spec.b0, None, "FLAIR is not a b0");
        assert_eq!(s[0].mask, Some(root.join("labelsTr/case_001.nii.gz")));
        assert_eq!(s[1].mask, None, "a training case without its label map");
        assert_eq!(s[2].id, "test_007");
        assert_eq!(s[2].spec.adc, None, "its ADC file is missing");
        // no DWI channel: refused, naming dataset.json and the channels
        std::fs::write(
            root.join("dataset.json"),
            r#"{"channel_names": {"0": "T1", "1": "FLAIR"}}"#,
        )
        .unwrap();
        let e = discover(&root).unwrap_err().to_string();
        assert!(e.contains("dataset.json") && e.contains("FLAIR"), "{e}");
    }

    #[test]
    fn bids_folders_and_csv_lists() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("site-x");
        touch(&root.join("sub-01/ses-1/dwi/sub-01_ses-1_dwi.nii.gz"));
        touch(&root.join("derivatives/sub-01/ses-1/sub-01_ses-1_msk.nii.gz"));
        touch(&root.join("sub-02/sub-02_dwi.nii.gz"));
        let s = discover(&root).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].id.as_str(), s[0].site.as_str()), ("sub-01", "site-x"));
        assert!(s[0].mask.is_some() && s[1].mask.is_none());
        let csv = d.path().join("list.csv");
        std::fs::write(&csv, "dwi,mask,site\na.nii.gz,m.nii.gz,s1\nb.nii.gz,,\n").unwrap();
        let s = discover(&csv).unwrap();
        assert_eq!(s[0].mask, Some(d.path().join("m.nii.gz")));
        assert_eq!((s[1].id.as_str(), s[1].site.as_str()), ("row3", "csv"));
        assert_eq!(s[1].mask, None);
        std::fs::write(&csv, "mask\nm.nii.gz\n").unwrap();
        assert!(discover(&csv).unwrap_err().to_string().contains("dwi"));
        let empty = d.path().join("empty");
        std::fs::create_dir_all(&empty).unwrap();
        assert!(discover(&empty)
            .unwrap_err()
            .to_string()
            .contains("nnU-Net"));
    }
}
