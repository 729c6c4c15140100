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
    render_with(tpl, &|p| apply(&w2m, p), grid, seed)
}

/// The same through any world → MNI map.
fn render_with(
    tpl: &RegTemplate,
    world_to_mni: &dyn Fn([f64; 3]) -> [f64; 3],
    grid: &Grid,
    seed: u64,
) -> Volume {
    let src = tpl.image.data().view();
    let t_w2v = tpl.image.grid().world_to_voxel_affine();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let d = grid.dims;
    let data = Array3::from_shape_fn((d[0], d[1], d[2]), |(i, j, k)| {
        let p = grid.voxel_to_world([i as f64, j as f64, k as f64]);
        let q = world_to_mni(p);
        let brain = strokeseg_core::sample_trilinear(&src, apply(&t_w2v, q));
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
    // A failed affine is never refined (so never made to look better by a field).
    assert!(reg.warp.is_none(), "{:?}", reg.nonlinear);
    assert!(
        reg.nonlinear
            .as_ref()
            .is_some_and(|n| !n.used && n.status.starts_with("skipped")),
        "{:?}",
        reg.nonlinear
    );
}

/// A smooth non-linear map of template points (up to about 6 mm): ventricle expansion as
/// the synthetic subjects' atrophy has it, and the vertex pushed down, both normal to the
/// edges they move (an edge can only tell how far it moved across itself).
fn bumps(q: [f64; 3]) -> [f64; 3] {
    let v = [0.0, -5.0, 12.0];
    let r2: f64 = (0..3).map(|a| (q[a] - v[a]).powi(2)).sum();
    let k = 1.0 - 0.35 * (-r2 / (2.0 * 20.0f64.powi(2))).exp();
    let mut out: [f64; 3] = std::array::from_fn(|a| v[a] + (q[a] - v[a]) * k);
    let top = [0.0, -15.0, 68.0];
    let t2: f64 = (0..3).map(|a| (q[a] - top[a]).powi(2)).sum();
    out[2] -= 6.0 * (-t2 / (2.0 * 22.0f64.powi(2))).exp();
    out
}

#[test]
fn the_non_linear_refinement_follows_a_known_smooth_warp() {
    let tpl = RegTemplate::dwi_like(&Template::phantom(3.0));
    let aff = pose([5.0, -2.0, 4.0], 1.04, [3.0, -5.0, 6.0], tpl.centre);
    let inv = aff.try_inverse().unwrap();
    // The truth: template point q is imaged at aff · bumps(q). Its inverse by fixed point.
    let truth_to_world = |q: [f64; 3]| apply(&aff, bumps(q));
    let world_to_mni = |p: [f64; 3]| {
        let a = apply(&inv, p);
        let mut q = a;
        for _ in 0..30 {
            let f = bumps(q);
            q = std::array::from_fn(|i| q[i] + a[i] - f[i]);
        }
        q
    };
    let grid = study_grid([64, 76, 40], [2.5, 2.5, 4.0], [3.0, -25.0, 15.0]);
    let img = render_with(&tpl, &world_to_mni, &grid, 3);
    let brain = brain_mask(&img, &BrainMaskConfig::default());
    let reg = register(&tpl, &img, &brain, &RegConfig::default());
    assert!(reg.ok(), "{:?} {:?}", reg.failure, reg.quality);
    let n = reg.nonlinear.clone().expect("refinement on by default");
    eprintln!("non-linear: {n:?}");
    let err = |r: &strokeseg_register::Registration| {
        let (mut k, mut e) = (0.0, 0.0);
        let g = tpl.brain.grid();
        for ((i, j, kk), &b) in tpl.brain.data().indexed_iter() {
            if b {
                let q = g.voxel_to_world([i as f64, j as f64, kk as f64]);
                let (a, t) = (r.to_world(q), truth_to_world(q));
                e += ((a[0] - t[0]).powi(2) + (a[1] - t[1]).powi(2) + (a[2] - t[2]).powi(2)).sqrt();
                k += 1.0;
            }
        }
        e / k
    };
    let (refined, affine) = (err(&reg), err(&reg.affine_only()));
    eprintln!("phantom with a warp: mean error affine {affine:.2} mm, refined {refined:.2} mm");
    assert!(
        affine > 1.0,
        "the warp is too small to test anything ({affine:.2} mm)"
    );
    assert!(n.used && reg.is_nonlinear(), "{n:?}");
    assert!(
        refined < 0.8 * affine,
        "refined {refined:.2} vs affine {affine:.2} mm"
    );
    assert!(n.nmi_warped > n.nmi_affine);
    // Smooth and bounded: no folding, within the configured limit.
    let w = reg.warp.as_ref().unwrap();
    assert!(
        n.min_jacobian > 0.2 && n.max_mm <= RegConfig::default().warp.max_mm + 1e-3,
        "{n:?}"
    );
    assert!((w.max_mm() - n.max_mm).abs() < 1e-9);
    // study → MNI → study through the field comes back.
    let q = [20.0, -10.0, 20.0];
    let back = reg.to_mni(reg.to_world(q));
    assert!((0..3).all(|a| (back[a] - q[a]).abs() < 0.05), "{back:?}");
    // The JSON record keeps the summary, not the field (written to a file by the CLI).
    let j: strokeseg_register::Registration =
        serde_json::from_str(&serde_json::to_string(&reg).unwrap()).unwrap();
    assert!(j.warp.is_none() && j.nonlinear.as_ref().is_some_and(|x| x.used));
}
