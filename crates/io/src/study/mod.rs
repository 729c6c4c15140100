//! [`Study`]: the DWI (trace at the highest b), ADC (10⁻⁶ mm²/s, on the DWI grid) and b0 of one
//! examination, with where each came from — assembled from NIfTI files or DICOM folders.

mod adc;
mod discover;

pub use adc::{compute_adc, rough_brain_median, AdcUnits};
pub use discover::{find_truth_mask, is_nifti_name, nifti_files, pick, role_from_name, Role};

use crate::dicom::{self, DicomProvenance, DicomScan, DicomSeries};
use crate::error::InputError;
use crate::nifti_io::{read_bvals, read_nifti, read_volume, sidecar};
use serde::Serialize;
use std::path::{Path, PathBuf};
use strokeseg_core::{Interp, Volume};

/// b-values below this are treated as b ≈ 0 (Philips tags its b0 as 0.001–0.004).
pub const B0_MAX: f64 = crate::dicom::B0_THRESHOLD;

/// b-value assumed for computing ADC when a study has a b0 but does not record its b.
pub const ASSUMED_B: f64 = 1000.0;

/// What the user pointed at.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StudySpec {
    /// Positional inputs: DICOM folders, NIfTI files, or folders of NIfTI files.
    pub paths: Vec<PathBuf>,
    /// Explicit DWI file (overrides discovery).
    pub dwi: Option<PathBuf>,
    /// Explicit ADC file.
    pub adc: Option<PathBuf>,
    /// Explicit b0 file.
    pub b0: Option<PathBuf>,
}

/// Where an image of the study came from.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Source {
    /// File, or DICOM series folder (written to JSON lossily when not UTF-8).
    #[serde(serialize_with = "path_lossy")]
    pub path: PathBuf,
    /// Human description: file name, or DICOM series UID/description and b-value group.
    pub detail: String,
}

/// Serialises a path as text, replacing bytes that are not UTF-8 (serde's own `Path`
/// serialiser fails on them, and a report must still be written for such a folder).
fn path_lossy<S: serde::Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&p.to_string_lossy())
}

/// Where the study's ADC came from.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AdcOrigin {
    /// Read from the input, converted from `units` to 10⁻⁶ mm²/s.
    Given {
        /// The image it was read from.
        source: Source,
        /// Units detected from the brain median.
        units: AdcUnits,
        /// That median, in the input's units.
        brain_median_input_units: f32,
    },
    /// Computed as ln(S0/Sb)/b from the b0 and the DWI.
    Computed {
        /// b-value used.
        b_value: f64,
        /// True when the input did not record the b-value and the clinical standard
        /// b = 1000 s/mm² was assumed (a warning says so).
        b_value_assumed: bool,
    },
}

/// One DWI examination, ready for preprocessing.
#[derive(Debug, Clone)]
pub struct Study {
    /// Diffusion-weighted image at the highest b (trace when several directions were given).
    pub dwi: Volume,
    /// Where the DWI came from.
    pub dwi_source: Source,
    /// ADC in 10⁻⁶ mm²/s on the DWI grid.
    pub adc: Option<Volume>,
    /// How the ADC was obtained.
    pub adc_origin: Option<AdcOrigin>,
    /// b = 0 image on the DWI grid.
    pub b0: Option<Volume>,
    /// Where the b0 came from.
    pub b0_source: Option<Source>,
    /// b-value of the DWI in s/mm², when known.
    pub b_value: Option<f64>,
    /// Everything worth a user's attention (choices made, resampling, missing inputs).
    pub warnings: Vec<String>,
    /// DICOM identity of the DWI (source instances per slice, geometry, patient/study
    /// attributes) when it was read from DICOM; `None` for NIfTI input. Needed to write DICOM
    /// SEG / Secondary Capture results that reference the source.
    pub dicom: Option<DicomProvenance>,
}

