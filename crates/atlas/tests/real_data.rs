//! Real-data checks (skip with "SKIPPED:" when ../shared or the template is absent):
//! the ADS studies against the peer tool's MNI brain masks and region reports, and the
//! ISLES'22 studies registering. Prints the side-by-side tables quoted in docs/location.md.

use std::collections::BTreeMap;
use std::path::Path;
use strokeseg_atlas::jhu::{STRUCTURES, TERRITORIES};
use strokeseg_atlas::{Locator, StudyLocation};
use strokeseg_core::{dice, Mask};
use strokeseg_io::nifti_io::read_volume;
use strokeseg_io::{Study, StudySpec};
use strokeseg_measure::{find_lesions, LesionConfig};
use strokeseg_preproc::{brain_mask, BrainMaskConfig};
use strokeseg_register::affine::apply;
use strokeseg_synth::Template;

fn locator(with_atlas: bool) -> Option<Locator> {
    let atlas = if with_atlas {
        Some(strokeseg_testkit::shared("data/atlas/jhu")?)
    } else {
        None
    };
    match Locator::load(&Template::default_dir(), atlas.as_deref()) {
        Ok(l) => Some(l),
        Err(strokeseg_atlas::AtlasError::Template(e)) => {
            eprintln!("SKIPPED: {e}");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

fn load(path: &Path) -> Study {
    Study::load(&StudySpec {
        dwi: Some(path.to_path_buf()),
        ..Default::default()
    })
    .unwrap()
}

/// The peer report's counts: section header → counts by row (row i = label i + 1).
fn peer_counts(path: &Path) -> BTreeMap<&'static str, Vec<f64>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
    let mut section = None;
    for line in text.lines() {
        let cols: Vec<&str> = line.split('\t').collect();
        match cols[0].trim() {
            "vascular territory" => section = Some("territory"),
            "vascular territory 2" => section = None,
            "area" => section = Some("structure"),
            "" => {}
            _ => {
                if let (Some(s), Some(n)) = (
                    section,
                    cols.get(1).and_then(|c| c.trim().parse::<f64>().ok()),
                ) {
                    out.entry(s).or_default().push(n);
                }
            }
        }
    }
    out
}

/// Our shares summed over lesions, volume-weighted, keyed like the peer's rows.
fn our_by_label(
    loc: &StudyLocation,
    vols: &[f64],
) -> (BTreeMap<String, f64>, BTreeMap<String, f64>) {
    let mut s = BTreeMap::new();
    let mut t = BTreeMap::new();
    let total: f64 = vols.iter().sum();
    for (l, v) in loc.lesions.iter().zip(vols) {
        for x in &l.structures {
            *s.entry(x.label()).or_insert(0.0) += x.share * v / total;
        }
        for x in &l.territories {
            *t.entry(x.label()).or_insert(0.0) += x.share * v / total;
        }
    }
    (s, t)
}

fn label_of(info: &strokeseg_atlas::jhu::LabelInfo) -> String {
    match info.side {
        Some(s) => format!("{} {}", info.name, s.letter()),
        None => info.name.to_string(),
    }
}

fn top(m: &BTreeMap<String, f64>, n: usize) -> Vec<(String, f64)> {
    let mut v: Vec<(String, f64)> = m.iter().map(|(k, v)| (k.clone(), *v)).collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1));
    v.truncate(n);
    v
}

