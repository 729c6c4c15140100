//! Tests on the real series in `../shared/data/real/dicom` (skipped when absent).

use super::*;
use std::time::Instant;

fn real(name: &str) -> Option<PathBuf> {
    let p = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/real/dicom"
    ))
    .join(name);
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("skipping: ../shared not found ({})", p.display());
        None
    }
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
