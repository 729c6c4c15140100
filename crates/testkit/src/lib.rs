//! Test helpers: a small synthetic head phantom, oblique affines, and access to the real data
//! in `../shared` (tests skip with a visible message when it is absent).
#![warn(missing_docs)]

use nalgebra::{Matrix4, Rotation3, Vector3};
use ndarray::Array3;
use std::path::PathBuf;
use strokeseg_core::{Grid, Volume};

/// The `shared/` folder beside the workspace (or `$STROKESEG_SHARED`), if present.
#[must_use]
pub fn shared_dir() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("STROKESEG_SHARED") {
        let p = PathBuf::from(p);
        return p.is_dir().then_some(p);
    }
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
    p.is_dir().then(|| p.canonicalize().unwrap_or(p))
}

/// Set to `1` (as `.ci/run` does where `../shared` exists), a test whose real data is missing
/// fails instead of skipping: a renamed or lost file then turns CI red rather than quietly
/// testing less.
pub const REQUIRE_SHARED: &str = "STROKESEG_REQUIRE_SHARED";

/// A path under `shared/`, or `None` after printing why the calling test is skipped.
///
/// # Panics
/// When the path is missing and [`REQUIRE_SHARED`] is `1`.
#[must_use]
pub fn shared(rel: &str) -> Option<PathBuf> {
    match shared_dir().map(|d| d.join(rel)) {
        Some(p) if p.exists() => Some(p),
        _ => {
            assert!(
                std::env::var(REQUIRE_SHARED).as_deref() != Ok("1"),
                "../shared/{rel} not found, and {REQUIRE_SHARED}=1 says the real data must be \
                 there (set STROKESEG_SHARED to its folder, or unset {REQUIRE_SHARED} to skip)"
            );
            eprintln!(
                "SKIPPED: ../shared/{rel} not found (real data lives outside the repo; see README)"
            );
            None
        }
    }
}

/// Where `tools/fetch-test-dicom.sh` puts the pydicom 3.0.2 test files:
/// `$STROKESEG_PYDICOM_FILES` when set, else
/// `${STROKESEG_CACHE:-$HOME/.cache/strokeseg}/pydicom-3.0.2/test_files`.
fn pydicom_test_files_dir() -> Option<PathBuf> {
    let nonempty = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(p) = nonempty("STROKESEG_PYDICOM_FILES") {
        return Some(p);
    }
    let cache = nonempty("STROKESEG_CACHE")
        .or_else(|| nonempty("HOME").map(|h| h.join(".cache/strokeseg")))?;
    Some(cache.join("pydicom-3.0.2/test_files"))
}

/// A real DICOM file from pydicom's test data (MIT; fetched outside the repository by
/// `tools/fetch-test-dicom.sh`), or `None` after printing why the calling test is skipped.
#[must_use]
pub fn pydicom_test_file(name: &str) -> Option<PathBuf> {
    match pydicom_test_files_dir().map(|d| d.join(name)) {
        Some(p) if p.is_file() => Some(p),
        _ => {
            eprintln!(
                "SKIPPED: pydicom test file {name} not found (run tools/fetch-test-dicom.sh)"
            );
            None
        }
    }
}

/// An oblique affine: rotation by `deg` degrees about (1, 0.3, 0.2), the given spacing, and
/// an offset that puts the grid centre near the world origin.
#[must_use]
pub fn oblique_affine(dims: [usize; 3], spacing_mm: [f64; 3], deg: f64) -> Matrix4<f64> {
    let rot = Rotation3::from_axis_angle(
        &nalgebra::Unit::new_normalize(Vector3::new(1.0, 0.3, 0.2)),
        deg.to_radians(),
    );
    let lin = rot.matrix() * nalgebra::Matrix3::from_diagonal(&Vector3::from(spacing_mm));
    let centre = Vector3::new(
        dims[0] as f64 - 1.0,
        dims[1] as f64 - 1.0,
        dims[2] as f64 - 1.0,
    ) / 2.0;
    let t = -(lin * centre);
    let mut a = Matrix4::identity();
    a.fixed_view_mut::<3, 3>(0, 0).copy_from(&lin);
    a.fixed_view_mut::<3, 1>(0, 3).copy_from(&t);
    a
}

/// Ground truth of a [`Phantom`].
#[derive(Debug, Clone)]
pub struct Phantom {
    /// b = 1000 DWI.
    pub dwi: Volume,
    /// ADC in 10⁻⁶ mm²/s.
    pub adc: Volume,
    /// b = 0.
    pub b0: Volume,
    /// Brain (ellipsoid) mask.
    pub brain: Array3<bool>,
    /// Lesion mask.
    pub lesion: Array3<bool>,
}

