//! The HTTP side of the service (axum): one table of routes ([`ROUTES`]), all behind
//! [`crate::auth`] except the sign-in page.
//!
//! API (bearer token or session cookie):
//! - `GET  /jobs` — all jobs, newest first, with status, patient/study identifiers and result
//!   summary
//! - `GET  /jobs/{id}` — one job (also the series stored but ignored, with reasons)
//! - `GET  /jobs/{id}/report.json` | `/key_images.png` | `/overlay.png` | `/mask` | `/dwi` |
//!   `/adc` | `/seg` — a finished job's files
//! - `POST /jobs/{id}/ack` — acknowledge a result; `POST /jobs/{id}/retry` — run again (admin)
//! - `POST /instances` — upload one DICOM instance (Part-10 file as the body)
//! - `GET  /events` — server-sent events when jobs change
//!
//! Pages: `/` (worklist), `/studies/{id}`, `/login`, `/logout`, `/session`, `/assets/{name}`.
//!
//! Files are only ever served from a job's output folder under fixed names (the job id is an
//! integer), and uploads are stored under names built from validated UIDs only.

use crate::auth::{self, Principal};
use crate::{ingest, web, worker, Shared};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::{Extension, Json, Router};
use serde_json::json;
use std::sync::Arc;

type St = State<Arc<Shared>>;

fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(json!({"error": msg.into()}))).into_response()
}

/// One route of the service.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// HTTP method.
    pub method: &'static str,
    /// Path pattern (axum syntax).
    pub path: &'static str,
    /// What it is.
    pub what: &'static str,
}

const fn r(method: &'static str, path: &'static str, what: &'static str) -> Route {
    Route { method, path, what }
}

/// Every route the service answers, in one table: the router is built from it, and the tests
/// walk it, so a new route cannot be added without its authentication being tested.
pub const ROUTES: &[Route] = &[
    r("GET", "/login", "sign-in page (public)"),
    r(
        "POST",
        "/login",
        "sign in: token -> session cookie (public)",
    ),
    r("POST", "/logout", "sign out"),
    r("GET", "/session", "who is signed in, role, CSRF token"),
    r("GET", "/", "worklist page"),
    r("GET", "/studies/{id}", "study page with the viewer"),
    r(
        "GET",
        "/assets/{name}",
        "scripts, styles and the NiiVue viewer",
    ),
    r("GET", "/events", "server-sent events when jobs change"),
    r("GET", "/jobs", "all jobs, newest first"),
    r("GET", "/jobs/{id}", "one job"),
    r("GET", "/jobs/{id}/{file}", "a finished job's files"),
    r("POST", "/jobs/{id}/ack", "acknowledge a job's result"),
    r(
        "POST",
        "/jobs/{id}/retry",
        "run a done or failed job again (admin)",
    ),
    r("POST", "/instances", "upload one DICOM instance"),
];

/// The handler of one route of [`ROUTES`].
fn handler(route: &Route) -> MethodRouter<Arc<Shared>> {
    match (route.method, route.path) {
        ("GET", "/login") => get(auth::login_get),
        ("POST", "/login") => post(auth::login_post),
        ("POST", "/logout") => post(auth::logout),
        ("GET", "/session") => get(auth::session),
        ("GET", "/") => get(web::worklist),
        ("GET", "/studies/{id}") => get(web::study),
        ("GET", "/assets/{name}") => get(web::asset),
        ("GET", "/events") => get(web::events),
        ("GET", "/jobs") => get(list),
        ("GET", "/jobs/{id}") => get(one),
        ("GET", "/jobs/{id}/{file}") => get(file),
        ("POST", "/jobs/{id}/ack") => post(web::ack),
        ("POST", "/jobs/{id}/retry") => post(web::retry),
        ("POST", "/instances") => post(upload),
        // The table and this match are edited together; a test builds the router.
        (m, p) => unreachable!("route {m} {p} has no handler"),
    }
}

/// Builds the router.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let limit = shared.cfg.max_upload_mib.saturating_mul(1 << 20);
    let mut router = Router::new();
    for route in ROUTES {
        router = router.route(route.path, handler(route));
    }
    router
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such route") })
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&shared),
            declared_size,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&shared),
            auth::middleware,
        ))
        .layer(axum::middleware::from_fn(hardening))
        .with_state(shared)
}

/// Headers on every answer: no sniffing, no framing, no referrer; nothing cached unless the
/// handler said otherwise (answers hold patient data).
async fn hardening(req: Request, next: Next) -> Response {
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
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

async fn list(State(s): St, Extension(p): Extension<Principal>) -> Response {
    match tokio::task::spawn_blocking(move || s.db.list(&p.user)).await {
        Ok(Ok(jobs)) => Json(jobs).into_response(),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn one(State(s): St, Extension(p): Extension<Principal>, Path(id): Path<i64>) -> Response {
    match tokio::task::spawn_blocking(move || s.db.get(id, &p.user)).await {
        Ok(Ok(Some(job))) => Json(job).into_response(),
        Ok(Ok(None)) => error(StatusCode::NOT_FOUND, format!("no job {id}")),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// Suffix of the lesion mask in a job's folder (BIDS-derivative name with the job's entities,
/// as `strokeseg segment` writes it).
const MASK_SUFFIX: &str = "_desc-lesion_mask.nii.gz";

/// The DWI the viewer shows, as the processor writes it into the job folder.
pub const VIEWER_DWI: &str = "dwi.nii.gz";
/// The ADC the viewer shows (absent for a DWI-only study).
pub const VIEWER_ADC: &str = "adc.nii.gz";

async fn file(State(s): St, Path((id, name)): Path<(i64, String)>) -> Response {
    // Fixed names only: nothing from the request reaches the file system but the integer id.
    let dir = worker::job_dir(&s.cfg.data_dir, id);
    let (file, ctype) = match name.as_str() {
        "report.json" => ("report.json".to_string(), "application/json"),
        "overlay.png" => ("overlay.png".to_string(), "image/png"),
        "key_images.png" => ("key_images.png".to_string(), "image/png"),
        "dwi" | "dwi.nii.gz" => (VIEWER_DWI.to_string(), "application/gzip"),
        "adc" | "adc.nii.gz" => (VIEWER_ADC.to_string(), "application/gzip"),
        "seg" | "seg.dcm" => ("dicom/seg.dcm".to_string(), "application/dicom"),
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
                "files: report.json, key_images.png, overlay.png, mask, dwi, adc, seg",
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
