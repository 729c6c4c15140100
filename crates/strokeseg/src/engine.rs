//! Which forward runs the network at inference (`segment`, `validate`, `calibrate`, `demo`,
//! `serve`, …: everything that goes through the pipeline's sliding windows): `--engine`, else
//! `$STROKESEG_ENGINE`, else `fast` — the tuned CPU forward of `strokeseg-fastnet` (same logits
//! as burn's to ≤ 1e-4 relative, about 2× faster; docs/BENCHMARKS.md). `burn` runs burn's
//! `UNet3d::forward`, the reference. Set once at start-up like the device; training and its
//! validation always use burn. Must not touch: the network itself.

use std::sync::OnceLock;

use ndarray::{Array3, Array4, Array5};
use strokeseg_fastnet::FastUNet;
use strokeseg_model::{run_device_choice, DeviceChoice, UNet3d, UNet3dConfig};
use strokeseg_train::training::predict_volume_with;

/// The environment variable read when `--engine` is not given.
pub const ENGINE_ENV: &str = "STROKESEG_ENGINE";

/// An inference forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Engine {
    /// The tuned CPU forward (`strokeseg-fastnet`); on a libtorch device burn is used instead.
    #[default]
    Fast,
    /// burn's forward on the selected device (the reference).
    Burn,
}

static ENGINE: OnceLock<Engine> = OnceLock::new();

/// Resolves and sets the engine (the first call wins); a bad `$STROKESEG_ENGINE` is an error.
pub fn select(flag: Option<Engine>) -> anyhow::Result<Engine> {
    let engine = match flag {
        Some(e) => e,
        None => match std::env::var(ENGINE_ENV) {
            Ok(text) if !text.trim().is_empty() => {
                <Engine as clap::ValueEnum>::from_str(text.trim(), true).map_err(|_| {
                    anyhow::anyhow!("${ENGINE_ENV}: unknown engine {text:?}: expected fast or burn")
                })?
            }
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
pub fn fast_net(model: &UNet3d, config: &UNet3dConfig) -> anyhow::Result<Option<FastUNet>> {
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

/// Probabilities `[D, H, W]` of a prepared input `[C, D, H, W]` with the fast forward: the
/// same sliding windows, blending and mirror TTA as `strokeseg_train::training::predict_volume`.
#[must_use]
pub fn predict_volume(
    net: &FastUNet,
    input: &Array4<f32>,
    window: [usize; 3],
    tta: bool,
) -> Array3<f32> {
    predict_volume_with(input, window, tta, &mut |b: Array5<f32>| net.predict(&b))
}
