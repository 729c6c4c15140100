//! A real study as a background: what is known about its own lesions, and the region whose
//! label is unknown (excluded from the loss).

use ndarray::Array3;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use strokeseg_core::Mask;
use strokeseg_io::nifti_io::read_volume;
use strokeseg_io::{Study, StudySpec};

use crate::ImplantError;

/// What is known about a background's own lesions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackgroundKind {
    /// Known healthy: no lesion anywhere (a true negative without implants).
    Healthy,
    /// An expert truth mask of its own lesions is given; they stay labelled.
    Labelled,
    /// Only a peer tool's prediction is known: that region (dilated) is excluded from the
    /// loss, the rest is taken as lesion-free.
    PeerExcluded,
    /// Nothing is known: the candidates of a threshold rule (DWI z > 2 inside the brain and,
    /// with an ADC, ADC < 0.75 × the brain median; dilated by 4 mm) are excluded from the loss
    /// and the rest is taken as lesion-free. A stated approximation, written in the manifest.
    Unknown,
}

impl BackgroundKind {
    /// Name as used on the command line and in manifests.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            BackgroundKind::Healthy => "healthy",
            BackgroundKind::Labelled => "labelled",
            BackgroundKind::PeerExcluded => "peer_excluded",
            BackgroundKind::Unknown => "unknown",
        }
    }
}

/// A loaded background study.
pub struct Background {
    /// Identifier (letters and digits are used in output names).
    pub id: String,
    /// Where it was read from.
    pub source: String,
    /// The study.
    pub study: Study,
    /// What is known about its own lesions.
    pub kind: BackgroundKind,
    /// Its own lesions ([`BackgroundKind::Labelled`]).
    pub truth: Option<Mask>,
    /// A peer tool's prediction ([`BackgroundKind::PeerExcluded`]).
    pub peer: Option<Mask>,
}

/// Exclusion margin around a peer prediction or rule candidates (mm).
pub const EXCLUDE_MARGIN_MM: f64 = 4.0;

fn read_mask(path: &Path, study: &Study) -> Result<Mask, ImplantError> {
    let m = read_volume(path)?;
    if m.dims() != study.dwi.dims() {
        return Err(ImplantError::Mask {
            path: path.to_path_buf(),
            reason: format!(
                "mask dims {:?} differ from the DWI's {:?}",
                m.dims(),
                study.dwi.dims()
            ),
        });
    }
    Ok(m.map(|&x| x > 0.5))
}

impl Background {
    /// Loads a study with what is known about it. `truth` is required for
    /// [`BackgroundKind::Labelled`], `peer` for [`BackgroundKind::PeerExcluded`].
    ///
    /// # Errors
    /// Unreadable study or mask, mask on another grid, or a kind without its mask.
    pub fn load(
        id: &str,
        spec: &StudySpec,
        kind: BackgroundKind,
        truth: Option<&Path>,
        peer: Option<&Path>,
    ) -> Result<Background, ImplantError> {
        let study = Study::load(spec)?;
        let source = spec
            .paths
            .first()
            .or(spec.dwi.as_ref())
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let need = |what: &str| ImplantError::Mask {
            path: PathBuf::from(&source),
            reason: format!("a {} background needs {what}", kind.name()),
        };
        let truth = match (kind, truth) {
            (BackgroundKind::Labelled, None) => return Err(need("its truth mask (--truth)")),
            (_, Some(p)) => Some(read_mask(p, &study)?),
            _ => None,
        };
        let peer = match (kind, peer) {
            (BackgroundKind::PeerExcluded, None) => {
                return Err(need("the peer prediction to exclude (--exclude)"))
            }
            (_, Some(p)) => Some(read_mask(p, &study)?),
            _ => None,
        };
        Ok(Background {
            id: id.to_string(),
            source,
            study,
            kind,
            truth,
            peer,
        })
    }

