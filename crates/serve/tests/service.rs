//! The service end to end with a fake processor: concurrency, non-DWI series, malformed
//! input, the token, path traversal, and a kill -9 in the middle of a job.

mod common;

use common::*;
use dicom_object::InMemDicomObject;
use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use strokeseg_serve::scu::{store_files, Scu};
use strokeseg_serve::{Config, Service};
use strokeseg_testkit::hostile_dicom::{before_pixel_data, huge_declared_length, nested_sequences};

const TOKEN: &str = "test-token-0123456789";

fn config(data: &Path, quiet: f64) -> Config {
    Config {
        data_dir: data.to_path_buf(),
        http_addr: "127.0.0.1:0".parse().unwrap(),
        dicom_addr: "127.0.0.1:0".parse().unwrap(),
        token: Some(TOKEN.into()),
        quiet_period_s: quiet,
        workers: 2,
        ..Config::default()
    }
}

fn start(data: &Path, quiet: f64, p: Arc<FakeProcessor>) -> (Service, String, String) {
    start_with(config(data, quiet), p)
}

fn start_with(cfg: Config, p: Arc<FakeProcessor>) -> (Service, String, String) {
    let svc = Service::start(cfg, p).unwrap();
    let http = format!("http://{}", svc.http_addr());
    let dicom = svc.dicom_addr().to_string();
    (svc, http, dicom)
}

#[test]
fn twenty_concurrent_studies_are_each_processed_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let p = Arc::new(FakeProcessor::new(Duration::from_millis(50)));
    let (svc, http, dicom) = start(&tmp.path().join("data"), 1.0, Arc::clone(&p));
    let mut studies = Vec::new();
    let mut handles = Vec::new();
    for s in 0..20u128 {
        let files = dwi_series(
            &tmp.path().join(format!("in{s}")),
            1000 + s,
            3 + (s as usize % 3),
        );
        studies.push((study_uid(&files[0]), files.len()));
        let dicom = dicom.clone();
        handles.push(std::thread::spawn(move || {
            let st = store_files(&dicom, "TESTSCU", "STROKESEG", &files).unwrap();
            assert!(st.iter().all(|(_, s)| s.status == 0), "{st:?}");
        }));
    }
    for h in handles {
        h.join().unwrap();
    }
    let j = wait_for(&http, TOKEN, Duration::from_secs(60), |j| {
        j.len() == 20 && all_finished(j)
    });
    assert_eq!(j.len(), 20, "{j:#?}");
    for (uid, n) in &studies {
        let job = job_of(&j, uid);
        assert_eq!(job["status"], "done", "{job}");
        assert_eq!(job["attempts"], 1);
        assert_eq!(job["n_dwi"], *n as i64);
        assert_eq!(
            job["summary"]["n_files"], *n as i64,
            "processor saw another file count"
        );
    }
    let calls = p.calls.lock().unwrap();
    assert_eq!(calls.len(), 20, "{calls:?}");
    assert!(
        calls.values().all(|&c| c == 1),
        "a study was processed more than once: {calls:?}"
    );
    drop(calls);
    // Sending a study again (same instances) creates no new work.
    let files = strokeseg_serve::scu::files_under(&tmp.path().join("in0")).unwrap();
    store_files(&dicom, "TESTSCU", "STROKESEG", &files).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(jobs(&http, TOKEN).len(), 20);
    svc.stop();
}

