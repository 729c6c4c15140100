//! The residual 3-D U-Net: configuration, parameter/FLOP counts, seeded initialisation, forward.

use burn::config::Config;
use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::conv::{Conv3d, Conv3dConfig, ConvTranspose3d, ConvTranspose3dConfig};
use burn::nn::{InstanceNorm, InstanceNormConfig, PaddingConfig3d};
use burn::tensor::activation::leaky_relu;
use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::ModelError;

/// Negative slope of every LeakyReLU (nnU-Net's 0.01).
pub const LEAKY_SLOPE: f64 = 0.01;
/// Epsilon of every instance norm.
pub const NORM_EPS: f64 = 1e-5;

/// Hyper-parameters of [`UNet3d`]; saved beside the weights as `config.json`.
///
/// Levels are numbered 0 (full resolution) to `depth` (bottleneck). Level `l` has
/// `min(base_channels·2^l, 8·base_channels)` channels. Going from level `l−1` to `l`
/// (`1 ≤ l ≤ depth`) is a stride of (1,2,2) on `[D,H,W]` when `l ≤ anisotropic_levels` (in-plane
/// only, for thick axial slices) and (2,2,2) otherwise. The convolutions of level `l` use kernel
/// (1,3,3) when `l < anisotropic_levels` (the levels whose voxels are still thick) and (3,3,3)
/// otherwise.
#[derive(Config, Debug, PartialEq)]
pub struct UNet3dConfig {
    /// Input channels (2: DWI, ADC).
    #[config(default = 2)]
    pub in_channels: usize,
    /// Channels of the full-resolution level; doubled per level, capped at 8×.
    #[config(default = 16)]
    pub base_channels: usize,
    /// Number of down-samplings (levels below full resolution), ≥ 1.
    #[config(default = 4)]
    pub depth: usize,
    /// How many of the first down-samplings are in-plane only (stride (1,2,2)); ≤ `depth`.
    #[config(default = 1)]
    pub anisotropic_levels: usize,
    /// Output channels (1: lesion logit).
    #[config(default = 1)]
    pub out_channels: usize,
    /// Seed of the weight initialisation (ChaCha8; see [`UNet3dConfig::init`]).
    #[config(default = 0)]
    pub seed: u64,
}

/// One residual stage: `conv-IN-LReLU → conv-IN`, plus the (projected) input, then LReLU.
#[derive(Module, Debug)]
pub(crate) struct ResBlock {
    conv1: Conv3d,
    norm1: InstanceNorm,
    conv2: Conv3d,
    norm2: InstanceNorm,
    /// 1×1×1 conv (strided like `conv1`) + IN when channels or resolution change.
    skip: Option<Projection>,
}

#[derive(Module, Debug)]
pub(crate) struct Projection {
    conv: Conv3d,
    norm: InstanceNorm,
}

/// Residual 3-D U-Net with instance norm and LeakyReLU (nnU-Net style). Build with
/// [`UNet3dConfig::init`].
///
/// Encoder level `l` is one [residual stage](UNet3dConfig) whose first convolution carries
/// the down-sampling stride (level 0: stride 1); decoder level `l` is a transposed convolution
/// (kernel = stride = that of level `l+1`) from level `l+1`, concatenation with the encoder's
/// level-`l` output, and a residual stage (`2c → c`, 1×1×1 projection on the residual path);
/// a 1×1×1 convolution with bias gives the logits. Convolutions followed by instance norm carry
/// no bias (it would be cancelled by the norm).
///
/// # Shapes
///
/// - input `[B, in_channels, D, H, W]`, `D` the slice axis;
/// - output `[B, out_channels, D, H, W]` (logits);
/// - `D` must be divisible by `2^(depth − anisotropic_levels)` and `H`, `W` by `2^depth`
///   (see [`UNet3dConfig::size_multiple`]).
#[derive(Module, Debug)]
pub struct UNet3d {
    encoder: Vec<ResBlock>,
    /// `ups[l]`: level `l+1` → level `l`.
    ups: Vec<ConvTranspose3d>,
    /// `decoder[l]`: the stage after concatenation at level `l`.
    decoder: Vec<ResBlock>,
    head: Conv3d,
    /// `[D, H, W]` multiples the input must have.
    multiple: [usize; 3],
    in_channels: usize,
}

