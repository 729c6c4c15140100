//! Implant mode on the real studies in `../shared` (skipped with a message when absent) and
//! on generated inputs: contrast inside the real ISLES'22 range, truth kept, locations and
//! sizes, determinism, DWI-only fallback, refusal of what cannot be registered.

use std::path::{Path, PathBuf};
use strokeseg_core::{Grid, Volume};
use strokeseg_implant::{
    contrast, implant, prepare, write_dataset, Background, BackgroundKind, ImplantConfig,
    ImplantError,
};
use strokeseg_io::StudySpec;
use strokeseg_register::RegTemplate;
use strokeseg_synth::lesions::SMALL_LESION_ML;
use strokeseg_synth::Template;

fn template() -> Option<Template> {
    match Template::load(&Template::default_dir()) {
        Ok(t) => Some(t),
        // Built into the binary (strokeseg-assets), so never absent.
        Err(e) => panic!("the built-in MNI template: {e}"),
    }
}

fn isles(n: usize) -> Option<PathBuf> {
    let p = strokeseg_testkit::shared(&format!("data/real/isles22/sub-strokecase000{n}"));
    if p.is_none() {
        eprintln!("SKIPPED: ../shared/data/real/isles22 not present");
    }
    p
}

fn load(path: &Path, kind: BackgroundKind) -> Background {
    let spec = StudySpec {
        paths: vec![path.to_path_buf()],
        ..StudySpec::default()
    };
    let truth = strokeseg_implant::background::find_truth(path);
    let truth = if kind == BackgroundKind::Labelled {
        truth
    } else {
        None
    };
    let id = strokeseg_implant::background::default_id(path);
    Background::load(&id, &spec, kind, truth.as_deref(), None).expect("background loads")
}

/// The real ISLES'22 lesions' contrast range (min, max of the three cases' medians).
fn real_range(bgs: &[Background]) -> ((f64, f64), (f64, f64)) {
    let (mut d, mut a) = ((f64::MAX, f64::MIN), (f64::MAX, f64::MIN));
    for bg in bgs {
        let brain = strokeseg_preproc::brain_mask(
            &bg.study.dwi,
            &strokeseg_preproc::BrainMaskConfig::default(),
        );
        let c = contrast(
            bg.study.dwi.data(),
            bg.study.adc.as_ref().map(|x| x.data()),
            brain.data(),
            bg.truth.as_ref().expect("truth").data(),
        )
        .expect("lesion");
        eprintln!("real {}: {c:?}", bg.id);
        d = (d.0.min(c.dwi_ratio), d.1.max(c.dwi_ratio));
        let r = c.adc_ratio.expect("adc");
        a = (a.0.min(r), a.1.max(r));
    }
    (d, a)
}

