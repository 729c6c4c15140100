use super::*;

fn example_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sites/example-site.toml")
}

#[test]
fn builtin_sites_are_valid_and_varied() {
    let sites = builtin_sites();
    assert!(sites.len() >= 4);
    for s in &sites {
        s.validate().unwrap_or_else(|e| panic!("{e}"));
    }
    let has = |f: &dyn Fn(&Site) -> bool| sites.iter().any(f);
    for b in [800.0, 1000.0, 1500.0] {
        assert!(has(&|s| s.b_value == b), "b{b} unused");
    }
    for u in [AdcUnitsOut::Micro, AdcUnitsOut::Milli, AdcUnitsOut::Si] {
        assert!(has(&|s| s.adc_units == u), "{u:?} unused");
    }
    assert!(has(&|s| s.skull) && has(&|s| !s.skull));
    assert!(has(&|s| s.field_strength_t == 1.5) && has(&|s| s.field_strength_t == 3.0));
    assert!(has(&|s| s.slice_gap_mm == 0.0) && has(&|s| s.slice_gap_mm > 0.0));
    let mut names: Vec<_> = sites.iter().map(|s| s.name.clone()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), sites.len(), "names must be unique");
    // every preset covers a brain (≥ 200 mm field of view, ≥ 130 mm of slices)
    for s in &sites {
        assert!(s.inplane_mm * s.matrix[0] as f64 >= 200.0, "{}", s.name);
        assert!(
            s.slice_spacing_mm() * s.n_slices as f64 >= 130.0,
            "{}",
            s.name
        );
    }
}

#[test]
fn builtin_sites_round_trip_through_toml() {
    for s in builtin_sites() {
        let text = s.to_toml().unwrap();
        let back: Site = toml::from_str(&text).unwrap();
        assert_eq!(back, s, "{text}");
        assert_eq!(Site::from_toml_str(&text, Path::new("x.toml")).unwrap(), s);
    }
}

#[test]
fn example_site_toml_loads_and_validates() {
    let p = example_path();
    let s = Site::from_toml_file(&p).unwrap_or_else(|e| panic!("{e}"));
    s.validate().unwrap();
    assert_eq!(s.name, "example-3t-b1000");
    assert_eq!(s.matrix, [160, 160]);
    assert_eq!(s.adc_units, AdcUnitsOut::Micro);
    assert_eq!(find_site(p.to_str().unwrap()).unwrap(), s);
}

#[test]
fn find_site_by_name_or_lists_builtins() {
    assert_eq!(find_site("site-b").unwrap().b_value, 1000.0);
    assert_eq!(find_site("SITE-D").unwrap().b_value, 1500.0);
    let e = find_site("no-such-site").unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, SiteError::Unknown { .. }));
    for s in builtin_sites() {
        assert!(msg.contains(&s.name), "{msg}");
    }
    let e = find_site("/nonexistent/dir/site.toml").unwrap_err();
    assert!(e.to_string().contains("/nonexistent/dir/site.toml"), "{e}");
}

#[test]
fn toml_errors_name_the_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(example_path()).unwrap();
    // unknown field (a typo)
    let p = dir.path().join("typo.toml");
    std::fs::write(&p, good.replace("snr_b0", "snr_bo")).unwrap();
    let msg = find_site(p.to_str().unwrap()).unwrap_err().to_string();
    assert!(msg.contains("typo.toml") && msg.contains("snr_bo"), "{msg}");
    // out of range value
    let p = dir.path().join("range.toml");
    std::fs::write(&p, good.replace("b_value = 1000.0", "b_value = 50.0")).unwrap();
    let e = find_site(p.to_str().unwrap()).unwrap_err();
    assert_eq!(e.field(), Some("b_value"));
    assert!(
        e.to_string().contains("range.toml") && e.to_string().contains("b_value"),
        "{e}"
    );
    // wrong type
    let p = dir.path().join("type.toml");
    std::fs::write(
        &p,
        good.replace("adc_units = \"micro\"", "adc_units = \"furlongs\""),
    )
    .unwrap();
    let msg = find_site(p.to_str().unwrap()).unwrap_err().to_string();
    assert!(
        msg.contains("type.toml") && msg.contains("adc_units"),
        "{msg}"
    );
}

