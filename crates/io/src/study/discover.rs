//! Finding the DWI, ADC and b0 images in what a user points at: NIfTI files named the
//! ISLES'22/BIDS way (`*_dwi`, `*_adc`, `*_b0`) or in common clinical ways, folders of them,
//! or DICOM folders.

use crate::error::InputError;
use std::path::{Path, PathBuf};

/// What an input image is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Diffusion-weighted (trace, or 4-D with b-values).
    Dwi,
    /// Apparent diffusion coefficient map.
    Adc,
    /// b = 0 (T2-weighted) image.
    B0,
}

/// True for `.nii` and `.nii.gz` file names.
#[must_use]
pub fn is_nifti_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.ends_with(".nii") || n.ends_with(".nii.gz")
}

/// The role a NIfTI file's name announces, or `None` for masks, labels, atlas-space copies
/// and names that say nothing.
#[must_use]
pub fn role_from_name(name: &str) -> Option<Role> {
    let n = name.to_ascii_lowercase();
    let stem = n.trim_end_matches(".gz").trim_end_matches(".nii");
    let tokens: Vec<&str> = stem
        .split(['_', '-', '.', ' '])
        .filter(|t| !t.is_empty())
        .collect();
    const NOT_AN_IMAGE: [&str; 10] = [
        "msk", "mask", "lesion", "predict", "seg", "label", "labels", "mni", "roi", "prob",
    ];
    if tokens.iter().any(|t| NOT_AN_IMAGE.contains(t)) {
        return None;
    }
    if tokens.contains(&"adc") {
        Some(Role::Adc)
    } else if tokens.iter().any(|t| matches!(*t, "b0" | "bzero" | "t2w0")) {
        Some(Role::B0)
    } else if tokens.iter().any(|t| {
        matches!(
            *t,
            "dwi" | "trace" | "tracew" | "diffusion" | "b1000" | "isodwi"
        )
    }) {
        Some(Role::Dwi)
    } else {
        None
    }
}

/// Visits the files under `dir` in sorted order, to depth 5, skipping `derivatives` (labels
/// rather than images in the BIDS layout) and hidden folders, until `visit` returns `true`.
/// Returns whether it stopped early.
fn walk_study_files(
    dir: &Path,
    depth: usize,
    visit: &mut dyn FnMut(PathBuf, &str) -> bool,
) -> Result<bool, InputError> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| InputError::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // A symlinked folder is not followed (as in DICOM folder scans): a link into itself
        // would otherwise be walked again at every depth (issue 16 item 16).
        let linked_dir =
            std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink()) && p.is_dir();
        if linked_dir {
            continue;
        }
        if p.is_dir() {
            if depth < 5
                && name != "derivatives"
                && !name.starts_with('.')
                && walk_study_files(&p, depth + 1, visit)?
            {
                return Ok(true);
            }
        } else if visit(p, &name) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The first DICOM file (DICM marker) under `dir`, searched as [`nifti_files`] searches.
pub fn first_dicom_file(dir: &Path) -> Option<PathBuf> {
    let mut hit = None;
    let _ = walk_study_files(dir, 0, &mut |p, name| {
        let dicom = !is_nifti_name(name) && crate::dicom::has_dicm_marker(&p).unwrap_or(false);
        if dicom {
            hit = Some(p);
        }
        dicom
    });
    hit
}

/// NIfTI files under `dir` (depth ≤ 5, sorted), skipping `derivatives` folders, which hold
/// labels rather than images in the BIDS layout.
///
/// # Errors
/// [`InputError::Io`] when a folder cannot be listed.
pub fn nifti_files(dir: &Path) -> Result<Vec<PathBuf>, InputError> {
    let mut out = Vec::new();
    walk_study_files(dir, 0, &mut |p, name| {
        if is_nifti_name(name) {
            out.push(p);
        }
        false
    })?;
    Ok(out)
}

