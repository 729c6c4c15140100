//! Forward and training-step times of the default model on the CPU (flex) device, and the size
//! of its saved weights. Timings only, no assertions:
//!
//! ```sh
//! cargo run --release -p strokeseg-model --example speed [-- D H W]
//! ```

use std::time::{Duration, Instant};

use ndarray::Array5;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use strokeseg_model::{cpu_device, predict, save, Trainer, UNet3dConfig};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("D H W as integers"))
        .collect();
    let [d, h, w] = match args[..] {
        [d, h, w] => [d, h, w],
        _ => [32, 64, 64],
    };
    let device = cpu_device();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let input = Array5::from_shape_fn((1, 2, d, h, w), |_| rng.random_range(-1.0f32..1.0));
    let target = Array5::from_shape_fn((1, 1, d, h, w), |(_, _, z, y, x)| {
        ((z as isize - d as isize / 2).pow(2)
            + (y as isize - h as isize / 2).pow(2)
            + (x as isize - w as isize / 2).pow(2)
            < 64) as u8 as f32
    });

    for config in [UNet3dConfig::new(), UNet3dConfig::new().with_depth(3)] {
        println!(
            "base {} depth {} anisotropic {}: {} params, {:.2} GFLOP/forward at 1×2×{d}×{h}×{w} \
             ({threads} threads)",
            config.base_channels,
            config.depth,
            config.anisotropic_levels,
            config.params(),
            config.flops(d, h, w) / 1e9
        );
        let model = config.init(&device);
        let dir = tempfile::tempdir().expect("temp dir");
        save(&model, &config, dir.path()).expect("save");
        let bytes = std::fs::metadata(dir.path().join("model.bpk"))
            .expect("size")
            .len();
        println!("  saved weights: {:.2} MB", bytes as f64 / 1e6);

        predict(&model, input.clone()); // warm-up
        let fwd: Vec<Duration> = (0..5)
            .map(|_| {
                let t = Instant::now();
                predict(&model, input.clone());
                t.elapsed()
            })
            .collect();
        let f = median(fwd);
        println!(
            "  forward (predict, median of 5): {:.3} s ({:.1} GFLOP/s)",
            f.as_secs_f64(),
            config.flops(d, h, w) / 1e9 / f.as_secs_f64()
        );

        let mut trainer = Trainer::new(&config, &device);
        trainer.step(input.clone(), target.clone(), 1e-3); // warm-up
        let steps: Vec<Duration> = (0..5)
            .map(|_| {
                let t = Instant::now();
                trainer.step(input.clone(), target.clone(), 1e-3);
                t.elapsed()
            })
            .collect();
        println!(
            "  training step (forward + backward + AdamW, median of 5): {:.3} s",
            median(steps).as_secs_f64()
        );
    }
}
