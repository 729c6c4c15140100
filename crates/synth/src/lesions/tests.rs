//! Fast tests on the 2 mm analytic phantom.

use std::sync::OnceLock;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::anatomy;
use super::field::{fit, Clip, Gauge, Noise, ShapeSpec};
use super::*;

fn phantom() -> &'static Template {
    static T: OnceLock<Template> = OnceLock::new();
    T.get_or_init(|| Template::phantom(2.0))
}

const STUDIES: u64 = 200;

/// 200 lesion studies on the 2 mm phantom, seeds 0..200.
fn studies() -> &'static Vec<Vec<Lesion>> {
    static S: OnceLock<Vec<Vec<Lesion>>> = OnceLock::new();
    S.get_or_init(|| {
        (0..STUDIES)
            .map(|s| sample_lesions(&mut ChaCha8Rng::seed_from_u64(s), phantom()))
            .collect()
    })
}

fn all_lesions() -> impl Iterator<Item = &'static Lesion> {
    studies().iter().flatten()
}

pub(super) fn check_field(tpl: &Template, f: &SparseField, what: &str) {
    for (v, x) in f.iter_nonzero() {
        assert!(x > 0.0 && x <= 1.0, "{what}: fraction {x}");
        assert!(
            tpl.intracranial[v],
            "{what}: fraction outside the intracranial mask at {v:?}"
        );
        assert!(
            tpl.gm[v] + tpl.wm[v] > 0.15,
            "{what}: fraction on CSF at {v:?}"
        );
    }
    let d = f.data.dim();
    let end = [f.origin[0] + d.0, f.origin[1] + d.1, f.origin[2] + d.2];
    assert!(
        (0..3).all(|i| end[i] <= tpl.grid.dims[i]),
        "{what}: box outside the grid"
    );
}

#[test]
fn lesions_are_deterministic_for_a_seed() {
    for seed in [1u64, 7, 42] {
        let a = sample_lesions(&mut ChaCha8Rng::seed_from_u64(seed), phantom());
        let b = sample_lesions(&mut ChaCha8Rng::seed_from_u64(seed), phantom());
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(
                (x.kind, x.region, x.subtle, x.group),
                (y.kind, y.region, y.subtle, y.group)
            );
            assert_eq!(
                (x.adc_factor, x.s0_factor, x.target_volume_ml),
                (y.adc_factor, y.s0_factor, y.target_volume_ml)
            );
            assert_eq!(x.frac, y.frac);
        }
        let ma = sample_tissue_mimics(&mut ChaCha8Rng::seed_from_u64(seed), phantom(), true);
        let mb = sample_tissue_mimics(&mut ChaCha8Rng::seed_from_u64(seed), phantom(), true);
        assert_eq!(ma.len(), mb.len());
        assert!(ma
            .iter()
            .zip(&mb)
            .all(|(x, y)| x.frac == y.frac && x.kind == y.kind && x.s0_factor == y.s0_factor));
    }
}

#[test]
fn lesion_volumes_cover_the_log_range() {
    let v: Vec<f64> = all_lesions().map(|l| l.target_volume_ml).collect();
    let tiny = v.iter().filter(|&&x| x <= 0.087).count() as f64 / v.len() as f64;
    let big = v.iter().filter(|&&x| x >= 20.0).count();
    let mid = v.iter().filter(|&&x| (1.0..20.0).contains(&x)).count();
    eprintln!(
        "{} lesions: {:.0}% ≤ 0.087 mL, {mid} in 1–20 mL, {big} ≥ 20 mL",
        v.len(),
        tiny * 100.0
    );
    assert!(tiny >= 0.15, "only {:.0}% tiny", tiny * 100.0);
    assert!(big >= 10 && mid >= 10);
    assert!(v.iter().all(|&x| (0.004..=150.0).contains(&x)));
    // events (not dots) alone are still ≥ 15% tiny
    let events: Vec<f64> = all_lesions()
        .filter(|l| l.kind != LesionKind::EmbolicShower)
        .map(|l| l.target_volume_ml)
        .collect();
    let tiny_ev = events.iter().filter(|&&x| x <= 0.087).count() as f64 / events.len() as f64;
    assert!(tiny_ev >= 0.15, "{tiny_ev}");
}

