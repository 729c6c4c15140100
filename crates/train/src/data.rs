//! Training data: find labelled studies in dataset folders (the synthetic generator's output,
//! ISLES'22/BIDS trees, or a CSV manifest), load and prepare them once, keep them in memory.

use ndarray::{Array3, Array4};
use std::path::{Path, PathBuf};
use strokeseg_io::nifti_io::read_volume;
use strokeseg_io::{InputError, Study};
use strokeseg_preproc::{prepare, PrepConfig};

/// A labelled study on disk ([`strokeseg_io::dataset::LabelledStudy`]).
pub type CaseRef = strokeseg_io::dataset::LabelledStudy;

/// A study on disk with or without a lesion mask (for unsupervised adaptation): a study of a
/// dataset as [`strokeseg_io::dataset`] reads it.
pub type StudyRef = strokeseg_io::dataset::DatasetStudy;

/// Every study in `root`, labelled or not, in any layout [`strokeseg_io::dataset`] reads
/// (ISLES'22/BIDS `sub-*` folders, an nnU-Net raw dataset, a CSV list).
///
/// # Errors
/// [`InputError`] when the folder or CSV is unreadable or holds no study.
pub fn discover_studies(root: &Path) -> Result<Vec<StudyRef>, InputError> {
    strokeseg_io::dataset::discover(root)
}

/// Loads and prepares a study; without a mask the label is empty (`has_lesion` false), which
/// only unsupervised objectives may use.
///
/// # Errors
/// [`InputError`] from reading the study or its mask.
pub fn load_study(
    r: &StudyRef,
    prep: &PrepConfig,
    multiple: [usize; 3],
) -> Result<Case, InputError> {
    if let Some(mask) = &r.mask {
        return load_case(
            &CaseRef {
                id: r.id.clone(),
                site: r.site.clone(),
                spec: r.spec.clone(),
                mask: mask.clone(),
            },
            prep,
            multiple,
        );
    }
    let study = Study::load(&r.spec)?;
    let p = prepare(&study, prep, multiple);
    let (_, d, h, w) = p.input.dim();
    let label = Array3::zeros((d, h, w));
    Ok(Case {
        id: r.id.clone(),
        site: r.site.clone(),
        hard_voxels: hard_voxels(&p.input, &label),
        label,
        lesion_voxels: Vec::new(),
        lesion_components: Vec::new(),
        brain_voxels: brain_voxels(&p),
        has_lesion: false,
        input: p.input,
    })
}

fn brain_voxels(p: &strokeseg_preproc::Prepared) -> Vec<[usize; 3]> {
    p.brain
        .data()
        .indexed_iter()
        .filter(|((x, y, z), &b)| b && (x + y + z) % 7 == 0)
        .map(|((x, y, z), _)| [z, y, x])
        .collect()
}

/// Bright normal tissue for hard-negative patches: normalised DWI (channel 0) ≥
/// [`crate::sampler::HARD_NEGATIVE_Z`] where the label is exactly 0; every second such voxel,
/// at most 20,000 (evenly spread), so a study with a large bright artefact does not cost memory.
pub fn hard_voxels(input: &ndarray::Array4<f32>, label: &Array3<f32>) -> Vec<[usize; 3]> {
    let dwi = input.index_axis(ndarray::Axis(0), 0);
    let all: Vec<[usize; 3]> = dwi
        .indexed_iter()
        .zip(label.iter())
        .filter(|(((a, b, c), &v), &l)| {
            v >= crate::sampler::HARD_NEGATIVE_Z && l == 0.0 && (a + b + c) % 2 == 0
        })
        .map(|(((a, b, c), _), _)| [a, b, c])
        .collect();
    let step = all.len().div_ceil(20_000).max(1);
    all.into_iter().step_by(step).collect()
}

/// A prepared, labelled study in memory.
#[derive(Debug, Clone)]
pub struct Case {
    /// Identifier.
    pub id: String,
    /// Site.
    pub site: String,
    /// Model input [C, D, H, W].
    pub input: Array4<f32>,
    /// Lesion fraction per voxel [D, H, W].
    pub label: Array3<f32>,
    /// Voxels with label ≥ [`crate::lesions::CENTRE_LABEL`] ([d, h, w]), for lesion-centred
    /// patches drawn voxel by voxel.
    pub lesion_voxels: Vec<[usize; 3]>,
    /// Patch centres lesion by lesion ([`crate::lesions::centres`]): every connected
    /// component of the label, however small, has at least one.
    pub lesion_components: Vec<Vec<[usize; 3]>>,
    /// Brain voxels (sub-sampled) for background patches.
    pub brain_voxels: Vec<[usize; 3]>,
    /// Hard negatives ([d, h, w], sub-sampled): voxels whose normalised DWI is at least
    /// [`crate::sampler::HARD_NEGATIVE_Z`] and whose label is exactly 0 (not lesion, not
    /// partial volume of one, not ignored).
    pub hard_voxels: Vec<[usize; 3]>,
    /// True when the truth mask is not empty.
    pub has_lesion: bool,
}

/// The labelled studies of `root` ([`strokeseg_io::dataset::discover_labelled`]); a study
/// without a mask is skipped with a warning.
///
/// # Errors
/// [`InputError`] when the folder or CSV is unreadable or holds no labelled study.
pub fn discover(root: &Path) -> Result<Vec<CaseRef>, InputError> {
    strokeseg_io::dataset::discover_labelled(root)
}

/// Label value of a voxel excluded from the loss (its truth is unknown): the training loss
/// skips negative targets (`strokeseg_model::masked_dice_bce_loss`).
pub const IGNORE: f32 = -1.0;