    /// The region excluded from the loss, dilated by [`EXCLUDE_MARGIN_MM`]: the peer
    /// prediction, or for an unknown background the threshold-rule candidates.
    #[must_use]
    pub fn exclusion(&self, brain: &Mask) -> Option<Array3<bool>> {
        let sp = self.study.dwi.spacing_mm();
        let core = match self.kind {
            BackgroundKind::Healthy | BackgroundKind::Labelled => return None,
            BackgroundKind::PeerExcluded => self.peer.as_ref()?.data().clone(),
            BackgroundKind::Unknown => rule_candidates(&self.study, brain),
        };
        Some(strokeseg_preproc::dilate_mm(&core, EXCLUDE_MARGIN_MM, sp))
    }
}

/// DWI z > 2 inside the brain and, with an ADC, ADC < 0.75 × the brain median.
fn rule_candidates(study: &Study, brain: &Mask) -> Array3<bool> {
    let d = study.dwi.data();
    let b = brain.data();
    let vals: Vec<f64> = d
        .iter()
        .zip(b.iter())
        .filter(|(_, &m)| m)
        .map(|(&v, _)| f64::from(v))
        .collect();
    let n = vals.len().max(1) as f64;
    let mean = vals.iter().sum::<f64>() / n;
    let sd = (vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    let adc_med = study.adc.as_ref().and_then(|a| a.median_in(brain));
    let mut out = Array3::from_elem(d.dim(), false);
    for (idx, o) in out.indexed_iter_mut() {
        if !b[idx] || f64::from(d[idx]) <= mean + 2.0 * sd {
            continue;
        }
        *o = match (&study.adc, adc_med) {
            (Some(a), Some(m)) => a.data()[idx] < 0.75 * m,
            _ => true,
        };
    }
    out
}

/// Lesion contrast of a study: medians inside the lesion mask over medians in the rest of
/// the brain.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Contrast {
    /// Median DWI in the lesions ÷ median DWI of the lesion-free brain.
    pub dwi_ratio: f64,
    /// The same for the ADC (`None` without an ADC).
    pub adc_ratio: Option<f64>,
    /// Lesion voxels counted.
    pub voxels: usize,
}

fn median(mut v: Vec<f32>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let k = v.len() / 2;
    let (_, m, _) = v.select_nth_unstable_by(k, f32::total_cmp);
    Some(f64::from(*m))
}

/// [`Contrast`] of `lesion` (inside `brain`) in DWI and ADC; `None` for an empty mask.
#[must_use]
pub fn contrast(
    dwi: &Array3<f32>,
    adc: Option<&Array3<f32>>,
    brain: &Array3<bool>,
    lesion: &Array3<bool>,
) -> Option<Contrast> {
    let split = |img: &Array3<f32>| {
        let (mut inside, mut rest) = (Vec::new(), Vec::new());
        for ((&v, &l), &b) in img.iter().zip(lesion.iter()).zip(brain.iter()) {
            if l {
                inside.push(v);
            } else if b {
                rest.push(v);
            }
        }
        (inside, rest)
    };
    let (li, lr) = split(dwi);
    let voxels = li.len();
    let dwi_ratio = median(li)? / median(lr)?;
    let adc_ratio = adc.and_then(|a| {
        let (ai, ar) = split(a);
        Some(median(ai)? / median(ar)?)
    });
    Some(Contrast {
        dwi_ratio,
        adc_ratio,
        voxels,
    })
}

/// One background as the user named it, before loading.
#[derive(Debug, Clone, PartialEq)]
pub struct BackgroundSpec {
    /// Identifier (default: the file or folder name).
    pub id: String,
    /// The study (any input `inspect` accepts).
    pub path: PathBuf,
    /// What is known; `None` = decide from the masks (labelled when a truth is found).
    pub kind: Option<BackgroundKind>,
    /// Truth mask of its own lesions.
    pub truth: Option<PathBuf>,
    /// Peer prediction to exclude.
    pub exclude: Option<PathBuf>,
}

