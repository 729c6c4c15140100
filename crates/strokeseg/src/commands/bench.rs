//! `strokeseg bench`: our network and `segment` timed side by side with the identical network
//! in PyTorch and ONNX Runtime, on the same machine, inputs and threads; a Markdown report.
//!
//! The measuring machinery is `strokeseg-bench`; this command only picks the model, inputs and
//! study, and runs `segment` end to end as a child process (so its wall clock and peak RSS are
//! those of a real run).

use crate::cli::BenchArgs;
use crate::Status;
use anyhow::{bail, Context};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use strokeseg_bench::report::{splice, BenchReport, Measured, NetRow, SegmentReport};
use strokeseg_bench::torch::{self, ForwardJob, Job, MatmulJob, TrainJob};
use strokeseg_bench::{machine, mem, net, probe, Stats};
use strokeseg_infer::Plan;
use strokeseg_io::{Study, StudySpec};
use strokeseg_model::{export_safetensors, load, UNet3dConfig, BURN_VERSION};
use strokeseg_pipeline::default_model_dir;
use strokeseg_synth::dataset::{write_study, Generator};
use strokeseg_synth::site::find_site;
use strokeseg_synth::Template;
use strokeseg_train::sampler::PatchConfig;

/// The fixed forward input of the issue: 1×2×32×64×64.
const FIXED: [usize; 3] = [32, 64, 64];
/// Training batch size (`strokeseg train --batch` default).
const TRAIN_BATCH: usize = 2;
/// Learning rate of the timed training steps.
const LR: f64 = 1e-3;
/// Matrix size of the peak probe.
const PROBE_N: usize = 2048;

fn shape_str(s: &[usize]) -> String {
    s.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("×")
}

fn stats(times: &[f64]) -> Stats {
    Stats::of(times).unwrap_or(Stats {
        median: f64::NAN,
        min: f64::NAN,
        max: f64::NAN,
        n: 0,
    })
}

/// Progress on stderr (the report goes to stdout).
fn say(msg: &str) {
    eprintln!("bench: {msg}");
}

