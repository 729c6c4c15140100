//! The bridge to PyTorch and ONNX Runtime: finds the bench venv (made by
//! `tools/bench/setup-venv.sh`), writes a job for `tools/bench/torch_unet.py`, runs it and reads
//! its results back.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::BenchError;
use serde::{Deserialize, Serialize};
use strokeseg_model::UNet3dConfig;

/// The bench venv: `$STROKESEG_BENCH_VENV`, else `~/.cache/strokeseg/venv-bench`.
#[must_use]
pub fn venv_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("STROKESEG_BENCH_VENV").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".cache/strokeseg/venv-bench")
}

/// `tools/bench/torch_unet.py`: `$STROKESEG_BENCH_SCRIPT`, else the copy in this source tree.
#[must_use]
pub fn script_path() -> PathBuf {
    if let Some(p) = std::env::var_os("STROKESEG_BENCH_SCRIPT").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tools/bench/torch_unet.py"
    ))
}

/// The venv's Python, or why the PyTorch columns are skipped.
pub fn python() -> Result<PathBuf, String> {
    let py = venv_dir().join("bin/python");
    if !py.is_file() {
        return Err(format!(
            "no bench venv at {} (make it with `bash tools/bench/setup-venv.sh`; a large download)",
            venv_dir().display()
        ));
    }
    let script = script_path();
    if !script.is_file() {
        return Err(format!("{} not found", script.display()));
    }
    Ok(py)
}

/// One forward measurement asked of the script.
#[derive(Debug, Clone, Serialize)]
pub struct ForwardJob {
    /// Label (also names the ONNX file).
    pub name: String,
    /// Raw little-endian f32 input.
    pub input: PathBuf,
    /// `[B, C, D, H, W]`.
    pub shape: [usize; 5],
    /// Untimed runs first.
    pub warmup: usize,
    /// Timed runs.
    pub repeats: usize,
    /// Where to write the logits (raw f32; ONNX Runtime's go to `<output>.onnx.f32`).
    pub output: Option<PathBuf>,
}

/// The training-step measurement asked of the script.
#[derive(Debug, Clone, Serialize)]
pub struct TrainJob {
    /// Raw f32 input `[B, C, D, H, W]`.
    pub input: PathBuf,
    /// Raw f32 target `[B, 1, D, H, W]`.
    pub target: PathBuf,
    /// Input shape.
    pub shape: [usize; 5],
    /// Learning rate.
    pub lr: f64,
    /// Untimed steps first.
    pub warmup: usize,
    /// Timed steps.
    pub repeats: usize,
}

/// Size and repeats of the script's own matrix-multiply probe.
#[derive(Debug, Clone, Serialize)]
pub struct MatmulJob {
    /// Matrix size.
    pub n: usize,
    /// Timed runs (the best counts).
    pub repeats: usize,
}

/// Everything the script is asked to do.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    /// intra-op threads of PyTorch and ONNX Runtime (inter-op: 1).
    pub threads: usize,
    /// The network.
    pub config: UNet3dConfig,
    /// SafeTensors weights from `strokeseg_model::export_safetensors`.
    pub weights: PathBuf,
    /// Forward passes (PyTorch, and ONNX Runtime when `onnx`).
    pub forward: Vec<ForwardJob>,
    /// Training step (PyTorch only).
    pub train: Option<TrainJob>,
    /// Also export to ONNX and run ONNX Runtime on each forward.
    pub onnx: bool,
    /// Matrix-multiply probe with PyTorch's kernels.
    pub matmul: Option<MatmulJob>,
    /// Scratch folder (ONNX files).
    pub workdir: PathBuf,
    /// Where the script writes its [`Results`].
    pub results: PathBuf,
}

/// One timed forward of the script.
#[derive(Debug, Clone, Deserialize)]
pub struct ForwardResult {
    /// The job's label.
    pub name: String,
    /// Seconds per timed run.
    pub times: Vec<f64>,
    /// Peak RSS of the Python process during this measurement (bytes).
    pub peak_rss: u64,
    /// Logits file, when asked for.
    pub output: Option<PathBuf>,
}

