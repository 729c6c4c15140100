//! Tests of the acquisition pipeline: noise, ADC, units, skull stripping, integers.

use super::*;
use crate::site::builtin_sites;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

pub(super) const ADC_TRUE: f64 = 0.0008;

/// A quiet site: given SNR and scale, no bias, no tilt, no artefacts.
pub(super) fn quiet_site(snr: f64, scale: f64, units: AdcUnitsOut, skull: bool) -> Site {
    let mut s = builtin_sites().remove(0);
    s.snr_b0 = snr;
    s.intensity_scale = scale;
    s.adc_units = units;
    s.skull = skull;
    s.bias_strength = 0.0;
    s.p_susceptibility = 0.0;
    s.p_motion = 0.0;
    s.p_ghosting = 0.0;
    s
}

/// Clean signals on `grid`: S0 = 1 and DWI = exp(−b·ADC_TRUE) where `inside(i, j, k)`,
/// zero elsewhere; brain fraction 1 inside; MNI = world coordinates.
pub(super) fn clean_with(
    grid: &Grid,
    b: f64,
    inside: impl Fn(usize, usize, usize) -> bool,
) -> Clean {
    let d = (grid.dims[0], grid.dims[1], grid.dims[2]);
    let s0 = Array3::from_shape_fn(d, |(i, j, k)| if inside(i, j, k) { 1.0f32 } else { 0.0 });
    let dwi = s0.mapv(|v| v * (-b * ADC_TRUE).exp() as f32);
    let brain = s0.clone();
    let mni = Array3::from_shape_fn(d, |(i, j, k)| {
        let p = grid.voxel_to_world([i as f64, j as f64, k as f64]);
        [p[0] as f32, p[1] as f32, p[2] as f32]
    });
    Clean {
        s0,
        dwi,
        brain,
        mni,
    }
}

/// A 24×24×10 grid, 2 mm voxels, with a 16×16×6 block of signal in the middle.
pub(super) fn block() -> (Grid, impl Fn(usize, usize, usize) -> bool) {
    let g = Grid::axis_aligned([24, 24, 10], [2.0, 2.0, 4.0], [-23.0, -23.0, -18.0]);
    (g, |i: usize, j: usize, k: usize| {
        (4..20).contains(&i) && (4..20).contains(&j) && (2..8).contains(&k)
    })
}

pub(super) fn mean_sd(v: &[f32]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    let var = v.iter().map(|&x| (f64::from(x) - m).powi(2)).sum::<f64>() / (n - 1.0);
    (m, var.sqrt())
}

pub(super) fn values_where(a: &Array3<f32>, f: impl Fn(usize, usize, usize) -> bool) -> Vec<f32> {
    a.indexed_iter()
        .filter(|((i, j, k), _)| f(*i, *j, *k))
        .map(|(_, &v)| v)
        .collect()
}

pub(super) fn median(mut v: Vec<f32>) -> f64 {
    v.sort_by(f32::total_cmp);
    f64::from(v[v.len() / 2])
}

#[test]
fn noise_sigma_matches_site_in_flat_region() {
    let (g, inside) = block();
    let site = quiet_site(20.0, 1000.0, AdcUnitsOut::Micro, true);
    let a = acquire(
        &mut ChaCha8Rng::seed_from_u64(1),
        &site,
        &g,
        &clean_with(&g, site.b_value, &inside),
    );
    let (m, sd) = mean_sd(&values_where(&a.b0, &inside));
    assert!((m / 1000.0 - 1.0).abs() < 0.01, "b0 WM mean {m}");
    assert!((sd / 50.0 - 1.0).abs() < 0.10, "b0 sigma {sd} vs 50");
    let (_, sd) = mean_sd(&values_where(&a.dwi, &inside));
    let want = 50.0 / 3f64.sqrt();
    assert!((sd / want - 1.0).abs() < 0.10, "dwi sigma {sd} vs {want}");
}

