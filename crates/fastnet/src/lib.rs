//! A tuned CPU inference forward of the strokeseg U-Net ([`strokeseg_model::UNet3d`]), without
//! burn's op-by-op tensors: [`FastUNet`] reads a loaded model's configuration and weights once
//! and computes the same logits.
//!
//! Owns: the inference-only forward (layout, tiling, fusion, buffer reuse). Must not touch:
//! training, the burn model definition or its files (`strokeseg-model` stays the reference and
//! the only place the architecture is defined; this crate mirrors its forward and the tests in
//! `tests/` hold the two to ≤ 1e-4 relative), sliding windows (`strokeseg-infer`).
//!
//! # Design
//!
//! - One sample at a time in channels-first `[C, D·H·W]` layout.
//! - Convolutions are gemm (the `gemm` crate, the kernel burn's flex backend also uses) over
//!   im2col buffers of one tile of output lines each (bounded memory, one reused buffer per
//!   thread); 1×1×1 stride-1 convolutions multiply the activation directly; transposed
//!   convolutions (kernel = stride) are one gemm plus a scatter ([`conv`]).
//! - Instance norm statistics in one read per channel; norm + LeakyReLU (+ the residual add and
//!   its projection's norm) in one in-place pass ([`norm`]).
//! - Weights re-laid out once at construction; activations come from a buffer pool kept across
//!   calls, so repeated windows of one size allocate nothing ([`arena`]).
//! - Convolutions with ≥ 32 output channels and stride 1 skip the full im2col: the input is
//!   copied once per kernel column into a padded block and the kernel's `(kd, kh)` taps are
//!   accumulated gemms over it ([`taps`]).
//! - gemm's AVX-512 kernels (its `x86-v4` feature, detected at run time): measured on the
//!   1×2×32×128×128 window, 0.85–0.88 CPU s per forward with the AVX2 kernels, 0.56–0.58 with
//!   AVX-512 (`cargo run --release -p strokeseg-fastnet --example fastnet_speed -- 32 128 128`).
//! - rayon's global pool runs the tiles and the per-channel passes (its thread count is the
//!   caller's, e.g. `RAYON_NUM_THREADS`).
#![warn(missing_docs)]

mod arena;
mod conv;
mod gemm_tiles;
mod norm;
mod taps;

use std::collections::HashMap;

use ndarray::{Array5, ArrayView4};
use rayon::prelude::*;
use strokeseg_model::{named_tensors, NamedTensor, UNet3d, UNet3dConfig, LEAKY_SLOPE, NORM_EPS};

use crate::arena::Pool;
use crate::conv::{Act, Conv, UpConv};
use crate::norm::{norm_add_lrelu, norm_lrelu, Norm};

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum FastNetError {
    /// The model's parameters do not match its configuration.
    #[error("model weights do not fit the config: {0}")]
    Weights(String),
    /// An input of the wrong shape.
    #[error("bad network input: {0}")]
    Input(String),
}

struct Projection {
    conv: Conv,
    norm: Norm,
}

struct Block {
    conv1: Conv,
    norm1: Norm,
    conv2: Conv,
    norm2: Norm,
    skip: Option<Projection>,
}

/// The U-Net's inference forward, built from a [`UNet3d`]'s weights (see the crate docs).
pub struct FastUNet {
    in_channels: usize,
    out_channels: usize,
    multiple: [usize; 3],
    encoder: Vec<Block>,
    ups: Vec<UpConv>,
    decoder: Vec<Block>,
    head: Conv,
    pool: Pool,
}

/// Takes parameters by burn module path, checking their shapes.
struct Params(HashMap<String, NamedTensor>);

