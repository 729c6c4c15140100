//! ADC units and computation. Everything downstream sees ADC in 10⁻⁶ mm²/s
//! (normal brain ≈ 600–1100, CSF ≈ 3000).

use serde::Serialize;
use strokeseg_core::{otsu_threshold, percentile_in_place, Volume};

/// Units an ADC map was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AdcUnits {
    /// 10⁻⁶ mm²/s (scanner integer export; brain ≈ 800).
    #[serde(rename = "1e-6 mm2/s")]
    Micro,
    /// 10⁻³ mm²/s (brain ≈ 0.8).
    #[serde(rename = "1e-3 mm2/s")]
    Milli,
    /// mm²/s (brain ≈ 0.0008).
    #[serde(rename = "mm2/s")]
    Si,
}

impl AdcUnits {
    /// Factor that converts this unit to 10⁻⁶ mm²/s.
    #[must_use]
    pub fn to_micro(self) -> f32 {
        match self {
            AdcUnits::Micro => 1.0,
            AdcUnits::Milli => 1e3,
            AdcUnits::Si => 1e6,
        }
    }

    /// Human label.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            AdcUnits::Micro => "1e-6 mm2/s",
            AdcUnits::Milli => "1e-3 mm2/s",
            AdcUnits::Si => "mm2/s",
        }
    }

    /// Which unit a brain median of `m` implies. Normal brain ADC is 0.6–1.1 ×10⁻³ mm²/s,
    /// and whole-brain medians (with some CSF) stay within 0.3–3 ×10⁻³ mm²/s; the three units
    /// are three orders of magnitude apart, so the ranges below cannot overlap.
    #[must_use]
    pub fn from_brain_median(m: f32) -> Option<AdcUnits> {
        if (200.0..=4000.0).contains(&m) {
            Some(AdcUnits::Micro)
        } else if (0.2..=4.0).contains(&m) {
            Some(AdcUnits::Milli)
        } else if (2e-4..=4e-3).contains(&m) {
            Some(AdcUnits::Si)
        } else {
            None
        }
    }
}

/// The DWI's value when every finite voxel holds the same one (no image to find a brain in),
/// else `None`.
#[must_use]
pub fn constant_value(dwi: &Volume) -> Option<f32> {
    let mut finite = dwi.data().iter().copied().filter(|v| v.is_finite());
    let first = finite.next()?;
    finite.all(|v| v == first).then_some(first)
}

/// Median ADC over a rough brain region: voxels where the DWI is above its Otsu threshold and
/// the ADC is positive. Good enough to tell units apart (they differ 1000-fold); the careful
/// brain mask lives in `strokeseg-preproc`.
#[must_use]
pub fn rough_brain_median(adc: &Volume, dwi: &Volume) -> Option<f32> {
    let t = otsu_threshold(dwi.data().iter())?;
    let mut v: Vec<f32> = adc
        .data()
        .iter()
        .zip(dwi.data().iter())
        .filter(|(a, d)| **a > 0.0 && **d > t)
        .map(|(a, _)| *a)
        .collect();
    percentile_in_place(&mut v, 50.0)
}

/// ADC = ln(S0 / Sb) / b, in 10⁻⁶ mm²/s, clamped to 0–10 000 (noise outside the head gives
/// wild values). Voxels where either signal is ≤ 0 get 0.
///
/// # Panics
/// When the volumes are on different grids (callers resample first).
#[must_use]
pub fn compute_adc(b0: &Volume, dwi: &Volume, b: f64) -> Volume {
    assert_eq!(b0.dims(), dwi.dims(), "b0 and DWI must share a grid");
    let scale = 1e6 / b;
    let mut out = dwi.clone();
    ndarray::Zip::from(out.data_mut())
        .and(b0.data())
        .and(dwi.data())
        .for_each(|o, &s0, &sb| {
            *o = if s0 > 0.0 && sb > 0.0 {
                ((f64::from(s0) / f64::from(sb)).ln() * scale).clamp(0.0, 10_000.0) as f32
            } else {
                0.0
            };
        });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;
    use strokeseg_core::Grid;

    #[test]
    fn units_from_median() {
        assert_eq!(AdcUnits::from_brain_median(800.0), Some(AdcUnits::Micro));
        assert_eq!(AdcUnits::from_brain_median(0.8), Some(AdcUnits::Milli));
        assert_eq!(AdcUnits::from_brain_median(0.0008), Some(AdcUnits::Si));
        assert_eq!(AdcUnits::from_brain_median(40.0), None);
    }

    #[test]
    fn adc_from_signal_model() {
        let g = Grid::axis_aligned([2, 1, 1], [1.0; 3], [0.0; 3]);
        let b0 = Volume::on_grid(Array3::from_elem((2, 1, 1), 1000.0), &g);
        // S = S0·exp(−b·ADC) with ADC = 0.8e-3 and 3.0e-3 mm²/s at b = 1000.
        let sb = Volume::on_grid(
            Array3::from_shape_vec(
                (2, 1, 1),
                vec![1000.0 * (-0.8f32).exp(), 1000.0 * (-3.0f32).exp()],
            )
            .unwrap(),
            &g,
        );
        let adc = compute_adc(&b0, &sb, 1000.0);
        assert!((adc.data()[[0, 0, 0]] - 800.0).abs() < 0.5);
        assert!((adc.data()[[1, 0, 0]] - 3000.0).abs() < 1.0);
    }
}
