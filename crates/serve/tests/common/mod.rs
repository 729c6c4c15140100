//! Helpers for the service tests: tiny synthetic DICOM series, a fake processor that
//! counts its calls, and an HTTP client with the token.
#![allow(dead_code)]

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use ndarray::Array3;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use strokeseg_core::{Grid, Volume};
use strokeseg_io::dicom::{write_mr_series, SeriesWriteOptions};
use strokeseg_serve::{JobResult, Processor, ServeError};

/// A small volume (8×8×`nk`) with a gradient, so pixels are not constant.
pub fn tiny_volume(nk: usize) -> Volume {
    let grid = Grid::axis_aligned([8, 8, nk], [2.0, 2.0, 4.0], [-8.0, -8.0, -8.0]);
    let data = Array3::from_shape_fn((8, 8, nk), |(i, j, k)| (i + 2 * j + 3 * k) as f32 * 10.0);
    Volume::on_grid(data, &grid)
}

/// Writes a diffusion series (b=1000) of `nk` slices for a study with seed `seed`.
pub fn dwi_series(dir: &Path, seed: u128, nk: usize) -> Vec<PathBuf> {
    let opts = SeriesWriteOptions {
        b_value: Some(1000.0),
        series_description: "ep2d_diff trace".into(),
        ..SeriesWriteOptions::from_seed(seed)
    };
    write_mr_series(dir, &tiny_volume(nk), &opts).unwrap()
}

/// Writes a T1 series (MR, no diffusion information) in the study of `seed`.
pub fn t1_series(dir: &Path, seed: u128, nk: usize) -> Vec<PathBuf> {
    let base = SeriesWriteOptions::from_seed(seed);
    let opts = SeriesWriteOptions {
        series_uid: strokeseg_io::dicom::new_uid(),
        series_number: 2,
        b_value: None,
        image_type: vec!["ORIGINAL".into(), "PRIMARY".into(), "M".into()],
        series_description: "T1 MPRAGE".into(),
        ..base
    };
    write_mr_series(dir, &tiny_volume(nk), &opts).unwrap()
}

/// Rewrites files in place with `edit` applied (to make CT, bad UIDs, …).
pub fn edit_files(files: &[PathBuf], edit: impl Fn(&mut dicom_object::DefaultDicomObject)) {
    for f in files {
        let mut o = dicom_object::open_file(f).unwrap();
        edit(&mut o);
        o.meta_mut().update_information_group_length();
        o.write_to_file(f).unwrap();
    }
}

/// Turns MR files into CT Image Storage.
pub fn make_ct(files: &[PathBuf]) {
    edit_files(files, |o| {
        o.put(DataElement::new(
            tags::MODALITY,
            VR::CS,
            PrimitiveValue::from("CT"),
        ));
        o.put(DataElement::new(
            tags::SOP_CLASS_UID,
            VR::UI,
            PrimitiveValue::from(uids::CT_IMAGE_STORAGE),
        ));
        o.remove_element(tags::DIFFUSION_B_VALUE);
        o.meta_mut().media_storage_sop_class_uid = uids::CT_IMAGE_STORAGE.to_string();
    });
}

/// Sets the SOPInstanceUID of the data set to any string (the file meta keeps a valid one,
/// so the file still opens).
pub fn set_sop_uid(file: &Path, uid: &str) {
    edit_files(&[file.to_path_buf()], |o| {
        o.put(DataElement::new(
            tags::SOP_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from(uid),
        ));
    });
}

/// StudyInstanceUID of a file.
pub fn study_uid(file: &Path) -> String {
    let o = dicom_object::open_file(file).unwrap();
    o.element(tags::STUDY_INSTANCE_UID)
        .unwrap()
        .to_str()
        .unwrap()
        .trim_end_matches('\0')
        .to_string()
}

/// A processor that records calls, writes the three served files and reports how many
/// instance files it saw; sleeps `delay` to look like work.
pub struct FakeProcessor {
    pub calls: Mutex<HashMap<PathBuf, usize>>,
    pub delay: Duration,
}

impl FakeProcessor {
    pub fn new(delay: Duration) -> Self {
        FakeProcessor {
            calls: Mutex::new(HashMap::new()),
            delay,
        }
    }
}

pub fn count_files(dir: &Path) -> usize {
    strokeseg_serve::scu::files_under(dir).map_or(0, |f| f.len())
}

impl Processor for FakeProcessor {
    fn process(&self, study_dir: &Path, out_dir: &Path) -> Result<JobResult, ServeError> {
        *self
            .calls
            .lock()
            .unwrap()
            .entry(study_dir.to_path_buf())
            .or_default() += 1;
        std::thread::sleep(self.delay);
        let n = count_files(study_dir);
        let summary = serde_json::json!({"n_files": n});
        std::fs::write(out_dir.join("report.json"), summary.to_string())?;
        std::fs::write(out_dir.join("overlay.png"), b"\x89PNG fake")?;
        std::fs::write(
            out_dir.join("sub-job_space-orig_desc-lesion_mask.nii.gz"),
            b"mask",
        )?;
        Ok(JobResult {
            summary,
            dicom_files: Vec::new(),
        })
    }
}

/// HTTP GET with an optional bearer token: (status, body).
pub fn get(url: &str, token: Option<&str>) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into();
    let mut r = agent.get(url);
    if let Some(t) = token {
        r = r.header("Authorization", &format!("Bearer {t}"));
    }
    let mut resp = r.call().unwrap();
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_to_string().unwrap_or_default())
}

/// HTTP POST of bytes: (status, body).
pub fn post(url: &str, token: Option<&str>, body: &[u8]) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into();
    let mut r = agent.post(url).header("Content-Type", "application/dicom");
    if let Some(t) = token {
        r = r.header("Authorization", &format!("Bearer {t}"));
    }
    let mut resp = r.send(body).unwrap();
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_to_string().unwrap_or_default())
}

/// The job list.
pub fn jobs(http: &str, token: &str) -> Vec<serde_json::Value> {
    let (s, body) = get(&format!("{http}/jobs"), Some(token));
    assert_eq!(s, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// Polls the job list until `done(jobs)` or the timeout; returns the last list.
pub fn wait_for(
    http: &str,
    token: &str,
    timeout: Duration,
    done: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    let t = Instant::now();
    loop {
        let j = jobs(http, token);
        if done(&j) || t.elapsed() > timeout {
            return j;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether every job has finished (done, failed or ignored).
pub fn all_finished(j: &[serde_json::Value]) -> bool {
    j.iter()
        .all(|j| matches!(j["status"].as_str(), Some("done" | "failed" | "ignored")))
}

/// The job for a study.
pub fn job_of<'a>(j: &'a [serde_json::Value], study: &str) -> &'a serde_json::Value {
    j.iter()
        .find(|j| j["study_uid"] == study)
        .unwrap_or_else(|| panic!("no job for {study}: {j:?}"))
}
