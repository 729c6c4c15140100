//! End-to-end tests of the `strokeseg` binary, one test binary (ripgrep style).

mod bad_input;
mod dicom;
mod inspect;
mod model_cli;
mod real_data;
mod synth;
mod util;
