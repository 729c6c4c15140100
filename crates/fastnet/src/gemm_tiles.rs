//! The one place that calls the `gemm` crate: a row-major `dst = lhs · rhs` with the columns of
//! `dst` split into tiles that rayon runs in parallel.

use rayon::prelude::*;

/// A raw pointer that may cross threads. Every use writes a disjoint set of elements (distinct
/// column ranges of a row-major matrix), which is what makes sharing it sound.
#[derive(Clone, Copy)]
pub(crate) struct SendPtr(pub(crate) *mut f32);
// SAFETY: see the type's doc: tasks holding copies write disjoint elements and the buffer
// outlives the rayon scope that uses them.
unsafe impl Send for SendPtr {}
// SAFETY: as above.
unsafe impl Sync for SendPtr {}

impl SendPtr {
    /// The pointer (a method, so closures capture the whole `SendPtr`, not its field).
    pub(crate) fn get(self) -> *mut f32 {
        self.0
    }
}

/// `dst[m×n] = lhs[m×k] · rhs[k×n]` (or `+=` when `accumulate`), all row-major with unit
/// column stride; row strides are `dst_rs`, `lhs_rs`, `rhs_rs` elements.
///
/// # Safety
///
/// The three regions (`m` rows of `n` from `dst`, and likewise for `lhs`, `rhs`) must be valid,
/// `dst` must not overlap the others, and no other thread may touch the `dst` region.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn matmul(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_rs: usize,
    lhs: *const f32,
    lhs_rs: usize,
    rhs: *const f32,
    rhs_rs: usize,
    accumulate: bool,
) {
    // SAFETY: forwarded from the caller's contract.
    unsafe {
        gemm_strided(
            [m, n, k],
            dst,
            [1, dst_rs],
            lhs,
            [1, lhs_rs],
            rhs,
            [1, rhs_rs],
            accumulate,
        );
    }
}

/// `dst[m×n] = lhs[m×k] · rhs[k×n]` (or `+=` when `accumulate`) with column-major `dst` and
/// `lhs` (`m` contiguous, column strides `dst_cs`, `lhs_cs`) and row-major `rhs` (row stride
/// `rhs_rs`): the orientation in which gemm's 16×6 micro-kernel tiles `m` = output channels
/// (multiples of 16 here) without remainders.
///
/// # Safety
///
/// As [`matmul`].
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn matmul_cm(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_cs: usize,
    lhs: *const f32,
    lhs_cs: usize,
    rhs: *const f32,
    rhs_rs: usize,
    accumulate: bool,
) {
    // SAFETY: forwarded from the caller's contract.
    unsafe {
        gemm_strided(
            [m, n, k],
            dst,
            [dst_cs, 1],
            lhs,
            [lhs_cs, 1],
            rhs,
            [1, rhs_rs],
            accumulate,
        );
    }
}

/// The single `gemm::gemm` call behind [`matmul`] and [`matmul_cm`]: `[m, n, k]` shapes and
/// `[column, row]` strides of each operand.
///
/// # Safety
///
/// As [`matmul`], for the regions the strides describe.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_strided(
    [m, n, k]: [usize; 3],
    dst: *mut f32,
    [dst_cs, dst_rs]: [usize; 2],
    lhs: *const f32,
    [lhs_cs, lhs_rs]: [usize; 2],
    rhs: *const f32,
    [rhs_cs, rhs_rs]: [usize; 2],
    accumulate: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: forwarded from the caller's contract; gemm reads lhs/rhs and writes dst only
    // inside the given shapes and strides. read_dst = false: dst is overwritten; true with
    // alpha = 1: the product is added to it.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            dst_cs as isize,
            dst_rs as isize,
            accumulate,
            lhs,
            lhs_cs as isize,
            lhs_rs as isize,
            rhs,
            rhs_cs as isize,
            rhs_rs as isize,
            if accumulate { 1.0f32 } else { 0.0f32 },
            1.0f32,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// Splits `0..n` into about `tiles` contiguous ranges whose lengths are multiples of `align`
/// (except the last).
pub(crate) fn ranges(n: usize, tiles: usize, align: usize) -> Vec<(usize, usize)> {
    let align = align.max(1);
    let units = n.div_ceil(align);
    let tiles = tiles.clamp(1, units.max(1));
    let per = units.div_ceil(tiles);
    (0..tiles)
        .map(|t| ((t * per * align).min(n), ((t + 1) * per * align).min(n)))
        .filter(|(a, b)| b > a)
        .collect()
}

/// How many column tiles a product with `n` columns gets: enough for every thread to have
/// several (load balance), none narrower than `min_cols`.
pub(crate) fn tile_count(n: usize, min_cols: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    (n / min_cols.max(1)).clamp(1, 4 * threads)
}

/// `dst[m×n] = lhs[m×k] · rhs[k×n]` (row strides `k`, `n`… as in [`matmul`], `dst` and `rhs`
/// with row stride `n`), the columns tiled across rayon's pool.
pub(crate) fn par_matmul(m: usize, n: usize, k: usize, dst: &mut [f32], lhs: &[f32], rhs: &[f32]) {
    assert!(dst.len() >= m * n && lhs.len() >= m * k && rhs.len() >= k * n);
    let d = SendPtr(dst.as_mut_ptr());
    ranges(n, tile_count(n, 512), 16)
        .into_par_iter()
        .for_each(|(a, b)| {
            // SAFETY: the asserts above bound every row (stride n) of dst and rhs and of lhs
            // (stride k); tiles write disjoint column ranges [a, b) of dst; dst is a unique
            // borrow distinct from lhs and rhs.
            unsafe {
                matmul(
                    m,
                    b - a,
                    k,
                    d.get().add(a),
                    n,
                    lhs.as_ptr(),
                    k,
                    rhs.as_ptr().add(a),
                    n,
                    false,
                );
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_once_and_respect_alignment() {
        for (n, t, al) in [(100, 4, 16), (7, 8, 1), (1000, 3, 10), (5, 1, 16)] {
            let r = ranges(n, t, al);
            assert_eq!(r.first().unwrap().0, 0);
            assert_eq!(r.last().unwrap().1, n);
            for w in r.windows(2) {
                assert_eq!(w[0].1, w[1].0);
                assert_eq!(w[0].0 % al, 0);
            }
        }
    }

    #[test]
    fn tiled_product_matches_the_naive_one() {
        let (m, n, k) = (5, 1100, 7);
        let lhs: Vec<f32> = (0..m * k).map(|i| (i % 5) as f32 - 2.0).collect();
        let rhs: Vec<f32> = (0..k * n).map(|i| (i % 7) as f32 * 0.5 - 1.0).collect();
        let mut dst = vec![f32::NAN; m * n];
        par_matmul(m, n, k, &mut dst, &lhs, &rhs);
        for i in 0..m {
            for j in 0..n {
                let want: f32 = (0..k).map(|p| lhs[i * k + p] * rhs[p * n + j]).sum();
                assert!((dst[i * n + j] - want).abs() < 1e-4, "({i},{j})");
            }
        }
    }
}