/// The training-step result of the script.
#[derive(Debug, Clone, Deserialize)]
pub struct TrainResult {
    /// Seconds per timed step.
    pub times: Vec<f64>,
    /// Loss of the first (warm-up) step, before any update.
    pub first_loss: f64,
    /// Peak RSS during the steps (bytes).
    pub peak_rss: u64,
}

/// What the script measured.
#[derive(Debug, Clone, Deserialize)]
pub struct Results {
    /// Versions of python, torch, onnxruntime, onnx, numpy.
    pub versions: std::collections::BTreeMap<String, String>,
    /// Threads PyTorch reported using.
    pub threads: std::collections::BTreeMap<String, usize>,
    /// PyTorch's best matrix-multiply rate.
    pub matmul_gflops: Option<f64>,
    /// Parameter count of the PyTorch network.
    pub params: usize,
    /// PyTorch forwards.
    pub forward: Vec<ForwardResult>,
    /// ONNX Runtime forwards.
    pub onnx_forward: Vec<ForwardResult>,
    /// PyTorch training step.
    pub train: Option<TrainResult>,
}

/// Runs the script on `job` with the venv's `python` and returns its results.
pub fn run(python: &Path, job: &Job) -> Result<Results, BenchError> {
    let job_path = job.workdir.join("job.json");
    let text = serde_json::to_vec_pretty(job).expect("a job serialises");
    std::fs::write(&job_path, text)
        .map_err(|e| BenchError::io(format!("cannot write {}", job_path.display()), e))?;
    let out = Command::new(python)
        .arg(script_path())
        .arg(&job_path)
        // Threads are set by the script itself; these keep OpenMP/MKL from spawning more.
        .env("OMP_NUM_THREADS", job.threads.to_string())
        .env("MKL_NUM_THREADS", job.threads.to_string())
        .output()
        .map_err(|e| BenchError::io(format!("cannot run {}", python.display()), e))?;
    if !out.status.success() {
        return Err(BenchError::Peer(format!(
            "{} failed ({}): {}",
            script_path().display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    let text = std::fs::read_to_string(&job.results)
        .map_err(|e| BenchError::io(format!("cannot read {}", job.results.display()), e))?;
    serde_json::from_str(&text)
        .map_err(|e| BenchError::Peer(format!("bad results in {}: {e}", job.results.display())))
}

/// Writes `values` as raw little-endian f32.
pub fn write_f32(path: &Path, values: &[f32]) -> Result<(), BenchError> {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, bytes)
        .map_err(|e| BenchError::io(format!("cannot write {}", path.display()), e))
}

/// Reads raw little-endian f32.
pub fn read_f32(path: &Path) -> Result<Vec<f32>, BenchError> {
    let bytes = std::fs::read(path)
        .map_err(|e| BenchError::io(format!("cannot read {}", path.display()), e))?;
    if bytes.len() % 4 != 0 {
        return Err(BenchError::Peer(format!(
            "{}: {} bytes is not a whole number of f32",
            path.display(),
            bytes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// Agreement of two outputs: `max |ours − theirs| / max |theirs|` (∞ when the lengths differ).
#[must_use]
pub fn relative_max_error(ours: &[f32], theirs: &[f32]) -> f64 {
    if ours.len() != theirs.len() || ours.is_empty() {
        return f64::INFINITY;
    }
    let scale = theirs.iter().fold(0f64, |m, &v| m.max(f64::from(v).abs()));
    let diff = ours.iter().zip(theirs).fold(0f64, |m, (&a, &b)| {
        m.max((f64::from(a) - f64::from(b)).abs())
    });
    diff / scale.max(f64::MIN_POSITIVE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f32_files_round_trip_and_errors_are_relative_to_the_reference() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.f32");
        let v = vec![1.0f32, -2.5, 3.25e-3];
        write_f32(&p, &v).unwrap();
        assert_eq!(read_f32(&p).unwrap(), v);
        assert_eq!(relative_max_error(&[1.0, 2.0], &[1.0, 4.0]), 0.5);
        assert_eq!(relative_max_error(&v, &v), 0.0);
        assert!(relative_max_error(&[1.0], &[1.0, 2.0]).is_infinite());
    }
}
