//! Which burn device the network runs on: a name a user types ([`DeviceChoice`]), the device it
//! makes ([`DeviceChoice::device`]), and the process-wide choice the commands share
//! ([`set_run_device`], [`run_device`]).
//!
//! burn 0.22 picks the backend through its `Device` value (no backend type parameter), so one
//! binary can hold several backends. The default is burn's pure-Rust flex backend. With the
//! optional `tch` feature (off by default and in CI; it links PyTorch's libtorch, see
//! tools/setup-tch.sh) the network can also run on libtorch's CPU or CUDA device. Weights are
//! saved as a device-independent burnpack record, so a model trained on one device loads on any
//! other. Must not touch: what runs on the device (the network, `unet.rs`; training,
//! `train.rs`).

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use burn::tensor::Device;

/// The build command that enables the libtorch devices, quoted in errors.
pub const TCH_BUILD_HINT: &str = "rebuild with the libtorch backend: `bash tools/setup-tch.sh` \
     (`--cpu` without a GPU), `source ~/.cache/strokeseg/tch.env`, then \
     `cargo build --release -p strokeseg --features tch` (README, \"Optional: the network on \
     libtorch\")";

/// A device by name: `cpu` (alias `flex`), `libtorch-cpu`, `cuda` or `cuda:N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// burn's pure-Rust flex backend on the CPU (always built; the default).
    #[default]
    Flex,
    /// libtorch on the CPU (needs the `tch` feature).
    LibTorchCpu,
    /// libtorch on CUDA device N (needs the `tch` feature, a CUDA build of PyTorch and a GPU).
    Cuda(usize),
}

/// A device name that does not parse, or a device this build or machine cannot provide.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    /// Not one of the known names.
    #[error("unknown device {0:?}: expected cpu, libtorch-cpu, cuda or cuda:N")]
    Unknown(String),
    /// A libtorch device in a build without the `tch` feature.
    #[error("device {0} needs the libtorch backend, which this build of strokeseg lacks; {TCH_BUILD_HINT}")]
    NotBuilt(DeviceChoice),
    /// A CUDA index libtorch does not see.
    #[error(
        "device {choice}: libtorch sees {found} CUDA device(s) on this machine (a CPU-only \
         PyTorch, no GPU, or no driver?); use --device libtorch-cpu or cpu"
    )]
    NoCuda {
        /// What was asked for.
        choice: DeviceChoice,
        /// How many CUDA devices libtorch reported.
        found: usize,
    },
    /// [`set_run_device`] called twice with different choices.
    #[error("the network device was already set to {0}")]
    AlreadySet(DeviceChoice),
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceChoice::Flex => f.write_str("cpu"),
            DeviceChoice::LibTorchCpu => f.write_str("libtorch-cpu"),
            DeviceChoice::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl FromStr for DeviceChoice {
    type Err = DeviceError;

    fn from_str(s: &str) -> Result<Self, DeviceError> {
        let name = s.trim().to_ascii_lowercase();
        match name.as_str() {
            "cpu" | "flex" => return Ok(DeviceChoice::Flex),
            "libtorch-cpu" | "libtorch" => return Ok(DeviceChoice::LibTorchCpu),
            "cuda" => return Ok(DeviceChoice::Cuda(0)),
            _ => {}
        }
        name.strip_prefix("cuda:")
            .and_then(|n| n.parse().ok())
            .map(DeviceChoice::Cuda)
            .ok_or_else(|| DeviceError::Unknown(s.to_string()))
    }
}

impl DeviceChoice {
    /// Whether this build can make the device at all (libtorch devices need the `tch` feature).
    pub fn is_built(self) -> bool {
        matches!(self, DeviceChoice::Flex) || cfg!(feature = "tch")
    }

    /// Makes the device, checking first that this build and machine have it (a CUDA index
    /// libtorch does not see is an error here rather than a panic in the first operation).
    pub fn device(self) -> Result<Device, DeviceError> {
        match self {
            DeviceChoice::Flex => Ok(Device::flex()),
            _ => libtorch_device(self),
        }
    }
}