/// Parses a kind name: `healthy`, `labelled`, `peer`, `unknown`; `auto` gives `None`.
///
/// # Errors
/// An unknown name, in words.
pub fn parse_kind(s: &str) -> Result<Option<BackgroundKind>, String> {
    Ok(Some(match s.to_ascii_lowercase().as_str() {
        "auto" | "" => return Ok(None),
        "healthy" => BackgroundKind::Healthy,
        "labelled" | "labeled" => BackgroundKind::Labelled,
        "peer" | "peer_excluded" => BackgroundKind::PeerExcluded,
        "unknown" => BackgroundKind::Unknown,
        other => {
            return Err(format!(
            "unknown background kind `{other}` (choose auto, healthy, labelled, peer or unknown)"
        ))
        }
    }))
}

/// Name of a study path without NIfTI extensions.
#[must_use]
pub fn default_id(path: &Path) -> String {
    let n = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "study".into());
    let n = n
        .trim_end_matches(".gz")
        .trim_end_matches(".nii")
        .to_string();
    if n.is_empty() {
        "study".into()
    } else {
        n
    }
}

/// The truth mask of a study folder (`strokeseg_io::study::find_truth_mask`).
#[must_use]
pub fn find_truth(path: &Path) -> Option<PathBuf> {
    strokeseg_io::study::find_truth_mask(path)
}

impl BackgroundSpec {
    /// The kind to use: the given one, else `labelled` when a truth mask is given or found.
    ///
    /// # Errors
    /// No kind given and no truth found: the user must say what is known.
    pub fn resolve(mut self) -> Result<(BackgroundSpec, BackgroundKind), String> {
        if self.truth.is_none() && matches!(self.kind, None | Some(BackgroundKind::Labelled)) {
            self.truth = find_truth(&self.path);
        }
        if self.exclude.is_some() && self.kind.is_none() {
            self.kind = Some(BackgroundKind::PeerExcluded);
        }
        let kind = match (self.kind, &self.truth) {
            (Some(k), _) => k,
            (None, Some(_)) => BackgroundKind::Labelled,
            (None, None) => {
                return Err(format!(
                    "{}: no truth mask found; say what is known about this study's own lesions \
                     with --background healthy (known healthy), peer (with --exclude MASK) or \
                     unknown (threshold-rule candidates excluded from the loss)",
                    self.path.display()
                ))
            }
        };
        Ok((self, kind))
    }
}

/// Reads a CSV of backgrounds: columns `path`, `kind`, optional `truth`, `exclude`, `id`
/// (relative paths are relative to the CSV's folder).
///
/// # Errors
/// Unreadable CSV, a missing column, or a bad kind, naming the file and row.
pub fn read_list(csv_path: &Path) -> Result<Vec<BackgroundSpec>, String> {
    let base = csv_path.parent().unwrap_or(Path::new("."));
    let err = |e: &dyn std::fmt::Display| format!("{}: {e}", csv_path.display());
    let mut r = csv::Reader::from_path(csv_path).map_err(|e| err(&e))?;
    let headers = r.headers().map_err(|e| err(&e))?.clone();
    let col = |n: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(n));
    let (Some(pc), Some(kc)) = (col("path"), col("kind")) else {
        return Err(err(&"needs columns `path` and `kind`"));
    };
    let (tc, ec, ic) = (col("truth"), col("exclude"), col("id"));
    let mut out = Vec::new();
    for (n, rec) in r.records().enumerate() {
        let rec = rec.map_err(|e| err(&e))?;
        let get = |c: Option<usize>| {
            c.and_then(|c| rec.get(c))
                .filter(|s| !s.trim().is_empty())
                .map(|s| base.join(s.trim()))
        };
        let path = get(Some(pc)).ok_or_else(|| err(&format!("row {}: empty path", n + 2)))?;
        let kind = parse_kind(rec.get(kc).unwrap_or("").trim())
            .map_err(|e| err(&format!("row {}: {e}", n + 2)))?;
        out.push(BackgroundSpec {
            id: ic
                .and_then(|c| rec.get(c))
                .filter(|s| !s.is_empty())
                .map_or_else(|| default_id(&path), String::from),
            kind,
            truth: get(tc),
            exclude: get(ec),
            path,
        });
    }
    if out.is_empty() {
        return Err(err(&"no rows"));
    }
    Ok(out)
}
