//! The HTTP API (axum). Every route needs `Authorization: Bearer <token>`.
//!
//! - `GET  /jobs` — all jobs, newest first, with status and result summary
//! - `GET  /jobs/{id}` — one job (also the series stored but ignored, with reasons)
//! - `GET  /jobs/{id}/report.json` | `/key_images.png` | `/overlay.png` | `/mask` — a
//!   finished job's files
//! - `POST /instances` — upload one DICOM instance (Part-10 file as the body)
//!
//! Files are only ever served from a job's output folder under fixed names (the job id is an
//! integer), and uploads are stored under names built from validated UIDs only.

use crate::{ingest, worker, Shared};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use std::sync::Arc;

type St = State<Arc<Shared>>;

fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(json!({"error": msg.into()}))).into_response()
}

/// Builds the router.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let limit = shared.cfg.max_upload_mib.saturating_mul(1 << 20);
    Router::new()
        .route("/jobs", get(list))
        .route("/jobs/{id}", get(one))
        .route("/jobs/{id}/{file}", get(file))
        .route("/instances", post(upload))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such route") })
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&shared),
            declared_size,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&shared),
            auth,
        ))
        .with_state(shared)
}

/// Compares without an early exit, so the time taken does not reveal how much of the token
/// matched (a two-line loop; no crate needed).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Answers 413 at once when the declared Content-Length is over the upload limit, instead of
/// holding the connection open while the body streams in (issue 16 item 15).
async fn declared_size(State(s): St, req: Request, next: Next) -> Response {
    let limit = s.cfg.max_upload_mib.saturating_mul(1 << 20) as u64;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(n) if n > limit => error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "body of {n} bytes is over the upload limit of {} MiB (max_upload_mib)",
                s.cfg.max_upload_mib
            ),
        ),
        _ => next.run(req).await,
    }
}

async fn auth(State(s): St, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(t) if same(t.as_bytes(), s.token.as_bytes()) => next.run(req).await,
        _ => {
            let mut r = error(
                StatusCode::UNAUTHORIZED,
                "a valid 'Authorization: Bearer <token>' header is required",
            );
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            r
        }
    }
}

async fn list(State(s): St) -> Response {
    match tokio::task::spawn_blocking(move || s.db.list()).await {
        Ok(Ok(jobs)) => Json(jobs).into_response(),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn one(State(s): St, Path(id): Path<i64>) -> Response {
    match tokio::task::spawn_blocking(move || s.db.get(id)).await {
        Ok(Ok(Some(job))) => Json(job).into_response(),
        Ok(Ok(None)) => error(StatusCode::NOT_FOUND, format!("no job {id}")),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// Suffix of the lesion mask in a job's folder (BIDS-derivative name with the job's entities,
/// as `strokeseg segment` writes it).
const MASK_SUFFIX: &str = "_desc-lesion_mask.nii.gz";

async fn file(State(s): St, Path((id, name)): Path<(i64, String)>) -> Response {
    // Fixed names only: nothing from the request reaches the file system but the integer id.
    let dir = worker::job_dir(&s.cfg.data_dir, id);
    let (file, ctype) = match name.as_str() {
        "report.json" => ("report.json".to_string(), "application/json"),
        "overlay.png" => ("overlay.png".to_string(), "image/png"),
        "key_images.png" => ("key_images.png".to_string(), "image/png"),
        "mask" | "lesion_mask.nii.gz" => {
            // Results of versions before report schema 3 are named `lesion_mask.nii.gz`.
            let found = std::fs::read_dir(&dir).ok().and_then(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .find(|n| n.ends_with(MASK_SUFFIX) || n == "lesion_mask.nii.gz")
            });
            (
                found.unwrap_or_else(|| "lesion_mask.nii.gz".into()),
                "application/gzip",
            )
        }
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                "files: report.json, key_images.png, overlay.png, mask",
            )
        }
    };
    match tokio::fs::read(dir.join(&file)).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, ctype)], bytes).into_response(),
        Err(_) => error(
            StatusCode::NOT_FOUND,
            format!("job {id} has no {file} (not finished, failed, or no such job)"),
        ),
    }
}

async fn upload(State(s): St, body: Bytes) -> Response {
    let r = tokio::task::spawn_blocking(move || {
        let c = ingest::from_file_bytes(&body, &s.cfg.dicom_limits())?;
        let ids = c.ids.clone();
        let kind = c.kind.clone();
        let job = s.accept(c, "http")?;
        Ok::<_, ingest::Rejected>((job, ids, kind))
    })
    .await;
    match r {
        Ok(Ok((job, ids, kind))) => {
            let (dwi, reason) = match kind {
                ingest::Kind::Diffusion => (true, None),
                ingest::Kind::Ignored(r) => (false, Some(r)),
            };
            Json(json!({"job_id": job, "study_uid": ids.study, "series_uid": ids.series, "sop_uid": ids.sop, "dwi": dwi, "ignored_reason": reason})).into_response()
        }
        Ok(Err(e @ ingest::Rejected::Io(_))) => {
            error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        }
        Ok(Err(e @ ingest::Rejected::StudyTooLarge(_))) => {
            error(StatusCode::PAYLOAD_TOO_LARGE, e.to_string())
        }
        Ok(Err(e @ ingest::Rejected::Conflict(_))) => {
            tracing::warn!("rejected upload: {e}");
            error(StatusCode::CONFLICT, e.to_string())
        }
        Ok(Err(e)) => error(StatusCode::BAD_REQUEST, e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}
