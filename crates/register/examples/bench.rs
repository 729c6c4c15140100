//! Registration benchmark and accuracy check: registers synthetic studies (known anatomy)
//! and, when `../shared` is there, the ISLES'22 and ADS studies; prints Markdown tables.
//!
//! `cargo run --release -p strokeseg-register --example bench -- [N_PER_SITE] [SEED]`
//! (defaults 4 and 2026). Set RAYON_NUM_THREADS=2 to time on 2 cores.

use std::path::Path;
use std::time::Instant;
use strokeseg_core::Mask;
use strokeseg_io::{Study, StudySpec};
use strokeseg_preproc::{brain_mask, BrainMaskConfig};
use strokeseg_register::synth_check::mean_errors;
use strokeseg_register::{register, RegConfig, RegTemplate};
use strokeseg_synth::dataset::Generator;
use strokeseg_synth::site::find_site;
use strokeseg_synth::Template;

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

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).map_or(Ok(4), |s| s.parse())?;
    let seed: u64 = args.get(2).map_or(Ok(2026), |s| s.parse())?;
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
    println!("| study | site | spacing mm | start | error vs truth mm | error vs pose mm | coverage | brain Dice | corr | status | s |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
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
            let reg = register(&tpl, &dwi, &brain, &RegConfig::default());
            cpu.push(cpu_s() - c0);
            let truth_brain = Mask::on_grid(s.images.brain_mask.clone(), &s.grid);
            let (full, pose) = mean_errors(&reg, &s.truth.subject, &truth_brain);
            let q = reg.quality;
            println!(
                "| {} | {site_name} | {:.1}×{:.1}×{:.1} | {} | {full:.2} | {pose:.2} | {:.2} | {:.3} | {:.2} | {} | {:.2} ({}) |",
                s.truth.id,
                s.grid.spacing_mm()[0],
                s.grid.spacing_mm()[1],
                s.grid.spacing_mm()[2],
                reg.start,
                q.coverage,
                q.brain_dice,
                q.correlation,
                reg.failure.as_deref().unwrap_or("ok"),
                reg.seconds,
                reg.evaluations
            );
            errs.push((full, pose, reg.ok()));
            secs.push(reg.seconds);
        }
    }
    let mut full: Vec<f64> = errs.iter().map(|e| e.0).collect();
    full.sort_by(f64::total_cmp);
    let mut pose: Vec<f64> = errs.iter().map(|e| e.1).collect();
    pose.sort_by(f64::total_cmp);
    let worst_ok = errs.iter().filter(|e| e.2).map(|e| e.0).fold(0.0, f64::max);
    println!(
        "\nsynthetic: {} studies, median error vs truth {:.2} mm (max {:.2}), vs pose {:.2} mm (max {:.2}); worst not flagged {:.2} mm; failed {}",
        errs.len(),
        full[full.len() / 2],
        full[full.len() - 1],
        pose[pose.len() / 2],
        pose[pose.len() - 1],
        worst_ok,
        errs.iter().filter(|e| !e.2).count()
    );
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/real");
    if shared.is_dir() {
        println!("\n| real study | coverage | brain Dice | corr | status | s |\n|---|---|---|---|---|---|");
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
            let reg = register(&tpl, &study.dwi, &brain, &RegConfig::default());
            cpu.push(cpu_s() - c0);
            let q = reg.quality;
            println!(
                "| {dir} | {:.2} | {:.3} | {:.2} | {} | {:.2} ({}) |",
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
        cpu[cpu.len() / 2],
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
        secs[secs.len() / 2],
        secs[secs.len() - 1],
        secs.len(),
        rayon::current_num_threads()
    );
    Ok(())
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