impl UNet3dConfig {
    /// Checks the hyper-parameters.
    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |msg: String| Err(ModelError::InvalidConfig(msg));
        if self.in_channels == 0 || self.out_channels == 0 || self.base_channels == 0 {
            return bad(format!(
                "in_channels ({}), out_channels ({}) and base_channels ({}) must be ≥ 1",
                self.in_channels, self.out_channels, self.base_channels
            ));
        }
        if self.depth == 0 || self.depth > 8 {
            return bad(format!("depth must be in 1..=8, got {}", self.depth));
        }
        if self.anisotropic_levels > self.depth {
            return bad(format!(
                "anisotropic_levels ({}) must be ≤ depth ({})",
                self.anisotropic_levels, self.depth
            ));
        }
        Ok(())
    }

    /// Channels of level `l` (0 = full resolution).
    pub fn channels(&self, level: usize) -> usize {
        (self.base_channels << level.min(3)).min(8 * self.base_channels)
    }

    /// Stride of the down-sampling into level `l` (`[1,1,1]` for level 0).
    pub fn stride(&self, level: usize) -> [usize; 3] {
        match level {
            0 => [1, 1, 1],
            l if l <= self.anisotropic_levels => [1, 2, 2],
            _ => [2, 2, 2],
        }
    }

    /// Convolution kernel of level `l`.
    pub fn kernel(&self, level: usize) -> [usize; 3] {
        if level < self.anisotropic_levels {
            [1, 3, 3]
        } else {
            [3, 3, 3]
        }
    }

    /// `[D, H, W]` multiples an input must have: `[2^(depth−anisotropic_levels), 2^depth,
    /// 2^depth]`.
    pub fn size_multiple(&self) -> [usize; 3] {
        let a = self.anisotropic_levels.min(self.depth);
        [1 << (self.depth - a), 1 << self.depth, 1 << self.depth]
    }

    /// Builds the model on `device`, weights drawn from a ChaCha8 generator seeded with
    /// [`seed`](Self::seed): He (Kaiming) normal for every (transposed) convolution weight,
    /// `std = √(2/(1+0.01²)) / √fan_in` (nnU-Net's `InitWeights_He(1e-2)`; `fan_in` =
    /// `weight.shape[1]·kernel volume`, as in PyTorch), biases 0, instance-norm scale 1 and
    /// shift 0.
    ///
    /// burn's own initialisers are not used: in burn 0.22 parameters initialise lazily at first
    /// access, drawing from one process-wide RNG (`Device::seed` on flex stores a single
    /// `StdRng` for the whole process), so the weights would depend on the order of first use
    /// and on other threads drawing random numbers. Our generator is private to this call: the
    /// same config (seed included) gives bit-identical weights on any thread.
    ///
    /// # Panics
    ///
    /// When [`validate`](Self::validate) fails.
    pub fn init(&self, device: &Device) -> UNet3d {
        if let Err(e) = self.validate() {
            panic!("{e}");
        }
        let mut init = HeInit {
            rng: ChaCha8Rng::seed_from_u64(self.seed),
            device: device.clone(),
        };
        let mut encoder = Vec::with_capacity(self.depth + 1);
        let mut prev = self.in_channels;
        for l in 0..=self.depth {
            let c = self.channels(l);
            encoder.push(init.res_block(prev, c, self.kernel(l), self.stride(l)));
            prev = c;
        }
        let mut ups = Vec::with_capacity(self.depth);
        let mut decoder = Vec::with_capacity(self.depth);
        for l in 0..self.depth {
            let (c, c_below) = (self.channels(l), self.channels(l + 1));
            ups.push(init.conv_transpose(c_below, c, self.stride(l + 1)));
            decoder.push(init.res_block(2 * c, c, self.kernel(l), [1, 1, 1]));
        }
        let head = init.conv(
            self.channels(0),
            self.out_channels,
            [1, 1, 1],
            [1, 1, 1],
            true,
        );
        UNet3d {
            encoder,
            ups,
            decoder,
            head,
            multiple: self.size_multiple(),
            in_channels: self.in_channels,
        }
    }

    /// Number of parameters of the model [`init`](Self::init) builds (computed from the
    /// hyper-parameters; equals `init(..).num_params()`).
    pub fn params(&self) -> usize {
        let vol = |k: [usize; 3]| k.iter().product::<usize>();
        let block = |cin: usize, cout: usize, k: [usize; 3], s: [usize; 3]| {
            let mut p = cin * cout * vol(k) + cout * cout * vol(k) + 4 * cout;
            if cin != cout || s != [1, 1, 1] {
                p += cin * cout + 2 * cout;
            }
            p
        };
        let mut p = 0;
        let mut prev = self.in_channels;
        for l in 0..=self.depth {
            p += block(prev, self.channels(l), self.kernel(l), self.stride(l));
            prev = self.channels(l);
        }
        for l in 0..self.depth {
            let c = self.channels(l);
            p += self.channels(l + 1) * c * vol(self.stride(l + 1)) + c;
            p += block(2 * c, c, self.kernel(l), [1, 1, 1]);
        }
        p + self.channels(0) * self.out_channels + self.out_channels
    }

    /// FLOPs (2 × multiply-adds) of the convolutions and transposed convolutions of one forward
    /// pass on a `[1, in_channels, d, h, w]` input (norms, activations, additions and the
    /// concatenations — a few FLOPs per voxel and channel — are not counted). Scales linearly
    /// with the batch size.
    pub fn flops(&self, d: usize, h: usize, w: usize) -> f64 {
        let vol = |k: [usize; 3]| k.iter().product::<usize>() as f64;
        let mut size = [d as f64, h as f64, w as f64];
        let mut voxels = Vec::with_capacity(self.depth + 1);
        let mut f = 0.0;
        let mut prev = self.in_channels as f64;
        for l in 0..=self.depth {
            let s = self.stride(l);
            for i in 0..3 {
                size[i] /= s[i] as f64;
            }
            let n = size.iter().product::<f64>();
            voxels.push(n);
            let (c, k) = (self.channels(l) as f64, vol(self.kernel(l)));
            f += n * (prev * c * k + c * c * k);
            if prev != c || s != [1, 1, 1] {
                f += n * prev * c;
            }
            prev = c;
        }
        for l in 0..self.depth {
            let (c, c_below) = (self.channels(l) as f64, self.channels(l + 1) as f64);
            f += voxels[l + 1] * c_below * c * vol(self.stride(l + 1));
            let k = vol(self.kernel(l));
            f += voxels[l] * (2.0 * c * c * k + c * c * k + 2.0 * c * c);
        }
        f += voxels[0] * self.channels(0) as f64 * self.out_channels as f64;
        2.0 * f
    }
}

