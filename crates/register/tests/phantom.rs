//! Registration on the analytic phantom template (no download, small volumes): a known
//! affine is recovered, and a cut field of view and a non-brain object are flagged failed.

use nalgebra::{Matrix4, Rotation3, Vector3};
use ndarray::Array3;
use rand::{Rng, SeedableRng};
use strokeseg_core::{Grid, Volume};
use strokeseg_preproc::{brain_mask, BrainMaskConfig};
use strokeseg_register::affine::apply;
use strokeseg_register::{register, RegConfig, RegTemplate};
use strokeseg_synth::Template;

/// A study of the phantom seen through `mni_to_world`, on `grid`, with a dim scalp shell
/// and noise: what a skull-on DWI looks like to the registration.
fn render(tpl: &RegTemplate, mni_to_world: &Matrix4<f64>, grid: &Grid, seed: u64) -> Volume {
    let w2m = mni_to_world.try_inverse().unwrap();
    let src = tpl.image.data().view();
    let t_w2v = tpl.image.grid().world_to_voxel_affine() * w2m;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let d = grid.dims;
    let data = Array3::from_shape_fn((d[0], d[1], d[2]), |(i, j, k)| {
        let p = grid.voxel_to_world([i as f64, j as f64, k as f64]);
        let v = apply(&t_w2v, p);
        let brain = strokeseg_core::sample_trilinear(&src, v);
        let q = apply(&w2m, p);
        // Scalp: a thin shell 10–14 mm outside an ellipsoid around the phantom brain.
        let r = ((q[0] / 77.0).powi(2)
            + ((q[1] + 20.0) / 100.0).powi(2)
            + ((q[2] - 5.0) / 78.0).powi(2))
        .sqrt();
        let scalp = if (1.0..1.06).contains(&r) { 0.15 } else { 0.0 };
        (brain * 600.0 + scalp * 600.0 + rng.random_range(0.0..20.0)) as f32
    });
    Volume::on_grid(data, grid)
}

fn pose(deg: [f64; 3], scale: f64, shift: [f64; 3], centre: [f64; 3]) -> Matrix4<f64> {
    let r = Rotation3::from_euler_angles(
        deg[0].to_radians(),
        deg[1].to_radians(),
        deg[2].to_radians(),
    );
    let c = Vector3::from(centre);
    let l = r.matrix() * scale;
    let t = Vector3::from(shift) + c - l * c;
    let mut m = Matrix4::identity();
    m.fixed_view_mut::<3, 3>(0, 0).copy_from(&l);
    m.fixed_view_mut::<3, 1>(0, 3).copy_from(&t);
    m
}

fn study_grid(dims: [usize; 3], sp: [f64; 3], centre: [f64; 3]) -> Grid {
    let origin: [f64; 3] =
        std::array::from_fn(|a| centre[a] - (dims[a] as f64 - 1.0) * sp[a] / 2.0);
    Grid::axis_aligned(dims, sp, origin)
}

#[test]
fn recovers_a_known_pose_and_flags_a_cut_field_of_view() {
    let tpl = RegTemplate::dwi_like(&Template::phantom(3.0));
    let truth = pose([8.0, -3.0, 5.0], 1.06, [4.0, -7.0, 10.0], tpl.centre);
    let grid = study_grid([70, 80, 36], [2.5, 2.5, 5.0], [4.0, -25.0, 18.0]);
    let img = render(&tpl, &truth, &grid, 1);
    let brain = brain_mask(&img, &BrainMaskConfig::default());
    let reg = register(&tpl, &img, &brain, &RegConfig::default());
    assert!(reg.ok(), "{:?} {:?}", reg.failure, reg.quality);
    // Mean error over the template brain, in mm.
    let (mut n, mut err) = (0.0, 0.0);
    let g = tpl.brain.grid();
    for ((i, j, k), &b) in tpl.brain.data().indexed_iter() {
        if b {
            let q = g.voxel_to_world([i as f64, j as f64, k as f64]);
            let (a, e) = (reg.to_world(q), apply(&truth, q));
            err += ((a[0] - e[0]).powi(2) + (a[1] - e[1]).powi(2) + (a[2] - e[2]).powi(2)).sqrt();
            n += 1.0;
        }
    }
    let err = err / n;
    eprintln!("phantom: mean error {err:.2} mm, {:?}", reg.quality);
    assert!(err < 2.0, "mean error {err:.2} mm");
    // The identity would be far off: the test can fail.
    assert!(apply(&truth, tpl.centre)
        .iter()
        .zip(tpl.centre)
        .any(|(a, b)| (a - b).abs() > 5.0));

    // Only the top 40 % of the head in the field of view.
    let top = study_grid([70, 80, 8], [2.5, 2.5, 5.0], [4.0, -25.0, 65.0]);
    let img = render(&tpl, &truth, &top, 2);
    let brain = brain_mask(&img, &BrainMaskConfig::default());
    let reg = register(&tpl, &img, &brain, &RegConfig::default());
    let f = reg.failure.as_deref().unwrap_or_default();
    eprintln!("cut field of view: {f}");
    assert!(
        !reg.ok() && reg.quality.coverage < 0.75,
        "{f} {:?}",
        reg.quality
    );
}

#[test]
fn a_non_brain_object_is_flagged_failed() {
    let tpl = RegTemplate::dwi_like(&Template::phantom(3.0));
    // A water bottle: a uniform noisy cylinder of about head size.
    let grid = study_grid([64, 64, 30], [3.0, 3.0, 5.0], [0.0, -20.0, 10.0]);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let data = Array3::from_shape_fn((64, 64, 30), |(i, j, k)| {
        let p = grid.voxel_to_world([i as f64, j as f64, k as f64]);
        let inside = (p[0] / 70.0).powi(2) + ((p[1] + 20.0) / 70.0).powi(2) < 1.0
            && (p[2] - 10.0).abs() < 60.0;
        (if inside { 500.0 } else { 0.0 } + rng.random_range(0.0..60.0)) as f32
    });
    let img = Volume::on_grid(data, &grid);
    let brain = brain_mask(&img, &BrainMaskConfig::default());
    assert!(brain.count() > 1000, "the bottle is found as an object");
    let reg = register(&tpl, &img, &brain, &RegConfig::default());
    eprintln!("bottle: {:?} {:?}", reg.failure, reg.quality);
    assert!(
        !reg.ok(),
        "a bottle registered as a brain: {:?}",
        reg.quality
    );
}
