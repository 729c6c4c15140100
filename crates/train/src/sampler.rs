//! Patch sampling and augmentation. A third or more of patches are centred on lesion voxels so
//! that tiny lesions are seen often; optionally a share of the others on *hard negatives*,
//! bright normal tissue (DWI z ≥ [`HARD_NEGATIVE_Z`] outside any lesion), where a DWI-trained
//! network makes its confident false calls (cerebellum, skull base, cortical ribbon, T2
//! shine-through) and which uniform brain sampling rarely shows it; augmentation: left–right mirroring, in-plane rotation and
//! scaling (one trilinear resampling of the patch), DWI intensity scale/shift, gamma and
//! noise, ADC dropout (so the model also works on DWI-only studies), and simulated thick
//! slices.

use crate::data::Case;
use ndarray::{Array3, Array4, Axis};
use rand::Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};
use strokeseg_core::sample_trilinear;

/// Patch sampling settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PatchConfig {
    /// Patch size [D, H, W].
    pub size: [usize; 3],
    /// Share of patches centred on a lesion (when the case has one).
    pub lesion_fraction: f64,
    /// Apply augmentation.
    pub augment: bool,
    /// Probability of zeroing the ADC channel.
    pub adc_dropout: f64,
    /// Share of the patches not centred on a lesion that are centred on a hard negative
    /// ([`crate::data::Case::hard_voxels`]); the rest on a random brain voxel. 0 in configs
    /// written before it existed.
    #[serde(default)]
    pub hard_negative_fraction: f64,
    /// Draw hard negatives level by level: the brain's axial extent is cut into this many
    /// slabs, a slab holding hard negatives is drawn uniformly, then one of its hard negatives.
    /// Bright normal tissue piles up at the skull base (susceptibility) on real DWI, 2–6× its
    /// share of the brain, so voxel-by-voxel drawing teaches "bright low in the head is normal"
    /// more often than any lesion there is shown. 0 (configs written before it existed) draws
    /// voxel by voxel.
    #[serde(default)]
    pub hard_negative_levels: usize,
    /// Share of the lesion-centred patches whose centre is drawn lesion by lesion (a connected
    /// component uniformly, then one of its voxels, [`crate::data::Case::lesion_components`])
    /// rather than voxel by voxel, so a lesion of a few voxels is centred as often as a large
    /// infarct beside it. 0 in configs written before it existed.
    #[serde(default)]
    pub component_share: f64,
    /// Train on peak-normalised labels ([`crate::lesions::peak_normalise`]): a lesion too
    /// small to fill one voxel of the working grid is still a lesion at its centre. Applied to
    /// training cases, not validation cases. Off in configs written before it existed.
    #[serde(default)]
    pub peak_labels: bool,
    /// Largest amplitude of a smooth random intensity field on the DWI channel (coil shading:
    /// intensity × f with |ln f| up to this, a different field per patch; see [`bias_field`]).
    /// Real scanners shade the brain differently, which a z-scored DWI shows as bright or dark
    /// regions with normal ADC. 0 (configs written before it existed) adds none.
    #[serde(default)]
    pub bias_field: f64,
    /// Low-SNR augmentation: on half the patches, acquisition noise with a relative size (to
    /// the brain's mean DWI signal) drawn up to this, added to the DWI and carried into the ADC
    /// computed from it ([`low_snr`]). 0.2 is about a b0 SNR of 6 at b1000. 0 (configs written
    /// before it existed) adds none.
    #[serde(default)]
    pub low_snr: f64,
}

/// DWI z-score (the model's normalised DWI channel) from which normal tissue counts as a hard
/// negative: two standard deviations above the brain mean, where infarcts also sit.
pub const HARD_NEGATIVE_Z: f32 = 2.0;

impl Default for PatchConfig {
    fn default() -> Self {
        PatchConfig {
            size: [16, 64, 64],
            lesion_fraction: 0.4,
            augment: true,
            adc_dropout: 0.2,
            hard_negative_fraction: 0.0,
            hard_negative_levels: 0,
            component_share: 0.0,
            peak_labels: false,
            bias_field: 0.0,
            low_snr: 0.0,
        }
    }
}

