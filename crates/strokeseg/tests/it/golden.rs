//! `segment` on the demo study gives the outputs recorded in `golden/demo_segment.json`: the
//! same lesion mask voxel for voxel, the same pictures byte for byte, the same report (timings
//! aside; numbers to 1e-6 relative) and the same probability map (sum and maximum). The record
//! was made by the binary before the pipeline moved into `strokeseg-pipeline` (issue 15), so a
//! restructuring that changes what a user gets fails here.
//!
//! A deliberate change of the outputs (a new default model, a new report field) is recorded
//! again with `STROKESEG_BLESS=1 cargo test -p strokeseg --test it golden`, and the diff of
//! the record is part of that commit. `STROKESEG_GOLDEN_BIN=PATH` runs another build of the
//! binary instead (how the record was made with the build before the move).

use super::util::{output, s, Out};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

const RECORD: &str = "tests/it/golden/demo_segment.json";

/// Runs this build of the binary (or `$STROKESEG_GOLDEN_BIN`) with the defaults (no
/// `STROKESEG_*` model, device or engine from the environment).
fn strokeseg(args: &[&str]) -> Out {
    let bin = std::env::var_os("STROKESEG_GOLDEN_BIN")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_strokeseg").into());
    output(
        std::process::Command::new(bin)
            .args(args)
            .env_remove("STROKESEG_MODEL")
            .env_remove("STROKESEG_DEVICE")
            .env_remove("STROKESEG_ENGINE"),
    )
}

/// FNV-1a, 64 bits: a stable fingerprint for the record (not a security measure; written here
/// because no hashing crate is a dependency and ten lines do).
fn fnv(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn find(dir: &Path, suffix: &str) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(suffix))
        .unwrap_or_else(|| panic!("no *{suffix} in {}", dir.display()))
}

/// Every string with `tmp` replaced by `$TMP`, and the timings (`timing_s`, `seconds`) dropped.
fn normalised(v: &Value, tmp: &str) -> Value {
    match v {
        Value::String(t) => Value::String(t.replace(tmp, "$TMP")),
        Value::Array(a) => Value::Array(a.iter().map(|x| normalised(x, tmp)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(k, _)| !matches!(k.as_str(), "timing_s" | "seconds"))
                .map(|(k, x)| (k.clone(), normalised(x, tmp)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Differences between `got` and `want` (numbers to 1e-6 relative), as JSON paths.
fn diff(got: &Value, want: &Value, at: &str, out: &mut Vec<String>) {
    match (got, want) {
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            if (a - b).abs() > 1e-6 * a.abs().max(b.abs()).max(1e-9) {
                out.push(format!("{at}: {a} (recorded {b})"));
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff(x, y, &format!("{at}[{i}]"), out);
            }
        }
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => diff(x, y, &format!("{at}.{k}"), out),
                    (Some(_), None) => out.push(format!("{at}.{k}: not in the record")),
                    _ => out.push(format!("{at}.{k}: recorded, missing now")),
                }
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push(format!("{at}: {a} (recorded {b})")),
    }
}

/// What the record holds for one run of `segment --prob` on the demo study.
fn outputs(res: &Path, tmp: &str) -> Value {
    let mask = strokeseg_io::nifti_io::read_volume(&find(res, "_mask.nii.gz")).unwrap();
    let voxels: Vec<u8> = mask.data().iter().map(|&v| u8::from(v > 0.5)).collect();
    let prob = strokeseg_io::nifti_io::read_volume(&find(res, "_probseg.nii.gz")).unwrap();
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(res.join("report.json")).unwrap()).unwrap();
    json!({
        "mask": {
            "dims": mask.dims(),
            "lesion_voxels": voxels.iter().filter(|&&v| v == 1).count(),
            "fnv64": fnv(&voxels),
        },
        "probability": {
            "sum": prob.data().iter().map(|&p| f64::from(p)).sum::<f64>(),
            "max": prob.data().iter().copied().fold(0.0f32, f32::max),
        },
        "overlay.png": fnv(&std::fs::read(res.join("overlay.png")).unwrap()),
        "key_images.png": fnv(&std::fs::read(res.join("key_images.png")).unwrap()),
        "report": normalised(&report, tmp),
    })
}

#[test]
fn segment_on_the_demo_study_gives_the_recorded_outputs() {
    let d = tempfile::tempdir().unwrap();
    let tmp = d.path().display().to_string();
    let demo = d.path().join("demo");
    let o = strokeseg(&["demo", "--out", s(&demo)]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    let study = std::fs::read_dir(demo.join("study"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir() && p.file_name().unwrap().to_string_lossy().starts_with("sub-"))
        .expect("the demo wrote a sub-* study folder");
    let out = d.path().join("seg");
    let o = strokeseg(&["segment", s(&study), "--out", s(&out), "--prob"]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    let name = study.file_name().unwrap().to_string_lossy().into_owned();
    let got = outputs(&out.join(&name), &tmp);
    let record = Path::new(env!("CARGO_MANIFEST_DIR")).join(RECORD);
    if std::env::var_os("STROKESEG_BLESS").is_some() {
        std::fs::write(&record, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
        eprintln!("recorded {}", record.display());
        return;
    }
    let want: Value =
        serde_json::from_str(&std::fs::read_to_string(&record).unwrap_or_else(|e| {
            panic!("{}: {e} (STROKESEG_BLESS=1 records it)", record.display())
        }))
        .unwrap();
    let mut diffs = Vec::new();
    diff(&got, &want, "", &mut diffs);
    assert!(
        diffs.is_empty(),
        "segment's outputs on the demo study differ from {RECORD}:\n{}",
        diffs.join("\n")
    );
}
