//! From a loaded study to model input, and back: crop to the brain, resample onto an
//! axis-aligned RAS+ grid at the plan's spacing, normalise each channel, and — for the
//! model's output — resample probabilities back onto the study's own DWI grid.
//!
//! Undo needs no bookkeeping beyond the two grids: every grid carries its voxel→world
//! affine, so going back is resampling by world coordinates.

use crate::brain_mask::{brain_mask, BrainMaskConfig};
use crate::denoise::{harmonise_noise, NoiseInfo, DEFAULT_DENOISE_ABOVE};
use crate::mirror::{fit_midplane, reflect_image, MidPlane};
use crate::morph::dilate_mm;
use ndarray::{Array3, Array4, Axis};
use serde::{Deserialize, Serialize};
use strokeseg_core::{Grid, Interp, Mask, Volume};
use strokeseg_io::Study;

/// Input channels, in order (a plan with [`PrepConfig::mirror_channel`] adds [`MIRROR_CHANNEL`]).
pub const CHANNELS: [&str; 2] = ["dwi", "adc"];
/// The third input channel of a plan with [`PrepConfig::mirror_channel`]: the z-scored DWI
/// reflected through the brain's mid-sagittal plane (`crate::mirror`).
pub const MIRROR_CHANNEL: &str = "dwi_mirror";

/// The input channels `cfg` prepares, in order.
#[must_use]
pub fn channel_names(cfg: &PrepConfig) -> Vec<String> {
    let mut c: Vec<String> = CHANNELS.iter().map(|s| (*s).to_string()).collect();
    if cfg.mirror_channel {
        c.push(MIRROR_CHANNEL.to_string());
    }
    c
}

/// How studies are prepared (part of a model's plan).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PrepConfig {
    /// Target voxel size (mm) along x, y, z (RAS).
    pub spacing_mm: [f64; 3],
    /// Margin around the brain's bounding box (mm).
    pub margin_mm: f64,
    /// Inputs are zeroed outside the brain mask dilated by this much (mm), so skull-on and
    /// skull-stripped studies look alike to the model.
    pub mask_dilate_mm: f64,
    /// Relative DWI noise (see `crate::denoise`) above which the DWI and ADC are smoothed
    /// in-plane down to this level before the network and the lesion measurements; `null`
    /// never smooths. Plans from before this setting get the default.
    #[serde(default = "default_denoise_above")]
    pub denoise_above: Option<f64>,
    /// Adds a third input channel: the z-scored DWI reflected through the brain's fitted
    /// mid-sagittal plane, so the network sees each voxel beside its other-hemisphere twin.
    /// Plans from before this setting have two channels.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mirror_channel: bool,
}

#[allow(clippy::unnecessary_wraps)] // serde's `default =` needs a function returning the field's type
fn default_denoise_above() -> Option<f64> {
    Some(DEFAULT_DENOISE_ABOVE)
}

impl Default for PrepConfig {
    fn default() -> Self {
        PrepConfig {
            spacing_mm: [1.6, 1.6, 4.0],
            margin_mm: 8.0,
            mask_dilate_mm: 6.0,
            denoise_above: default_denoise_above(),
            mirror_channel: false,
        }
    }
}

/// A study ready for the model.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Channels × D × H × W = [c, z, y, x] on `grid` (DWI z-scored in the brain; ADC in
    /// 10⁻³ mm²/s clipped to 0–4, zeros when the study has none; then the mirrored DWI when
    /// the plan asks for it, [`channel_names`]).
    pub input: Array4<f32>,
    /// The prepared grid (axis-aligned RAS+, plan spacing), indexed [x, y, z].
    pub grid: Grid,
    /// Brain mask on `grid`, indexed [x, y, z].
    pub brain: Mask,
    /// Whether the ADC channel holds data.
    pub has_adc: bool,
    /// The study's DWI grid (where results go back to).
    pub native: Grid,
    /// Brain mask on the native grid.
    pub native_brain: Mask,
    /// The noise measured on the DWI and the smoothing applied (`crate::denoise`).
    pub noise: NoiseInfo,
    /// The fitted mid-sagittal plane (on `grid`, mm from its first voxel) when the plan has a
    /// mirror channel and the brain was found. Without a mirror channel it is fitted only when
    /// asked for ([`Prepared::midplane`]), so training does not pay for it.
    pub midplane: Option<MidPlane>,
    /// The smoothed native DWI and ADC when the study was smoothed: lesions are measured on
    /// these, as the network saw them ([`Prepared::signal`]).
    pub smoothed: Option<(Volume, Option<Volume>)>,
}