/// The seeded He-normal initialiser behind [`UNet3dConfig::init`].
struct HeInit {
    rng: ChaCha8Rng,
    device: Device,
}

impl HeInit {
    fn normal<const D: usize>(&mut self, shape: [usize; D], fan_in: usize) -> Param<Tensor<D>> {
        let gain = (2.0 / (1.0 + LEAKY_SLOPE * LEAKY_SLOPE)).sqrt();
        let std = gain / (fan_in as f64).sqrt();
        let n = shape.iter().product::<usize>();
        let values: Vec<f32> = (0..n)
            .map(|_| {
                let z: f64 = StandardNormal.sample(&mut self.rng);
                (z * std) as f32
            })
            .collect();
        Param::from_data(TensorData::new(values, shape), &self.device)
    }

    fn zeros(&self, n: usize) -> Param<Tensor<1>> {
        Param::from_data(TensorData::new(vec![0f32; n], [n]), &self.device)
    }

    fn conv(
        &mut self,
        cin: usize,
        cout: usize,
        kernel: [usize; 3],
        stride: [usize; 3],
        bias: bool,
    ) -> Conv3d {
        let padding = PaddingConfig3d::Explicit(kernel[0] / 2, kernel[1] / 2, kernel[2] / 2);
        // burn's config builds lazily initialised parameters; replacing them before first
        // access means burn's RNG is never drawn from.
        let mut conv = Conv3dConfig::new([cin, cout], kernel)
            .with_stride(stride)
            .with_padding(padding)
            .with_bias(bias)
            .init(&self.device);
        let k = kernel.iter().product::<usize>();
        conv.weight = self.normal([cout, cin, kernel[0], kernel[1], kernel[2]], cin * k);
        conv.bias = bias.then(|| self.zeros(cout));
        conv
    }

