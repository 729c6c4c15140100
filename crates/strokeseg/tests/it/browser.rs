//! The worklist and viewer in real Chromium (issue 18): `strokeseg serve` with the default
//! model on loopback, 199 studies already on the worklist, then a real clinical DWI series
//! from `../shared` sent by C-STORE while a signed-in browser watches. The browser is driven
//! by `e2e/browser.mjs` (playwright-core with Debian's `/usr/bin/chromium`; it never
//! downloads a browser). Prints SKIPPED, with the reason, where Chromium, Node.js,
//! `e2e/node_modules` (`npm ci --prefix e2e`) or `../shared` is missing; `.ci/run` installs
//! all of them.
//!
//! Timings (the 200-row worklist from navigation to rendered table, the viewer from click
//! to drawn image) are printed, not asserted. With `STROKESEG_SCREENSHOTS=DIR` the
//! screenshots are copied there (relative to the repository root; the README's pictures
//! come from this test).

use super::serve::start_serve_logging;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use strokeseg_io::dicom::{write_mr_series, SeriesWriteOptions};

const ADMIN: &str = "browser-admin-token-1";
const READER: &str = "browser-reader-token-1";
/// Patient identifiers of the studies already on the worklist; they must never appear in
/// a URL or in the service's log.
const NAME: &str = "Quintessa^Zzyzx";
const PID: &str = "PID-77310";

/// What is missing for the browser test, if anything.
fn missing() -> Option<String> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        return Some(format!(
            "{chromium} not found (Debian package chromium; set CHROMIUM=)"
        ));
    }
    if Command::new("node").arg("--version").output().is_err() {
        return Some("node (Node.js) not found".into());
    }
    if !repo.join("e2e/node_modules/playwright-core").exists() {
        return Some("e2e/node_modules missing: run `npm ci --prefix e2e`".into());
    }
    None
}

/// 199 one-slice T1 studies (stored, shown on the worklist as "not DWI", not processed).
fn other_studies(dir: &Path) -> Vec<PathBuf> {
    let grid = strokeseg_core::Grid::axis_aligned([8, 8, 1], [2.0, 2.0, 4.0], [0.0; 3]);
    let v = strokeseg_core::Volume::on_grid(
        ndarray::Array3::from_shape_fn((8, 8, 1), |(i, j, _)| (i * 8 + j) as f32),
        &grid,
    );
    (0..199u128)
        .flat_map(|i| {
            let opts = SeriesWriteOptions {
                b_value: None,
                image_type: vec!["ORIGINAL".into(), "PRIMARY".into(), "M".into()],
                series_description: "T1 MPRAGE".into(),
                patient_name: NAME.into(),
                patient_id: PID.into(),
                ..SeriesWriteOptions::from_seed(90_000 + i)
            };
            write_mr_series(&dir.join(format!("t1-{i}")), &v, &opts).unwrap()
        })
        .collect()
}

