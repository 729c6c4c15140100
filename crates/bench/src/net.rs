//! Our side of the network measurements: forward passes (burn's and the tuned inference path
//! of `strokeseg-fastnet`) and training steps of a [`UNet3d`], with per-phase peak RSS, on
//! deterministic inputs.

use ndarray::Array5;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use strokeseg_model::{logits, Trainer, UNet3d, UNet3dConfig};

use crate::mem::{peak_rss_bytes, reset_peak_rss};
use crate::stats::time_runs;

/// Sets rayon's global pool (used by burn's flex backend and gemm) to `threads` threads, and
/// returns the count in force: the first call in a process wins.
pub fn init_threads(threads: usize) -> usize {
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build_global();
    rayon::current_num_threads()
}

/// Timed runs and the peak RSS while they ran.
#[derive(Debug, Clone)]
pub struct Timed {
    /// Seconds per timed run.
    pub times: Vec<f64>,
    /// Peak RSS of this process during the runs (bytes; includes what was resident before).
    pub peak_rss: u64,
}

/// A deterministic input `[B, C, D, H, W]`, roughly standard-normal like normalised MRI.
#[must_use]
pub fn fixed_input(shape: [usize; 5], seed: u64) -> Array5<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array5::from_shape_simple_fn(shape, || {
        // Sum of three uniforms: cheap, smooth, zero mean, unit-ish variance.
        (0..3).map(|_| rng.random_range(-1.0f32..1.0)).sum::<f32>()
    })
}

/// A target `[B, 1, D, H, W]` with one ball of ones per sample (the "lesion"), centred
/// differently in each sample.
#[must_use]
pub fn fixed_target(shape: [usize; 5]) -> Array5<f32> {
    let [b, _, d, h, w] = shape;
    Array5::from_shape_fn((b, 1, d, h, w), |(s, _, z, y, x)| {
        let c = [
            d as f64 / 2.0,
            h as f64 * (0.3 + 0.4 * s as f64 / b.max(1) as f64),
            w as f64 / 2.0,
        ];
        let r = (h.min(w) as f64 / 6.0).max(1.0);
        let dz = (z as f64 - c[0]) * (h as f64 / d.max(1) as f64);
        let dist = (dz * dz + (y as f64 - c[1]).powi(2) + (x as f64 - c[2]).powi(2)).sqrt();
        f32::from(dist < r)
    })
}

/// Times `repeats` forward passes (logits, after `warmup` untimed ones); returns the timings
/// and the logits.
pub fn forward(
    model: &UNet3d,
    input: &Array5<f32>,
    warmup: usize,
    repeats: usize,
) -> (Timed, Array5<f32>) {
    reset_peak_rss();
    let out = logits(model, input);
    let times = time_runs(warmup, repeats, || {
        std::hint::black_box(logits(model, input));
    });
    (
        Timed {
            times,
            peak_rss: peak_rss_bytes(),
        },
        out,
    )
}

/// Times `repeats` forward passes of the tuned inference path (after `warmup` untimed ones,
/// which also fill its buffer pool); returns the timings and the logits.
///
/// # Errors
/// When the model's weights or the input do not fit the fast path.
pub fn forward_fast(
    model: &UNet3d,
    config: &UNet3dConfig,
    input: &Array5<f32>,
    warmup: usize,
    repeats: usize,
) -> Result<(Timed, Array5<f32>), crate::BenchError> {
    reset_peak_rss();
    let net = strokeseg_fastnet::FastUNet::new(model, config)?;
    let out = net.logits(input)?;
    let times = time_runs(warmup, repeats, || {
        std::hint::black_box(net.logits(input).expect("checked above"));
    });
    Ok((
        Timed {
            times,
            peak_rss: peak_rss_bytes(),
        },
        out,
    ))
}

/// Times training steps (forward + backward + AdamW) of a copy of `model` on one fixed batch;
/// returns the timings and the loss of the first step (before any update).
pub fn train_step(
    model: &UNet3d,
    config: &UNet3dConfig,
    input: &Array5<f32>,
    target: &Array5<f32>,
    lr: f64,
    warmup: usize,
    repeats: usize,
) -> (Timed, f32) {
    let device = strokeseg_model::run_device();
    reset_peak_rss();
    let mut trainer = Trainer::from_model(model.clone(), config, &device);
    let first = trainer.step(input.clone(), target.clone(), lr);
    let times = time_runs(warmup.saturating_sub(1), repeats, || {
        trainer.step(input.clone(), target.clone(), lr);
    });
    (
        Timed {
            times,
            peak_rss: peak_rss_bytes(),
        },
        first,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_deterministic_and_targets_hold_a_ball_per_sample() {
        let s = [2, 2, 4, 16, 16];
        assert_eq!(fixed_input(s, 1), fixed_input(s, 1));
        assert_ne!(fixed_input(s, 1), fixed_input(s, 2));
        let t = fixed_target(s);
        assert_eq!(t.dim(), (2, 1, 4, 16, 16));
        for b in 0..2 {
            let n: f32 = t.index_axis(ndarray::Axis(0), b).sum();
            assert!(n > 0.0 && n < 4.0 * 256.0, "sample {b}: {n}");
        }
    }
}
