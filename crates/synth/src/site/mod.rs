//! Scanner sites: the acquisition protocol and scanner behaviour that make one synthetic study
//! look like it came from a particular (generic, not vendor-exact) MRI scanner.
//!
//! A [`Site`] is plain data: field strength, SNR, voxel geometry, b-value, bias field, stored
//! intensity scaling, skull on/off, ADC output units, slice-stack tilt and artefact
//! probabilities. Builtin presets come from [`builtin_sites`]; a user site is a TOML file with
//! every field (see `crates/synth/sites/example-site.toml`), loaded by [`find_site`].
//! The pseudo-site `random` ([`random_site`]) draws a new acquisition and tissue appearance
//! for every study (domain randomisation, [`RandomDraw`]).

mod presets;
mod random;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_random;

use nalgebra::{Matrix4, Rotation3, Vector3};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use strokeseg_core::Grid;

pub use presets::builtin_sites;
pub use random::{random_site, RandomDraw, TissueAppearance, RANDOM_SITE_NAME};

/// Units of the ADC map a site writes.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AdcUnitsOut {
    /// 10⁻⁶ mm²/s, rounded to integers (typical DICOM ADC maps; brain ≈ 800).
    Micro,
    /// 10⁻³ mm²/s as floats (brain ≈ 0.8).
    Milli,
    /// mm²/s as floats (brain ≈ 0.0008; ISLES'22 style).
    Si,
}

impl AdcUnitsOut {
    /// How many output units one mm²/s is (1e6, 1e3 or 1).
    #[must_use]
    pub fn per_mm2_s(self) -> f64 {
        match self {
            AdcUnitsOut::Micro => 1e6,
            AdcUnitsOut::Milli => 1e3,
            AdcUnitsOut::Si => 1.0,
        }
    }
}

/// One scanner site: protocol, scanner scaling and artefact rates. Serialised as TOML with
/// exactly these field names (unknown fields are rejected so that typos are caught).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Site {
    /// Short name (letters, digits, `-`, `_`, `.`), used in manifests and file names.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Main field in tesla (1.5, 3.0, …).
    pub field_strength_t: f64,
    /// SNR of white matter on the b0: mean WM signal / noise sigma (e.g. 12–40).
    pub snr_b0: f64,
    /// In-plane voxel size (mm), the same along i and j.
    pub inplane_mm: f64,
    /// In-plane matrix `[ni, nj]`; j is the phase-encode axis.
    pub matrix: [usize; 2],
    /// Slice thickness (mm).
    pub slice_thickness_mm: f64,
    /// Gap between slices (mm); slice spacing is thickness + gap.
    pub slice_gap_mm: f64,
    /// Number of slices (k).
    pub n_slices: usize,
    /// Diffusion weighting of the trace image (s/mm²), 500–3000.
    pub b_value: f64,
    /// Peak-to-peak fraction of the smooth multiplicative bias field over the head (0–0.8).
    pub bias_strength: f64,
    /// Stored integer value of white matter on the b0 (scanner scaling).
    pub intensity_scale: f64,
    /// True: the head with skull and scalp; false: skull-stripped output (zeros outside the
    /// brain), like ISLES'22.
    pub skull: bool,
    /// Units of the ADC map written.
    pub adc_units: AdcUnitsOut,
    /// Largest random oblique tilt of the slice stack (degrees).
    pub max_tilt_deg: f64,
    /// Probability per study of a skull-base susceptibility artefact.
    pub p_susceptibility: f64,
    /// Probability per study of motion-corrupted DWI slices.
    pub p_motion: f64,
    /// Probability per study of an N/2 ghost.
    pub p_ghosting: f64,
    /// Domain randomisation: when true the other fields are only nominal and every study
    /// draws its own acquisition and tissue appearance ([`RandomDraw::sample`]). Optional in
    /// TOML (default false) and not written when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub randomize: bool,
}

/// Why a site cannot be found, read or used. Messages name the file and/or the field.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SiteError {
    /// A field is out of range.
    #[error("site `{site}`: field `{field}` {reason}")]
    Invalid {
        /// The site's name.
        site: String,
        /// The offending field.
        field: &'static str,
        /// What is wrong, with the accepted range.
        reason: String,
    },
    /// A site file that is missing, unreadable or not valid TOML for a site.
    #[error("site file {path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong (the TOML parser's message names line and field).
        reason: String,
    },
    /// A site file that parses but fails [`Site::validate`].
    #[error("site file {path}: {source}")]
    InvalidFile {
        /// The file.
        path: PathBuf,
        /// The validation error.
        #[source]
        source: Box<SiteError>,
    },
    /// Neither a builtin name nor an existing file.
    #[error("unknown site `{name}`: not a builtin site ({known}) and not a TOML file")]
    Unknown {
        /// What was asked for.
        name: String,
        /// The builtin names, comma-separated.
        known: String,
    },
}