#[test]
fn invalid_site_values_name_the_field() {
    let base = builtin_sites().remove(0);
    type Breaker = fn(&mut Site);
    let cases: [(&str, Breaker); 16] = [
        ("name", |s| s.name = "bad name/x".into()),
        ("field_strength_t", |s| s.field_strength_t = 0.0),
        ("snr_b0", |s| s.snr_b0 = f64::NAN),
        ("inplane_mm", |s| s.inplane_mm = -1.0),
        ("matrix", |s| s.matrix = [128, 0]),
        ("slice_thickness_mm", |s| s.slice_thickness_mm = 30.0),
        ("slice_gap_mm", |s| s.slice_gap_mm = -0.5),
        ("n_slices", |s| s.n_slices = 0),
        ("b_value", |s| s.b_value = 5000.0),
        ("bias_strength", |s| s.bias_strength = 1.5),
        ("intensity_scale", |s| s.intensity_scale = 0.0),
        ("intensity_scale", |s| s.intensity_scale = 40.0),
        ("max_tilt_deg", |s| s.max_tilt_deg = 90.0),
        ("p_susceptibility", |s| s.p_susceptibility = 1.2),
        ("p_motion", |s| s.p_motion = -0.1),
        ("p_ghosting", |s| s.p_ghosting = f64::INFINITY),
    ];
    for (field, f) in cases {
        let mut s = base.clone();
        f(&mut s);
        let e = s.validate().expect_err(field);
        assert_eq!(e.field(), Some(field), "{e}");
        assert!(e.to_string().contains(field), "{e}");
    }
}

#[test]
fn native_grid_spacing_dims_and_centre() {
    let s = find_site("site-b").unwrap();
    let g = s.native_grid((0.0, 0.0, 0.0), [1.0, -17.0, 12.0]);
    assert_eq!(g.dims, [128, 128, 22]);
    let sp = g.spacing_mm();
    assert!((sp[0] - 1.8).abs() < 1e-9 && (sp[1] - 1.8).abs() < 1e-9);
    assert!((sp[2] - 6.5).abs() < 1e-9, "thickness + gap: {sp:?}");
    let c = g.centre_mm();
    assert!((c[0] - 1.0).abs() < 1e-9 && (c[1] + 17.0).abs() < 1e-9 && (c[2] - 12.0).abs() < 1e-9);
    // axis-aligned RAS+: i → +x, j → +y, k → +z
    let l = g.linear();
    assert!(
        (l[(0, 0)] - 1.8).abs() < 1e-9
            && (l[(1, 1)] - 1.8).abs() < 1e-9
            && (l[(2, 2)] - 6.5).abs() < 1e-9
    );
    assert!(Grid::new(g.dims, g.affine).is_ok());
}

#[test]
fn native_grid_tilt_rotates_the_stack() {
    let s = find_site("site-a").unwrap();
    let g = s.native_grid((12.0, 0.0, 0.0), [0.0, 0.0, 10.0]);
    let n = g.slice_normal();
    let angle = n.dot(&Vector3::z()).acos().to_degrees();
    assert!((angle - 12.0).abs() < 1e-6, "{angle}");
    assert!(
        n[1] < 0.0 && n[0].abs() < 1e-12,
        "pitch about x tilts k towards −y: {n:?}"
    );
    let c = g.centre_mm();
    assert!(c
        .iter()
        .zip([0.0, 0.0, 10.0])
        .all(|(a, b)| (a - b).abs() < 1e-9));
    let sp = g.spacing_mm();
    assert!((sp[2] - 4.0).abs() < 1e-9 && (sp[0] - 1.2).abs() < 1e-9);
    // a compound tilt keeps the spacing and is a proper rotation (det > 0, RAS+ handedness)
    let g = s.native_grid((5.0, -7.0, 20.0), [3.0, 4.0, 5.0]);
    assert!((g.spacing_mm()[1] - 1.2).abs() < 1e-9);
    assert!((g.linear().determinant() - 1.2 * 1.2 * 4.0).abs() < 1e-9);
    let z = g.slice_normal().dot(&Vector3::z()).acos().to_degrees();
    assert!(z > 5.0 && z < 12.0, "{z}");
}

#[test]
fn native_grid_never_panics_on_degenerate_sites() {
    let mut s = builtin_sites().remove(0);
    s.matrix = [0, 1];
    s.n_slices = 0;
    s.inplane_mm = f64::NAN;
    let g = s.native_grid((f64::NAN, 0.0, 0.0), [f64::INFINITY, 0.0, 0.0]);
    assert_eq!(g.dims, [1, 1, 1]);
    assert!(g.affine.iter().all(|v| v.is_finite()));
}

#[test]
fn draw_tilt_stays_within_max() {
    use rand::SeedableRng;
    let s = builtin_sites().remove(1);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    for _ in 0..100 {
        let (x, y, z) = s.draw_tilt(&mut rng);
        assert!(
            x.abs() <= s.max_tilt_deg
                && y.abs() <= s.max_tilt_deg / 3.0
                && z.abs() <= s.max_tilt_deg / 3.0
        );
    }
}