/// Draws one (input [C, d, h, w], target [d, h, w]) pair from `case`.
pub fn sample_patch<R: Rng>(
    rng: &mut R,
    case: &Case,
    cfg: &PatchConfig,
) -> (Array4<f32>, Array3<f32>) {
    let centre = patch_centre(rng, case, cfg);
    sample_patch_at(rng, case, cfg, centre)
}

/// A patch centred near voxel `v` of `case` ([d, h, w]), with the hard negatives' jitter (an
/// eighth of the patch each way), augmented as every patch is: for centres chosen outside the
/// sampler ([`crate::mining`]).
pub fn sample_patch_near<R: Rng>(
    rng: &mut R,
    case: &Case,
    cfg: &PatchConfig,
    v: [usize; 3],
) -> (Array4<f32>, Array3<f32>) {
    let centre = jittered(rng, v, cfg.size, 8.0);
    sample_patch_at(rng, case, cfg, centre)
}

/// `v` moved by up to a `1/div` of the patch size each way.
fn jittered<R: Rng>(rng: &mut R, v: [usize; 3], size: [usize; 3], div: f64) -> [f64; 3] {
    let [pd, ph, pw] = size.map(|s| s as f64 / div);
    [
        v[0] as f64 + rng.random_range(-pd..=pd),
        v[1] as f64 + rng.random_range(-ph..=ph),
        v[2] as f64 + rng.random_range(-pw..=pw),
    ]
}

/// The patch around `centre` ([d, h, w] on the case's grid), augmented.
fn sample_patch_at<R: Rng>(
    rng: &mut R,
    case: &Case,
    cfg: &PatchConfig,
    centre: [f64; 3],
) -> (Array4<f32>, Array3<f32>) {
    let (nc, _, _, _) = case.input.dim();
    let [pd, ph, pw] = cfg.size;
    let (angle, scale, flip) = if cfg.augment {
        (
            rng.random_range(-15.0f64..15.0).to_radians(),
            rng.random_range(0.85..1.15),
            rng.random_bool(0.5),
        )
    } else {
        (0.0, 1.0, false)
    };
    let (s, c) = angle.sin_cos();
    let mut input = Array4::<f32>::zeros((nc, pd, ph, pw));
    let mut target = Array3::<f32>::zeros((pd, ph, pw));
    let views: Vec<_> = (0..nc)
        .map(|ch| case.input.index_axis(Axis(0), ch))
        .collect();
    let lab = case.label.view();
    for a in 0..pd {
        let z = centre[0] + (a as f64 - (pd as f64 - 1.0) / 2.0);
        for b in 0..ph {
            let dy = (b as f64 - (ph as f64 - 1.0) / 2.0) * scale;
            for e in 0..pw {
                let mut dx = (e as f64 - (pw as f64 - 1.0) / 2.0) * scale;
                if flip {
                    dx = -dx;
                }
                let y = centre[1] + c * dy - s * dx;
                let x = centre[2] + s * dy + c * dx;
                for (ch, v) in views.iter().enumerate() {
                    input[[ch, a, b, e]] = sample_trilinear(v, [z, y, x]);
                }
                target[[a, b, e]] = sample_trilinear(&lab, [z, y, x]);
            }
        }
    }
    if cfg.augment {
        // (no draw when low_snr or bias_field is 0, so older runs sample exactly as before)
        if cfg.low_snr > 0.0 && rng.random_bool(0.5) {
            let r = rng.random_range(0.0..cfg.low_snr) as f32;
            low_snr(rng, &mut input, r);
        }
        if cfg.bias_field > 0.0 {
            bias_field(rng, &mut input, cfg.bias_field);
        }
        augment_intensity(rng, &mut input, cfg.adc_dropout);
    }
    (input, target)
}

