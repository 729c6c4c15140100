//! One optimisation step (AdamW) and inference, with ndarray in and out.

use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor, TensorData};
use ndarray::Array5;

use crate::{dice_bce_loss, UNet3d, UNet3dConfig};

/// AdamW weight decay (nnU-Net's 3e-5).
pub const WEIGHT_DECAY: f32 = 3e-5;

/// Copies an ndarray (any memory layout) into a tensor on `device`.
pub fn to_tensor(a: &Array5<f32>, device: &Device) -> Tensor<5> {
    let shape: [usize; 5] = a.dim().into();
    let values = match a.as_slice() {
        Some(s) => s.to_vec(),
        None => a.iter().copied().collect(),
    };
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// Copies a tensor back into an ndarray.
pub fn to_array(t: Tensor<5>) -> Array5<f32> {
    let shape: [usize; 5] = t.dims();
    let values = t
        .into_data()
        .try_into_vec::<f32>()
        .expect("model output is f32");
    Array5::from_shape_vec(shape, values).expect("shape matches the element count")
}

/// Sigmoid probabilities for a batch of patches, computed on the model's device without
/// autodiff.
///
/// # Shapes
///
/// `input`: `[B, in_channels, D, H, W]` (multiples as in [`UNet3d::forward`]); returns
/// `[B, out_channels, D, H, W]` in `[0, 1]`.
pub fn predict(model: &UNet3d, input: Array5<f32>) -> Array5<f32> {
    // `valid` drops the autodiff association (a no-op structure copy for an inference model),
    // so no graph is recorded even when handed the training copy.
    let model = model.valid();
    let device = model
        .devices()
        .into_iter()
        .next()
        .expect("the model has parameters")
        .without_autodiff();
    to_array(sigmoid(model.forward(to_tensor(&input, &device))))
}

/// Trains a [`UNet3d`] with AdamW (β = 0.9/0.999, ε = 1e-5, weight decay [`WEIGHT_DECAY`]) on
/// [`dice_bce_loss`]; the learning rate is given per step so any schedule (nnU-Net's poly
/// decay, say) lives with the caller.
pub struct Trainer {
    /// The model on the autodiff device.
    model: UNet3d,
    optim: ModuleOptimizer,
    device: Device,
    config: UNet3dConfig,
    steps: usize,
}

impl Trainer {
    /// A freshly initialised model (seeded by `config.seed`) on `device` with autodiff.
    pub fn new(config: &UNet3dConfig, device: &Device) -> Self {
        let device = device.clone().autodiff();
        let model = config.init(&device);
        Self::with_model(model, config, &device)
    }

    /// Continues training `model` (e.g. one from [`load`](crate::load)) on `device` with
    /// autodiff; the optimiser state starts empty.
    pub fn from_model(model: UNet3d, config: &UNet3dConfig, device: &Device) -> Self {
        let device = device.clone().autodiff();
        let model = model.train().fork(&device);
        Self::with_model(model, config, &device)
    }

    fn with_model(model: UNet3d, config: &UNet3dConfig, device: &Device) -> Self {
        Self {
            model,
            optim: AdamWConfig::new().with_weight_decay(WEIGHT_DECAY).init(),
            device: device.clone(),
            config: config.clone(),
            steps: 0,
        }
    }

    /// One forward/backward/AdamW update on a batch; returns the loss before the update.
    ///
    /// # Shapes
    ///
    /// `input`: `[B, in_channels, D, H, W]`; `target`: `[B, 1, D, H, W]` of 0/1.
    pub fn step(&mut self, input: Array5<f32>, target: Array5<f32>, lr: f64) -> f32 {
        let x = to_tensor(&input, &self.device);
        let t = to_tensor(&target, &self.device);
        let loss = dice_bce_loss(self.model.forward(x), t);
        let value = loss.clone().into_scalar::<f32>();
        let grads = GradientsParams::from_grads(loss.backward(), &self.model);
        self.model = self.optim.step(lr, self.model.clone(), grads);
        self.steps += 1;
        value
    }

    /// The inference copy of the current weights (no autodiff).
    pub fn model(&self) -> UNet3d {
        self.model.valid()
    }

    /// The model's hyper-parameters.
    pub fn config(&self) -> &UNet3dConfig {
        &self.config
    }

    /// Steps taken so far.
    pub fn steps(&self) -> usize {
        self.steps
    }
}
