//! Which forward runs the network at inference (`segment`, `validate`, `calibrate`, `demo`,
//! `serve`, …: everything that goes through the pipeline's sliding windows): `--engine`, else
//! `$STROKESEG_ENGINE`, else `fast` — the tuned CPU forward of `strokeseg-fastnet` (same logits
//! as burn's to ≤ 1e-4 relative, about 2× faster; docs/BENCHMARKS.md). `burn` runs burn's
//! `UNet3d::forward`, the reference. Set once at start-up like the device; training and its
//! validation always use burn. Must not touch: the network itself.

use std::sync::OnceLock;

use strokeseg_fastnet::{FastNetError, FastUNet};
use strokeseg_model::{run_device_choice, DeviceChoice, UNet3d, UNet3dConfig};

use crate::PipelineError;

/// The environment variable read when `--engine` is not given.
pub const ENGINE_ENV: &str = "STROKESEG_ENGINE";

/// An inference forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Engine {
    /// The tuned CPU forward (`strokeseg-fastnet`); on a libtorch device burn is used instead.
    #[default]
    Fast,
    /// burn's forward on the selected device (the reference).
    Burn,
}

impl std::str::FromStr for Engine {
    type Err = String;

    /// `fast` or `burn`, in any case.
    fn from_str(s: &str) -> Result<Engine, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "fast" => Ok(Engine::Fast),
            "burn" => Ok(Engine::Burn),
            _ => Err(format!("unknown engine {s:?}: expected fast or burn")),
        }
    }
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Engine::Fast => "fast",
            Engine::Burn => "burn",
        })
    }
}

static ENGINE: OnceLock<Engine> = OnceLock::new();

/// Resolves and sets the engine (the first call wins).
///
/// # Errors
/// [`PipelineError::Setup`] for a bad `$STROKESEG_ENGINE`.
pub fn select(flag: Option<Engine>) -> Result<Engine, PipelineError> {
    let engine = match flag {
        Some(e) => e,
        None => match std::env::var(ENGINE_ENV) {
            Ok(text) if !text.trim().is_empty() => text
                .parse()
                .map_err(|e| PipelineError::Setup(format!("${ENGINE_ENV}: {e}")))?,
            _ => Engine::default(),
        },
    };
    let engine = *ENGINE.get_or_init(|| engine);
    tracing::info!("inference engine: {engine:?}");
    Ok(engine)
}

/// The engine in force ([`Engine::Fast`] when none was selected).
#[must_use]
pub fn current() -> Engine {
    ENGINE.get().copied().unwrap_or_default()
}

/// The fast forward of `model`, when the engine in force is [`Engine::Fast`] and the network
/// runs on burn's CPU device (the fast path is CPU-only).
///
/// # Errors
/// The weights do not fit the fast forward.
pub fn fast_net(model: &UNet3d, config: &UNet3dConfig) -> Result<Option<FastUNet>, FastNetError> {
    if current() != Engine::Fast {
        return Ok(None);
    }
    if run_device_choice() != DeviceChoice::Flex {
        tracing::info!(
            "engine fast is CPU-only: burn runs the network on {}",
            run_device_choice()
        );
        return Ok(None);
    }
    Ok(Some(FastUNet::new(model, config)?))
}
