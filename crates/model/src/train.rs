//! One optimisation step (AdamW) and inference, with ndarray in and out; the optimiser state
//! can be saved and restored so a resumed run continues exactly.

use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor, TensorData};
use ndarray::Array5;

use std::path::Path;

use crate::{
    dice_bce_loss, lesion_masks, lesionwise_dice_loss, masked_dice_bce_loss, ModelError, UNet3d,
    UNet3dConfig,
};

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

/// Mean binary entropy of `sigmoid(logits)`, `H = softplus(x) − σ(x)·x` (the stable form of
/// `−p ln p − (1−p) ln(1−p)`): the objective of test-time entropy minimisation (TENT, Wang et
/// al., ICLR 2021).
///
/// # Shapes
///
/// `logits`: any shape. Returns `[1]`.
pub fn binary_entropy_with_logits<const D: usize>(logits: Tensor<D>) -> Tensor<1> {
    let p = sigmoid(logits.clone());
    let softplus = logits.clone().clamp_min(0.0) + logits.clone().abs().neg().exp().log1p();
    (softplus - p * logits).mean()
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
        self.step_lesionwise(input, target, &[], 0.0, lr)
    }

    /// [`step`](Self::step) with `weight` × [`lesionwise_dice_loss`] over `lesions` (each a
    /// sample index and its voxels [d, h, w], see [`lesion_masks`]) added to the loss. With no
    /// lesion it is exactly [`step`](Self::step).
    ///
    /// # Shapes
    ///
    /// As [`step`](Self::step).
    pub fn step_lesionwise(
        &mut self,
        input: Array5<f32>,
        target: Array5<f32>,
        lesions: &[(usize, Vec<[usize; 3]>)],
        weight: f64,
        lr: f64,
    ) -> f32 {
        // A negative target marks voxels excluded from the loss (see masked_dice_bce_loss).
        let masked = target.iter().any(|&v| v < 0.0);
        let masks = lesion_masks(&target, lesions);
        let x = to_tensor(&input, &self.device);
        let t = to_tensor(&target, &self.device);
        let logits = self.model.forward(x);
        let mut loss = if masked {
            masked_dice_bce_loss(logits.clone(), t.clone())
        } else {
            dice_bce_loss(logits.clone(), t.clone())
        };
        if !masks.is_empty() {
            let masks: Vec<_> = masks.iter().map(|m| to_tensor(m, &self.device)).collect();
            loss = loss + lesionwise_dice_loss(logits, t, &masks).mul_scalar(weight);
        }
        self.update(loss, lr)
    }

    /// One unsupervised update minimising [`binary_entropy_with_logits`] of the predictions
    /// (no labels); returns the entropy before the update. Meant for a model whose trainable
    /// parts are the norm affine parameters (see [`UNet3d::with_trainable`]).
    ///
    /// # Shapes
    ///
    /// `input`: `[B, in_channels, D, H, W]`.
    pub fn step_entropy(&mut self, input: Array5<f32>, lr: f64) -> f32 {
        let x = to_tensor(&input, &self.device);
        let loss = binary_entropy_with_logits(self.model.forward(x));
        self.update(loss, lr)
    }

    fn update(&mut self, loss: Tensor<1>, lr: f64) -> f32 {
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

    /// Writes the AdamW state (first and second moments and step count of every parameter,
    /// keyed by parameter id) as a burnpack file. Together with weights saved by
    /// [`save`](crate::save) (which keeps parameter ids) it lets [`load_optimizer`]
    /// (Self::load_optimizer) continue the run exactly.
    pub fn save_optimizer(&self, path: &Path) -> Result<(), ModelError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| ModelError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        self.optim.save(path).map_err(|e| ModelError::Weights {
            path: path.to_path_buf(),
            msg: e.to_string(),
        })
    }

    /// Restores AdamW state written by [`save_optimizer`](Self::save_optimizer) for the same
    /// weights (loaded with [`load`](crate::load) and handed to [`from_model`]
    /// (Self::from_model)).
    pub fn load_optimizer(&mut self, path: &Path) -> Result<(), ModelError> {
        if !path.is_file() {
            return Err(ModelError::Weights {
                path: path.to_path_buf(),
                msg: "optimizer state file not found".into(),
            });
        }
        let fresh = AdamWConfig::new().with_weight_decay(WEIGHT_DECAY).init();
        self.optim = fresh.load(path).map_err(|e| ModelError::Weights {
            path: path.to_path_buf(),
            msg: format!("bad optimizer state: {e}"),
        })?;
        Ok(())
    }
}
