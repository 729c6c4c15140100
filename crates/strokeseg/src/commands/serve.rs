//! `strokeseg serve`: the service of crates/serve with the real segmentation as its
//! processor. The model is loaded once; each complete study runs the `segment` pipeline
//! (as `segment --dicom-out`: report, overlay, mask, DICOM SEG and Secondary Capture), and
//! the service sends the DICOM files to the configured PACS.

use super::segment::{load_segmenter, summary_line, write_outputs_with_dicom};
use crate::cli::{ModelArgs, ServeArgs};
use crate::pipeline::Segmenter;
use crate::Status;
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use strokeseg_io::nifti_io::write_volume;
use strokeseg_io::{InputError, Study, StudySpec};
use strokeseg_serve::{Config, JobResult, Processor};

/// Segments one received study.
struct Segment {
    // One study at a time per model: the network already uses every core.
    seg: Mutex<Segmenter>,
    model: ModelArgs,
}

impl Processor for Segment {
    fn process(&self, study_dir: &Path, out_dir: &Path) -> anyhow::Result<JobResult> {
        let seg = self
            .seg
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let t = Instant::now();
        let study = Study::load(&StudySpec {
            paths: vec![study_dir.to_path_buf()],
            ..StudySpec::default()
        })?;
        let load_s = t.elapsed().as_secs_f64();
        let lcfg = self.model.lesion_config();
        let mut result = seg
            .run(&study, &lcfg, load_s)
            .map_err(|e| strokeseg_io::InputError::bad_image(study_dir, e.0))?;
        let input = study_dir.display().to_string();
        let r = write_outputs_with_dicom(
            out_dir,
            &mut result,
            &study,
            &seg,
            &self.model,
            &input,
            &format!(
                "job{}",
                out_dir
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
            ),
            false,
            Some(&out_dir.join("dicom")),
        )?;
        let d = r
            .files
            .dicom
            .clone()
            .context("the DICOM outputs were not written")?;
        let mut files = vec![PathBuf::from(&d.seg)];
        files.extend(d.secondary_capture.iter().map(PathBuf::from));
        // The images the browser viewer shows, on the mask's grid.
        write_volume(
            &out_dir.join(strokeseg_serve::VIEWER_DWI),
            &study.dwi,
            "strokeseg viewer: DWI as read",
        )?;
        if let Some(adc) = &study.adc {
            write_volume(
                &out_dir.join(strokeseg_serve::VIEWER_ADC),
                adc,
                "strokeseg viewer: ADC (10^-6 mm2/s)",
            )?;
        }
        let summary = serde_json::json!({
            "call": r.patient.call,
            "score": r.patient.score,
            "operating_point": r.patient.operating_point.as_ref().map(|o| serde_json::json!({"name": o.name, "threshold": o.threshold})),
            "lesions": r.lesions.len(),
            "total_lesion_volume_ml": r.total_lesion_volume_ml,
            "largest": largest(&r),
            "text": summary_line("study", &r),
            "seg_series_uid": d.seg_series_uid,
            "sc_series_uid": d.sc_series_uid,
        });
        println!("{}", summary_line(&study_dir.display().to_string(), &r));
        Ok(JobResult {
            summary,
            dicom_files: files,
        })
    }
}

/// The largest lesion for the worklist: volume, coarse region, and its main JHU structure and
/// arterial territory when registration placed it.
fn largest(r: &strokeseg_report::json::Report) -> Option<serde_json::Value> {
    let l = r
        .lesions
        .iter()
        .max_by(|a, b| a.volume_ml.total_cmp(&b.volume_ml))?;
    let loc = r
        .location
        .as_ref()
        .and_then(|s| s.lesions.iter().find(|x| x.id == l.id));
    let label = |v: Option<&Vec<strokeseg_atlas::Share>>| {
        v.and_then(|s| s.first()).map(strokeseg_atlas::Share::label)
    };
    Some(serde_json::json!({
        "id": l.id,
        "volume_ml": l.volume_ml,
        "region": l.region,
        "structure": label(loc.map(|x| &x.structures)),
        "territory": label(loc.map(|x| &x.territories)),
    }))
}

/// The configuration: the file (or defaults), then the command-line overrides.
fn config(a: &ServeArgs) -> Result<Config, InputError> {
    let mut c = match &a.config {
        Some(p) => Config::load(p).map_err(|e| InputError::Usage(format!("{e:#}")))?,
        None => Config::default(),
    };
    if let Some(d) = &a.data_dir {
        c.data_dir.clone_from(d);
    }
    let addr = |s: &str, what: &str| {
        s.parse()
            .map_err(|e| InputError::Usage(format!("--{what} {s}: not host:port ({e})")))
    };
    if let Some(h) = &a.http {
        c.http_addr = addr(h, "http")?;
    }
    if let Some(d) = &a.dicom {
        c.dicom_addr = addr(d, "dicom")?;
    }
    if let Some(q) = a.quiet_period {
        c.quiet_period_s = q;
    }
    c.validate()
        .map_err(|e| InputError::Usage(format!("{e:#}")))?;
    Ok(c)
}

/// Runs `serve`.
pub fn run(a: &ServeArgs) -> anyhow::Result<Status> {
    let cfg = config(a)?;
    if a.print_config {
        print!("{}", cfg.to_toml()?);
        return Ok(Status::Ok);
    }
    let mut seg = load_segmenter(&a.model)?;
    seg.locator = super::register::load_locator(&a.location)?;
    let p = Segment {
        seg: Mutex::new(seg),
        model: a.model.clone(),
    };
    strokeseg_serve::run_until_signal(cfg, Arc::new(p))?;
    Ok(Status::Ok)
}
