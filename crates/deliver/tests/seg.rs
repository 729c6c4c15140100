//! SEG and Secondary Capture of synthetic DICOM studies, read back with the project's own
//! reader (strokeseg_io::dicom::scan_dir) and element by element with dicom-object.

mod common;

use common::*;
use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use strokeseg_core::Mask;
use strokeseg_deliver::{
    write_dicom_outputs, DeliverError, DeliverOptions, SC_SOP_CLASS, SEG_SOP_CLASS,
};
use strokeseg_io::dicom::scan_dir;

fn items(o: &InMemDicomObject, tag: Tag) -> &[InMemDicomObject] {
    o.element(tag)
        .unwrap_or_else(|_| panic!("{tag} missing"))
        .items()
        .unwrap_or_else(|| panic!("{tag} not a sequence"))
}

fn item_text(o: &InMemDicomObject, tag: Tag) -> String {
    o.element(tag)
        .ok()
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
        .unwrap_or_default()
}

fn floats(o: &InMemDicomObject, tag: Tag) -> Vec<f64> {
    o.element(tag).unwrap().to_multi_float64().unwrap()
}

fn picture() -> image::RgbImage {
    image::RgbImage::from_fn(37, 21, |x, y| image::Rgb([x as u8 * 6, y as u8 * 11, 200]))
}

fn valid_uid(u: &str) -> bool {
    u.len() <= 64
        && u.starts_with("2.25.")
        && u.split('.').all(|p| {
            !p.is_empty()
                && p.chars().all(|c| c.is_ascii_digit())
                && (p == "0" || !p.starts_with('0'))
        })
}

/// Reads the SEG back with our own reader and checks its grid and voxels against the mask.
fn check_with_our_reader(out: &Path, mask: &Mask, study: &strokeseg_io::Study) {
    let prov = study.dicom.as_ref().unwrap();
    let scan = scan_dir(out).unwrap();
    assert_eq!(
        scan.series.len(),
        1,
        "the SC (colour) is skipped: {:?}",
        scan.warnings
    );
    let s = &scan.series[0];
    assert_eq!(s.study_uid, prov.study_instance_uid);
    assert_eq!(s.frame_of_reference_uid, prov.frame_of_reference_uid);
    assert_ne!(s.series_uid, prov.series_instance_uid);
    assert_eq!(s.volumes.len(), 1);
    let v = &s.volumes[0].volume;
    assert_eq!(v.dims(), study.dwi.dims());
    let diff = (v.affine() - study.dwi.affine()).amax();
    assert!(diff < 1e-4, "SEG grid differs from the DWI grid by {diff}");
    let mut n = 0;
    for (idx, &m) in mask.data().indexed_iter() {
        assert_eq!(v.data()[idx] > 0.5, m, "voxel {idx:?}");
        n += usize::from(m);
    }
    assert_eq!(n, mask.count());
}

