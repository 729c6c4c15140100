#!/usr/bin/env python3
"""The strokeseg 3-D U-Net in PyTorch (and, exported from it, in ONNX Runtime) for the
side-by-side benchmark of `strokeseg bench` (crates/bench, crates/strokeseg/src/commands/bench.rs).

Same architecture as crates/model/src/unet.rs (residual stages conv-IN-LReLU -> conv-IN + (1x1x1
conv + IN) projection, strided-conv down-sampling, transposed-conv up-sampling, concatenation
[up, skip], 1x1x1 head), same weights (a SafeTensors file written by
`strokeseg_model::export_safetensors`, tensor names = burn module paths), same loss (soft batch
Dice + BCE with logits) and optimiser (AdamW, betas 0.9/0.999, eps 1e-5, weight decay 3e-5).

Usage: python torch_unet.py JOB.json   (written by the bench; see `run` below for its fields)
Inputs/outputs are raw little-endian float32 files; shapes are in the job. Results go to the
job's "results" path as JSON. Run by the bench inside tools/bench/setup-venv.sh's venv.
"""
import json
import os
import platform
import resource
import sys
import time
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

LEAKY_SLOPE = 0.01
NORM_EPS = 1e-5
DICE_SMOOTH = 1e-5
WEIGHT_DECAY = 3e-5


# ---------------------------------------------------------------------------- the network
def channels(cfg, level):
    return min(cfg["base_channels"] << min(level, 3), 8 * cfg["base_channels"])


def stride(cfg, level):
    if level == 0:
        return (1, 1, 1)
    return (1, 2, 2) if level <= cfg["anisotropic_levels"] else (2, 2, 2)


def kernel(cfg, level):
    return (1, 3, 3) if level < cfg["anisotropic_levels"] else (3, 3, 3)


class Projection(nn.Module):
    def __init__(self, cin, cout, s):
        super().__init__()
        self.conv = nn.Conv3d(cin, cout, 1, stride=s, bias=False)
        self.norm = nn.InstanceNorm3d(cout, eps=NORM_EPS, affine=True)

    def forward(self, x):
        return self.norm(self.conv(x))