#[test]
fn worklist_and_viewer_in_chromium_with_a_real_dwi_series() {
    let Some(series) = strokeseg_testkit::shared("data/real/dicom/aisd-0019983-dwi") else {
        println!("SKIPPED: ../shared/data/real/dicom/aisd-0019983-dwi not found");
        return;
    };
    if let Some(why) = missing() {
        println!("SKIPPED: browser test: {why}");
        return;
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let d = tempfile::tempdir().unwrap();
    let config = d.path().join("serve.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\nhttp_addr = \"127.0.0.1:0\"\ndicom_addr = \"127.0.0.1:0\"\n\
             token = \"{ADMIN}\"\nquiet_period_s = 1.0\n\
             [[users]]\nname = \"reader\"\ntoken = \"{READER}\"\nrole = \"read\"\n",
            d.path().join("data").display().to_string()
        ),
    )
    .unwrap();
    let log_path = d.path().join("serve.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let (_serve, http, dicom) = start_serve_logging(&config, Stdio::from(log));
    let others = other_studies(&d.path().join("others"));
    let st = strokeseg_serve::scu::store_files(&dicom, "E2ESCU", "STROKESEG", &others).unwrap();
    assert!(
        st.iter().all(|(_, s)| s.status == 0),
        "seed studies refused"
    );

    let shots = d.path().join("shots");
    std::fs::create_dir_all(&shots).unwrap();
    let mut node = Command::new("node")
        .arg(repo.join("e2e/browser.mjs"))
        .env("STROKESEG_URL", &http)
        .env("STROKESEG_TOKEN", ADMIN)
        .env("STROKESEG_READ_TOKEN", READER)
        .env("STROKESEG_ROWS", "200")
        .env("OUT_DIR", &shots)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start node e2e/browser.mjs");
    let mut stdin = node.stdin.take().unwrap();
    let stdout = node.stdout.take().unwrap();
    // Killed when the test fails part-way.
    let mut node = super::serve::Killed(node);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            println!("browser: {line}");
            let _ = tx.send(line);
        }
    });
    let wait = |what: &str, secs: u64| -> String {
        loop {
            match rx.recv_timeout(Duration::from_secs(secs)) {
                Ok(l) if l.starts_with(what) => return l,
                Ok(_) => {}
                Err(e) => panic!("the browser script gave no {what} line ({e})"),
            }
        }
    };
    wait("READY", 120);
    let files = strokeseg_serve::scu::files_under(&series).unwrap();
    let st = strokeseg_serve::scu::store_files(&dicom, "E2ESCU", "STROKESEG", &files).unwrap();
    assert!(
        st.iter().all(|(_, s)| s.status == 0),
        "the DWI series was refused"
    );
    writeln!(stdin, "SENT").unwrap();
    drop(stdin);
    let line = wait("RESULT ", 900);
    let code = node.0.wait().unwrap();
    assert!(code.success(), "browser script exit {code}");
    let r: serde_json::Value = serde_json::from_str(&line["RESULT ".len()..]).unwrap();
    println!(
        "browser result: {}",
        serde_json::to_string_pretty(&r).unwrap()
    );

    assert_eq!(r["errors"], serde_json::json!([]), "errors in the pages");
    // The only refusals are the ones the script provokes (wrong token, no CSRF header, a
    // reader's retry, pages and events after sign-out); nothing missing, no server error.
    for e in r["http_errors"].as_array().unwrap() {
        let e = e.as_str().unwrap();
        assert!(
            e.starts_with("401 ") || e.starts_with("403 POST /jobs/"),
            "unexpected answer in the pages: {e}"
        );
    }
    assert_eq!(r["wrong_token_refused"], true);
    assert_eq!(r["cookie"]["httpOnly"], true);
    // The row appeared and turned positive on the open page, without a reload.
    assert_eq!(r["reloads_while_waiting"], 0);
    let seen = r["statuses_seen"].as_array().unwrap();
    assert!(seen.len() >= 2, "the row only ever showed {seen:?}");
    assert_eq!(r["final"]["status"], "done");
    assert_eq!(r["final"]["call"], "infarct", "{}", r["row_text"]);
    assert_eq!(r["alert_shown"], true, "no alert for the positive result");
    assert_eq!(r["alert_acknowledged"], true);
    assert_eq!(r["ack_without_csrf"], 403);
    // The viewer: lesions listed, the jump lands on the lesion's slice, the overlay is drawn
    // (and gone when toggled off), window/level changes the picture.
    assert!(r["lesions_in_table"].as_u64().unwrap() >= 1);
    assert_eq!(r["slice_after_jump"], r["lesion_slice"]);
    let off = r["crosshair_off_lesion_vox"].as_f64().unwrap();
    assert!(
        off <= 1.0,
        "after the jump the crosshair is {off} voxels from the lesion centre"
    );
    let on = r["red_pixels_overlay_on"].as_u64().unwrap();
    let off = r["red_pixels_overlay_off"].as_u64().unwrap();
    assert!(
        on >= 30 && off * 10 < on,
        "overlay pixels on {on}, off {off}"
    );
    assert_eq!(r["window_changes_image"], true);
    assert_eq!(r["key_images_loaded"], true);
    for f in ["report.json", "mask", "seg"] {
        assert_eq!(r[format!("download_{f}")], 200, "download {f}");
    }
    assert_eq!(r["reader_retry"], 403, "a reader re-ran a job");
    assert_eq!(r["reader_ack"], 200);
    assert_eq!(r["after_logout_jobs"], 401);
    assert_eq!(r["old_cookie_jobs"], 401);
    assert!(r["after_logout_page"].as_str().unwrap().ends_with("/login"));
    assert_eq!(r["worklist_rows"], 200);
    assert_eq!(r["filter_infarct"], serde_json::json!(["done/infarct"]));
    assert_eq!(r["filter_not_dwi"], 199);

    // No patient data in any URL the browser asked for, nor in the service's log.
    let urls = r["urls"].to_string();
    let log = std::fs::read_to_string(&log_path).unwrap();
    for secret in [NAME, "Quintessa", "Zzyzx", PID] {
        assert!(!urls.contains(secret), "{secret} in a URL: {urls}");
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
    }
    println!(
        "timing: 200-study worklist loaded and rendered in {} ms; viewer opened in {} ms \
         (image drawn {} ms after the page started); result on the page {:.1} s after the series was sent",
        r["worklist_load_ms"], r["viewer_open_ms"], r["viewer_ready_ms_in_page"], r["seconds_to_result"].as_f64().unwrap_or(f64::NAN)
    );
    if let Ok(dest) = std::env::var("STROKESEG_SCREENSHOTS") {
        // Relative to the repository root (tests run in the crate's folder).
        let dest = repo.join(dest);
        for f in ["worklist.png", "viewer.png"] {
            std::fs::copy(shots.join(f), dest.join(f))
                .unwrap_or_else(|e| panic!("{}: {e}", dest.join(f).display()));
        }
    }
}