/// An image found on the way to a study, before assembly.
struct Found {
    vol: Volume,
    source: Source,
    b: Option<f64>,
}

#[derive(Default)]
struct Found3 {
    dwi: Option<Found>,
    adc: Option<Found>,
    b0: Option<Found>,
    warnings: Vec<String>,
    /// DICOM identity of `dwi`, when it came from a DICOM series.
    dwi_dicom: Option<DicomProvenance>,
}

impl Found3 {
    fn set(&mut self, role: Role, f: Found) {
        if role == Role::Dwi {
            self.dwi_dicom = None;
        }
        let slot = match role {
            Role::Dwi => &mut self.dwi,
            Role::Adc => &mut self.adc,
            Role::B0 => &mut self.b0,
        };
        if let Some(old) = slot {
            self.warnings.push(format!(
                "{role:?} given twice: using {}, ignoring {}",
                f.source.path.display(),
                old.source.path.display()
            ));
        }
        *slot = Some(f);
    }
}

fn file_source(path: &Path, detail: impl Into<String>) -> Source {
    Source {
        path: path.to_path_buf(),
        detail: detail.into(),
    }
}

fn geometric_mean(vols: &[&Volume]) -> Volume {
    let mut out = vols[0].clone();
    let n = vols.len() as f64;
    for (idx, o) in out.data_mut().indexed_iter_mut() {
        let s: f64 = vols
            .iter()
            .map(|v| f64::from(v.data()[idx].max(1e-6)).ln())
            .sum();
        *o = (s / n).exp() as f32;
    }
    out
}

fn arithmetic_mean(vols: &[&Volume]) -> Volume {
    let mut out = vols[0].clone();
    for v in &vols[1..] {
        *out.data_mut() += v.data();
    }
    out.data_mut().mapv_inplace(|x| x / vols.len() as f32);
    out
}

/// Reads a NIfTI file in a given role; a 4-D DWI is split with its `.bval` sidecar into the
/// trace at the highest b and the mean b0.
fn read_nifti_role(path: &Path, role: Role, found: &mut Found3) -> Result<(), InputError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if role != Role::Dwi {
        let vol = read_volume(path)?;
        found.set(
            role,
            Found {
                vol,
                source: file_source(path, name),
                b: None,
            },
        );
        return Ok(());
    }
    let img = read_nifti(path)?;
    let bval_path = sidecar(path, "bval");
    if img.volumes.len() == 1 {
        let b = if bval_path.exists() {
            read_bvals(&bval_path)?.first().copied()
        } else {
            json_b_value(&sidecar(path, "json"))
        };
        let vol = img.volumes.into_iter().next().expect("one volume");
        found.set(
            Role::Dwi,
            Found {
                vol,
                source: file_source(path, name),
                b,
            },
        );
        return Ok(());
    }
    if !bval_path.exists() {
        return Err(InputError::bad_image(path, format!(
            "4-D DWI with {} volumes but no b-value sidecar {}: cannot tell b0 from diffusion-weighted volumes",
            img.volumes.len(), bval_path.display()
        )));
    }
    let bvals = read_bvals(&bval_path)?;
    if bvals.len() != img.volumes.len() {
        return Err(InputError::bad_image(
            &bval_path,
            format!(
                "{} b-values for {} volumes in {}",
                bvals.len(),
                img.volumes.len(),
                path.display()
            ),
        ));
    }
    let bmax = bvals.iter().copied().fold(0.0, f64::max);
    let b0s: Vec<&Volume> = img
        .volumes
        .iter()
        .zip(&bvals)
        .filter(|(_, &b)| b < B0_MAX)
        .map(|(v, _)| v)
        .collect();
    if bmax < B0_MAX {
        return Err(InputError::NoDwi {
            path: path.to_path_buf(),
            reason: "every volume has b < 50 s/mm²".into(),
        });
    }
    let high: Vec<&Volume> = img
        .volumes
        .iter()
        .zip(&bvals)
        .filter(|(_, &b)| b >= 0.95 * bmax)
        .map(|(v, _)| v)
        .collect();
    let others = bvals
        .iter()
        .filter(|&&b| b >= B0_MAX && b < 0.95 * bmax)
        .count();
    if others > 0 {
        found.warnings.push(format!(
            "{}: {others} volumes at intermediate b-values ignored (using b={bmax})",
            path.display()
        ));
    }
    let dwi = geometric_mean(&high);
    found.set(
        Role::Dwi,
        Found {
            vol: dwi,
            source: file_source(
                path,
                format!("{name}: trace of {} volumes at b={bmax}", high.len()),
            ),
            b: Some(bmax),
        },
    );
    if !b0s.is_empty() {
        found.set(
            Role::B0,
            Found {
                vol: arithmetic_mean(&b0s),
                source: file_source(path, format!("{name}: mean of {} b≈0 volumes", b0s.len())),
                b: Some(0.0),
            },
        );
    }
    Ok(())
}

