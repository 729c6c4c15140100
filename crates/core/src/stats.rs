//! Small image statistics shared by several stages (thresholds, robust ranges).

/// Otsu's threshold over the finite values of `values`, using a 256-bin histogram between the
/// 0.5th and 99.5th percentiles (robust to a few extreme voxels). `None` when fewer than two
/// distinct values are present.
#[must_use]
pub fn otsu_threshold<'a>(values: impl Iterator<Item = &'a f32>) -> Option<f32> {
    let mut v: Vec<f32> = values.copied().filter(|x| x.is_finite()).collect();
    if v.len() < 2 {
        return None;
    }
    let lo = crate::image::percentile_in_place(&mut v, 0.5)?;
    let hi = crate::image::percentile_in_place(&mut v, 99.5)?;
    if hi <= lo {
        return None;
    }
    const BINS: usize = 256;
    let mut hist = [0f64; BINS];
    let scale = (BINS as f32 - 1.0) / (hi - lo);
    for &x in &v {
        let b = ((x.clamp(lo, hi) - lo) * scale) as usize;
        hist[b.min(BINS - 1)] += 1.0;
    }
    let total: f64 = hist.iter().sum();
    let sum_all: f64 = hist.iter().enumerate().map(|(i, h)| i as f64 * h).sum();
    let (mut w0, mut sum0, mut best, mut best_t) = (0.0, 0.0, -1.0, 0usize);
    for (t, &h) in hist.iter().enumerate() {
        w0 += h;
        sum0 += t as f64 * h;
        let w1 = total - w0;
        if w0 == 0.0 || w1 == 0.0 {
            continue;
        }
        let m0 = sum0 / w0;
        let m1 = (sum_all - sum0) / w1;
        let between = w0 * w1 * (m0 - m1) * (m0 - m1);
        if between > best {
            best = between;
            best_t = t;
        }
    }
    Some(lo + (best_t as f32 + 0.5) / scale)
}

/// Dice overlap of two binary masks given as equally long sequences of voxels; 1 when both
/// are empty (the ISLES'22 convention).
#[must_use]
pub fn dice(a: impl IntoIterator<Item = bool>, b: impl IntoIterator<Item = bool>) -> f64 {
    let (mut tp, mut na, mut nb) = (0usize, 0usize, 0usize);
    for (x, y) in a.into_iter().zip(b) {
        tp += usize::from(x && y);
        na += usize::from(x);
        nb += usize::from(y);
    }
    if na + nb == 0 {
        1.0
    } else {
        2.0 * tp as f64 / (na + nb) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otsu_splits_two_clusters() {
        let mut v = vec![10.0f32; 500];
        v.extend(std::iter::repeat_n(100.0f32, 300));
        v.extend((0..200).map(|i| 12.0 + (i % 5) as f32));
        let t = otsu_threshold(v.iter()).unwrap();
        assert!(t > 16.0 && t < 100.0, "threshold {t}");
        assert_eq!(otsu_threshold([1.0f32, 1.0].iter()), None);
    }

    #[test]
    fn dice_of_masks() {
        assert_eq!(dice([true, true, false], [true, false, false]), 2.0 / 3.0);
        assert_eq!(dice([false, false], [false, false]), 1.0);
    }
}