class ResBlock(nn.Module):
    def __init__(self, cin, cout, k, s):
        super().__init__()
        pad = tuple(v // 2 for v in k)
        self.conv1 = nn.Conv3d(cin, cout, k, stride=s, padding=pad, bias=False)
        self.norm1 = nn.InstanceNorm3d(cout, eps=NORM_EPS, affine=True)
        self.conv2 = nn.Conv3d(cout, cout, k, padding=pad, bias=False)
        self.norm2 = nn.InstanceNorm3d(cout, eps=NORM_EPS, affine=True)
        self.skip = Projection(cin, cout, s) if (cin != cout or s != (1, 1, 1)) else None

    def forward(self, x):
        y = F.leaky_relu(self.norm1(self.conv1(x)), LEAKY_SLOPE)
        y = self.norm2(self.conv2(y))
        r = x if self.skip is None else self.skip(x)
        return F.leaky_relu(y + r, LEAKY_SLOPE)


class UNet3d(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        depth = cfg["depth"]
        enc, prev = [], cfg["in_channels"]
        for lvl in range(depth + 1):
            c = channels(cfg, lvl)
            enc.append(ResBlock(prev, c, kernel(cfg, lvl), stride(cfg, lvl)))
            prev = c
        self.encoder = nn.ModuleList(enc)
        ups, dec = [], []
        for lvl in range(depth):
            c, below, s = channels(cfg, lvl), channels(cfg, lvl + 1), stride(cfg, lvl + 1)
            ups.append(nn.ConvTranspose3d(below, c, s, stride=s, bias=True))
            dec.append(ResBlock(2 * c, c, kernel(cfg, lvl), (1, 1, 1)))
        self.ups = nn.ModuleList(ups)
        self.decoder = nn.ModuleList(dec)
        self.head = nn.Conv3d(channels(cfg, 0), cfg["out_channels"], 1, bias=True)

    def forward(self, x):
        depth = len(self.ups)
        skips = []
        for lvl, stage in enumerate(self.encoder):
            x = stage(x)
            if lvl < depth:
                skips.append(x)
        for lvl in reversed(range(depth)):
            x = self.decoder[lvl](torch.cat([self.ups[lvl](x), skips.pop()], 1))
        return self.head(x)


def burn_name(torch_name):
    """burn's instance-norm affine parameters are gamma/beta; PyTorch's weight/bias."""
    parts = torch_name.split(".")
    if len(parts) >= 2 and parts[-2].startswith("norm"):
        parts[-1] = {"weight": "gamma", "bias": "beta"}[parts[-1]]
    return ".".join(parts)


def load_weights(model, path):
    from safetensors.numpy import load_file

    tensors = load_file(path)
    state = {}
    for name, p in model.state_dict().items():
        key = burn_name(name)
        if key not in tensors:
            raise SystemExit(f"{path}: no tensor {key} (PyTorch {name})")
        t = torch.from_numpy(tensors.pop(key).copy())
        if tuple(t.shape) != tuple(p.shape):
            raise SystemExit(f"{path}: {key} has shape {tuple(t.shape)}, expected {tuple(p.shape)}")
        state[name] = t
    if tensors:
        raise SystemExit(f"{path}: unused tensors {sorted(tensors)}")
    model.load_state_dict(state)


def loss_fn(logits, target):
    p = torch.sigmoid(logits)
    dice = (2 * (p * target).sum() + DICE_SMOOTH) / (p.sum() + target.sum() + DICE_SMOOTH)
    return (1 - dice) + F.binary_cross_entropy_with_logits(logits, target)


# ---------------------------------------------------------------------------- measuring
def reset_peak_rss():
    """Resets the kernel's peak-RSS mark (VmHWM) of this process (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_rss():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def timed(fn, warmup, repeats):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return times


def read_f32(path, shape):
    return np.fromfile(path, dtype="<f4").reshape(shape)


def matmul_probe(n, repeats):
    a, b = torch.randn(n, n), torch.randn(n, n)
    times = timed(lambda: torch.mm(a, b), 1, repeats)
    return 2.0 * n**3 / min(times) / 1e9


def run(job):
    threads = int(job["threads"])
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    import onnxruntime as ort
    import onnx

    res = {
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "onnxruntime": ort.__version__,
            "onnx": onnx.__version__,
            "numpy": np.__version__,
        },
        "threads": {"torch_intra": torch.get_num_threads(), "torch_interop": torch.get_num_interop_threads()},
        "forward": [],
        "onnx_forward": [],
        "train": None,
    }
    if job.get("matmul"):
        m = job["matmul"]
        res["matmul_gflops"] = matmul_probe(int(m["n"]), int(m["repeats"]))

    cfg = job["config"]
    model = UNet3d(cfg)
    load_weights(model, job["weights"])
    model.eval()
    res["params"] = sum(p.numel() for p in model.parameters())

    for f in job.get("forward", []):
        x = torch.from_numpy(read_f32(f["input"], f["shape"]))
        reset_peak_rss()
        with torch.inference_mode():
            out = model(x)
            times = timed(lambda: model(x), int(f["warmup"]), int(f["repeats"]))
        entry = {"name": f["name"], "times": times, "peak_rss": peak_rss()}
        if f.get("output"):
            out.numpy().astype("<f4").tofile(f["output"])
            entry["output"] = f["output"]
        res["forward"].append(entry)

    if job.get("onnx"):
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        for f in job.get("forward", []):
            x = read_f32(f["input"], f["shape"])
            path = os.path.join(job["workdir"], f"unet-{f['name']}.onnx")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                # The TorchScript exporter: static shapes, no extra packages (onnxscript).
                torch.onnx.export(model, (torch.from_numpy(x),), path, dynamo=False,
                                  input_names=["x"], output_names=["logits"], opset_version=17)
            reset_peak_rss()
            sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
            out = sess.run(None, {"x": x})[0]
            times = timed(lambda: sess.run(None, {"x": x}), int(f["warmup"]), int(f["repeats"]))
            entry = {"name": f["name"], "times": times, "peak_rss": peak_rss()}
            if f.get("output"):
                out_path = f["output"] + ".onnx.f32"
                out.astype("<f4").tofile(out_path)
                entry["output"] = out_path
            res["onnx_forward"].append(entry)
            del sess

    tr = job.get("train")
    if tr:
        model.train()
        x = torch.from_numpy(read_f32(tr["input"], tr["shape"]))
        tshape = list(tr["shape"])
        tshape[1] = 1
        t = torch.from_numpy(read_f32(tr["target"], tshape))
        opt = torch.optim.AdamW(model.parameters(), lr=float(tr["lr"]), betas=(0.9, 0.999),
                                eps=1e-5, weight_decay=WEIGHT_DECAY)
        losses = []

        def step():
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), t)
            loss.backward()
            opt.step()
            losses.append(loss.item())

        reset_peak_rss()
        times = timed(step, int(tr["warmup"]), int(tr["repeats"]))
        res["train"] = {"times": times, "first_loss": losses[0], "peak_rss": peak_rss()}
    return res


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    with open(sys.argv[1]) as f:
        job = json.load(f)
    res = run(job)
    with open(job["results"], "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
