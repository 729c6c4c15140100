//! The libtorch backend against flex: the same weights give the same logits, training steps
//! agree and lower the loss, and weights saved on one device load on the other.
//!
//! Built only with the `tch` feature (never in CI); needs PyTorch's libtorch, see
//! tools/setup-tch.sh. Runs on libtorch's CPU device, and on CUDA device 0 when libtorch sees
//! one (printing "SKIPPED: ..." for the CUDA part otherwise):
//! `cargo test --release -p strokeseg -p strokeseg-model --features strokeseg/tch --test tch --
//! --nocapture` (with `-p strokeseg` the features match the binary's build: no burn rebuild).
#![cfg(feature = "tch")]

use ndarray::Array5;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use strokeseg_model::{cpu_device, load, logits, save, DeviceChoice, Trainer, UNet3dConfig};

/// Largest |a − b| over the largest |a|: the agreement measure of docs/BENCHMARKS.md.
fn relative_diff(a: &Array5<f32>, b: &Array5<f32>) -> f32 {
    assert_eq!(a.shape(), b.shape());
    let scale = a.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let diff = a
        .iter()
        .zip(b.iter())
        .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
    assert!(scale > 0.0, "all-zero logits prove nothing");
    diff / scale
}

fn random_input(shape: [usize; 5], seed: u64) -> Array5<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array5::from_shape_fn(shape, |_| rng.random_range(-1.0f32..1.0))
}

/// A bright ellipsoid on noise: target 1 inside it.
fn blob_case(seed: u64) -> (Array5<f32>, Array5<f32>) {
    let mut input = random_input([1, 2, 8, 32, 32], seed);
    input.mapv_inplace(|v| 0.2 * v);
    let mut target = Array5::<f32>::zeros((1, 1, 8, 32, 32));
    for ((_, _, z, y, x), t) in target.indexed_iter_mut() {
        let r = ((z as f32 - 3.5) / 2.5).powi(2)
            + ((y as f32 - 12.0) / 6.0).powi(2)
            + ((x as f32 - 18.0) / 5.0).powi(2);
        if r <= 1.0 {
            *t = 1.0;
            input[[0, 0, z, y, x]] += 1.0;
            input[[0, 1, z, y, x]] -= 0.5;
        }
    }
    (input, target)
}

fn config() -> UNet3dConfig {
    UNet3dConfig::new()
        .with_base_channels(8)
        .with_depth(3)
        .with_anisotropic_levels(1)
        .with_seed(3)
}

/// The libtorch devices to check: CPU always, CUDA 0 when libtorch sees a GPU.
fn libtorch_devices() -> Vec<DeviceChoice> {
    let mut out = vec![DeviceChoice::LibTorchCpu];
    match DeviceChoice::Cuda(0).device() {
        Ok(_) => out.push(DeviceChoice::Cuda(0)),
        Err(e) => println!("SKIPPED: the CUDA half of this test: {e}"),
    }
    out
}

#[test]
fn same_weights_give_the_same_logits_and_load_across_devices() {
    let config = config();
    let input = random_input([1, 2, 8, 32, 32], 5);
    let flex_model = config.init(&cpu_device());
    let flex_logits = logits(&flex_model, &input);
    let dir = tempfile::tempdir().unwrap();
    save(&flex_model, &config, dir.path()).unwrap();
    for choice in libtorch_devices() {
        let device = choice.device().unwrap();
        // Saved on flex, loaded on libtorch.
        let (torch_model, _) = load(dir.path(), &device).unwrap();
        let torch_logits = logits(&torch_model, &input);
        let rel = relative_diff(&flex_logits, &torch_logits);
        println!("{choice}: max |Δlogit| / max |logit| vs flex = {rel:.2e}");
        assert!(rel <= 1e-4, "{choice}: {rel:.2e}");
        // Saved on libtorch, loaded back on flex: bit-identical weights, so identical logits.
        let back = tempfile::tempdir().unwrap();
        save(&torch_model, &config, back.path()).unwrap();
        let (again, _) = load(back.path(), &cpu_device()).unwrap();
        assert_eq!(logits(&again, &input), flex_logits, "{choice} → flex");
    }
}

#[test]
fn training_steps_agree_with_flex_and_lower_the_loss() {
    let config = config();
    let (input, target) = blob_case(7);
    let steps = 12;
    let run = |device| {
        let mut trainer = Trainer::new(&config, &device);
        let losses: Vec<f32> = (0..steps)
            .map(|_| trainer.step(input.clone(), target.clone(), 3e-3))
            .collect();
        (losses, trainer.model())
    };
    let (flex_losses, _) = run(cpu_device());
    for choice in libtorch_devices() {
        let (losses, model) = run(choice.device().unwrap());
        println!("{choice}: losses {losses:?}\n flex: losses {flex_losses:?}");
        let (first, last) = (losses[0], losses[steps - 1]);
        assert!(last < 0.8 * first, "{choice}: loss {first} → {last}");
        // Same initial weights and data: the first loss agrees closely; later ones drift only
        // by accumulated rounding.
        assert!(
            (first - flex_losses[0]).abs() <= 1e-4 * flex_losses[0].abs(),
            "{choice}: first loss {first} vs flex {}",
            flex_losses[0]
        );
        let drift = (last - flex_losses[steps - 1]).abs() / flex_losses[steps - 1].abs();
        assert!(
            drift <= 1e-2,
            "{choice}: last loss {last} vs flex {}",
            flex_losses[steps - 1]
        );
        // The trained weights save on libtorch and load on flex with the same outputs.
        let dir = tempfile::tempdir().unwrap();
        save(&model, &config, dir.path()).unwrap();
        let (on_flex, _) = load(dir.path(), &cpu_device()).unwrap();
        let rel = relative_diff(&logits(&model, &input), &logits(&on_flex, &input));
        assert!(rel <= 1e-4, "{choice} → flex after training: {rel:.2e}");
    }
}
