//! Registration benchmark and accuracy check: registers synthetic studies (known anatomy)
//! and, when `../shared` is there, the ISLES'22 and ADS studies; prints Markdown tables.
//!
//! `cargo run --release -p strokeseg-register --example bench -- [N_PER_SITE] [SEED]`
//! (defaults 4 and 2026). Set RAYON_NUM_THREADS=2 to time on 2 cores. Each study is
//! registered once (affine + non-linear refinement); the affine-only error is that of the
//! same result without its displacement field ([`Registration::affine_only`]).

use std::path::Path;
use std::time::Instant;
use strokeseg_core::Mask;
use strokeseg_io::{Study, StudySpec};
use strokeseg_preproc::{brain_mask, BrainMaskConfig};
mod synth_check;
use strokeseg_register::{register, RegConfig, RegTemplate, Registration};
use strokeseg_synth::dataset::Generator;
use strokeseg_synth::site::find_site;
use strokeseg_synth::Template;
use synth_check::mean_errors;

/// Errors of one synthetic study: refined vs truth, refined vs pose, passed, affine vs truth,
/// affine vs pose.
type ErrRow = (f64, f64, bool, f64, f64);

/// CPU seconds (user + system) of this process so far, from /proc (Linux; 0 elsewhere): on a
/// shared machine, wall time depends on the neighbours, CPU time much less.
fn cpu_s() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (tick(11) + tick(12)) / 100.0
}

/// Any error, with its message (this example's errors are all reported and ended on).
type Result<T, E = Box<dyn std::error::Error + Send + Sync>> = std::result::Result<T, E>;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!(
            "Registration benchmark: synthetic studies (N per site preset, site-a..site-e, \
             dataset SEED) with known anatomy, then the ISLES'22 and ADS studies in ../shared \
             when present. Prints the error vs truth / vs pose for the affine alone and with the \
             non-linear refinement, per study and median/max, and the time per study.\n\n\
             usage: bench [N_PER_SITE (default 4)] [SEED (default 2026)]\n\
             set RAYON_NUM_THREADS=2 to time on 2 cores"
        );
        return Ok(());
    }
    let n: usize = args.get(1).map_or(Ok(4), |s| s.parse())?;
    let seed: u64 = args.get(2).map_or(Ok(2026), |s| s.parse())?;
    let cfg = config_from_env()?;
    let t = Instant::now();
    let template = Template::load(&Template::default_dir())?;
    let tpl = RegTemplate::dwi_like(&template);
    println!(
        "template: {} ({:.1} s to load and build); threads: {}\n",
        tpl.name,
        t.elapsed().as_secs_f64(),
        rayon::current_num_threads()
    );
    let gen = Generator::new(template);
    println!("| study | site | spacing mm | start | affine: vs truth mm | affine: vs pose mm | refined: vs truth mm | refined: vs pose mm | field max mm | NMI affine → warped | non-linear | coverage | brain Dice | status | s (evals) |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut errs = Vec::new();
    let mut secs = Vec::new();
    let mut cpu = Vec::new();
    for site_name in ["site-a", "site-b", "site-c", "site-d", "site-e"] {
        let site = find_site(site_name)?;
        for i in 0..n {
            let s = gen.study(&site, seed, i);
            let dwi = strokeseg_core::Volume::on_grid(s.images.dwi.clone(), &s.grid);
            let brain = brain_mask(&dwi, &BrainMaskConfig::default());
            let c0 = cpu_s();
            let reg = register(&tpl, &dwi, &brain, &cfg);
            cpu.push(cpu_s() - c0);
            let truth_brain = Mask::on_grid(s.images.brain_mask.clone(), &s.grid);
            let (afull, apose) = mean_errors(&reg.affine_only(), &s.truth.subject, &truth_brain);
            let (full, pose) = mean_errors(&reg, &s.truth.subject, &truth_brain);
            let q = reg.quality;
            let (nl, nmis, fmax) = nl_cols(&reg);
            println!(
                "| {} | {site_name} | {:.1}×{:.1}×{:.1} | {} | {afull:.2} | {apose:.2} | {full:.2} | {pose:.2} | {fmax} | {nmis} | {nl} | {:.2} | {:.3} | {} | {:.2} ({}) |",
                s.truth.id,
                s.grid.spacing_mm()[0],
                s.grid.spacing_mm()[1],
                s.grid.spacing_mm()[2],
                reg.start,
                q.coverage,
                q.brain_dice,
                reg.failure.as_deref().unwrap_or("ok"),
                reg.seconds,
                reg.evaluations
            );
            errs.push((full, pose, reg.ok(), afull, apose));
            secs.push(reg.seconds);
        }
    }
    let sorted = |f: &dyn Fn(&ErrRow) -> f64| {
        let mut v: Vec<f64> = errs.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v
    };
    let med_max = |v: &[f64]| format!("median {:.2} mm (max {:.2})", median(v), v[v.len() - 1]);
    println!(
        "\nsynthetic: {} studies; failed {}\n  affine only:   vs truth {}, vs pose {}\n  with refinement: vs truth {}, vs pose {}; worst not flagged {:.2} mm",
        errs.len(),
        errs.iter().filter(|e| !e.2).count(),
        med_max(&sorted(&|e| e.3)),
        med_max(&sorted(&|e| e.4)),
        med_max(&sorted(&|e| e.0)),
        med_max(&sorted(&|e| e.1)),
        errs.iter().filter(|e| e.2).map(|e| e.0).fold(0.0, f64::max),
    );
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/real");
    if std::env::var_os("BENCH_SYNTH_ONLY").is_some() {
        println!("\n(real studies skipped: BENCH_SYNTH_ONLY is set)");
    } else if shared.is_dir() {
        println!("\n| real study | coverage | brain Dice | corr | status | NMI affine → warped | non-linear | field max mm | s |\n|---|---|---|---|---|---|---|---|---|");
        let cases = [
            (
                "isles22/sub-strokecase0001",
                "sub-strokecase0001_ses-0001_dwi.nii.gz",
            ),
            (
                "isles22/sub-strokecase0002",
                "sub-strokecase0002_ses-0001_dwi.nii.gz",
            ),
            (
                "isles22/sub-strokecase0003",
                "sub-strokecase0003_ses-0001_dwi.nii.gz",
            ),
            ("ads/Subject01", "Subject01_DWI.nii.gz"),
            ("ads/Subject02", "Subject02_DWI.nii.gz"),
        ];
        for (dir, file) in cases {
            let path = find(&shared.join(dir), file);
            let Some(path) = path else {
                println!("| {dir} | (missing) | | | | |");
                continue;
            };
            let study = Study::load(&StudySpec {
                dwi: Some(path),
                ..Default::default()
            })?;
            let brain = brain_mask(&study.dwi, &BrainMaskConfig::default());
            let c0 = cpu_s();
            let reg = register(&tpl, &study.dwi, &brain, &cfg);
            cpu.push(cpu_s() - c0);
            let q = reg.quality;
            let (nl, nmis, fmax) = nl_cols(&reg);
            println!(
                "| {dir} | {:.2} | {:.3} | {:.2} | {} | {nmis} | {nl} | {fmax} | {:.2} ({}) |",
                q.coverage,
                q.brain_dice,
                q.correlation,
                reg.failure.as_deref().unwrap_or("ok"),
                reg.seconds,
                reg.evaluations
            );
            secs.push(reg.seconds);
        }
    } else {
        println!("\nSKIPPED: real studies ({} absent)", shared.display());
    }
    secs.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    println!(
        "registration CPU time per study (user + system, all threads): median {:.2} s, max {:.2} s",
        median(&cpu),
        cpu[cpu.len() - 1]
    );
    if let Ok(l) = std::fs::read_to_string("/proc/loadavg") {
        println!(
            "load average at the end (1, 5, 15 min): {}",
            l.split_whitespace().take(3).collect::<Vec<_>>().join(", ")
        );
    }
    println!(
        "\nregistration time per study: median {:.2} s, max {:.2} s ({} studies, {} threads)",
        median(&secs),
        secs[secs.len() - 1],
        secs.len(),
        rayon::current_num_threads()
    );
    Ok(())
}

