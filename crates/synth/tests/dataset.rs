//! The synthetic dataset as a user sees it: files that our own readers accept with the right
//! geometry, masks that sit on the lesions, a manifest whose volumes are the masks' volumes,
//! and byte-identical output for the same seed.

use std::path::Path;
use strokeseg_core::{Grid, Mask};
use strokeseg_io::nifti_io::read_volume;
use strokeseg_io::{Study, StudySpec};
use strokeseg_synth::dataset::{Generator, StudyTruth};
use strokeseg_synth::manifest::write_dataset;
use strokeseg_synth::site::{builtin_sites, find_site, AdcUnitsOut};
use strokeseg_synth::Template;

fn phantom_generator() -> Generator {
    Generator::new(Template::phantom(2.0))
}

fn make(
    gen: &Generator,
    site: &str,
    n: usize,
    seed: u64,
    dicom: bool,
) -> (tempfile::TempDir, Vec<StudyTruth>) {
    let d = tempfile::tempdir().unwrap();
    let site = find_site(site).unwrap();
    let t = write_dataset(gen, &site, d.path(), n, seed, dicom, &|_| {}).unwrap();
    (d, t)
}

fn grid_close(a: &Grid, b: &Grid, tol: f64) -> bool {
    a.dims == b.dims
        && a.affine
            .iter()
            .zip(b.affine.iter())
            .all(|(x, y)| (x - y).abs() < tol)
}

#[test]
fn same_seed_same_bytes_other_seed_other_data() {
    let gen = phantom_generator();
    let (a, _) = make(&gen, "site-a", 2, 42, false);
    let (b, _) = make(&gen, "site-a", 2, 42, false);
    let (c, _) = make(&gen, "site-a", 2, 43, false);
    let files = [
        "manifest.json",
        "sub-sitea0001/ses-0001/dwi/sub-sitea0001_ses-0001_dwi.nii.gz",
    ];
    for f in files {
        let (x, y) = (
            std::fs::read(a.path().join(f)).unwrap(),
            std::fs::read(b.path().join(f)).unwrap(),
        );
        assert!(x == y, "{f} differs between two runs with the same seed");
    }
    let f = files[1];
    assert_ne!(
        std::fs::read(a.path().join(f)).unwrap(),
        std::fs::read(c.path().join(f)).unwrap()
    );
}

#[test]
fn files_read_back_with_the_site_geometry_units_and_b_value() {
    let gen = phantom_generator();
    for site in builtin_sites() {
        let (d, truths) = make(&gen, &site.name, 1, 7, false);
        let t = &truths[0];
        let dwi = read_volume(&d.path().join(&t.files.dwi)).unwrap();
        let adc = read_volume(&d.path().join(&t.files.adc)).unwrap();
        let msk = read_volume(&d.path().join(&t.files.mask)).unwrap();
        assert_eq!(dwi.dims(), t.dims);
        assert_eq!(dwi.dims(), [site.matrix[0], site.matrix[1], site.n_slices]);
        let sp = dwi.spacing_mm();
        assert!(
            (sp[0] - site.inplane_mm).abs() < 1e-3
                && (sp[2] - site.slice_thickness_mm - site.slice_gap_mm).abs() < 1e-3
        );
        assert!(
            grid_close(&dwi.grid(), &adc.grid(), 1e-5)
                && grid_close(&dwi.grid(), &msk.grid(), 1e-5)
        );
        assert!(
            dwi.data().iter().all(|v| v.fract() == 0.0),
            "integer scanner values"
        );
        // Our own study reader takes the folder and detects the site's ADC units and b.
        let study = Study::load(&StudySpec {
            paths: vec![d.path().join(&t.id)],
            ..Default::default()
        })
        .unwrap();
        assert_eq!(study.b_value, Some(site.b_value), "{}", site.name);
        let want = match site.adc_units {
            AdcUnitsOut::Micro => "1e-6 mm2/s",
            AdcUnitsOut::Milli => "1e-3 mm2/s",
            AdcUnitsOut::Si => "mm2/s",
        };
        match &study.adc_origin {
            Some(strokeseg_io::study::AdcOrigin::Given { units, .. }) => {
                assert_eq!(units.label(), want, "{}", site.name)
            }
            other => panic!("{}: ADC not given: {other:?}", site.name),
        }
    }
}

