//! Normal-tissue signal by anatomical region, measured the same way on real and synthetic
//! studies: each study is registered to MNI and every native brain voxel is classified by the
//! ICBM152 2009a tissue maps and `strokeseg_synth::regions`.
//!
//! ```sh
//! cargo run --release -p strokeseg-register --example tissue_regions -- \
//!     [--json FILE] [--png FILE] [--group NAME] [--lesion MASK] [--only-lesion-free] STUDY ...
//! cargo run --release -p strokeseg-register --example tissue_regions -- \
//!     --generate OUT SITE N SEED        # what `strokeseg synth` writes, from this build
//! ```
//!
//! STUDY is anything `strokeseg inspect` accepts (DICOM folder, NIfTI file or folder), or the
//! root of a synthetic dataset (a folder with `manifest.csv`), which expands into its studies
//! (all of them, or the lesion-free ones with `--only-lesion-free`). `--group NAME` labels the
//! studies that follow (default `real`); a dataset root's studies get `NAME/<folder>`
//! (default `synthetic/<folder>`). A group `a/b` is also counted in group `a`. Lesion voxels are excluded (dilated by 3 mm): the mask
//! given by `--lesion` (applies to the next STUDY), else a `*_msk.nii[.gz]` next to the images
//! (ISLES'22) or under the dataset's `derivatives/<sub>/` (BIDS, synthetic).
//!
//! Per study: brain mask = `strokeseg_preproc::brain_mask` of the DWI, minus lesion;
//! registration = `strokeseg_register::register` (affine + non-linear, coverage limit 0.45 for
//! partial fields of view); each brain voxel centre goes through `Registration::to_mni` to the
//! nearest 1 mm template voxel. Regions (not exclusive):
//! - cerebellum / brainstem: `strokeseg_synth::regions::region_at`, template GM + WM ≥ 0.5;
//! - cortex: supratentorial, GM ≥ 0.5, ≤ 8 mm from the outside of the template's
//!   intracranial mask;
//! - deep GM: supratentorial, GM ≥ 0.5, > 12 mm deep, inside the basal-ganglia/thalamus box
//!   |x| < 32, −40 < y < 30, −15 < z < 25 mm;
//! - WM: supratentorial, WM ≥ 0.5;
//! - CSF: CSF ≥ 0.7 (anywhere);
//! - skull base / orbitofrontal: supratentorial, z < −10 and y > 10 mm, GM + WM ≥ 0.5;
//! - inferior temporal (above the petrous bone and mastoid): supratentorial, z < −15,
//!   y ≤ 10, |x| ≥ 25 mm, GM + WM ≥ 0.5.
//!
//! Per region: DWI median ÷ whole-brain DWI median, DWI 5th and 95th percentiles ÷ whole-brain
//! median, ADC median (10⁻⁶ mm²/s, positive values, when the study has an ADC), the same ÷
//! the whole-brain ADC median, and the voxel count.
//! Aggregates per group: median over studies (min–max). Studies whose registration failed
//! are listed but left out of the aggregates. `--png FILE`: one row per study of axial MNI
//! slices (z = −50 … +40 mm) of DWI ÷ brain median (0–2), for looking, not for committing
//! when the studies are real.

/// Any error, with its message (this example's errors are all reported and ended on).
type Result<T, E = Box<dyn std::error::Error + Send + Sync>> = std::result::Result<T, E>;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;
use strokeseg_core::{percentile_in_place, Volume};
use strokeseg_io::nifti_io::read_volume;
use strokeseg_io::{Study, StudySpec};
use strokeseg_preproc::{brain_mask, dilate_mm, BrainMaskConfig};
use strokeseg_register::{register, Limits, RegConfig, RegTemplate};
use strokeseg_synth::regions::{region_at, Region};
use strokeseg_synth::Template;

/// Region names, in table order.
const REGIONS: [&str; 9] = [
    "whole brain",
    "cerebellum",
    "brainstem",
    "cortex",
    "deep GM",
    "WM",
    "CSF",
    "skull base / orbitofrontal",
    "inferior temporal",
];