/// The centre of the next patch ([d, h, w], on the case's grid): a lesion (voxel by voxel, or
/// lesion by lesion for [`PatchConfig::component_share`]) with jitter, a hard negative, or a
/// brain voxel.
fn patch_centre<R: Rng>(rng: &mut R, case: &Case, cfg: &PatchConfig) -> [f64; 3] {
    let (_, nd, nh, nw) = case.input.dim();
    let by_lesions = cfg.component_share > 0.0 && !case.lesion_components.is_empty();
    let lesion =
        (by_lesions || !case.lesion_voxels.is_empty()) && rng.random_bool(cfg.lesion_fraction);
    // (no draw when component_share is 0, so older runs sample exactly as before)
    let by_component = lesion
        && by_lesions
        && (case.lesion_voxels.is_empty() || rng.random_bool(cfg.component_share.clamp(0.0, 1.0)));
    if lesion {
        let v = if by_component {
            let comp = &case.lesion_components[rng.random_range(0..case.lesion_components.len())];
            comp[rng.random_range(0..comp.len())]
        } else {
            case.lesion_voxels[rng.random_range(0..case.lesion_voxels.len())]
        };
        // jitter so the lesion is not always dead centre
        jittered(rng, v, cfg.size, 4.0)
    } else if cfg.hard_negative_fraction > 0.0
        && !case.hard_voxels.is_empty()
        && rng.random_bool(cfg.hard_negative_fraction.clamp(0.0, 1.0))
    {
        let v = hard_negative(rng, case, cfg.hard_negative_levels);
        // less jitter than for lesions: the bright tissue should stay in the patch
        jittered(rng, v, cfg.size, 8.0)
    } else if !case.brain_voxels.is_empty() {
        let v = case.brain_voxels[rng.random_range(0..case.brain_voxels.len())];
        [v[0] as f64, v[1] as f64, v[2] as f64]
    } else {
        [nd as f64 / 2.0, nh as f64 / 2.0, nw as f64 / 2.0]
    }
}

/// One hard negative of `case` (not empty): voxel by voxel, or level by level when `levels`
/// is above 0 ([`PatchConfig::hard_negative_levels`]).
fn hard_negative<R: Rng>(rng: &mut R, case: &Case, levels: usize) -> [usize; 3] {
    let hard = &case.hard_voxels;
    if levels == 0 {
        return hard[rng.random_range(0..hard.len())];
    }
    // the brain's axial extent (brain voxels are a sub-sample in x-major order; one pass over a
    // few ten thousand entries costs nothing beside a patch's convolutions)
    let (lo, hi) = case
        .brain_voxels
        .iter()
        .fold((usize::MAX, 0), |(lo, hi), v| (lo.min(v[0]), hi.max(v[0])));
    let (lo, hi) = if lo > hi {
        (hard[0][0], hard[hard.len() - 1][0])
    } else {
        (lo, hi)
    };
    // hard voxels are in z-major order ([`crate::data::hard_voxels`]): each slab is a run
    let span = (hi - lo + 1) as f64;
    let bounds: Vec<usize> = (0..=levels)
        .map(|k| {
            let z = lo + (span * k as f64 / levels as f64).round() as usize;
            if k == 0 {
                0
            } else if k == levels {
                hard.len()
            } else {
                hard.partition_point(|v| v[0] < z)
            }
        })
        .collect();
    let slabs: Vec<(usize, usize)> = bounds
        .windows(2)
        .map(|w| (w[0], w[1]))
        .filter(|(a, b)| b > a)
        .collect();
    let (a, b) = slabs[rng.random_range(0..slabs.len())];
    hard[rng.random_range(a..b)]
}

/// Range of the brain's DWI mean over its standard deviation (μ/σ) assumed when a field is put
/// on the z-scored channel: about 4 on b1000 brain DWI, lower with much CSF in the brain mask.
const MEAN_OVER_SD: std::ops::Range<f32> = 2.0..5.0;

