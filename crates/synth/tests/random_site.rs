//! The randomised pseudo-site (`--site random`) as a user sees it: reproducible bytes, every
//! draw in the manifest and the files, and acute infarcts that stay DWI-bright and ADC-dark
//! whatever the drawn appearance.

use strokeseg_io::{Study, StudySpec};
use strokeseg_synth::dataset::Generator;
use strokeseg_synth::manifest::write_dataset;
use strokeseg_synth::site::{find_site, AdcUnitsOut};
use strokeseg_synth::Template;

#[test]
fn random_site_is_reproducible_and_records_its_draws() {
    let gen = Generator::new(Template::phantom(3.0));
    let site = find_site("random").unwrap();
    let make = || {
        let d = tempfile::tempdir().unwrap();
        let t = write_dataset(&gen, &site, d.path(), 3, 21, false, &|_| {}).unwrap();
        (d, t)
    };
    let (a, truths) = make();
    let (b, _) = make();
    let mut files = vec!["manifest.json".to_string(), "manifest.csv".to_string()];
    for t in &truths {
        files.extend([t.files.dwi.clone(), t.files.adc.clone(), t.files.b0.clone()]);
        files.push(t.files.mask.clone());
    }
    for f in &files {
        let (x, y) = (
            std::fs::read(a.path().join(f)).unwrap(),
            std::fs::read(b.path().join(f)).unwrap(),
        );
        assert!(x == y, "{f} differs between two runs with the same seed");
    }
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.path().join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(m["site"]["randomize"], true);
    let mut spacings = Vec::new();
    for (t, j) in truths.iter().zip(m["studies"].as_array().unwrap()) {
        assert!(t.id.starts_with("sub-random"), "{}", t.id);
        let r = t.randomized.as_ref().expect("draw recorded");
        let s = &r.site;
        // the study was made with its draw, and the manifest says so
        assert_eq!(t.b_value, s.b_value);
        assert_eq!(t.dims, [s.matrix[0], s.matrix[1], s.n_slices]);
        assert!((t.spacing_mm[2] - s.slice_spacing_mm()).abs() < 1e-9);
        assert!((t.spacing_mm[0] - s.inplane_mm).abs() < 1e-9);
        assert!(r.tilt_deg[0].abs() <= s.max_tilt_deg && r.tilt_deg != [0.0; 3]);
        assert!((f64::from(t.tissue.adc[1]) - f64::from(r.tissue.adc_mm2_s[1])).abs() < 1e-12);
        let jr = &j["randomized"];
        assert_eq!(jr["site"]["b_value"].as_f64(), Some(s.b_value));
        for key in [
            "partial_fov",
            "fov_shift_mm",
            "slice_profile_fwhm",
            "tilt_deg",
        ] {
            assert!(!jr[key].is_null(), "{key} missing");
        }
        for key in [
            "artefact_strength",
            "bias_curvature",
            "dwi_averages",
            "dwi_gamma",
        ] {
            assert!(!jr["acquire"][key].is_null(), "{key} missing");
        }
        for key in ["s0_multiplier", "adc_mm2_s"] {
            assert!(!jr["tissue"][key].is_null(), "{key} missing");
        }
        // the files carry the drawn b-value and ADC units
        let study = Study::load(&StudySpec {
            paths: vec![a.path().join(&t.id)],
            ..Default::default()
        })
        .unwrap();
        assert_eq!(study.b_value, Some(s.b_value), "{}", t.id);
        let want = match s.adc_units {
            AdcUnitsOut::Micro => "1e-6 mm2/s",
            AdcUnitsOut::Milli => "1e-3 mm2/s",
            AdcUnitsOut::Si => "mm2/s",
        };
        match &study.adc_origin {
            Some(strokeseg_io::study::AdcOrigin::Given { units, .. }) => {
                assert_eq!(units.label(), want, "{}", t.id)
            }
            other => panic!("{}: ADC not given: {other:?}", t.id),
        }
        spacings.push((t.b_value, t.spacing_mm[2]));
    }
    spacings.dedup();
    assert_eq!(spacings.len(), 3, "studies draw different acquisitions");
}

#[test]
fn randomised_lesions_stay_bright_on_dwi_and_dark_on_adc() {
    let gen = Generator::new(Template::phantom(3.0));
    let site = find_site("random").unwrap();
    let med = |mut v: Vec<f32>| {
        v.sort_by(f32::total_cmp);
        v[v.len() / 2]
    };
    let mut checked = 0;
    for i in 0..20 {
        let s = gen.study(&site, 77, i);
        for l in &s.truth.lesions {
            assert!((0.40..=0.85).contains(&l.adc_factor), "{}", l.adc_factor);
            assert!((1.0..=1.30).contains(&l.s0_factor), "{}", l.s0_factor);
        }
        let g = &s.images;
        let (mut dl, mut dn, mut al, mut an) = (vec![], vec![], vec![], vec![]);
        for (idx, &lesion) in s.mask.indexed_iter() {
            if !g.brain_mask[idx] || g.adc[idx] <= 0.0 {
                continue;
            }
            let (d, a) = if lesion {
                (&mut dl, &mut al)
            } else {
                (&mut dn, &mut an)
            };
            d.push(g.dwi[idx]);
            a.push(g.adc[idx]);
        }
        if dl.len() < 20 {
            continue;
        }
        let (dwi, adc) = (med(dl) / med(dn), med(al) / med(an));
        let d = s.truth.randomized.as_ref().unwrap();
        assert!(
            dwi > 1.0 && adc < 1.0,
            "study {i} ({}): lesion/normal DWI {dwi:.2}, ADC {adc:.2}; draw {d:?}",
            s.truth.id
        );
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} lesion studies checked");
}