/// The registration options, with the non-linear step tunable for experiments through
/// `STROKESEG_WARP=ITERS_4MM,ITERS_2MM,SMOOTH_NODES,STEP_4MM,STEP_2MM,MAX_MM[,FLUID_NODES[,MASK_WEIGHT]]`
/// (or `off`).
fn config_from_env() -> Result<RegConfig> {
    let mut cfg = RegConfig::default();
    if let Ok(v) = std::env::var("STROKESEG_WARP") {
        if v == "off" {
            cfg.warp.enabled = false;
        } else {
            let f: Vec<f64> = v.split(',').map(str::parse).collect::<Result<_, _>>()?;
            if !(6..=8).contains(&f.len()) {
                return Err("STROKESEG_WARP needs 6 to 8 comma-separated numbers".into());
            }
            cfg.warp.iterations = [f[0] as usize, f[1] as usize];
            cfg.warp.smooth_nodes = f[2] as f32;
            cfg.warp.step_mm = [f[3], f[4]];
            cfg.warp.max_mm = f[5];
            cfg.warp.fluid_nodes = f.get(6).map_or(0.0, |&x| x as f32);
            if let Some(&w) = f.get(7) {
                cfg.warp.mask_weight = w as f32;
            }
        }
        println!("non-linear step: {:?}", cfg.warp);
    }
    Ok(cfg)
}

/// Median of a sorted, non-empty slice (mean of the two middle values for an even length).
fn median(v: &[f64]) -> f64 {
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// (status, "NMI affine → warped", field max) of the non-linear step, for the tables.
fn nl_cols(reg: &Registration) -> (String, String, String) {
    match &reg.nonlinear {
        Some(n) => (
            format!("{} ({:.2} s)", n.status, n.seconds),
            format!("{:.4} → {:.4}", n.nmi_affine, n.nmi_warped),
            format!("{:.1}", n.max_mm),
        ),
        None => ("off".into(), String::new(), String::new()),
    }
}

/// `file` under `dir`, searched recursively.
fn find(dir: &Path, file: &str) -> Option<std::path::PathBuf> {
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        if p.is_dir() {
            if let Some(f) = find(&p, file) {
                return Some(f);
            }
        } else if p.file_name().is_some_and(|n| n == file) {
            return Some(p);
        }
    }
    None
}
