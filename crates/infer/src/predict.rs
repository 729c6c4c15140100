//! A whole prepared volume through the network: the sliding windows of [`crate::sliding_window`]
//! with the settings every caller shares (half-window overlap), for burn's forward or any other.

use crate::{sliding_window, WindowConfig};
use ndarray::{Array3, Array4, Array5};
use strokeseg_model::{predict, UNet3d};

/// Probabilities [D, H, W] for a prepared input [C, D, H, W], with burn's forward.
#[must_use]
pub fn predict_volume(
    model: &UNet3d,
    input: &Array4<f32>,
    window: [usize; 3],
    tta: bool,
) -> Array3<f32> {
    predict_volume_with(input, window, tta, &mut |b: Array5<f32>| predict(model, b))
}

/// [`predict_volume`] with any forward (`forward` maps one window [1, C, d, h, w] to
/// probabilities [1, 1, d, h, w]): the one place the sliding-window settings (half-window
/// overlap) live, for burn's forward and for other inference engines.
pub fn predict_volume_with(
    input: &Array4<f32>,
    window: [usize; 3],
    tta: bool,
    forward: &mut dyn FnMut(Array5<f32>) -> Array5<f32>,
) -> Array3<f32> {
    let cfg = WindowConfig {
        window,
        overlap: 0.5,
        mirror_tta: tta,
    };
    sliding_window(input, &cfg, forward)
}