/// Puts a smooth random multiplicative field on the DWI channel (channel 0) of a patch, as
/// coil shading does on a real scanner. The field is `f = exp(a · g / max|g|)` with `g` a
/// random quadratic polynomial of the patch coordinates (scaled to −1…1) and `a` drawn in
/// 0…`amplitude`. The channel is a z-score `v = (I − μ)/σ`, so `I·f` becomes
/// `v·f + (μ/σ)(f − 1)`, with μ/σ drawn from [`MEAN_OVER_SD`]. Voxels at exactly 0 (outside the
/// brain) stay 0; the ADC channel is left alone (a ratio of two images, coil shading cancels).
/// Written by hand: the augmentation crates in Rust work on 2-D images, not on a z-scored
/// channel of a 3-D patch.
fn bias_field<R: Rng>(rng: &mut R, input: &mut Array4<f32>, amplitude: f64) {
    let (_, d, h, w) = input.dim();
    let a = rng.random_range(0.0..=amplitude.max(0.0)) as f32;
    let kappa = rng.random_range(MEAN_OVER_SD);
    // coefficients of z, y, x, z², y², x², zy, zx, yx
    let c: [f32; 9] = std::array::from_fn(|_| rng.random_range(-1.0f32..=1.0));
    let unit = |i: usize, n: usize| {
        if n > 1 {
            2.0 * i as f32 / (n - 1) as f32 - 1.0
        } else {
            0.0
        }
    };
    let g = Array3::from_shape_fn((d, h, w), |(k, i, j)| {
        let (z, y, x) = (unit(k, d), unit(i, h), unit(j, w));
        c[0] * z
            + c[1] * y
            + c[2] * x
            + c[3] * z * z
            + c[4] * y * y
            + c[5] * x * x
            + c[6] * z * y
            + c[7] * z * x
            + c[8] * y * x
    });
    let peak = g.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    if peak <= 0.0 || a <= 0.0 {
        return;
    }
    let mut dwi = input.index_axis_mut(Axis(0), 0);
    ndarray::Zip::from(&mut dwi).and(&g).for_each(|v, &g| {
        if *v != 0.0 {
            let f = (a * g / peak).exp();
            *v = *v * f + kappa * (f - 1.0);
        }
    });
}

/// Brain mean over brain SD of a z-scored DWI, used to put noise relative to the mean signal
/// into z units: typical of b800–b1500 trace DWI (dark CSF, brighter grey than white matter).
const DWI_MEAN_OVER_SD: f32 = 3.0;

/// Simulated noisier acquisition of a patch (channels DWI z-scored, ADC in 10⁻³ mm²/s; voxels
/// that are exactly 0 are outside the brain and stay 0): Gaussian noise of relative size `r`
/// on the DWI signal S (S ∝ 1 + z / [`DWI_MEAN_OVER_SD`]), and, where the study has an ADC, the
/// ADC recomputed from the noisy DWI at b = 1000 s/mm² (ADC − ln(S'/S)) plus the b0's own
/// noise (about half the DWI's, relative, as a b1000 tissue signal is about half its b0).
/// The DWI is then divided by the spread the noise adds (√(1 + (r·k)²) for k =
/// [`DWI_MEAN_OVER_SD`]), as `prepare`'s z-score of a noisy study would have. Low-SNR
/// studies are where the network makes speckle-like false lesions with low ADC; augmenting
/// the DWI alone would teach it the wrong pairing.
fn low_snr<R: Rng>(rng: &mut R, input: &mut Array4<f32>, r: f32) {
    if r <= 0.0 {
        return;
    }
    let k = DWI_MEAN_OVER_SD;
    let unit = Normal::new(0.0f32, 1.0).expect("unit normal");
    let has_adc = input.index_axis(Axis(0), 1).iter().any(|&v| v != 0.0);
    let (d, h, w) = (input.dim().1, input.dim().2, input.dim().3);
    for z in 0..d {
        for y in 0..h {
            for x in 0..w {
                let dz = input[[0, z, y, x]];
                if dz == 0.0 {
                    continue;
                }
                let s = (1.0 + dz / k).max(0.05);
                let e = r * unit.sample(rng);
                let s_noisy = (s + e).abs().max(0.01);
                input[[0, z, y, x]] = (s_noisy - 1.0) * k;
                if has_adc {
                    let a = input[[1, z, y, x]];
                    if a != 0.0 {
                        let e0 = 0.5 * r * unit.sample(rng);
                        let a2 = a - (s_noisy / s).ln() + (1.0 + e0).max(0.05).ln();
                        input[[1, z, y, x]] = a2.clamp(0.0, 4.0);
                    }
                }
            }
        }
    }
    // the noise widens the brain's spread; prepare() would have z-scored the noisy image
    let grow = (1.0 + (r * k) * (r * k)).sqrt();
    input
        .index_axis_mut(Axis(0), 0)
        .mapv_inplace(|v| if v == 0.0 { 0.0 } else { v / grow });
}

