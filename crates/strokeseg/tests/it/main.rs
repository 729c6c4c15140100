//! End-to-end tests of the `strokeseg` binary, one test binary (ripgrep style).

mod adapt_cli;
mod bad_input;
mod browser;
mod device_cli;
mod dicom;
mod dicom_out;
mod engine_cli;
mod ensemble_cli;
mod evaluate_cli;
mod golden;
mod inspect;
mod learning_curve_cli;
mod location_cli;
mod model_cli;
mod real_data;
mod serve;
mod synth;
mod util;
