//! Benchmark machinery behind `strokeseg bench`: repeated timing with median/min/max
//! ([`stats`]), peak resident memory per phase and per child process ([`mem`]), the machine's
//! description ([`machine`]) and its measured matrix-multiply peak ([`probe`]), our network's
//! forward and training-step measurements ([`net`]), the bridge to the identical network in
//! PyTorch and ONNX Runtime ([`torch`], running `tools/bench/torch_unet.py` in the venv that
//! `tools/bench/setup-venv.sh` makes), and the Markdown report ([`report`]).
//!
//! Owns: measuring and reporting. Must not touch: the network itself (`strokeseg-model`; this
//! crate only calls it), the segmentation pipeline (the binary times it as a child process), or
//! any user data. Speed goals are reported here, never asserted in tests.
#![warn(missing_docs)]

mod error;
pub mod machine;
pub mod mem;
pub mod net;
pub mod probe;
pub mod report;
pub mod stats;
pub mod torch;

pub use error::BenchError;
pub use stats::Stats;