#[test]
fn achieved_volume_matches_target() {
    let ml = phantom().grid.voxel_volume_ml();
    let (mut n, mut bad) = (0, Vec::new());
    for l in all_lesions().filter(|l| l.target_volume_ml >= 0.05) {
        let got = l.frac.volume_ml(ml);
        n += 1;
        if (got / l.target_volume_ml - 1.0).abs() > 0.3 {
            bad.push((l.kind, l.target_volume_ml, got));
        }
    }
    eprintln!(
        "{} of {n} lesions ≥ 0.05 mL off target by > 30%: {bad:?}",
        bad.len()
    );
    assert!(bad.len() * 50 <= n, "{bad:?}");
    // and smaller ones are never wildly off
    for l in all_lesions() {
        let got = l.frac.volume_ml(ml);
        assert!(
            got > 0.0 && got <= l.target_volume_ml * 1.3 + 0.01,
            "{:?} {} → {got}",
            l.kind,
            l.target_volume_ml
        );
    }
}

#[test]
fn fractions_are_valid_and_on_brain_tissue() {
    for l in all_lesions() {
        check_field(phantom(), &l.frac, &format!("{:?}", l.kind));
    }
}

#[test]
fn lesion_studies_have_one_to_four_separate_events() {
    for s in studies() {
        assert!(!s.is_empty());
        let groups = s.iter().map(|l| l.group).max().unwrap_or(0) + 1;
        assert!((1..=4).contains(&groups), "{groups} events");
        for (i, a) in s.iter().enumerate() {
            for b in &s[i + 1..] {
                assert!(
                    !a.frac.touches(&b.frac),
                    "lesions {:?} and {:?} touch",
                    a.kind,
                    b.kind
                );
            }
        }
    }
    let multi = studies()
        .iter()
        .filter(|s| s.iter().map(|l| l.group).max() > Some(0))
        .count();
    assert!((20..=100).contains(&multi), "{multi} multi-event studies");
}

#[test]
fn posterior_fossa_in_at_least_a_fifth_of_studies() {
    let pf = studies()
        .iter()
        .filter(|s| {
            s.iter()
                .any(|l| matches!(l.region, Region::Brainstem | Region::Cerebellum))
        })
        .count();
    eprintln!("posterior fossa in {pf} of {STUDIES} studies");
    assert!(pf as f64 >= 0.2 * STUDIES as f64);
    // and the posterior kinds sit where they should
    for l in all_lesions() {
        match l.kind {
            LesionKind::Brainstem => assert_eq!(l.region, Region::Brainstem),
            LesionKind::Cerebellar => assert_eq!(l.region, Region::Cerebellum),
            LesionKind::LargeMca | LesionKind::Territorial => {
                assert_eq!(l.region, Region::Supratentorial)
            }
            _ => {}
        }
        assert_eq!(l.region, region_at(l.frac.centroid_world(phantom())));
    }
}

#[test]
fn every_kind_appears_with_its_sizes() {
    for k in LesionKind::ALL {
        let n = all_lesions().filter(|l| l.kind == k).count();
        assert!(n > 0, "{k:?} never drawn");
        let (lo, hi) = k.volume_range_ml();
        if k != LesionKind::EmbolicShower {
            assert!(all_lesions()
                .filter(|l| l.kind == k)
                .all(|l| (lo..=hi).contains(&l.target_volume_ml)));
        }
    }
    assert!(all_lesions()
        .filter(|l| l.kind == LesionKind::EmbolicShower)
        .all(|l| l.target_volume_ml <= shapes::DOT_MAX_ML + 1e-12));
}

