//! The network device of this run: `--device`, else `$STROKESEG_DEVICE`, else burn's flex CPU
//! backend. Set once at start-up, before any command builds a model; the commands read it with
//! `strokeseg_model::run_device()`; child processes inherit it through the variable. Must not
//! touch: what runs on the device.

use strokeseg_model::{set_run_device, DeviceChoice};

use crate::PipelineError;

/// The environment variable read when `--device` is not given.
pub const DEVICE_ENV: &str = "STROKESEG_DEVICE";

/// Resolves and sets the device; an unknown name or a device this build or machine lacks is an
/// error whose text says what to do (the caller exits with code 2).
///
/// # Errors
/// [`PipelineError::Setup`] with that text.
pub fn select(flag: Option<DeviceChoice>) -> Result<DeviceChoice, PipelineError> {
    let choice = match flag {
        Some(choice) => choice,
        None => match std::env::var(DEVICE_ENV) {
            Ok(text) if !text.trim().is_empty() => text
                .parse()
                .map_err(|e| PipelineError::Setup(format!("${DEVICE_ENV}: {e}")))?,
            _ => DeviceChoice::default(),
        },
    };
    set_run_device(choice).map_err(|e| PipelineError::Setup(e.to_string()))?;
    // Child processes (`bench` times `segment` in one) run on the same device.
    std::env::set_var(DEVICE_ENV, choice.to_string());
    tracing::info!("network device: {choice}");
    Ok(choice)
}