/// One study to measure.
#[derive(Debug, Clone)]
struct Job {
    name: String,
    group: String,
    path: PathBuf,
    lesion: Option<PathBuf>,
}

/// What one region holds in one study.
#[derive(Debug, Clone, Serialize)]
struct RegionStats {
    region: String,
    voxels: usize,
    dwi_ratio: Option<f64>,
    dwi_p05_ratio: Option<f64>,
    dwi_p95_ratio: Option<f64>,
    adc_median: Option<f64>,
    adc_ratio: Option<f64>,
}

/// One measured study.
#[derive(Debug, Clone, Serialize)]
struct StudyStats {
    name: String,
    group: String,
    path: PathBuf,
    b_value: Option<f64>,
    brain_voxels: usize,
    lesion_voxels_excluded: usize,
    registration: String,
    coverage: f64,
    seconds: f64,
    regions: Vec<RegionStats>,
    /// Axial MNI slices of DWI ÷ brain median (for `--png`), not serialised.
    #[serde(skip)]
    slices: Vec<ndarray::Array2<f32>>,
}

/// Template lookups on its 1 mm grid.
struct Atlas {
    tpl: Template,
    /// Depth (mm) inside the intracranial mask (0 outside).
    depth: ndarray::Array3<f32>,
    inv: nalgebra::Matrix4<f64>,
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() || args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{}", usage());
        return Ok(());
    }
    if args[0] == "--generate" {
        return generate(&args[1..]);
    }
    let mut jobs = Vec::new();
    let mut json_out = None;
    let mut png_out: Option<PathBuf> = None;
    let mut group: Option<String> = None;
    let mut lesion: Option<PathBuf> = None;
    let mut lesion_free = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--json" => json_out = Some(PathBuf::from(it.next().ok_or("--json FILE")?)),
            "--png" => png_out = Some(PathBuf::from(it.next().ok_or("--png FILE")?)),
            "--group" => group = Some(it.next().ok_or("--group NAME")?.clone()),
            "--lesion" => lesion = Some(PathBuf::from(it.next().ok_or("--lesion MASK")?)),
            "--only-lesion-free" => lesion_free = true,
            s if s.starts_with("--") => {
                return Err(format!("unknown option {s}\n{}", usage()).into())
            }
            p => {
                let path = PathBuf::from(p);
                if path.join("manifest.csv").is_file() {
                    jobs.extend(dataset_jobs(&path, group.as_deref(), lesion_free)?);
                } else {
                    let lesion = lesion.take().or_else(|| find_msk(&path));
                    jobs.push(Job {
                        name: display_name(&path),
                        group: group.clone().unwrap_or_else(|| "real".into()),
                        path,
                        lesion,
                    });
                }
            }
        }
    }
    if jobs.is_empty() {
        return Err(format!("no study given\n{}", usage()).into());
    }
    let t = Instant::now();
    let template = Template::load(&Template::default_dir())?;
    let reg_tpl = RegTemplate::dwi_like(&template);
    let depth = depth_mm(&template.intracranial);
    let inv = template.grid.world_to_voxel_affine();
    let atlas = Atlas {
        tpl: template,
        depth,
        inv,
    };
    eprintln!(
        "template ready in {:.1} s; {} studies",
        t.elapsed().as_secs_f64(),
        jobs.len()
    );
    let mut results = Vec::new();
    for job in &jobs {
        match measure(job, &atlas, &reg_tpl) {
            Ok(s) => {
                eprintln!(
                    "{} [{}]: {} ({:.1} s)",
                    s.name, s.group, s.registration, s.seconds
                );
                results.push(s);
            }
            Err(e) => eprintln!("{}: error: {e:#}", job.name),
        }
    }
    print_studies(&results);
    let aggregates = aggregate(&results);
    print_aggregates(&aggregates);
    if let Some(p) = png_out {
        write_png(&results, &p)?;
        eprintln!("wrote {}", p.display());
    }
    if let Some(p) = json_out {
        let doc = serde_json::json!({ "studies": results, "aggregates": aggregates });
        std::fs::write(&p, serde_json::to_string_pretty(&doc)?)
            .map_err(|e| format!("writing {}: {e}", p.display()))?;
        eprintln!("wrote {}", p.display());
    }
    Ok(())
}