/// Runs `bench`.
pub fn run(a: &BenchArgs) -> anyhow::Result<Status> {
    if a.threads == 0 || a.repeats == 0 || a.segment_repeats == 0 {
        eprintln!("error: --threads, --repeats and --segment-repeats must be ≥ 1");
        return Ok(Status::BadInput);
    }
    let threads = net::init_threads(a.threads);
    let load_before = machine::load_average();
    let model_dir = match &a.model {
        Some(d) => d.clone(),
        None => default_model_dir()?,
    };
    let plan = Plan::load(&model_dir)
        .with_context(|| format!("cannot read the plan of {}", model_dir.display()))?;
    let (model, config) = load(&model_dir, &strokeseg_model::run_device())?;
    let tmp = tempfile::tempdir()?;
    let mut notes = Vec::new();
    if strokeseg_model::run_device_choice() != strokeseg_model::DeviceChoice::Flex {
        let device = strokeseg_model::run_device_choice();
        notes.push(format!(
            "burn rows ran on --device {device} (libtorch), not flex."
        ));
    }

    say(&format!(
        "matrix-multiply probe ({PROBE_N}², {threads} threads)"
    ));
    let mut peak = vec![(
        "gemm (burn flex's kernel)".to_string(),
        probe::matmul_gflops(PROBE_N, 3),
    )];

    // Inputs, shared with PyTorch through raw f32 files.
    let window = plan.window;
    let fwd_shapes = [
        (
            "forward, fixed input",
            [1, config.in_channels, FIXED[0], FIXED[1], FIXED[2]],
        ),
        (
            "forward, one `segment` window",
            [1, config.in_channels, window[0], window[1], window[2]],
        ),
    ];
    let p = PatchConfig::default().size;
    let train_shape = [TRAIN_BATCH, config.in_channels, p[0], p[1], p[2]];
    let weights = tmp.path().join("weights.safetensors");
    export_safetensors(&model, &weights)?;

    let mut rows = Vec::new();
    let mut fjobs = Vec::new();
    for (i, (label, shape)) in fwd_shapes.iter().enumerate() {
        say(&format!("burn forward {}", shape_str(shape)));
        let x = net::fixed_input(*shape, 1 + i as u64);
        let input = tmp.path().join(format!("fwd{i}.f32"));
        torch::write_f32(&input, x.as_slice().expect("standard layout"))?;
        let (t, out) = net::forward(&model, &x, 1, a.repeats);
        let ours_out = tmp.path().join(format!("fwd{i}.ours.f32"));
        torch::write_f32(&ours_out, out.as_slice().expect("standard layout"))?;
        say(&format!("fast-path forward {}", shape_str(shape)));
        let (fast, fast_agreement) = match net::forward_fast(&model, &config, &x, 1, a.repeats) {
            Ok((ft, fout)) => {
                let fo = fout.as_slice().expect("standard layout");
                torch::write_f32(&tmp.path().join(format!("fwd{i}.fast.f32")), fo)?;
                let agree = torch::relative_max_error(fo, out.as_slice().expect("standard layout"));
                let m = Measured {
                    stats: stats(&ft.times),
                    peak_rss: ft.peak_rss,
                };
                (Some(m), Some(agree))
            }
            Err(e) => {
                let msg = format!("SKIPPED the fast path: {e:#}");
                eprintln!("{msg}");
                notes.push(msg);
                (None, None)
            }
        };
        rows.push(NetRow {
            label: (*label).to_string(),
            shape: shape_str(shape),
            gflop: config.flops(shape[2], shape[3], shape[4]) * shape[0] as f64 / 1e9,
            ours: Measured {
                stats: stats(&t.times),
                peak_rss: t.peak_rss,
            },
            torch: None,
            onnx: None,
            torch_agreement: None,
            onnx_agreement: None,
            fast,
            fast_agreement,
            fast_torch_agreement: None,
        });
        fjobs.push(ForwardJob {
            name: format!("fwd{i}"),
            input,
            shape: *shape,
            warmup: 1,
            repeats: a.repeats,
            output: Some(tmp.path().join(format!("fwd{i}.torch.f32"))),
        });
    }

    say(&format!("burn training step {}", shape_str(&train_shape)));
    let x = net::fixed_input(train_shape, 11);
    let y = net::fixed_target(train_shape);
    let (tx, ty) = (
        tmp.path().join("train_x.f32"),
        tmp.path().join("train_y.f32"),
    );
    torch::write_f32(&tx, x.as_slice().expect("standard layout"))?;
    torch::write_f32(&ty, y.as_slice().expect("standard layout"))?;
    let (t, first_loss) = net::train_step(&model, &config, &x, &y, LR, 1, a.repeats);
    let mut train = NetRow {
        label: "training step (forward + backward + AdamW)".into(),
        shape: shape_str(&train_shape),
        gflop: 3.0 * config.flops(p[0], p[1], p[2]) * TRAIN_BATCH as f64 / 1e9,
        ours: Measured {
            stats: stats(&t.times),
            peak_rss: t.peak_rss,
        },
        torch: None,
        onnx: None,
        torch_agreement: None,
        onnx_agreement: None,
        fast: None,
        fast_agreement: None,
        fast_torch_agreement: None,
    };

    let mut versions = BTreeMap::from([
        ("burn".to_string(), BURN_VERSION.to_string()),
        (
            "strokeseg".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        ),
    ]);
    match (a.no_torch, torch::python()) {
        (true, _) => notes.push("PyTorch and ONNX Runtime columns skipped (--no-torch).".into()),
        (false, Err(why)) => {
            let msg = format!("SKIPPED the PyTorch and ONNX Runtime columns: {why}");
            eprintln!("{msg}");
            notes.push(msg);
        }
        (false, Ok(py)) => {
            say("PyTorch and ONNX Runtime (same weights, inputs and threads)");
            let job = Job {
                threads,
                config: config.clone(),
                weights: weights.clone(),
                forward: fjobs.clone(),
                train: Some(TrainJob {
                    input: tx,
                    target: ty,
                    shape: train_shape,
                    lr: LR,
                    warmup: 1,
                    repeats: a.repeats,
                }),
                onnx: true,
                matmul: Some(MatmulJob {
                    n: PROBE_N,
                    repeats: 3,
                }),
                workdir: tmp.path().to_path_buf(),
                results: tmp.path().join("results.json"),
            };
            match torch::run(&py, &job) {
                Err(e) => {
                    let msg = format!("SKIPPED the PyTorch and ONNX Runtime columns: {e:#}");
                    eprintln!("{msg}");
                    notes.push(msg);
                }
                Ok(r) => {
                    if r.params != config.params() {
                        bail!(
                            "the PyTorch network has {} parameters, ours {}",
                            r.params,
                            config.params()
                        );
                    }
                    versions.extend(r.versions.clone());
                    if let Some(g) = r.matmul_gflops {
                        peak.push(("PyTorch `torch.mm`".into(), g));
                    }
                    fill_torch(&mut rows, &mut train, &r, tmp.path(), first_loss)?;
                }
            }
        }
    }

    let segment = if a.no_segment {
        notes.push("`segment` end to end skipped (--no-segment).".into());
        None
    } else {
        match segment_end_to_end(a, &model_dir, &plan, &config, threads, tmp.path()) {
            Ok(s) => Some(s),
            Err(e) => {
                let msg = format!("SKIPPED `segment` end to end: {e:#}");
                eprintln!("{msg}");
                notes.push(msg);
                None
            }
        }
    };

    let report = BenchReport {
        command: "bash tools/bench/run.sh".into(),
        when: utc_now(),
        machine: machine::describe(),
        threads,
        load: (load_before, machine::load_average()),
        versions,
        model: format!(
            "{} — residual 3-D U-Net, {} input channels, base {}, depth {}, {} anisotropic level(s), {} parameters",
            model_dir.file_name().map_or_else(|| model_dir.display().to_string(), |n| n.to_string_lossy().into_owned()),
            config.in_channels,
            config.base_channels,
            config.depth,
            config.anisotropic_levels,
            config.params()
        ),
        peak,
        forward: rows,
        train: Some(train),
        segment,
        notes,
    };
    let md = report.markdown();
    println!("{md}");
    if let Some(out) = &a.out {
        let old = std::fs::read_to_string(out).unwrap_or_default();
        std::fs::write(out, splice(&old, &md))
            .with_context(|| format!("cannot write {}", out.display()))?;
        eprintln!("bench: report written into {}", out.display());
    }
    Ok(Status::Ok)
}

