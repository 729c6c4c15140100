//! Tests of the normal-appearance steps every study gets before acquisition: the receive-coil
//! profile and the skull-base EPI pile-up.

use super::tests::clean_with;
use super::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// A 5 mm grid over the head in MNI space with a brain-sized ellipsoid of signal.
fn head() -> (Grid, Clean) {
    let g = Grid::axis_aligned([36, 46, 36], [5.0; 3], [-87.5, -130.0, -80.0]);
    let c = clean_with(&g, 1000.0, |i, j, k| {
        let p = g.voxel_to_world([i as f64, j as f64, k as f64]);
        (p[0] / 68.0).powi(2) + ((p[1] + 18.0) / 88.0).powi(2) + ((p[2] - 8.0) / 62.0).powi(2)
            <= 1.0
    });
    (g, c)
}

fn at(g: &Grid, p: [f64; 3]) -> (usize, usize, usize) {
    let v = g.world_to_voxel_affine() * nalgebra::Vector4::new(p[0], p[1], p[2], 1.0);
    (
        v[0].round() as usize,
        v[1].round() as usize,
        v[2].round() as usize,
    )
}

#[test]
fn coil_profile_brightens_the_periphery_and_keeps_the_adc() {
    let (g, mut c) = head();
    let before = c.clone();
    let spread = receive_coil_profile(&mut ChaCha8Rng::seed_from_u64(3), &mut c);
    assert!((1.2..3.0).contains(&spread), "p95/p5 {spread}");
    let centre = at(&g, [0.0, -18.0, 8.0]);
    let cortex = at(&g, [0.0, -18.0, 65.0]);
    assert!(
        c.s0[cortex] > 1.1 * c.s0[centre],
        "{} vs {}",
        c.s0[cortex],
        c.s0[centre]
    );
    for ((a, b), (a0, b0)) in
        c.s0.iter()
            .zip(&c.dwi)
            .zip(before.s0.iter().zip(&before.dwi))
    {
        if *a0 > 0.0 {
            assert!(((b / a) / (b0 / a0) - 1.0).abs() < 1e-4, "ADC changed");
        }
    }
    // deterministic
    let mut d = before.clone();
    receive_coil_profile(&mut ChaCha8Rng::seed_from_u64(3), &mut d);
    assert_eq!(c.dwi, d.dwi);
}

#[test]
fn skull_base_pileup_brightens_above_the_air_and_keeps_the_adc() {
    let (g, mut c) = head();
    let before = c.clone();
    let max = skull_base_pileup(&mut ChaCha8Rng::seed_from_u64(5), 3.0, &mut c);
    assert!(max > 1.3, "largest factor {max}");
    let mut bright = 0;
    for (idx, &a) in c.s0.indexed_iter() {
        let a0 = before.s0[idx];
        if a0 <= 0.0 {
            continue;
        }
        let f = a / a0;
        assert!(((c.dwi[idx] / a) / (before.dwi[idx] / a0) - 1.0).abs() < 1e-4);
        let p = g.voxel_to_world([idx.0 as f64, idx.1 as f64, idx.2 as f64]);
        if f > 1.2 {
            bright += 1;
            assert!(p[2] < 0.0, "pile-up at {p:?}");
        }
        if p[2] > 30.0 {
            assert!((f - 1.0).abs() < 1e-3, "{f} at {p:?}");
        }
    }
    assert!(bright > 20, "{bright} bright voxels");
    // 1.5 T: weaker than 3 T for the same draws
    let mut d = before.clone();
    let max15 = skull_base_pileup(&mut ChaCha8Rng::seed_from_u64(5), 1.5, &mut d);
    assert!(max15 < max, "{max15} vs {max}");
}