#[test]
fn non_dwi_series_are_stored_and_ignored_with_a_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let p = Arc::new(FakeProcessor::new(Duration::ZERO));
    let data = tmp.path().join("data");
    let (svc, http, dicom) = start(&data, 0.5, Arc::clone(&p));
    let ct = dwi_series(&tmp.path().join("ct"), 1, 3);
    make_ct(&ct);
    let t1 = t1_series(&tmp.path().join("t1"), 2, 4);
    // A study with both a DWI and a T1 series: only the DWI one is processed.
    let mut mixed = dwi_series(&tmp.path().join("mixed"), 3, 3);
    mixed.extend(t1_series(&tmp.path().join("mixed-t1"), 3, 5));
    for files in [&ct, &t1, &mixed] {
        let st = store_files(&dicom, "TESTSCU", "STROKESEG", files).unwrap();
        assert!(st.iter().all(|(_, s)| s.status == 0));
    }
    let j = wait_for(&http, TOKEN, Duration::from_secs(30), |j| {
        j.len() == 3 && all_finished(j)
    });
    let ct_job = job_of(&j, &study_uid(&ct[0]));
    assert_eq!(ct_job["status"], "ignored", "{ct_job}");
    assert_eq!(ct_job["n_other"], 3);
    let reason = ct_job["ignored_series"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("Modality CT is not MR"), "{reason}");
    let t1_job = job_of(&j, &study_uid(&t1[0]));
    assert_eq!(t1_job["status"], "ignored");
    let reason = t1_job["ignored_series"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("without diffusion") && reason.contains("T1 MPRAGE"),
        "{reason}"
    );
    let m = job_of(&j, &study_uid(&mixed[0]));
    assert_eq!(
        (
            m["status"].as_str(),
            m["n_dwi"].as_i64(),
            m["n_other"].as_i64()
        ),
        (Some("done"), Some(3), Some(5))
    );
    assert_eq!(
        m["summary"]["n_files"], 3,
        "the processor must see only the DWI instances"
    );
    assert_eq!(
        p.calls.lock().unwrap().len(),
        1,
        "ignored studies reached the processor"
    );
    // The ignored instances are kept.
    let kept = count_files(&data.join("studies").join(study_uid(&ct[0])).join("other"));
    assert_eq!(kept, 3);
    svc.stop();
}

#[test]
fn malformed_instances_are_rejected_and_the_listener_keeps_going() {
    let tmp = tempfile::tempdir().unwrap();
    let p = Arc::new(FakeProcessor::new(Duration::ZERO));
    let data = tmp.path().join("data");
    let (svc, http, dicom) = start(&data, 0.5, Arc::clone(&p));
    // 1. Raw garbage on the DICOM port: the connection is dropped.
    {
        let mut s = TcpStream::connect(&dicom).unwrap();
        let _ = s.write_all(b"GET / HTTP/1.1\r\n\r\nthis is not DICOM at all");
    }
    // 2. Within an association: garbage data set, then a data set with a path in its UID,
    //    then a good instance — the first two get failure statuses, the third succeeds.
    let good = dwi_series(&tmp.path().join("good"), 7, 2);
    let evil = dwi_series(&tmp.path().join("evil"), 8, 1);
    set_sop_uid(&evil[0], "../../../escaped");
    let class = "1.2.840.10008.5.1.4.1.1.4".to_string();
    let mut scu = Scu::connect(
        &dicom,
        "TESTSCU",
        "STROKESEG",
        &[(class.clone(), vec!["1.2.840.10008.1.2.1".into()])],
    )
    .unwrap();
    let st = scu
        .store_raw(
            &class,
            "1.2.3.4",
            b"\x08\x00\x16\x00garbage that is not a data set",
        )
        .unwrap();
    assert_ne!(st.status, 0, "garbage accepted");
    let evil_obj = dicom_object::open_file(&evil[0]).unwrap();
    let mut bytes = Vec::new();
    let ts = dicom_transfer_syntax_registry::entries::EXPLICIT_VR_LITTLE_ENDIAN.erased();
    InMemDicomObject::write_dataset_with_ts(&evil_obj, &mut bytes, &ts).unwrap();
    let st = scu.store_raw(&class, "1.2.3.5", &bytes).unwrap();
    assert_eq!(st.status, 0xC000, "{st:?}");
    assert!(st
        .comment
        .unwrap_or_default()
        .contains("not a valid DICOM UID"));
    for f in &good {
        let st = scu
            .store_object(&dicom_object::open_file(f).unwrap())
            .unwrap();
        assert_eq!(st.status, 0, "{st:?}");
    }
    scu.release().unwrap();
    // 3. A new association still works.
    let more = dwi_series(&tmp.path().join("more"), 9, 2);
    let st = store_files(&dicom, "TESTSCU", "STROKESEG", &more).unwrap();
    assert!(st.iter().all(|(_, s)| s.status == 0));
    let j = wait_for(&http, TOKEN, Duration::from_secs(30), |j| {
        j.len() == 2 && all_finished(j)
    });
    assert_eq!(j.len(), 2, "{j:#?}");
    assert!(j.iter().all(|j| j["status"] == "done"));
    assert!(!tmp.path().join("escaped.dcm").exists() && !data.join("escaped.dcm").exists());
    svc.stop();
}