#[test]
fn factors_follow_the_spec() {
    let events: Vec<&Lesion> = all_lesions().collect();
    for l in &events {
        if l.subtle {
            assert!((0.70..=0.85).contains(&l.adc_factor) && (1.00..=1.05).contains(&l.s0_factor));
        } else {
            assert!((0.40..=0.70).contains(&l.adc_factor) && (1.00..=1.30).contains(&l.s0_factor));
        }
    }
    let (mut subtle, mut n) = (0, 0);
    for s in studies() {
        for g in 0..=s.iter().map(|l| l.group).max().unwrap_or(0) {
            let parts: Vec<&Lesion> = s.iter().filter(|l| l.group == g).collect();
            // the dots of one shower share kind and factors
            assert!(parts.windows(2).all(|w| w[0].kind == w[1].kind
                && w[0].adc_factor == w[1].adc_factor
                && w[0].s0_factor == w[1].s0_factor));
            n += 1;
            subtle += usize::from(parts[0].subtle);
        }
    }
    let share = subtle as f64 / n as f64;
    assert!((0.07..=0.25).contains(&share), "subtle share {share}");
}

#[test]
fn showers_are_several_separate_dots() {
    let mut showers = 0;
    for s in studies() {
        for g in 0..=s.iter().map(|l| l.group).max().unwrap_or(0) {
            let dots: Vec<&Lesion> = s
                .iter()
                .filter(|l| l.group == g && l.kind == LesionKind::EmbolicShower)
                .collect();
            if dots.is_empty() {
                continue;
            }
            showers += 1;
            let total: f64 = dots.iter().map(|d| d.target_volume_ml).sum();
            if total > 0.02 {
                assert!(dots.len() >= 2, "shower of {total} mL has one dot");
            }
        }
    }
    assert!(showers >= 5, "{showers} showers");
}

#[test]
fn mimics_have_their_factors_and_avoid_lesions() {
    let mut seen = std::collections::HashSet::new();
    let mut counts = [0usize; 2];
    for seed in 0..120u64 {
        let lesion_study = seed % 2 == 0;
        let mut rng = ChaCha8Rng::seed_from_u64(1000 + seed);
        let lesions = if lesion_study {
            sample_lesions(&mut rng, phantom())
        } else {
            Vec::new()
        };
        let mimics = sample_tissue_mimics_avoiding(&mut rng, phantom(), lesion_study, &lesions);
        counts[usize::from(lesion_study)] += mimics.iter().map(|m| m.group + 1).max().unwrap_or(0);
        for m in &mimics {
            seen.insert(m.kind);
            let ((a, b), (c, d)) = m.kind.factor_ranges();
            assert!(
                (a..=b).contains(&m.s0_factor) && (c..=d).contains(&m.adc_factor),
                "{m:?}"
            );
            check_field(phantom(), &m.frac, &format!("{:?}", m.kind));
            assert!(lesions.iter().all(|l| !l.frac.touches(&m.frac)));
        }
    }
    assert_eq!(seen.len(), 3, "{seen:?}");
    eprintln!(
        "mimic draws: {} in 60 non-lesion, {} in 60 lesion studies",
        counts[0], counts[1]
    );
    assert!(counts[0] > 20 && counts[1] > 20);
}

#[test]
fn shapes_near_or_beyond_the_grid_edge_do_not_panic() {
    let tpl = phantom();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for center in [
        [-80.0, 0.0, 0.0],
        [0.0, 95.0, 20.0],
        [500.0, 500.0, 500.0],
        [f64::NAN, 0.0, 0.0],
        [0.0, -120.0, -80.0],
    ] {
        for gauge in [
            Gauge::Ellipsoid {
                axes: anatomy::random_frame(&mut rng, None),
                radii: [1.0, 0.5, 0.5],
            },
            Gauge::Wedge {
                u: [1.0, 0.0, 0.0],
                tan: 1.0,
                back: 0.3,
            },
        ] {
            let spec = ShapeSpec {
                center,
                gauge,
                noise: Noise::draw(&mut rng, 0.3, 4),
                clip: Clip::default(),
                fill: 0.5,
            };
            if let Some(f) = fit(tpl, &spec, 200.0) {
                check_field(tpl, &f, "edge");
            }
        }
    }
}
