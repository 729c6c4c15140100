//! Workers: move quiet studies to the queue, claim one job at a time, run the injected
//! processor, send its DICOM results on, and record the outcome.

use crate::db::JobState;
use crate::error::{Result, ServeError};
use crate::{ingest, scu, stow, JobResult, Shared};
use serde_json::json;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Output folder of a job.
#[must_use]
pub fn job_dir(data_dir: &std::path::Path, id: i64) -> PathBuf {
    data_dir.join("jobs").join(id.to_string())
}

/// Runs until the service stops.
pub(crate) fn run(shared: Arc<Shared>) {
    let poll = Duration::from_secs_f64((shared.cfg.quiet_period_s / 4.0).clamp(0.05, 0.5));
    while !shared.stop.load(Ordering::SeqCst) {
        if let Err(e) = shared.db.promote(shared.cfg.quiet_period_s) {
            tracing::error!("job database: {e:#}");
        }
        match shared.db.claim() {
            Ok(Some((id, study))) => run_job(&shared, id, &study),
            Ok(None) => std::thread::sleep(poll),
            Err(e) => {
                tracing::error!("job database: {e:#}");
                std::thread::sleep(poll);
            }
        }
    }
}

fn finish(
    shared: &Shared,
    id: i64,
    status: JobState,
    summary: Option<&serde_json::Value>,
    error: Option<&str>,
    fwd: Option<&serde_json::Value>,
) {
    if let Err(e) = shared.db.finish(id, status, summary, error, fwd) {
        tracing::error!("job {id}: cannot record '{status}': {e:#}");
    }
}

/// Ends a job as failed, with why.
fn fail(shared: &Shared, id: i64, why: &str) {
    finish(shared, id, JobState::Failed, None, Some(why), None);
}

fn run_job(shared: &Shared, id: i64, study: &str) {
    let data = &shared.cfg.data_dir;
    let out = job_dir(data, id);
    let study_dir = match ingest::study_dir(data, study) {
        Ok(d) => {
            // A study that outgrew max_study_mib holds only part of what was sent.
            if let Ok(why) = std::fs::read_to_string(d.join(ingest::OVER_LIMIT_FILE)) {
                tracing::warn!("job {id} (study {study}): {why}");
                return fail(shared, id, &why);
            }
            d.join("dwi")
        }
        Err(e) => return fail(shared, id, &e.to_string()),
    };
    match shared.db.n_dwi(study) {
        Ok(0) => {
            let why = "no diffusion (DWI) series in the study; nothing processed";
            tracing::warn!("job {id} (study {study}): {why}");
            return finish(shared, id, JobState::Ignored, None, Some(why), None);
        }
        Ok(_) => {}
        Err(e) => return fail(shared, id, &format!("{e:#}")),
    }
    // A re-run (after an interruption) starts from an empty output folder.
    if out.exists() {
        if let Err(e) = std::fs::remove_dir_all(&out) {
            return fail(shared, id, &format!("{}: {e}", out.display()));
        }
    }
    if let Err(e) = std::fs::create_dir_all(&out) {
        return fail(shared, id, &format!("{}: {e}", out.display()));
    }
    tracing::info!("job {id} (study {study}): processing");
    let t = std::time::Instant::now();
    let processor = Arc::clone(&shared.processor);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        processor.process(&study_dir, &out)
    }));
    let result: Result<JobResult> = match result {
        Ok(r) => r,
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            Err(ServeError::Processing(
                format!("processing panicked: {msg}").into(),
            ))
        }
    };
    match result {
        Ok(r) => {
            let fwd = forward(shared, id, &r.dicom_files);
            tracing::info!(
                "job {id} (study {study}): done in {:.1} s",
                t.elapsed().as_secs_f64()
            );
            finish(
                shared,
                id,
                JobState::Done,
                Some(&r.summary),
                None,
                fwd.as_ref(),
            );
        }
        Err(e) => {
            tracing::warn!("job {id} (study {study}): failed: {e}");
            fail(shared, id, &e.to_string());
        }
    }
}

/// Sends the result files to the configured destinations; returns what happened, or `None`
/// when nothing is configured.
fn forward(shared: &Shared, id: i64, files: &[PathBuf]) -> Option<serde_json::Value> {
    let f = &shared.cfg.forward;
    if f.dicom.is_none() && f.stow.is_none() {
        return None;
    }
    let mut out = serde_json::Map::new();
    if let Some(node) = &f.dicom {
        let r = scu::store_files(&node.address, &shared.cfg.ae_title, &node.ae_title, files);
        let v = match r {
            Ok(st) => {
                let failed: Vec<_> = st.iter().filter(|(_, s)| s.status != 0).collect();
                if failed.is_empty() {
                    json!({"ok": true, "instances": st.len()})
                } else {
                    tracing::warn!(
                        "job {id}: {} of {} instances refused by {}",
                        failed.len(),
                        st.len(),
                        node.ae_title
                    );
                    json!({"ok": false, "instances": st.len(), "refused": failed.iter().map(|(p, s)| json!({"file": p.file_name().map(|n| n.to_string_lossy().into_owned()), "status": s.status, "comment": s.comment})).collect::<Vec<_>>()})
                }
            }
            Err(e) => {
                tracing::warn!(
                    "job {id}: C-STORE to {}@{} failed: {e:#}",
                    node.ae_title,
                    node.address
                );
                json!({"ok": false, "error": format!("{e:#}")})
            }
        };
        out.insert("dicom".into(), v);
    }
    if let Some(t) = &f.stow {
        let v = match stow::store(t, files) {
            Ok(status) => json!({"ok": true, "instances": files.len(), "http_status": status}),
            Err(e) => {
                tracing::warn!("job {id}: {e:#}");
                json!({"ok": false, "error": format!("{e:#}")})
            }
        };
        out.insert("stow".into(), v);
    }
    Some(serde_json::Value::Object(out))
}