fn usage() -> &'static str {
    "tissue_regions [--json FILE] [--png FILE] [--group NAME] [--lesion MASK] [--only-lesion-free] STUDY ...\n\
     tissue_regions --generate OUT SITE N SEED\n\n\
     STUDY: DICOM folder, NIfTI file/folder, or a synthetic dataset root (manifest.csv).\n\
     Prints per-study and per-group Markdown tables of DWI/ADC by region (see the source)."
}

/// `--generate OUT SITE N SEED`: the dataset `strokeseg synth --out OUT --n N --seed SEED
/// --site SITE` writes (same library call), from the generator as built here.
fn generate(a: &[String]) -> Result<()> {
    let [out, site, n, seed] = a else {
        return Err("--generate OUT SITE N SEED".into());
    };
    let site = strokeseg_synth::site::find_site(site)?;
    let gen = strokeseg_synth::dataset::Generator::new(Template::load(&Template::default_dir())?);
    let studies = strokeseg_synth::manifest::write_dataset(
        &gen,
        &site,
        Path::new(out),
        n.parse()?,
        seed.parse()?,
        false,
        &|_| {},
    )?;
    eprintln!("wrote {} studies of {} to {out}", studies.len(), site.name);
    Ok(())
}

/// Studies of a synthetic dataset root, from its manifest.csv.
fn dataset_jobs(root: &Path, group: Option<&str>, lesion_free: bool) -> Result<Vec<Job>> {
    let text = std::fs::read_to_string(root.join("manifest.csv"))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .ok_or("empty manifest.csv")?
        .split(',')
        .collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let (Some(c_id), Some(c_les), Some(c_mask)) = (col("id"), col("has_lesion"), col("mask"))
    else {
        return Err(format!("{}: no id/has_lesion/mask columns", root.display()).into());
    };
    let folder = display_name(root);
    let group = format!("{}/{folder}", group.unwrap_or("synthetic"));
    let mut jobs = Vec::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        let get = |c: usize| f.get(c).copied().unwrap_or("");
        if lesion_free && get(c_les) == "true" {
            continue;
        }
        let id = get(c_id);
        let mask = root.join(get(c_mask));
        jobs.push(Job {
            name: format!("{folder}/{id}"),
            group: group.clone(),
            path: root.join(id),
            lesion: mask.is_file().then_some(mask),
        });
    }
    Ok(jobs)
}

/// A lesion mask (`*_msk.nii[.gz]`) in a study folder, if any.
fn find_msk(dir: &Path) -> Option<PathBuf> {
    let rd = std::fs::read_dir(dir).ok()?;
    let mut found: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with("_msk.nii.gz") || n.ends_with("_msk.nii"))
        })
        .collect();
    found.sort();
    found.into_iter().next()
}

fn display_name(p: &Path) -> String {
    p.file_name()
        .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into())
}

/// Exact Euclidean distance (mm, 1 mm voxels) from each `true` voxel to the nearest `false`
/// one (separable squared distance transform of Felzenszwalb & Huttenlocher).
fn depth_mm(inside: &ndarray::Array3<bool>) -> ndarray::Array3<f32> {
    const INF: f32 = 1e12;
    let mut d = inside.mapv(|b| if b { INF } else { 0.0 });
    for axis in 0..3 {
        for mut lane in d.lanes_mut(ndarray::Axis(axis)) {
            let f: Vec<f32> = lane.iter().copied().collect();
            let out = edt_1d(&f);
            for (o, v) in lane.iter_mut().zip(out) {
                *o = v;
            }
        }
    }
    d.mapv(f32::sqrt)
}

