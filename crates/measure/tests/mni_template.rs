//! MniApprox on moved, scaled and truncated copies of the phantom and (when installed) the
//! real MNI ICBM152 2009a template; the hard-coded template constants.

use nalgebra::Matrix4;
use strokeseg_core::{Grid, Mask, Volume};
use strokeseg_measure::{
    find_lesions, FitMethod, LesionConfig, MniApprox, Region, TemplateMoments,
    MNI2009A_IC_CENTROID_MM, MNI2009A_IC_COV_MM2,
};
use strokeseg_synth::{region_at, Template};

/// Landmarks in MNI mm: pons, left cerebellar hemisphere, right thalamus, left putamen,
/// vermis, left motor cortex (white matter below it), right occipital.
const LANDMARKS: [(&str, [f64; 3]); 7] = [
    ("pons", [0.0, -28.0, -30.0]),
    ("cerebellum L", [-25.0, -65.0, -35.0]),
    ("thalamus R", [10.0, -18.0, 8.0]),
    ("putamen L", [-25.0, 2.0, 2.0]),
    ("vermis", [0.0, -60.0, -25.0]),
    ("motor L", [-30.0, -20.0, 50.0]),
    ("occipital R", [20.0, -85.0, 10.0]),
];

fn real_template() -> Option<Template> {
    let dir = Template::default_dir();
    match Template::load(&dir) {
        // Built into the binary (strokeseg-assets), so never absent.
        Err(e) => panic!("the built-in MNI template in {}: {e}", dir.display()),
        Ok(t) => Some(t),
    }
}

/// A study whose world space is MNI moved by `p = s ⊙ m + d`: the template's intracranial
/// mask resampled (nearest) onto an axial grid of `spacing` covering MNI z in `z_range`
/// (the whole head in x and y).
struct Study {
    brain: Mask,
    s: [f64; 3],
    d: [f64; 3],
    /// Head pitch (nose up), degrees, about the x axis through the MNI origin.
    pitch: f64,
}

fn pitch_matrix(deg: f64) -> Matrix4<f64> {
    nalgebra::Rotation3::from_axis_angle(&nalgebra::Vector3::x_axis(), deg.to_radians())
        .to_homogeneous()
}

impl Study {
    fn new(t: &Template, s: [f64; 3], d: [f64; 3], spacing: [f64; 3], z_range: (f64, f64)) -> Self {
        Self::with(t, &t.intracranial, s, d, 0.0, spacing, z_range)
    }

    /// `ic` on the template grid, moved by `p = d + R(pitch)·(s ⊙ m)` (the head is scaled in
    /// its own frame, then pitched).
    fn with(
        t: &Template,
        ic: &ndarray::Array3<bool>,
        s: [f64; 3],
        d: [f64; 3],
        pitch: f64,
        spacing: [f64; 3],
        z_range: (f64, f64),
    ) -> Self {
        // The template mask placed in study space.
        let scale = Matrix4::from_diagonal(&nalgebra::Vector4::new(s[0], s[1], s[2], 1.0));
        let mut shift = Matrix4::identity();
        for r in 0..3 {
            shift[(r, 3)] = d[r];
        }
        let moved = shift * pitch_matrix(pitch) * scale * t.grid.affine;
        let src = Mask::on_grid(
            ic.clone(),
            &Grid {
                dims: t.grid.dims,
                affine: moved,
            },
        );
        // An axial study grid: x, y over the whole template box, z over the slab.
        let to_study = |m: [f64; 3]| -> [f64; 3] { std::array::from_fn(|k| s[k] * m[k] + d[k]) };
        let lo = to_study([-100.0, -130.0, z_range.0]);
        let hi = to_study([100.0, 100.0, z_range.1]);
        let dims: [usize; 3] =
            std::array::from_fn(|k| ((hi[k] - lo[k]) / spacing[k]).floor() as usize + 1);
        let g = Grid::axis_aligned(dims, spacing, lo);
        Study {
            brain: src.resample_nearest(&g, false),
            s,
            d,
            pitch,
        }
    }