    fn conv_transpose(&mut self, cin: usize, cout: usize, stride: [usize; 3]) -> ConvTranspose3d {
        let mut up = ConvTranspose3dConfig::new([cin, cout], stride)
            .with_stride(stride)
            .init(&self.device);
        let k = stride.iter().product::<usize>();
        up.weight = self.normal([cin, cout, stride[0], stride[1], stride[2]], cout * k);
        up.bias = Some(self.zeros(cout));
        up
    }

    fn norm(&self, c: usize) -> InstanceNorm {
        InstanceNormConfig::new(c)
            .with_epsilon(NORM_EPS)
            .with_affine(true)
            .init(&self.device)
    }

    fn res_block(
        &mut self,
        cin: usize,
        cout: usize,
        kernel: [usize; 3],
        stride: [usize; 3],
    ) -> ResBlock {
        let conv1 = self.conv(cin, cout, kernel, stride, false);
        let norm1 = self.norm(cout);
        let conv2 = self.conv(cout, cout, kernel, [1, 1, 1], false);
        let norm2 = self.norm(cout);
        let skip = (cin != cout || stride != [1, 1, 1]).then(|| Projection {
            conv: self.conv(cin, cout, [1, 1, 1], stride, false),
            norm: self.norm(cout),
        });
        ResBlock {
            conv1,
            norm1,
            conv2,
            norm2,
            skip,
        }
    }
}

impl ResBlock {
    fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        let y = leaky_relu(
            self.norm1.forward(self.conv1.forward(x.clone())),
            LEAKY_SLOPE,
        );
        let y = self.norm2.forward(self.conv2.forward(y));
        let residual = match &self.skip {
            Some(p) => p.norm.forward(p.conv.forward(x)),
            None => x,
        };
        leaky_relu(y + residual, LEAKY_SLOPE)
    }
}

impl UNet3d {
    /// Logits for a batch of patches.
    ///
    /// # Shapes
    ///
    /// `x`: `[B, in_channels, D, H, W]` with `D`, `H`, `W` multiples of
    /// [`size_multiple`](UNet3dConfig::size_multiple) (`D` by `2^(depth−anisotropic_levels)`,
    /// `H` and `W` by `2^depth`); returns `[B, out_channels, D, H, W]`.
    ///
    /// # Panics
    ///
    /// On a wrong channel count or a size that is not such a multiple.
    pub fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        let [_, c, d, h, w] = x.dims();
        assert_eq!(
            c, self.in_channels,
            "UNet3d: input has {c} channels, the model expects {}",
            self.in_channels
        );
        let m = self.multiple;
        assert!(
            d % m[0] == 0 && h % m[1] == 0 && w % m[2] == 0 && d > 0 && h > 0 && w > 0,
            "UNet3d: input [D,H,W] = [{d},{h},{w}] must be a non-zero multiple of {m:?}"
        );
        let depth = self.ups.len();
        let mut skips = Vec::with_capacity(depth);
        let mut x = x;
        for (l, stage) in self.encoder.iter().enumerate() {
            x = stage.forward(x);
            if l < depth {
                skips.push(x.clone());
            }
        }
        for l in (0..depth).rev() {
            let up = self.ups[l].forward(x);
            let skip = skips.pop().expect("one skip per level");
            x = self.decoder[l].forward(Tensor::cat(vec![up, skip], 1));
        }
        self.head.forward(x)
    }

    /// `[D, H, W]` multiples an input must have.
    pub fn size_multiple(&self) -> [usize; 3] {
        self.multiple
    }

    /// The same network with `extra` more input channels after the existing ones, whose
    /// first-layer weights are zero: it computes exactly what this one computed, whatever the
    /// new channels hold, until training gives them weight (fine-tuning a model onto a plan
    /// with more inputs, e.g. the mirrored DWI).
    #[must_use]
    pub fn with_extra_inputs(mut self, extra: usize) -> UNet3d {
        if extra == 0 {
            return self;
        }
        let widen = |conv: &mut Conv3d| {
            let w = conv.weight.val();
            let [cout, _, k0, k1, k2] = w.dims();
            let zeros = Tensor::<5>::zeros([cout, extra, k0, k1, k2], &w.device());
            conv.weight = Param::from_tensor(Tensor::cat(vec![w, zeros], 1));
        };
        let first = &mut self.encoder[0];
        widen(&mut first.conv1);
        if let Some(p) = &mut first.skip {
            widen(&mut p.conv);
        }
        self.in_channels += extra;
        self
    }
}