/// `DiffusionBValue` (ISLES'22, BIDS from DICOM) or `BValue` from a JSON sidecar, if any.
fn json_b_value(path: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!("{}: unreadable JSON sidecar ignored: {e}", path.display());
            return None;
        }
    };
    ["DiffusionBValue", "BValue", "bvalue"]
        .iter()
        .find_map(|k| v.get(*k).and_then(serde_json::Value::as_f64))
        .filter(|b| b.is_finite() && *b >= 0.0)
}

/// Does this DICOM series hold an ADC map?
fn is_adc_series(s: &DicomSeries) -> bool {
    let d = s.description.to_ascii_lowercase();
    s.image_type
        .iter()
        .any(|t| t == "ADC" || t == "ADC_UNSPECIFIED")
        || d.contains("adc")
        || d.contains("apparent diffusion")
}

/// Ignore derived maps that are neither DWI nor ADC (FA, exponential ADC, colour maps).
fn is_other_map(s: &DicomSeries) -> bool {
    let d = s.description.to_ascii_lowercase();
    s.image_type
        .iter()
        .any(|t| matches!(t.as_str(), "FA" | "EADC" | "EXP" | "COLFA" | "TENSOR"))
        || d.contains("eadc")
        || d.contains("fa map")
}

fn series_detail(s: &DicomSeries) -> String {
    format!(
        "DICOM series {}{} ({} files)",
        s.series_uid,
        if s.description.is_empty() {
            String::new()
        } else {
            format!(" '{}'", s.description)
        },
        s.n_files
    )
}