/// Picks one file among several candidates for a role: a name ending exactly in the BIDS
/// suffix wins, then the shorter name (fewer qualifiers), then alphabetical order. Returns the
/// pick and, when there was a choice, a warning saying which and why.
#[must_use]
pub fn pick(role: Role, mut files: Vec<PathBuf>) -> (Option<PathBuf>, Option<String>) {
    if files.len() <= 1 {
        return (files.pop(), None);
    }
    let suffix = match role {
        Role::Dwi => "_dwi",
        Role::Adc => "_adc",
        Role::B0 => "_b0",
    };
    let key = |p: &PathBuf| {
        let n = p
            .file_name()
            .map(|n| n.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        let stem = n
            .trim_end_matches(".gz")
            .trim_end_matches(".nii")
            .to_string();
        (!stem.ends_with(suffix), stem.len(), p.clone())
    };
    files.sort_by_key(key);
    let chosen = files[0].clone();
    let others: Vec<String> = files[1..].iter().map(|p| p.display().to_string()).collect();
    let w = format!(
        "{} candidate {:?} images: using {} (BIDS suffix `{suffix}` first, then the shortest name); ignored {}",
        files.len(),
        role,
        chosen.display(),
        others.join(", ")
    );
    (Some(chosen), Some(w))
}

/// The truth (lesion) mask of a study folder as the ISLES'22/BIDS layout keeps it: the first
/// `*_msk.nii.gz`, `*_msk.nii` or `*_lesion.nii.gz` (sorted walk) under
/// `<parent>/derivatives/<folder name>/`, else inside the folder itself. One rule for every
/// reader of labelled datasets (training, implanting).
#[must_use]
pub fn find_truth_mask(study_dir: &std::path::Path) -> Option<std::path::PathBuf> {
    let name = study_dir.file_name()?;
    let mut roots = Vec::new();
    if let Some(parent) = study_dir.parent() {
        roots.push(parent.join("derivatives").join(name));
    }
    roots.push(study_dir.to_path_buf());
    for root in roots.into_iter().filter(|r| r.is_dir()) {
        let mut stack = vec![root];
        while let Some(d) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&d) else {
                continue;
            };
            let mut entries: Vec<std::path::PathBuf> =
                rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
            entries.sort();
            for p in entries {
                let n = p
                    .file_name()
                    .map(|n| n.to_string_lossy().to_ascii_lowercase())
                    .unwrap_or_default();
                if p.is_dir() {
                    stack.push(p);
                } else if n.ends_with("_msk.nii.gz")
                    || n.ends_with("_msk.nii")
                    || n.ends_with("_lesion.nii.gz")
                {
                    return Some(p);
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_from_isles_ads_and_clinical_names() {
        assert_eq!(
            role_from_name("sub-strokecase0001_ses-0001_dwi.nii.gz"),
            Some(Role::Dwi)
        );
        assert_eq!(
            role_from_name("sub-strokecase0001_ses-0001_adc.nii.gz"),
            Some(Role::Adc)
        );
        assert_eq!(
            role_from_name("sub-strokecase0001_ses-0001_msk.nii.gz"),
            None
        );
        assert_eq!(role_from_name("Subject01_DWI.nii.gz"), Some(Role::Dwi));
        assert_eq!(role_from_name("Subject01_b0.nii.gz"), Some(Role::B0));
        assert_eq!(role_from_name("Subject02_ADC.nii.gz"), Some(Role::Adc));
        assert_eq!(role_from_name("Subject01_Mask.nii.gz"), None);
        assert_eq!(
            role_from_name("Subject01_DAGMNet_CH3_Lesion_Predict.nii.gz"),
            None
        );
        assert_eq!(role_from_name("Subject01_Mask_MNI.nii.gz"), None);
        assert_eq!(role_from_name("ep2d_diff_TRACEW.nii"), Some(Role::Dwi));
        assert_eq!(role_from_name("t1.nii.gz"), None);
    }

    #[test]
    fn pick_prefers_bids_suffix_and_says_why() {
        let (p, w) = pick(
            Role::Dwi,
            vec!["a/x_dwi_rerun.nii.gz".into(), "a/x_dwi.nii.gz".into()],
        );
        assert_eq!(p.unwrap(), PathBuf::from("a/x_dwi.nii.gz"));
        assert!(w.unwrap().contains("x_dwi_rerun"));
    }
}