impl Params {
    fn take(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>, FastNetError> {
        let t = self
            .0
            .remove(name)
            .ok_or_else(|| FastNetError::Weights(format!("parameter {name} is missing")))?;
        if t.shape != shape || t.values.len() != shape.iter().product::<usize>() {
            return Err(FastNetError::Weights(format!(
                "parameter {name} has shape {:?}, expected {shape:?}",
                t.shape
            )));
        }
        Ok(t.values)
    }

    fn conv(
        &mut self,
        path: &str,
        cin: usize,
        cout: usize,
        k: [usize; 3],
        stride: [usize; 3],
        bias: bool,
    ) -> Result<Conv, FastNetError> {
        let w = self.take(&format!("{path}.weight"), &[cout, cin, k[0], k[1], k[2]])?;
        let bias = if bias {
            Some(self.take(&format!("{path}.bias"), &[cout])?)
        } else {
            None
        };
        Ok(Conv::new(cin, cout, k, stride, w, bias))
    }

    fn norm(&mut self, path: &str, c: usize) -> Result<Norm, FastNetError> {
        Ok(Norm {
            gamma: self.take(&format!("{path}.gamma"), &[c])?,
            beta: self.take(&format!("{path}.beta"), &[c])?,
            eps: NORM_EPS,
        })
    }

    fn block(
        &mut self,
        path: &str,
        cin: usize,
        cout: usize,
        k: [usize; 3],
        stride: [usize; 3],
    ) -> Result<Block, FastNetError> {
        let skip = if cin != cout || stride != [1, 1, 1] {
            Some(Projection {
                conv: self.conv(
                    &format!("{path}.skip.conv"),
                    cin,
                    cout,
                    [1; 3],
                    stride,
                    false,
                )?,
                norm: self.norm(&format!("{path}.skip.norm"), cout)?,
            })
        } else {
            None
        };
        Ok(Block {
            conv1: self.conv(&format!("{path}.conv1"), cin, cout, k, stride, false)?,
            norm1: self.norm(&format!("{path}.norm1"), cout)?,
            conv2: self.conv(&format!("{path}.conv2"), cout, cout, k, [1; 3], false)?,
            norm2: self.norm(&format!("{path}.norm2"), cout)?,
            skip,
        })
    }

    fn up(
        &mut self,
        path: &str,
        cin: usize,
        cout: usize,
        s: [usize; 3],
    ) -> Result<UpConv, FastNetError> {
        let w = self.take(&format!("{path}.weight"), &[cin, cout, s[0], s[1], s[2]])?;
        let kv: usize = s.iter().product();
        // [ci, (co, a, b, c)] → [(co, a, b, c), ci]: the gemm's left matrix.
        let rows = cout * kv;
        let mut wt = vec![0f32; rows * cin];
        for ci in 0..cin {
            for r in 0..rows {
                wt[r * cin + ci] = w[ci * rows + r];
            }
        }
        Ok(UpConv {
            cin,
            cout,
            s,
            wt,
            bias: self.take(&format!("{path}.bias"), &[cout])?,
        })
    }
}

const SLOPE: f32 = LEAKY_SLOPE as f32;

impl Block {
    fn forward(&self, x: &Act, pool: &Pool) -> Act {
        let mut y = self.conv1.forward(x, pool);
        let n = y.n();
        let a1 = self.norm1.affine(&y.data, n);
        norm_lrelu(&mut y.data, n, &a1, SLOPE);
        let mut y2 = self.conv2.forward(&y, pool);
        pool.give(y.data);
        let a2 = self.norm2.affine(&y2.data, n);
        match &self.skip {
            Some(p) => {
                let r = p.conv.forward(x, pool);
                let ar = p.norm.affine(&r.data, n);
                norm_add_lrelu(&mut y2.data, n, &a2, &r.data, Some(&ar), SLOPE);
                pool.give(r.data);
            }
            None => norm_add_lrelu(&mut y2.data, n, &a2, &x.data, None, SLOPE),
        }
        y2
    }
}

impl FastUNet {
    /// Copies (and re-lays out) the weights of `model`, built with `config`.
    ///
    /// # Errors
    /// A parameter missing or of the wrong shape for `config`.
    pub fn new(model: &UNet3d, config: &UNet3dConfig) -> Result<FastUNet, FastNetError> {
        config
            .validate()
            .map_err(|e| FastNetError::Weights(e.to_string()))?;
        let mut p = Params(
            named_tensors(model)
                .into_iter()
                .map(|t| (t.name.clone(), t))
                .collect(),
        );
        let mut encoder = Vec::with_capacity(config.depth + 1);
        let mut prev = config.in_channels;
        for l in 0..=config.depth {
            let c = config.channels(l);
            encoder.push(p.block(
                &format!("encoder.{l}"),
                prev,
                c,
                config.kernel(l),
                config.stride(l),
            )?);
            prev = c;
        }
        let mut ups = Vec::with_capacity(config.depth);
        let mut decoder = Vec::with_capacity(config.depth);
        for l in 0..config.depth {
            let (c, below) = (config.channels(l), config.channels(l + 1));
            ups.push(p.up(&format!("ups.{l}"), below, c, config.stride(l + 1))?);
            decoder.push(p.block(&format!("decoder.{l}"), 2 * c, c, config.kernel(l), [1; 3])?);
        }
        let head = p.conv(
            "head",
            config.channels(0),
            config.out_channels,
            [1; 3],
            [1; 3],
            true,
        )?;
        if let Some(extra) = p.0.keys().next() {
            return Err(FastNetError::Weights(format!(
                "unexpected parameter {extra}"
            )));
        }
        Ok(FastUNet {
            in_channels: config.in_channels,
            out_channels: config.out_channels,
            multiple: config.size_multiple(),
            encoder,
            ups,
            decoder,
            head,
            pool: Pool::default(),
        })
    }

