//! Sliding-window inference: tile a prepared volume into overlapping windows, run the model on
//! each, and blend the windows' probabilities with a Gaussian importance map (centre voxels
//! count more than window edges, as in nnU-Net); optional mirror test-time augmentation.
//!
//! Owns: tiling, blending, TTA; the model folder's plan ([`Plan`], `plan.json`: what turns a
//! study into network input and back) and the one place the sliding-window settings live
//! ([`predict_volume_with`]). Must not touch: the network's internals (burn's forward is
//! called through `strokeseg_model::predict`, other engines hand in a closure) or training
//! (inference never depends on `strokeseg-train`).
#![warn(missing_docs)]

pub mod plan;
mod predict;

pub use plan::{Plan, SpacingPlan, PLAN_FILE};
pub use predict::{predict_volume, predict_volume_with};

use ndarray::{s, Array3, Array4, Array5, Axis};

/// Sliding-window settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowConfig {
    /// Window size [D, H, W] (clipped to the input where the input is smaller).
    pub window: [usize; 3],
    /// Overlap between neighbouring windows, 0–0.9 (0.5 = half a window).
    pub overlap: f64,
    /// Average over the 8 mirrorings of the three axes.
    pub mirror_tta: bool,
}

impl Default for WindowConfig {
    fn default() -> Self {
        WindowConfig {
            window: [32, 128, 128],
            overlap: 0.5,
            mirror_tta: false,
        }
    }
}

/// Start positions along one axis so that windows of `win` cover `n` with the overlap.
#[must_use]
pub fn starts(n: usize, win: usize, overlap: f64) -> Vec<usize> {
    if win >= n {
        return vec![0];
    }
    let step = ((win as f64) * (1.0 - overlap.clamp(0.0, 0.9))).max(1.0);
    let count = (((n - win) as f64) / step).ceil() as usize + 1;
    (0..count)
        .map(|c| ((n - win) as f64 * c as f64 / (count - 1) as f64).round() as usize)
        .collect()
}

/// Gaussian importance map over a window (sigma = 1/8 of the window per axis), scaled to a
/// maximum of 1 and floored at a small positive value so no voxel has zero weight.
#[must_use]
pub fn gaussian_map(win: [usize; 3]) -> Array3<f32> {
    let g = |n: usize| -> Vec<f64> {
        let c = (n as f64 - 1.0) / 2.0;
        let s = (n as f64 / 8.0).max(0.5);
        (0..n)
            .map(|i| (-(i as f64 - c).powi(2) / (2.0 * s * s)).exp())
            .collect()
    };
    let (a, b, c) = (g(win[0]), g(win[1]), g(win[2]));
    let mut m = Array3::from_shape_fn((win[0], win[1], win[2]), |(i, j, k)| {
        (a[i] * b[j] * c[k]) as f32
    });
    let max = m.iter().copied().fold(0.0f32, f32::max);
    m.mapv_inplace(|x| (x / max).max(1e-3));
    m
}

/// Runs `predict` over windows of `input` ([C, D, H, W]) and returns blended probabilities
/// [D, H, W]. `predict` receives one window as [1, C, d, h, w] and returns [1, 1, d, h, w].
pub fn sliding_window(
    input: &Array4<f32>,
    cfg: &WindowConfig,
    predict: &mut dyn FnMut(Array5<f32>) -> Array5<f32>,
) -> Array3<f32> {
    let (_, d, h, w) = input.dim();
    let win = [
        cfg.window[0].min(d),
        cfg.window[1].min(h),
        cfg.window[2].min(w),
    ];
    let imp = gaussian_map(win);
    let mut acc = Array3::<f32>::zeros((d, h, w));
    let mut wsum = Array3::<f32>::zeros((d, h, w));
    let flips: Vec<[bool; 3]> = if cfg.mirror_tta {
        (0..8)
            .map(|m| [m & 1 != 0, m & 2 != 0, m & 4 != 0])
            .collect()
    } else {
        vec![[false; 3]]
    };
    for &z in &starts(d, win[0], cfg.overlap) {
        for &y in &starts(h, win[1], cfg.overlap) {
            for &x in &starts(w, win[2], cfg.overlap) {
                let patch = input
                    .slice(s![.., z..z + win[0], y..y + win[1], x..x + win[2]])
                    .to_owned();
                let mut mean = Array3::<f32>::zeros((win[0], win[1], win[2]));
                for f in &flips {
                    let mut p = patch.clone();
                    for (a, &on) in f.iter().enumerate() {
                        if on {
                            p.invert_axis(Axis(a + 1));
                        }
                    }
                    let batch = p.as_standard_layout().into_owned().insert_axis(Axis(0));
                    let out = predict(batch);
                    let mut prob = out.index_axis_move(Axis(0), 0).index_axis_move(Axis(0), 0);
                    for (a, &on) in f.iter().enumerate() {
                        if on {
                            prob.invert_axis(Axis(a));
                        }
                    }
                    mean += &prob;
                }
                mean /= flips.len() as f32;
                let mut a = acc.slice_mut(s![z..z + win[0], y..y + win[1], x..x + win[2]]);
                a += &(&mean * &imp);
                let mut ws = wsum.slice_mut(s![z..z + win[0], y..y + win[1], x..x + win[2]]);
                ws += &imp;
            }
        }
    }
    acc.zip_mut_with(&wsum, |a, &w| *a /= w.max(1e-6));
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_cover_the_axis_with_overlap() {
        assert_eq!(starts(10, 16, 0.5), vec![0]);
        assert_eq!(starts(16, 16, 0.5), vec![0]);
        let s = starts(100, 32, 0.5);
        assert_eq!(*s.first().unwrap(), 0);
        assert_eq!(*s.last().unwrap(), 68);
        assert!(s.windows(2).all(|w| w[1] - w[0] <= 16));
    }

    #[test]
    fn blending_a_position_independent_model_reproduces_it_exactly() {
        // A "model" that outputs channel 0 itself: blending must return the input everywhere.
        let input = Array4::from_shape_fn((2, 12, 40, 36), |(c, z, y, x)| {
            if c == 0 {
                (z * 7 + y * 3 + x) as f32 / 500.0
            } else {
                0.0
            }
        });
        let mut calls = 0;
        let mut model = |b: Array5<f32>| {
            calls += 1;
            b.slice(s![.., 0..1, .., .., ..]).to_owned()
        };
        let cfg = WindowConfig {
            window: [8, 16, 16],
            overlap: 0.5,
            mirror_tta: true,
        };
        let out = sliding_window(&input, &cfg, &mut model);
        assert!(calls > 8);
        let diff = (&out - &input.index_axis(Axis(0), 0))
            .mapv(f32::abs)
            .iter()
            .copied()
            .fold(0.0f32, f32::max);
        assert!(diff < 1e-5, "{diff}");
    }

    #[test]
    fn centre_weights_dominate() {
        let m = gaussian_map([8, 16, 16]);
        assert!(m[[4, 8, 8]] > 0.9 && m[[0, 0, 0]] < 0.01 && m[[0, 0, 0]] > 0.0);
    }
}
