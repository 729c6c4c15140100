//! Shapes, parameter counts, loss values, persistence, seeding and a tiny overfitting run.
//! Run with `cargo test --release -p strokeseg-model` (debug 3-D convolutions are slow).

use std::time::Instant;

use burn::module::Module;
use burn::tensor::{Tensor, TensorData};
use ndarray::{Array5, Zip};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use strokeseg_model::{
    bce_with_logits, cpu_device, dice_bce_loss, lesion_masks, lesionwise_dice_loss, load, predict,
    save, soft_dice_loss, to_tensor, ModelError, Trainer, UNet3dConfig,
};

fn cfg(base: usize, depth: usize, aniso: usize) -> UNet3dConfig {
    UNet3dConfig::new()
        .with_base_channels(base)
        .with_depth(depth)
        .with_anisotropic_levels(aniso)
}

fn random_input(shape: [usize; 5], seed: u64) -> Array5<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array5::from_shape_fn(shape, |_| rng.random_range(-1.0f32..1.0))
}

fn t1(values: &[f32]) -> Tensor<1> {
    Tensor::from_data(
        TensorData::new(values.to_vec(), [values.len()]),
        &cpu_device(),
    )
}

fn scalar(t: Tensor<1>) -> f32 {
    t.into_scalar::<f32>()
}

#[test]
fn output_shapes_for_isotropic_and_anisotropic_configs() {
    let device = cpu_device();
    // (config, input [B, C, D, H, W])
    let cases = [
        (cfg(4, 1, 0), [2, 2, 2, 6, 10]),
        (cfg(4, 2, 1), [1, 2, 2, 8, 12]),
        (cfg(4, 3, 1), [1, 2, 4, 16, 8]),
        (cfg(4, 3, 3), [1, 2, 3, 8, 16]), // in-plane only: any D
        (
            cfg(4, 2, 0).with_in_channels(1).with_out_channels(2),
            [1, 1, 4, 4, 8],
        ),
    ];
    for (config, shape) in cases {
        assert_eq!(
            config.size_multiple()[0],
            1 << (config.depth - config.anisotropic_levels)
        );
        let model = config.init(&device);
        let out = predict(&model, random_input(shape, 1));
        let expected = [shape[0], config.out_channels, shape[2], shape[3], shape[4]];
        assert_eq!(out.shape(), &expected[..], "{config:?}");
        assert!(out.iter().all(|p| (0.0..=1.0).contains(p)));
    }
}

#[test]
#[should_panic(expected = "must be a non-zero multiple of [2, 4, 4]")]
fn wrong_input_size_is_refused() {
    let model = cfg(4, 2, 1).init(&cpu_device());
    predict(&model, random_input([1, 2, 3, 8, 8], 1));
}

#[test]
fn params_matches_the_initialised_module() {
    let device = cpu_device();
    for config in [
        cfg(4, 1, 0),
        cfg(4, 2, 1),
        cfg(8, 3, 2).with_in_channels(3).with_out_channels(2),
        cfg(4, 5, 1), // channel cap (8×base) reached
        cfg(16, 3, 1),
        cfg(16, 4, 1),
    ] {
        assert_eq!(
            config.params(),
            config.init(&device).num_params(),
            "{config:?}"
        );
    }
    // Reported numbers for the default family (see the crate docs / report).
    for depth in [3, 4] {
        let c = cfg(16, depth, 1);
        println!(
            "base 16, depth {depth}, 1 anisotropic level: {} params, {:.1} GFLOP at 1×2×32×128×128",
            c.params(),
            c.flops(32, 128, 128) / 1e9
        );
    }
}

#[test]
fn flops_scale_with_voxels_and_match_a_hand_count() {
    let c = cfg(16, 4, 1);
    let f = c.flops(32, 128, 128);
    assert!((c.flops(64, 128, 128) / f - 2.0).abs() < 1e-12);
    // depth 1, isotropic, base 2, in 1, out 1 on 2×2×2 (8 voxels, 1 below):
    // enc0 1→2 k27: 8·(1·2·27 + 2·2·27) + proj 8·1·2; enc1 2→4 stride 2: 1·(2·4·27 + 4·4·27)
    // + proj 1·2·4; up 4→2 k8 at 1 voxel: 4·2·8; dec0 4→2: 8·(4·2·27 + 2·2·27 + 4·2); head 8·2.
    let small = cfg(2, 1, 0).with_in_channels(1);
    let macs = 8 * (54 + 108) + 16 + (216 + 432) + 8 + 64 + 8 * (216 + 108 + 8) + 16;
    assert_eq!(small.flops(2, 2, 2), 2.0 * macs as f64);
}

