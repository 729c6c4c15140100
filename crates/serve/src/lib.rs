//! `strokeseg serve`: the service around the model, without the model.
//!
//! Owns: the DICOM listener (C-STORE SCP), the HTTP API and the browser worklist/viewer
//! (axum; bearer tokens or a session cookie, see [`auth`]), the SQLite job
//! store (WAL), quiet-period study completion, the DWI/non-DWI rule for received series,
//! storage of received instances under the data folder, and sending results on (C-STORE SCU,
//! DICOMweb STOW-RS). Must not touch: the model, preprocessing or report contents — the work
//! on a study is injected as a [`Processor`], so tests use a fast fake one and the
//! `strokeseg` binary supplies the real segmentation.
//!
//! Data folder layout: `jobs.sqlite` (+ WAL files), `token`, `studies/<StudyUID>/dwi|other/
//! <SeriesUID>/<SOPUID>.dcm`, `jobs/<id>/` (the processor's outputs).
#![warn(missing_docs)]

pub mod auth;
pub mod config;
pub mod db;
pub mod dimse;
pub mod error;
mod http;
pub mod ingest;
mod scp;
pub mod scu;
pub mod stow;
mod web;
pub mod worker;

pub use config::Config;
pub use error::ServeError;
pub use http::{Route, ROUTES, VIEWER_ADC, VIEWER_DWI};
pub use web::{NIIVUE_JS_BYTES, NIIVUE_LICENSE, NIIVUE_VERSION};

use crate::error::{ensure, err, Result};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// What processing a study produced.
#[derive(Debug, Clone, Default)]
pub struct JobResult {
    /// Short result summary shown in the job list (e.g. the patient-level call and volume).
    pub summary: serde_json::Value,
    /// DICOM files (SEG, Secondary Capture) to send to the configured PACS.
    pub dicom_files: Vec<PathBuf>,
}

/// The work done on one complete study.
pub trait Processor: Send + Sync + 'static {
    /// Processes the diffusion instances in `study_dir` (a folder of DICOM files), writing
    /// results into `out_dir` (empty, created): `report.json`, `key_images.png`,
    /// `overlay.png` and the mask (`*_desc-lesion_mask.nii.gz`, or `lesion_mask.nii.gz`) are
    /// served by the HTTP API.
    ///
    /// # Errors
    /// Any failure; the job is marked failed with the message.
    fn process(&self, study_dir: &Path, out_dir: &Path) -> Result<JobResult>;
}

/// State shared by the listener, the workers and the HTTP handlers.
pub(crate) struct Shared {
    pub cfg: Config,
    pub db: db::Db,
    pub processor: Arc<dyn Processor>,
    pub token: String,
    pub auth: auth::Auth,
    pub stop: AtomicBool,
    /// Bytes received per study (from disk the first time a study is seen after a start),
    /// for `max_study_mib`.
    pub study_bytes: std::sync::Mutex<std::collections::HashMap<String, u64>>,
}

impl Shared {
    /// Stores a checked instance and records it; returns its job id.
    pub(crate) fn accept(&self, c: ingest::Checked, via: &str) -> Result<i64, ingest::Rejected> {
        self.reserve(&c)?;
        let path = c.store(&self.cfg.data_dir)?;
        let reason = match &c.kind {
            ingest::Kind::Diffusion => None,
            ingest::Kind::Ignored(r) => Some(r.as_str()),
        };
        let (job, new, first_of_series) = self
            .db
            .record_instance(&db::NewInstance {
                sop_uid: &c.ids.sop,
                study_uid: &c.ids.study,
                series_uid: &c.ids.series,
                modality: &c.modality,
                dwi: reason.is_none(),
                reason,
                path: &path.to_string_lossy(),
                patient: &c.patient,
            })
            .map_err(|e| ingest::Rejected::Io(format!("job database: {e:#}")))?;
        if new {
            if let (Some(r), true) = (reason, first_of_series) {
                // Once per series, at the default log level.
                tracing::warn!(
                    "stored, not processed: series {} of study {} ({via}): {r}",
                    c.ids.series,
                    c.ids.study
                );
            } else {
                tracing::debug!("received {} for job {job} ({via})", c.ids.sop);
            }
        }
        Ok(job)
    }
}

impl Shared {
    /// Counts `c` against its study's `max_study_mib`; past it, marks the study (so its job
    /// fails with the reason) and refuses the instance.
    fn reserve(&self, c: &ingest::Checked) -> Result<(), ingest::Rejected> {
        let dir = ingest::study_dir(&self.cfg.data_dir, &c.ids.study)?;
        let limit = self.cfg.max_study_mib as u64 * 1024 * 1024;
        let mut used = self
            .study_bytes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let u = used
            .entry(c.ids.study.clone())
            .or_insert_with(|| ingest::dir_bytes(&dir));
        if *u + c.bytes <= limit {
            *u += c.bytes;
            return Ok(());
        }
        let why = format!(
            "study {} is larger than max_study_mib = {} MiB (the memory bound per study): \
             {:.1} MiB received, instance {} of {:.1} MiB refused; the study is not processed",
            c.ids.study,
            self.cfg.max_study_mib,
            *u as f64 / 1048576.0,
            c.ids.sop,
            c.bytes as f64 / 1048576.0
        );
        let marker = dir.join(ingest::OVER_LIMIT_FILE);
        if !marker.is_file() {
            tracing::warn!("{why}");
            let _ = std::fs::create_dir_all(&dir);
            if let Err(e) = std::fs::write(&marker, &why) {
                tracing::error!("{}: {e}", marker.display());
            }
        }
        Err(ingest::Rejected::StudyTooLarge(why))
    }
}

