//! Domain randomisation: the pseudo-site `random`, for which every study draws its own
//! acquisition (field, b-value, resolution, slice profile, coverage, tilt, SNR, bias field,
//! skull, ADC units, artefact rates and strengths) and tissue appearance (S0 multipliers,
//! tissue ADCs, a gamma on the DWI), far beyond the five presets, so that no fixed
//! appearance marks a study as synthetic. Lesion contrast is left to the lesion draw (ADC ×
//! 0.40–0.85, S0 × 1.00–1.30 relative to the tissue), so infarcts stay DWI-bright and
//! ADC-dark.
//!
//! The draw is deterministic from the study seed (a stream of its own, so the rest of the
//! study draws as for a preset) and recorded in full in the manifest ([`RandomDraw`]).

use super::{AdcUnitsOut, Site};
use crate::acquire::AcquireOptions;
use crate::physics::TissueParams;
use rand::Rng;
use serde::Serialize;

/// Name of the pseudo-site (`--site random`).
pub const RANDOM_SITE_NAME: &str = "random";

/// Largest native grid drawn (voxels); finer draws get a coarser in-plane voxel.
const MAX_VOXELS: f64 = 8.0e6;
/// Share of studies with a partial field of view (a slab, not the whole brain).
const P_PARTIAL_FOV: f64 = 0.15;

/// The pseudo-site `random`: nominal values (valid, site-a-like) with
/// [`Site::randomize`] set; [`crate::dataset::Generator::study`] replaces them per study.
#[must_use]
pub fn random_site() -> Site {
    Site {
        name: RANDOM_SITE_NAME.into(),
        description: "domain randomisation: every study draws its own acquisition and tissue \
                      appearance (1.5/3 T, b 500–2500, 0.8–2.5 mm in-plane, 1–7 mm slices, \
                      gaps 0–2 mm, tilt ≤ 20°, SNR 5–60, bias, skull on/off, any ADC units, \
                      artefacts); the values here are nominal, each study's draw is in the \
                      manifest (studies[].randomized)"
            .into(),
        field_strength_t: 3.0,
        snr_b0: 20.0,
        inplane_mm: 1.6,
        matrix: [144, 144],
        slice_thickness_mm: 4.0,
        slice_gap_mm: 0.5,
        n_slices: 32,
        b_value: 1000.0,
        bias_strength: 0.3,
        intensity_scale: 1000.0,
        skull: true,
        adc_units: AdcUnitsOut::Micro,
        max_tilt_deg: 20.0,
        p_susceptibility: 0.3,
        p_motion: 0.15,
        p_ghosting: 0.2,
        randomize: true,
    }
}

/// Uniform in `lo..hi`.
fn uniform<R: Rng + ?Sized>(rng: &mut R, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.random::<f64>()
}

/// Log-uniform in `lo..hi`.
fn log_uniform<R: Rng + ?Sized>(rng: &mut R, lo: f64, hi: f64) -> f64 {
    uniform(rng, lo.ln(), hi.ln()).exp()
}

/// Standard normal from two uniforms (Box–Muller), so the draw does not depend on a
/// distribution crate's algorithm.
fn std_normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    let u1 = 1.0 - rng.random::<f64>(); // (0, 1]
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

