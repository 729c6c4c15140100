//! Forward times of the fast path and burn's on the shipped model (no assertions; the
//! benchmark proper is `strokeseg bench`):
//!
//! ```sh
//! cargo run --release -p strokeseg-fastnet --example fastnet_speed [-- D H W [REPEATS]]
//! ```
//!
//! With `FAST_ONLY=1` it times only the fast path and also prints its CPU seconds per forward
//! (all threads; the figure to compare on a busy machine).
use std::time::Instant;

use ndarray::Array5;
use strokeseg_fastnet::FastUNet;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// CPU seconds (user + system, all threads) of this process so far, from /proc (Linux); the
/// load-robust figure on a busy machine.
fn cpu_secs() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let f: Vec<&str> = s
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (tick(11) + tick(12)) / 100.0
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let dhw = if args.len() >= 3 {
        [args[0], args[1], args[2]]
    } else {
        [32, 64, 64]
    };
    let repeats = args.get(3).copied().unwrap_or(5);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/synth-v1");
    let (model, cfg) = strokeseg_model::load(&dir, &strokeseg_model::cpu_device()).unwrap();
    let x = Array5::from_shape_fn(
        (1, cfg.in_channels, dhw[0], dhw[1], dhw[2]),
        |(_, c, z, y, x)| ((c * 7 + z * 3 + y * 5 + x) % 11) as f32 / 5.0 - 1.0,
    );
    let fast = FastUNet::new(&model, &cfg).unwrap();
    let time = |f: &dyn Fn()| {
        f();
        median(
            (0..repeats)
                .map(|_| {
                    let t = Instant::now();
                    f();
                    t.elapsed().as_secs_f64()
                })
                .collect(),
        )
    };
    let c0 = cpu_secs();
    let tf = time(&|| {
        std::hint::black_box(fast.logits(&x).unwrap());
    });
    let cpu_f = (cpu_secs() - c0) / (repeats + 1) as f64;
    if std::env::var_os("FAST_ONLY").is_some() {
        println!("{dhw:?}: fast {tf:.3} s, {cpu_f:.3} CPU s per forward");
        return;
    }
    let tb = time(&|| {
        std::hint::black_box(strokeseg_model::logits(&model, &x));
    });
    let gf = cfg.flops(dhw[0], dhw[1], dhw[2]) / 1e9;
    println!(
        "{dhw:?}: fast {tf:.3} s ({:.1} GFLOP/s), burn {tb:.3} s ({:.1} GFLOP/s), fast/burn {:.2}, threads {}",
        gf / tf, gf / tb, tf / tb, rayon::current_num_threads()
    );
}