/// 1-D squared distance transform of sampled function `f` (lower envelope of parabolas).
fn edt_1d(f: &[f32]) -> Vec<f32> {
    let n = f.len();
    let mut out = vec![0.0f32; n];
    let mut v = vec![0usize; n];
    let mut z = vec![0.0f32; n + 1];
    let mut k = 0usize;
    z[0] = f32::NEG_INFINITY;
    z[1] = f32::INFINITY;
    let sect = |q: usize, p: usize| {
        ((f[q] + (q * q) as f32) - (f[p] + (p * p) as f32)) / (2.0 * q as f32 - 2.0 * p as f32)
    };
    for q in 1..n {
        let mut s = sect(q, v[k]);
        while s <= z[k] {
            k -= 1;
            s = sect(q, v[k]);
        }
        k += 1;
        v[k] = q;
        z[k] = s;
        z[k + 1] = f32::INFINITY;
    }
    k = 0;
    for (q, o) in out.iter_mut().enumerate() {
        while z[k + 1] < q as f32 {
            k += 1;
        }
        let dq = q as f32 - v[k] as f32;
        *o = dq * dq + f[v[k]];
    }
    out
}

/// Regions (indices into [`REGIONS`], besides 0 = whole brain) of an MNI point.
fn classify(atlas: &Atlas, q: [f64; 3], out: &mut Vec<usize>) {
    out.clear();
    let v = atlas.inv * nalgebra::Vector4::new(q[0], q[1], q[2], 1.0);
    let d = atlas.tpl.grid.dims;
    let idx: Vec<usize> = (0..3)
        .filter_map(|a| {
            let r = v[a].round();
            (r >= 0.0 && (r as usize) < d[a]).then_some(r as usize)
        })
        .collect();
    if idx.len() < 3 {
        return;
    }
    let ix = [idx[0], idx[1], idx[2]];
    if !atlas.tpl.intracranial[ix] {
        return;
    }
    let (g, w, c) = (atlas.tpl.gm[ix], atlas.tpl.wm[ix], atlas.tpl.csf[ix]);
    let depth = atlas.depth[ix];
    let tissue = g + w >= 0.5;
    if c >= 0.7 {
        out.push(6);
    }
    match region_at(q) {
        Region::Cerebellum if tissue => out.push(1),
        Region::Brainstem if tissue => out.push(2),
        Region::Supratentorial => {
            if g >= 0.5 && depth <= 8.0 {
                out.push(3);
            }
            let bg_box =
                q[0].abs() < 32.0 && (-40.0..30.0).contains(&q[1]) && (-15.0..25.0).contains(&q[2]);
            if g >= 0.5 && depth > 12.0 && bg_box {
                out.push(4);
            }
            if w >= 0.5 {
                out.push(5);
            }
            if tissue && q[2] < -10.0 && q[1] > 10.0 {
                out.push(7);
            }
            if tissue && q[2] < -15.0 && q[1] <= 10.0 && q[0].abs() >= 25.0 {
                out.push(8);
            }
        }
        _ => {}
    }
}

fn median(v: &mut [f32]) -> Option<f32> {
    percentile_in_place(v, 50.0)
}

