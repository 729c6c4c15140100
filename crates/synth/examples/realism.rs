//! Realism and speed of the synthetic generator, measured the same way on synthetic studies
//! of every site preset and on the real ISLES'22 cases in ../shared (when present).
//!
//! ```sh
//! cargo run --release -p strokeseg-synth --example realism -- [N_PER_SITE] [OUT_DIR]
//! ```
//! Prints a Markdown table (paste into docs/synth.md) and writes one PNG montage per preset
//! into OUT_DIR (default `docs/synth`), plus real-case montages into `target/realism/`
//! (real data never goes into the repository).
//!
//! Definitions, for synthetic and real alike: brain mask = `strokeseg-preproc` brain mask of
//! the DWI; lesion = truth mask; normal brain = brain mask minus lesion. DWI ratio = median
//! DWI in the lesion / median DWI in normal brain; ADC ratio likewise on ADC (10⁻⁶ mm²/s, as
//! `Study::load` normalises it). Ratios use lesion studies with ≥ 20 lesion voxels.

use std::path::{Path, PathBuf};
use std::time::Instant;
use strokeseg_core::{percentile_in_place, Mask, Volume};
use strokeseg_io::nifti_io::read_volume;
use strokeseg_io::{Study, StudySpec};
use strokeseg_preproc::{brain_mask, BrainMaskConfig};
use strokeseg_report::{montage, pick_slices, Row};
use strokeseg_synth::dataset::{write_study, Generator};
use strokeseg_synth::site::builtin_sites;
use strokeseg_synth::Template;

struct Stats {
    dwi_ratio: Option<f32>,
    adc_ratio: Option<f32>,
    adc_normal: Option<f32>,
}

fn median(mut v: Vec<f32>) -> Option<f32> {
    percentile_in_place(&mut v, 50.0)
}

fn stats(study: &Study, lesion: &Mask) -> Stats {
    let brain = brain_mask(&study.dwi, &BrainMaskConfig::default());
    let pick = |img: &Volume, want_lesion: bool| -> Vec<f32> {
        img.data()
            .iter()
            .zip(brain.data().iter().zip(lesion.data().iter()))
            .filter(|(_, (b, l))| if want_lesion { **l } else { **b && !**l })
            .map(|(v, _)| *v)
            .collect()
    };
    let n_les = lesion.count();
    let ratio = |img: &Volume| {
        (n_les >= 20)
            .then(|| Some(median(pick(img, true))? / median(pick(img, false))?))
            .flatten()
    };
    Stats {
        dwi_ratio: ratio(&study.dwi),
        adc_ratio: study.adc.as_ref().and_then(ratio),
        adc_normal: study.adc.as_ref().and_then(|a| median(pick(a, false))),
    }
}

fn summary(xs: &[f32]) -> String {
    if xs.is_empty() {
        return "–".into();
    }
    let mut v = xs.to_vec();
    let med = percentile_in_place(&mut v, 50.0).unwrap_or(0.0);
    let lo = v.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if med >= 10.0 {
        format!("{med:.0} ({lo:.0}–{hi:.0})")
    } else {
        format!("{med:.2} ({lo:.2}–{hi:.2})")
    }
}

fn row(name: &str, s: &[Stats], n: usize, secs: Option<f64>) -> String {
    let col =
        |f: &dyn Fn(&Stats) -> Option<f32>| summary(&s.iter().filter_map(f).collect::<Vec<_>>());
    format!(
        "| {name} | {n} | {} | {} | {} | {} |",
        col(&|x| x.dwi_ratio),
        col(&|x| x.adc_ratio),
        col(&|x| x.adc_normal),
        secs.map_or("–".into(), |t| format!("{t:.2}"))
    )
}

fn save_montage(path: &Path, study: &Study, lesion: &Mask) {
    let slices = pick_slices(&study.dwi, Some(lesion), 5);
    let mut rows = vec![Row {
        image: &study.dwi,
        outline: Some(lesion),
        window: None,
    }];
    if let Some(a) = &study.adc {
        rows.push(Row {
            image: a,
            outline: Some(lesion),
            window: Some((0.0, 2000.0)),
        });
    }
    if let Some(b) = &study.b0 {
        rows.push(Row {
            image: b,
            outline: None,
            window: None,
        });
    }
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).expect("create montage folder");
    }
    montage(&rows, &slices, 128).save(path).expect("write PNG");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(12);
    let out = PathBuf::from(args.get(2).cloned().unwrap_or_else(|| "docs/synth".into()));
    let template = Template::load(&Template::default_dir()).unwrap_or_else(|e| panic!("{e}"));
    let gen = Generator::new(template);
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut lines = vec![
        "| data | studies | DWI lesion/normal | ADC lesion/normal | normal-brain ADC (10⁻⁶ mm²/s) | s/study (generate) |".to_string(),
        "|---|---|---|---|---|---|".to_string(),
    ];
    for site in builtin_sites() {
        let mut st = Vec::new();
        let mut secs = 0.0;
        let mut shown = false;
        for i in 0..n {
            let t0 = Instant::now();
            let mut s = gen.study(&site, 2026, i);
            secs += t0.elapsed().as_secs_f64();
            let root = tmp.path().join(&site.name);
            write_study(&root, &mut s, &site, false).expect("write study");
            let study = Study::load(&StudySpec {
                paths: vec![root.join(&s.truth.id)],
                ..Default::default()
            })
            .expect("read back");
            let lesion = read_volume(&root.join(&s.truth.files.mask))
                .expect("mask")
                .map(|&x| x > 0.5);
            st.push(stats(&study, &lesion));
            if !shown && lesion.count() >= 200 {
                save_montage(
                    &out.join(format!("montage-{}.png", site.name)),
                    &study,
                    &lesion,
                );
                shown = true;
            }
        }
        lines.push(row(
            &format!("synthetic {}", site.name),
            &st,
            n,
            Some(secs / n as f64),
        ));
        eprintln!("{}", lines.last().expect("row"));
    }
    let shared =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/real/isles22");
    if shared.is_dir() {
        let mut st = Vec::new();
        for case in [
            "sub-strokecase0001",
            "sub-strokecase0002",
            "sub-strokecase0003",
        ] {
            let dir = shared.join(case);
            let study = Study::load(&StudySpec {
                paths: vec![dir.clone()],
                ..Default::default()
            })
            .expect("ISLES case");
            let lesion = read_volume(&dir.join(format!("{case}_ses-0001_msk.nii.gz")))
                .expect("mask")
                .map(|&x| x > 0.5);
            st.push(stats(&study, &lesion));
            save_montage(
                &PathBuf::from(format!("target/realism/real-{case}.png")),
                &study,
                &lesion,
            );
        }
        lines.push(row("real ISLES'22 (3 cases)", &st, 3, None));
    } else {
        eprintln!("SKIPPED: ../shared/data/real/isles22 not found; no real-data row");
    }
    println!("{}", lines.join("\n"));
}