/// Puts PyTorch's and ONNX Runtime's figures and the output agreement into the rows.
fn fill_torch(
    rows: &mut [NetRow],
    train: &mut NetRow,
    r: &torch::Results,
    dir: &Path,
    first_loss: f32,
) -> anyhow::Result<()> {
    for (i, row) in rows.iter_mut().enumerate() {
        let name = format!("fwd{i}");
        let ours = torch::read_f32(&dir.join(format!("{name}.ours.f32")))?;
        if let Some(f) = r.forward.iter().find(|f| f.name == name) {
            row.torch = Some(Measured {
                stats: stats(&f.times),
                peak_rss: f.peak_rss,
            });
            if let Some(o) = &f.output {
                let theirs = torch::read_f32(o)?;
                row.torch_agreement = Some(torch::relative_max_error(&ours, &theirs));
                let fast = dir.join(format!("{name}.fast.f32"));
                if row.fast.is_some() && fast.is_file() {
                    let fast = torch::read_f32(&fast)?;
                    row.fast_torch_agreement = Some(torch::relative_max_error(&fast, &theirs));
                }
            }
        }
        if let Some(f) = r.onnx_forward.iter().find(|f| f.name == name) {
            row.onnx = Some(Measured {
                stats: stats(&f.times),
                peak_rss: f.peak_rss,
            });
            if let Some(o) = &f.output {
                row.onnx_agreement = Some(torch::relative_max_error(&ours, &torch::read_f32(o)?));
            }
        }
    }
    if let Some(t) = &r.train {
        train.torch = Some(Measured {
            stats: stats(&t.times),
            peak_rss: t.peak_rss,
        });
        train.torch_agreement =
            Some((f64::from(first_loss) - t.first_loss).abs() / t.first_loss.abs().max(1e-12));
    }
    Ok(())
}

