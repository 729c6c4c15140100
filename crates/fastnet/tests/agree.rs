//! The fast forward agrees with burn's `UNet3d::forward` (the reference) on tiny random models
//! covering the architecture's variants, and on the shipped model at a small input.

use ndarray::Array5;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use strokeseg_fastnet::FastUNet;
use strokeseg_model::{cpu_device, logits, UNet3d, UNet3dConfig};

fn input(shape: [usize; 5], seed: u64) -> Array5<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array5::from_shape_simple_fn(shape, || rng.random_range(-2.0f32..2.0))
}

/// `max|fast − burn| / max|burn|`.
fn rel_err(model: &UNet3d, cfg: &UNet3dConfig, x: &Array5<f32>) -> f64 {
    let want = logits(model, x);
    let got = FastUNet::new(model, cfg)
        .expect("weights fit")
        .logits(x)
        .expect("valid input");
    assert_eq!(got.dim(), want.dim());
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(scale > 0.0, "reference logits are all zero");
    let diff = got
        .iter()
        .zip(want.iter())
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    f64::from(diff / scale)
}

/// Random non-trivial norm affine parameters and biases (init makes them 1 and 0, which would
/// hide a swapped gamma/beta or a dropped bias).
fn perturbed(cfg: &UNet3dConfig) -> UNet3d {
    let model = cfg.init(&cpu_device());
    let dir = tempdir();
    let path = dir.join("w.safetensors");
    strokeseg_model::export_safetensors(&model, &path).unwrap();
    let mut tensors = strokeseg_model::read_safetensors(&path).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed + 100);
    for t in &mut tensors {
        if t.name.ends_with("gamma") || t.name.ends_with("beta") || t.name.ends_with("bias") {
            let base = if t.name.ends_with("gamma") { 1.0 } else { 0.0 };
            t.values
                .iter_mut()
                .for_each(|v| *v = base + rng.random_range(-0.5f32..0.5));
        }
    }
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .map(|t| {
            let bytes: &[u8] = bytemuck_f32(&t.values);
            let v = safetensors::tensor::TensorView::new(
                safetensors::Dtype::F32,
                t.shape.clone(),
                bytes,
            )
            .unwrap();
            (t.name.clone(), v)
        })
        .collect();
    safetensors::serialize_to_file(views, None, &path).unwrap();
    let out = strokeseg_model::import_safetensors(model, &path).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    out
}

/// The little-endian bytes of `v` (this crate targets little-endian machines, as the
/// SafeTensors export does).
fn bytemuck_f32(v: &[f32]) -> &[u8] {
    // SAFETY: f32 has no padding or invalid bit patterns as bytes; the length is exact.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
}

fn tempdir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "fastnet-test-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn agrees_with_burn_on_tiny_models_of_every_variant() {
    // (base, depth, anisotropic levels, in, out, [D, H, W], batch)
    let cases = [
        (3, 2, 0, 2, 1, [4, 8, 12], 1),
        (4, 2, 1, 2, 1, [2, 12, 8], 1),
        (3, 3, 1, 1, 2, [4, 16, 8], 1),
        (5, 3, 2, 3, 1, [2, 8, 16], 2),
        (2, 3, 0, 2, 1, [8, 8, 8], 1),
    ];
    for (i, &(base, depth, aniso, cin, cout, dhw, b)) in cases.iter().enumerate() {
        let cfg = UNet3dConfig::new()
            .with_base_channels(base)
            .with_depth(depth)
            .with_anisotropic_levels(aniso)
            .with_in_channels(cin)
            .with_out_channels(cout)
            .with_seed(i as u64);
        let model = perturbed(&cfg);
        let x = input([b, cin, dhw[0], dhw[1], dhw[2]], 10 + i as u64);
        let e = rel_err(&model, &cfg, &x);
        assert!(
            e <= 1e-4,
            "case {i} {cfg:?} {dhw:?}: relative error {e:.2e}"
        );
    }
}

#[test]
fn agrees_with_burn_on_the_shipped_model() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/synth-v1");
    let (model, cfg) = strokeseg_model::load(&dir, &cpu_device()).expect("models/synth-v1 loads");
    let m = cfg.size_multiple();
    let x = input([1, cfg.in_channels, 2 * m[0], 2 * m[1], 3 * m[2]], 3);
    let e = rel_err(&model, &cfg, &x);
    assert!(e <= 1e-4, "relative error {e:.2e}");
}

#[test]
fn repeated_calls_reuse_buffers_and_give_identical_results() {
    let cfg = UNet3dConfig::new().with_base_channels(3).with_depth(2);
    let model = cfg.init(&cpu_device());
    let net = FastUNet::new(&model, &cfg).unwrap();
    let x = input([1, 2, 4, 8, 8], 5);
    let a = net.logits(&x).unwrap();
    let held = net.pooled_bytes();
    assert!(held > 0, "activations go back to the pool");
    // The pool settles after a pass or two; from then on a pass of the same size allocates
    // nothing new.
    let mut sizes = vec![held];
    for _ in 0..4 {
        assert_eq!(net.logits(&x).unwrap(), a);
        sizes.push(net.pooled_bytes());
    }
    assert_eq!(sizes[3], sizes[4], "pool sizes per pass: {sizes:?}");
    let p = net.predict(&x);
    assert!(p
        .iter()
        .zip(a.iter())
        .all(|(p, l)| (p - 1.0 / (1.0 + (-l).exp())).abs() < 1e-6));
}
