//! A study's outputs: the typed report (`report.json`), the key-image page and the overlay,
//! the lesion mask (and probability) as BIDS-derivative NIfTI, the DICOM SEG and Secondary
//! Capture on request; written whole or not at all ([`crate::staged`]). Also the one-line
//! summary for people and the checks on an output folder before any work.

use image::Rgb;
use std::path::Path;
use std::time::Instant;
use strokeseg_io::nifti_io::{write_mask, write_volume};
use strokeseg_io::{InputError, Study, StudySpec};
use strokeseg_measure::{call, LesionConfig};
use strokeseg_report::json::{
    Call, CallAt, DecidingCandidate, Files, InputNoise, ModelInfo, PatientCall, Report, Software,
    StudyInfo, SCHEMA_VERSION,
};
use strokeseg_report::names::{entities, MASK_SUFFIX, PROB_SUFFIX};
use strokeseg_report::text::with_header;
use strokeseg_report::{montage, pick_slices, Row};

use crate::{PipelineError, Segmentation, Segmenter};

/// How lesions are found and the study is called (the CLI's lesion and operating-point flags).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Lesion threshold, minimum volume and the restricted-diffusion rule.
    pub lesion: LesionConfig,
    /// Name of the operating point of the headline call (`sens95`, `sens99`).
    pub operating_point: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            lesion: LesionConfig::default(),
            operating_point: "sens99".into(),
        }
    }
}

/// What to write for one study.
#[derive(Debug, Clone, Copy)]
pub struct OutputRequest<'a> {
    /// The input as given (recorded in the report).
    pub input: &'a str,
    /// The study's name: the BIDS entities of the NIfTI outputs (`strokeseg_report::names`).
    pub name: &'a str,
    /// Write the probability map too.
    pub prob: bool,
    /// Write the DICOM SEG and Secondary Capture into this folder.
    pub dicom: Option<&'a Path>,
}

/// The name of a study's output folder: its first path's file name without `.nii(.gz)`.
#[must_use]
pub fn study_name(spec: &StudySpec) -> String {
    let p = spec
        .paths
        .first()
        .or(spec.dwi.as_ref())
        .cloned()
        .unwrap_or_default();
    let n = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "study".into());
    n.trim_end_matches(".gz")
        .trim_end_matches(".nii")
        .to_string()
}

