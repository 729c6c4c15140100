//! Damaged files never panic: every truncation length class and many single-byte corruptions
//! of a valid NIfTI and a valid DICOM file either read or fail with an `InputError`.

use strokeseg_core::Grid;
use strokeseg_io::dicom::{scan_dir, write_mr_series, SeriesWriteOptions};
use strokeseg_io::nifti_io::{read_nifti, write_volume};
use strokeseg_testkit::{oblique_affine, phantom};

fn small() -> strokeseg_core::Volume {
    let dims = [10, 9, 4];
    phantom(&Grid {
        dims,
        affine: oblique_affine(dims, [2.0, 2.0, 5.0], 9.0),
    })
    .dwi
}

/// A tiny deterministic generator (no external RNG needed for a damage pattern).
fn lcg(state: &mut u64) -> u64 {
    *state = state
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    *state >> 33
}

#[test]
fn damaged_nifti_never_panics() {
    let d = tempfile::tempdir().unwrap();
    let good = d.path().join("g.nii");
    write_volume(&good, &small(), "").unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let p = d.path().join("x.nii");
    for cut in (0..bytes.len()).step_by(37) {
        std::fs::write(&p, &bytes[..cut]).unwrap();
        assert!(read_nifti(&p).is_err(), "truncated at {cut} must fail");
    }
    let mut s = 7u64;
    for _ in 0..300 {
        let mut b = bytes.clone();
        let at = (lcg(&mut s) as usize) % 352; // the header is where damage bites
        b[at] = lcg(&mut s) as u8;
        std::fs::write(&p, &b).unwrap();
        let _ = read_nifti(&p); // Ok or Err, never a panic
    }
}

#[test]
fn damaged_dicom_never_panics() {
    let d = tempfile::tempdir().unwrap();
    let files = write_mr_series(d.path(), &small(), &SeriesWriteOptions::from_seed(5)).unwrap();
    let victim = files[1].clone();
    let bytes = std::fs::read(&victim).unwrap();
    for cut in (132..bytes.len()).step_by(131) {
        std::fs::write(&victim, &bytes[..cut]).unwrap();
        assert!(scan_dir(d.path()).is_err(), "truncated at {cut} must fail");
    }
    let mut s = 11u64;
    for _ in 0..80 {
        let mut b = bytes.clone();
        let at = 128 + (lcg(&mut s) as usize) % (bytes.len().min(1200) - 128);
        b[at] = lcg(&mut s) as u8;
        std::fs::write(&victim, &b).unwrap();
        let _ = scan_dir(d.path());
    }
}