#[test]
fn isles_implants_have_real_contrast_and_keep_the_truth() {
    let Some(tpl) = template() else { return };
    let Some(_) = isles(1) else { return };
    let bgs: Vec<Background> = (1..=3)
        .map(|n| load(&isles(n).unwrap(), BackgroundKind::Labelled))
        .collect();
    let ((dlo, dhi), (alo, ahi)) = real_range(&bgs);
    let reg_tpl = RegTemplate::dwi_like(&tpl);
    let cfg = ImplantConfig::default();
    let (mut dwi_r, mut adc_r) = (Vec::new(), Vec::new());
    for bg in &bgs {
        let prep = prepare(bg, &reg_tpl, &cfg).expect("ISLES registers");
        let own = bg.truth.as_ref().unwrap().data();
        for index in 1..=4 {
            let s = implant(&prep, &tpl, &cfg, 11, index, true);
            assert!(
                own.iter().zip(s.mask.iter()).all(|(&o, &m)| !o || m),
                "the study's own lesions stay labelled"
            );
            let implanted = {
                let mut m = s.mask.clone();
                m.zip_mut_with(own, |m, &o| *m &= !o);
                m
            };
            if implanted.iter().filter(|&&m| m).count() < 3 {
                continue;
            }
            let c = contrast(&s.dwi, s.adc.as_ref(), prep.brain.data(), &implanted).unwrap();
            eprintln!("{} #{index}: {c:?}", bg.id);
            dwi_r.push(c.dwi_ratio);
            adc_r.push(c.adc_ratio.unwrap());
        }
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (md, ma) = (med(&mut dwi_r), med(&mut adc_r));
    eprintln!("implanted median DWI ratio {md:.3} (real {dlo:.3}–{dhi:.3}), ADC ratio {ma:.3} (real {alo:.3}–{ahi:.3})");
    assert!(dwi_r.len() >= 6, "enough implanted studies measured");
    assert!(
        md >= dlo && md <= dhi,
        "DWI ratio {md} outside real {dlo}–{dhi}"
    );
    assert!(
        ma >= alo && ma <= ahi,
        "ADC ratio {ma} outside real {alo}–{ahi}"
    );
}

#[test]
fn locations_and_sizes_follow_the_mission() {
    let Some(tpl) = template() else { return };
    let Some(p) = isles(3) else { return };
    let bg = load(&p, BackgroundKind::Labelled);
    let reg_tpl = RegTemplate::dwi_like(&tpl);
    let cfg = ImplantConfig::default();
    let prep = prepare(&bg, &reg_tpl, &cfg).unwrap();
    let (mut studies, mut posterior, mut lesions, mut small) = (0, 0, 0, 0);
    for index in 1..=40 {
        let s = implant(&prep, &tpl, &cfg, 3, index, true);
        if s.lesions.is_empty() {
            continue;
        }
        studies += 1;
        if s.lesions
            .iter()
            .any(|(p, _)| strokeseg_implant::is_posterior(p.lesion.kind, p.region))
        {
            posterior += 1;
        }
        lesions += s.lesions.len();
        small += s
            .lesions
            .iter()
            .filter(|(p, _)| p.pv_volume_ml <= SMALL_LESION_ML)
            .count();
    }
    let ps = posterior as f64 / studies as f64;
    let ss = small as f64 / lesions as f64;
    eprintln!(
        "{studies} lesion studies, {ps:.2} posterior fossa; {lesions} lesions, {ss:.2} ≤ 0.087 mL"
    );
    assert!(
        studies >= 36,
        "lesions placed in most studies ({studies}/40)"
    );
    assert!(ps >= 0.25, "posterior-fossa share {ps}");
    assert!((0.35..=0.7).contains(&ss), "small-lesion share {ss}");
}

#[test]
fn every_implanted_lesion_is_visible_above_the_noise() {
    let Some(tpl) = template() else { return };
    let Some(p) = isles(1) else { return };
    let bg = load(&p, BackgroundKind::Labelled);
    let reg_tpl = RegTemplate::dwi_like(&tpl);
    let cfg = ImplantConfig {
        min_cnr: 4.0,
        ..ImplantConfig::default()
    };
    let prep = prepare(&bg, &reg_tpl, &cfg).unwrap();
    let med = f64::from(bg.study.dwi.median_in(&prep.brain).unwrap());
    let rel = f64::from(prep.noise_sd) / med;
    eprintln!("noise SD {} ({rel:.3} of the brain median)", prep.noise_sd);
    assert!((0.01..0.3).contains(&rel), "noise SD {rel} of the median");
    let all = ImplantConfig::default();
    assert_eq!(all.min_cnr, 0.0, "off by default");
    let (mut faint_without, mut small_kept) = (0, 0);
    for index in 1..=20 {
        for (p, _) in implant(&prep, &tpl, &cfg, 5, index, true).lesions {
            assert!(
                p.peak_cnr >= cfg.min_cnr,
                "kept a lesion at {} SDs",
                p.peak_cnr
            );
            small_kept += usize::from(p.pv_volume_ml <= SMALL_LESION_ML);
        }
        faint_without += implant(&prep, &tpl, &all, 5, index, true)
            .lesions
            .iter()
            .filter(|(p, _)| p.peak_cnr < cfg.min_cnr)
            .count();
    }
    eprintln!(
        "{faint_without} faint lesions without the rule; {small_kept} small ones kept with it"
    );
    assert!(
        faint_without > 0,
        "the rule has something to drop in 20 studies"
    );
    assert!(small_kept > 0, "small lesions survive the rule");
}

#[test]
fn same_seed_same_bytes() {
    let Some(tpl) = template() else { return };
    let Some(p) = isles(2) else { return };
    let bg = load(&p, BackgroundKind::Labelled);
    let reg_tpl = RegTemplate::dwi_like(&tpl);
    let cfg = ImplantConfig::default();
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    for d in &dirs {
        // Registration is part of what must be reproducible: prepare anew each time.
        let prep = prepare(&bg, &reg_tpl, &cfg).unwrap();
        write_dataset(d.path(), &[prep], &tpl, &cfg, 2, 9, true, &mut |_| {}).unwrap();
    }
    let files = |root: &Path| {
        let mut v = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    v.push(p.strip_prefix(root).unwrap().to_path_buf());
                }
            }
        }
        v.sort();
        v
    };
    let (a, b) = (files(dirs[0].path()), files(dirs[1].path()));
    assert_eq!(a, b);
    assert!(a.len() >= 10, "{a:?}");
    for f in &a {
        assert_eq!(
            std::fs::read(dirs[0].path().join(f)).unwrap(),
            std::fs::read(dirs[1].path().join(f)).unwrap(),
            "{} differs between two runs with the same seed",
            f.display()
        );
    }
}

