//! Builtin site presets. They are plausible generic protocols that differ in the ways real
//! sites differ; none claims to model a particular vendor or scanner precisely.

use super::{AdcUnitsOut, Site};

/// A preset with the common artefact defaults filled in.
#[allow(clippy::too_many_arguments)]
fn preset(
    name: &str,
    description: &str,
    field_strength_t: f64,
    snr_b0: f64,
    inplane_mm: f64,
    matrix: usize,
    (slice_thickness_mm, slice_gap_mm, n_slices): (f64, f64, usize),
    b_value: f64,
    bias_strength: f64,
    intensity_scale: f64,
    skull: bool,
    adc_units: AdcUnitsOut,
    max_tilt_deg: f64,
    (p_susceptibility, p_motion, p_ghosting): (f64, f64, f64),
) -> Site {
    Site {
        name: name.into(),
        description: description.into(),
        field_strength_t,
        snr_b0,
        inplane_mm,
        matrix: [matrix, matrix],
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

/// The builtin sites (five generic protocols):
///
/// | name | T | SNR | in-plane | thick/gap | slices | b | skull | ADC | bias |
/// |---|---|---|---|---|---|---|---|---|---|
/// | site-a | 3 | 30 | 1.2 mm | 4/0 mm | 36 | 1000 | on | micro | 0.20 |
/// | site-b | 1.5 | 14 | 1.8 mm | 5/1.5 mm | 22 | 1000 | on | milli | 0.25 |
/// | site-c | 3 | 24 | 2.0 mm | 2/0 mm | 72 | 800 | off | si | 0.10 |
/// | site-d | 1.5 | 12 | 1.4 mm | 6/1 mm | 20 | 1500 | on | micro | 0.40 |
/// | site-e | 3 | 38 | 1.6 mm | 3/0.6 mm | 40 | 1000 | off | micro | 0.30 |
#[must_use]
pub fn builtin_sites() -> Vec<Site> {
    use AdcUnitsOut::{Micro, Milli, Si};
    vec![
        preset(
            "site-a",
            "3 T, high in-plane resolution (1.2 mm), contiguous 4 mm slices, b1000, skull on, ADC in 1e-6 mm²/s integers",
            3.0, 30.0, 1.2, 192, (4.0, 0.0, 36), 1000.0, 0.20, 1000.0, true, Micro, 10.0,
            (0.30, 0.05, 0.10),
        ),
        preset(
            "site-b",
            "1.5 T, low SNR, 1.8 mm in-plane, 5 mm slices with 1.5 mm gap, b1000, skull on, ADC in 1e-3 mm²/s floats",
            1.5, 14.0, 1.8, 128, (5.0, 1.5, 22), 1000.0, 0.25, 400.0, true, Milli, 15.0,
            (0.25, 0.12, 0.15),
        ),
        preset(
            "site-c",
            "3 T, 2 mm near-isotropic (2 mm contiguous slices), b800, skull-stripped, ADC in mm²/s floats (ISLES-like)",
            3.0, 24.0, 2.0, 112, (2.0, 0.0, 72), 800.0, 0.10, 600.0, false, Si, 5.0,
            (0.20, 0.05, 0.05),
        ),
        preset(
            "site-d",
            "1.5 T, b1500, 1.4 mm in-plane, thick 6 mm slices with 1 mm gap, strong bias field, skull on, ADC in 1e-6 mm²/s integers",
            1.5, 12.0, 1.4, 160, (6.0, 1.0, 20), 1500.0, 0.40, 2000.0, true, Micro, 12.0,
            (0.35, 0.08, 0.10),
        ),
        preset(
            "site-e",
            "3 T, high SNR, 1.6 mm in-plane, 3 mm slices with 0.6 mm gap, b1000, low stored scaling, skull-stripped, ADC in 1e-6 mm²/s integers",
            3.0, 38.0, 1.6, 144, (3.0, 0.6, 40), 1000.0, 0.30, 250.0, false, Micro, 8.0,
            (0.25, 0.06, 0.08),
        ),
    ]
}
