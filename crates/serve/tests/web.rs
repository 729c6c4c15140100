//! The browser side of the service without a browser: every route of the router's table
//! refuses a request without credentials; sign-in turns a token into an HttpOnly, SameSite
//! session cookie that expires; changes made with the cookie need the CSRF header; a reader
//! may acknowledge but not re-run; the event stream tells of changes and ends at sign-out.
//! (The real-browser test is `strokeseg`'s `it::browser`.)

mod common;

use common::*;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use std::io::BufRead;
use std::path::Path;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};
use strokeseg_serve::config::{Role, User};
use strokeseg_serve::{Config, Service, ROUTES};

const TOKEN: &str = "admin-token-0123456789";
const READER: &str = "reader-token-0123456789";

fn config(data: &Path) -> Config {
    Config {
        data_dir: data.to_path_buf(),
        http_addr: "127.0.0.1:0".parse().unwrap(),
        dicom_addr: "127.0.0.1:0".parse().unwrap(),
        token: Some(TOKEN.into()),
        users: vec![User {
            name: "reader".into(),
            token: READER.into(),
            role: Role::Read,
        }],
        quiet_period_s: 0.3,
        ..Config::default()
    }
}

/// An answer: status, the headers a test looks at, body.
struct Answer {
    status: u16,
    location: Option<String>,
    set_cookie: Option<String>,
    www_authenticate: Option<String>,
    content_type: Option<String>,
    csp: Option<String>,
    body: String,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

/// One request; `headers` as given, `body` for POST.
fn call(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    let mut resp = match method {
        "GET" => {
            let mut r = agent().get(url);
            for (k, v) in headers {
                r = r.header(*k, *v);
            }
            r.call().unwrap()
        }
        "POST" => {
            let mut r = agent().post(url);
            for (k, v) in headers {
                r = r.header(*k, *v);
            }
            r.send(body).unwrap()
        }
        m => panic!("no method {m} in the tests"),
    };
    let h = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    };
    let (location, set_cookie, www_authenticate, content_type, csp) = (
        h("location"),
        h("set-cookie"),
        h("www-authenticate"),
        h("content-type"),
        h("content-security-policy"),
    );
    let status = resp.status().as_u16();
    // The event stream never ends by itself: read only what other routes send.
    let body = if content_type.as_deref() == Some("text/event-stream") {
        String::new()
    } else {
        resp.body_mut().read_to_string().unwrap_or_default()
    };
    Answer {
        status,
        location,
        set_cookie,
        www_authenticate,
        content_type,
        csp,
        body,
    }
}

fn sign_in(http: &str, token: &str) -> Answer {
    call(
        "POST",
        &format!("{http}/login"),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        format!("token={token}").as_bytes(),
    )
}

/// The session cookie (`name=value`) from a sign-in answer.
fn cookie_of(a: &Answer) -> String {
    let c = a.set_cookie.as_deref().expect("a session cookie");
    c.split(';').next().unwrap().to_string()
}

fn json(a: &Answer) -> serde_json::Value {
    serde_json::from_str(&a.body).unwrap_or_else(|e| panic!("{e}: {}", a.body))
}

/// One finished job (a one-slice DWI series, with patient identifiers), by the API.
fn one_done_job(svc_http: &str, dir: &Path) -> i64 {
    let files = dwi_series(dir, 77, 1);
    edit_files(&files, |o| {
        o.put(DataElement::new(
            tags::PATIENT_NAME,
            VR::PN,
            PrimitiveValue::from("Doe^Jane"),
        ));
        o.put(DataElement::new(
            tags::PATIENT_ID,
            VR::LO,
            PrimitiveValue::from("P-0042"),
        ));
    });
    let bytes = std::fs::read(&files[0]).unwrap();
    let (s, body) = post(&format!("{svc_http}/instances"), Some(TOKEN), &bytes);
    assert_eq!(s, 200, "{body}");
    let j = wait_for(svc_http, TOKEN, Duration::from_secs(30), |j| {
        !j.is_empty() && j.iter().all(|j| j["status"] == "done")
    });
    assert_eq!(j[0]["status"], "done", "{j:?}");
    j[0]["id"].as_i64().unwrap()
}

/// A concrete URL path for a route pattern.
fn concrete(path: &str, id: i64) -> String {
    path.replace("{id}", &id.to_string())
        .replace("{file}", "report.json")
        .replace("{name}", "app.css")
}

