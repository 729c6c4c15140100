//! Tests on the real MNI template (skipped with a message when it is not installed).

use std::sync::OnceLock;
use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::anatomy::{self, snap_to_tissue, surface_along, tissue_at};
use super::tests::check_field;
use super::*;

fn real_template() -> Option<&'static Template> {
    static T: OnceLock<Option<Template>> = OnceLock::new();
    T.get_or_init(|| match Template::load(&Template::default_dir()) {
        Ok(t) => Some(t),
        // Built into the binary (strokeseg-assets), so never absent.
        Err(e) => panic!("the built-in MNI template: {e}"),
    })
    .as_ref()
}

#[test]
fn landmarks_are_tissue_on_the_real_template() {
    let Some(tpl) = real_template() else { return };
    for (p, _) in anatomy::LACUNE_SITES.iter().chain(&anatomy::STEM_SITES) {
        for s in [1.0, -1.0] {
            let q = anatomy::mirror(*p, s);
            assert!(
                snap_to_tissue(tpl, q, 0.6, 4.0).is_some(),
                "{q:?}: tissue {}",
                tissue_at(tpl, q)
            );
        }
    }
    for (p, _) in &anatomy::STEM_SITES {
        assert_eq!(region_at(*p), Region::Brainstem, "{p:?}");
    }
    for p in [
        anatomy::WMH_FRONTAL_CAP,
        anatomy::WMH_OCCIPITAL_CAP,
        anatomy::WMH_BAND,
        anatomy::CEREBELLAR_HEMISPHERE,
    ] {
        assert!(snap_to_tissue(tpl, p, 0.6, 4.0).is_some(), "{p:?}");
    }
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for t in [
        anatomy::MCA,
        anatomy::ACA,
        anatomy::PCA_OCCIPITAL,
        anatomy::PCA_TEMPORAL,
        anatomy::MCA_STEM,
        anatomy::PICA,
        anatomy::SCA,
        anatomy::AICA,
    ] {
        assert!(tissue_at(tpl, t.seed) > 0.5, "seed {:?}", t.seed);
        let mut hits = 0;
        for _ in 0..40 {
            let side = anatomy::random_side(&mut rng);
            let d = anatomy::territory_dir(&mut rng, &t, side);
            if let Some(c) = surface_along(tpl, &t, side, d) {
                let depth: f64 = (0..3)
                    .map(|i| (c[i] - anatomy::mirror(t.seed, side)[i]).powi(2))
                    .sum::<f64>()
                    .sqrt();
                assert!(
                    depth > 5.0,
                    "{:?}: surface {c:?} only {depth} mm from the seed",
                    t.seed
                );
                hits += 1;
            }
        }
        assert!(hits >= 36, "{:?}: {hits}/40 rays reach the surface", t.seed);
    }
}

/// Lesion studies timed on the real template.
const N_STUDIES: u64 = 20;

#[test]
fn real_template_lesions_and_timing() {
    let Some(tpl) = real_template() else { return };
    let ml = tpl.grid.voxel_volume_ml();
    let start = Instant::now();
    let mut worst = (0.0f64, 0usize);
    let mut n = 0;
    let mut bad = Vec::new();
    for seed in 0..N_STUDIES {
        let t0 = Instant::now();
        let ls = sample_lesions(&mut ChaCha8Rng::seed_from_u64(seed), tpl);
        let dt = t0.elapsed().as_secs_f64();
        if dt > worst.0 {
            worst = (dt, seed as usize);
        }
        for l in &ls {
            check_field(tpl, &l.frac, &format!("{:?}", l.kind));
            let want = match l.kind {
                LesionKind::Brainstem => Some(Region::Brainstem),
                LesionKind::Cerebellar => Some(Region::Cerebellum),
                LesionKind::LargeMca | LesionKind::Territorial => Some(Region::Supratentorial),
                _ => None,
            };
            assert!(
                want.is_none_or(|r| r == l.region),
                "{:?} in {:?}",
                l.kind,
                l.region
            );
            n += 1;
            let got = l.frac.volume_ml(ml);
            if l.target_volume_ml >= 0.05 && (got / l.target_volume_ml - 1.0).abs() > 0.3 {
                bad.push((l.kind, l.target_volume_ml, got));
            }
        }
    }
    let total = start.elapsed().as_secs_f64();
    let t0 = Instant::now();
    let nm: usize = (0..20u64)
        .map(|s| sample_tissue_mimics(&mut ChaCha8Rng::seed_from_u64(s), tpl, s % 2 == 0).len())
        .sum();
    let tm = t0.elapsed().as_secs_f64();
    eprintln!(
        "real template: {N_STUDIES} lesion studies ({n} lesions) in {total:.3} s ({:.1} ms/study, worst {:.1} ms \
         seed {}); 20 mimic draws ({nm} parts) in {tm:.3} s; off target: {bad:?}",
        total * 1000.0 / N_STUDIES as f64,
        worst.0 * 1000.0,
        worst.1
    );
    assert!(bad.len() * 10 <= n.max(10), "{bad:?}");
}