/// Index of the mirrored-DWI input channel in plans that have it.
const MIRRORED_DWI: usize = 2;

fn augment_intensity<R: Rng>(rng: &mut R, input: &mut Array4<f32>, adc_dropout: f64) {
    let (k, sh) = (
        rng.random_range(0.85f32..1.15),
        rng.random_range(-0.15f32..0.15),
    );
    let gamma = rng.random_range(0.8f32..1.25);
    let sigma = rng.random_range(0.0f32..0.1);
    let noise = Normal::new(0.0f32, sigma.max(1e-6)).expect("sigma");
    // the DWI, and the mirrored DWI of a plan with a mirror channel (channel 2): the same
    // contrast change on both, so the network compares like with like
    let nc = input.dim().0;
    for ch in [0, MIRRORED_DWI].into_iter().filter(|&c| c < nc) {
        let mut dwi = input.index_axis_mut(Axis(0), ch);
        for v in &mut dwi {
            if *v != 0.0 {
                let g = v.signum() * v.abs().powf(gamma);
                *v = g * k + sh + noise.sample(rng);
            }
        }
    }
    if rng.random_bool(adc_dropout) {
        input.index_axis_mut(Axis(0), 1).fill(0.0);
    } else {
        let ka = rng.random_range(0.95f32..1.05);
        input.index_axis_mut(Axis(0), 1).mapv_inplace(|v| v * ka);
    }
    if rng.random_bool(0.2) {
        // simulated thicker slices: blur along D with [1/4, 1/2, 1/4]
        let src = input.clone();
        let d = input.dim().1;
        for ch in 0..input.dim().0 {
            for z in 0..d {
                let (zm, zp) = (z.saturating_sub(1), (z + 1).min(d - 1));
                let mut out = input.index_axis_mut(Axis(0), ch);
                let mut slice = out.index_axis_mut(Axis(0), z);
                let a = src.index_axis(Axis(0), ch);
                ndarray::Zip::from(&mut slice)
                    .and(a.index_axis(Axis(0), zm))
                    .and(a.index_axis(Axis(0), z))
                    .and(a.index_axis(Axis(0), zp))
                    .for_each(|o, &p, &q, &r| *o = 0.25 * p + 0.5 * q + 0.25 * r);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn case() -> Case {
        let mut input = Array4::<f32>::zeros((2, 20, 80, 80));
        let mut label = Array3::<f32>::zeros((20, 80, 80));
        for ((z, y, x), l) in label.indexed_iter_mut() {
            let r2 = (z as f64 - 10.0).powi(2) * 6.0
                + (y as f64 - 30.0).powi(2)
                + (x as f64 - 50.0).powi(2);
            input[[0, z, y, x]] = 1.0;
            input[[1, z, y, x]] = 0.8;
            if r2 < 16.0 {
                *l = 1.0;
                input[[0, z, y, x]] = 3.0;
                input[[1, z, y, x]] = 0.4;
            }
        }
        let lesion_voxels: Vec<[usize; 3]> = label
            .indexed_iter()
            .filter(|(_, &v)| v >= 0.5)
            .map(|((a, b, c), _)| [a, b, c])
            .collect();
        let brain_voxels = vec![[10, 40, 40], [5, 20, 60]];
        let hard_voxels = crate::data::hard_voxels(&input, &label);
        let lesion_components = vec![lesion_voxels.clone()];
        Case {
            id: "t".into(),
            site: "s".into(),
            input,
            label,
            lesion_voxels,
            lesion_components,
            brain_voxels,
            hard_voxels,
            has_lesion: true,
        }
    }

    /// `case()` with a second lesion far from the first: one voxel a fifth filled, below the
    /// voxel-by-voxel centre threshold.
    fn case_with_tiny_lesion(peak_labels: bool) -> Case {
        let mut c = case();
        c.label[[4, 66, 12]] = 0.2;
        if peak_labels {
            c.use_peak_labels();
        } else {
            c.index_lesions_for_test();
        }
        c
    }

    /// Share of `n` lesion-centred patches centred on the tiny lesion (within the jitter).
    fn tiny_share(c: &Case, component_share: f64, n: usize) -> f64 {
        let cfg = PatchConfig {
            lesion_fraction: 1.0,
            component_share,
            ..Default::default()
        };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let hits = (0..n)
            .filter(|_| {
                let p = patch_centre(&mut rng, c, &cfg);
                (p[0] - 4.0).abs() <= 4.0
                    && (p[1] - 66.0).abs() <= 16.0
                    && (p[2] - 12.0).abs() <= 16.0
            })
            .count();
        hits as f64 / n as f64
    }

    #[test]
    fn lesion_by_lesion_sampling_centres_tiny_lesions_as_often_as_large_ones() {
        let c = case_with_tiny_lesion(false);
        assert_eq!(c.lesion_components.len(), 2);
        // components come in scan order: the tiny lesion (slice 4) first
        assert_eq!(c.lesion_components[0], vec![[4, 66, 12]]);
        assert!(!c.lesion_voxels.contains(&[4, 66, 12]));
        // voxel by voxel the tiny lesion is never a centre
        assert_eq!(tiny_share(&c, 0.0, 100), 0.0);
        // lesion by lesion it is half of them
        let share = tiny_share(&c, 1.0, 400);
        assert!((0.4..0.6).contains(&share), "{share}");
        // half and half: a quarter
        let share = tiny_share(&c, 0.5, 400);
        assert!((0.15..0.35).contains(&share), "{share}");
    }

    #[test]
    fn peak_labels_make_a_tiny_lesion_a_full_lesion_at_its_centre() {
        let c = case_with_tiny_lesion(true);
        assert_eq!(c.label[[4, 66, 12]], 1.0);
        assert_eq!(c.label[[10, 30, 50]], 1.0, "the large lesion is unchanged");
        assert!(c.lesion_voxels.contains(&[4, 66, 12]));
        let plain = case_with_tiny_lesion(false);
        assert_eq!(plain.label[[4, 66, 12]], 0.2, "fractions unless asked");
    }

    #[test]
    fn hard_negative_patches_are_centred_on_bright_normal_tissue() {
        let mut c = case();
        // a bright normal blob far from the lesion (as the cerebellum looks on real DWI)
        let (_, nd, nh, nw) = c.input.dim();
        for z in 0..nd {
            for y in 0..nh {
                for x in 0..nw {
                    let r2 = (z as f64 - 12.0).powi(2)
                        + (y as f64 - 66.0).powi(2)
                        + (x as f64 - 12.0).powi(2);
                    if r2 < 9.0 {
                        c.input[[0, z, y, x]] = 2.5;
                    }
                }
            }
        }
        c.hard_voxels = crate::data::hard_voxels(&c.input, &c.label);
        assert!(!c.hard_voxels.is_empty());
        assert!(
            c.hard_voxels.iter().all(|v| c.label[*v] == 0.0),
            "a hard negative inside the lesion"
        );
        assert!(
            c.hard_voxels.iter().any(|v| v[1] > 60 && v[2] < 20),
            "the bright blob is not a hard negative"
        );
        let cfg = PatchConfig {
            augment: false,
            lesion_fraction: 0.0,
            hard_negative_fraction: 1.0,
            ..Default::default()
        };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        for _ in 0..10 {
            let (x, _) = sample_patch(&mut rng, &c, &cfg);
            // the blob (not the lesion, which is brighter) is near the patch centre
            let centre = x.slice(ndarray::s![0, 4..12, 16..48, 16..48]);
            assert!(
                centre.iter().any(|&v| (v - 2.5).abs() < 0.3),
                "hard-negative patch without bright tissue"
            );
        }
        // with the share at 0 no random draw is spent on it: sampling is as before
        let cfg0 = PatchConfig {
            hard_negative_fraction: 0.0,
            ..cfg.clone()
        };
        let (mut r1, mut r2) = (
            rand_chacha::ChaCha8Rng::seed_from_u64(3),
            rand_chacha::ChaCha8Rng::seed_from_u64(3),
        );
        let mut none = c.clone();
        none.hard_voxels.clear();
        assert_eq!(
            sample_patch(&mut r1, &c, &cfg0).0,
            sample_patch(&mut r2, &none, &cfg0).0
        );
    }

    #[test]
    fn hard_negatives_level_by_level_give_every_level_its_share() {
        let mut c = case();
        // the brain spans slices 0..=19; a large bright band at the bottom (skull base) and a
        // small bright spot high up (cortex)
        c.brain_voxels = vec![[0, 40, 40], [19, 40, 40]];
        for z in 0..3 {
            for y in 10..70 {
                for x in 10..70 {
                    c.input[[0, z, y, x]] = 2.5;
                }
            }
        }
        for y in 60..63 {
            for x in 10..13 {
                c.input[[0, 17, y, x]] = 2.5;
            }
        }
        c.hard_voxels = crate::data::hard_voxels(&c.input, &c.label);
        let high = |v: &[usize; 3]| v[0] >= 15;
        let n = 2000;
        let share = |levels: usize| {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
            (0..n)
                .filter(|_| high(&hard_negative(&mut rng, &c, levels)))
                .count() as f64
                / n as f64
        };
        // voxel by voxel the spot is a sliver of the draws
        let plain = share(0);
        let expected =
            c.hard_voxels.iter().filter(|v| high(v)).count() as f64 / c.hard_voxels.len() as f64;
        assert!(
            plain < 0.02 && (plain - expected).abs() < 0.01,
            "{plain} {expected}"
        );
        // four levels: the band fills the lowest, the lesion (z 9..11, bright) is not a hard
        // negative, the spot fills the highest; two slabs hold hard negatives: half each
        let levelled = share(4);
        assert!((0.45..0.55).contains(&levelled), "{levelled}");
        // every draw is a hard negative
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for _ in 0..100 {
            assert!(c.hard_voxels.contains(&hard_negative(&mut rng, &c, 4)));
        }
    }

    #[test]
    fn low_snr_noise_reaches_the_adc_through_the_dwi_and_spares_the_background() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let patch = |adc: f32| {
            let mut x = Array4::<f32>::from_elem((2, 8, 32, 32), 0.5);
            x.index_axis_mut(Axis(0), 1).fill(adc);
            x[[0, 0, 0, 0]] = 0.0; // background in both channels
            x[[1, 0, 0, 0]] = 0.0;
            x
        };
        let mut same = patch(0.8);
        low_snr(&mut rng, &mut same, 0.0);
        assert_eq!(same, patch(0.8));
        let r = 0.2f32;
        let mut x = patch(0.8);
        low_snr(&mut rng, &mut x, r);
        assert_eq!((x[[0, 0, 0, 0]], x[[1, 0, 0, 0]]), (0.0, 0.0));
        let dwi: Vec<f32> = x.index_axis(Axis(0), 0).iter().skip(1).copied().collect();
        let adc: Vec<f32> = x.index_axis(Axis(0), 1).iter().skip(1).copied().collect();
        let n = dwi.len() as f32;
        let mean = |v: &[f32]| v.iter().sum::<f32>() / n;
        let (md, ma) = (mean(&dwi), mean(&adc));
        let sd = |v: &[f32], m: f32| (v.iter().map(|a| (a - m).powi(2)).sum::<f32>() / n).sqrt();
        let (sdd, sda) = (sd(&dwi, md), sd(&adc, ma));
        // DWI: relative noise r on S = 1 + z/3, in z units r·3, then rescaled by the spread
        let k = DWI_MEAN_OVER_SD;
        let want = r * k / (1.0 + (r * k).powi(2)).sqrt();
        assert!((sdd - want).abs() < 0.05 * want, "{sdd} {want}");
        // ADC: noisy where the DWI is, and lower where the noise made the DWI brighter
        assert!(sda > 0.05, "{sda}");
        let cov = dwi
            .iter()
            .zip(&adc)
            .map(|(d, a)| (d - md) * (a - ma))
            .sum::<f32>()
            / n;
        assert!(
            cov / (sdd * sda) < -0.7,
            "correlation {}",
            cov / (sdd * sda)
        );
        assert!(adc.iter().all(|&a| (0.0..=4.0).contains(&a)));
        // a study without an ADC keeps an empty ADC channel
        let mut none = patch(0.0);
        low_snr(&mut rng, &mut none, r);
        assert!(none.index_axis(Axis(0), 1).iter().all(|&a| a == 0.0));
    }

    #[test]
    fn a_bias_field_shades_dwi_smoothly_and_leaves_adc_and_background_alone() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(15);
        let amplitude = 0.3f64;
        for _ in 0..20 {
            let mut x = Array4::<f32>::from_elem((2, 8, 32, 32), 1.0);
            x[[0, 0, 0, 0]] = 0.0; // background
            bias_field(&mut rng, &mut x, amplitude);
            assert_eq!(x[[0, 0, 0, 0]], 0.0);
            assert!(x.index_axis(Axis(0), 1).iter().all(|&v| v == 1.0));
            // v·f + κ(f − 1) with v = 1, f within e^±a, κ within 2…5
            let (lo, hi) = ((-amplitude).exp() as f32, amplitude.exp() as f32);
            let dwi = x.index_axis(Axis(0), 0);
            for &v in dwi.iter().skip(1) {
                assert!(v >= lo + 5.0 * (lo - 1.0) - 1e-4 && v <= hi + 5.0 * (hi - 1.0) + 1e-4);
            }
            // smooth: neighbours differ far less than the field's range
            for k in 0..8 {
                for i in 0..32 {
                    for j in 1..32 {
                        if (i, j) != (0, 1) || k > 0 {
                            let step = (dwi[[k, i, j]] - dwi[[k, i, j - 1]]).abs();
                            assert!(step < 0.2, "step {step}");
                        }
                    }
                }
            }
        }
        // it does vary across the patch (not one global factor)
        let mut x = Array4::<f32>::from_elem((2, 8, 32, 32), 1.0);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(16);
        bias_field(&mut rng, &mut x, 0.5);
        let dwi = x.index_axis(Axis(0), 0);
        let (mn, mx) = dwi
            .iter()
            .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
        assert!(mx - mn > 0.01, "{mn}..{mx}");
    }

    #[test]
    fn lesion_centred_patches_hold_lesion_and_labels_follow_the_image() {
        let c = case();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let cfg = PatchConfig {
            lesion_fraction: 1.0,
            ..Default::default()
        };
        for _ in 0..20 {
            let (x, y) = sample_patch(&mut rng, &c, &cfg);
            assert_eq!(x.dim(), (2, 16, 64, 64));
            assert!(
                y.iter().any(|&v| v > 0.5),
                "lesion-centred patch without lesion"
            );
            // where the label is 1 the ADC is low (unless dropped out) — labels move with images
            let adc_in: Vec<f32> = y
                .indexed_iter()
                .filter(|(_, &v)| v > 0.99)
                .map(|((a, b, e), _)| x[[1, a, b, e]])
                .collect();
            if adc_in.iter().any(|&a| a > 0.0) {
                assert!(adc_in.iter().all(|&a| a < 0.65), "{adc_in:?}"); // 0.4 lesion vs 0.8 normal, after scaling and slice blur
            }
        }
        let cfg = PatchConfig {
            augment: false,
            lesion_fraction: 0.0,
            ..Default::default()
        };
        let (x, _) = sample_patch(&mut rng, &c, &cfg);
        assert!(x
            .index_axis(Axis(0), 1)
            .iter()
            .any(|&a| (a - 0.8).abs() < 1e-6));
    }

    #[test]
    fn the_mirrored_dwi_gets_the_dwi_contrast_change() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        for _ in 0..10 {
            let mut x = Array4::<f32>::zeros((3, 4, 8, 8));
            for ((c, z, y, w), v) in x.indexed_iter_mut() {
                let t = ((z * 64 + y * 8 + w) as f32 / 256.0) * 4.0 - 1.0;
                *v = if c == 1 { 0.8 } else { t };
            }
            augment_intensity(&mut rng, &mut x, 0.0);
            let (d, m) = (x.index_axis(Axis(0), 0), x.index_axis(Axis(0), 2));
            let n = d.len() as f32;
            let mean_diff = d.iter().zip(m.iter()).map(|(a, b)| a - b).sum::<f32>() / n;
            let spread = d
                .iter()
                .zip(m.iter())
                .map(|(a, b)| (a - b).abs())
                .sum::<f32>()
                / n;
            // the same gamma, gain and shift; only the independent noise (σ ≤ 0.1) differs
            assert!(
                mean_diff.abs() < 0.05 && spread < 0.2,
                "{mean_diff} {spread}"
            );
        }
    }
}