#[test]
fn every_route_needs_the_token() {
    let tmp = tempfile::tempdir().unwrap();
    let p = Arc::new(FakeProcessor::new(Duration::ZERO));
    let (svc, http, _) = start(&tmp.path().join("data"), 0.3, p);
    let file = std::fs::read(&dwi_series(&tmp.path().join("s"), 11, 1)[0]).unwrap();
    for route in [
        "/jobs",
        "/jobs/1",
        "/jobs/1/report.json",
        "/jobs/1/overlay.png",
        "/jobs/1/mask",
        "/nowhere",
    ] {
        assert_eq!(
            get(&format!("{http}{route}"), None).0,
            401,
            "{route} without token"
        );
        assert_eq!(
            get(&format!("{http}{route}"), Some("wrong-token-xxxxxxxxx")).0,
            401,
            "{route} wrong token"
        );
    }
    assert_eq!(post(&format!("{http}/instances"), None, &file).0, 401);
    assert_eq!(
        post(
            &format!("{http}/instances"),
            Some("test-token-012345678"),
            &file
        )
        .0,
        401,
        "prefix of the token"
    );
    assert!(
        jobs(&http, TOKEN).is_empty(),
        "an unauthorised upload was stored"
    );
    // With the token: upload, wait, fetch the files.
    let (s, body) = post(&format!("{http}/instances"), Some(TOKEN), &file);
    assert_eq!(s, 200, "{body}");
    let id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["job_id"]
        .as_i64()
        .unwrap();
    wait_for(&http, TOKEN, Duration::from_secs(30), all_finished);
    let (s, report) = get(&format!("{http}/jobs/{id}/report.json"), Some(TOKEN));
    assert_eq!((s, report.as_str()), (200, "{\"n_files\":1}"));
    assert_eq!(get(&format!("{http}/jobs/{id}/mask"), Some(TOKEN)).0, 200);
    assert_eq!(
        get(&format!("{http}/jobs/{id}/overlay.png"), Some(TOKEN)).0,
        200
    );
    assert_eq!(
        get(&format!("{http}/jobs/{id}/jobs.sqlite"), Some(TOKEN)).0,
        404
    );
    svc.stop();
}

#[test]
fn uploads_and_urls_cannot_reach_outside_the_data_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let p = Arc::new(FakeProcessor::new(Duration::ZERO));
    let data = tmp.path().join("srv").join("data");
    let (svc, http, _) = start(&data, 0.3, p);
    let files = dwi_series(&tmp.path().join("s"), 21, 3);
    let evil: [(&str, dicom_core::Tag); 3] = [
        (
            "../../../../escaped-sop",
            dicom_dictionary_std::tags::SOP_INSTANCE_UID,
        ),
        ("..", dicom_dictionary_std::tags::STUDY_INSTANCE_UID),
        (
            "1.2/../../escaped-series",
            dicom_dictionary_std::tags::SERIES_INSTANCE_UID,
        ),
    ];
    for ((uid, tag), f) in evil.iter().zip(&files) {
        edit_files(std::slice::from_ref(f), |o| {
            o.put(dicom_core::DataElement::new(
                *tag,
                dicom_core::VR::UI,
                dicom_core::PrimitiveValue::from(*uid),
            ));
        });
        let (s, body) = post(
            &format!("{http}/instances"),
            Some(TOKEN),
            &std::fs::read(f).unwrap(),
        );
        assert_eq!(s, 400, "{uid}: {body}");
        assert!(body.contains("not a valid DICOM UID"), "{body}");
    }
    // Not DICOM at all.
    let (s, body) = post(
        &format!("{http}/instances"),
        Some(TOKEN),
        b"PK\x03\x04 a zip, not DICOM",
    );
    assert_eq!(s, 400, "{body}");
    // Traversal in URLs: ids are integers, file names a fixed list.
    for route in [
        "/jobs/..%2F..%2Fetc/report.json",
        "/jobs/1/..%2F..%2Fjobs.sqlite",
        "/jobs/1/..%2Ftoken",
        "/jobs/-1/report.json",
    ] {
        let (s, _) = get(&format!("{http}{route}"), Some(TOKEN));
        assert!(s == 400 || s == 404, "{route}: {s}");
    }
    let names: Vec<_> = walk(tmp.path())
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("escaped"))
        .collect();
    assert!(
        names.is_empty(),
        "files written from hostile UIDs: {names:?}"
    );
    assert!(jobs(&http, TOKEN).is_empty());
    svc.stop();
}

