//! Who is asking, and what they may do: bearer tokens for programs, a session cookie for
//! people in a browser, two roles, and the CSRF rule for cookie-authenticated changes.
//!
//! Owns: the user table (the configured token is the user `admin`; `[[users]]` adds more),
//! sessions (in memory: a restart signs everyone out), the sign-in and sign-out routes and
//! the middleware that every other route sits behind. Must not touch jobs or files.
//!
//! A browser signs in by posting its token to `/login`; it gets an `HttpOnly`,
//! `SameSite=Strict` cookie holding a random session id (never the token) that expires after
//! `session_hours`. A change made with that cookie (any method but GET/HEAD) must also carry
//! the session's CSRF token in `X-CSRF-Token`, which the pages read from `/session`. A
//! request without credentials gets 401, or a redirect to the sign-in page when a browser
//! asks for a page.

use crate::config::Role;
use crate::Shared;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form, Json};
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Name of the session cookie.
pub const COOKIE: &str = "strokeseg_session";
/// Header that must carry the CSRF token on cookie-authenticated changes.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The signed-in user of a request (in the request's extensions after [`middleware`]).
#[derive(Debug, Clone)]
pub struct Principal {
    /// User name.
    pub user: String,
    /// Role.
    pub role: Role,
    /// The session id when the request came with the cookie (not with a bearer token).
    pub session: Option<String>,
}

struct Session {
    user: String,
    role: Role,
    csrf: String,
    expires: Instant,
}

/// Users and live sessions.
pub(crate) struct Auth {
    /// (name, token, role).
    users: Vec<(String, String, Role)>,
    sessions: Mutex<HashMap<String, Session>>,
    lifetime: Duration,
    secure: bool,
}

/// Compares without an early exit, so the time taken does not reveal how much of the token
/// matched (a two-line loop; no crate needed).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// 32 random bytes as hex, from the thread's CSPRNG (`rand`'s `ThreadRng` is a ChaCha-based
/// CSPRNG seeded from the OS).
fn random_id() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Auth {
    pub(crate) fn new(cfg: &crate::Config, admin_token: &str) -> Auth {
        let mut users = vec![("admin".to_string(), admin_token.to_string(), Role::Admin)];
        users.extend(
            cfg.users
                .iter()
                .map(|u| (u.name.clone(), u.token.clone(), u.role)),
        );
        Auth {
            users,
            sessions: Mutex::default(),
            lifetime: Duration::from_secs_f64(cfg.session_hours * 3600.0),
            secure: cfg.secure_cookie,
        }
    }

    /// The user holding `token`, checking every user (no early exit).
    fn by_token(&self, token: &str) -> Option<(String, Role)> {
        let mut found = None;
        for (name, t, role) in &self.users {
            if same(t.as_bytes(), token.as_bytes()) {
                found = Some((name.clone(), *role));
            }
        }
        found
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The principal of a live session; drops expired sessions.
    fn by_session(&self, id: &str) -> Option<(Principal, String)> {
        let mut s = self.lock();
        let now = Instant::now();
        s.retain(|_, v| v.expires > now);
        s.get(id).map(|v| {
            (
                Principal {
                    user: v.user.clone(),
                    role: v.role,
                    session: Some(id.to_string()),
                },
                v.csrf.clone(),
            )
        })
    }

    /// Whether a session is still live (the event stream ends when it is not).
    pub(crate) fn is_live(&self, id: &str) -> bool {
        self.lock()
            .get(id)
            .is_some_and(|v| v.expires > Instant::now())
    }

    /// The CSRF token of a session.
    fn csrf(&self, id: &str) -> Option<String> {
        self.lock().get(id).map(|v| v.csrf.clone())
    }

    fn cookie(&self, value: &str, max_age_s: u64) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_s}{secure}"
        ))
        .unwrap_or_else(|_| HeaderValue::from_static("invalid"))
    }
}

/// The session id in the request's cookies.
fn session_cookie(h: &HeaderMap) -> Option<&str> {
    h.get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v)
}

fn error(status: StatusCode, msg: &str) -> Response {
    (status, Json(json!({"error": msg}))).into_response()
}

