//! Running the binary and making study folders.

use std::path::{Path, PathBuf};
use std::process::Command;
use strokeseg_core::{Grid, Volume};
use strokeseg_io::nifti_io::write_volume;
use strokeseg_testkit::{oblique_affine, phantom, Phantom};

/// Exit code, stdout, stderr.
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the binary; arguments may be any OS strings (non-UTF-8 paths included).
pub fn strokeseg<A: AsRef<std::ffi::OsStr>>(args: &[A]) -> Out {
    output(Command::new(env!("CARGO_BIN_EXE_strokeseg")).args(args))
}

/// Runs `cmd` (without `RUST_LOG`) to the end.
pub fn output(cmd: &mut Command) -> Out {
    let o = cmd.env_remove("RUST_LOG").output().expect("run strokeseg");
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// `inspect --json` on the given arguments: the parsed objects (one per line).
pub fn inspect_json(args: &[&str]) -> (Out, Vec<serde_json::Value>) {
    let mut a = vec!["inspect", "--json"];
    a.extend_from_slice(args);
    let out = strokeseg(&a);
    let objs = out
        .stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON {l}: {e}")))
        .collect();
    (out, objs)
}

/// A 2.5 × 2.5 × 4 mm oblique head phantom grid (about 60 × 72 × 34 voxels).
pub fn head_grid() -> Grid {
    let dims = [60, 72, 34];
    Grid {
        dims,
        affine: oblique_affine(dims, [2.5, 2.5, 4.0], 12.0),
    }
}

pub fn head() -> Phantom {
    phantom(&head_grid())
}

pub fn write(p: &Path, v: &Volume) -> PathBuf {
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d).unwrap();
    }
    write_volume(p, v, "strokeseg test").unwrap();
    p.to_path_buf()
}

/// An ISLES'22-like BIDS study folder with DWI and ADC (ADC scaled by `adc_scale` from
/// 10⁻⁶ mm²/s) and a lesion mask under derivatives/ (which must be ignored).
pub fn bids_study(root: &Path, adc_scale: f32) -> PathBuf {
    let h = head();
    let dwi_dir = root.join("sub-001/ses-0001/dwi");
    write(&dwi_dir.join("sub-001_ses-0001_dwi.nii.gz"), &h.dwi);
    write(
        &dwi_dir.join("sub-001_ses-0001_adc.nii.gz"),
        &h.adc.map(|x| x * adc_scale),
    );
    let les = h.dwi.map(|_| 0.0);
    write(
        &root.join("derivatives/sub-001/ses-0001/sub-001_ses-0001_msk.nii.gz"),
        &les,
    );
    root.to_path_buf()
}

pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Asserts that a `report.json` validates against the published JSON Schema
/// (`docs/report.schema.json`, kept equal to the code's by a test in strokeseg-report).
pub fn assert_report_valid(report: &serde_json::Value) {
    let schema: serde_json::Value = serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/report.schema.json"
    )))
    .expect("docs/report.schema.json is JSON");
    let v = jsonschema::validator_for(&schema).expect("docs/report.schema.json is a schema");
    let errors: Vec<String> = v.iter_errors(report).map(|e| e.to_string()).collect();
    assert!(
        errors.is_empty(),
        "report.json does not match docs/report.schema.json: {errors:#?}"
    );
}