#[test]
fn rician_background_mean_is_sigma_sqrt_pi_over_2() {
    let (g, inside) = block();
    let site = quiet_site(20.0, 1000.0, AdcUnitsOut::Micro, true);
    let a = acquire(
        &mut ChaCha8Rng::seed_from_u64(2),
        &site,
        &g,
        &clean_with(&g, site.b_value, &inside),
    );
    // background at least one voxel away from the block (no partial volume here anyway)
    let bg = |i: usize, j: usize, k: usize| {
        !(3..21).contains(&i) || !(3..21).contains(&j) || !(1..9).contains(&k)
    };
    let (m, _) = mean_sd(&values_where(&a.b0, bg));
    let want = 50.0 * (std::f64::consts::PI / 2.0).sqrt();
    assert!(
        (m / want - 1.0).abs() < 0.05,
        "background mean {m} vs {want}"
    );
    assert!(values_where(&a.b0, bg).iter().all(|&v| v >= 0.0));
}

#[test]
fn adc_matches_truth_in_each_unit() {
    let (g, inside) = block();
    for (units, per) in [
        (AdcUnitsOut::Micro, 1e6),
        (AdcUnitsOut::Milli, 1e3),
        (AdcUnitsOut::Si, 1.0),
    ] {
        for b in [800.0, 1000.0, 1500.0] {
            let mut site = quiet_site(200.0, 4000.0, units, true);
            site.b_value = b;
            let a = acquire(
                &mut ChaCha8Rng::seed_from_u64(3),
                &site,
                &g,
                &clean_with(&g, b, &inside),
            );
            let med = median(values_where(&a.adc, &inside));
            assert!(
                (med / (ADC_TRUE * per) - 1.0).abs() < 0.02,
                "{units:?} b{b}: median ADC {med}"
            );
            if units == AdcUnitsOut::Micro {
                assert!(a.adc.iter().all(|v| v.fract() == 0.0));
            }
            // background: ADC only where Rician noise exceeds 3 sigma, P = exp(−4.5) ≈ 1.1%
            let bg = values_where(&a.adc, |i, j, k| !inside(i, j, k));
            let nonzero = bg.iter().filter(|&&v| v != 0.0).count() as f64 / bg.len() as f64;
            assert!(nonzero < 0.025, "{nonzero} of the background has an ADC");
        }
    }
}

#[test]
fn skull_off_zeroes_outside_the_brain() {
    let (g, inside) = block();
    let site = quiet_site(20.0, 1000.0, AdcUnitsOut::Si, false);
    let a = acquire(
        &mut ChaCha8Rng::seed_from_u64(4),
        &site,
        &g,
        &clean_with(&g, site.b_value, &inside),
    );
    let dilated = |i: usize, j: usize, k: usize| {
        (3..21).contains(&i) && (3..21).contains(&j) && (1..9).contains(&k)
    };
    for ((i, j, k), &v) in a.b0.indexed_iter() {
        if !dilated(i, j, k) {
            assert_eq!(
                (v, a.dwi[[i, j, k]], a.adc[[i, j, k]]),
                (0.0, 0.0, 0.0),
                "at {i},{j},{k}"
            );
        }
    }
    // the one-voxel rim keeps noise; the brain keeps its signal
    assert!(
        values_where(&a.b0, |i, j, k| dilated(i, j, k) && !inside(i, j, k))
            .iter()
            .any(|&v| v > 0.0)
    );
    assert!(values_where(&a.b0, &inside).iter().all(|&v| v > 500.0));
    // a skull-on site keeps the background noise
    let on = quiet_site(20.0, 1000.0, AdcUnitsOut::Si, true);
    let b = acquire(
        &mut ChaCha8Rng::seed_from_u64(4),
        &on,
        &g,
        &clean_with(&g, on.b_value, &inside),
    );
    assert!(b.b0[[0, 0, 0]] > 0.0 || b.b0[[0, 1, 0]] > 0.0);
}

#[test]
fn brain_mask_is_brain_fraction_at_least_half() {
    let g = Grid::axis_aligned([4, 1, 1], [2.0; 3], [0.0; 3]);
    let mut c = clean_with(&g, 1000.0, |_, _, _| true);
    c.brain = Array3::from_shape_vec((4, 1, 1), vec![0.0, 0.49, 0.5, 1.0]).unwrap();
    let a = acquire(
        &mut ChaCha8Rng::seed_from_u64(5),
        &quiet_site(20.0, 1000.0, AdcUnitsOut::Micro, true),
        &g,
        &c,
    );
    assert_eq!(
        a.brain_mask.iter().copied().collect::<Vec<_>>(),
        vec![false, false, true, true]
    );
}