    fn world(&self, m: [f64; 3]) -> [f64; 3] {
        let r = pitch_matrix(self.pitch)
            * nalgebra::Vector4::new(self.s[0] * m[0], self.s[1] * m[1], self.s[2] * m[2], 1.0);
        std::array::from_fn(|k| r[k] + self.d[k])
    }

    /// Worst landmark error (mm) of `a`, printing each.
    fn max_error(&self, a: &MniApprox, label: &str) -> f64 {
        let mut worst: f64 = 0.0;
        for (name, m) in LANDMARKS {
            let back = a.to_mni(self.world(m));
            let e = (0..3).map(|k| (back[k] - m[k]).powi(2)).sum::<f64>().sqrt();
            eprintln!("{label}: {name:>13} error {e:5.2} mm");
            worst = worst.max(e);
        }
        eprintln!("{label}: fit {a:?}, worst {worst:.2} mm");
        worst
    }
}

const MOVES: [([f64; 3], [f64; 3]); 3] = [
    ([1.0, 1.0, 1.0], [0.0, 0.0, 0.0]),
    ([1.08, 0.93, 1.0], [12.0, -20.0, 35.0]),
    ([0.92, 1.1, 1.04], [-30.0, 15.0, -40.0]),
];

fn check_full_and_slabs(t: &Template, tm: &TemplateMoments, label: &str) {
    // The template itself on its own grid: identity.
    let own = Mask::on_grid(t.intracranial.clone(), &t.grid);
    let a = MniApprox::fit(&own, tm);
    assert_eq!(a.method, FitMethod::Moments);
    for k in 0..3 {
        assert!((a.scale[k] - 1.0).abs() < 0.02, "{label} own: {a:?}");
        assert!(a.offset[k].abs() < 2.0, "{label} own: {a:?}");
    }
    for (s, d) in MOVES {
        // Whole head at clinical resolution.
        let st = Study::new(t, s, d, [1.5, 1.5, 5.0], (-90.0, 100.0));
        let a = MniApprox::fit(&st.brain, tm);
        assert_eq!(a.method, FitMethod::Moments, "{label}");
        assert!(a.pitch_deg.abs() < 1.0, "{label}: {a:?}");
        for k in 0..3 {
            assert!(
                (a.scale[k] * s[k] - 1.0).abs() < 0.02,
                "{label} scale {k}: {a:?} for {s:?}"
            );
        }
        let e = st.max_error(&a, &format!("{label} full {s:?}"));
        assert!(e <= 2.0, "{label} full {s:?}: {e} mm");
        // Clinical slabs of 6.5 mm slices: no cerebellum bottom (19 slices), no vertex (19),
        // neither (16).
        for z in [(-30.0, 90.0), (-75.0, 45.0), (-45.0, 60.0)] {
            let st = Study::new(t, s, d, [1.8, 1.8, 6.5], z);
            let a = MniApprox::fit(&st.brain, tm);
            assert_eq!(a.method, FitMethod::SlabProfile, "{label} {z:?}");
            let e = st.max_error(&a, &format!("{label} slab {z:?} {s:?}"));
            assert!(e <= 5.0, "{label} slab {z:?} {s:?}: {e} mm");
        }
    }
}

#[test]
fn mni_approx_on_moved_scaled_and_truncated_phantom() {
    let t = Template::phantom(2.0);
    let tm = TemplateMoments::from_template(&t);
    check_full_and_slabs(&t, &tm, "phantom");
}

#[test]
fn mni_approx_on_moved_scaled_and_truncated_real_template() {
    let Some(t) = real_template() else { return };
    check_full_and_slabs(&t, &TemplateMoments::mni_icbm152_2009a(), "MNI");
}

