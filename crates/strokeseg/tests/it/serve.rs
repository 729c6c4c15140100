//! `strokeseg serve` with the real model, and the PACS round trip: Orthanc (Debian packages
//! `orthanc`, `orthanc-dicomweb`) is started here on loopback ports with a generated
//! configuration; a DWI series goes to `strokeseg serve` by C-STORE; after processing, the
//! SEG and Secondary Capture series must be in Orthanc (checked through DICOMweb). Skipped
//! with a visible message where Orthanc or its DICOMweb plugin is not installed.

use super::util::*;
use std::io::BufRead;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use strokeseg_io::dicom::{write_mr_series, SeriesWriteOptions};

const TOKEN: &str = "serve-test-token-42";
const SEG_CLASS: &str = "1.2.840.10008.5.1.4.1.1.66.4";

/// Kills the child when dropped (also when an assertion fails).
pub(super) struct Killed(pub(super) Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(super) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// GET → (status, body).
fn get(url: &str, token: Option<&str>) -> (u16, String) {
    let mut r = agent()
        .get(url)
        .header("Accept", "application/dicom+json, application/json");
    if let Some(t) = token {
        r = r.header("Authorization", &format!("Bearer {t}"));
    }
    match r.call() {
        Ok(mut resp) => (
            resp.status().as_u16(),
            resp.body_mut().read_to_string().unwrap_or_default(),
        ),
        Err(e) => (0, e.to_string()),
    }
}

fn find_orthanc() -> Result<(PathBuf, PathBuf), String> {
    // $STROKESEG_ORTHANC names the executable (and, set to a missing file, forces the skip).
    let exe = match std::env::var_os("STROKESEG_ORTHANC") {
        Some(p) => Some(PathBuf::from(p)).filter(|p| p.is_file()),
        None => {
            let path = std::env::var_os("PATH").unwrap_or_default();
            std::env::split_paths(&path)
                .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
                .map(|d| d.join("Orthanc"))
                .find(|p| p.is_file())
        }
    }
    .ok_or("Orthanc not installed (apt-get install orthanc orthanc-dicomweb)")?;
    let plugin = PathBuf::from("/usr/share/orthanc/plugins/libOrthancDicomWeb.so");
    if !plugin.is_file() {
        return Err(format!(
            "{} missing (apt-get install orthanc-dicomweb)",
            plugin.display()
        ));
    }
    Ok((exe, plugin))
}

/// Starts Orthanc on free loopback ports; returns it with (HTTP port, DICOM port).
fn start_orthanc(dir: &Path, exe: &Path, plugin: &Path) -> (Killed, u16, u16) {
    let (http, dicom) = (free_port(), free_port());
    std::fs::create_dir_all(dir.join("storage")).unwrap();
    let cfg = serde_json::json!({
        "Name": "strokeseg-test",
        "StorageDirectory": dir.join("storage"),
        "IndexDirectory": dir.join("storage"),
        "HttpPort": http,
        "DicomPort": dicom,
        "DicomAet": "ORTHANC",
        "RemoteAccessAllowed": false,
        "AuthenticationEnabled": false,
        "DicomAlwaysAllowStore": true,
        "DicomCheckCalledAet": false,
        "Plugins": [plugin],
        "DicomWeb": {"Enable": true, "Root": "/dicom-web/"},
    });
    let path = dir.join("orthanc.json");
    std::fs::write(&path, serde_json::to_string_pretty(&cfg).unwrap()).unwrap();
    let log = std::fs::File::create(dir.join("orthanc.log")).unwrap();
    let child = Command::new(exe)
        .arg(&path)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start Orthanc");
    let orthanc = Killed(child);
    let t = Instant::now();
    while get(&format!("http://127.0.0.1:{http}/system"), None).0 != 200 {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "Orthanc did not start: {}",
            std::fs::read_to_string(dir.join("orthanc.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    (orthanc, http, dicom)
}

/// Starts `strokeseg serve` with `config`; returns it and its (HTTP URL, DICOM address).
fn start_serve(config: &Path) -> (Killed, String, String) {
    start_serve_logging(config, Stdio::inherit())
}

/// [`start_serve`] with its log (stderr) going to `log`.
pub(super) fn start_serve_logging(config: &Path, log: Stdio) -> (Killed, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_strokeseg"))
        .args(["serve", "--config", s(config)])
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("start strokeseg serve");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            println!("serve: {line}");
            let _ = tx.send(line);
        }
    });
    let child = Killed(child);
    let line = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("strokeseg serve printed no address line");
    let field = |k: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(k))
            .unwrap_or_else(|| panic!("no {k} in {line:?}"))
            .to_string()
    };
    let dicom = field("dicom=");
    let dicom = dicom.split_once('@').map(|(_, a)| a.to_string()).unwrap();
    (child, field("http="), dicom)
}

