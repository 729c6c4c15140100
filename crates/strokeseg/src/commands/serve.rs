//! `strokeseg serve`: the service of crates/serve with the pipeline's job
//! (`strokeseg_pipeline::service`) as its processor. The model is loaded once; each complete
//! study is segmented as `segment --dicom-out` would, and the service sends the DICOM files to
//! the configured PACS.

use crate::cli::ServeArgs;
use crate::Status;
use std::path::Path;
use std::sync::{Arc, Mutex};
use strokeseg_io::InputError;
use strokeseg_pipeline::outputs::summary_line;
use strokeseg_pipeline::service::{process_study, ViewerFiles};
use strokeseg_pipeline::{Segmenter, Settings};
use strokeseg_serve::{Config, JobResult, Processor, ServeError};

/// Segments one received study.
struct Segment {
    // One study at a time per model: the network already uses every core.
    seg: Mutex<Segmenter>,
    settings: Settings,
}

impl Processor for Segment {
    fn process(&self, study_dir: &Path, out_dir: &Path) -> Result<JobResult, ServeError> {
        let seg = self
            .seg
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let viewer = ViewerFiles {
            dwi: strokeseg_serve::VIEWER_DWI,
            adc: strokeseg_serve::VIEWER_ADC,
        };
        let job = process_study(&seg, &self.settings, study_dir, out_dir, viewer).map_err(|e| {
            // the job's message is the whole chain, as the CLI prints it
            ServeError::Processing(format!("{:#}", anyhow::Error::from(e)).into())
        })?;
        println!(
            "{}",
            summary_line(&study_dir.display().to_string(), &job.report)
        );
        Ok(JobResult {
            summary: job.summary,
            dicom_files: job.dicom_files,
        })
    }
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
    let mut seg = a.model.segmenter()?;
    seg.locator = a.location.options().load_locator()?;
    let p = Segment {
        seg: Mutex::new(seg),
        settings: a.model.settings(),
    };
    strokeseg_serve::run_until_signal(cfg, Arc::new(p))?;
    Ok(Status::Ok)
}