fn measure(job: &Job, atlas: &Atlas, reg_tpl: &RegTemplate) -> Result<StudyStats> {
    let t = Instant::now();
    let study = Study::load(&StudySpec {
        paths: vec![job.path.clone()],
        ..Default::default()
    })
    .map_err(|e| format!("loading {}: {e}", job.path.display()))?;
    let grid = study.dwi.grid();
    let mut brain = brain_mask(&study.dwi, &BrainMaskConfig::default());
    let reg_brain = brain.clone();
    let mut excluded = 0;
    if let Some(p) = &job.lesion {
        let m: Volume = read_volume(p)?;
        let m = if m.grid().same_as(&grid, 0.01) {
            m
        } else {
            m.resample(&grid, strokeseg_core::Interp::Linear, 0.0)
        };
        let les = dilate_mm(&m.data().mapv(|x| x >= 0.5), 3.0, grid.spacing_mm());
        for (b, l) in brain.data_mut().iter_mut().zip(les.iter()) {
            if *b && *l {
                *b = false;
                excluded += 1;
            }
        }
    }
    let cfg = RegConfig {
        limits: Limits {
            min_coverage: 0.45,
            ..Limits::default()
        },
        ..RegConfig::default()
    };
    let reg = register(reg_tpl, &study.dwi, &reg_brain, &cfg);
    let n_regions = REGIONS.len();
    let mut dwi_v: Vec<Vec<f32>> = vec![Vec::new(); n_regions];
    let mut adc_v: Vec<Vec<f32>> = vec![Vec::new(); n_regions];
    let mut which = Vec::new();
    let dwi = study.dwi.data();
    let adc = study.adc.as_ref().map(Volume::data);
    for ((i, j, k), &inb) in brain.data().indexed_iter() {
        if !inb {
            continue;
        }
        let val = dwi[[i, j, k]];
        if !val.is_finite() {
            continue;
        }
        let q = reg.to_mni(grid.voxel_to_world([i as f64, j as f64, k as f64]));
        classify(atlas, q, &mut which);
        which.push(0);
        let a = adc
            .map(|a| a[[i, j, k]])
            .filter(|a| a.is_finite() && *a > 0.0);
        for &r in &which {
            dwi_v[r].push(val);
            if let Some(a) = a {
                adc_v[r].push(a);
            }
        }
    }
    let brain_med = median(&mut dwi_v[0].clone())
        .map(f64::from)
        .filter(|m| *m > 0.0)
        .ok_or("no brain signal")?;
    let brain_adc = median(&mut adc_v[0].clone()).map(f64::from);
    let regions = (0..n_regions)
        .map(|r| {
            let n = dwi_v[r].len();
            let ok = n >= 50;
            RegionStats {
                region: REGIONS[r].into(),
                voxels: n,
                dwi_ratio: ok
                    .then(|| median(&mut dwi_v[r]).map(|m| f64::from(m) / brain_med))
                    .flatten(),
                dwi_p05_ratio: ok
                    .then(|| {
                        percentile_in_place(&mut dwi_v[r], 5.0).map(|m| f64::from(m) / brain_med)
                    })
                    .flatten(),
                dwi_p95_ratio: ok
                    .then(|| {
                        percentile_in_place(&mut dwi_v[r], 95.0).map(|m| f64::from(m) / brain_med)
                    })
                    .flatten(),
                adc_median: (adc_v[r].len() >= 50)
                    .then(|| median(&mut adc_v[r]).map(f64::from))
                    .flatten(),
                adc_ratio: None,
            }
        })
        .map(|mut r: RegionStats| {
            r.adc_ratio = r.adc_median.zip(brain_adc).map(|(a, b)| a / b);
            r
        })
        .collect();
    let slices = mni_slices(&reg, &study.dwi, brain_med);
    Ok(StudyStats {
        name: job.name.clone(),
        group: job.group.clone(),
        path: job.path.clone(),
        b_value: study.b_value,
        brain_voxels: brain.count(),
        lesion_voxels_excluded: excluded,
        registration: match &reg.failure {
            None => format!(
                "ok{}",
                if reg.is_nonlinear() {
                    " (non-linear)"
                } else {
                    " (affine)"
                }
            ),
            Some(f) => format!("FAILED: {f}"),
        },
        coverage: reg.quality.coverage,
        seconds: t.elapsed().as_secs_f64(),
        regions,
        slices,
    })
}

fn f2(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |x| format!("{x:.2}"))
}
fn f0(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |x| format!("{x:.0}"))
}

fn print_studies(results: &[StudyStats]) {
    println!("### Per study: DWI median ÷ brain median / DWI p95 ÷ brain median / ADC median (10⁻⁶ mm²/s) [voxels]\n");
    print!("| study | group | b | registration |");
    for r in REGIONS {
        print!(" {r} |");
    }
    println!();
    println!("|---|---|---|---|{}", "---|".repeat(REGIONS.len()));
    for s in results {
        print!(
            "| {} | {} | {} | {} (cov {:.2}) |",
            s.name,
            s.group,
            f0(s.b_value),
            s.registration,
            s.coverage
        );
        for r in &s.regions {
            print!(
                " {} / {} / {} [{}] |",
                f2(r.dwi_ratio),
                f2(r.dwi_p95_ratio),
                f0(r.adc_median),
                r.voxels
            );
        }
        println!();
    }
    println!();
}

