//! The PyTorch and ONNX Runtime copies of our network (tools/bench/torch_unet.py) compute what
//! ours computes: same logits and same first training loss on a tiny network. Needs the bench
//! venv (`bash tools/bench/setup-venv.sh`); prints SKIPPED without it.

use strokeseg_bench::net::{fixed_input, fixed_target, init_threads, train_step};
use strokeseg_bench::torch::{self, relative_max_error, ForwardJob, Job, TrainJob};
use strokeseg_model::{cpu_device, export_safetensors, logits, UNet3dConfig};

#[test]
fn pytorch_and_onnx_runtime_match_our_network() {
    let py = match torch::python() {
        Ok(p) => p,
        Err(why) => {
            eprintln!("SKIPPED: PyTorch agreement: {why}");
            return;
        }
    };
    init_threads(2);
    // Two levels, one anisotropic: exercises (1,3,3) and (3,3,3) kernels, both strides, the
    // projections, transposed convolutions and concatenation.
    let cfg = UNet3dConfig::new()
        .with_base_channels(4)
        .with_depth(2)
        .with_seed(5);
    let model = cfg.init(&cpu_device());
    let dir = tempfile::tempdir().unwrap();
    let weights = dir.path().join("w.safetensors");
    export_safetensors(&model, &weights).unwrap();

    let shape = [1, 2, 4, 16, 16];
    let x = fixed_input(shape, 3);
    let ours = logits(&model, &x);
    let input = dir.path().join("x.f32");
    torch::write_f32(&input, x.as_slice().unwrap()).unwrap();

    let tshape = [2, 2, 4, 16, 16];
    let (tx, ty) = (fixed_input(tshape, 4), fixed_target(tshape));
    let (txp, typ) = (dir.path().join("tx.f32"), dir.path().join("ty.f32"));
    torch::write_f32(&txp, tx.as_slice().unwrap()).unwrap();
    torch::write_f32(&typ, ty.as_slice().unwrap()).unwrap();
    let (_, our_loss) = train_step(&model, &cfg, &tx, &ty, 1e-3, 1, 1);

    let out = dir.path().join("y.f32");
    let job = Job {
        threads: 2,
        config: cfg.clone(),
        weights,
        forward: vec![ForwardJob {
            name: "tiny".into(),
            input,
            shape,
            warmup: 0,
            repeats: 1,
            output: Some(out.clone()),
        }],
        train: Some(TrainJob {
            input: txp,
            target: typ,
            shape: tshape,
            lr: 1e-3,
            warmup: 1,
            repeats: 1,
        }),
        onnx: true,
        matmul: None,
        workdir: dir.path().to_path_buf(),
        results: dir.path().join("results.json"),
    };
    let r = torch::run(&py, &job).unwrap();
    assert_eq!(r.params, cfg.params());

    let theirs = torch::read_f32(&out).unwrap();
    let err = relative_max_error(ours.as_slice().unwrap(), &theirs);
    eprintln!("PyTorch logits vs ours: max|Δ|/max|torch| = {err:.2e}");
    assert!(err < 1e-4, "PyTorch logits differ from ours: {err:e}");
    let onnx = torch::read_f32(r.onnx_forward[0].output.as_ref().unwrap()).unwrap();
    let err = relative_max_error(ours.as_slice().unwrap(), &onnx);
    eprintln!("ONNX Runtime logits vs ours: {err:.2e}");
    assert!(err < 1e-4, "ONNX Runtime logits differ from ours: {err:e}");

    let theirs_loss = r.train.unwrap().first_loss;
    let rel = (f64::from(our_loss) - theirs_loss).abs() / theirs_loss.abs();
    eprintln!("first training loss: ours {our_loss}, PyTorch {theirs_loss} (relative {rel:.2e})");
    assert!(rel < 1e-4, "loss: ours {our_loss}, PyTorch {theirs_loss}");
    // Not a vacuous comparison: the network's output varies over the patch.
    let spread = theirs.iter().fold(f32::MIN, |m, &v| m.max(v))
        - theirs.iter().fold(f32::MAX, |m, &v| m.min(v));
    assert!(spread > 1e-3, "degenerate output");
}