#[test]
fn loss_is_small_when_right_and_large_when_wrong() {
    let device = cpu_device();
    let target: Vec<f32> = (0..64).map(|i| ((i / 5) % 2) as f32).collect();
    let t = Tensor::<5>::from_data(TensorData::new(target.clone(), [1, 1, 4, 4, 4]), &device);
    let logits = |v: f32| {
        let x: Vec<f32> = target
            .iter()
            .map(|&t| if t > 0.5 { v } else { -v })
            .collect();
        Tensor::<5>::from_data(TensorData::new(x, [1, 1, 4, 4, 4]), &device)
    };
    let perfect = scalar(dice_bce_loss(logits(30.0), t.clone()));
    let unsure = scalar(dice_bce_loss(logits(0.0), t.clone()));
    let wrong = scalar(dice_bce_loss(logits(-30.0), t.clone()));
    println!("loss: perfect {perfect:e}, unsure {unsure}, wrong {wrong}");
    assert!(perfect.abs() < 1e-5, "{perfect}");
    assert!(unsure > 1.0 && unsure < 1.3, "{unsure}"); // 0.5 (Dice) + ln 2 (BCE)
    assert!(wrong > 30.0, "{wrong}"); // BCE ≈ 30, Dice ≈ 1
                                      // Extreme logits stay finite (stable BCE).
    let huge = scalar(dice_bce_loss(logits(-1e4), t));
    assert!(huge.is_finite() && huge > 1e4 - 1.0, "{huge}");
}

#[test]
fn dice_and_bce_match_hand_values() {
    // p = sigmoid(x) = [0.75, 0.5, 0.25, 0.5], t = [1, 1, 0, 0]:
    // Dice = 2·(0.75 + 0.5) / (2.0 + 2.0) = 0.625 → loss 0.375.
    let l3 = 3f32.ln();
    let x = t1(&[l3, 0.0, -l3, 0.0]);
    let t = t1(&[1.0, 1.0, 0.0, 0.0]);
    let dice = scalar(soft_dice_loss(x.clone(), t.clone()));
    assert!((dice - 0.375).abs() < 1e-5, "{dice}");
    // BCE = mean(−ln 0.75, −ln 0.5, −ln 0.75, −ln 0.5).
    let expected = (-(0.75f32.ln()) - 0.5f32.ln()) / 2.0;
    let bce = scalar(bce_with_logits(x, t));
    assert!((bce - expected).abs() < 1e-5, "{bce} vs {expected}");
    // Batch Dice: one sum over both samples, not a mean of per-sample Dice. Sample 0 has no
    // lesion and p = 0.5 everywhere, sample 1 a perfect confident prediction.
    let device = cpu_device();
    let x = Tensor::<5>::from_data(
        TensorData::new(vec![0.0f32, 0.0, 50.0, -50.0], [2, 1, 1, 1, 2]),
        &device,
    );
    let t = Tensor::<5>::from_data(
        TensorData::new(vec![0.0f32, 0.0, 1.0, 0.0], [2, 1, 1, 1, 2]),
        &device,
    );
    // 2·1 / (2 + 1) → loss 1/3 (a per-sample mean would give (1 + 0)/2).
    let dice = scalar(soft_dice_loss(x, t));
    assert!((dice - 1.0 / 3.0).abs() < 1e-5, "{dice}");
}

