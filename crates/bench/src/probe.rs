//! The machine's measured peak: a large single-precision matrix multiply with gemm's f32
//! kernel (the kernel burn's flex backend uses for its convolutions) on rayon's global pool.

use crate::stats::time_runs;

/// Best GFLOP/s of an `n`×`n` by `n`×`n` f32 multiply over `repeats` runs (after one warm-up),
/// counting `2n³` FLOPs per multiply.
#[must_use]
pub fn matmul_gflops(n: usize, repeats: usize) -> f64 {
    let a: Vec<f32> = (0..n * n).map(|i| ((i % 17) as f32 - 8.0) / 8.0).collect();
    let b: Vec<f32> = (0..n * n).map(|i| ((i % 13) as f32 - 6.0) / 6.0).collect();
    let mut c = vec![0f32; n * n];
    let s = n as isize;
    let times = time_runs(1, repeats.max(1), || {
        // SAFETY: the three row-major n×n buffers are live and sized n², strides (1, n) stay
        // inside them, and `c` does not alias `a` or `b`.
        unsafe {
            gemm::gemm(
                n,
                n,
                n,
                c.as_mut_ptr(),
                1,
                s,
                false,
                a.as_ptr(),
                1,
                s,
                b.as_ptr(),
                1,
                s,
                0.0f32,
                1.0f32,
                false,
                false,
                false,
                gemm::Parallelism::Rayon(0),
            );
        }
        std::hint::black_box(&c);
    });
    let best = times.iter().copied().fold(f64::INFINITY, f64::min);
    2.0 * (n as f64).powi(3) / best / 1e9
}

#[cfg(test)]
mod tests {
    #[test]
    fn probe_reports_a_positive_rate() {
        let g = super::matmul_gflops(64, 2);
        assert!(g.is_finite() && g > 0.0, "{g}");
    }
}