/// Makes the demo's synthetic study and times `strokeseg segment` on it as a child process.
fn segment_end_to_end(
    a: &BenchArgs,
    model_dir: &Path,
    plan: &Plan,
    config: &UNet3dConfig,
    threads: usize,
    tmp: &Path,
) -> anyhow::Result<SegmentReport> {
    // The study `strokeseg demo` makes by default (site-a, seed 7).
    let site = find_site("site-a")?;
    let template = Template::load(&Template::default_dir()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let gen = Generator::new(template);
    let mut s = gen.study(&site, 7, 0);
    let data = tmp.join("study");
    write_study(&data, &mut s, &site, false)?;
    let study_dir = data.join(&s.truth.id);

    // Windows per study, from the prepared grid (as `segment` tiles it).
    let study = Study::load(&StudySpec {
        paths: vec![study_dir.clone()],
        ..Default::default()
    })?;
    let prepared = strokeseg_preproc::prepare(&study, &plan.prep, plan.grid_multiple());
    let (_, d, h, w) = prepared.input.dim();
    let n = |len: usize, win: usize| strokeseg_infer::starts(len, win.min(len), 0.5).len();
    let windows = n(d, plan.window[0]) * n(h, plan.window[1]) * n(w, plan.window[2]);
    let win = [
        plan.window[0].min(d),
        plan.window[1].min(h),
        plan.window[2].min(w),
    ];
    let gflop = windows as f64 * config.flops(win[0], win[1], win[2]) / 1e9;

    // This very binary; when it was rebuilt while running, Linux names it "… (deleted)" and
    // the fresh build at the same path is used.
    let mut exe = std::env::current_exe().context("cannot find the strokeseg binary")?;
    if !exe.is_file() {
        if let Some(p) = exe.to_string_lossy().strip_suffix(" (deleted)") {
            exe = p.into();
        }
    }
    let stage_names = ["load", "preprocess", "network", "postprocess", "write"];
    let mut stage_times: Vec<Vec<f64>> = vec![Vec::new(); stage_names.len() + 1];
    let mut total = Vec::new();
    let mut peak_rss = 0;
    // One untimed run first (file cache, page faults of a cold binary).
    for i in 0..=a.segment_repeats {
        say(&format!(
            "segment end to end, run {i} of {}{}",
            a.segment_repeats,
            if i == 0 { " (warm-up)" } else { "" }
        ));
        let out = tmp.join(format!("seg{i}"));
        let run = mem::run_child(
            Command::new(&exe)
                .arg("-q")
                .arg("segment")
                .arg(&study_dir)
                .arg("--model")
                .arg(model_dir)
                .arg("--out")
                .arg(&out)
                .env("RAYON_NUM_THREADS", threads.to_string())
                .stdout(Stdio::null()),
        )
        .with_context(|| format!("cannot run {}", exe.display()))?;
        if run.code != Some(0) {
            bail!("`strokeseg segment` exited with {:?}", run.code);
        }
        if i == 0 {
            continue;
        }
        let report = out.join(&s.truth.id).join("report.json");
        let r: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(&report)
                .with_context(|| format!("cannot read {}", report.display()))?,
        )?;
        let mut sum = 0.0;
        for (k, name) in stage_names.iter().enumerate() {
            let v = r["timing_s"][name].as_f64().unwrap_or(f64::NAN);
            sum += v;
            stage_times[k].push(v);
        }
        stage_times[stage_names.len()].push(run.wall_s - sum);
        total.push(run.wall_s);
        peak_rss = peak_rss.max(run.peak_rss);
    }
    let mut stages: Vec<(String, Stats)> = vec![(
        "startup + model load".into(),
        stats(&stage_times[stage_names.len()]),
    )];
    for (k, name) in stage_names.iter().enumerate() {
        stages.push(((*name).to_string(), stats(&stage_times[k])));
    }
    Ok(SegmentReport {
        study: format!(
            "the `strokeseg demo` study: synthetic site-a, seed 7, {} DWI+ADC",
            shape_str(&study.dwi.dims())
        ),
        stages,
        total: stats(&total),
        peak_rss,
        gflop,
        windows,
    })
}

/// "YYYY-MM-DD HH:MM UTC" from `date` (no date crate is otherwise needed).
fn utc_now() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or_else(|| "at an unknown time".into(), |s| s.trim().to_string())
}
