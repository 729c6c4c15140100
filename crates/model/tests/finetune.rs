//! Exact resume (AdamW moments saved and restored), partial fine-tuning (frozen parameters
//! stay put) and the entropy objective of unsupervised adaptation.

use burn::tensor::{Tensor, TensorData};
use ndarray::Array5;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use strokeseg_model::{
    binary_entropy_with_logits, cpu_device, load, save, TrainableParts, Trainer, UNet3d,
    UNet3dConfig, OPTIMIZER_FILE,
};

fn cfg() -> UNet3dConfig {
    UNet3dConfig::new()
        .with_base_channels(4)
        .with_depth(2)
        .with_anisotropic_levels(1)
        .with_seed(3)
}

/// A bright cube (the "lesion") in noise, `[1, 2, 4, 16, 16]`.
fn case(seed: u64) -> (Array5<f32>, Array5<f32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut x = Array5::<f32>::zeros((1, 2, 4, 16, 16));
    let mut t = Array5::<f32>::zeros((1, 1, 4, 16, 16));
    for ((_, c, z, y, w), v) in x.indexed_iter_mut() {
        let les = (1..3).contains(&z) && (4..9).contains(&y) && (6..11).contains(&w);
        *v = rng.random_range(-0.2f32..0.2)
            + match (c, les) {
                (0, true) => 1.0,
                (1, true) => 0.4,
                (1, false) => 0.8,
                _ => 0.3,
            };
        if les && c == 0 {
            t[[0, 0, z, y, w]] = 1.0;
        }
    }
    (x, t)
}

fn max_abs_diff(a: &UNet3d, b: &UNet3d) -> f32 {
    a.named_params()
        .iter()
        .zip(b.named_params())
        .flat_map(|((pa, va), (pb, vb))| {
            assert_eq!(pa, &pb);
            va.iter()
                .zip(vb)
                .map(|(x, y)| (x - y).abs())
                .collect::<Vec<_>>()
        })
        .fold(0.0, f32::max)
}

#[test]
fn resume_with_saved_moments_continues_exactly() {
    let device = cpu_device();
    let (x1, t1) = case(1);
    let (x2, t2) = case(2);
    // two steps straight
    let mut straight = Trainer::new(&cfg(), &device);
    straight.step(x1.clone(), t1.clone(), 1e-2);
    straight.step(x2.clone(), t2.clone(), 1e-2);
    // one step, save weights + optimiser, load both, one step
    let dir = tempfile::tempdir().unwrap();
    let mut first = Trainer::new(&cfg(), &device);
    first.step(x1, t1, 1e-2);
    save(&first.model(), first.config(), dir.path()).unwrap();
    first
        .save_optimizer(&dir.path().join(OPTIMIZER_FILE))
        .unwrap();
    drop(first);
    let (m, c) = load(dir.path(), &device).unwrap();
    let mut resumed = Trainer::from_model(m.clone(), &c, &device);
    resumed
        .load_optimizer(&dir.path().join(OPTIMIZER_FILE))
        .unwrap();
    resumed.step(x2.clone(), t2.clone(), 1e-2);
    let exact = max_abs_diff(&straight.model(), &resumed.model());
    assert!(exact < 1e-5, "resumed weights differ by {exact}");
    // without the moments the second step is a first AdamW step: visibly different
    let mut cold = Trainer::from_model(m, &c, &device);
    cold.step(x2, t2, 1e-2);
    let off = max_abs_diff(&straight.model(), &cold.model());
    assert!(off > 1e-4, "a cold optimiser should differ, got {off}");
    // a missing or corrupt state file is an error naming it
    let bad = dir.path().join("nope.bpk");
    let e = resumed.load_optimizer(&bad).unwrap_err().to_string();
    assert!(e.contains("nope.bpk"), "{e}");
    std::fs::write(&bad, b"not a burnpack").unwrap();
    let e = resumed.load_optimizer(&bad).unwrap_err().to_string();
    assert!(e.contains("nope.bpk"), "{e}");
}

fn changed(before: &UNet3d, after: &UNet3d) -> Vec<(String, bool)> {
    before
        .named_params()
        .into_iter()
        .zip(after.named_params())
        .map(|((p, a), (_, b))| {
            let moved = a.iter().zip(&b).any(|(x, y)| x != y);
            (p, moved)
        })
        .collect()
}

#[test]
fn frozen_parameters_do_not_move() {
    let device = cpu_device();
    let base = cfg().init(&device);
    let (x, t) = case(5);
    for parts in [
        TrainableParts::All,
        TrainableParts::Decoder,
        TrainableParts::NormAffine,
    ] {
        let mut tr = Trainer::from_model(base.clone().with_trainable(parts), &cfg(), &device);
        for _ in 0..2 {
            tr.step(x.clone(), t.clone(), 1e-2);
        }
        let moved = changed(&base, &tr.model());
        assert!(moved.iter().any(|(p, _)| p.contains("norm")), "{moved:?}");
        for (p, m) in &moved {
            assert_eq!(
                *m,
                parts.includes(p),
                "{parts:?}: parameter {p} moved = {m}"
            );
        }
    }
}

#[test]
fn entropy_minimisation_moves_only_norm_affine_and_lowers_entropy() {
    let device = cpu_device();
    let base = cfg().init(&device);
    let (x, _) = case(6);
    let mut tr = Trainer::from_model(
        base.clone().with_trainable(TrainableParts::NormAffine),
        &cfg(),
        &device,
    );
    let first = tr.step_entropy(x.clone(), 1e-2);
    let mut last = first;
    for _ in 0..15 {
        last = tr.step_entropy(x.clone(), 1e-2);
    }
    assert!(last < first, "entropy {first} → {last}");
    for (p, m) in changed(&base, &tr.model()) {
        assert_eq!(m, TrainableParts::NormAffine.includes(&p), "{p}");
    }
}

#[test]
fn binary_entropy_matches_hand_values() {
    let logits = Tensor::<1>::from_data(
        TensorData::new(vec![0.0f32, 40.0, -40.0], [3]),
        &cpu_device(),
    );
    // ln 2 at p = ½, 0 at the extremes → mean ln2 / 3
    let h = binary_entropy_with_logits(logits).into_scalar::<f32>();
    assert!((h - std::f32::consts::LN_2 / 3.0).abs() < 1e-5, "{h}");
    let p = 1.0 / (1.0 + (-2.0f32).exp());
    let want = -(p * p.ln() + (1.0 - p) * (1.0 - p).ln());
    let two = Tensor::<1>::from_data(TensorData::new(vec![2.0f32], [1]), &cpu_device());
    let h = binary_entropy_with_logits(two).into_scalar::<f32>();
    assert!((h - want).abs() < 1e-5, "{h} vs {want}");
}
