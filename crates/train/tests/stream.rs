//! An on-the-fly study is the study `strokeseg synth` writes, prepared as if read back from
//! its files: same input channels and label, without the disk.

use strokeseg_preproc::PrepConfig;
use strokeseg_synth::dataset::Generator;
use strokeseg_synth::manifest::write_dataset;
use strokeseg_synth::site::find_site;
use strokeseg_synth::Template;
use strokeseg_train::data::{discover, load_case};
use strokeseg_train::stream::{CaseSource, SynthSource};

/// Largest difference between two cases' network inputs.
fn max_abs_diff(a: &strokeseg_train::data::Case, b: &strokeseg_train::data::Case) -> f32 {
    a.input
        .iter()
        .zip(&b.input)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max)
}

#[test]
fn an_on_the_fly_study_equals_the_written_one_read_back() {
    let d = tempfile::tempdir().unwrap();
    let prep = PrepConfig {
        spacing_mm: [3.0, 3.0, 4.0],
        ..PrepConfig::default()
    };
    let multiple = [4, 4, 4];
    for site in ["site-c", "random"] {
        let root = d.path().join(site);
        let site = find_site(site).unwrap();
        write_dataset(
            &Generator::new(Template::phantom(3.0)),
            &site,
            &root,
            2,
            11,
            false,
            &|_| {},
        )
        .unwrap();
        let refs = discover(&root).unwrap();
        let src = SynthSource::new(Generator::new(Template::phantom(3.0)), site.clone(), 11);
        for (i, r) in refs.iter().enumerate() {
            let from_disk = load_case(r, &prep, multiple).unwrap();
            let in_memory = src.case(i as u64, &prep, multiple).unwrap();
            assert_eq!(from_disk.id, in_memory.id);
            assert_eq!(in_memory.site, format!("synth-stream-{}", site.name));
            assert_eq!(from_disk.input.dim(), in_memory.input.dim(), "{}", r.id);
            let diff = max_abs_diff(&from_disk, &in_memory);
            assert!(diff < 1e-3, "{}: inputs differ by {diff}", r.id);
            assert_eq!(from_disk.label, in_memory.label, "{}", r.id);
            assert_eq!(from_disk.has_lesion, in_memory.has_lesion);
        }
    }
}

#[test]
fn an_on_the_fly_implant_equals_the_written_one_read_back() {
    use strokeseg_implant::background::{default_id, BackgroundKind};
    use strokeseg_implant::{prepare, write_dataset, Background, ImplantConfig};
    use strokeseg_train::stream::ImplantSource;
    let Some(dir) = strokeseg_testkit::shared("data/real/ads/Subject02") else {
        eprintln!("SKIPPED: ../shared/data/real/ads not present");
        return;
    };
    // a peer background: the peer tool's prediction becomes ignored voxels (label −1)
    let peer = dir.join("Subject02_DAGMNet_CH3_Lesion_Predict.nii.gz");
    let spec = strokeseg_io::StudySpec {
        paths: vec![dir.clone()],
        ..Default::default()
    };
    let bg = Background::load(
        &default_id(&dir),
        &spec,
        BackgroundKind::PeerExcluded,
        None,
        Some(&peer),
    )
    .unwrap();
    let tpl = Template::load(&Template::default_dir()).unwrap();
    let cfg = ImplantConfig::default();
    let prep = prepare(&bg, &strokeseg_register::RegTemplate::dwi_like(&tpl), &cfg).unwrap();
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("implant");
    write_dataset(
        &root,
        std::slice::from_ref(&prep),
        &tpl,
        &cfg,
        2,
        5,
        true,
        &mut |_| {},
    )
    .unwrap();
    let refs = discover(&root).unwrap();
    assert_eq!(refs.len(), 3);
    let src = ImplantSource::new(vec![prep], &tpl, cfg, 5).unwrap();
    let prep_cfg = PrepConfig::default();
    for (k, r) in refs.iter().enumerate() {
        let from_disk = load_case(r, &prep_cfg, [8, 8, 4]).unwrap();
        let in_memory = src.case(k as u64, &prep_cfg, [8, 8, 4]).unwrap();
        assert_eq!(from_disk.id, in_memory.id);
        assert_eq!(from_disk.input.dim(), in_memory.input.dim(), "{}", r.id);
        let diff = max_abs_diff(&from_disk, &in_memory);
        assert!(diff < 1e-3, "{}: inputs differ by {diff}", r.id);
        assert_eq!(from_disk.label, in_memory.label, "{}", r.id);
        assert!(
            in_memory.label.iter().any(|&l| l < 0.0),
            "peer region ignored"
        );
        // study 0 is the background unchanged; 1 and 2 carry implanted lesions
        assert_eq!(in_memory.has_lesion, k > 0, "{}", r.id);
    }
}
