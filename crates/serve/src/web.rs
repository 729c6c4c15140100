//! The browser side of the service: the worklist and study pages, their scripts and the
//! vendored NiiVue viewer (all compiled into the binary, so the pages work offline in a
//! hospital network), the live event stream, and the two actions a person takes on a job:
//! acknowledge a positive result, and (administrators) run a job again.
//!
//! Must not touch: authentication (auth.rs runs before every handler here) or job
//! processing. Pages carry no patient data in their URLs: a study page is `/studies/<job id>`.

use crate::auth::Principal;
use crate::config::Role;
use crate::Shared;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::json;
use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

type St = State<Arc<Shared>>;

fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(json!({"error": msg.into()}))).into_response()
}

/// Content-Security-Policy of the pages: scripts and data from this server only. NiiVue
/// needs `blob:` for the images it decodes and `'unsafe-eval'` is not granted.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   img-src 'self' data: blob:; connect-src 'self' blob: data:; worker-src 'self' blob:; \
                   frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn page(html: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CSP),
        ],
        html,
    )
        .into_response()
}

/// `GET /`: the worklist.
pub(crate) async fn worklist() -> Response {
    page(include_str!("../web/index.html"))
}

/// `GET /studies/{id}`: one study (the page loads the job and its files by id).
pub(crate) async fn study(Path(_id): Path<i64>) -> Response {
    page(include_str!("../web/study.html"))
}

/// The NiiVue release vendored in `web/vendor/` (see `web/vendor/README.md`).
const NIIVUE_JS: &[u8] = include_bytes!("../web/vendor/niivue.umd.js");
/// Size of the vendored NiiVue build in bytes.
pub const NIIVUE_JS_BYTES: usize = NIIVUE_JS.len();
/// Version of the vendored NiiVue (the study page's viewer).
pub const NIIVUE_VERSION: &str = "0.69.0";
/// NiiVue's licence (BSD-2-Clause), shipped with it.
pub const NIIVUE_LICENSE: &str = include_str!("../web/vendor/NIIVUE_LICENSE.txt");

/// `GET /assets/{name}`: fixed names only.
pub(crate) async fn asset(Path(name): Path<String>) -> Response {
    let (body, ctype): (&'static [u8], &str) = match name.as_str() {
        "app.css" => (include_bytes!("../web/app.css"), "text/css; charset=utf-8"),
        "common.js" => (
            include_bytes!("../web/common.js"),
            "text/javascript; charset=utf-8",
        ),
        "worklist.js" => (
            include_bytes!("../web/worklist.js"),
            "text/javascript; charset=utf-8",
        ),
        "study.js" => (
            include_bytes!("../web/study.js"),
            "text/javascript; charset=utf-8",
        ),
        "niivue.js" => (NIIVUE_JS, "text/javascript; charset=utf-8"),
        "NIIVUE_LICENSE.txt" => (NIIVUE_LICENSE.as_bytes(), "text/plain; charset=utf-8"),
        _ => return error(StatusCode::NOT_FOUND, format!("no asset {name:?}")),
    };
    (
        [
            (header::CONTENT_TYPE, ctype),
            (header::CACHE_CONTROL, "private, max-age=300"),
        ],
        body,
    )
        .into_response()
}

/// `GET /events`: server-sent events. An event `jobs` (data: a change counter) whenever a
/// job changes; the page then reloads the list. The stream ends when the service stops or
/// the session that opened it ends.
pub(crate) async fn events(State(s): St, Extension(p): Extension<Principal>) -> Response {
    let stream = futures_util::stream::unfold((s, p, 0u64), |(s, p, last)| async move {
        loop {
            if s.stop.load(Ordering::SeqCst) {
                return None;
            }
            if let Some(id) = &p.session {
                if !s.auth.is_live(id) {
                    return None;
                }
            }
            let v = s.db.version();
            if v != last {
                let e = Event::default().event("jobs").data(v.to_string());
                return Some((Ok::<_, Infallible>(e), (s, p, v)));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    // (Cache-Control: no-store comes from the router's hardening layer.)
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// `POST /jobs/{id}/ack`: the signed-in user has seen this job's result.
pub(crate) async fn ack(
    State(s): St,
    Extension(p): Extension<Principal>,
    Path(id): Path<i64>,
) -> Response {
    let user = p.user.clone();
    match tokio::task::spawn_blocking(move || s.db.acknowledge(id, &user)).await {
        Ok(Ok(true)) => Json(json!({"job_id": id, "acknowledged_by": p.user})).into_response(),
        Ok(Ok(false)) => error(StatusCode::NOT_FOUND, format!("no job {id}")),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// `POST /jobs/{id}/retry`: administrators queue a failed or finished job again.
pub(crate) async fn retry(
    State(s): St,
    Extension(p): Extension<Principal>,
    Path(id): Path<i64>,
) -> Response {
    if p.role != Role::Admin {
        return error(
            StatusCode::FORBIDDEN,
            format!("{} may read but not re-run jobs (role read)", p.user),
        );
    }
    match tokio::task::spawn_blocking(move || s.db.requeue(id)).await {
        Ok(Ok(Some(was))) if was.is_finished() => {
            tracing::info!("job {id}: queued again by {} (was {was})", p.user);
            Json(json!({"job_id": id, "queued": true, "was": was})).into_response()
        }
        Ok(Ok(Some(was))) => error(
            StatusCode::CONFLICT,
            format!("job {id} is {was}; only done or failed jobs can be run again"),
        ),
        Ok(Ok(None)) => error(StatusCode::NOT_FOUND, format!("no job {id}")),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}