#[test]
fn every_route_in_the_table_is_refused_without_credentials_and_answers_with_them() {
    let tmp = tempfile::tempdir().unwrap();
    let p = Arc::new(FakeProcessor::new(Duration::ZERO));
    let svc = Service::start(config(&tmp.path().join("data")), p).unwrap();
    let http = format!("http://{}", svc.http_addr());
    let id = one_done_job(&http, &tmp.path().join("s"));
    let dicom = std::fs::read(&dwi_series(&tmp.path().join("t"), 78, 1)[0]).unwrap();
    assert!(ROUTES.len() >= 14, "the table lost routes: {ROUTES:?}");
    let mut public = 0;
    for route in ROUTES {
        let url = format!("{http}{}", concrete(route.path, id));
        let what = format!("{} {} ({})", route.method, route.path, route.what);
        if route.path == "/login" {
            public += 1;
            if route.method == "GET" {
                let a = call("GET", &url, &[], b"");
                assert_eq!(a.status, 200, "{what}");
                assert!(a.body.contains("<form"), "{what}: {}", a.body);
            } else {
                let t = Instant::now();
                let a = sign_in(&http, "not-a-token-at-all");
                assert_eq!(a.status, 401, "{what}");
                assert!(a.set_cookie.is_none(), "{what}: a wrong token got a cookie");
                assert!(t.elapsed() >= Duration::from_millis(350), "no pause");
            }
            continue;
        }
        let body: &[u8] = if route.path == "/instances" {
            &dicom
        } else {
            b""
        };
        for (how, headers) in [
            ("nothing", vec![]),
            (
                "a wrong token",
                vec![("Authorization", "Bearer not-the-token-000")],
            ),
            (
                "the token as Basic",
                vec![("Authorization", "Basic YWRtaW4=")],
            ),
            (
                "a made-up session cookie",
                vec![("Cookie", "strokeseg_session=00ff00ff00ff00ff")],
            ),
        ] {
            let a = call(route.method, &url, &headers, body);
            assert_eq!(a.status, 401, "{what} with {how}: {}", a.body);
            assert_eq!(a.www_authenticate.as_deref(), Some("Bearer"), "{what}");
            assert!(
                !a.body.contains("Doe") && !a.body.contains("P-0042"),
                "{what}"
            );
        }
        if route.method == "GET" {
            // A browser asking for a page is sent to the sign-in page, nothing more.
            let a = call("GET", &url, &[("Accept", "text/html")], b"");
            assert_eq!(
                (a.status, a.location.as_deref()),
                (303, Some("/login")),
                "{what}"
            );
            assert!(!a.body.contains("Doe"), "{what}");
        }
    }
    assert_eq!(public, 2, "only the sign-in page and its form are public");
    // Nothing was changed by the refused requests.
    let j = jobs(&http, TOKEN);
    assert_eq!(j.len(), 1, "a refused upload was stored: {j:?}");
    assert_eq!(
        (j[0]["status"].as_str(), j[0]["attempts"].as_i64()),
        (Some("done"), Some(1))
    );
    assert_eq!(j[0]["acknowledged"], false);
    // With the token every route answers (so the refusals above came from authentication,
    // not from a missing route).
    let bearer = format!("Bearer {TOKEN}");
    for route in ROUTES.iter().filter(|r| r.path != "/login") {
        let url = format!("{http}{}", concrete(route.path, id));
        let body: &[u8] = if route.path == "/instances" {
            &dicom
        } else {
            b""
        };
        let a = call(route.method, &url, &[("Authorization", &bearer)], body);
        assert_eq!(a.status, 200, "{} {}: {}", route.method, route.path, a.body);
    }
    svc.stop();
}

