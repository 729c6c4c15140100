//! MniApprox and find_lesions on real clinical DWI (JHU ADS examples in `../shared`): a
//! skull-on brain mask on 5 mm slices, whose lesions a peer tool (the JHU ADS pipeline) has
//! registered to its MNI space and named by region. Skips when `../shared` is absent.

use strokeseg_core::{Mask, Volume};
use strokeseg_io::nifti_io::read_volume;
use strokeseg_io::study::{Study, StudySpec};
use strokeseg_measure::{find_lesions, LesionConfig, MniApprox, Region, TemplateMoments};
use strokeseg_preproc::{brain_mask, BrainMaskConfig};

fn load(rel: &str) -> Option<Volume> {
    let p = strokeseg_testkit::shared(rel)?;
    Some(read_volume(&p).unwrap_or_else(|e| panic!("{e}")))
}

fn mask(v: &Volume) -> Mask {
    v.map(|&x| x > 0.5)
}

/// Volume-weighted centroid of the largest lesion (world mm) after mapping through `a`.
fn lesion_mni(pred: &Volume, brain: &Mask, a: &MniApprox) -> (Region, [f64; 3], f64) {
    let (_, l) = find_lesions(
        pred,
        Some(brain),
        &|p| a.to_mni(p),
        &LesionConfig::default(),
    );
    assert!(!l.is_empty(), "the peer prediction has lesions");
    let big = &l[0];
    (big.region, big.centroid_mni_approx, big.volume_ml)
}

#[test]
fn ads_lesion_regions_and_agreement_with_the_peer_registration() {
    let tm = TemplateMoments::mni_icbm152_2009a();
    // (subject, the region of the lesion per the peer tool's `*_volume_brain_regions.txt`:
    // Subject01 left temporal/parietal/frontal/occipital/insula, Subject02 pons only)
    for (subj, want) in [
        ("Subject01", Region::Supratentorial),
        ("Subject02", Region::Brainstem),
    ] {
        let dir = format!("data/real/ads/{subj}/{subj}");
        let Some(brain) = load(&format!("{dir}_Mask.nii.gz")) else {
            return;
        };
        let brain = mask(&brain);
        let pred = load(&format!("{dir}_DAGMNet_CH3_Lesion_Predict.nii.gz")).unwrap();
        let a = MniApprox::fit(&brain, &tm);
        // The project's own brain mask on the DWI instead of the peer tool's.
        let dwi = load(&format!("{dir}_DWI.nii.gz")).unwrap();
        let own = brain_mask(&dwi, &BrainMaskConfig::default());
        let a_own = MniApprox::fit(&own, &tm);
        eprintln!(
            "{subj}: native grid {:?} {:?} mm; fit {a:?}",
            brain.dims(),
            brain.spacing_mm()
        );
        let (region, c_native, ml) = lesion_mni(&pred, &brain, &a);
        let (region_own, c_own, _) = lesion_mni(&pred, &brain, &a_own);
        let d_own = (0..3)
            .map(|k| (c_native[k] - c_own[k]).powi(2))
            .sum::<f64>()
            .sqrt();
        eprintln!(
            "{subj}: with strokeseg's own brain mask ({:.0} vs {:.0} mL): {a_own:?}; lesion at \
             {c_own:.1?}, {d_own:.1} mm from the peer-mask fit",
            own.volume_ml(),
            brain.volume_ml()
        );
        assert_eq!(region_own, want, "{subj} (own brain mask)");
        // The same lesion in the peer tool's (JHU) MNI space, brought to ICBM 2009a by our fit
        // of its registered brain mask (that space is offset from ICBM by ~(2, 16, -19) mm).
        let brain_j = mask(&load(&format!("{dir}_Mask_MNI.nii.gz")).unwrap());
        let pred_j = load(&format!("{dir}_DAGMNet_CH3_Lesion_Predict_MNI.nii.gz")).unwrap();
        let aj = MniApprox::fit(&brain_j, &tm);
        let (region_j, c_peer, _) = lesion_mni(&pred_j, &brain_j, &aj);
        let d = (0..3)
            .map(|k| (c_native[k] - c_peer[k]).powi(2))
            .sum::<f64>()
            .sqrt();
        eprintln!(
            "{subj}: lesion {ml:.2} mL, region {region:?} (peer-registered: {region_j:?}); \
             centroid native→MNI {c_native:.1?} vs peer-registered {c_peer:.1?}: {d:.1} mm apart"
        );
        assert_eq!(region, want, "{subj}");
        assert_eq!(region_j, want, "{subj} (peer-registered)");
        if subj == "Subject01" {
            assert!(c_native[0] < -20.0, "{subj}: a left hemisphere lesion");
        }
        assert!(
            d <= 10.0,
            "{subj}: {d} mm from the peer-registered centroid"
        );
    }
}

/// Real partial coverage: 18 slices of 6.5 mm (AISD example), the project's brain mask. No
/// truth here; the fit must take the slab path and stay plausible.
#[test]
fn aisd_partial_coverage_fit_is_plausible() {
    let Some(dir) = strokeseg_testkit::shared("data/real/dicom/aisd-0019983-dwi") else {
        return;
    };
    let study = Study::load(&StudySpec {
        paths: vec![dir],
        dwi: None,
        adc: None,
        b0: None,
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let brain = brain_mask(&study.dwi, &BrainMaskConfig::default());
    let a = MniApprox::fit(&brain, &TemplateMoments::mni_icbm152_2009a());
    let g = brain.grid();
    let z_of =
        |k: f64| a.to_mni(g.voxel_to_world([g.dims[0] as f64 / 2.0, g.dims[1] as f64 / 2.0, k]))[2];
    eprintln!(
        "AISD: grid {:?} {:?} mm, brain {:.0} mL; fit {a:?}; slices span MNI z {:.0} to {:.0} at the grid centre",
        g.dims,
        g.spacing_mm(),
        brain.volume_ml(),
        z_of(0.0),
        z_of(g.dims[2] as f64 - 1.0)
    );
    assert!(a.scale.iter().all(|s| (0.85..1.2).contains(s)), "{a:?}");
    assert!(a.pitch_deg.abs() < 19.0, "{a:?}");
}