/// Median (min, max) of one measure over studies.
#[derive(Debug, Clone, Serialize)]
struct Summary {
    n: usize,
    median: f64,
    min: f64,
    max: f64,
}

fn summarise(mut v: Vec<f64>) -> Option<Summary> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    };
    Some(Summary {
        n,
        median,
        min: v[0],
        max: v[n - 1],
    })
}

#[derive(Debug, Clone, Serialize)]
struct RegionAggregate {
    region: String,
    dwi_ratio: Option<Summary>,
    dwi_p05_ratio: Option<Summary>,
    dwi_p95_ratio: Option<Summary>,
    adc_median: Option<Summary>,
    adc_ratio: Option<Summary>,
    voxels: Option<Summary>,
}

/// Per group (and parent group), per region, over studies whose registration passed.
fn aggregate(results: &[StudyStats]) -> BTreeMap<String, Vec<RegionAggregate>> {
    let mut groups: BTreeMap<String, Vec<&StudyStats>> = BTreeMap::new();
    for s in results.iter().filter(|s| s.registration.starts_with("ok")) {
        let mut name = String::new();
        for part in s.group.split('/') {
            if !name.is_empty() {
                name.push('/');
            }
            name.push_str(part);
            groups.entry(name.clone()).or_default().push(s);
        }
    }
    groups
        .into_iter()
        .map(|(g, ss)| {
            let regions = (0..REGIONS.len())
                .map(|r| {
                    let pick = |f: &dyn Fn(&RegionStats) -> Option<f64>| {
                        summarise(ss.iter().filter_map(|s| f(&s.regions[r])).collect())
                    };
                    RegionAggregate {
                        region: REGIONS[r].into(),
                        dwi_ratio: pick(&|x| x.dwi_ratio),
                        dwi_p05_ratio: pick(&|x| x.dwi_p05_ratio),
                        dwi_p95_ratio: pick(&|x| x.dwi_p95_ratio),
                        adc_median: pick(&|x| x.adc_median),
                        adc_ratio: pick(&|x| x.adc_ratio),
                        voxels: pick(&|x| Some(x.voxels as f64)),
                    }
                })
                .collect();
            (g, regions)
        })
        .collect()
}

fn fmt_sum(s: Option<&Summary>, digits: usize) -> String {
    s.map_or_else(
        || "–".into(),
        |s| format!("{:.d$} ({:.d$}–{:.d$})", s.median, s.min, s.max, d = digits),
    )
}

fn print_aggregates(agg: &BTreeMap<String, Vec<RegionAggregate>>) {
    println!("### Per group: median over studies (min–max)\n");
    println!("| region | group | studies | DWI ÷ brain | DWI p5 ÷ brain | DWI p95 ÷ brain | ADC (10⁻⁶ mm²/s) | ADC ÷ brain ADC | voxels |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for (r, name) in REGIONS.iter().enumerate() {
        for (g, regions) in agg {
            let a = &regions[r];
            println!(
                "| {name} | {g} | {} | {} | {} | {} | {} | {} | {} |",
                a.dwi_ratio.as_ref().map_or(0, |s| s.n),
                fmt_sum(a.dwi_ratio.as_ref(), 2),
                fmt_sum(a.dwi_p05_ratio.as_ref(), 2),
                fmt_sum(a.dwi_p95_ratio.as_ref(), 2),
                fmt_sum(a.adc_median.as_ref(), 0),
                fmt_sum(a.adc_ratio.as_ref(), 2),
                a.voxels
                    .as_ref()
                    .map_or_else(|| "–".into(), |s| format!("{:.0}", s.median)),
            );
        }
    }
    println!();
}

/// MNI heights (mm) of the `--png` slices: cerebellum, posterior fossa and skull base,
/// temporal poles and orbitofrontal cortex, basal ganglia, centrum semiovale, vertex side.
const PNG_Z: [f64; 7] = [-50.0, -38.0, -26.0, -14.0, 0.0, 20.0, 40.0];

