//! Soft Dice + binary cross-entropy on logits.

use burn::tensor::activation::sigmoid;
use burn::tensor::Tensor;

/// Smoothing term of the soft Dice (numerator and denominator).
pub const DICE_SMOOTH: f64 = 1e-5;

/// Soft Dice loss `1 − (2·Σ p·t + s) / (Σ p + Σ t + s)`, `p = sigmoid(logits)`, `s` =
/// [`DICE_SMOOTH`]. "Batch Dice": the sums run over the whole batch (all samples, channels and
/// voxels), as nnU-Net does, so a patch without lesion does not get a Dice of its own.
///
/// # Shapes
///
/// `logits`, `target`: `[B, 1, D, H, W]` (any equal shapes); `target` holds 0/1. Returns `[1]`.
pub fn soft_dice_loss<const D: usize>(logits: Tensor<D>, target: Tensor<D>) -> Tensor<1> {
    let p = sigmoid(logits);
    let intersection = (p.clone() * target.clone()).sum();
    let denominator = p.sum() + target.sum();
    let dice = intersection
        .mul_scalar(2.0)
        .add_scalar(DICE_SMOOTH)
        .div(denominator.add_scalar(DICE_SMOOTH));
    dice.neg().add_scalar(1.0)
}

/// Mean binary cross-entropy with logits, in the numerically stable form
/// `max(x, 0) − x·t + ln(1 + e^(−|x|))` (no overflow for any finite logit).
///
/// # Shapes
///
/// `logits`, `target`: equal shapes, `target` in [0, 1]. Returns `[1]`.
pub fn bce_with_logits<const D: usize>(logits: Tensor<D>, target: Tensor<D>) -> Tensor<1> {
    let softplus_neg_abs = logits.clone().abs().neg().exp().log1p();
    (logits.clone().clamp_min(0.0) - logits * target + softplus_neg_abs).mean()
}

/// Training loss: [`soft_dice_loss`] + [`bce_with_logits`] (equal weights, nnU-Net's
/// `DC_and_BCE_loss`).
///
/// # Shapes
///
/// `logits`: `[B, 1, D, H, W]`; `target`: `[B, 1, D, H, W]` of 0/1 floats. Returns `[1]`.
pub fn dice_bce_loss(logits: Tensor<5>, target: Tensor<5>) -> Tensor<1> {
    assert_eq!(
        logits.dims(),
        target.dims(),
        "dice_bce_loss: logits and target shapes differ"
    );
    soft_dice_loss(logits.clone(), target.clone()) + bce_with_logits(logits, target)
}

/// [`dice_bce_loss`] over the voxels whose target is ≥ 0 only: a negative target marks a
/// voxel whose label is unknown (a region excluded from the loss, e.g. a peer tool's
/// prediction in a study without expert truth). Both terms ignore those voxels; with no
/// negative target it equals [`dice_bce_loss`] up to rounding.
///
/// # Shapes
///
/// `logits`, `target`: `[B, 1, D, H, W]`; `target` holds 0–1, or < 0 for "ignore". Returns `[1]`.
pub fn masked_dice_bce_loss(logits: Tensor<5>, target: Tensor<5>) -> Tensor<1> {
    assert_eq!(
        logits.dims(),
        target.dims(),
        "masked_dice_bce_loss: logits and target shapes differ"
    );
    let w = target.clone().greater_equal_elem(0.0).float();
    let t = target.clamp_min(0.0) * w.clone();
    let p = sigmoid(logits.clone()) * w.clone();
    let intersection = (p.clone() * t.clone()).sum();
    let denominator = p.sum() + t.clone().sum();
    let dice = intersection
        .mul_scalar(2.0)
        .add_scalar(DICE_SMOOTH)
        .div(denominator.add_scalar(DICE_SMOOTH))
        .neg()
        .add_scalar(1.0);
    let softplus_neg_abs = logits.clone().abs().neg().exp().log1p();
    let bce = (logits.clone().clamp_min(0.0) - logits * t + softplus_neg_abs) * w.clone();
    let n = w.sum().clamp_min(1.0);
    dice + bce.sum().div(n)
}