impl Site {
    /// A concrete site drawn at random (the acquisition of one `random` study):
    /// - field 1.5 or 3 T (½ each);
    /// - b-value log-normal about 1000 (σ 0.4 in ln b), kept to 500–2500, rounded to 50;
    /// - in-plane 0.8–2.5 mm, field of view 200–250 mm (matrix = FOV / in-plane, even);
    /// - slices 1–7 mm thick, gap 0 (45%) or 0–min(2, thickness) mm; slice count to cover
    ///   135–175 mm (the whole brain), or, in 15% of studies, a partial 60–125 mm slab;
    ///   grids over 8 M voxels get a coarser in-plane voxel;
    /// - tilt up to 0–20° (`max_tilt_deg`);
    /// - SNR 5–60 (log-uniform); stored scale 150–2500 (log-uniform, ≥ 2.5 × SNR);
    /// - bias field 0–0.7 peak-to-peak;
    /// - skull on/off (½ each); ADC units micro/milli/SI (⅓ each);
    /// - artefact probabilities: susceptibility 0–0.6, motion 0–0.3, ghosting 0–0.4.
    ///
    /// Always passes [`Site::validate`]; `randomize` is false (it is a concrete site).
    pub fn randomized<R: Rng + ?Sized>(rng: &mut R) -> Site {
        let field_strength_t = if rng.random_bool(0.5) { 1.5 } else { 3.0 };
        let b_value = ((1000f64.ln() + 0.4 * std_normal(rng))
            .exp()
            .clamp(500.0, 2500.0)
            / 50.0)
            .round()
            * 50.0;
        let mut inplane_mm = uniform(rng, 0.8, 2.5);
        let fov_mm = uniform(rng, 200.0, 250.0);
        let slice_thickness_mm = uniform(rng, 1.0, 7.0);
        let slice_gap_mm = if rng.random_bool(0.45) {
            0.0
        } else {
            uniform(rng, 0.0, slice_thickness_mm.min(2.0))
        };
        let partial = rng.random_bool(P_PARTIAL_FOV);
        let coverage_mm = if partial {
            uniform(rng, 60.0, 125.0)
        } else {
            uniform(rng, 135.0, 175.0)
        };
        let n_slices =
            ((coverage_mm / (slice_thickness_mm + slice_gap_mm)).ceil() as usize).clamp(1, 512);
        let cap = fov_mm * (n_slices as f64 / MAX_VOXELS).sqrt();
        if inplane_mm < cap {
            inplane_mm = cap;
        }
        let m = ((fov_mm / inplane_mm / 2.0).round() as usize * 2).clamp(4, 1024);
        let max_tilt_deg = uniform(rng, 0.0, 20.0);
        let snr_b0 = log_uniform(rng, 5.0, 60.0);
        let intensity_scale = log_uniform(rng, 150.0, 2500.0).max(2.5 * snr_b0).round();
        let bias_strength = uniform(rng, 0.0, 0.7);
        let skull = rng.random_bool(0.5);
        let adc_units =
            [AdcUnitsOut::Micro, AdcUnitsOut::Milli, AdcUnitsOut::Si][rng.random_range(0..3usize)];
        let p_susceptibility = uniform(rng, 0.0, 0.6);
        let p_motion = uniform(rng, 0.0, 0.3);
        let p_ghosting = uniform(rng, 0.0, 0.4);
        Site {
            name: RANDOM_SITE_NAME.into(),
            description: format!(
                "randomised draw: {field_strength_t} T, b{b_value}, {inplane_mm:.2} mm in-plane, \
                 {slice_thickness_mm:.2}+{slice_gap_mm:.2} mm slices × {n_slices}{}",
                if partial {
                    " (partial field of view)"
                } else {
                    ""
                }
            ),
            field_strength_t,
            snr_b0,
            inplane_mm,
            matrix: [m, m],
            slice_thickness_mm,
            slice_gap_mm,
            n_slices,
            b_value,
            bias_strength,
            intensity_scale,
            skull,
            adc_units,
            max_tilt_deg,
            p_susceptibility,
            p_motion,
            p_ghosting,
            randomize: false,
        }
    }
}

/// Per-study tissue appearance of a randomised study, applied to the subject's
/// [`TissueParams`] by [`TissueAppearance::apply`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TissueAppearance {
    /// Multipliers of the S0 (T2 weighting) of GM, WM, CSF: GM 0.85–1.15, WM 0.9–1.1,
    /// CSF 0.75–1.4 (CSF kept ≥ 1.2 × GM on the b0).
    pub s0_multiplier: [f32; 3],
    /// ADC (mm²/s) of GM, WM, CSF replacing the subject's: WM 600–950 ×10⁻⁶, GM = WM ×
    /// 0.95–1.3 within 600–1000 ×10⁻⁶, CSF 2500–3300 ×10⁻⁶.
    pub adc_mm2_s: [f32; 3],
}

