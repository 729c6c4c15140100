//! Tests on the real series in `../shared/data/real/dicom` (skipped when absent).

use super::*;
use crate::study::{rough_brain_median, AdcOrigin, Study, StudySpec};
use std::time::Instant;
use strokeseg_core::otsu_threshold;

fn real(name: &str) -> Option<PathBuf> {
    strokeseg_testkit::shared(&format!("data/real/dicom/{name}"))
}

fn describe(s: &DicomSeries) -> String {
    let mut out = format!(
        "series {} #{:?} '{}' {:?} files={} folder={}\n",
        s.series_uid,
        s.series_number,
        s.description,
        s.image_type,
        s.n_files,
        s.folder.display()
    );
    for v in &s.volumes {
        out.push_str(&format!(
            "  b={:?} n_combined={} dims={:?} spacing={:?}\n  affine={}",
            v.b_value,
            v.n_combined,
            v.volume.dims(),
            v.volume.spacing_mm(),
            v.volume.affine()
        ));
    }
    out
}

#[test]
fn real_aisd_siemens_trace() {
    let Some(dir) = real("aisd-0019983-dwi") else {
        return;
    };
    let t = Instant::now();
    let scan = scan_dir(&dir).unwrap();
    eprintln!("aisd: {:?}", t.elapsed());
    assert_eq!(scan.series.len(), 1);
    let s = &scan.series[0];
    eprintln!("{}\nwarnings: {:?}", describe(s), scan.warnings);
    assert!(scan.warnings.is_empty());
    assert_eq!(s.n_files, 18);
    assert_eq!(s.volumes.len(), 1);
    let v = &s.volumes[0];
    assert_eq!(v.b_value, None);
    assert_eq!(v.n_combined, 1);
    let d = v.volume.dims();
    assert_eq!(d[2], 18);
    let sp = v.volume.spacing_mm();
    assert!((sp[2] - 6.5).abs() < 0.05, "slice spacing {sp:?}");
    assert!(v.volume.non_finite().is_none());
}

#[test]
fn real_philips_dwi() {
    let Some(dir) = real("philips-dwi-healthy") else {
        return;
    };
    let t = Instant::now();
    let scan = scan_dir(&dir).unwrap();
    eprintln!("philips: {:?}", t.elapsed());
    assert_eq!(scan.series.len(), 1);
    let s = &scan.series[0];
    eprintln!("{}\nwarnings: {:?}", describe(s), scan.warnings);
    // The dcm2niix .bval and .json beside the images are skipped with warnings.
    assert_eq!(scan.warnings.len(), 2, "{:?}", scan.warnings);
    assert!(scan
        .warnings
        .iter()
        .any(|w| w.ends_with("not a DICOM file (no DICM marker)")));
    assert_eq!(s.n_files, 544);
    assert_eq!(s.series_number, Some(701));
    // dcm2niix: 17 volumes of 112×112×32 = 5 b≈0 (0, 0.001 … 0.004) + 12 directions at b=1000.
    assert_eq!(s.volumes.len(), 2);
    let (b0, dwi) = (&s.volumes[0], &s.volumes[1]);
    assert!(
        b0.b_value.is_some_and(|b| b < B0_THRESHOLD),
        "{:?}",
        b0.b_value
    );
    assert_eq!(b0.n_combined, 5);
    assert_eq!(dwi.b_value, Some(1000.0));
    assert_eq!(dwi.n_combined, 12);
    // ImageOrientationPatientDICOM from the .json, in RAS (x and y negated).
    let iop = [
        0.998254, 0.0586515, 0.00693178, -0.0590169, 0.995105, 0.0792684,
    ];
    for v in [b0, dwi] {
        assert_eq!(v.volume.dims(), [112, 112, 32]);
        for sp in v.volume.spacing_mm() {
            assert!((sp - 2.0).abs() < 1e-3, "{:?}", v.volume.spacing_mm());
        }
        let a = v.volume.affine();
        for (c, sign) in [(0, [-1.0, -1.0, 1.0]), (1, [-1.0, -1.0, 1.0])] {
            for r in 0..3 {
                let want = sign[r] * iop[3 * c + r] * 2.0;
                assert!(
                    (a[(r, c)] - want).abs() < 1e-4,
                    "affine[{r},{c}] = {}",
                    a[(r, c)]
                );
            }
        }
        assert!(v.volume.non_finite().is_none());
    }
    let mean = |v: &BVolume| v.volume.data().mean().unwrap_or(0.0);
    let max = |v: &BVolume| v.volume.data().fold(f32::MIN, |m, &x| m.max(x));
    eprintln!(
        "mean b0 {} max {}; mean b1000 {} max {}",
        mean(b0),
        max(b0),
        mean(dwi),
        max(dwi)
    );
    assert!(mean(b0) > 2.0 * mean(dwi));
}

