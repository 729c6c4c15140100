//! Instance norm (affine) fused with LeakyReLU and the residual addition: statistics in one
//! read of each channel, then one in-place pass that normalises, adds and activates.
//!
//! Hand-written because it is the fusion itself: burn (and a generic tensor crate) would make
//! a new tensor per step (mean, subtract, square, mean, divide, scale, shift, add, compare).

use rayon::prelude::*;

/// Per-channel affine parameters of an instance norm.
pub(crate) struct Norm {
    pub(crate) gamma: Vec<f32>,
    pub(crate) beta: Vec<f32>,
    pub(crate) eps: f64,
}

/// `(scale, shift)` per channel: `norm(x) = scale·x + shift`.
pub(crate) type Affine = Vec<(f32, f32)>;

/// Sum and sum of squares of `x − shift` in f64, accumulated over blocks in 8 f32 lanes (which
/// the compiler vectorises).
fn shifted_sums(x: &[f32], shift: f32) -> (f64, f64) {
    let (mut s, mut q) = (0f64, 0f64);
    for block in x.chunks(4096) {
        let (mut ls, mut lq) = ([0f32; 8], [0f32; 8]);
        let mut it = block.chunks_exact(8);
        for c in &mut it {
            for i in 0..8 {
                let v = c[i] - shift;
                ls[i] += v;
                lq[i] += v * v;
            }
        }
        for &v in it.remainder() {
            let v = v - shift;
            ls[0] += v;
            lq[0] += v * v;
        }
        s += ls.iter().map(|&v| f64::from(v)).sum::<f64>();
        q += lq.iter().map(|&v| f64::from(v)).sum::<f64>();
    }
    (s, q)
}

impl Norm {
    /// The instance norm of each of the channels of `data` (`n` voxels each) as an affine map.
    /// Biased variance, `eps` inside the square root (as burn and PyTorch).
    pub(crate) fn affine(&self, data: &[f32], n: usize) -> Affine {
        data.par_chunks(n)
            .zip(self.gamma.par_iter().zip(self.beta.par_iter()))
            .map(|(x, (&g, &b))| {
                // Shifting by the first value keeps the one-pass variance accurate when the
                // mean is large against the spread.
                let shift = x[0];
                let (s, q) = shifted_sums(x, shift);
                let m = s / n as f64;
                let var = (q / n as f64 - m * m).max(0.0);
                let mean = m + f64::from(shift);
                let scale = f64::from(g) / (var + self.eps).sqrt();
                (scale as f32, (f64::from(b) - mean * scale) as f32)
            })
            .collect()
    }
}

#[inline]
fn lrelu(v: f32, slope: f32) -> f32 {
    if v >= 0.0 {
        v
    } else {
        v * slope
    }
}

/// `x ← LeakyReLU(scale·x + shift)` per channel, in place.
pub(crate) fn norm_lrelu(x: &mut [f32], n: usize, aff: &Affine, slope: f32) {
    x.par_chunks_mut(n)
        .zip(aff.par_iter())
        .for_each(|(x, &(a, b))| {
            for v in x {
                *v = lrelu(a * *v + b, slope);
            }
        });
}

/// `y ← LeakyReLU(norm_y(y) + r')` per channel, in place, where `r' = norm_r(r)` with
/// `r_aff`, or `r` itself when `r_aff` is `None`.
pub(crate) fn norm_add_lrelu(
    y: &mut [f32],
    n: usize,
    y_aff: &Affine,
    r: &[f32],
    r_aff: Option<&Affine>,
    slope: f32,
) {
    y.par_chunks_mut(n)
        .zip(r.par_chunks(n))
        .enumerate()
        .for_each(|(c, (y, r))| {
            let (a, b) = y_aff[c];
            let (ar, br) = r_aff.map_or((1.0, 0.0), |ra| ra[c]);
            for (v, &rv) in y.iter_mut().zip(r) {
                *v = lrelu(a * *v + b + (ar * rv + br), slope);
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affine_normalises_each_channel_to_the_affine_target() {
        let n = 1000;
        // Channel 0 with a large offset (the case the shift protects), channel 1 small.
        let data: Vec<f32> = (0..2 * n)
            .map(|i| {
                let t = (i % n) as f32;
                if i < n {
                    1000.0 + (t * 0.37).sin()
                } else {
                    0.01 * (t * 0.11).cos()
                }
            })
            .collect();
        let norm = Norm {
            gamma: vec![2.0, 0.5],
            beta: vec![1.0, -3.0],
            eps: 1e-5,
        };
        let aff = norm.affine(&data, n);
        for (c, &(a, b)) in aff.iter().enumerate() {
            let y: Vec<f64> = data[c * n..(c + 1) * n]
                .iter()
                .map(|&v| f64::from(a * v + b))
                .collect();
            let mean = y.iter().sum::<f64>() / n as f64;
            let var = y.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
            let x = &data[c * n..(c + 1) * n];
            let xm = x.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64;
            let xv = x.iter().map(|&v| (f64::from(v) - xm).powi(2)).sum::<f64>() / n as f64;
            let want_sd = f64::from(norm.gamma[c]) * (xv / (xv + 1e-5)).sqrt();
            assert!(
                (mean - f64::from(norm.beta[c])).abs() < 2e-3,
                "c{c} mean {mean}"
            );
            assert!(
                (var.sqrt() - want_sd).abs() < 2e-3 * want_sd.max(1.0),
                "c{c}"
            );
        }
    }

    #[test]
    fn fused_residual_pass_matches_the_unfused_formula() {
        let n = 37;
        let y0: Vec<f32> = (0..2 * n).map(|i| (i as f32 * 0.7).sin()).collect();
        let r: Vec<f32> = (0..2 * n).map(|i| (i as f32 * 0.3).cos()).collect();
        let ya = vec![(2.0, -0.5), (0.5, 0.1)];
        let ra = vec![(-1.0, 0.2), (3.0, 0.0)];
        for r_aff in [None, Some(&ra)] {
            let mut y = y0.clone();
            norm_add_lrelu(&mut y, n, &ya, &r, r_aff, 0.01);
            for i in 0..2 * n {
                let c = i / n;
                let rr = r_aff.map_or(r[i], |a| a[c].0 * r[i] + a[c].1);
                let v = ya[c].0 * y0[i] + ya[c].1 + rr;
                let want = if v >= 0.0 { v } else { 0.01 * v };
                assert!((y[i] - want).abs() < 1e-6);
            }
        }
        let mut y = y0.clone();
        norm_lrelu(&mut y, n, &ya, 0.01);
        assert!(y.iter().zip(&y0).enumerate().all(|(i, (v, x))| {
            let t = ya[i / n].0 * x + ya[i / n].1;
            (v - if t >= 0.0 { t } else { 0.01 * t }).abs() < 1e-6
        }));
    }
}