/// A running service.
pub struct Service {
    shared: Arc<Shared>,
    http_addr: SocketAddr,
    dicom_addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// Reads or creates the API token.
fn token(cfg: &Config) -> Result<String> {
    if let Some(t) = &cfg.token {
        return Ok(t.clone());
    }
    let path = cfg.token_path();
    if path.is_file() {
        let t = std::fs::read_to_string(&path)
            .map_err(|e| err!(Config, "{}: cannot read the token: {e}", path.display()))?;
        let t = t.trim().to_string();
        ensure!(
            Config,
            t.len() >= 8,
            "{}: token shorter than 8 characters",
            path.display()
        );
        return Ok(t);
    }
    let t: String = (0..32)
        .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rand::random_range(0..36)]))
        .collect();
    write_private(&path, &t)?;
    tracing::warn!("generated an API token in {}", path.display());
    Ok(t)
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let mut f = o.open(path).map_err(|e| {
        err!(
            Config,
            "{}: cannot create the token file: {e}",
            path.display()
        )
    })?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

impl Service {
    /// Opens the data folder and database, re-queues interrupted jobs, binds both listeners
    /// and starts the workers.
    ///
    /// # Errors
    /// Bad configuration, an unusable data folder or database, or an address in use.
    pub fn start(cfg: Config, processor: Arc<dyn Processor>) -> Result<Service> {
        cfg.validate()?;
        std::fs::create_dir_all(&cfg.data_dir).map_err(|e| {
            err!(
                Config,
                "{}: cannot create the data folder: {e}",
                cfg.data_dir.display()
            )
        })?;
        let mut cfg = cfg;
        cfg.data_dir = cfg.data_dir.canonicalize()?;
        let token = token(&cfg)?;
        let db = db::Db::open(&cfg.data_dir.join("jobs.sqlite"))?;
        let requeued = db.recover()?;
        if requeued > 0 {
            tracing::warn!("{requeued} interrupted job(s) queued again");
        }
        let dicom = TcpListener::bind(cfg.dicom_addr)
            .map_err(|e| err!(Config, "cannot listen for DICOM on {}: {e}", cfg.dicom_addr))?;
        let http = TcpListener::bind(cfg.http_addr)
            .map_err(|e| err!(Config, "cannot listen for HTTP on {}: {e}", cfg.http_addr))?;
        http.set_nonblocking(true)?;
        let (dicom_addr, http_addr) = (dicom.local_addr()?, http.local_addr()?);
        let workers = cfg.workers;
        let auth = auth::Auth::new(&cfg, &token);
        let shared = Arc::new(Shared {
            cfg,
            db,
            processor,
            token,
            auth,
            stop: AtomicBool::new(false),
            study_bytes: std::sync::Mutex::default(),
        });
        let mut threads = Vec::new();
        let s = Arc::clone(&shared);
        threads.push(
            std::thread::Builder::new()
                .name("dicom-listener".into())
                .spawn(move || scp::listen(dicom, s))?,
        );
        for i in 0..workers {
            let s = Arc::clone(&shared);
            threads.push(
                std::thread::Builder::new()
                    .name(format!("worker-{i}"))
                    .spawn(move || worker::run(s))?,
            );
        }
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let router = http::router(Arc::clone(&shared));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        threads.push(
            std::thread::Builder::new()
                .name("http".into())
                .spawn(move || {
                    rt.block_on(async move {
                        let listener = match tokio::net::TcpListener::from_std(http) {
                            Ok(l) => l,
                            Err(e) => return tracing::error!("HTTP listener: {e}"),
                        };
                        let r = axum::serve(listener, router)
                            .with_graceful_shutdown(async move {
                                let _ = rx.await;
                            })
                            .await;
                        if let Err(e) = r {
                            tracing::error!("HTTP server: {e}");
                        }
                    });
                })?,
        );
        tracing::info!(
            "listening: HTTP {http_addr}, DICOM {}@{dicom_addr}",
            shared.cfg.ae_title
        );
        Ok(Service {
            shared,
            http_addr,
            dicom_addr,
            shutdown: Some(tx),
            threads,
        })
    }

    /// Where the HTTP API listens.
    #[must_use]
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// Where the DICOM listener listens.
    #[must_use]
    pub fn dicom_addr(&self) -> SocketAddr {
        self.dicom_addr
    }

    /// The HTTP bearer token.
    #[must_use]
    pub fn token(&self) -> &str {
        &self.shared.token
    }

    /// The configuration in force (data folder made absolute).
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.shared.cfg
    }

    /// Stops accepting work and waits for the workers (a job being processed finishes
    /// first).
    pub fn stop(mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        // Wake the blocking accept() of the DICOM listener.
        let _ = std::net::TcpStream::connect(self.dicom_addr);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Runs the service until Ctrl-C or SIGTERM.
///
/// # Errors
/// As [`Service::start`].
pub fn run_until_signal(cfg: Config, processor: Arc<dyn Processor>) -> Result<()> {
    let svc = Service::start(cfg, processor)?;
    println!(
        "strokeseg serve: http=http://{} dicom={}@{} data={} token-file={}",
        svc.http_addr(),
        svc.config().ae_title,
        svc.dicom_addr(),
        svc.config().data_dir.display(),
        if svc.config().token.is_some() {
            "(from config)".to_string()
        } else {
            svc.config().token_path().display().to_string()
        }
    );
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {},
                _ = term.recv() => {},
            }
        }
        #[cfg(not(unix))]
        tokio::signal::ctrl_c().await?;
        Ok::<_, std::io::Error>(())
    })?;
    eprintln!("strokeseg serve: stopping (a job in progress finishes first)");
    svc.stop();
    Ok(())
}