/// Turns a DICOM folder scan into DWI/ADC/b0, choosing among several DWI series by rule.
fn from_dicom(dir: &Path, scan: DicomScan, found: &mut Found3) -> Result<(), InputError> {
    found.warnings.extend(scan.warnings);
    let mut dwi_series: Vec<&DicomSeries> = Vec::new();
    let mut not_mr = Vec::new();
    for s in &scan.series {
        if is_other_map(s) || s.volumes.is_empty() {
            continue;
        }
        // Issue 16 item 16: a CT series was processed as a DWI (serve already skips non-MR).
        if !s.modality.is_empty() && s.modality != "MR" {
            let why = format!(
                "{}: Modality {} is not MR; skipped",
                series_detail(s),
                s.modality
            );
            found.warnings.push(why.clone());
            not_mr.push(why);
            continue;
        }
        if is_adc_series(s) {
            let v = &s.volumes[s.volumes.len() - 1];
            found.set(
                Role::Adc,
                Found {
                    vol: v.volume.clone(),
                    source: Source {
                        path: s.folder.clone(),
                        detail: series_detail(s),
                    },
                    b: None,
                },
            );
        } else {
            dwi_series.push(s);
        }
    }
    if dwi_series.is_empty() {
        return Err(InputError::NoDwi {
            path: dir.to_path_buf(),
            reason: format!(
                "{} DICOM series, none of them diffusion-weighted{}",
                scan.series.len(),
                if not_mr.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", not_mr.join("; "))
                }
            ),
        });
    }
    // Rule: a known high b-value first, then a b0 in the same series (lets us compute ADC),
    // then more voxels, then the lower series number.
    let rank = |s: &&DicomSeries| {
        let hb = s
            .volumes
            .iter()
            .filter_map(|v| v.b_value)
            .fold(0.0, f64::max);
        let has_b0 = s
            .volumes
            .iter()
            .any(|v| v.b_value.is_some_and(|b| b < B0_MAX));
        let voxels: usize = s.volumes.last().map_or(0, |v| v.volume.grid().len());
        (
            std::cmp::Reverse((hb >= B0_MAX, has_b0, voxels)),
            s.series_number.unwrap_or(i64::MAX),
        )
    };
    dwi_series.sort_by_key(rank);
    let chosen = dwi_series[0];
    if dwi_series.len() > 1 {
        found.warnings.push(format!(
            "{} candidate DWI series; using {} (rule: known high b-value, then has b0, then most voxels, then lowest series number); ignored {}",
            dwi_series.len(),
            series_detail(chosen),
            dwi_series[1..].iter().map(|s| series_detail(s)).collect::<Vec<_>>().join("; ")
        ));
    }
    let src = |what: String| Source {
        path: chosen.folder.clone(),
        detail: format!("{}, {what}", series_detail(chosen)),
    };
    let weighted: Vec<_> = chosen
        .volumes
        .iter()
        .filter(|v| v.b_value.is_none_or(|b| b >= B0_MAX))
        .collect();
    let Some(top) = weighted.iter().max_by(|a, b| {
        a.b_value
            .unwrap_or(0.0)
            .total_cmp(&b.b_value.unwrap_or(0.0))
    }) else {
        return Err(InputError::NoDwi {
            path: chosen.folder.clone(),
            reason: "the series holds only b≈0 images".into(),
        });
    };
    let what = match top.b_value {
        Some(b) if top.n_combined > 1 => format!("b={b} (trace of {} images)", top.n_combined),
        Some(b) => format!("b={b}"),
        None => "b-value not recorded".into(),
    };
    found.set(
        Role::Dwi,
        Found {
            vol: top.volume.clone(),
            source: src(what),
            b: top.b_value,
        },
    );
    found.dwi_dicom = Some(DicomProvenance {
        study_instance_uid: chosen.study_uid.clone(),
        series_instance_uid: chosen.series_uid.clone(),
        series_number: chosen.series_number,
        series_description: chosen.description.clone(),
        frame_of_reference_uid: chosen.frame_of_reference_uid.clone(),
        patient_study: chosen.patient_study.clone(),
        geometry: top.dicom.clone(),
    });
    if let Some(b0) = chosen
        .volumes
        .iter()
        .find(|v| v.b_value.is_some_and(|b| b < B0_MAX))
    {
        found.set(
            Role::B0,
            Found {
                vol: b0.volume.clone(),
                source: src(format!("b≈0 (mean of {})", b0.n_combined)),
                b: b0.b_value,
            },
        );
    }
    Ok(())
}

/// For `X_dwi.nii.gz`, the existing `X_adc.nii.gz` and `X_b0.nii.gz` beside it (same case
/// and extension variants as the DWI's own name).
fn sibling_files(dwi: &Path) -> Vec<(Role, PathBuf)> {
    let Some(name) = dwi.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Vec::new();
    };
    let lower = name.to_ascii_lowercase();
    let Some(pos) = lower.rfind("_dwi.nii") else {
        return Vec::new();
    };
    let (prefix, rest) = (&name[..pos], &name[pos + 4..]);
    let upper = name[pos + 1..pos + 4] == *"DWI";
    let mut out = Vec::new();
    for (role, tag) in [(Role::Adc, "adc"), (Role::B0, "b0")] {
        let tag = if upper {
            tag.to_ascii_uppercase()
        } else {
            tag.to_string()
        };
        for t in [tag.clone(), tag.to_ascii_lowercase()] {
            let p = dwi.with_file_name(format!("{prefix}_{t}{rest}"));
            if p.is_file() {
                out.push((role, p));
                break;
            }
        }
    }
    out
}

