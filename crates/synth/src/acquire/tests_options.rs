//! Tests of [`AcquireOptions`] (the randomised site's extra acquisition settings).

use super::tests::{block, clean_with, mean_sd, quiet_site, values_where};
use super::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Noise-free (infinite SNR) quiet site: the output depends only on the artefacts.
fn noiseless() -> Site {
    let mut s = quiet_site(20.0, 1000.0, AdcUnitsOut::Micro, true);
    s.snr_b0 = f64::INFINITY;
    s
}

#[test]
fn default_options_are_exactly_acquire() {
    let (g, inside) = block();
    let c = clean_with(&g, 1000.0, inside);
    let mut site = quiet_site(15.0, 800.0, AdcUnitsOut::Milli, false);
    site.bias_strength = 0.4;
    site.p_motion = 1.0;
    site.p_ghosting = 1.0;
    let a = acquire(&mut ChaCha8Rng::seed_from_u64(4), &site, &g, &c);
    let b = acquire_with(
        &mut ChaCha8Rng::seed_from_u64(4),
        &site,
        &g,
        &c,
        &AcquireOptions::default(),
    );
    assert_eq!((a.b0, a.dwi, a.adc), (b.b0, b.dwi, b.adc));
    assert_eq!(a.artefacts, b.artefacts);
}

#[test]
fn artefact_strength_scales_the_change() {
    let g = Grid::axis_aligned([8, 16, 2], [2.0; 3], [0.0; 3]);
    let c = clean_with(&g, 1000.0, |_, j, _| (2..6).contains(&j));
    let mut site = noiseless();
    let run = |site: &Site, k: f64| {
        let o = AcquireOptions {
            artefact_strength: [1.0, 1.0, k],
            ..AcquireOptions::default()
        };
        acquire_with(&mut ChaCha8Rng::seed_from_u64(3), site, &g, &c, &o)
    };
    let plain = run(&site, 1.0);
    site.p_ghosting = 1.0;
    let (off, one, two) = (run(&site, 0.0), run(&site, 1.0), run(&site, 2.0));
    assert_eq!(off.b0, plain.b0, "strength 0 removes the ghost");
    let zone = |_: usize, j: usize, _: usize| (10..14).contains(&j);
    let ghost = |a: &Acquired| mean_sd(&values_where(&a.b0, zone)).0;
    assert!(ghost(&one) > 10.0 && ghost(&plain) == 0.0);
    assert!(
        (ghost(&two) / ghost(&one) - 2.0).abs() < 0.05,
        "{} vs {}",
        ghost(&two),
        ghost(&one)
    );
}

#[test]
fn dwi_averages_set_the_dwi_noise() {
    let (g, inside) = block();
    let c = clean_with(&g, 1000.0, &inside);
    let site = quiet_site(20.0, 1000.0, AdcUnitsOut::Micro, true);
    let sd = |n: f64| {
        let o = AcquireOptions {
            dwi_averages: n,
            ..AcquireOptions::default()
        };
        let a = acquire_with(&mut ChaCha8Rng::seed_from_u64(5), &site, &g, &c, &o);
        mean_sd(&values_where(&a.dwi, &inside)).1
    };
    let (s3, s12) = (sd(3.0), sd(12.0));
    // sigma 1/20 of 1000 = 50 on the b0; /√3 ≈ 28.9 and /√12 ≈ 14.4 on the DWI
    assert!((s3 / 28.9 - 1.0).abs() < 0.1, "{s3}");
    assert!((s12 / 14.4 - 1.0).abs() < 0.1, "{s12}");
}

#[test]
fn dwi_gamma_changes_the_dwi_but_not_the_adc() {
    let (g, inside) = block();
    let c = clean_with(&g, 1000.0, &inside);
    let site = quiet_site(30.0, 1000.0, AdcUnitsOut::Micro, true);
    let run = |gamma: f64| {
        let o = AcquireOptions {
            dwi_gamma: gamma,
            ..AcquireOptions::default()
        };
        acquire_with(&mut ChaCha8Rng::seed_from_u64(6), &site, &g, &c, &o)
    };
    let (lin, hi, lo) = (run(1.0), run(1.4), run(0.7));
    assert_eq!(lin.adc, hi.adc);
    assert_eq!(lin.b0, hi.b0);
    let m = |a: &Acquired| mean_sd(&values_where(&a.dwi, &inside)).0;
    // DWI ≈ 0.45 of the scale: gamma > 1 darkens it, < 1 brightens it, order kept
    assert!(m(&hi) < 0.85 * m(&lin) && m(&lo) > 1.15 * m(&lin));
    assert!(hi
        .dwi
        .iter()
        .all(|&v| v.fract() == 0.0 && (0.0..=MAX_STORED).contains(&v)));
}

#[test]
fn bias_curvature_zero_is_a_planar_gradient() {
    let (g, _) = block();
    let head = Array3::from_elem((24, 24, 10), true);
    let second_diff = |f: &Array3<f32>| {
        (1..23)
            .map(|i| (f[[i + 1, 7, 4]] - 2.0 * f[[i, 7, 4]] + f[[i - 1, 7, 4]]).abs())
            .fold(0.0f32, f32::max)
    };
    let rng = || ChaCha8Rng::seed_from_u64(9);
    let flat = bias::bias_field_curved(&mut rng(), &g, &head, 0.5, 0.0);
    let curved = bias::bias_field_curved(&mut rng(), &g, &head, 0.5, 2.0);
    assert!(second_diff(&flat) < 1e-5, "{}", second_diff(&flat));
    assert!(second_diff(&curved) > 1e-4, "{}", second_diff(&curved));
    // the presets' curvature is bias_field's
    let preset = bias::bias_field(&mut rng(), &g, &head, 0.5);
    let same = bias::bias_field_curved(&mut rng(), &g, &head, 0.5, bias::DEFAULT_CURVATURE);
    assert_eq!(preset, same);
}
