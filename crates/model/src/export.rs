//! Weights out of (and back into) a [`UNet3d`] as SafeTensors, for running the identical network
//! in another framework (the PyTorch/ONNX Runtime benchmark, `tools/bench/torch_unet.py`), and
//! raw logits for comparing outputs.
//!
//! Tensor names are burn's module paths (`encoder.0.conv1.weight`, `ups.1.bias`, …); shapes
//! and layouts are burn's, which are PyTorch's for these layers: `Conv3d` weight
//! `[out, in, kd, kh, kw]`, `ConvTranspose3d` weight `[in, out, kd, kh, kw]`. Instance-norm scale
//! and shift are burn's `gamma`/`beta` (PyTorch's `weight`/`bias`). All f32, little-endian.
//!
//! The file is written with the `safetensors` crate (the format's reference implementation)
//! rather than through burn-store, so burn's feature set — shared by the whole workspace — stays
//! unchanged.

use std::collections::HashMap;
use std::path::Path;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::{Tensor, TensorData};
use ndarray::Array5;
use safetensors::{Dtype, SafeTensors};

use crate::{to_array, to_tensor, ModelError, UNet3d};

/// The burn release this crate is built against (pinned with `=` in the workspace manifest);
/// reported by the benchmark.
pub const BURN_VERSION: &str = "0.22.1";

/// One named parameter tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    /// burn module path, e.g. `encoder.0.conv1.weight`.
    pub name: String,
    /// Shape in burn's (= PyTorch's) order.
    pub shape: Vec<usize>,
    /// Values in row-major order.
    pub values: Vec<f32>,
}

/// Every parameter of `model` with its module path, in visiting order.
pub fn named_tensors(model: &UNet3d) -> Vec<NamedTensor> {
    let mut c = Collect::default();
    model.visit(&mut c);
    c.out
}

#[derive(Default)]
struct Collect {
    path: Vec<String>,
    out: Vec<NamedTensor>,
}

impl ModuleVisitor for Collect {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.val();
        let shape = t.dims().to_vec();
        let values = t
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .expect("f32 after convert");
        self.out.push(NamedTensor {
            name: self.path.join("."),
            shape,
            values,
        });
    }
}