#[test]
fn seg_and_sc_of_a_classic_series_with_three_directions() {
    let d = tempfile::tempdir().unwrap();
    let src = classic_study(&d.path().join("src"));
    let before = snapshot(&src);
    let study = load(&src);
    let prov = study.dicom.as_ref().expect("a DICOM study has provenance");
    assert_eq!(prov.geometry.slices.len(), DIMS[2]);
    assert!(prov.geometry.slices.iter().all(|s| s.images.len() == 3));
    let mask = lesion_mask(&study);
    assert!(mask.count() > 10);
    let out = d.path().join("out");
    let pic = picture();
    let opts = DeliverOptions::default();
    let w = write_dicom_outputs(&study, &mask, std::slice::from_ref(&pic), &opts, &out).unwrap();
    assert_eq!(snapshot(&src), before, "the source must not change");
    assert!(valid_uid(&w.seg_series_uid) && valid_uid(&w.sc_series_uid));
    assert_ne!(w.seg_series_uid, w.sc_series_uid);
    check_with_our_reader(&out, &mask, &study);

    let seg = open(&w.seg);
    assert_eq!(text(&seg, tags::SOP_CLASS_UID), SEG_SOP_CLASS);
    assert_eq!(seg.meta().media_storage_sop_class_uid(), SEG_SOP_CLASS);
    assert!(valid_uid(&text(&seg, tags::SOP_INSTANCE_UID)));
    assert_eq!(text(&seg, tags::MODALITY), "SEG");
    assert_eq!(text(&seg, tags::PATIENT_ID), "PAT-0042");
    assert_eq!(text(&seg, tags::PATIENT_NAME), "Test^Patient");
    assert_eq!(
        text(&seg, tags::STUDY_INSTANCE_UID),
        prov.study_instance_uid
    );
    assert_eq!(text(&seg, tags::SERIES_INSTANCE_UID), w.seg_series_uid);
    assert_eq!(text(&seg, tags::NUMBER_OF_FRAMES), DIMS[2].to_string());
    assert_eq!(text(&seg, tags::SEGMENTATION_TYPE), "BINARY");
    let segment = &items(&seg, tags::SEGMENT_SEQUENCE)[0];
    assert_eq!(item_text(segment, tags::SEGMENT_LABEL), "Acute infarct");
    assert_eq!(
        item_text(segment, tags::SEGMENT_ALGORITHM_TYPE),
        "AUTOMATIC"
    );
    let code = |seq: Tag| {
        let c = &items(segment, seq)[0];
        (
            item_text(c, tags::CODE_VALUE),
            item_text(c, tags::CODING_SCHEME_DESIGNATOR),
        )
    };
    assert_eq!(
        code(tags::SEGMENTED_PROPERTY_CATEGORY_CODE_SEQUENCE),
        ("49755003".into(), "SCT".into())
    );
    assert_eq!(
        code(tags::SEGMENTED_PROPERTY_TYPE_CODE_SEQUENCE),
        ("55641003".into(), "SCT".into())
    );

    // Every frame sits on its source slice and names the three images combined into it.
    let positions: HashMap<String, [f64; 3]> = source_positions(&src).into_iter().collect();
    assert_eq!(positions.len(), 3 * DIMS[2]);
    let mut referenced = BTreeSet::new();
    for (k, f) in items(&seg, tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE)
        .iter()
        .enumerate()
    {
        let ipp = floats(
            &items(f, tags::PLANE_POSITION_SEQUENCE)[0],
            tags::IMAGE_POSITION_PATIENT,
        );
        let der = &items(f, tags::DERIVATION_IMAGE_SEQUENCE)[0];
        let refs = items(der, tags::SOURCE_IMAGE_SEQUENCE);
        assert_eq!(refs.len(), 3, "frame {k}");
        for r in refs {
            let uid = item_text(r, tags::REFERENCED_SOP_INSTANCE_UID);
            let p = positions
                .get(&uid)
                .unwrap_or_else(|| panic!("frame {k} names {uid}"));
            assert!(
                (0..3).all(|a| (p[a] - ipp[a]).abs() < 1e-3),
                "frame {k}: {p:?} vs {ipp:?}"
            );
            assert!(r.element(tags::REFERENCED_FRAME_NUMBER).is_err());
            referenced.insert(uid);
        }
        let fc = &items(f, tags::FRAME_CONTENT_SEQUENCE)[0];
        let dim: Vec<u32> = fc
            .element(tags::DIMENSION_INDEX_VALUES)
            .unwrap()
            .to_multi_int()
            .unwrap();
        assert_eq!(dim, vec![1, k as u32 + 1]);
    }
    assert_eq!(referenced.len(), 3 * DIMS[2]);
    let rs = &items(&seg, tags::REFERENCED_SERIES_SEQUENCE)[0];
    assert_eq!(
        item_text(rs, tags::SERIES_INSTANCE_UID),
        prov.series_instance_uid
    );
    assert_eq!(
        items(rs, tags::REFERENCED_INSTANCE_SEQUENCE).len(),
        3 * DIMS[2]
    );

    // The Secondary Capture: same patient and study, new series, the picture's pixels.
    assert_eq!(w.secondary_capture.len(), 1);
    let sc = open(&w.secondary_capture[0]);
    assert_eq!(text(&sc, tags::SOP_CLASS_UID), SC_SOP_CLASS);
    assert_eq!(text(&sc, tags::STUDY_INSTANCE_UID), prov.study_instance_uid);
    assert_eq!(text(&sc, tags::SERIES_INSTANCE_UID), w.sc_series_uid);
    assert_eq!(text(&sc, tags::PATIENT_ID), "PAT-0042");
    assert_eq!(text(&sc, tags::PHOTOMETRIC_INTERPRETATION), "RGB");
    assert_eq!(text(&sc, tags::ROWS), "21");
    assert_eq!(text(&sc, tags::COLUMNS), "37");
    let px = sc.element(tags::PIXEL_DATA).unwrap().to_bytes().unwrap();
    assert_eq!(&px[..pic.as_raw().len()], pic.as_raw().as_slice());
    assert_ne!(
        text(&sc, tags::SOP_INSTANCE_UID),
        text(&seg, tags::SOP_INSTANCE_UID)
    );
}