/// The data set of a Part-10 file (no preamble or meta group), explicit VR little endian, as
/// C-STORE carries it.
fn dataset_bytes(file: &Path) -> Vec<u8> {
    let obj = dicom_object::open_file(file).unwrap();
    let mut ds = Vec::new();
    let ts = dicom_transfer_syntax_registry::entries::EXPLICIT_VR_LITTLE_ENDIAN.erased();
    InMemDicomObject::write_dataset_with_ts(&obj, &mut ds, &ts).unwrap();
    ds
}

fn walk(d: &Path) -> Vec<std::path::PathBuf> {
    strokeseg_serve::scu::files_under(d).unwrap()
}

/// Not a test on its own: the server process for the kill test (run by it, with
/// STROKESEG_SERVE_CHILD set to the data folder).
#[test]
#[ignore = "child process of kill9_mid_job_then_restart_completes_every_job"]
fn child_server() {
    let Some(data) = std::env::var_os("STROKESEG_SERVE_CHILD") else {
        return;
    };
    let data = std::path::PathBuf::from(data);
    let log = data.join("processed.log");
    struct Logged(FakeProcessor, std::path::PathBuf);
    impl strokeseg_serve::Processor for Logged {
        fn process(
            &self,
            study: &Path,
            out: &Path,
        ) -> Result<strokeseg_serve::JobResult, strokeseg_serve::ServeError> {
            let line = |what: &str| {
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .create(true)
                    .open(&self.1)
                    .unwrap();
                // One write per line: `writeln!` may issue several, and two workers'
                // lines then interleave ("startstart A\n B").
                let uid = study.parent().unwrap().file_name().unwrap();
                let text = format!("{what} {}\n", uid.to_string_lossy());
                f.write_all(text.as_bytes()).unwrap();
            };
            line("start");
            let r = self.0.process(study, out);
            line("end");
            r
        }
    }
    let p = Arc::new(Logged(FakeProcessor::new(Duration::from_millis(1500)), log));
    let svc = Service::start(config(&data, 0.5), p).unwrap();
    std::fs::write(
        data.join("addr.tmp"),
        format!("{} {}", svc.http_addr(), svc.dicom_addr()),
    )
    .unwrap();
    std::fs::rename(data.join("addr.tmp"), data.join("addr")).unwrap();
    std::thread::sleep(Duration::from_secs(120));
}