    /// Logits `[B, out_channels, D, H, W]` for `input` `[B, in_channels, D, H, W]` (the same
    /// contract as [`UNet3d::forward`]).
    ///
    /// # Errors
    /// A wrong channel count, or `[D, H, W]` not a non-zero multiple of the model's
    /// [`size_multiple`](UNet3dConfig::size_multiple).
    pub fn logits(&self, input: &Array5<f32>) -> Result<Array5<f32>, FastNetError> {
        let (b, c, d, h, w) = input.dim();
        if c != self.in_channels {
            return Err(FastNetError::Input(format!(
                "input has {c} channels, the model expects {}",
                self.in_channels
            )));
        }
        let m = self.multiple;
        if d == 0 || h == 0 || w == 0 || d % m[0] != 0 || h % m[1] != 0 || w % m[2] != 0 {
            return Err(FastNetError::Input(format!(
                "input [D,H,W] = [{d},{h},{w}] must be a non-zero multiple of {m:?}"
            )));
        }
        let mut out = Array5::<f32>::zeros((b, self.out_channels, d, h, w));
        for (x, mut o) in input.outer_iter().zip(out.outer_iter_mut()) {
            let y = self.sample(x);
            o.as_slice_mut()
                .expect("fresh standard-layout array")
                .copy_from_slice(&y.data);
            self.pool.give(y.data);
        }
        Ok(out)
    }

    /// Probabilities (sigmoid of [`logits`](Self::logits)): a drop-in for
    /// [`strokeseg_model::predict`] as the closure of `strokeseg_infer::sliding_window`.
    ///
    /// # Panics
    /// On an input [`logits`](Self::logits) rejects (as `predict` does).
    #[must_use]
    pub fn predict(&self, input: &Array5<f32>) -> Array5<f32> {
        let mut out = match self.logits(input) {
            Ok(o) => o,
            Err(e) => panic!("{e}"),
        };
        out.as_slice_mut()
            .expect("standard layout")
            .par_chunks_mut(1 << 14)
            .for_each(|c| c.iter_mut().for_each(|v| *v = 1.0 / (1.0 + (-*v).exp())));
        out
    }

    /// Bytes held in the buffer pool between calls (the reused activations).
    #[must_use]
    pub fn pooled_bytes(&self) -> usize {
        self.pool.held_bytes()
    }

    /// The forward of one sample `[C, D, H, W]`.
    fn sample(&self, x: ArrayView4<f32>) -> Act {
        let (c, d, h, w) = x.dim();
        let mut data = self.pool.take(c * d * h * w);
        match x.as_slice() {
            Some(s) => data.copy_from_slice(s),
            None => data.iter_mut().zip(x.iter()).for_each(|(d, &v)| *d = v),
        }
        let mut x = Act {
            c,
            dims: [d, h, w],
            data,
        };
        let depth = self.ups.len();
        let mut skips = Vec::with_capacity(depth);
        for (l, stage) in self.encoder.iter().enumerate() {
            let y = stage.forward(&x, &self.pool);
            if l == 0 {
                self.pool.give(x.data);
            } else {
                skips.push(x);
            }
            x = y;
        }
        // skips[l] = encoder output of level l (pushed as the next level consumed it).
        for l in (0..depth).rev() {
            let skip = skips.pop().expect("one skip per level");
            let up = &self.ups[l];
            let dims = up.out_dims(x.dims);
            let n: usize = dims.iter().product();
            debug_assert_eq!(dims, skip.dims);
            let mut cat = self.pool.take((up.cout + skip.c) * n);
            let (first, second) = cat.split_at_mut(up.cout * n);
            up.forward_into(&x, first, &self.pool);
            second.copy_from_slice(&skip.data);
            self.pool.give(x.data);
            self.pool.give(skip.data);
            let cat = Act {
                c: up.cout + skip.c,
                dims,
                data: cat,
            };
            x = self.decoder[l].forward(&cat, &self.pool);
            self.pool.give(cat.data);
        }
        let y = self.head.forward(&x, &self.pool);
        self.pool.give(x.data);
        y
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_inputs_are_errors_not_panics() {
        let cfg = UNet3dConfig::new().with_base_channels(2).with_depth(1);
        let model = cfg.init(&strokeseg_model::cpu_device());
        let net = FastUNet::new(&model, &cfg).unwrap();
        let e = net.logits(&Array5::zeros((1, 3, 2, 4, 4))).unwrap_err();
        assert!(e.to_string().contains("3 channels"), "{e}");
        let e = net.logits(&Array5::zeros((1, 2, 2, 3, 4))).unwrap_err();
        assert!(e.to_string().contains("multiple"), "{e}");
        let ok = net.logits(&Array5::zeros((2, 2, 2, 4, 4))).unwrap();
        assert_eq!(ok.dim(), (2, 1, 2, 4, 4));
    }

    #[test]
    fn weights_of_another_config_are_rejected() {
        let a = UNet3dConfig::new().with_base_channels(2).with_depth(1);
        let a = a.with_base_channels(4);
        let b = UNet3dConfig::new().with_base_channels(3).with_depth(1);
        let model = a.init(&strokeseg_model::cpu_device());
        let e = FastUNet::new(&model, &b).err().expect("mismatch");
        assert!(e.to_string().contains("shape"), "{e}");
    }
}