/// Whether the request is a browser asking for a page (redirect it to the sign-in page
/// rather than answering 401).
fn wants_page(req: &Request) -> bool {
    req.method() == Method::GET
        && req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"))
}

/// Routes anyone may reach: the sign-in page and its form.
pub(crate) fn is_public(method: &Method, path: &str) -> bool {
    path == "/login" && (method == Method::GET || method == Method::POST)
}

/// Authenticates every request but the sign-in page; enforces CSRF on cookie changes.
pub(crate) async fn middleware(
    State(s): State<Arc<Shared>>,
    mut req: Request,
    next: Next,
) -> Response {
    if is_public(req.method(), req.uri().path()) {
        return next.run(req).await;
    }
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let principal = if let Some(t) = bearer {
        s.auth.by_token(t).map(|(user, role)| Principal {
            user,
            role,
            session: None,
        })
    } else if let Some(id) = session_cookie(req.headers()) {
        match s.auth.by_session(id) {
            Some((p, csrf)) => {
                let safe = matches!(*req.method(), Method::GET | Method::HEAD);
                let given = req
                    .headers()
                    .get(CSRF_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                if !safe && !same(given.as_bytes(), csrf.as_bytes()) {
                    return error(
                        StatusCode::FORBIDDEN,
                        "a change made with the session cookie needs the session's X-CSRF-Token header",
                    );
                }
                Some(p)
            }
            None => None,
        }
    } else {
        None
    };
    match principal {
        Some(p) => {
            req.extensions_mut().insert(p);
            next.run(req).await
        }
        None if wants_page(&req) => Redirect::to("/login").into_response(),
        None => {
            let mut r = error(
                StatusCode::UNAUTHORIZED,
                "sign in at /login, or send a valid 'Authorization: Bearer <token>' header",
            );
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            r
        }
    }
}

/// The sign-in form.
#[derive(Deserialize)]
pub(crate) struct LoginForm {
    token: String,
}

const LOGIN_PAGE: &str = include_str!("../web/login.html");

fn login_page(status: StatusCode, message: &str) -> Response {
    let page = LOGIN_PAGE.replace("{{message}}", message);
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page,
    )
        .into_response()
}

/// `GET /login`.
pub(crate) async fn login_get() -> Response {
    login_page(StatusCode::OK, "")
}

/// `POST /login`: token → session cookie, then the worklist.
pub(crate) async fn login_post(State(s): State<Arc<Shared>>, Form(f): Form<LoginForm>) -> Response {
    let Some((user, role)) = s.auth.by_token(f.token.trim()) else {
        // A pause per failure slows down guessing without holding a thread.
        tokio::time::sleep(Duration::from_millis(400)).await;
        tracing::warn!("sign-in refused (wrong token)");
        return login_page(
            StatusCode::UNAUTHORIZED,
            "<p class=\"err\" role=\"alert\">That token is not valid.</p>",
        );
    };
    let id = random_id();
    s.auth.lock().insert(
        id.clone(),
        Session {
            user: user.clone(),
            role,
            csrf: random_id(),
            expires: Instant::now() + s.auth.lifetime,
        },
    );
    tracing::info!("{user} signed in");
    let mut r = Redirect::to("/").into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        s.auth.cookie(&id, s.auth.lifetime.as_secs()),
    );
    r
}

/// `POST /logout`: ends the session (or nothing, with a bearer token) and clears the cookie.
pub(crate) async fn logout(
    State(s): State<Arc<Shared>>,
    Extension(p): Extension<Principal>,
) -> Response {
    if let Some(id) = &p.session {
        s.auth.lock().remove(id);
        tracing::info!("{} signed out", p.user);
    }
    let mut r = Json(json!({"signed_out": true})).into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, s.auth.cookie("", 0));
    r
}

/// `GET /session`: who is signed in, their role, and the CSRF token the pages send back.
pub(crate) async fn session(
    State(s): State<Arc<Shared>>,
    Extension(p): Extension<Principal>,
) -> Response {
    let csrf = p.session.as_deref().and_then(|id| s.auth.csrf(id));
    Json(json!({"user": p.user, "role": p.role, "csrf": csrf})).into_response()
}