#[test]
fn ads_mni_brain_masks_and_lesion_locations_match_the_peer_tool() {
    let Some(ads) = strokeseg_testkit::shared("data/real/ads") else {
        return;
    };
    let Some(loc) = locator(true) else { return };
    let atlas = loc.atlas.as_ref().unwrap();
    eprintln!(
        "atlas→template mapping: {:?} (cached {})",
        atlas.mapping.quality, atlas.cached
    );
    let atlas_to_mni = atlas.mni_to_atlas.try_inverse().unwrap();
    for subj in ["Subject01", "Subject02"] {
        let d = ads.join(subj);
        let study = load(&d.join(format!("{subj}_DWI.nii.gz")));
        let brain = brain_mask(&study.dwi, &BrainMaskConfig::default());
        let reg = loc.register(&study.dwi, &brain);
        assert!(reg.ok(), "{subj}: {:?} {:?}", reg.failure, reg.quality);
        // Our brain mask in the peer's MNI space (the atlas space).
        let theirs = read_volume(&d.join(format!("{subj}_Mask_MNI.nii.gz"))).unwrap();
        let g = theirs.grid();
        // Their space → ICBM152 (the atlas map, affine) → study (our registration, with
        // its displacement field when kept).
        let through = |r: &strokeseg_register::Registration| {
            let r = r.clone();
            move |x: [f64; 3]| r.to_world(apply(&atlas_to_mni, x))
        };
        let theirs_b = || theirs.data().iter().map(|&v| v > 0.5);
        let ours_m = strokeseg_register::pull_mask_with(&brain, &g, &through(&reg));
        let dsc = dice(ours_m.data().iter().copied(), theirs_b());
        let affine_m = strokeseg_register::pull_mask_with(&brain, &g, &through(&reg.affine_only()));
        let dsc_affine = dice(affine_m.data().iter().copied(), theirs_b());
        let their_native = read_volume(&d.join(format!("{subj}_Mask.nii.gz"))).unwrap();
        let tn = Mask::on_grid(their_native.data().mapv(|v| v > 0.5), &study.dwi.grid());
        let native_dsc = dice(brain.data().iter().copied(), tn.data().iter().copied());
        let via_theirs = strokeseg_register::pull_mask_with(&tn, &g, &through(&reg));
        let dsc_theirs = dice(
            via_theirs.data().iter().copied(),
            theirs.data().iter().map(|&v| v > 0.5),
        );
        eprintln!(
            "{subj}: MNI brain mask Dice vs ADS {dsc:.3} (affine only {dsc_affine:.3}; native-space \
             brain mask Dice {native_dsc:.3}; their native mask through our map {dsc_theirs:.3}); \
             registration {:?}; non-linear {:?}",
            reg.quality, reg.nonlinear
        );
        // How well any normalisation to ICBM152 2009a can agree with their masks: the
        // template brain itself carried into their space (the atlas map) against their mask.
        let tb = &loc.template.brain;
        let ceiling_m = strokeseg_register::pull_mask_with(tb, &g, &|x| apply(&atlas_to_mni, x));
        let ceiling = dice(ceiling_m.data().iter().copied(), theirs_b());
        // And how well our brain mask lands on the template brain, with and without the field.
        let on_template = |r: &strokeseg_register::Registration| {
            let m = r.mask_to_mni(&brain, &tb.grid());
            dice(m.data().iter().copied(), tb.data().iter().copied())
        };
        let (tpl_warped, tpl_affine) = (on_template(&reg), on_template(&reg.affine_only()));
        eprintln!(
            "{subj}: brain mask vs ICBM152 brain Dice {tpl_warped:.3} (affine only {tpl_affine:.3}); \
             ICBM152 brain vs ADS MNI mask (ceiling) {ceiling:.3}"
        );
        // The field is kept and brings the study's brain onto the template's.
        assert!(reg.is_nonlinear(), "{subj}: {:?}", reg.nonlinear);
        assert!(
            tpl_warped > tpl_affine + 0.01,
            "{subj}: the field does not help ({tpl_warped:.3} vs {tpl_affine:.3})"
        );
        // Against their MNI masks we reach about what the template brain itself reaches
        // (their masks are ~12 % larger than the atlas outline and subject-specific; see
        // docs/location.md): guard against regressions below 0.88 and within 0.03 of that.
        assert!(dsc >= 0.88, "{subj}: Dice {dsc:.3}");
        assert!(
            dsc >= ceiling - 0.03,
            "{subj}: Dice {dsc:.3}, ceiling {ceiling:.3}"
        );

        // Their predicted lesion as our lesion mask.
        let pred =
            read_volume(&d.join(format!("{subj}_DAGMNet_CH3_Lesion_Predict.nii.gz"))).unwrap();
        let pred = strokeseg_core::Volume::on_grid(
            pred.data().mapv(|v| if v > 0.5 { 1.0 } else { 0.0 }),
            &study.dwi.grid(),
        );
        let (mask, lesions) =
            find_lesions(&pred, None, &|p| reg.to_mni(p), &LesionConfig::default());
        let located = loc.describe(Some(&reg), &brain, &mask, &lesions);
        assert_eq!(located.method, strokeseg_atlas::LocationMethod::Atlas);
        let vols: Vec<f64> = lesions.iter().map(|l| l.volume_ml).collect();
        let (s, t) = our_by_label(&located, &vols);
        let peer = peer_counts(&d.join(format!("{subj}_volume_brain_regions.txt")));
        let to_map = |counts: &[f64], table: &[strokeseg_atlas::jhu::LabelInfo]| {
            let total: f64 = counts.iter().sum();
            let mut m = BTreeMap::new();
            for (i, c) in counts.iter().enumerate() {
                *m.entry(label_of(&table[i])).or_insert(0.0) += c / total;
            }
            m
        };
        let ps = to_map(&peer["structure"], &STRUCTURES);
        let pt = to_map(&peer["territory"], &TERRITORIES);
        // Midline labels (pons, ...) have no side in the peer table: compare by name.
        let strip = |m: &BTreeMap<String, f64>| {
            let mut o = BTreeMap::new();
            for (k, v) in m {
                let key = if STRUCTURES
                    .iter()
                    .any(|x| x.side.is_none() && k.starts_with(x.name))
                {
                    k.trim_end_matches(" L").trim_end_matches(" R").to_string()
                } else {
                    k.clone()
                };
                *o.entry(key).or_insert(0.0) += v;
            }
            o
        };
        let s = strip(&s);
        eprintln!(
            "{subj} | structure: ours {:?}\n{subj} | structure: ADS  {:?}",
            top(&s, 4),
            top(&ps, 4)
        );
        eprintln!(
            "{subj} | territory: ours {:?}\n{subj} | territory: ADS  {:?}",
            top(&t, 4),
            top(&pt, 4)
        );
        eprintln!("{subj} | summary: {}", located.summary.text);
        // The peer's largest structure and territory are our largest too.
        assert_eq!(
            top(&s, 1)[0].0,
            top(&ps, 1)[0].0,
            "{subj}: largest structure"
        );
        assert_eq!(
            top(&t, 1)[0].0,
            top(&pt, 1)[0].0,
            "{subj}: largest territory"
        );
    }
}