/// A child server, killed with SIGKILL when dropped (also when an assertion fails).
struct ChildServer(std::process::Child);
impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_child(data: &Path) -> (ChildServer, String, String) {
    let _ = std::fs::remove_file(data.join("addr"));
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_server", "--ignored", "--nocapture"])
        .env("STROKESEG_SERVE_CHILD", data)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let child = ChildServer(child);
    let t = std::time::Instant::now();
    while !data.join("addr").exists() {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "child server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let a = std::fs::read_to_string(data.join("addr")).unwrap();
    let (h, d) = a.split_once(' ').unwrap();
    (child, format!("http://{h}"), d.to_string())
}

#[test]
fn kill9_mid_job_then_restart_completes_every_job() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let (child, http, dicom) = spawn_child(&data);
    let mut uids = Vec::new();
    for s in 0..4u128 {
        let files = dwi_series(&tmp.path().join(format!("s{s}")), 500 + s, 2);
        uids.push(study_uid(&files[0]));
        assert!(store_files(&dicom, "TESTSCU", "STROKESEG", &files)
            .unwrap()
            .iter()
            .all(|(_, s)| s.status == 0));
    }
    let j = wait_for(&http, TOKEN, Duration::from_secs(30), |j| {
        j.iter().any(|j| j["status"] == "processing")
    });
    let interrupted: Vec<String> = j
        .iter()
        .filter(|j| j["status"] == "processing")
        .map(|j| j["study_uid"].as_str().unwrap().to_string())
        .collect();
    assert!(!interrupted.is_empty(), "no job started: {j:#?}");
    drop(child); // SIGKILL on Unix
    let (child, http, _) = spawn_child(&data);
    let j = wait_for(&http, TOKEN, Duration::from_secs(60), |j| {
        j.len() == 4 && j.iter().all(|j| j["status"] == "done")
    });
    drop(child);
    assert!(
        j.len() == 4 && j.iter().all(|j| j["status"] == "done"),
        "{j:#?}"
    );
    let log = std::fs::read_to_string(data.join("processed.log")).unwrap();
    for uid in &uids {
        let ends = log.lines().filter(|l| *l == format!("end {uid}")).count();
        assert_eq!(ends, 1, "study {uid} completed {ends} times:\n{log}");
    }
    for uid in &interrupted {
        let starts = log.lines().filter(|l| *l == format!("start {uid}")).count();
        assert_eq!(starts, 2, "interrupted study {uid} was not re-run:\n{log}");
        assert_eq!(job_of(&j, uid)["attempts"], 2);
    }
}

/// Issue 16 items 1 and 2: one unauthenticated C-STORE with 2,000 nested sequences aborted
/// the whole service (stack overflow), and an element declaring 0xFFFFFFF0 bytes made it
/// allocate 4 GB. Both kinds, by C-STORE and by HTTP upload, are refused with a reason, and the
/// service goes on to process a normal study.
#[test]
fn hostile_instances_are_refused_and_the_service_lives_on() {
    let tmp = tempfile::tempdir().unwrap();
    let p = Arc::new(FakeProcessor::new(Duration::ZERO));
    let data = tmp.path().join("data");
    let (svc, http, dicom) = start(&data, 0.5, Arc::clone(&p));
    let src = dwi_series(&tmp.path().join("src"), 31, 1);
    let ds = dataset_bytes(&src[0]);
    let huge = huge_declared_length();
    let hostile = [
        (
            before_pixel_data(&ds, &nested_sequences(2000)),
            "nested deeper",
        ),
        // (the DIMSE error comment is an LO: 64 characters at most)
        (before_pixel_data(&ds, &huge), "declares 4294"),
    ];
    let class = "1.2.840.10008.5.1.4.1.1.4".to_string();
    let mut scu = Scu::connect(
        &dicom,
        "TESTSCU",
        "STROKESEG",
        &[(class.clone(), vec!["1.2.840.10008.1.2.1".into()])],
    )
    .unwrap();
    for (i, (bytes, why)) in hostile.iter().enumerate() {
        let st = scu
            .store_raw(&class, &format!("1.2.3.{}", 10 + i), bytes)
            .unwrap();
        assert_ne!(st.status, 0, "hostile data set accepted");
        assert!(
            st.comment.clone().unwrap_or_default().contains(why),
            "{st:?}"
        );
    }
    scu.release().unwrap();
    let file = std::fs::read(&src[0]).unwrap();
    for (bytes, why) in [
        (
            before_pixel_data(&file, &nested_sequences(2000)),
            "nested deeper than",
        ),
        (before_pixel_data(&file, &huge), "declares 4294967280 bytes"),
    ] {
        let (s, body) = post(&format!("{http}/instances"), Some(TOKEN), &bytes);
        assert_eq!(s, 400, "{body}");
        assert!(body.contains(why), "{body}");
    }
    let good = dwi_series(&tmp.path().join("good"), 32, 2);
    let st = store_files(&dicom, "TESTSCU", "STROKESEG", &good).unwrap();
    assert!(st.iter().all(|(_, s)| s.status == 0));
    let j = wait_for(&http, TOKEN, Duration::from_secs(30), |j| {
        j.len() == 1 && all_finished(j)
    });
    assert_eq!(j.len(), 1, "{j:#?}");
    assert_eq!(j[0]["status"], "done");
    svc.stop();
}