#[test]
fn lesionwise_dice_weighs_each_lesion_alike_and_matches_hand_values() {
    // One sample of 1 × 1 × 8 voxels: a 4-voxel lesion (0–3) found with p = 0.75 and a
    // 1-voxel lesion (5) missed with p = 0.25; voxels 4, 6, 7 are background at p = 0.25,
    // except voxel 7, which is ignored (target −1).
    let l3 = 3f32.ln();
    let x = [l3, l3, l3, l3, -l3, -l3, -l3, -l3];
    let t = [1.0f32, 1.0, 1.0, 1.0, 0.0, 1.0, 0.0, -1.0];
    let target = Array5::from_shape_vec((1, 1, 1, 1, 8), t.to_vec()).unwrap();
    let lesions = vec![
        (0, vec![[0, 0, 0], [0, 0, 1], [0, 0, 2], [0, 0, 3]]),
        (0, vec![[0, 0, 5]]),
    ];
    let masks = lesion_masks(&target, &lesions);
    // each lesion sees itself and the unignored background (4, 6), not the other lesion
    let m: Vec<Vec<f32>> = masks.iter().map(|m| m.iter().copied().collect()).collect();
    assert_eq!(m[0], [1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.0]);
    assert_eq!(m[1], [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0]);
    let device = cpu_device();
    let xs = to_tensor(
        &Array5::from_shape_vec((1, 1, 1, 1, 8), x.to_vec()).unwrap(),
        &device,
    );
    let ts = to_tensor(&target, &device);
    let ms: Vec<_> = masks.iter().map(|m| to_tensor(m, &device)).collect();
    // lesion 0: 2·3 / (3 + 0.5 + 4) = 0.8; lesion 1: 2·0.25 / (0.75 + 1) = 2/7
    let expected = ((1.0 - 0.8) + (1.0 - 2.0 / 7.0)) / 2.0;
    let got = scalar(lesionwise_dice_loss(xs.clone(), ts.clone(), &ms));
    assert!((got - expected).abs() < 1e-5, "{got} vs {expected}");
    // the batch Dice of the same prediction barely sees the missed voxel: its loss is lower
    let batch = scalar(soft_dice_loss(xs.clone(), ts.clone().clamp_min(0.0)));
    assert!(batch < got, "{batch} vs {got}");
    assert_eq!(scalar(lesionwise_dice_loss(xs, ts, &[])), 0.0);
}

#[test]
fn a_lesionwise_step_trains_and_with_no_lesion_equals_the_plain_step() {
    let device = cpu_device();
    let config = cfg(4, 2, 0);
    let input = random_input([1, 2, 4, 16, 16], 3);
    let mut target = Array5::<f32>::zeros((1, 1, 4, 16, 16));
    target[[0, 0, 2, 8, 8]] = 1.0;
    let (mut a, mut b, mut c) = (
        Trainer::new(&config, &device),
        Trainer::new(&config, &device),
        Trainer::new(&config, &device),
    );
    let la = a.step(input.clone(), target.clone(), 1e-3);
    let lb = b.step_lesionwise(input.clone(), target.clone(), &[], 1.0, 1e-3);
    assert_eq!(la, lb);
    let lc = c.step_lesionwise(input.clone(), target, &[(0, vec![[2, 8, 8]])], 1.0, 1e-3);
    // one lesion of one voxel at p ≈ 0.5 beside 1,023 background voxels adds its own Dice
    assert!(lc > la + 0.5, "{lc} vs {la}");
    let pa = predict(&a.model(), input.clone());
    let pc = predict(&c.model(), input);
    assert!(pa.iter().zip(&pc).any(|(p, q)| (p - q).abs() > 1e-6));
}

#[test]
fn same_seed_same_model_other_seed_other_model() {
    let device = cpu_device();
    let input = random_input([1, 2, 4, 16, 16], 7);
    let c = cfg(4, 2, 1).with_seed(11);
    let a = predict(&c.init(&device), input.clone());
    let b = predict(&c.init(&device), input.clone());
    assert_eq!(a, b, "same seed, different predictions");
    let other = predict(&c.clone().with_seed(12).init(&device), input.clone());
    let diff = Zip::from(&a)
        .and(&other)
        .fold(0f32, |m, x, y| m.max((x - y).abs()));
    assert!(diff > 1e-3, "another seed gave the same model ({diff})");
    // Training on the flex device is deterministic too (same data, same steps).
    let target = input
        .mapv(|v| (v > 0.6) as u8 as f32)
        .slice_move(ndarray::s![.., 0..1, .., .., ..]);
    let trained = || {
        let mut trainer = Trainer::new(&c, &device);
        let losses: Vec<f32> = (0..3)
            .map(|_| trainer.step(input.clone(), target.clone(), 1e-2))
            .collect();
        (losses, predict(&trainer.model(), input.clone()))
    };
    assert_eq!(
        trained(),
        trained(),
        "same seed and data, different training"
    );
}