impl TissueAppearance {
    /// Draws an appearance (ranges in the field docs).
    pub fn sample<R: Rng + ?Sized>(rng: &mut R) -> TissueAppearance {
        let s0_multiplier = [
            uniform(rng, 0.85, 1.15) as f32,
            uniform(rng, 0.9, 1.1) as f32,
            uniform(rng, 0.75, 1.4) as f32,
        ];
        let wm = uniform(rng, 600.0, 950.0);
        let gm = (wm * uniform(rng, 0.95, 1.3)).clamp(600.0, 1000.0);
        let csf = uniform(rng, 2500.0, 3300.0);
        TissueAppearance {
            s0_multiplier,
            adc_mm2_s: [(gm * 1e-6) as f32, (wm * 1e-6) as f32, (csf * 1e-6) as f32],
        }
    }

    /// `p` with GM/WM/CSF S0 multiplied and their ADCs replaced (scalp and the spatial ADC
    /// variation unchanged); CSF S0 is raised to at least 1.2 × GM S0 so the b0 keeps CSF
    /// brightest, as a T2-weighted EPI does.
    #[must_use]
    pub fn apply(&self, p: &TissueParams) -> TissueParams {
        let mut q = p.clone();
        for t in 0..3 {
            q.s0[t] = p.s0[t] * self.s0_multiplier[t];
            q.adc[t] = self.adc_mm2_s[t];
        }
        q.s0[2] = q.s0[2].max(1.2 * q.s0[0]);
        q
    }
}

/// Everything a randomised study drew, as recorded in its manifest entry
/// (`studies[].randomized`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RandomDraw {
    /// The study's acquisition ([`Site::randomized`]).
    pub site: Site,
    /// True when the slices cover only a slab (60–125 mm) of the brain.
    pub partial_fov: bool,
    /// Shift (mm) of the slab's centre along the slice axis from the head's centre (0 for
    /// full coverage).
    pub fov_shift_mm: f64,
    /// Slice-profile FWHM as a multiple of the slice thickness (0.7–1.5; 1 for the presets):
    /// below 1 a sharp profile, above 1 one that spills into the gap and neighbours.
    pub slice_profile_fwhm: f64,
    /// Artefact strengths (each log-uniform 0.5–2), bias curvature (0–2), DWI averages
    /// (3, 3, 6 or 12: three directions, or more directions or averages) and DWI gamma (log-uniform 0.7–1.4).
    pub acquire: AcquireOptions,
    /// Tissue appearance.
    pub tissue: TissueAppearance,
    /// Slice-stack tilt drawn for the study (degrees about x, y, z), filled in by the
    /// generator.
    pub tilt_deg: [f64; 3],
}

impl RandomDraw {
    /// Draws a study's acquisition and appearance.
    pub fn sample<R: Rng + ?Sized>(rng: &mut R) -> RandomDraw {
        let site = Site::randomized(rng);
        let coverage = site.slice_spacing_mm() * site.n_slices as f64;
        // full coverage is ≥ 135 mm by construction, a slab at most 125 mm + one spacing
        let partial_fov = coverage < 135.0;
        let fov_shift_mm = if partial_fov {
            uniform(rng, -1.0, 1.0) * (150.0 - coverage).max(0.0) / 2.0
        } else {
            0.0
        };
        let slice_profile_fwhm = uniform(rng, 0.7, 1.5);
        let mut strength = || log_uniform(rng, 0.5, 2.0);
        let artefact_strength = [strength(), strength(), strength()];
        let acquire = AcquireOptions {
            artefact_strength,
            bias_curvature: uniform(rng, 0.0, 2.0),
            dwi_averages: [3.0, 3.0, 6.0, 12.0][rng.random_range(0..4usize)],
            dwi_gamma: log_uniform(rng, 0.7, 1.4),
        };
        let tissue = TissueAppearance::sample(rng);
        RandomDraw {
            site,
            partial_fov,
            fov_shift_mm,
            slice_profile_fwhm,
            acquire,
            tissue,
            tilt_deg: [0.0; 3],
        }
    }
}