/// Which parameters a fine-tuning run may change; the rest are made no-grad (burn's
/// `set_require_grad(false)` per sub-module), so AdamW never touches them (no gradient, no
/// update, no weight decay).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrainableParts {
    /// Every parameter.
    All,
    /// The expanding path: transposed convolutions, decoder stages and the head; the encoder
    /// (and bottleneck) stay as they were.
    Decoder,
    /// Only the instance-norm affine parameters (scale `gamma`, shift `beta`) of every block.
    NormAffine,
}

impl TrainableParts {
    /// Whether the parameter at `path` (as [`UNet3d::named_params`] names it) is trainable.
    #[must_use]
    pub fn includes(self, path: &str) -> bool {
        match self {
            TrainableParts::All => true,
            TrainableParts::Decoder => !path.starts_with("encoder."),
            TrainableParts::NormAffine => path.split('.').any(|p| p.starts_with("norm")),
        }
    }
}

fn norms_trainable(b: ResBlock) -> ResBlock {
    ResBlock {
        norm1: b.norm1.set_require_grad(true),
        norm2: b.norm2.set_require_grad(true),
        skip: b.skip.map(|p| Projection {
            conv: p.conv,
            norm: p.norm.set_require_grad(true),
        }),
        ..b
    }
}

/// Collects `(path, values)` of every float parameter, paths like `encoder.0.norm1.gamma`.
#[derive(Default)]
struct NamedParams {
    stack: Vec<String>,
    out: Vec<(String, Vec<f32>)>,
}

impl ModuleVisitor for NamedParams {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.stack.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let values = param
            .val()
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap_or_default();
        self.out.push((self.stack.join("."), values));
    }
}

impl UNet3d {
    /// The same weights with only `parts` requiring gradients (see [`TrainableParts`]).
    #[must_use]
    pub fn with_trainable(self, parts: TrainableParts) -> Self {
        match parts {
            TrainableParts::All => self.set_require_grad(true),
            TrainableParts::Decoder => {
                let m = self.set_require_grad(false);
                UNet3d {
                    ups: m.ups.set_require_grad(true),
                    decoder: m.decoder.set_require_grad(true),
                    head: m.head.set_require_grad(true),
                    ..m
                }
            }
            TrainableParts::NormAffine => {
                let m = self.set_require_grad(false);
                UNet3d {
                    encoder: m.encoder.into_iter().map(norms_trainable).collect(),
                    decoder: m.decoder.into_iter().map(norms_trainable).collect(),
                    ..m
                }
            }
        }
    }

    /// Every float parameter as `(path, values)`, in module order; paths name the field chain
    /// (`encoder.0.conv1.weight`, `decoder.1.norm2.beta`, `ups.0.bias`, `head.weight`). For
    /// inspection and tests (e.g. that frozen parameters did not move).
    #[must_use]
    pub fn named_params(&self) -> Vec<(String, Vec<f32>)> {
        let mut v = NamedParams::default();
        self.visit(&mut v);
        v.out
    }
}