impl SiteError {
    /// The field named by a validation error (also through [`SiteError::InvalidFile`]).
    #[must_use]
    pub fn field(&self) -> Option<&'static str> {
        match self {
            SiteError::Invalid { field, .. } => Some(field),
            SiteError::InvalidFile { source, .. } => source.field(),
            _ => None,
        }
    }
}

/// A builtin site by name (case-insensitive), the pseudo-site `random` ([`random_site`]),
/// else a TOML file at that path.
///
/// # Errors
/// [`SiteError::Unknown`] (listing the builtin names) when it is neither; [`SiteError::File`]
/// or [`SiteError::InvalidFile`] for a file that cannot be read, parsed or validated.
pub fn find_site(name_or_path: &str) -> Result<Site, SiteError> {
    let sites = builtin_sites();
    if let Some(s) = sites
        .iter()
        .find(|s| s.name.eq_ignore_ascii_case(name_or_path.trim()))
    {
        return Ok(s.clone());
    }
    if name_or_path.trim().eq_ignore_ascii_case(RANDOM_SITE_NAME) {
        return Ok(random_site());
    }
    let path = Path::new(name_or_path);
    let looks_like_path =
        name_or_path.ends_with(".toml") || name_or_path.contains(std::path::MAIN_SEPARATOR);
    if path.is_file() || looks_like_path {
        return Site::from_toml_file(path);
    }
    Err(SiteError::Unknown {
        name: name_or_path.to_string(),
        known: sites
            .iter()
            .map(|s| s.name.as_str())
            .chain([RANDOM_SITE_NAME])
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// Checks that `v` is finite and within `lo..=hi`.
fn check(
    site: &str,
    field: &'static str,
    v: f64,
    lo: f64,
    hi: f64,
    unit: &str,
) -> Result<(), SiteError> {
    if v.is_finite() && (lo..=hi).contains(&v) {
        Ok(())
    } else {
        Err(SiteError::Invalid {
            site: site.to_string(),
            field,
            reason: format!("is {v}{unit}; expected {lo}–{hi}{unit}"),
        })
    }
}

impl Site {
    /// Parses a site from TOML text and validates it.
    ///
    /// # Errors
    /// [`SiteError::File`] (with `origin` as the path) for bad TOML, [`SiteError::InvalidFile`]
    /// for out-of-range values.
    pub fn from_toml_str(text: &str, origin: &Path) -> Result<Site, SiteError> {
        let site: Site = toml::from_str(text).map_err(|e| SiteError::File {
            path: origin.to_path_buf(),
            reason: e.to_string(),
        })?;
        site.validate().map_err(|e| SiteError::InvalidFile {
            path: origin.to_path_buf(),
            source: Box::new(e),
        })?;
        Ok(site)
    }

    /// Reads, parses and validates a site TOML file.
    ///
    /// # Errors
    /// As [`Site::from_toml_str`], plus [`SiteError::File`] when the file cannot be read.
    pub fn from_toml_file(path: &Path) -> Result<Site, SiteError> {
        let text = std::fs::read_to_string(path).map_err(|e| SiteError::File {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Site::from_toml_str(&text, path)
    }

    /// The site as TOML text (the format [`Site::from_toml_str`] reads).
    ///
    /// # Errors
    /// Only if serialisation fails (non-finite numbers).
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string(self)
    }

    /// Checks every field against a sane range; the error names the field and the range.
    ///
    /// # Errors
    /// [`SiteError::Invalid`] for the first field out of range.
    pub fn validate(&self) -> Result<(), SiteError> {
        let n = self.name.as_str();
        let bad = |field, reason: String| {
            Err(SiteError::Invalid {
                site: n.to_string(),
                field,
                reason,
            })
        };
        if n.is_empty()
            || !n
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return bad(
                "name",
                "must be non-empty and use only letters, digits, '-', '_', '.'".into(),
            );
        }
        check(
            n,
            "field_strength_t",
            self.field_strength_t,
            0.2,
            11.7,
            " T",
        )?;
        check(n, "snr_b0", self.snr_b0, 2.0, 1000.0, "")?;
        check(n, "inplane_mm", self.inplane_mm, 0.3, 5.0, " mm")?;
        for (axis, &m) in self.matrix.iter().enumerate() {
            if !(4..=1024).contains(&m) {
                return bad("matrix", format!("[{axis}] is {m}; expected 4–1024"));
            }
        }
        check(
            n,
            "slice_thickness_mm",
            self.slice_thickness_mm,
            0.5,
            10.0,
            " mm",
        )?;
        check(
            n,
            "slice_gap_mm",
            self.slice_gap_mm,
            0.0,
            self.slice_thickness_mm.max(0.0),
            " mm",
        )?;
        if !(1..=512).contains(&self.n_slices) {
            return bad("n_slices", format!("is {}; expected 1–512", self.n_slices));
        }
        check(n, "b_value", self.b_value, 500.0, 3000.0, " s/mm²")?;
        check(n, "bias_strength", self.bias_strength, 0.0, 0.8, "")?;
        check(
            n,
            "intensity_scale",
            self.intensity_scale,
            10.0,
            10000.0,
            "",
        )?;
        if self.intensity_scale / self.snr_b0 < 2.0 {
            return bad(
                "intensity_scale",
                format!(
                    "is {}: the noise (intensity_scale / snr_b0 = {:.2}) must be at least 2 stored units",
                    self.intensity_scale,
                    self.intensity_scale / self.snr_b0
                ),
            );
        }
        check(n, "max_tilt_deg", self.max_tilt_deg, 0.0, 30.0, "°")?;
        check(n, "p_susceptibility", self.p_susceptibility, 0.0, 1.0, "")?;
        check(n, "p_motion", self.p_motion, 0.0, 1.0, "")?;
        check(n, "p_ghosting", self.p_ghosting, 0.0, 1.0, "")?;
        Ok(())
    }

    /// Distance between slice centres: thickness + gap (mm).
    #[must_use]
    pub fn slice_spacing_mm(&self) -> f64 {
        self.slice_thickness_mm + self.slice_gap_mm
    }

    /// A random slice-stack tilt in degrees about (x, y, z): mostly pitch about x (up to
    /// `max_tilt_deg`, as when slices follow the AC–PC line), a third of that about y and z.
    pub fn draw_tilt<R: rand::Rng + ?Sized>(&self, rng: &mut R) -> (f64, f64, f64) {
        let m = if self.max_tilt_deg.is_finite() {
            self.max_tilt_deg.abs()
        } else {
            0.0
        };
        let mut u = |a: f64| (rng.random::<f64>() * 2.0 - 1.0) * a;
        (u(m), u(m / 3.0), u(m / 3.0))
    }

    /// The native acquisition grid: an axial stack with i along x (readout), j along y
    /// (phase encode), k the slices; voxel size `inplane × inplane × (thickness + gap)`;
    /// rotated by `tilt` (degrees about world x, then y, then z: R = Rz·Ry·Rx); its centre
    /// voxel position at `centre_mm` (world RAS+ mm). Zero matrix sizes or slice counts are
    /// raised to 1 and non-finite or tiny voxel sizes to 0.01 mm, so this never panics;
    /// [`Site::validate`] is what rejects such sites.
    #[must_use]
    pub fn native_grid(&self, tilt: (f64, f64, f64), centre_mm: [f64; 3]) -> Grid {
        let dims = [
            self.matrix[0].max(1),
            self.matrix[1].max(1),
            self.n_slices.max(1),
        ];
        let size = |v: f64| if v.is_finite() { v.max(0.01) } else { 0.01 };
        let sp = [
            size(self.inplane_mm),
            size(self.inplane_mm),
            size(self.slice_spacing_mm()),
        ];
        let deg = |v: f64| if v.is_finite() { v.to_radians() } else { 0.0 };
        let rot = Rotation3::from_axis_angle(&Vector3::z_axis(), deg(tilt.2))
            * Rotation3::from_axis_angle(&Vector3::y_axis(), deg(tilt.1))
            * Rotation3::from_axis_angle(&Vector3::x_axis(), deg(tilt.0));
        let lin =
            rot.matrix() * nalgebra::Matrix3::from_diagonal(&Vector3::new(sp[0], sp[1], sp[2]));
        let mid = Vector3::new(
            (dims[0] as f64 - 1.0) / 2.0,
            (dims[1] as f64 - 1.0) / 2.0,
            (dims[2] as f64 - 1.0) / 2.0,
        );
        let c = Vector3::new(centre_mm[0], centre_mm[1], centre_mm[2]);
        let c = if c.iter().all(|v| v.is_finite()) {
            c
        } else {
            Vector3::zeros()
        };
        let t = c - lin * mid;
        let mut affine = Matrix4::identity();
        affine.fixed_view_mut::<3, 3>(0, 0).copy_from(&lin);
        affine.fixed_view_mut::<3, 1>(0, 3).copy_from(&t);
        Grid { dims, affine }
    }
}