/// What the demosaiced real Siemens series must look like (nibabel MosaicWrapper, dcm2niix).
struct MosaicTruth {
    folder: &'static str,
    n_files: usize,
    dims: [usize; 3],
    spacing: [f64; 3],
    n_b0: usize,
    n_directions: usize,
}

/// Volume (mL) of the voxels above the Otsu threshold of `v`: for a b0 of a head with
/// fat-suppressed scalp, roughly brain + CSF.
fn above_otsu_ml(v: &Volume) -> f64 {
    let t = otsu_threshold(v.data().iter()).unwrap_or(f32::MAX);
    let n = v.data().iter().filter(|&&x| x > t).count();
    n as f64 * v.grid().voxel_volume_ml()
}

fn check_real_mosaic(truth: &MosaicTruth) {
    let Some(dir) = real(truth.folder) else {
        return;
    };
    let t = Instant::now();
    let scan = scan_dir(&dir).unwrap();
    eprintln!("{}: read in {:?}", truth.folder, t.elapsed());
    assert_eq!(scan.series.len(), 1);
    let s = &scan.series[0];
    eprintln!("{}\nwarnings: {:?}", describe(s), scan.warnings);
    assert!(scan.warnings.is_empty(), "{:?}", scan.warnings);
    assert_eq!(s.n_files, truth.n_files);
    assert_eq!(s.volumes.len(), 2);
    let (b0, dwi) = (&s.volumes[0], &s.volumes[1]);
    assert_eq!(b0.b_value, Some(0.0));
    assert_eq!(b0.n_combined, truth.n_b0);
    assert_eq!(dwi.b_value, Some(1000.0));
    assert_eq!(dwi.n_combined, truth.n_directions);
    for v in [b0, dwi] {
        assert_eq!(v.volume.dims(), truth.dims);
        let sp = v.volume.spacing_mm();
        for (got, want) in sp.iter().zip(truth.spacing) {
            assert!(
                (got - want).abs() < 0.01,
                "spacing {sp:?}, want {:?}",
                truth.spacing
            );
        }
        assert_eq!(v.dicom.slices.len(), truth.dims[2]);
        assert!(v.volume.non_finite().is_none());
    }
    assert!(b0.volume.grid().same_as(&dwi.volume.grid(), 1e-6));
    // For comparison with nibabel (tools outside the test): the affine and a few b0 voxels.
    let a = b0.volume.affine();
    let flat: Vec<String> = (0..4)
        .flat_map(|r| (0..4).map(move |c| (r, c)))
        .map(|(r, c)| format!("{:.6}", a[(r, c)]))
        .collect();
    eprintln!("AFFINE {} {}", truth.folder, flat.join(" "));
    let [ni, nj, nk] = truth.dims;
    let probes = [
        (ni / 2, nj / 2, nk / 2),
        (ni / 3, nj / 2, nk / 4),
        (ni / 2, nj / 4, 3 * nk / 4),
    ];
    for (i, j, k) in probes {
        eprintln!(
            "B0VOXEL {} {i} {j} {k} {}",
            truth.folder,
            b0.volume.data()[[i, j, k]]
        );
    }

    let study = Study::load(&StudySpec {
        paths: vec![dir.clone()],
        ..StudySpec::default()
    })
    .unwrap();
    eprintln!("study warnings: {:?}", study.warnings);
    assert_eq!(study.dwi.dims(), truth.dims);
    assert_eq!(study.b_value, Some(1000.0));
    assert!(matches!(
        study.adc_origin,
        Some(AdcOrigin::Computed {
            b_value_assumed: false,
            ..
        })
    ));
    let adc = study.adc.as_ref().unwrap();
    let median = rough_brain_median(adc, &study.dwi).unwrap();
    let b0v = study.b0.as_ref().unwrap();
    let head_ml = above_otsu_ml(b0v);
    eprintln!(
        "{}: ADC brain median {median:.0} ×10⁻⁶ mm²/s; b0 above Otsu {head_ml:.0} mL; DWI above Otsu {:.0} mL",
        truth.folder,
        above_otsu_ml(&study.dwi)
    );
    assert!((600.0..=1100.0).contains(&median), "ADC median {median}");
    assert!(
        (1000.0..=2000.0).contains(&head_ml),
        "brain volume {head_ml} mL"
    );
}

#[test]
fn real_siemens_trio_mosaic() {
    check_real_mosaic(&MosaicTruth {
        folder: "healthy-siemens-trio-mosaic-b1000",
        n_files: 42,
        dims: [102, 102, 60],
        spacing: [2.0, 2.0, 2.0],
        n_b0: 2,
        n_directions: 40,
    });
}

#[test]
fn real_siemens_prisma_mosaic() {
    check_real_mosaic(&MosaicTruth {
        folder: "healthy-siemens-prisma-mosaic-b1000",
        n_files: 13,
        dims: [128, 128, 25],
        spacing: [1.71875, 1.71875, 5.2],
        n_b0: 1,
        n_directions: 12,
    });
}