/// Issue 16 item 15: 300 idle connections made 308 threads; a request declaring a body over the
/// limit was held open. Associations beyond `max_associations` are rejected at once, and come
/// back when one closes; an oversize declared body gets 413 without sending it.
#[test]
fn association_cap_and_declared_oversize_bodies_are_refused_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let p = Arc::new(FakeProcessor::new(Duration::ZERO));
    let cfg = Config {
        max_associations: 2,
        max_upload_mib: 1,
        ..config(&tmp.path().join("data"), 0.5)
    };
    let svc = Service::start(cfg, p).unwrap();
    let dicom = svc.dicom_addr().to_string();
    let class = "1.2.840.10008.5.1.4.1.1.4".to_string();
    let ctx = || vec![(class.clone(), vec!["1.2.840.10008.1.2.1".to_string()])];
    let a = Scu::connect(&dicom, "TESTSCU", "STROKESEG", &ctx()).unwrap();
    let b = Scu::connect(&dicom, "TESTSCU", "STROKESEG", &ctx()).unwrap();
    let third = Scu::connect(&dicom, "TESTSCU", "STROKESEG", &ctx());
    assert!(third.is_err(), "a third association was accepted");
    a.release().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let c = Scu::connect(&dicom, "TESTSCU", "STROKESEG", &ctx()).expect("room again");
    c.release().unwrap();
    b.release().unwrap();

    let mut s = TcpStream::connect(svc.http_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "POST /instances HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 999999999999\r\n\r\n"
    )
    .unwrap();
    let mut head = [0u8; 64];
    let n = std::io::Read::read(&mut s, &mut head).expect("an answer without sending the body");
    let head = String::from_utf8_lossy(&head[..n]);
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    svc.stop();
}

/// Issue 16 item 14: a SOP Instance UID resent with different content used to overwrite the
/// stored instance of a finished study silently. Policy: an identical resend is a harmless
/// duplicate; a different one is refused (HTTP 409, C-STORE 0x0111) and the first copy kept.
#[test]
fn a_resent_instance_with_different_content_is_refused_and_the_first_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let p = Arc::new(FakeProcessor::new(Duration::ZERO));
    let data = tmp.path().join("data");
    let (svc, http, dicom) = start(&data, 0.3, Arc::clone(&p));
    let files = dwi_series(&tmp.path().join("s"), 31, 3);
    let st = store_files(&dicom, "TESTSCU", "STROKESEG", &files).unwrap();
    assert!(st.iter().all(|(_, s)| s.status == 0));
    let j = wait_for(&http, TOKEN, Duration::from_secs(30), |j| {
        j.len() == 1 && all_finished(j)
    });
    assert_eq!(j[0]["status"], "done", "{j:?}");
    let stored_before: Vec<(std::path::PathBuf, Vec<u8>)> = walk(&data.join("studies"))
        .into_iter()
        .filter(|f| f.is_file())
        .map(|f| {
            let b = std::fs::read(&f).unwrap();
            (f, b)
        })
        .collect();
    assert_eq!(stored_before.len(), 3);

    // The same bytes again: accepted as a duplicate, by HTTP and by C-STORE.
    let (s, body) = post(
        &format!("{http}/instances"),
        Some(TOKEN),
        &std::fs::read(&files[0]).unwrap(),
    );
    assert_eq!(s, 200, "{body}");
    let st = store_files(&dicom, "TESTSCU", "STROKESEG", &files[..1]).unwrap();
    assert_eq!(st[0].1.status, 0);

    // Different content under the same SOP Instance UID: refused, named, first copy kept.
    edit_files(&files[..1], |o| {
        o.put(dicom_core::DataElement::new(
            dicom_dictionary_std::tags::SERIES_DESCRIPTION,
            dicom_core::VR::LO,
            dicom_core::PrimitiveValue::from("edited after the result"),
        ));
    });
    let (s, body) = post(
        &format!("{http}/instances"),
        Some(TOKEN),
        &std::fs::read(&files[0]).unwrap(),
    );
    assert_eq!(s, 409, "{body}");
    assert!(
        body.contains("already received with different content"),
        "{body}"
    );
    let st = store_files(&dicom, "TESTSCU", "STROKESEG", &files[..1]).unwrap();
    assert_eq!(st[0].1.status, 0x0111, "C-STORE: Duplicate SOP Instance");
    for (f, b) in &stored_before {
        assert_eq!(&std::fs::read(f).unwrap(), b, "{} changed", f.display());
    }
    // No new job, and the finished one was not re-run.
    std::thread::sleep(Duration::from_millis(800));
    let j = jobs(&http, TOKEN);
    assert_eq!((j.len(), j[0]["status"].as_str()), (1, Some("done")));
    assert_eq!(p.calls.lock().unwrap().len(), 1);
    svc.stop();
}