/// World-space bounding box of a mask's voxel centres.
fn world_bbox(mask: &Mask) -> Option<([f64; 3], [f64; 3])> {
    let g = mask.grid();
    let mut lo = [f64::INFINITY; 3];
    let mut hi = [f64::NEG_INFINITY; 3];
    let mut any = false;
    for ((i, j, k), &m) in mask.data().indexed_iter() {
        if m {
            any = true;
            let w = g.voxel_to_world([i as f64, j as f64, k as f64]);
            for a in 0..3 {
                lo[a] = lo[a].min(w[a]);
                hi[a] = hi[a].max(w[a]);
            }
        }
    }
    any.then_some((lo, hi))
}

/// The axis-aligned grid at `spacing` covering `lo..hi` (+ margin), with each dim rounded up
/// to a multiple of `multiple` (per axis, [x, y, z]) so the network's down-samplings fit.
fn target_grid(lo: [f64; 3], hi: [f64; 3], cfg: &PrepConfig, multiple: [usize; 3]) -> Grid {
    let mut dims = [0usize; 3];
    let mut origin = [0.0; 3];
    for a in 0..3 {
        let extent = hi[a] - lo[a] + 2.0 * cfg.margin_mm;
        let n = (extent / cfg.spacing_mm[a]).ceil().max(1.0) as usize;
        let m = multiple[a].max(1);
        dims[a] = n.div_ceil(m) * m;
        let centre = (lo[a] + hi[a]) / 2.0;
        origin[a] = centre - (dims[a] as f64 - 1.0) / 2.0 * cfg.spacing_mm[a];
    }
    Grid::axis_aligned(dims, cfg.spacing_mm, origin)
}

/// Zeroes `a` where `keep` is false.
fn zero_outside(a: &mut Array3<f32>, keep: &Array3<bool>) {
    a.zip_mut_with(keep, |v, &k| {
        if !k {
            *v = 0.0;
        }
    });
}

/// [x, y, z] array → [z, y, x] (D, H, W) standard layout.
fn to_dhw(a: &Array3<f32>) -> Array3<f32> {
    a.view()
        .permuted_axes([2, 1, 0])
        .as_standard_layout()
        .into_owned()
}

/// Prepares a study. `multiple` = the network's size divisor along [x, y, z].
#[must_use]
pub fn prepare(study: &Study, cfg: &PrepConfig, multiple: [usize; 3]) -> Prepared {
    let native = study.dwi.grid();
    let native_brain = brain_mask(&study.dwi, &BrainMaskConfig::default());
    let (lo, hi) = world_bbox(&native_brain).unwrap_or_else(|| {
        // No brain found: use the whole field of view.
        let c = [0.0, (native.dims[0] - 1) as f64];
        let corners: Vec<[f64; 3]> = (0..8)
            .map(|n| {
                native.voxel_to_world([
                    c[n & 1],
                    if n & 2 == 0 {
                        0.0
                    } else {
                        (native.dims[1] - 1) as f64
                    },
                    if n & 4 == 0 {
                        0.0
                    } else {
                        (native.dims[2] - 1) as f64
                    },
                ])
            })
            .collect();
        let lo = [0, 1, 2].map(|a| corners.iter().map(|p| p[a]).fold(f64::INFINITY, f64::min));
        let hi = [0, 1, 2].map(|a| {
            corners
                .iter()
                .map(|p| p[a])
                .fold(f64::NEG_INFINITY, f64::max)
        });
        (lo, hi)
    });
    let grid = target_grid(lo, hi, cfg, multiple);
    let (smoothed, noise) = harmonise_noise(
        &study.dwi,
        study.adc.as_ref(),
        &native_brain,
        cfg.denoise_above,
    );
    let (dwi_in, adc_in) = match &smoothed {
        Some((d, a)) => (d, a.as_ref()),
        None => (&study.dwi, study.adc.as_ref()),
    };
    let dwi = dwi_in.resample(&grid, Interp::Linear, 0.0);
    let brain_pv = native_brain.resample_partial_volume(&grid, 1);
    let brain = brain_pv.map(|&f| f >= 0.5);
    let keep = dilate_mm(brain.data(), cfg.mask_dilate_mm, cfg.spacing_mm);
    // DWI: z-score over the brain.
    let vals: Vec<f64> = dwi
        .data()
        .iter()
        .zip(brain.data().iter())
        .filter(|(_, &b)| b)
        .map(|(v, _)| f64::from(*v))
        .collect();
    let n = vals.len().max(1) as f64;
    let mean = vals.iter().sum::<f64>() / n;
    let sd = (vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n)
        .sqrt()
        .max(1e-6);
    let mut dwi_n = dwi.data().mapv(|v| ((f64::from(v) - mean) / sd) as f32);
    zero_outside(&mut dwi_n, &keep);
    let (adc_n, has_adc) = match adc_in {
        Some(adc) => {
            let mut a = adc
                .resample(&grid, Interp::Linear, 0.0)
                .into_data()
                .mapv(|v| (v / 1000.0).clamp(0.0, 4.0));
            zero_outside(&mut a, &keep);
            (a, true)
        }
        None => (Array3::zeros(dwi_n.dim()), false),
    };
    let mut channels = vec![to_dhw(&dwi_n), to_dhw(&adc_n)];
    let mut midplane = None;
    if cfg.mirror_channel {
        midplane = fit_midplane(&dwi_n, brain.data(), cfg.spacing_mm, MIRROR_FIT_CLIP);
        let mut m = match &midplane {
            Some(p) => reflect_image(&dwi_n, p, cfg.spacing_mm),
            None => Array3::zeros(dwi_n.dim()),
        };
        zero_outside(&mut m, &keep);
        channels.push(to_dhw(&m));
    }
    let views: Vec<_> = channels.iter().map(|c| c.view()).collect();
    let input = ndarray::stack(Axis(0), &views).expect("same shapes");
    Prepared {
        input,
        grid,
        brain,
        has_adc,
        native,
        native_brain,
        noise,
        midplane,
        smoothed,
    }
}

