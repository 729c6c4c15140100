//! Soft Dice + binary cross-entropy on logits, and a lesion-wise Dice that weighs every lesion
//! of a batch alike.

use burn::tensor::activation::sigmoid;
use burn::tensor::Tensor;
use ndarray::{Array4, Array5, Axis};

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

/// Lesion-wise soft Dice ("blob loss", Kofler et al., IPMI 2023): the mean over lesions of
/// `1 − Dice_k`, where lesion k's Dice is taken over the voxels its mask `masks[k]` holds (its
/// own voxels and every voxel of its patch that belongs to no lesion; see
/// [`lesion_masks`]). In the batch Dice of [`soft_dice_loss`] a 3-voxel lesion beside a 30 mL
/// infarct moves the sums by a thousandth; here it counts as much as the infarct, and false
/// calls anywhere in its patch still lower its Dice. An empty `masks` gives 0.
///
/// # Shapes
///
/// `logits`, `target`: `[B, 1, D, H, W]` (`target` in 0–1; negative values must be 0 in every
/// mask); each mask: the same shape, 0/1. Returns `[1]`.
pub fn lesionwise_dice_loss(
    logits: Tensor<5>,
    target: Tensor<5>,
    masks: &[Tensor<5>],
) -> Tensor<1> {
    let device = logits.device();
    if masks.is_empty() {
        return Tensor::zeros([1], &device);
    }
    let p = sigmoid(logits);
    let t = target.clamp_min(0.0);
    let pt = p.clone() * t.clone();
    let mut total = Tensor::<1>::zeros([1], &device);
    for m in masks {
        let intersection = (pt.clone() * m.clone()).sum();
        let denominator = (p.clone() * m.clone()).sum() + (t.clone() * m.clone()).sum();
        let dice = intersection
            .mul_scalar(2.0)
            .add_scalar(DICE_SMOOTH)
            .div(denominator.add_scalar(DICE_SMOOTH));
        total = total + dice.neg().add_scalar(1.0);
    }
    total.div_scalar(masks.len() as f64)
}

/// The region of each lesion for [`lesionwise_dice_loss`]: lesion `(b, voxels)` of sample `b`
/// gets a `[B, 1, D, H, W]` mask that is 1 on its own voxels and on the voxels of sample `b`
/// that are in no lesion of that sample and not ignored (`target ≥ 0`), 0 elsewhere (other
/// samples, the sample's other lesions, ignored voxels).
///
/// # Panics
///
/// When a voxel or sample index is outside `target` (`[B, 1, D, H, W]`).
#[must_use]
pub fn lesion_masks(
    target: &Array5<f32>,
    lesions: &[(usize, Vec<[usize; 3]>)],
) -> Vec<Array5<f32>> {
    if lesions.is_empty() {
        return Vec::new();
    }
    let (nb, _, nd, nh, nw) = target.dim();
    // owner of each voxel: -1 ignored, 0 no lesion, k + 1 lesion k
    let mut owner = Array4::<i32>::zeros((nb, nd, nh, nw));
    for ((b, _, z, y, x), &v) in target.indexed_iter() {
        if v < 0.0 {
            owner[[b, z, y, x]] = -1;
        }
    }
    for (k, (b, voxels)) in lesions.iter().enumerate() {
        for &[z, y, x] in voxels {
            owner[[*b, z, y, x]] = k as i32 + 1;
        }
    }
    lesions
        .iter()
        .enumerate()
        .map(|(k, (b, _))| {
            let mut m = Array5::<f32>::zeros(target.dim());
            for ((z, y, x), &o) in owner.index_axis(Axis(0), *b).indexed_iter() {
                if o == 0 || o == k as i32 + 1 {
                    m[[*b, 0, z, y, x]] = 1.0;
                }
            }
            m
        })
        .collect()
}