/// The `*_ignore.nii.gz` beside a `*_msk.nii.gz` (written by `synth --implant` where only a
/// peer tool's prediction, or nothing, is known about a real study's own lesions).
fn ignore_beside(mask: &Path) -> Option<PathBuf> {
    let name = mask.file_name()?.to_string_lossy().into_owned();
    let stem = name
        .strip_suffix("_msk.nii.gz")
        .or_else(|| name.strip_suffix("_msk.nii"))?;
    let p = mask.with_file_name(format!("{stem}_ignore.nii.gz"));
    p.is_file().then_some(p)
}

/// Loads and prepares one case. Voxels of an `*_ignore.nii.gz` beside the mask get the label
/// [`IGNORE`].
///
/// # Errors
/// [`InputError`] from reading the study or its mask.
pub fn load_case(c: &CaseRef, prep: &PrepConfig, multiple: [usize; 3]) -> Result<Case, InputError> {
    let study = Study::load(&c.spec)?;
    let mask = read_volume(&c.mask)?;
    if mask.dims() != study.dwi.dims() {
        return Err(InputError::bad_image(
            &c.mask,
            format!(
                "mask dims {:?} differ from the DWI's {:?}",
                mask.dims(),
                study.dwi.dims()
            ),
        ));
    }
    let mask = mask.map(|&x| x > 0.5);
    let ignore = match ignore_beside(&c.mask) {
        Some(ignore_path) => {
            let ignore = read_volume(&ignore_path)?;
            if ignore.dims() != study.dwi.dims() {
                return Err(InputError::bad_image(
                    &ignore_path,
                    format!(
                        "ignore mask dims {:?} differ from the DWI's {:?}",
                        ignore.dims(),
                        study.dwi.dims()
                    ),
                ));
            }
            Some(ignore.map(|&x| x > 0.5))
        }
        None => None,
    };
    Ok(case_from_study(
        &c.id,
        &c.site,
        &study,
        &mask,
        ignore.as_ref(),
        prep,
        multiple,
    ))
}

/// Prepares a loaded study with its lesion mask (and the voxels to leave out of the loss,
/// [`IGNORE`]), both on the DWI grid, as a training case: what [`load_case`] does after
/// reading the files, and what an on-the-fly source ([`crate::stream`]) does with a study made
/// in memory.
#[must_use]
pub fn case_from_study(
    id: &str,
    site: &str,
    study: &Study,
    mask: &strokeseg_core::Mask,
    ignore: Option<&strokeseg_core::Mask>,
    prep: &PrepConfig,
    multiple: [usize; 3],
) -> Case {
    let p = prepare(study, prep, multiple);
    let mut label = p.label_from_native(mask);
    if let Some(ignore) = ignore {
        let excluded = p.label_from_native(ignore);
        label.zip_mut_with(&excluded, |l, &e| {
            if e >= 0.5 && *l < 0.25 {
                *l = IGNORE;
            }
        });
    }
    let brain_voxels = brain_voxels(&p);
    let hard_voxels = hard_voxels(&p.input, &label);
    let mut case = Case {
        id: id.to_string(),
        site: site.to_string(),
        input: p.input,
        has_lesion: mask.count() > 0,
        label,
        lesion_voxels: Vec::new(),
        lesion_components: Vec::new(),
        brain_voxels,
        hard_voxels,
    };
    case.index_lesions(false);
    case
}

impl Case {
    /// Peak-normalises the label ([`crate::lesions::peak_normalise`]: a small lesion's most
    /// lesion-like voxel becomes 1) and re-indexes the lesion voxels. For training cases when
    /// [`crate::sampler::PatchConfig::peak_labels`] is set; validation keeps lesion fractions.
    pub fn use_peak_labels(&mut self) {
        self.index_lesions(true);
    }

    /// Re-indexes the lesion voxels after a test changed the label.
    #[cfg(test)]
    pub(crate) fn index_lesions_for_test(&mut self) {
        self.index_lesions(false);
    }

    fn index_lesions(&mut self, peak: bool) {
        let comps = crate::lesions::components(&self.label);
        if peak {
            crate::lesions::peak_normalise(&mut self.label, &comps);
        }
        self.lesion_voxels = self
            .label
            .indexed_iter()
            .filter(|(_, &v)| v >= crate::lesions::CENTRE_LABEL)
            .map(|((a, b, c), _)| [a, b, c])
            .collect();
        self.lesion_components = crate::lesions::centres(&self.label, &comps);
    }
}

/// Every labelled study of `dirs`, in order.
pub fn discover_all(dirs: &[PathBuf]) -> Result<Vec<CaseRef>, InputError> {
    let mut v = Vec::new();
    for d in dirs {
        v.extend(discover(d)?);
    }
    Ok(v)
}

/// At most `max` studies of `refs`, evenly picked.
pub fn pick_even(refs: &[CaseRef], max: usize) -> Vec<CaseRef> {
    let step = (refs.len() as f64 / max.max(1) as f64).max(1.0);
    (0..refs.len().min(max))
        .map(|i| refs[(i as f64 * step) as usize].clone())
        .collect()
}

/// True when every folder is template-synthetic (a `synth` dataset has a manifest.json;
/// one made by `synth --implant` holds real backgrounds, so it does not count).
pub fn all_synthetic(dirs: &[PathBuf]) -> bool {
    let template_synth =
        |m: PathBuf| std::fs::read_to_string(m).is_ok_and(|t| !t.contains("synth --implant"));
    dirs.iter().all(|d| {
        template_synth(d.join("manifest.json"))
            || d.parent()
                .is_some_and(|p| template_synth(p.join("manifest.json")))
    })
}