/// A head-phantom DWI series (b = 1000) as classic MR files.
fn dwi_study(dir: &Path) -> Vec<PathBuf> {
    let opts = SeriesWriteOptions {
        b_value: Some(1000.0),
        series_description: "ep2d_diff TRACEW".into(),
        ..SeriesWriteOptions::from_seed(4242)
    };
    write_mr_series(dir, &head().dwi, &opts).unwrap()
}

#[test]
fn orthanc_round_trip_gets_seg_and_secondary_capture() {
    let (exe, plugin) = match find_orthanc() {
        Ok(x) => x,
        Err(why) => return eprintln!("SKIPPED: Orthanc round trip: {why}"),
    };
    let d = tempfile::tempdir().unwrap();
    let (_orthanc, o_http, o_dicom) = start_orthanc(&d.path().join("orthanc"), &exe, &plugin);
    let config = d.path().join("serve.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {data:?}\nhttp_addr = \"127.0.0.1:0\"\ndicom_addr = \"127.0.0.1:0\"\n\
             token = \"{TOKEN}\"\nquiet_period_s = 1.0\n\n\
             [forward.dicom]\naddress = \"127.0.0.1:{o_dicom}\"\nae_title = \"ORTHANC\"\n\n\
             [forward.stow]\nurl = \"http://127.0.0.1:{o_http}/dicom-web\"\n",
            data = d.path().join("data").display().to_string()
        ),
    )
    .unwrap();
    let (_serve, http, dicom) = start_serve(&config);
    let files = dwi_study(&d.path().join("dwi"));
    let st = strokeseg_serve::scu::store_files(&dicom, "TESTSCU", "STROKESEG", &files).unwrap();
    assert!(st.iter().all(|(_, s)| s.status == 0), "{st:?}");
    let study_uid = SeriesWriteOptions::from_seed(4242).study_uid;

    // Wait for the job.
    let t = Instant::now();
    let job = loop {
        let (code, body) = get(&format!("{http}/jobs"), Some(TOKEN));
        assert_eq!(code, 200, "{body}");
        let jobs: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
        if let Some(j) = jobs
            .iter()
            .find(|j| matches!(j["status"].as_str(), Some("done" | "failed" | "ignored")))
        {
            break j.clone();
        }
        assert!(
            t.elapsed() < Duration::from_secs(600),
            "no result after 10 min: {jobs:#?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(job["status"], "done", "{job:#}");
    assert_eq!(job["study_uid"], study_uid.as_str());
    assert_eq!(job["n_dwi"], files.len() as i64);
    assert_eq!(job["forward"]["dicom"]["ok"], true, "{job:#}");
    assert_eq!(job["forward"]["stow"]["ok"], true, "{job:#}");
    let id = job["id"].as_i64().unwrap();
    let (code, report) = get(&format!("{http}/jobs/{id}/report.json"), Some(TOKEN));
    assert_eq!(code, 200);
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    crate::util::assert_report_valid(&report);
    assert_eq!(report["research_use_only"], true);
    assert_eq!(
        get(&format!("{http}/jobs/{id}/key_images.png"), Some(TOKEN)).0,
        200
    );
    assert_eq!(
        get(&format!("{http}/jobs/{id}/overlay.png"), Some(TOKEN)).0,
        200
    );
    assert_eq!(get(&format!("{http}/jobs/{id}/report.json"), None).0, 401);

    // Orthanc now holds the SEG and SC series of the study (QIDO-RS, then metadata).
    let base = format!("http://127.0.0.1:{o_http}/dicom-web");
    let (code, body) = get(&format!("{base}/studies/{study_uid}/series"), None);
    assert_eq!(code, 200, "{body}");
    let series: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    let uid_of = |s: &serde_json::Value| {
        s["0020000E"]["Value"][0]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let uids: Vec<String> = series.iter().map(uid_of).collect();
    for key in ["seg_series_uid", "sc_series_uid"] {
        let want = job["summary"][key].as_str().unwrap();
        assert!(
            uids.iter().any(|u| u == want),
            "{key} {want} not in Orthanc: {uids:?}"
        );
    }
    let seg_uid = job["summary"]["seg_series_uid"].as_str().unwrap();
    let (code, body) = get(
        &format!("{base}/studies/{study_uid}/series/{seg_uid}/metadata"),
        None,
    );
    assert_eq!(code, 200, "{body}");
    let meta: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(
        meta[0]["00080016"]["Value"][0], SEG_CLASS,
        "not a SEG: {}",
        meta[0]
    );
    assert_eq!(meta[0]["00080060"]["Value"][0], "SEG");
    // The source DWI was not sent to Orthanc (only our results).
    assert_eq!(series.len(), 2, "{uids:?}");
}

/// The job list of a running service.
fn jobs(http: &str) -> Vec<serde_json::Value> {
    let (code, body) = get(&format!("{http}/jobs"), Some(TOKEN));
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

fn wait_jobs(
    http: &str,
    what: &str,
    ok: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    let t = Instant::now();
    loop {
        let j = jobs(http);
        if ok(&j) {
            return j;
        }
        assert!(
            t.elapsed() < Duration::from_secs(300),
            "timed out waiting for {what}: {j:#?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn serve_binary_killed_mid_job_finishes_every_job_after_restart() {
    let d = tempfile::tempdir().unwrap();
    let config = d.path().join("serve.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\nhttp_addr = \"127.0.0.1:0\"\ndicom_addr = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\nquiet_period_s = 0.5\n",
            d.path().join("data").display().to_string()
        ),
    )
    .unwrap();
    let (serve, http, dicom) = start_serve(&config);
    for seed in [7u128, 8] {
        let opts = SeriesWriteOptions {
            b_value: Some(1000.0),
            ..SeriesWriteOptions::from_seed(seed)
        };
        let files =
            write_mr_series(&d.path().join(format!("s{seed}")), &head().dwi, &opts).unwrap();
        let st = strokeseg_serve::scu::store_files(&dicom, "TESTSCU", "STROKESEG", &files).unwrap();
        assert!(st.iter().all(|(_, s)| s.status == 0));
    }
    let j = wait_jobs(&http, "a job in progress", |j| {
        j.iter().any(|j| j["status"] == "processing")
    });
    let interrupted = j.iter().find(|j| j["status"] == "processing").unwrap()["id"].clone();
    drop(serve); // SIGKILL
    let (_serve, http, _) = start_serve(&config);
    let j = wait_jobs(&http, "both jobs done", |j| {
        j.len() == 2 && j.iter().all(|j| j["status"] == "done")
    });
    for job in &j {
        let id = job["id"].as_i64().unwrap();
        let want = if job["id"] == interrupted { 2 } else { 1 };
        assert_eq!(job["attempts"], want, "{job:#}");
        let (code, body) = get(&format!("{http}/jobs/{id}/report.json"), Some(TOKEN));
        assert_eq!(code, 200, "{body}");
    }
}

#[test]
fn serve_rejects_a_bad_config_with_exit_code_2() {
    let d = tempfile::tempdir().unwrap();
    let config = d.path().join("serve.toml");
    std::fs::write(&config, "quiet_perod_s = 3\n").unwrap();
    let out = strokeseg(&["serve", "--config", s(&config)]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("serve.toml") && out.stderr.contains("quiet_perod_s"),
        "{}",
        out.stderr
    );
    let out = strokeseg(&["serve", "--print-config", "--quiet-period", "2.5"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("quiet_period_s = 2.5"),
        "{}",
        out.stdout
    );
}