#[test]
fn outputs_are_integers_in_range_and_saturate() {
    let (g, inside) = block();
    let mut c = clean_with(&g, 1000.0, &inside);
    c.s0[[10, 10, 4]] = 100.0; // would be 100000 stored
    c.s0[[11, 10, 4]] = f32::NAN;
    c.dwi[[12, 10, 4]] = -3.0;
    let mut site = quiet_site(20.0, 1000.0, AdcUnitsOut::Micro, true);
    site.bias_strength = 0.3;
    site.p_ghosting = 1.0;
    site.p_motion = 1.0;
    let a = acquire(&mut ChaCha8Rng::seed_from_u64(6), &site, &g, &c);
    for img in [&a.b0, &a.dwi, &a.adc] {
        assert!(img
            .iter()
            .all(|&v| v.is_finite() && v.fract() == 0.0 && (0.0..=MAX_STORED).contains(&v)));
    }
    assert_eq!(a.b0[[10, 10, 4]], MAX_STORED);
    assert!(a.adc.iter().all(|&v| v <= 5000.0));
}

#[test]
fn same_seed_same_study() {
    let (g, inside) = block();
    let mut site = builtin_sites().remove(3);
    site.p_susceptibility = 1.0;
    site.p_motion = 1.0;
    site.p_ghosting = 1.0;
    let c = clean_with(&g, site.b_value, &inside);
    let a = acquire(&mut ChaCha8Rng::seed_from_u64(7), &site, &g, &c);
    let b = acquire(&mut ChaCha8Rng::seed_from_u64(7), &site, &g, &c);
    assert_eq!(
        (&a.b0, &a.dwi, &a.adc, &a.artefacts),
        (&b.b0, &b.dwi, &b.adc, &b.artefacts)
    );
    let d = acquire(&mut ChaCha8Rng::seed_from_u64(8), &site, &g, &c);
    assert_ne!(a.b0, d.b0);
}

#[test]
fn tiny_grids_never_panic() {
    for dims in [[1, 1, 1], [1, 2, 1], [2, 1, 3], [3, 3, 1], [1, 1, 5]] {
        let g = Grid::axis_aligned(dims, [2.0, 2.0, 5.0], [0.0, 20.0, -30.0]);
        for mut site in builtin_sites() {
            site.p_susceptibility = 1.0;
            site.p_motion = 1.0;
            site.p_ghosting = 1.0;
            let c = clean_with(&g, site.b_value, |_, _, _| true);
            let a = acquire(&mut ChaCha8Rng::seed_from_u64(9), &site, &g, &c);
            assert_eq!(a.b0.dim(), (dims[0], dims[1], dims[2]));
            assert!(
                a.artefacts.contains(&Artefact::Motion)
                    && a.artefacts.contains(&Artefact::Ghosting)
            );
        }
    }
}

#[test]
fn dilation_grows_by_one_voxel() {
    let mut m = Array3::from_elem((5, 5, 5), false);
    m[[2, 2, 2]] = true;
    let d = dilate1(&m);
    assert_eq!(d.iter().filter(|&&b| b).count(), 27);
    assert!(d[[1, 1, 1]] && d[[3, 3, 3]] && !d[[0, 2, 2]]);
}

#[test]
fn full_size_grid_with_every_artefact() {
    // A full-size grid with all three artefacts forced on (speed lives in the benchmark).
    let g = Grid::axis_aligned([128, 128, 30], [1.8, 1.8, 5.0], [-115.0, -115.0, -75.0]);
    let c = clean_with(&g, 1000.0, |i, j, _| {
        (20..108).contains(&i) && (20..108).contains(&j)
    });
    let mut site = builtin_sites().remove(1);
    site.p_susceptibility = 1.0;
    site.p_motion = 1.0;
    site.p_ghosting = 1.0;
    let a = acquire(&mut ChaCha8Rng::seed_from_u64(13), &site, &g, &c);
    assert_eq!(a.artefacts.len(), 3);
}