#[test]
fn regions_of_landmarks_through_mni_approx_of_a_shifted_phantom() {
    let t = Template::phantom(2.0);
    let tm = TemplateMoments::from_template(&t);
    let (s, d) = ([1.06, 0.95, 1.02], [18.0, -25.0, 30.0]);
    for z in [(-90.0, 100.0), (-50.0, 50.0)] {
        let st = Study::new(&t, s, d, [1.5, 1.5, 5.0], z);
        let a = MniApprox::fit(&st.brain, &tm);
        for (m, want) in [
            ([0.0, -28.0, -30.0], Region::Brainstem),
            ([25.0, -65.0, -35.0], Region::Cerebellum),
            ([-25.0, -68.0, -38.0], Region::Cerebellum),
            ([10.0, -18.0, 8.0], Region::Supratentorial),
        ] {
            assert_eq!(region_at(m), want);
            assert_eq!(region_at(a.to_mni(st.world(m))), want, "{m:?} {z:?} {a:?}");
        }
        // The same through find_lesions: small spheres at the pons and the thalamus.
        let g = st.brain.grid();
        let centres = [st.world([0.0, -28.0, -30.0]), st.world([10.0, -18.0, 8.0])];
        let data =
            ndarray::Array3::from_shape_fn((g.dims[0], g.dims[1], g.dims[2]), |(i, j, k)| {
                let p = g.voxel_to_world([i as f64, j as f64, k as f64]);
                let near = |c: [f64; 3]| (0..3).map(|q| (p[q] - c[q]).powi(2)).sum::<f64>() < 36.0;
                if near(centres[0]) {
                    0.9f32
                } else if near(centres[1]) {
                    0.8
                } else {
                    0.0
                }
            });
        let prob = Volume::on_grid(data, &g);
        let (_, l) = find_lesions(
            &prob,
            Some(&st.brain),
            &|p| a.to_mni(p),
            &LesionConfig::default(),
        );
        assert_eq!(l.len(), 2, "{z:?}");
        let regions: Vec<Region> = l.iter().map(|x| x.region).collect();
        assert!(regions.contains(&Region::Brainstem) && regions.contains(&Region::Supratentorial));
        for x in &l {
            let want = if x.max_prob > 0.85 {
                Region::Brainstem
            } else {
                Region::Supratentorial
            };
            assert_eq!(x.region, want, "{x:?}");
        }
    }
}

/// A brain mask tighter than the template's intracranial mask (eroded by about 3 mm, as a
/// DWI brain mask that misses the outer CSF) and a pitched head: the method's assumptions
/// broken the way real studies break them.
fn check_robustness(t: &Template, tm: &TemplateMoments, label: &str) -> (f64, f64) {
    let eroded = ndarray_ndimage::binary_erosion(
        &t.intracranial,
        &ndarray_ndimage::Kernel3d::Ball.generate(),
        (3.0 / t.grid.spacing_mm()[0]).round().max(1.0) as usize,
    );
    let (s, d) = ([1.05, 0.96, 1.0], [10.0, -12.0, 25.0]);
    let mut worst_tight: f64 = 0.0;
    for z in [(-90.0, 100.0), (-30.0, 90.0), (-75.0, 45.0), (-45.0, 60.0)] {
        let st = Study::with(t, &eroded, s, d, 0.0, [1.5, 1.5, 5.0], z);
        let a = MniApprox::fit(&st.brain, tm);
        worst_tight = worst_tight.max(st.max_error(&a, &format!("{label} eroded {z:?}")));
    }
    let mut worst_pitch: f64 = 0.0;
    for (pitch, z) in [
        (10.0, (-90.0, 100.0)),
        (-12.0, (-90.0, 100.0)),
        (10.0, (-30.0, 90.0)),
        (-12.0, (-30.0, 90.0)),
        (10.0, (-75.0, 45.0)),
        (-12.0, (-75.0, 45.0)),
    ] {
        let st = Study::with(t, &t.intracranial, s, d, pitch, [1.5, 1.5, 5.0], z);
        let a = MniApprox::fit(&st.brain, tm);
        assert!(
            (a.pitch_deg + pitch).abs() < 2.0,
            "{label} pitch {pitch}: {a:?}"
        );
        worst_pitch = worst_pitch.max(st.max_error(&a, &format!("{label} pitch {pitch}° {z:?}")));
    }
    eprintln!("{label}: worst eroded {worst_tight:.2} mm, worst pitched {worst_pitch:.2} mm");
    (worst_tight, worst_pitch)
}