#[test]
fn isles22_studies_register_and_a_half_brain_field_of_view_is_flagged() {
    let Some(isles) = strokeseg_testkit::shared("data/real/isles22") else {
        return;
    };
    let Some(loc) = locator(false) else { return };
    for case in [
        "sub-strokecase0001",
        "sub-strokecase0002",
        "sub-strokecase0003",
    ] {
        let study = load(&isles.join(case).join(format!("{case}_ses-0001_dwi.nii.gz")));
        let brain = brain_mask(&study.dwi, &BrainMaskConfig::default());
        let reg = loc.register(&study.dwi, &brain);
        eprintln!(
            "{case}: {:?} {:?} {:.1} s",
            reg.failure, reg.quality, reg.seconds
        );
        assert!(reg.ok(), "{case}: {:?}", reg.failure);
    }
    // Case 0001 cut to its upper 40 % of slices: a half-brain field of view.
    let study = load(&isles.join("sub-strokecase0001/sub-strokecase0001_ses-0001_dwi.nii.gz"));
    let nz = study.dwi.dims()[2];
    let k0 = nz * 6 / 10;
    let cut = study.dwi.data().slice(ndarray::s![.., .., k0..]).to_owned();
    let mut aff = *study.dwi.affine();
    for r in 0..3 {
        aff[(r, 3)] += aff[(r, 2)] * k0 as f64;
    }
    let cut = strokeseg_core::Volume::new(cut, aff).unwrap();
    let brain = brain_mask(&cut, &BrainMaskConfig::default());
    let reg = loc.register(&cut, &brain);
    eprintln!("half brain: {:?} {:?}", reg.failure, reg.quality);
    assert!(
        !reg.ok(),
        "a half-brain field of view passed: {:?}",
        reg.quality
    );
}