/// Reads what `path` points at (file, NIfTI folder or DICOM folder) into `found`.
fn read_path(
    path: &Path,
    first: bool,
    siblings: bool,
    found: &mut Found3,
) -> Result<(), InputError> {
    let meta = std::fs::metadata(path).map_err(|e| InputError::io(path, e))?;
    if meta.is_file() {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !is_nifti_name(&name) {
            // A lone DICOM file: read its folder's series? No — be explicit.
            return Err(InputError::Usage(format!(
                "{}: not a .nii/.nii.gz file; give a DICOM series as its folder",
                path.display()
            )));
        }
        let role = match role_from_name(&name) {
            Some(r) => r,
            None if first && found.dwi.is_none() => {
                found.warnings.push(format!(
                    "{}: name does not say DWI/ADC/b0; treated as the DWI",
                    path.display()
                ));
                Role::Dwi
            }
            None => {
                return Err(InputError::Usage(format!(
                "{}: cannot tell from its name whether it is DWI, ADC or b0; use --dwi/--adc/--b0",
                path.display()
            )))
            }
        };
        read_nifti_role(path, role, found)?;
        if role == Role::Dwi && siblings {
            for (r, f) in sibling_files(path) {
                read_nifti_role(&f, r, found)?;
            }
        }
        return Ok(());
    }
    let niftis = nifti_files(path)?;
    if niftis.is_empty() {
        let scan = dicom::scan_dir(path)?;
        return from_dicom(path, scan, found);
    }
    let mut by_role: [Vec<PathBuf>; 3] = Default::default();
    for f in &niftis {
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match role_from_name(&name) {
            Some(Role::Dwi) => by_role[0].push(f.clone()),
            Some(Role::Adc) => by_role[1].push(f.clone()),
            Some(Role::B0) => by_role[2].push(f.clone()),
            None => {}
        }
    }
    // Issue 16 item 6: a DICOM folder holding one stray NIfTI file (for instance our own
    // lesion_mask.nii.gz, when --out was inside it) was read as that NIfTI. A NIfTI is taken
    // as the DWI by default only when no DICOM files are beside it.
    let dicom_beside = discover::first_dicom_file(path);
    if let (true, Some(d)) = (by_role[0].is_empty(), &dicom_beside) {
        let names: Vec<String> = niftis
            .iter()
            .take(3)
            .map(|p| p.display().to_string())
            .collect();
        return Err(InputError::Usage(format!(
            "{}: holds both DICOM files (e.g. {}) and NIfTI files not named as a DWI ({}{}); pass the NIfTI file with --dwi, or a folder holding only the DICOM series",
            path.display(),
            d.display(),
            names.join(", "),
            if niftis.len() > 3 { ", …" } else { "" }
        )));
    }
    if let Some(d) = dicom_beside {
        found.warnings.push(format!(
            "{}: DICOM files (e.g. {}) ignored; the NIfTI DWI beside them was read",
            path.display(),
            d.display()
        ));
    }
    if by_role[0].is_empty() {
        if niftis.len() == 1 && by_role[1].is_empty() && by_role[2].is_empty() {
            found.warnings.push(format!(
                "{}: the only NIfTI file; treated as the DWI",
                niftis[0].display()
            ));
            by_role[0].push(niftis[0].clone());
        } else {
            let names: Vec<String> = niftis.iter().map(|p| p.display().to_string()).collect();
            return Err(InputError::NoDwi {
                path: path.to_path_buf(),
                reason: format!("no file named like *_dwi.nii.gz among {}", names.join(", ")),
            });
        }
    }
    for (role, files) in [Role::Dwi, Role::Adc, Role::B0].into_iter().zip(by_role) {
        let (chosen, warning) = pick(role, files);
        found.warnings.extend(warning);
        if let Some(f) = chosen {
            read_nifti_role(&f, role, found)?;
        }
    }
    Ok(())
}

