//! Tests of the image-domain artefacts and the bias field (helpers in `tests.rs`).

use super::tests::{block, clean_with, mean_sd, quiet_site, values_where, ADC_TRUE};
use super::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
#[test]
fn ghost_appears_half_fov_away_along_j() {
    // object in j 2..6 of 16; its ghost must land in j 10..14 on b0 and DWI
    let g = Grid::axis_aligned([8, 16, 2], [2.0; 3], [0.0; 3]);
    let obj = |_: usize, j: usize, _: usize| (2..6).contains(&j);
    let c = clean_with(&g, 1000.0, obj);
    let mut site = quiet_site(200.0, 4000.0, AdcUnitsOut::Micro, true);
    let clean_run = acquire(&mut ChaCha8Rng::seed_from_u64(10), &site, &g, &c);
    site.p_ghosting = 1.0;
    let ghost_run = acquire(&mut ChaCha8Rng::seed_from_u64(10), &site, &g, &c);
    assert_eq!(ghost_run.artefacts, vec![Artefact::Ghosting]);
    let ghost_zone = |_: usize, j: usize, _: usize| (10..14).contains(&j);
    let other = |_: usize, j: usize, _: usize| (7..9).contains(&j) || j == 15 || j == 0;
    let (m0, _) = mean_sd(&values_where(&clean_run.b0, ghost_zone));
    let (m1, _) = mean_sd(&values_where(&ghost_run.b0, ghost_zone));
    let (mo, _) = mean_sd(&values_where(&ghost_run.b0, other));
    // ghost 2–8% of 4000 = 80–320 over a noise floor of ~25
    assert!(
        m1 > 60.0 && m1 < 360.0 && m1 > 2.5 * m0,
        "ghost {m1}, without {m0}"
    );
    assert!(mo < 50.0, "no ghost elsewhere: {mo}");
    let (d1, _) = mean_sd(&values_where(&ghost_run.dwi, ghost_zone));
    let (d0, _) = mean_sd(&values_where(&clean_run.dwi, ghost_zone));
    assert!(d1 > 2.0 * d0, "ghost on the DWI too: {d1} vs {d0}");
}

#[test]
fn motion_hits_a_few_dwi_slices_only() {
    let (g, inside) = block();
    let c = clean_with(&g, 1000.0, &inside);
    for seed in 0..20 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut dwi = c.dwi.clone();
        let hit = artefacts::motion(&mut rng, [2.0, 2.0], &mut dwi);
        assert!((1..=4).contains(&hit.len()));
        for k in 0..g.dims[2] {
            let changed =
                (0..24).any(|i| (0..24).any(|j| (dwi[[i, j, k]] - c.dwi[[i, j, k]]).abs() > 1e-6));
            let has_signal = (2..8).contains(&k);
            assert_eq!(
                changed,
                hit.contains(&k) && has_signal,
                "seed {seed} slice {k}"
            );
        }
        // shifted slices get edges brighter than the original tissue
        if hit.iter().any(|&k| {
            (2..8).contains(&k)
                && dwi
                    .slice(ndarray::s![.., .., k])
                    .iter()
                    .any(|&v| v > c.dwi[[10, 10, 4]] * 1.02)
        }) {
            return;
        }
    }
    panic!("no bright edges in 20 motion draws");
}

#[test]
fn motion_leaves_b0_untouched() {
    let (g, inside) = block();
    let mut site = quiet_site(1000.0, 8000.0, AdcUnitsOut::Micro, true);
    let c = clean_with(&g, site.b_value, &inside);
    site.p_motion = 1.0;
    let a = acquire(&mut ChaCha8Rng::seed_from_u64(11), &site, &g, &c);
    assert_eq!(a.artefacts, vec![Artefact::Motion]);
    // b0 is the clean block (to the noise level) on every slice; some DWI slices are not
    assert!(values_where(&a.b0, &inside)
        .iter()
        .all(|&v| (v - 8000.0).abs() < 60.0));
    let expect = 8000.0 * (-site.b_value * ADC_TRUE).exp() as f32;
    let off = values_where(&a.dwi, &inside)
        .iter()
        .filter(|&&v| (v - expect).abs() > 100.0)
        .count();
    assert!(off > 10, "{off}");
}

#[test]
fn susceptibility_brightens_dwi_but_keeps_adc() {
    // a skull-base slab in MNI space: x −70..70, y −50..70, z −60..−10 at 2.5 mm
    let g = Grid::axis_aligned([57, 49, 21], [2.5; 3], [-70.0, -50.0, -60.0]);
    let c = clean_with(&g, 1000.0, |_, _, _| true);
    let mut site = quiet_site(200.0, 4000.0, AdcUnitsOut::Micro, true);
    let plain = acquire(&mut ChaCha8Rng::seed_from_u64(12), &site, &g, &c);
    site.p_susceptibility = 1.0;
    let sus = acquire(&mut ChaCha8Rng::seed_from_u64(12), &site, &g, &c);
    assert_eq!(sus.artefacts, vec![Artefact::Susceptibility]);
    let mut bright = 0;
    let mut dark = 0;
    for (idx, &d) in sus.dwi.indexed_iter() {
        let ratio = d / plain.dwi[idx];
        if ratio > 1.4 {
            bright += 1;
            let adc = f64::from(sus.adc[idx]);
            assert!(
                (adc / 800.0 - 1.0).abs() < 0.15,
                "ADC {adc} at bright voxel {idx:?}"
            );
            let p = g.voxel_to_world([idx.0 as f64, idx.1 as f64, idx.2 as f64]);
            assert!(
                (-60.0..=-15.0).contains(&p[2]) && p[1] > -45.0,
                "band at {p:?}"
            );
        } else if ratio < 0.6 {
            dark += 1;
        }
    }
    assert!(bright > 10 && dark > 10, "bright {bright}, dark {dark}");
    // the same study far above the skull base is untouched (and not reported)
    let high = Grid::axis_aligned([8, 8, 4], [2.5; 3], [-10.0, -10.0, 40.0]);
    let c = clean_with(&high, 1000.0, |_, _, _| true);
    let a = acquire(&mut ChaCha8Rng::seed_from_u64(12), &site, &high, &c);
    assert!(a.artefacts.is_empty());
}

#[test]
fn bias_field_has_the_requested_peak_to_peak() {
    let (g, inside) = block();
    let head = Array3::from_shape_fn((24, 24, 10), |(i, j, k)| inside(i, j, k));
    for (seed, strength) in [(1, 0.1), (2, 0.25), (3, 0.4)] {
        let f = bias::bias_field(&mut ChaCha8Rng::seed_from_u64(seed), &g, &head, strength);
        let v = values_where(&f, &inside);
        let (lo, hi) = v
            .iter()
            .fold((f32::MAX, f32::MIN), |(l, h), &x| (l.min(x), h.max(x)));
        assert!((f64::from(hi - lo) - strength).abs() < 1e-5, "{lo}..{hi}");
        assert!((f64::from(hi + lo) / 2.0 - 1.0).abs() < 1e-5);
        // smooth: neighbouring voxels differ by a small fraction of the range
        let step = (1..24)
            .map(|i| (f[[i, 10, 4]] - f[[i - 1, 10, 4]]).abs())
            .fold(0.0f32, f32::max);
        assert!(f64::from(step) < strength / 4.0, "step {step}");
    }
    let ones = bias::bias_field(&mut ChaCha8Rng::seed_from_u64(1), &g, &head, 0.0);
    assert!(ones.iter().all(|&v| v == 1.0));
}