#[test]
fn seg_of_an_enhanced_multiframe_source_names_frame_numbers() {
    let d = tempfile::tempdir().unwrap();
    let src = enhanced_study(&d.path().join("src"));
    let study = load(&src);
    let mask = lesion_mask(&study);
    let out = d.path().join("out");
    let w = write_dicom_outputs(
        &study,
        &mask,
        &[picture()],
        &DeliverOptions::default(),
        &out,
    )
    .unwrap();
    check_with_our_reader(&out, &mask, &study);
    let source = open(&src.join("enhanced.dcm"));
    let src_uid = text(&source, tags::SOP_INSTANCE_UID);
    let src_frames = items(&source, tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE);
    let seg = open(&w.seg);
    let mut numbers = Vec::new();
    for f in items(&seg, tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE) {
        let ipp = floats(
            &items(f, tags::PLANE_POSITION_SEQUENCE)[0],
            tags::IMAGE_POSITION_PATIENT,
        );
        let r = &items(
            &items(f, tags::DERIVATION_IMAGE_SEQUENCE)[0],
            tags::SOURCE_IMAGE_SEQUENCE,
        );
        assert_eq!(r.len(), 1);
        assert_eq!(item_text(&r[0], tags::REFERENCED_SOP_INSTANCE_UID), src_uid);
        let n: usize = item_text(&r[0], tags::REFERENCED_FRAME_NUMBER)
            .parse()
            .unwrap();
        let sp = floats(
            &items(&src_frames[n - 1], tags::PLANE_POSITION_SEQUENCE)[0],
            tags::IMAGE_POSITION_PATIENT,
        );
        assert!((0..3).all(|a| (sp[a] - ipp[a]).abs() < 1e-3));
        numbers.push(n);
    }
    // Frames 1..=6 of the source are the b0, 7..=12 the b=1000 slices the DWI came from.
    numbers.sort_unstable();
    assert_eq!(numbers, (DIMS[2] + 1..=2 * DIMS[2]).collect::<Vec<_>>());
}

#[test]
fn empty_mask_keeps_every_frame() {
    let d = tempfile::tempdir().unwrap();
    let src = classic_study(&d.path().join("src"));
    let study = load(&src);
    let mask = Mask::on_grid(
        ndarray::Array3::from_elem(study.dwi.grid().dims, false),
        &study.dwi.grid(),
    );
    let out = d.path().join("out");
    let w = write_dicom_outputs(&study, &mask, &[], &DeliverOptions::default(), &out).unwrap();
    assert!(w.secondary_capture.is_empty());
    assert_eq!(
        text(&open(&w.seg), tags::NUMBER_OF_FRAMES),
        DIMS[2].to_string()
    );
    check_with_our_reader(&out, &mask, &study);
}

#[test]
fn nifti_study_is_refused_before_writing() {
    let d = tempfile::tempdir().unwrap();
    let src = classic_study(&d.path().join("src"));
    let dicom_study = load(&src);
    let nii = d.path().join("x_dwi.nii.gz");
    strokeseg_io::nifti_io::write_volume(&nii, &dicom_study.dwi, "test").unwrap();
    let study = strokeseg_io::Study::load(&strokeseg_io::StudySpec {
        paths: vec![nii.clone()],
        ..Default::default()
    })
    .unwrap();
    assert!(study.dicom.is_none());
    let out = d.path().join("out");
    let e = write_dicom_outputs(
        &study,
        &lesion_mask(&study),
        &[picture()],
        &DeliverOptions::default(),
        &out,
    )
    .unwrap_err();
    assert!(matches!(e, DeliverError::NotDicom(_)), "{e}");
    assert!(e.to_string().contains("need a DICOM input study"), "{e}");
    assert!(e.to_string().contains("x_dwi.nii.gz"), "{e}");
    assert!(!out.exists());
}

#[test]
fn mask_on_another_grid_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let src = classic_study(&d.path().join("src"));
    let study = load(&src);
    let g = study.dwi.grid();
    let mut shifted = g.affine;
    shifted[(0, 3)] += 0.5 * g.affine[(0, 0)];
    let mask = Mask::new(ndarray::Array3::from_elem(g.dims, true), shifted).unwrap();
    let e = write_dicom_outputs(
        &study,
        &mask,
        &[],
        &DeliverOptions::default(),
        &d.path().join("o"),
    )
    .unwrap_err();
    assert!(matches!(e, DeliverError::Geometry(_)), "{e}");
}