/// A head phantom on `grid`: an ellipsoidal brain (ADC 800, CSF-filled "ventricles" ADC 3000),
/// a thin scalp shell, and a spherical lesion (ADC 450) at a third of the brain's width, with
/// DWI = S0·exp(−1000·ADC). Deterministic; world-space shapes, so any grid works.
#[must_use]
pub fn phantom(grid: &Grid) -> Phantom {
    let d = grid.dims;
    let mut brain = Array3::from_elem((d[0], d[1], d[2]), false);
    let mut lesion = brain.clone();
    let mut adc = Array3::<f32>::zeros((d[0], d[1], d[2]));
    let mut s0 = adc.clone();
    for ((i, j, k), a) in adc.indexed_iter_mut() {
        let w = grid.voxel_to_world([i as f64, j as f64, k as f64]);
        let r = (w[0] / 60.0).powi(2) + (w[1] / 75.0).powi(2) + (w[2] / 55.0).powi(2);
        let shell = (w[0] / 72.0).powi(2) + (w[1] / 88.0).powi(2) + (w[2] / 68.0).powi(2);
        let vent =
            (w[0] / 10.0).powi(2) + ((w[1] - 5.0) / 25.0).powi(2) + ((w[2] - 10.0) / 10.0).powi(2);
        let les = ((w[0] - 25.0).powi(2) + (w[1] + 10.0).powi(2) + (w[2] - 15.0).powi(2)).sqrt();
        let (adc_v, s0_v) = if r <= 1.0 {
            brain[[i, j, k]] = true;
            if les <= 9.0 {
                lesion[[i, j, k]] = true;
                (450.0, 1150.0)
            } else if vent <= 1.0 {
                (3000.0, 1800.0)
            } else {
                (800.0, 1000.0)
            }
        } else if (0.9..=1.0).contains(&shell) {
            (1500.0, 250.0)
        } else {
            (0.0, 0.0)
        };
        *a = adc_v;
        s0[[i, j, k]] = s0_v;
    }
    let noise = |i: usize, j: usize, k: usize| ((i * 7 + j * 13 + k * 29) % 17) as f32; // fixed "noise"
    let dwi = Array3::from_shape_fn(adc.dim(), |(i, j, k)| {
        s0[[i, j, k]] * (-1e-3 * adc[[i, j, k]]).exp() + noise(i, j, k)
    });
    let b0 = Array3::from_shape_fn(adc.dim(), |(i, j, k)| s0[[i, j, k]] + noise(i, j, k));
    Phantom {
        dwi: Volume::on_grid(dwi, grid),
        adc: Volume::on_grid(adc, grid),
        b0: Volume::on_grid(b0, grid),
        brain,
        lesion,
    }
}

/// Hostile DICOM byte sequences (explicit VR little endian) for the robustness tests of the
/// reader and the service.
pub mod hostile_dicom {
    /// `n` nested undefined-length sequences, each in one item, with their delimiters.
    #[must_use]
    pub fn nested_sequences(n: usize) -> Vec<u8> {
        let mut v = Vec::new();
        for _ in 0..n {
            v.extend_from_slice(&[
                0x40, 0x00, 0x30, 0xA7, b'S', b'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
            ]);
            v.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
        }
        for _ in 0..n {
            v.extend_from_slice(&[0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0]);
            v.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        }
        v
    }

    /// An (0008,0001) OB element header declaring 0xFFFFFFF0 bytes, with no value.
    #[must_use]
    pub fn huge_declared_length() -> Vec<u8> {
        let mut v = vec![0x08, 0x00, 0x01, 0x00, b'O', b'B', 0, 0];
        v.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
        v
    }

    /// `bytes` with `insert` spliced in just before the (last) PixelData element.
    ///
    /// # Panics
    /// When `bytes` holds no PixelData tag.
    #[must_use]
    pub fn before_pixel_data(bytes: &[u8], insert: &[u8]) -> Vec<u8> {
        let at = bytes
            .windows(4)
            .rposition(|w| w == [0xE0, 0x7F, 0x10, 0x00])
            .expect("PixelData tag");
        [&bytes[..at], insert, &bytes[at..]].concat()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn missing_shared_data_fails_when_required_and_skips_otherwise() {
        // one test touches the variable, so no other test sees it change
        std::env::remove_var(super::REQUIRE_SHARED);
        assert!(super::shared("no/such/file-anywhere").is_none());
        std::env::set_var(super::REQUIRE_SHARED, "1");
        let failed = std::panic::catch_unwind(|| super::shared("no/such/file-anywhere"));
        std::env::remove_var(super::REQUIRE_SHARED);
        let msg = failed.expect_err("required data that is missing fails");
        let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.contains("no/such/file-anywhere"), "{msg}");
    }
}