/// DWI z-scores are clipped to ± this while the mid-plane is fitted, so a bright infarct
/// does not pull the plane towards itself.
const MIRROR_FIT_CLIP: f32 = 3.0;

impl Prepared {
    /// The native DWI and ADC that lesions are measured on: the smoothed pair when the study
    /// was smoothed, else the study's own.
    #[must_use]
    pub fn signal<'a>(&'a self, study: &'a Study) -> (&'a Volume, Option<&'a Volume>) {
        match &self.smoothed {
            Some((d, a)) => (d, a.as_ref()),
            None => (&study.dwi, study.adc.as_ref()),
        }
    }

    /// The brain's mid-sagittal plane: the mirror channel's, else fitted now on the z-scored
    /// DWI channel as the mirror channel's would be. `None` when the brain is too small.
    #[must_use]
    pub fn midplane(&self) -> Option<MidPlane> {
        self.midplane.or_else(|| {
            let dwi = self.input.index_axis(Axis(0), 0);
            let xyz = dwi
                .permuted_axes([2, 1, 0])
                .as_standard_layout()
                .into_owned();
            fit_midplane(
                &xyz,
                self.brain.data(),
                self.grid.spacing_mm(),
                MIRROR_FIT_CLIP,
            )
        })
    }

    /// The reflection of world coordinates (mm) through the brain's mid-sagittal plane
    /// ([`Prepared::midplane`]), when there is one. The prepared grid is axis-aligned, so its
    /// millimetre frame is the world's shifted to the grid's first voxel.
    #[must_use]
    pub fn mirror_world(&self) -> Option<impl Fn([f64; 3]) -> [f64; 3]> {
        let plane = self.midplane()?;
        let o = self.grid.voxel_to_world([0.0; 3]);
        Some(move |w: [f64; 3]| {
            let r = plane.reflect([w[0] - o[0], w[1] - o[1], w[2] - o[2]]);
            [r[0] + o[0], r[1] + o[1], r[2] + o[2]]
        })
    }

    /// A map on the prepared grid given as [D, H, W] (= [z, y, x]) → a volume on the study's
    /// native DWI grid (trilinear, 0 outside).
    #[must_use]
    pub fn to_native(&self, dhw: &Array3<f32>) -> Volume {
        let xyz = dhw
            .view()
            .permuted_axes([2, 1, 0])
            .as_standard_layout()
            .into_owned();
        Volume::on_grid(xyz, &self.grid).resample(&self.native, Interp::Linear, 0.0)
    }

    /// A native-grid mask (e.g. a lesion truth) → its partial-volume fraction on the prepared
    /// grid, as [D, H, W].
    #[must_use]
    pub fn label_from_native(&self, mask: &Mask) -> Array3<f32> {
        let pv = mask.resample_partial_volume(&self.grid, 3);
        to_dhw(pv.data())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strokeseg_core::Image;
    use strokeseg_io::study::Source;

    fn study_from(dwi: Volume, adc: Option<Volume>) -> Study {
        let src = Source {
            path: "x".into(),
            detail: String::new(),
        };
        Study {
            dwi,
            dwi_source: src,
            adc,
            adc_origin: None,
            b0: None,
            b0_source: None,
            b_value: Some(1000.0),
            warnings: vec![],
            dicom: None,
        }
    }

    #[test]
    fn prepare_crops_normalises_and_maps_back() {
        let g = Grid::axis_aligned([64, 72, 20], [3.0, 3.0, 6.0], [-96.0, -108.0, -60.0]);
        let mut dwi = Array3::<f32>::zeros((64, 72, 20));
        let mut adc = dwi.clone();
        let mut lesion = Array3::from_elem((64, 72, 20), false);
        for ((i, j, k), v) in dwi.indexed_iter_mut() {
            let w = g.voxel_to_world([i as f64, j as f64, k as f64]);
            let r = (w[0] / 60.0).powi(2) + (w[1] / 75.0).powi(2) + (w[2] / 50.0).powi(2);
            if r < 1.0 {
                let les = (w[0] - 20.0).powi(2) + w[1].powi(2) + w[2].powi(2) < 100.0;
                *v = if les { 800.0 } else { 400.0 };
                adc[[i, j, k]] = if les { 450.0 } else { 800.0 };
                lesion[[i, j, k]] = les;
            }
        }
        let study = study_from(Volume::on_grid(dwi, &g), Some(Volume::on_grid(adc, &g)));
        let p = prepare(&study, &PrepConfig::default(), [16, 16, 4]);
        let [x, y, z] = p.grid.dims;
        assert_eq!(p.input.dim(), (2, z, y, x));
        assert!(x % 16 == 0 && y % 16 == 0 && z % 4 == 0);
        assert!(p.has_adc);
        // cropped: much smaller than the native field of view in mm
        assert!(
            (x as f64) * 1.6 < 64.0 * 3.0 * 0.85,
            "x extent {}",
            x as f64 * 1.6
        );
        // ADC channel in 10⁻³ mm²/s
        let adc_max = p
            .input
            .index_axis(Axis(0), 1)
            .iter()
            .copied()
            .fold(0.0f32, f32::max);
        assert!((adc_max - 0.8).abs() < 0.01, "{adc_max}");
        // The lesion label survives the trip to the prepared grid and back.
        // a plan with the mirror channel: the same two channels, then the mirrored DWI, where
        // the right-sided lesion (x = +20 mm) shows on the left (x = −20 mm)
        let cfg = PrepConfig {
            mirror_channel: true,
            ..PrepConfig::default()
        };
        assert_eq!(channel_names(&cfg), ["dwi", "adc", MIRROR_CHANNEL]);
        let pm = prepare(&study, &cfg, [16, 16, 4]);
        assert_eq!(pm.input.dim(), (3, z, y, x));
        assert_eq!(
            pm.input.slice(ndarray::s![0..2, .., .., ..]),
            p.input.view(),
            "the first two channels are unchanged"
        );
        // the prepared grid is axis-aligned: voxel = (world − origin) / spacing
        let o = pm.grid.voxel_to_world([0.0; 3]);
        let at = |w: [f64; 3]| {
            let v = [0, 1, 2].map(|a| ((w[a] - o[a]) / cfg.spacing_mm[a]).round() as usize);
            [v[2], v[1], v[0]]
        };
        let (right, left) = (at([20.0, 0.0, 0.0]), at([-20.0, 0.0, 0.0]));
        let ch = |c: usize, i: [usize; 3]| pm.input[[c, i[0], i[1], i[2]]];
        assert!(ch(0, right) > 2.0 && ch(0, left) < 1.0);
        assert!(
            ch(2, left) > 2.0 && ch(2, right) < 1.0,
            "{} {}",
            ch(2, left),
            ch(2, right)
        );
        assert!(pm.midplane.is_some() && p.midplane.is_none());
        // without a mirror channel the plane is fitted on request, the same as the channel's
        assert_eq!(p.midplane(), pm.midplane);
        let m = Image::on_grid(lesion, &g);
        let lab = p.label_from_native(&m);
        let back = p.to_native(&lab);
        let kept = back
            .data()
            .iter()
            .zip(m.data().iter())
            .filter(|(b, l)| **l && **b > 0.5)
            .count();
        assert!(
            kept as f64 > 0.8 * m.count() as f64,
            "{kept} of {}",
            m.count()
        );
    }
}