/// Builds the report (files relative to the study's output folder).
pub fn build_report(
    seg: &Segmentation,
    study: &Study,
    s: &Segmenter,
    settings: &Settings,
    req: &OutputRequest<'_>,
) -> Report {
    let (input, name) = (req.input, req.name);
    let all: Vec<CallAt> = s
        .operating_points
        .iter()
        .map(|op| CallAt {
            operating_point: op.clone(),
            call: Call::of(call(seg.score, op)),
        })
        .collect();
    let op = s.operating_point(&settings.operating_point).cloned();
    let headline = match &op {
        Some(o) => Call::of(call(seg.score, o)),
        None => Call::Uncalibrated,
    };
    let sources = serde_json::json!({
        "dwi": study.dwi_source,
        "adc": study.adc_origin,
        "b0": study.b0_source,
    });
    Report {
        schema_version: SCHEMA_VERSION,
        research_use_only: true,
        software: Software {
            name: "strokeseg".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        study: StudyInfo {
            input: input.to_string(),
            dims: study.dwi.dims(),
            spacing_mm: study.dwi.spacing_mm(),
            b_value: study.b_value,
            inputs_used: seg.inputs_used.iter().map(|s| (*s).to_string()).collect(),
            sources,
            warnings: {
                let mut w = study.warnings.clone();
                if seg.noise.smoothed_sigma_mm > 0.0 {
                    w.push(format!(
                        "the DWI is noisier than the model's training data (relative noise {:.3} > {:.3}): DWI and ADC were smoothed in-plane (sigma {:.1} mm) before reading; the smallest lesions may be missed",
                        seg.noise.dwi_rel_noise.unwrap_or(f64::NAN),
                        s.plan.prep.denoise_above.unwrap_or(f64::NAN),
                        seg.noise.smoothed_sigma_mm
                    ));
                }
                w
            },
            noise: InputNoise {
                dwi_relative_noise: seg.noise.dwi_rel_noise,
                smooth_above: s.plan.prep.denoise_above,
                smoothed_sigma_mm: seg.noise.smoothed_sigma_mm,
            },
        },
        model: ModelInfo {
            name: s
                .dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            trained_on_synthetic_data_only: s.plan.synthetic_only,
            networks: s.members(),
            tta: s.tta,
            lesion_threshold: settings.lesion.threshold,
            max_adc_ratio: settings
                .lesion
                .max_adc_ratio
                .filter(|_| study.adc.is_some()),
            lesions_dropped_not_restricted: seg.dropped_not_restricted,
        },
        patient: PatientCall {
            score: seg.score,
            operating_point: op,
            call: headline,
            all_operating_points: all,
            deciding_candidate: seg.deciding_candidate.as_ref().map(|(c, in_mask)| {
                DecidingCandidate {
                    score: c.score,
                    volume_ml: c.volume_ml,
                    max_prob: c.max_prob,
                    centroid_mm: c.centroid_mm,
                    centroid_voxel: c.centroid_voxel,
                    region: c.region,
                    in_lesion_mask: *in_mask,
                }
            }),
        },
        total_lesion_volume_ml: seg.lesions.iter().map(|l| l.volume_ml).sum(),
        lesions: seg.lesions.clone(),
        files: Files {
            lesion_mask: format!("{}{MASK_SUFFIX}", entities(name)),
            probability: req.prob.then(|| format!("{}{PROB_SUFFIX}", entities(name))),
            overlay_png: "overlay.png".into(),
            key_images_png: KEY_IMAGES_FILE.into(),
            dicom: None,
        },
        timing_s: seg.timing.clone(),
        location: Some(seg.location.clone()),
    }
}

/// One line for people.
#[must_use]
pub fn summary_line(name: &str, r: &Report) -> String {
    let call = match (&r.patient.operating_point, r.patient.call) {
        (Some(o), c) => format!(
            "{} (score {:.2} {} {:.2} at {})",
            if c == Call::Infarct {
                "INFARCT"
            } else {
                "no infarct"
            },
            r.patient.score,
            if c == Call::Infarct { ">=" } else { "<" },
            o.threshold,
            o.name
        ),
        (None, _) => format!("uncalibrated model, score {:.2}", r.patient.score),
    };
    let les = match r.lesions.first() {
        None => "no lesion above threshold".to_string(),
        Some(l) => format!(
            "{} lesion{}, {:.2} mL total; largest {:.2} mL {}",
            r.lesions.len(),
            if r.lesions.len() == 1 { "" } else { "s" },
            r.total_lesion_volume_ml,
            l.volume_ml,
            l.region.name()
        ),
    };
    // A positive call that the mask does not show: say where it comes from.
    let faint = match (&r.patient.deciding_candidate, r.patient.call) {
        (Some(c), Call::Infarct) if !c.in_lesion_mask => format!(
            "; the call rests on a candidate below the mask threshold (score {:.2}, {:.2} mL, {} at RAS {:.0}, {:.0}, {:.0} mm)",
            c.score,
            c.volume_ml,
            c.region.name(),
            c.centroid_mm[0],
            c.centroid_mm[1],
            c.centroid_mm[2]
        ),
        _ => String::new(),
    };
    let loc = r
        .location
        .as_ref()
        .map(|l| l.summary.text.as_str())
        .filter(|_| !r.lesions.is_empty())
        .map_or(String::new(), |t| format!("; location: {t}"));
    let noisy = if r.study.noise.smoothed_sigma_mm > 0.0 {
        format!(
            "; noisy DWI ({:.2}) smoothed {:.1} mm before reading",
            r.study.noise.dwi_relative_noise.unwrap_or(f64::NAN),
            r.study.noise.smoothed_sigma_mm
        )
    } else {
        String::new()
    };
    format!("{name}: {call}; {les}{loc}{faint}{noisy}")
}

/// File name of the key-image page.
pub const KEY_IMAGES_FILE: &str = "key_images.png";

/// The key-image page (`strokeseg_report::keyimages`): lesion slices, legend, call.
fn key_page(seg: &Segmentation, study: &Study, r: &Report) -> image::RgbImage {
    use strokeseg_report::keyimages::{key_images, KeyLesion, KeyPage};
    let labels = strokeseg_measure::label_lesions(&seg.mask, &seg.lesions);
    let lesions: Vec<KeyLesion> = seg
        .lesions
        .iter()
        .map(|l| {
            let loc = seg.location.lesions.iter().find(|x| x.id == l.id);
            let structure = loc
                .and_then(|x| x.structures.first())
                .map_or_else(|| l.region.name().to_string(), |s| s.label());
            let territory = loc
                .and_then(|x| x.territories.first())
                .map_or(String::new(), |t| t.label());
            KeyLesion {
                id: l.id as u32,
                volume_ml: l.volume_ml,
                structure,
                territory,
            }
        })
        .collect();
    let positive = r.patient.call == Call::Infarct
        || (r.patient.call == Call::Uncalibrated && !r.lesions.is_empty());
    let call = match &r.patient.operating_point {
        Some(o) => format!(
            "score {:.2} {} {:.2} at {}; {} lesion(s), {:.2} mL",
            r.patient.score,
            if positive { ">=" } else { "<" },
            o.threshold,
            o.name,
            r.lesions.len(),
            r.total_lesion_volume_ml
        ),
        None => format!(
            "uncalibrated model; {} lesion(s), {:.2} mL",
            r.lesions.len(),
            r.total_lesion_volume_ml
        ),
    };
    let name = std::path::Path::new(&r.study.input)
        .file_name()
        .map_or_else(
            || r.study.input.clone(),
            |n| n.to_string_lossy().into_owned(),
        );
    key_images(&KeyPage {
        dwi: &study.dwi,
        adc: study.adc.as_ref(),
        labels: &labels,
        lesions: &lesions,
        study: name,
        positive,
        call,
        model: format!(
            "model {}{}; location: {}",
            r.model.name,
            if r.model.trained_on_synthetic_data_only {
                " (synthetic data only)"
            } else {
                ""
            },
            seg.location.summary.text
        ),
        caution: (seg.noise.smoothed_sigma_mm > 0.0).then(|| {
            format!(
                "noisy DWI ({:.2}): smoothed {:.1} mm before reading; small lesions may be missed",
                seg.noise.dwi_rel_noise.unwrap_or(f64::NAN),
                seg.noise.smoothed_sigma_mm
            )
        }),
    })
}

fn overlay(seg: &Segmentation, study: &Study, r: &Report) -> image::RgbImage {
    let slices = pick_slices(&study.dwi, Some(&seg.mask), 6);
    let mut rows = vec![Row {
        image: &study.dwi,
        outline: Some(&seg.mask),
        window: None,
    }];
    if let Some(a) = &study.adc {
        rows.push(Row {
            image: a,
            outline: Some(&seg.mask),
            window: Some((0.0, 2000.0)),
        });
    }
    let pic = montage(&rows, &slices, 160);
    let positive = r.patient.call == Call::Infarct
        || (r.patient.call == Call::Uncalibrated && !r.lesions.is_empty());
    let head = if positive {
        "INFARCT SUSPECTED"
    } else {
        "NO INFARCT DETECTED"
    };
    let colour = if positive {
        Rgb([255, 80, 80])
    } else {
        Rgb([90, 220, 90])
    };
    let lines = vec![
        (
            format!("strokeseg: {head}   score {:.2}", r.patient.score),
            colour,
        ),
        (
            format!(
                "{} lesion(s), total {:.2} mL{}",
                r.lesions.len(),
                r.total_lesion_volume_ml,
                r.lesions.first().map_or(String::new(), |l| format!(
                    "; largest {:.2} mL {}",
                    l.volume_ml,
                    l.region.name()
                ))
            ),
            Rgb([230, 230, 230]),
        ),
        (
            format!(
                "model {}{}",
                r.model.name,
                if r.model.trained_on_synthetic_data_only {
                    " (trained on synthetic data only)"
                } else {
                    ""
                }
            ),
            Rgb([180, 180, 180]),
        ),
        (
            "RESEARCH USE ONLY - NOT FOR DIAGNOSIS".to_string(),
            Rgb([255, 210, 0]),
        ),
    ];
    with_header(&pic, &lines, 2)
}

/// Writes a study's outputs into `dir` (whole or not at all); returns the report.
///
/// # Errors
/// A file cannot be written, or the DICOM outputs cannot be made; nothing partial is left.
pub fn write_outputs(
    dir: &Path,
    seg: &mut Segmentation,
    study: &Study,
    s: &Segmenter,
    settings: &Settings,
    req: &OutputRequest<'_>,
) -> Result<Report, PipelineError> {
    let t = Instant::now();
    crate::staged::write_staged(dir, "report.json", |stage| {
        let mut r = build_report(seg, study, s, settings, req);
        write_mask(
            &stage.join(&r.files.lesion_mask),
            &seg.mask,
            "strokeseg lesion mask (research use only)",
        )?;
        if let Some(p) = &r.files.probability {
            write_volume(&stage.join(p), &seg.prob, "strokeseg lesion probability")?;
        }
        let pic = overlay(seg, study, &r);
        pic.save(stage.join("overlay.png"))
            .map_err(|e| PipelineError::write(dir.join("overlay.png"), e))?;
        key_page(seg, study, &r)
            .save(stage.join(KEY_IMAGES_FILE))
            .map_err(|e| PipelineError::write(dir.join(KEY_IMAGES_FILE), e))?;
        if let Some(d) = req.dicom {
            r.files.dicom = Some(crate::dicom_out::write(d, seg, study, &r, &pic)?);
        }
        seg.timing.write = t.elapsed().as_secs_f64();
        r.timing_s = seg.timing.clone();
        let text = serde_json::to_string_pretty(&r)
            .map_err(|e| PipelineError::write(dir.join("report.json"), e))?;
        std::fs::write(stage.join("report.json"), text)
            .map_err(|e| PipelineError::write(dir.join("report.json"), e))?;
        Ok(r)
    })
}

/// Refuses an output folder inside an input folder (issue 16 item 6): the next run would
/// read the outputs as input. BIDS `derivatives/` (which input discovery skips) is allowed.
///
/// # Errors
/// [`InputError::Usage`] naming both folders.
pub fn check_out_outside_inputs(out: &Path, specs: &[StudySpec]) -> Result<(), InputError> {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let o = abs(out);
    for p in specs
        .iter()
        .flat_map(|s| s.paths.iter())
        .filter(|p| p.is_dir())
    {
        let input = abs(p);
        if let Ok(rel) = o.strip_prefix(&input) {
            let first = rel
                .components()
                .next()
                .map(|c| c.as_os_str().to_string_lossy());
            if first.is_none_or(|c| c != "derivatives") {
                return Err(InputError::Usage(format!(
                    "--out {}: inside the input folder {}, where the next run would read the outputs as input; choose a folder outside it (or its derivatives/ folder)",
                    out.display(),
                    p.display()
                )));
            }
        }
    }
    Ok(())
}

/// Refuses an output folder that cannot be written, before any work and without creating
/// anything: an existing file, or a folder (or its nearest existing parent) that cannot be
/// written into.
///
/// # Errors
/// [`InputError::Usage`] naming the flag and the folder.
pub fn check_out_dir(flag: &str, out: &std::path::Path) -> Result<(), InputError> {
    let bad = |why: String| InputError::Usage(format!("{flag} {}: {why}", out.display()));
    if out.exists() && !out.is_dir() {
        return Err(bad("exists and is not a folder".into()));
    }
    let mut probe = out.to_path_buf();
    while !probe.exists() {
        match probe.parent() {
            Some(p) if !p.as_os_str().is_empty() => probe = p.to_path_buf(),
            _ => probe = std::path::PathBuf::from("."),
        }
    }
    if !probe.is_dir() {
        return Err(bad(format!("{} is not a folder", probe.display())));
    }
    tempfile::NamedTempFile::new_in(&probe)
        .map(drop)
        .map_err(|e| bad(format!("cannot write into {} ({e})", probe.display())))
}

/// `dataset_description.json` (BIDS derivatives) at the root of `--out`, written once: a
/// file already there (the user's, or an earlier run's) is left as it is.
///
/// # Errors
/// The file cannot be written.
pub fn write_dataset_description(out: &Path) -> Result<(), PipelineError> {
    let p = out.join("dataset_description.json");
    if !p.exists() {
        let text = serde_json::to_string_pretty(&strokeseg_report::names::dataset_description())
            .map_err(|e| PipelineError::write(&p, e))?;
        std::fs::write(&p, text + "\n").map_err(|e| PipelineError::write(&p, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use strokeseg_measure::OperatingPoint;
    use strokeseg_report::json::Timing;

    /// A report of a healthy-looking study: no lesion in the mask, a given call, and a
    /// deciding candidate below the mask threshold.
    fn report(call: Call, in_lesion_mask: bool) -> Report {
        let op = OperatingPoint {
            name: "sens99".into(),
            threshold: 0.2,
            sensitivity: 0.99,
            specificity: 0.8,
            note: None,
        };
        Report {
            schema_version: SCHEMA_VERSION,
            research_use_only: true,
            software: Software {
                name: "strokeseg".into(),
                version: "0".into(),
            },
            study: StudyInfo {
                input: "x".into(),
                dims: [1, 1, 1],
                spacing_mm: [1.0; 3],
                b_value: None,
                inputs_used: vec![],
                sources: serde_json::Value::Null,
                warnings: vec![],
                noise: InputNoise {
                    dwi_relative_noise: None,
                    smooth_above: None,
                    smoothed_sigma_mm: 0.0,
                },
            },
            model: ModelInfo {
                name: "m".into(),
                trained_on_synthetic_data_only: false,
                networks: 1,
                tta: false,
                lesion_threshold: 0.5,
                max_adc_ratio: None,
                lesions_dropped_not_restricted: 0,
            },
            patient: PatientCall {
                score: 0.4,
                operating_point: Some(op),
                call,
                all_operating_points: vec![],
                deciding_candidate: Some(DecidingCandidate {
                    score: 0.4,
                    volume_ml: 0.05,
                    max_prob: 0.45,
                    centroid_mm: [5.2, 18.8, 79.7],
                    centroid_voxel: [0.0; 3],
                    region: strokeseg_measure::Region::Supratentorial,
                    in_lesion_mask,
                }),
            },
            total_lesion_volume_ml: 0.0,
            lesions: vec![],
            files: Files {
                lesion_mask: "m.nii.gz".into(),
                probability: None,
                overlay_png: "overlay.png".into(),
                key_images_png: KEY_IMAGES_FILE.into(),
                dicom: None,
            },
            timing_s: Timing::default(),
            location: None,
        }
    }

    #[test]
    fn a_positive_call_the_mask_does_not_show_says_where_it_comes_from() {
        let line = summary_line("s", &report(Call::Infarct, false));
        assert!(
            line.starts_with("s: INFARCT (score 0.40 >= 0.20 at sens99)"),
            "{line}"
        );
        assert!(
            line.ends_with(
                "the call rests on a candidate below the mask threshold (score 0.40, 0.05 mL, \
                 supratentorial at RAS 5, 19, 80 mm)"
            ),
            "{line}"
        );
        // No pointer when the call is negative or the mask shows the candidate.
        for r in [report(Call::NoInfarct, false), report(Call::Infarct, true)] {
            let line = summary_line("s", &r);
            assert!(!line.contains("rests on"), "{line}");
        }
    }

    #[test]
    fn a_smoothed_noisy_study_says_so_at_the_end_of_its_line() {
        let mut r = report(Call::NoInfarct, false);
        assert!(!summary_line("s", &r).contains("noisy"));
        r.study.noise.dwi_relative_noise = Some(0.196);
        r.study.noise.smoothed_sigma_mm = 1.1;
        let line = summary_line("s", &r);
        assert!(
            line.ends_with("; noisy DWI (0.20) smoothed 1.1 mm before reading"),
            "{line}"
        );
    }
}