#[test]
fn save_then_load_gives_identical_predictions() {
    let device = cpu_device();
    let dir = tempfile::tempdir().unwrap();
    let config = cfg(4, 2, 1).with_seed(3);
    // Some training first so the saved weights are not the seeded ones.
    let mut trainer = Trainer::new(&config, &device);
    let input = random_input([1, 2, 4, 16, 16], 5);
    let target = input
        .mapv(|v| (v > 0.5) as u8 as f32)
        .slice_move(ndarray::s![.., 0..1, .., .., ..]);
    for _ in 0..3 {
        trainer.step(input.clone(), target.clone(), 1e-2);
    }
    let model = trainer.model();
    save(&model, &config, dir.path()).unwrap();
    let size = std::fs::metadata(dir.path().join("model.bpk"))
        .unwrap()
        .len();
    assert!(size as usize >= 4 * config.params() && size < 4 * config.params() as u64 + 65536);

    let (loaded, loaded_config) = load(dir.path(), &device).unwrap();
    assert_eq!(loaded_config, config);
    let before = predict(&model, input.clone());
    assert_eq!(before, predict(&loaded, input.clone()));
    assert_ne!(before, predict(&config.init(&device), input));

    // Errors name the file.
    let empty = tempfile::tempdir().unwrap();
    let err = load(empty.path(), &device).unwrap_err();
    assert!(matches!(err, ModelError::Io { .. }) && err.to_string().contains("config.json"));
    std::fs::copy(
        dir.path().join("config.json"),
        empty.path().join("config.json"),
    )
    .unwrap();
    let err = load(empty.path(), &device).unwrap_err().to_string();
    assert!(err.contains("model.bpk"), "{err}");
    std::fs::write(empty.path().join("model.bpk"), b"not a burnpack").unwrap();
    let err = load(empty.path(), &device).unwrap_err().to_string();
    assert!(err.contains("model.bpk"), "{err}");
    // Weights of another architecture do not load.
    save(&cfg(4, 1, 0).init(&device), &cfg(4, 1, 0), empty.path()).unwrap();
    std::fs::copy(
        dir.path().join("config.json"),
        empty.path().join("config.json"),
    )
    .unwrap();
    let err = load(empty.path(), &device).unwrap_err().to_string();
    assert!(err.contains("model.bpk"), "{err}");
    std::fs::write(empty.path().join("config.json"), b"{\"depth\": ").unwrap();
    let err = load(empty.path(), &device).unwrap_err().to_string();
    assert!(err.contains("config.json"), "{err}");
}

/// A synthetic stroke-like case: a bright-DWI / low-ADC ellipsoid (the lesion) and a
/// bright-DWI / high-ADC ellipsoid (a T2 shine-through mimic, not a lesion) in noisy tissue,
/// so the model has to use both channels.
fn blob_case(seed: u64) -> (Array5<f32>, Array5<f32>) {
    let (d, h, w) = (8, 32, 32);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut input = Array5::<f32>::zeros((1, 2, d, h, w));
    let mut target = Array5::<f32>::zeros((1, 1, d, h, w));
    let inside = |z: usize, y: usize, x: usize, c: (f32, f32, f32), r: (f32, f32, f32)| {
        ((z as f32 - c.0) / r.0).powi(2)
            + ((y as f32 - c.1) / r.1).powi(2)
            + ((x as f32 - c.2) / r.2).powi(2)
            <= 1.0
    };
    for z in 0..d {
        for y in 0..h {
            for x in 0..w {
                let lesion = inside(z, y, x, (3.5, 11.0, 19.0), (2.5, 6.0, 5.0));
                let mimic = inside(z, y, x, (4.0, 23.0, 9.0), (2.5, 5.0, 5.0));
                let (dwi, adc) = match (lesion, mimic) {
                    (true, _) => (1.0, 0.45),
                    (false, true) => (1.0, 1.25),
                    _ => (0.35, 0.85),
                };
                input[[0, 0, z, y, x]] = dwi + rng.random_range(-0.2f32..0.2);
                input[[0, 1, z, y, x]] = adc + rng.random_range(-0.2f32..0.2);
                target[[0, 0, z, y, x]] = lesion as u8 as f32;
            }
        }
    }
    (input, target)
}