/// Brings `f` onto the DWI grid, warning when that needs resampling.
fn onto_dwi_grid(f: Found, dwi: &Volume, what: &str, warnings: &mut Vec<String>) -> Found {
    if f.vol.grid().same_as(&dwi.grid(), 0.01) {
        return f;
    }
    warnings.push(format!(
        "{what} ({}) is on a different grid ({:?} voxels of {:.2?} mm) from the DWI ({:?} of {:.2?} mm): resampled onto the DWI grid (trilinear)",
        f.source.path.display(),
        f.vol.dims(),
        f.vol.spacing_mm(),
        dwi.dims(),
        dwi.spacing_mm()
    ));
    Found {
        vol: f.vol.resample(&dwi.grid(), Interp::Linear, 0.0),
        ..f
    }
}

impl Study {
    /// Loads a study from what the user gave.
    ///
    /// # Errors
    /// [`InputError`] naming the file or folder: unreadable or corrupt files, no DWI, ADC in
    /// units that cannot be told, geometry problems.
    pub fn load(spec: &StudySpec) -> Result<Study, InputError> {
        let mut found = Found3::default();
        if spec.paths.is_empty() && spec.dwi.is_none() {
            return Err(InputError::Usage(
                "no input given: pass a DICOM folder, a NIfTI file or folder, or --dwi".into(),
            ));
        }
        for (i, p) in spec.paths.iter().enumerate() {
            let siblings = spec.adc.is_none() && spec.b0.is_none();
            read_path(p, i == 0, siblings, &mut found)?;
        }
        for (role, p) in [
            (Role::Dwi, &spec.dwi),
            (Role::Adc, &spec.adc),
            (Role::B0, &spec.b0),
        ] {
            if let Some(p) = p {
                read_nifti_role(p, role, &mut found)?;
            }
        }
        Self::assemble(found, spec)
    }

    /// A study from images already in memory (a generator's output), assembled exactly as
    /// [`Study::load`] assembles files: ADC units told from the brain median and converted,
    /// ADC computed from b0 when missing, b0/ADC brought onto the DWI grid. `name` stands in
    /// for the file in messages and sources.
    ///
    /// # Errors
    /// As [`Study::load`] for what the images hold (a constant DWI, ADC units that cannot be
    /// told).
    pub fn from_volumes(
        name: &str,
        dwi: Volume,
        adc: Option<Volume>,
        b0: Option<Volume>,
        b_value: Option<f64>,
    ) -> Result<Study, InputError> {
        let source = |what: &str| Source {
            path: PathBuf::from(name),
            detail: format!("{what} (in memory)"),
        };
        let mut found = Found3::default();
        found.set(
            Role::Dwi,
            Found {
                vol: dwi,
                source: source("DWI"),
                b: b_value,
            },
        );
        if let Some(vol) = adc {
            found.set(
                Role::Adc,
                Found {
                    vol,
                    source: source("ADC"),
                    b: None,
                },
            );
        }
        if let Some(vol) = b0 {
            found.set(
                Role::B0,
                Found {
                    vol,
                    source: source("b0"),
                    b: Some(0.0),
                },
            );
        }
        let spec = StudySpec {
            dwi: Some(PathBuf::from(name)),
            ..StudySpec::default()
        };
        Self::assemble(found, &spec)
    }