#[test]
fn dwi_only_study_without_b_uses_the_stated_fallback() {
    let Some(tpl) = template() else { return };
    let Some(p) = strokeseg_testkit::shared("data/real/dicom/aisd-0019983-dwi") else {
        eprintln!("SKIPPED: ../shared/data/real/dicom not present");
        return;
    };
    let bg = load(&p, BackgroundKind::Unknown);
    assert!(bg.study.b_value.is_none() && bg.study.adc.is_none());
    let reg_tpl = RegTemplate::dwi_like(&tpl);
    let cfg = ImplantConfig::default();
    let prep = prepare(&bg, &reg_tpl, &cfg).expect("AISD registers");
    assert!(prep.b_assumed);
    assert_eq!(prep.b_value, 1000.0);
    assert!(
        prep.exclude.is_some(),
        "unknown background excludes rule candidates"
    );
    let dir = tempfile::tempdir().unwrap();
    let recs = write_dataset(dir.path(), &[prep], &tpl, &cfg, 2, 1, false, &mut |_| {}).unwrap();
    assert_eq!(recs.len(), 2);
    for r in &recs {
        assert!(r.b_value_assumed && !r.has_adc && r.has_ignore);
        assert!(!r.files.iter().any(|f| f.ends_with("_adc.nii.gz")));
    }
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(m["studies"][0]["background_kind"], "unknown");
}

#[test]
fn a_study_that_is_not_a_brain_is_refused() {
    let Some(tpl) = template() else { return };
    // Smooth noise in a box: no brain to register.
    let g = Grid::axis_aligned([64, 64, 20], [3.0, 3.0, 5.0], [-96.0, -96.0, -50.0]);
    let data = ndarray::Array3::from_shape_fn((64, 64, 20), |(i, j, k)| {
        100.0 + ((i * 7 + j * 13 + k * 29) % 17) as f32
    });
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("box_dwi.nii.gz");
    strokeseg_io::nifti_io::write_volume(&f, &Volume::on_grid(data, &g), "test").unwrap();
    let spec = StudySpec {
        paths: vec![f],
        ..StudySpec::default()
    };
    let bg = Background::load("box", &spec, BackgroundKind::Healthy, None, None).unwrap();
    let reg_tpl = RegTemplate::dwi_like(&tpl);
    let err = prepare(&bg, &reg_tpl, &ImplantConfig::default()).err();
    match err {
        Some(e @ (ImplantError::Registration { .. } | ImplantError::NoBrain { .. })) => {
            let msg = e.to_string();
            eprintln!("{msg}");
            assert!(msg.contains("box"), "names the study: {msg}");
        }
        other => panic!("expected a refusal, got {:?}", other.map(|e| e.to_string())),
    }
}