fn voxel_ml(p: &Path) -> (Mask, f64) {
    let v = read_volume(p).unwrap();
    let ml = v.grid().voxel_volume_ml();
    (v.map(|&x| x > 0.5), ml)
}

#[test]
fn manifest_volumes_are_the_mask_volumes_and_masks_sit_on_low_adc() {
    let gen = phantom_generator();
    let (d, truths) = make(&gen, "site-c", 12, 5, false);
    let mut checked_lesions = 0;
    for t in &truths {
        let (mask, ml) = voxel_ml(&d.path().join(&t.files.mask));
        // Same voxels exactly; volumes equal up to the f32 precision of the stored affine.
        let total = mask.count() as f64 * ml;
        let tol = 1e-5 * total.max(1e-3);
        assert!(
            (t.lesion_volume_ml - total).abs() < tol,
            "{}: manifest {} vs mask {total}",
            t.id,
            t.lesion_volume_ml
        );
        let per_lesion: f64 = t.lesions.iter().map(|l| l.measured.mask_volume_ml).sum();
        assert!(
            (per_lesion - total).abs() < tol,
            "{}: lesions sum {per_lesion} vs mask {total}",
            t.id
        );
        let voxels: usize = t.lesions.iter().map(|l| l.measured.n_voxels).sum();
        assert_eq!(voxels, mask.count(), "{}", t.id);
        assert_eq!(t.has_lesion, mask.count() > 0);
        if mask.count() == 0 {
            continue;
        }
        // ADC inside the mask is lower than in the rest of the brain (acute infarcts only).
        let adc = read_volume(&d.path().join(&t.files.adc)).unwrap();
        let (mut inside, mut outside) = (Vec::new(), Vec::new());
        for (a, m) in adc.data().iter().zip(mask.data().iter()) {
            if *a > 0.0 {
                if *m {
                    inside.push(*a)
                } else {
                    outside.push(*a)
                }
            }
        }
        inside.sort_by(f32::total_cmp);
        outside.sort_by(f32::total_cmp);
        let med = |v: &[f32]| v[v.len() / 2];
        if t.lesions.iter().any(|l| l.visible && !l.subtle) && inside.len() >= 5 {
            assert!(
                med(&inside) < 0.9 * med(&outside),
                "{}: lesion ADC {} vs brain {}",
                t.id,
                med(&inside),
                med(&outside)
            );
            checked_lesions += 1;
        }
    }
    assert!(
        checked_lesions >= 2,
        "too few lesion studies checked: {checked_lesions}"
    );
    // lesions.csv has one row per lesion.
    let rows = std::fs::read_to_string(d.path().join("lesions.csv"))
        .unwrap()
        .lines()
        .count()
        - 1;
    assert_eq!(rows, truths.iter().map(|t| t.lesions.len()).sum::<usize>());
}

#[test]
fn dicom_output_reads_back_on_the_nifti_grid() {
    let gen = phantom_generator();
    let (d, truths) = make(&gen, "site-b", 1, 3, true);
    let t = &truths[0];
    let dicom = d.path().join(t.files.dicom.as_ref().unwrap());
    let study = Study::load(&StudySpec {
        paths: vec![dicom],
        ..Default::default()
    })
    .unwrap();
    let nifti = read_volume(&d.path().join(&t.files.dwi)).unwrap();
    assert!(
        grid_close(&study.dwi.grid(), &nifti.grid(), 1e-3),
        "{} vs {}",
        study.dwi.affine(),
        nifti.affine()
    );
    assert_eq!(study.dwi.data(), nifti.data());
    assert_eq!(study.b_value, Some(t.b_value));
    assert!(study.adc.is_some() && study.b0.is_some());
}

#[test]
fn about_forty_five_percent_of_studies_have_no_lesion() {
    let gen = Generator::new(Template::phantom(4.0));
    let site = find_site("site-b").unwrap();
    let n = 40;
    let with = (0..n)
        .filter(|&i| gen.study(&site, 11, i).truth.has_lesion)
        .count();
    let frac = 1.0 - with as f64 / n as f64;
    assert!(
        (0.25..=0.65).contains(&frac),
        "{frac} of studies without lesion"
    );
}
