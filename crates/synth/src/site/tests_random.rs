//! Tests of the randomised pseudo-site: validity, determinism and the spread of the draws.

use super::*;
use crate::physics::TissueParams;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn draws(n: u64) -> Vec<RandomDraw> {
    (0..n)
        .map(|i| RandomDraw::sample(&mut ChaCha8Rng::seed_from_u64(1000 + i)))
        .collect()
}

#[test]
fn random_site_is_found_valid_and_listed() {
    let r = find_site("random").unwrap();
    assert!(r.randomize && r.name == RANDOM_SITE_NAME);
    assert_eq!(find_site(" RANDOM ").unwrap(), r);
    r.validate().unwrap();
    // the presets stay fixed sites, and their TOML has no `randomize` field
    for s in builtin_sites() {
        assert!(!s.randomize, "{}", s.name);
        assert!(!s.to_toml().unwrap().contains("randomize"));
    }
    // TOML may set it (default false)
    assert!(r.to_toml().unwrap().contains("randomize = true"));
    let back = Site::from_toml_str(&r.to_toml().unwrap(), Path::new("r.toml")).unwrap();
    assert_eq!(back, r);
    let msg = find_site("no-such-site").unwrap_err().to_string();
    assert!(msg.contains("random"), "{msg}");
}

#[test]
fn random_draws_are_deterministic_per_seed() {
    let a = RandomDraw::sample(&mut ChaCha8Rng::seed_from_u64(7));
    let b = RandomDraw::sample(&mut ChaCha8Rng::seed_from_u64(7));
    let c = RandomDraw::sample(&mut ChaCha8Rng::seed_from_u64(8));
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn fifty_draws_are_valid_and_cover_the_ranges() {
    let d = draws(50);
    for (i, x) in d.iter().enumerate() {
        let s = &x.site;
        s.validate().unwrap_or_else(|e| panic!("draw {i}: {e}"));
        assert!(!s.randomize);
        assert!((500.0..=2500.0).contains(&s.b_value), "{}", s.b_value);
        assert!((0.8..=2.6).contains(&s.inplane_mm), "{}", s.inplane_mm);
        assert!((1.0..=7.0).contains(&s.slice_thickness_mm));
        assert!((0.0..=2.0).contains(&s.slice_gap_mm));
        assert!(s.max_tilt_deg <= 20.0 && s.snr_b0 >= 5.0 && s.snr_b0 <= 60.0);
        assert!(s.matrix[0] as f64 * s.inplane_mm >= 195.0, "field of view");
        assert!((s.matrix[0] * s.matrix[1] * s.n_slices) as f64 <= 8.2e6);
        let cov = s.slice_spacing_mm() * s.n_slices as f64;
        assert_eq!(x.partial_fov, cov < 135.0, "{cov}");
        assert!(x.partial_fov || cov <= 185.0, "{cov}");
        assert!((0.7..=1.5).contains(&x.slice_profile_fwhm));
        assert!((0.7..=1.4).contains(&x.acquire.dwi_gamma));
        assert!((0.0..=2.0).contains(&x.acquire.bias_curvature));
        assert!(x
            .acquire
            .artefact_strength
            .iter()
            .all(|k| (0.5..=2.0).contains(k)));
        assert!(x.tilt_deg == [0.0; 3], "filled in by the generator");
    }
    let min = |f: &dyn Fn(&RandomDraw) -> f64| d.iter().map(f).fold(f64::INFINITY, f64::min);
    let max = |f: &dyn Fn(&RandomDraw) -> f64| d.iter().map(f).fold(f64::NEG_INFINITY, f64::max);
    let any = |f: &dyn Fn(&RandomDraw) -> bool| d.iter().any(f);
    assert!(min(&|x| x.site.b_value) < 800.0 && max(&|x| x.site.b_value) > 1500.0);
    let thick = |x: &RandomDraw| x.site.slice_thickness_mm;
    assert!(min(&thick) < 2.0 && max(&thick) > 5.0);
    assert!(min(&|x| x.site.inplane_mm) < 1.1 && max(&|x| x.site.inplane_mm) > 2.2);
    assert!(any(&|x| x.site.slice_gap_mm == 0.0) && max(&|x| x.site.slice_gap_mm) > 1.2);
    assert!(min(&|x| x.site.snr_b0) < 8.0 && max(&|x| x.site.snr_b0) > 35.0);
    assert!(max(&|x| x.site.max_tilt_deg) > 15.0);
    assert!(min(&|x| x.site.bias_strength) < 0.1 && max(&|x| x.site.bias_strength) > 0.5);
    assert!(any(&|x| x.site.skull) && any(&|x| !x.site.skull));
    for u in [AdcUnitsOut::Micro, AdcUnitsOut::Milli, AdcUnitsOut::Si] {
        assert!(any(&|x| x.site.adc_units == u), "{u:?} never drawn");
    }
    for t in [1.5, 3.0] {
        assert!(any(&|x| x.site.field_strength_t == t));
    }
    assert!(any(&|x| x.partial_fov) && any(&|x| !x.partial_fov));
    assert!(min(&|x| x.acquire.dwi_gamma) < 0.8 && max(&|x| x.acquire.dwi_gamma) > 1.25);
    assert!(min(&|x| x.slice_profile_fwhm) < 0.8 && max(&|x| x.slice_profile_fwhm) > 1.4);
    let adc = |t: usize| move |x: &RandomDraw| f64::from(x.tissue.adc_mm2_s[t]) * 1e6;
    assert!(min(&adc(0)) < 750.0 && max(&adc(0)) > 900.0);
    assert!(min(&adc(1)) < 650.0 && max(&adc(1)) > 900.0);
    assert!(min(&adc(2)) < 2700.0 && max(&adc(2)) > 3100.0);
}

#[test]
fn tissue_appearance_stays_within_physical_bounds() {
    for i in 0..500 {
        let mut rng = ChaCha8Rng::seed_from_u64(i);
        let p = TissueParams::sample(&mut rng);
        let a = TissueAppearance::sample(&mut rng);
        let q = a.apply(&p);
        // (×10⁻⁶ mm²/s, rounded to 0.01 against f32 rounding)
        let adc = q.adc.map(|v| (f64::from(v) * 1e8).round() / 100.0);
        assert!((600.0..=1000.0).contains(&adc[0]), "GM {}", adc[0]);
        assert!((600.0..=1000.0).contains(&adc[1]), "WM {}", adc[1]);
        assert!((2500.0..=3300.0).contains(&adc[2]), "CSF {}", adc[2]);
        assert!(adc[0] >= 0.95 * adc[1] - 1e-3, "GM ADC ≥ ~WM ADC");
        // b0 (T2-weighted EPI): CSF > GM > ~WM
        assert!(q.s0[2] >= 1.2 * q.s0[0] - 1e-6 && q.s0[0] > 0.8 * q.s0[1]);
        assert_eq!((q.s0[3], q.adc[3]), (p.s0[3], p.adc[3]), "scalp unchanged");
        assert_eq!(q.adc_variation, p.adc_variation);
    }
}