    fn assemble(found: Found3, spec: &StudySpec) -> Result<Study, InputError> {
        let Found3 {
            dwi,
            adc,
            b0,
            mut warnings,
            dwi_dicom,
        } = found;
        let what = spec
            .paths
            .first()
            .or(spec.dwi.as_ref())
            .cloned()
            .unwrap_or_default();
        let dwi = dwi.ok_or_else(|| InputError::NoDwi {
            path: what,
            reason: "only ADC or b0 images were found".into(),
        })?;
        let b0 = b0.map(|f| onto_dwi_grid(f, &dwi.vol, "b0", &mut warnings));
        let b_value = dwi.b;
        let (adc, adc_origin) = match adc {
            Some(f) => {
                let f = onto_dwi_grid(f, &dwi.vol, "ADC", &mut warnings);
                // The brain the ADC is checked in comes from the DWI: a DWI without an image
                // is the DWI's fault, not the ADC's.
                if let Some(v) = adc::constant_value(&dwi.vol) {
                    return Err(InputError::bad_image(
                        &dwi.source.path,
                        format!(
                            "no brain found: the DWI is constant (every voxel {v}), so there is \
                             no image in it"
                        ),
                    ));
                }
                let median = rough_brain_median(&f.vol, &dwi.vol).ok_or_else(|| {
                    InputError::bad_image(
                        &f.source.path,
                        "ADC has no positive values inside the brain",
                    )
                })?;
                let units = AdcUnits::from_brain_median(median).ok_or_else(|| {
                    InputError::bad_image(&f.source.path, format!(
                        "cannot tell the ADC units: brain median {median} fits none of 10⁻⁶ mm²/s (~800), 10⁻³ mm²/s (~0.8) or mm²/s (~0.0008)"
                    ))
                })?;
                let k = units.to_micro();
                let vol = if (k - 1.0).abs() > f32::EPSILON {
                    f.vol.map(|x| x * k)
                } else {
                    f.vol
                };
                (
                    Some(vol),
                    Some(AdcOrigin::Given {
                        source: f.source,
                        units,
                        brain_median_input_units: median,
                    }),
                )
            }
            None => match (&b0, b_value) {
                (Some(b0), Some(b)) if b >= B0_MAX => (
                    Some(compute_adc(&b0.vol, &dwi.vol, b)),
                    Some(AdcOrigin::Computed {
                        b_value: b,
                        b_value_assumed: false,
                    }),
                ),
                (Some(_), Some(b)) => {
                    warnings.push(format!(
                        "the DWI's b-value {b} is below {B0_MAX}: ADC not computed"
                    ));
                    (None, None)
                }
                (Some(b0), None) => {
                    warnings.push(format!(
                        "the DWI's b-value is not recorded: ADC computed assuming b = {ASSUMED_B} s/mm² (the clinical standard); pass a .bval/.json sidecar if it differs"
                    ));
                    (
                        Some(compute_adc(&b0.vol, &dwi.vol, ASSUMED_B)),
                        Some(AdcOrigin::Computed {
                            b_value: ASSUMED_B,
                            b_value_assumed: true,
                        }),
                    )
                }
                (None, _) => (None, None),
            },
        };
        if adc.is_none() && b0.is_none() {
            warnings.push(
                "DWI only: no ADC and no b0 in the input, so no ADC (the model runs on DWI alone)"
                    .into(),
            );
        }
        let assumed = matches!(
            adc_origin,
            Some(AdcOrigin::Computed {
                b_value_assumed: true,
                ..
            })
        );
        if b_value.is_none() && !assumed {
            warnings.push("the DWI's b-value is not recorded in the input".into());
        }
        for w in &warnings {
            tracing::debug!("{w}");
        }
        Ok(Study {
            dwi: dwi.vol,
            dwi_source: dwi.source,
            adc,
            adc_origin,
            b0_source: b0.as_ref().map(|f| f.source.clone()),
            b0: b0.map(|f| f.vol),
            b_value,
            warnings,
            dicom: dwi_dicom,
        })
    }
}