#[cfg(feature = "tch")]
// burn 0.22 deprecates its libtorch backend in favour of CubeCL ones; CubeCL's CUDA backend
// downloads LLVM at build time (issue 4), so libtorch stays the GPU route here.
#[allow(deprecated)]
fn libtorch_device(choice: DeviceChoice) -> Result<Device, DeviceError> {
    match choice {
        DeviceChoice::Flex => Ok(Device::flex()),
        DeviceChoice::LibTorchCpu => Ok(Device::libtorch()),
        DeviceChoice::Cuda(n) => {
            // burn lists libtorch's CUDA devices (tch::Cuda::device_count) this way.
            let found = Device::enumerate(burn::tensor::DeviceType::LibTorch).len();
            if n < found {
                Ok(Device::libtorch_cuda(n))
            } else {
                Err(DeviceError::NoCuda { choice, found })
            }
        }
    }
}

#[cfg(not(feature = "tch"))]
fn libtorch_device(choice: DeviceChoice) -> Result<Device, DeviceError> {
    Err(DeviceError::NotBuilt(choice))
}

static RUN_DEVICE: OnceLock<(DeviceChoice, Device)> = OnceLock::new();

/// Sets the device every later [`run_device`] returns (the binary does this once, from
/// `--device`). Setting the same choice again is a no-op.
///
/// # Errors
/// The device is not available ([`DeviceChoice::device`]), or another choice was set before.
pub fn set_run_device(choice: DeviceChoice) -> Result<(), DeviceError> {
    if let Some((set, _)) = RUN_DEVICE.get() {
        return if *set == choice {
            Ok(())
        } else {
            Err(DeviceError::AlreadySet(*set))
        };
    }
    let device = choice.device()?;
    let (set, _) = RUN_DEVICE.get_or_init(|| (choice, device));
    if *set == choice {
        Ok(())
    } else {
        Err(DeviceError::AlreadySet(*set))
    }
}

/// The device the network runs on: the one given to [`set_run_device`], or flex when none was.
pub fn run_device() -> Device {
    RUN_DEVICE
        .get()
        .map(|(_, d)| d.clone())
        .unwrap_or_else(Device::flex)
}

/// The name of [`run_device`] (`cpu` when none was set).
pub fn run_device_choice() -> DeviceChoice {
    RUN_DEVICE.get().map(|(c, _)| *c).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_print_back() {
        for (text, want) in [
            ("cpu", DeviceChoice::Flex),
            ("FLEX", DeviceChoice::Flex),
            ("libtorch-cpu", DeviceChoice::LibTorchCpu),
            ("cuda", DeviceChoice::Cuda(0)),
            ("cuda:3", DeviceChoice::Cuda(3)),
        ] {
            let got: DeviceChoice = text.parse().unwrap();
            assert_eq!(got, want, "{text}");
            assert_eq!(got.to_string().parse::<DeviceChoice>().unwrap(), want);
        }
        for bad in ["gpu", "cuda:", "cuda:x", "cuda:-1", ""] {
            assert!(
                matches!(bad.parse::<DeviceChoice>(), Err(DeviceError::Unknown(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn flex_is_always_built() {
        assert!(DeviceChoice::Flex.is_built());
        assert!(DeviceChoice::Flex.device().is_ok());
    }

    #[cfg(not(feature = "tch"))]
    #[test]
    fn libtorch_without_the_feature_says_how_to_build_it() {
        for choice in [DeviceChoice::LibTorchCpu, DeviceChoice::Cuda(0)] {
            assert!(!choice.is_built());
            let err = choice.device().unwrap_err();
            assert_eq!(err, DeviceError::NotBuilt(choice));
            assert!(err.to_string().contains("--features tch"), "{err}");
        }
    }

    #[cfg(feature = "tch")]
    #[test]
    fn a_cuda_index_libtorch_does_not_see_is_an_error() {
        let found = Device::enumerate(burn::tensor::DeviceType::LibTorch).len();
        let err = DeviceChoice::Cuda(found).device().unwrap_err();
        assert_eq!(
            err,
            DeviceError::NoCuda {
                choice: DeviceChoice::Cuda(found),
                found
            }
        );
    }
}