/// Axial MNI slices (2 mm, x −90…90, y −126…90) of `dwi` ÷ `norm`, 0 outside the study.
fn mni_slices(
    reg: &strokeseg_register::Registration,
    dwi: &Volume,
    norm: f64,
) -> Vec<ndarray::Array2<f32>> {
    let w2v = dwi.grid().world_to_voxel_affine();
    let d = dwi.dims();
    let src = dwi.data().view();
    PNG_Z
        .iter()
        .map(|&z| {
            ndarray::Array2::from_shape_fn((91, 109), |(ix, iy)| {
                let q = [-90.0 + 2.0 * ix as f64, -126.0 + 2.0 * iy as f64, z];
                let p = reg.to_world(q);
                let v = w2v * nalgebra::Vector4::new(p[0], p[1], p[2], 1.0);
                if (0..3).any(|a| v[a] < -0.5 || v[a] > d[a] as f64 - 0.5) {
                    return 0.0;
                }
                let c: [f64; 3] = std::array::from_fn(|a| v[a].clamp(0.0, (d[a] - 1) as f64));
                (f64::from(strokeseg_core::sample_trilinear(&src, c)) / norm) as f32
            })
        })
        .collect()
}

/// One row per study of its MNI slices (anterior up, patient's right on the left), grey
/// 0–2 × brain median, with the study name above.
fn write_png(results: &[StudyStats], path: &Path) -> Result<()> {
    use image::{Rgb, RgbImage};
    // Study rows, then one row per top-level group: the mean over its studies.
    let mut rows: Vec<(String, Vec<ndarray::Array2<f32>>)> = results
        .iter()
        .map(|s| (format!("{} [{}]", s.name, s.group), s.slices.clone()))
        .collect();
    let mut tops: Vec<&str> = results
        .iter()
        .map(|s| s.group.split('/').next().unwrap_or(""))
        .collect();
    tops.dedup();
    for g in tops {
        let members: Vec<&StudyStats> = results
            .iter()
            .filter(|s| s.group.split('/').next() == Some(g))
            .collect();
        let mean = (0..PNG_Z.len())
            .map(|c| {
                let mut sum = ndarray::Array2::<f32>::zeros((91, 109));
                let mut n = sum.clone();
                for s in &members {
                    for ((o, k), &v) in sum.iter_mut().zip(n.iter_mut()).zip(&s.slices[c]) {
                        if v > 0.0 {
                            *o += v;
                            *k += 1.0;
                        }
                    }
                }
                ndarray::Zip::from(&mut sum).and(&n).for_each(|o, &k| {
                    *o = if k > 0.0 { *o / k } else { 0.0 };
                });
                sum
            })
            .collect();
        rows.push((format!("mean of {} studies [{g}]", members.len()), mean));
    }
    let (sw, sh, px) = (91u32, 109u32, 2u32);
    let label = 12u32;
    let w = PNG_Z.len() as u32 * sw * px;
    let h = rows.len() as u32 * (sh * px + label);
    let mut img = RgbImage::new(w.max(1), h.max(1));
    for (r, (name, slices)) in rows.iter().enumerate() {
        let y0 = r as u32 * (sh * px + label);
        strokeseg_report::text::draw_text(&mut img, 2, y0 + 2, name, 1, Rgb([255, 255, 0]));
        for (c, sl) in slices.iter().enumerate() {
            for ((ix, iy), &v) in sl.indexed_iter() {
                let g = (v / 2.0 * 255.0).clamp(0.0, 255.0) as u8;
                let (x, y) = (ix as u32, sh - 1 - iy as u32);
                for dy in 0..px {
                    for dx in 0..px {
                        img.put_pixel(
                            c as u32 * sw * px + x * px + dx,
                            y0 + label + y * px + dy,
                            Rgb([g, g, g]),
                        );
                    }
                }
            }
        }
    }
    img.save(path)?;
    Ok(())
}