/// Reads an event stream on a thread: each `event:` line comes out of the channel; the
/// channel closes when the stream ends.
fn events(url: &str, cookie: &str) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let resp = agent.get(url).header("Cookie", cookie).call().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    std::thread::spawn(move || {
        let r = std::io::BufReader::new(resp.into_body().into_reader());
        for line in r.lines() {
            let Ok(line) = line else { break };
            if line.starts_with("event:") && tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

#[test]
fn sign_in_cookie_csrf_roles_events_and_sign_out() {
    let tmp = tempfile::tempdir().unwrap();
    let p = Arc::new(FakeProcessor::new(Duration::from_millis(1500)));
    let svc = Service::start(config(&tmp.path().join("data")), p).unwrap();
    let http = format!("http://{}", svc.http_addr());
    let id = one_done_job(&http, &tmp.path().join("s"));

    // Sign in as the reader: a cookie that is not the token, HttpOnly, SameSite=Strict, 12 h.
    let a = sign_in(&http, READER);
    assert_eq!((a.status, a.location.as_deref()), (303, Some("/")));
    let set = a.set_cookie.clone().unwrap();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(set.contains(part), "{part} missing: {set}");
    }
    assert!(!set.contains("Secure"), "secure_cookie is off by default");
    let cookie = cookie_of(&a);
    assert!(
        !cookie.contains(READER),
        "the cookie holds the token: {cookie}"
    );
    assert_eq!(cookie.len(), "strokeseg_session=".len() + 64, "{cookie}");
    let c = [("Cookie", cookie.as_str())];
    let s = json(&call("GET", &format!("{http}/session"), &c, b""));
    assert_eq!(
        (s["user"].as_str(), s["role"].as_str()),
        (Some("reader"), Some("read"))
    );
    let csrf = s["csrf"].as_str().unwrap().to_string();
    assert_eq!(csrf.len(), 64);

    // Pages and data with the cookie; patient identifiers in the data, not in the URLs.
    let page = call("GET", &format!("{http}/"), &c, b"");
    assert_eq!(page.status, 200);
    assert!(page.content_type.unwrap().starts_with("text/html"));
    assert!(page.csp.unwrap().contains("default-src 'self'"));
    let study = call("GET", &format!("{http}/studies/{id}"), &c, b"");
    assert_eq!(study.status, 200);
    let job = json(&call("GET", &format!("{http}/jobs/{id}"), &c, b""));
    assert_eq!(job["patient"]["patient_name"], "Doe^Jane");
    assert_eq!(job["patient"]["patient_id"], "P-0042");
    assert_eq!(job["acknowledged"], false);
    assert_eq!(
        call("GET", &format!("{http}/assets/niivue.js"), &c, b"").status,
        200
    );
    assert_eq!(
        call("GET", &format!("{http}/assets/..%2Fhttp.rs"), &c, b"").status,
        404
    );

    // The event stream: a first event at once, another when something changes.
    let ev = events(&format!("{http}/events"), &cookie);
    assert_eq!(
        ev.recv_timeout(Duration::from_secs(5)).unwrap(),
        "event: jobs"
    );

    // A change with the cookie needs the session's CSRF token.
    let ack = format!("{http}/jobs/{id}/ack");
    assert_eq!(call("POST", &ack, &c, b"").status, 403, "no CSRF header");
    let wrong = [("Cookie", cookie.as_str()), ("X-CSRF-Token", "00")];
    assert_eq!(
        call("POST", &ack, &wrong, b"").status,
        403,
        "wrong CSRF token"
    );
    let ok = [("Cookie", cookie.as_str()), ("X-CSRF-Token", csrf.as_str())];
    let a = call("POST", &ack, &ok, b"");
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(json(&a)["acknowledged_by"], "reader");
    assert_eq!(
        ev.recv_timeout(Duration::from_secs(5)).unwrap(),
        "event: jobs"
    );
    assert_eq!(
        json(&call("GET", &format!("{http}/jobs/{id}"), &c, b""))["acknowledged"],
        true
    );
    // Acknowledged per user: the administrator has not.
    let admin = [("Authorization", &*format!("Bearer {TOKEN}"))];
    assert_eq!(
        json(&call("GET", &format!("{http}/jobs/{id}"), &admin, b""))["acknowledged"],
        false
    );
    assert_eq!(
        call("POST", &format!("{http}/jobs/{}/ack", id + 50), &ok, b"").status,
        404
    );

    // A reader may not re-run; an administrator may, once, and the job runs again.
    let retry = format!("{http}/jobs/{id}/retry");
    assert_eq!(call("POST", &retry, &ok, b"").status, 403);
    let a = call("POST", &retry, &admin, b"");
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        call("POST", &retry, &admin, b"").status,
        409,
        "retried while queued"
    );
    let j = wait_for(&http, TOKEN, Duration::from_secs(30), |j| {
        j[0]["status"] == "done"
    });
    assert_eq!(
        (j[0]["status"].as_str(), j[0]["attempts"].as_i64()),
        (Some("done"), Some(2))
    );
    assert_eq!(
        json(&call("GET", &format!("{http}/jobs/{id}"), &c, b""))["acknowledged"],
        false
    );

    // Sign out: the cookie is cleared and dead, and the event stream ends.
    let a = call("POST", &format!("{http}/logout"), &c, b"");
    assert_eq!(
        a.status, 403,
        "sign-out with the cookie needs the CSRF header too"
    );
    let a = call("POST", &format!("{http}/logout"), &ok, b"");
    assert_eq!(a.status, 200);
    assert!(a.set_cookie.unwrap().contains("Max-Age=0"));
    assert_eq!(call("GET", &format!("{http}/jobs"), &c, b"").status, 401);
    let t = Instant::now();
    while ev.recv_timeout(Duration::from_secs(10)).is_ok() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the stream outlived the session"
        );
    }
    svc.stop();
}

#[test]
fn a_session_expires_after_session_hours() {
    let tmp = tempfile::tempdir().unwrap();
    let p = Arc::new(FakeProcessor::new(Duration::ZERO));
    let cfg = Config {
        session_hours: 1.5 / 3600.0,
        ..config(&tmp.path().join("data"))
    };
    let svc = Service::start(cfg, p).unwrap();
    let http = format!("http://{}", svc.http_addr());
    let a = sign_in(&http, TOKEN);
    assert!(
        a.set_cookie.as_deref().unwrap().contains("Max-Age=1"),
        "{:?}",
        a.set_cookie
    );
    let cookie = cookie_of(&a);
    let c = [("Cookie", cookie.as_str())];
    assert_eq!(call("GET", &format!("{http}/jobs"), &c, b"").status, 200);
    std::thread::sleep(Duration::from_millis(2000));
    assert_eq!(
        call("GET", &format!("{http}/jobs"), &c, b"").status,
        401,
        "an expired session still works"
    );
    svc.stop();
}