fn dice(prob: &Array5<f32>, target: &Array5<f32>) -> f32 {
    let (mut inter, mut sum) = (0f32, 0f32);
    Zip::from(prob).and(target).for_each(|&p, &t| {
        let p = (p > 0.5) as u8 as f32;
        inter += p * t;
        sum += p + t;
    });
    2.0 * inter / sum.max(1e-6)
}

#[test]
fn tiny_model_overfits_one_case() {
    let device = cpu_device();
    let config = cfg(8, 2, 1).with_seed(1);
    let (input, target) = blob_case(2);
    let lesion = target.sum();
    assert!(lesion > 100.0, "{lesion} lesion voxels");
    let mut trainer = Trainer::new(&config, &device);
    let start = Instant::now();
    let mut reached = None;
    let mut first_loss = None;
    let mut last_loss = 0.0;
    for step in 1..=300 {
        last_loss = trainer.step(input.clone(), target.clone(), 3e-3);
        first_loss.get_or_insert(last_loss);
        assert!(last_loss.is_finite(), "step {step}: loss {last_loss}");
        if step % 10 == 0 {
            let d = dice(&predict(&trainer.model(), input.clone()), &target);
            if d > 0.9 {
                reached = Some((step, d));
                break;
            }
        }
    }
    let elapsed = start.elapsed();
    let (steps, d) = reached.unwrap_or_else(|| {
        panic!(
            "Dice never passed 0.9 in 300 steps (loss {first_loss:?} → {last_loss}, Dice {})",
            dice(&predict(&trainer.model(), input.clone()), &target)
        )
    });
    println!(
        "overfit: base 8, depth 2, input 1×2×8×32×32: Dice {d:.3} after {steps} steps, \
         loss {:.3} → {last_loss:.3}, {:.2} s ({:.0} ms/step incl. checks)",
        first_loss.unwrap(),
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e3 / steps as f64
    );
}

#[test]
fn trainer_continues_from_a_loaded_model() {
    let device = cpu_device();
    let config = cfg(4, 1, 0).with_seed(9);
    let model = config.init(&device);
    let (input, target) = {
        let (i, t) = blob_case(4);
        (
            i.slice_move(ndarray::s![.., .., 0..4, 0..16, 0..16]),
            t.slice_move(ndarray::s![.., .., 0..4, 0..16, 0..16]),
        )
    };
    let mut trainer = Trainer::from_model(model.clone(), &config, &device);
    let l0 = trainer.step(input.clone(), target.clone(), 1e-2);
    let l1 = trainer.step(input.clone(), target.clone(), 1e-2);
    assert!(l0.is_finite() && l1.is_finite());
    // The weights moved, and the original model is untouched.
    assert_ne!(
        predict(&trainer.model(), input.clone()),
        predict(&model, input.clone())
    );
    assert_eq!(
        predict(&model, input.clone()),
        predict(&config.init(&device), input)
    );
    assert_eq!(trainer.steps(), 2);
}

#[test]
fn extra_input_channels_start_silent_and_survive_save_and_load() {
    let device = cpu_device();
    let config = cfg(4, 2, 1);
    let model = config.init(&device);
    let x2 = random_input([1, 2, 4, 8, 8], 3);
    let before = predict(&model, x2.clone());
    let wide = model.with_extra_inputs(1);
    assert_eq!(
        wide.num_params(),
        config.clone().with_in_channels(3).params()
    );
    // the third channel holds anything: the output is as before
    let mut x3 = random_input([1, 3, 4, 8, 8], 4);
    x3.slice_mut(ndarray::s![.., 0..2, .., .., ..]).assign(&x2);
    let after = predict(&wide, x3.clone());
    let diff = Zip::from(&before)
        .and(&after)
        .fold(0.0f32, |m, a, b| m.max((a - b).abs()));
    assert!(diff < 1e-5, "max difference {diff}");
    // and the widened model saves and loads as a three-channel network
    let d = tempfile::tempdir().unwrap();
    save(&wide, &config.clone().with_in_channels(3), d.path()).unwrap();
    let (back, c) = load(d.path(), &device).unwrap();
    assert_eq!(c.in_channels, 3);
    let again = predict(&back, x3);
    let diff = Zip::from(&again)
        .and(&after)
        .fold(0.0f32, |m, a, b| m.max((a - b).abs()));
    assert!(diff < 1e-5, "after save/load {diff}");
}