/// Issue 16, resource limits: the memory per study is bounded by `max_study_mib`. Past it,
/// instances are refused (C-STORE 0xA700, HTTP 413) and the study's job fails with the
/// reason instead of a part of the study being processed as if it were all of it.
#[test]
fn a_study_over_max_study_mib_is_refused_and_its_job_fails_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let p = Arc::new(FakeProcessor::new(Duration::ZERO));
    let data = tmp.path().join("data");
    let cfg = Config {
        max_study_mib: 1,
        ..config(&data, 0.3)
    };
    let (svc, http, dicom) = start_with(cfg, Arc::clone(&p));
    // Four instances of 400 KB each (a private padding element): the third passes 1 MiB.
    let files = dwi_series(&tmp.path().join("s"), 41, 4);
    edit_files(&files, |o| {
        o.put(dicom_core::DataElement::new(
            dicom_core::Tag(0x0029, 0x0010),
            dicom_core::VR::LO,
            dicom_core::PrimitiveValue::from("STROKESEG TEST"),
        ));
        o.put(dicom_core::DataElement::new(
            dicom_core::Tag(0x0029, 0x1010),
            dicom_core::VR::OB,
            dicom_core::PrimitiveValue::from(vec![0u8; 400_000]),
        ));
    });
    let st = store_files(&dicom, "TESTSCU", "STROKESEG", &files[..3]).unwrap();
    let codes: Vec<u16> = st.iter().map(|(_, s)| s.status).collect();
    assert_eq!(codes, [0, 0, 0xA700], "{st:?}");
    let (s, body) = post(
        &format!("{http}/instances"),
        Some(TOKEN),
        &std::fs::read(&files[3]).unwrap(),
    );
    assert_eq!(s, 413, "{body}");
    assert!(body.contains("max_study_mib"), "{body}");
    let j = wait_for(&http, TOKEN, Duration::from_secs(30), |j| {
        j.len() == 1 && all_finished(j)
    });
    assert_eq!(j[0]["status"], "failed", "{j:?}");
    let err = j[0]["error"].as_str().unwrap_or_default();
    assert!(err.contains("max_study_mib = 1 MiB"), "{err}");
    assert!(
        p.calls.lock().unwrap().is_empty(),
        "a partial study was processed"
    );
    // Only what fitted was kept.
    let stored = walk(&data.join("studies"))
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "dcm"))
        .count();
    assert_eq!(stored, 2);
    svc.stop();
}