/// Writes every parameter of `model` to `path` as SafeTensors (f32), replacing the file.
pub fn export_safetensors(model: &UNet3d, path: &Path) -> Result<(), ModelError> {
    let tensors = named_tensors(model);
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .into_iter()
        .map(|t| {
            let b = t.values.iter().flat_map(|v| v.to_le_bytes()).collect();
            (t.name, t.shape, b)
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(n, s, b)| {
            safetensors::tensor::TensorView::new(Dtype::F32, s.clone(), b)
                .map(|v| (n.clone(), v))
                .map_err(|e| e.to_string())
        })
        .collect::<Result<Vec<_>, _>>();
    let bad = |msg: String| ModelError::Weights {
        path: path.to_path_buf(),
        msg,
    };
    let views = views.map_err(bad)?;
    let meta = HashMap::from([("producer".to_string(), "strokeseg-model".to_string())]);
    let buf = safetensors::serialize(views, Some(meta)).map_err(|e| bad(e.to_string()))?;
    std::fs::write(path, buf).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a SafeTensors file of f32 tensors (sorted by name).
pub fn read_safetensors(path: &Path) -> Result<Vec<NamedTensor>, ModelError> {
    let buf = std::fs::read(path).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let bad = |msg: String| ModelError::Weights {
        path: path.to_path_buf(),
        msg,
    };
    let st = SafeTensors::deserialize(&buf).map_err(|e| bad(e.to_string()))?;
    let mut out = Vec::new();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(bad(format!(
                "{name}: dtype {:?}, expected F32",
                view.dtype()
            )));
        }
        let values = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        out.push(NamedTensor {
            name,
            shape: view.shape().to_vec(),
            values,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Replaces the weights of `model` (same architecture) with those in a SafeTensors file from
/// [`export_safetensors`] (or any file with the same names and shapes). Every parameter must
/// be present with its shape and no extra tensor may remain.
pub fn import_safetensors(model: UNet3d, path: &Path) -> Result<UNet3d, ModelError> {
    let tensors = read_safetensors(path)?;
    let mut m = Replace {
        path: Vec::new(),
        tensors: tensors.into_iter().map(|t| (t.name.clone(), t)).collect(),
        errors: Vec::new(),
    };
    let model = model.map(&mut m);
    let mut errors = m.errors;
    let mut unused: Vec<_> = m.tensors.into_keys().collect();
    unused.sort();
    errors.extend(
        unused
            .into_iter()
            .map(|n| format!("{n}: not a parameter of the model")),
    );
    if errors.is_empty() {
        Ok(model)
    } else {
        Err(ModelError::Weights {
            path: path.to_path_buf(),
            msg: errors.join("; "),
        })
    }
}

struct Replace {
    path: Vec<String>,
    tensors: HashMap<String, NamedTensor>,
    errors: Vec<String>,
}

impl ModuleMapper for Replace {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let name = self.path.join(".");
        let old = param.val();
        let Some(t) = self.tensors.remove(&name) else {
            self.errors.push(format!("{name}: missing"));
            return param;
        };
        if t.shape != old.dims() {
            self.errors.push(format!(
                "{name}: shape {:?} in the file, {:?} in the model",
                t.shape,
                old.dims()
            ));
            return param;
        }
        let id: ParamId = param.id;
        let value = Tensor::from_data(TensorData::new(t.values, t.shape), &old.device());
        Param::initialized(id, value)
    }
}

/// Raw logits (no sigmoid) of `model` for a batch, without autodiff.
///
/// # Shapes
///
/// As [`predict`](crate::predict).
pub fn logits(model: &UNet3d, input: &Array5<f32>) -> Array5<f32> {
    let model = model.valid();
    let device = model
        .devices()
        .into_iter()
        .next()
        .expect("the model has parameters")
        .without_autodiff();
    to_array(model.forward(to_tensor(input, &device)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{cpu_device, UNet3dConfig};

    fn tiny() -> UNet3dConfig {
        UNet3dConfig::new()
            .with_base_channels(4)
            .with_depth(2)
            .with_seed(3)
    }

    #[test]
    fn export_reads_back_as_the_same_weights_and_imports_into_the_same_network() {
        let device = cpu_device();
        let cfg = tiny();
        let a = cfg.init(&device);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("w.safetensors");
        export_safetensors(&a, &file).unwrap();

        // Read back: the same names, shapes and bit-identical values as the model holds.
        let mut ours = named_tensors(&a);
        ours.sort_by(|x, y| x.name.cmp(&y.name));
        let back = read_safetensors(&file).unwrap();
        assert_eq!(ours, back);
        assert_eq!(
            back.iter().map(|t| t.values.len()).sum::<usize>(),
            cfg.params()
        );
        assert!(back.iter().any(|t| t.name == "encoder.0.conv1.weight"));
        assert!(back.iter().any(|t| t.name == "ups.0.weight"));

        // Import into a differently seeded network: its forward becomes identical to `a`'s.
        let b = cfg.clone().with_seed(99).init(&device);
        let x = Array5::from_shape_fn((1, 2, 4, 16, 16), |(_, c, z, y, x)| {
            ((c * 31 + z * 7 + y * 3 + x) % 13) as f32 / 6.0 - 1.0
        });
        let ya = logits(&a, &x);
        assert_ne!(
            ya,
            logits(&b, &x),
            "different seeds must differ before import"
        );
        let b = import_safetensors(b, &file).unwrap();
        assert_eq!(ya, logits(&b, &x));
    }

    #[test]
    fn import_rejects_a_file_of_another_architecture() {
        let device = cpu_device();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("w.safetensors");
        export_safetensors(&tiny().init(&device), &file).unwrap();
        let wider = tiny().with_base_channels(8).init(&device);
        let err = import_safetensors(wider, &file).unwrap_err().to_string();
        assert!(
            err.contains("w.safetensors") && err.contains("shape"),
            "{err}"
        );
    }
}