#[test]
fn mni_approx_with_tighter_mask_and_pitched_head() {
    let p = Template::phantom(2.0);
    let (e, r) = check_robustness(&p, &TemplateMoments::from_template(&p), "phantom");
    assert!(
        e <= 8.0 && r <= 2.0,
        "phantom: eroded {e} mm, pitched {r} mm"
    );
    if let Some(t) = real_template() {
        let (e, r) = check_robustness(&t, &TemplateMoments::mni_icbm152_2009a(), "MNI");
        assert!(e <= 6.0 && r <= 2.0, "MNI: eroded {e} mm, pitched {r} mm");
    }
}

#[test]
fn empty_mask_gives_identity() {
    let g = Grid::axis_aligned([4, 4, 4], [1.0; 3], [0.0; 3]);
    let m = Mask::on_grid(ndarray::Array3::from_elem((4, 4, 4), false), &g);
    let a = MniApprox::fit(&m, &TemplateMoments::mni_icbm152_2009a());
    assert_eq!(a, MniApprox::identity());
    assert_eq!(a.to_mni([1.0, 2.0, 3.0]), [1.0, 2.0, 3.0]);
}

#[test]
fn hard_coded_constants_match_the_template() {
    let Some(t) = real_template() else { return };
    let got = TemplateMoments::from_template(&t);
    let have = TemplateMoments::mni_icbm152_2009a();
    for d in 0..3 {
        assert!(
            (got.centroid_mm[d] - MNI2009A_IC_CENTROID_MM[d]).abs() < 0.05,
            "{got:?}"
        );
        for (g, h) in got.cov_mm2[d].iter().zip(&MNI2009A_IC_COV_MM2[d]) {
            assert!((g - h).abs() < 0.5, "{got:?}");
        }
    }
    assert_eq!(got.profile.bins.len(), have.profile.bins.len());
    assert!((got.profile.z0_mm - have.profile.z0_mm).abs() < 1e-9);
    for (g, h) in got.profile.bins.iter().zip(&have.profile.bins) {
        assert!((g.area_mm2 - h.area_mm2).abs() < 1.0, "{g:?} {h:?}");
        for (a, b) in [
            (g.mean_x, h.mean_x),
            (g.mean_y, h.mean_y),
            (g.sd_x, h.sd_x),
            (g.sd_y, h.sd_y),
        ] {
            assert!((a - b).abs() < 0.06, "{g:?} {h:?}");
        }
    }
}

/// Prints `src/mni_constants.rs`' numbers from the installed template.
#[test]
#[ignore = "generator: run with --ignored --nocapture to regenerate mni_constants.rs"]
fn print_constants() {
    let Some(t) = real_template() else { return };
    let m = TemplateMoments::from_template(&t);
    let c = m.centroid_mm;
    println!(
        "pub const MNI2009A_IC_CENTROID_MM: [f64; 3] = [{:.3}, {:.3}, {:.3}];",
        c[0], c[1], c[2]
    );
    println!("pub const MNI2009A_IC_COV_MM2: [[f64; 3]; 3] = [");
    for r in m.cov_mm2 {
        println!("    [{:.2}, {:.2}, {:.2}],", r[0], r[1], r[2]);
    }
    println!("];");
    println!(
        "pub const MNI2009A_IC_PROFILE_Z0_MM: f64 = {:.1};",
        m.profile.z0_mm
    );
    println!(
        "pub const MNI2009A_IC_PROFILE_DZ_MM: f64 = {:.1};",
        m.profile.dz_mm
    );
    println!("pub const MNI2009A_IC_PROFILE: &[[f64; 5]] = &[");
    for b in &m.profile.bins {
        println!(
            "    [{:.1}, {:.2}, {:.2}, {:.2}, {:.2}],",
            b.area_mm2, b.mean_x, b.mean_y, b.sd_x, b.sd_y
        );
    }
    println!("];");
}