/// Peak resident memory of this test process (VmHWM), in MB; `None` off Linux.
fn peak_rss_mb() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = s
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// Issue 16, "done when": 20 hostile instances at once (2,000 nested sequences; a 4 GB
/// declared length), by C-STORE and by HTTP, while a normal study arrives: every hostile one
/// is refused, memory stays bounded (one of them used to take 4.2 GB), and the normal study
/// is processed.
#[test]
fn twenty_hostile_instances_at_once_leave_memory_bounded_and_a_normal_study_processed() {
    let tmp = tempfile::tempdir().unwrap();
    let p = Arc::new(FakeProcessor::new(Duration::ZERO));
    let data = tmp.path().join("data");
    let (svc, http, dicom) = start(&data, 0.5, Arc::clone(&p));
    let src = dwi_series(&tmp.path().join("src"), 41, 1);
    let ds = dataset_bytes(&src[0]);
    let file = std::fs::read(&src[0]).unwrap();
    let kinds = [nested_sequences(2000), huge_declared_length()];
    let before = peak_rss_mb();
    let good = dwi_series(&tmp.path().join("good"), 42, 3);
    std::thread::scope(|s| {
        let mut handles = Vec::new();
        for i in 0..20usize {
            let insert = &kinds[i % 2];
            let (ds, file, dicom, http) = (&ds, &file, &dicom, &http);
            handles.push(s.spawn(move || {
                if i < 10 {
                    let class = "1.2.840.10008.5.1.4.1.1.4".to_string();
                    let mut scu = Scu::connect(
                        dicom,
                        "TESTSCU",
                        "STROKESEG",
                        &[(class.clone(), vec!["1.2.840.10008.1.2.1".into()])],
                    )
                    .unwrap();
                    let st = scu
                        .store_raw(
                            &class,
                            &format!("1.2.3.4.{i}"),
                            &before_pixel_data(ds, insert),
                        )
                        .unwrap();
                    let _ = scu.release();
                    st.status != 0
                } else {
                    let bytes = before_pixel_data(file, insert);
                    post(&format!("{http}/instances"), Some(TOKEN), &bytes).0 == 400
                }
            }));
        }
        let st = store_files(&dicom, "TESTSCU", "STROKESEG", &good).unwrap();
        assert!(st.iter().all(|(_, s)| s.status == 0), "{st:?}");
        let refused = handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|&r| r)
            .count();
        assert_eq!(refused, 20, "every hostile instance is refused");
    });
    let j = wait_for(&http, TOKEN, Duration::from_secs(30), |j| {
        j.len() == 1 && all_finished(j)
    });
    assert_eq!(j.len(), 1, "only the normal study became a job: {j:#?}");
    assert_eq!(j[0]["status"], "done");
    if let (Some(a), Some(b)) = (before, peak_rss_mb()) {
        eprintln!("peak RSS {a:.0} MB before, {b:.0} MB after the 20 hostile instances");
        assert!(b - a < 1024.0, "peak memory grew by {:.0} MB", b - a);
    }
    svc.stop();
}

/// A peer that streams one instance past `max_upload_mib` (or never ends it) is cut off with
/// an A-ABORT at the limit instead of being buffered without bound; the service goes on.
#[test]
fn a_c_store_instance_over_max_upload_mib_is_aborted_at_the_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let p = Arc::new(FakeProcessor::new(Duration::ZERO));
    let cfg = Config {
        max_upload_mib: 1,
        ..config(&tmp.path().join("data"), 0.5)
    };
    let (svc, http, dicom) = start_with(cfg, p);
    let class = "1.2.840.10008.5.1.4.1.1.4".to_string();
    let mut scu = Scu::connect(
        &dicom,
        "TESTSCU",
        "STROKESEG",
        &[(class.clone(), vec!["1.2.840.10008.1.2.1".into()])],
    )
    .unwrap();
    let big = vec![0u8; 3 << 20];
    let r = scu.store_raw(&class, "1.2.3.99", &big);
    let e = r.expect_err("a 3 MiB instance was taken with max_upload_mib = 1");
    let e = format!("{e:#}");
    assert!(
        ["abort", "onnection", "pipe", "send"]
            .iter()
            .any(|w| e.contains(w)),
        "{e}"
    );
    // The listener lives on.
    let good = dwi_series(&tmp.path().join("good"), 41, 2);
    let st = store_files(&dicom, "TESTSCU", "STROKESEG", &good).unwrap();
    assert!(st.iter().all(|(_, s)| s.status == 0));
    let j = wait_for(&http, TOKEN, Duration::from_secs(30), |j| {
        j.len() == 1 && all_finished(j)
    });
    assert_eq!(j.len(), 1, "{j:#?}");
    svc.stop();
}
