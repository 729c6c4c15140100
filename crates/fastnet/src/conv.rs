//! Convolutions in the channels-first layout `[C, D·H·W]`: a 3-D convolution is one gemm
//! `W[C_out, C_in·k] · col[C_in·k, N]` per tile of output lines, over an im2col buffer that
//! holds only that tile (bounded memory, reused per thread); 1×1×1 stride-1 convolutions
//! multiply the input directly; the transposed convolution (kernel = stride) is one gemm
//! `W'[C_out·k, C_in] · X[C_in, N]` followed by a scatter.
//!
//! Hand-written here: only the layout work (im2col of a tile, the scatter). burn's flex backend
//! builds one im2col matrix for the whole volume (hundreds of MB at full resolution) and
//! allocates every intermediate; the arithmetic stays in the `gemm` crate.

use std::cell::RefCell;

use rayon::prelude::*;

use crate::arena::Pool;
use crate::gemm_tiles::{matmul, par_matmul, ranges, tile_count, SendPtr};
use crate::taps::Taps;

/// An activation of one sample: `c` channels of `dims` = `[D, H, W]` voxels, channel-major.
pub(crate) struct Act {
    pub(crate) c: usize,
    pub(crate) dims: [usize; 3],
    pub(crate) data: Vec<f32>,
}

impl Act {
    /// Voxels per channel.
    pub(crate) fn n(&self) -> usize {
        self.dims.iter().product()
    }
}

/// Stride-1 convolutions with at least this many output channels go through [`crate::taps`];
/// narrower ones (the 16 channels of full resolution) through im2col, where gemm's rows are
/// voxels: with `C_out` = 16 as gemm rows, its AVX-512 micro-kernel runs one-register tiles
/// (measured on the 32×128×128 window: taps everywhere 0.63–0.65 CPU s, taps from 32
/// channels 0.56–0.58, im2col everywhere 0.61–0.63).
const TAPS_MIN_COUT: usize = 32;

/// Elements of a tile's im2col buffer we aim for (~2 MB: the buffer and the gemm's packed
/// panels stay in the L2/L3 caches).
const COL_BUDGET: usize = 1 << 19;

thread_local! {
    /// Each rayon worker's im2col buffer, kept between calls (no per-op allocation).
    static COL: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// A 3-D convolution with "same"-style padding `k/2` (burn's `Conv3d` as the U-Net builds it).
pub(crate) struct Conv {
    pub(crate) cin: usize,
    pub(crate) cout: usize,
    pub(crate) k: [usize; 3],
    pub(crate) stride: [usize; 3],
    /// `[C_out, C_in·kd·kh·kw]`, row-major (burn's `[out, in, kd, kh, kw]` as it is).
    pub(crate) w: Vec<f32>,
    pub(crate) bias: Option<Vec<f32>>,
    /// The same weights per tap, for stride-1 kernels wider than 1 ([`crate::taps`]).
    pub(crate) taps: Option<Taps>,
}

impl Conv {
    /// A convolution from burn's weights `[C_out, C_in, kd, kh, kw]`.
    pub(crate) fn new(
        cin: usize,
        cout: usize,
        k: [usize; 3],
        stride: [usize; 3],
        w: Vec<f32>,
        bias: Option<Vec<f32>>,
    ) -> Conv {
        let taps =
            (stride == [1, 1, 1] && k.iter().product::<usize>() > 1 && cout >= TAPS_MIN_COUT)
                .then(|| Taps::new(cin, cout, k, &w));
        Conv {
            cin,
            cout,
            k,
            stride,
            w,
            bias,
            taps,
        }
    }

    fn pad(&self) -> [usize; 3] {
        [self.k[0] / 2, self.k[1] / 2, self.k[2] / 2]
    }

    /// Output `[D, H, W]` for an input of `dims`.
    pub(crate) fn out_dims(&self, dims: [usize; 3]) -> [usize; 3] {
        let p = self.pad();
        std::array::from_fn(|i| (dims[i] + 2 * p[i] - self.k[i]) / self.stride[i] + 1)
    }

    /// The convolution of `x` into a buffer from `pool`.
    pub(crate) fn forward(&self, x: &Act, pool: &Pool) -> Act {
        debug_assert_eq!(x.c, self.cin);
        let od = self.out_dims(x.dims);
        let n_out: usize = od.iter().product();
        let mut out = pool.take(self.cout * n_out);
        let kvol: usize = self.k.iter().product();
        if let Some(t) = &self.taps {
            t.forward_into(x, &mut out);
        } else if kvol == 1 && self.stride == [1, 1, 1] {
            par_matmul(self.cout, n_out, self.cin, &mut out, &self.w, &x.data);
        } else {
            self.im2col_gemm(x, od, &mut out);
        }
        if let Some(b) = &self.bias {
            out.par_chunks_mut(n_out)
                .zip(b.par_iter())
                .for_each(|(row, &b)| row.iter_mut().for_each(|v| *v += b));
        }
        Act {
            c: self.cout,
            dims: od,
            data: out,
        }
    }

    /// Tiles of whole output lines `(z, y)`: im2col of the tile, then one gemm into the tile's
    /// columns of `out`.
    fn im2col_gemm(&self, x: &Act, od: [usize; 3], out: &mut [f32]) {
        let kdim = self.cin * self.k.iter().product::<usize>();
        let n_out: usize = od.iter().product();
        let lines = od[0] * od[1];
        let wo = od[2];
        // Columns per tile: the im2col buffer near COL_BUDGET, at least one line, and enough
        // tiles for every thread.
        let want_cols = (COL_BUDGET / kdim).clamp(64, 16384);
        let by_budget = n_out.div_ceil(want_cols);
        let tiles = by_budget.max(tile_count(n_out, 256)).min(lines);
        let dst = SendPtr(out.as_mut_ptr());
        assert!(out.len() >= self.cout * n_out);
        ranges(lines, tiles, 1)
            .into_par_iter()
            .for_each(|(l0, l1)| {
                let cols = (l1 - l0) * wo;
                COL.with(|col| {
                    let mut col = col.borrow_mut();
                    if col.len() < kdim * cols {
                        col.resize(kdim * cols, 0.0);
                    }
                    self.im2col(x, od, l0, l1, &mut col[..kdim * cols]);
                    // SAFETY: dst holds cout rows of n_out (asserted above); this tile writes
                    // columns [l0·wo, l1·wo) of each row, disjoint from every other tile; `col`
                    // holds kdim rows of `cols` and `w` cout rows of kdim.
                    unsafe {
                        matmul(
                            self.cout,
                            cols,
                            kdim,
                            dst.get().add(l0 * wo),
                            n_out,
                            self.w.as_ptr(),
                            kdim,
                            col.as_ptr(),
                            cols,
                            false,
                        );
                    }
                });
            });
    }

    /// Rows `(ci, kd, kh, kw)` × columns (output voxels of lines `l0..l1`) of the im2col matrix.
    fn im2col(&self, x: &Act, od: [usize; 3], l0: usize, l1: usize, col: &mut [f32]) {
        let [di, hi, wi] = x.dims;
        let n_in = di * hi * wi;
        let [_, ho, wo] = od;
        let [sd, sh, sw] = self.stride;
        let p = self.pad();
        let cols = (l1 - l0) * wo;
        let mut rows = col.chunks_exact_mut(cols);
        for ci in 0..self.cin {
            let src_c = &x.data[ci * n_in..(ci + 1) * n_in];
            for kd in 0..self.k[0] {
                for kh in 0..self.k[1] {
                    for kw in 0..self.k[2] {
                        let row = rows.next().expect("kdim rows");
                        let off = kw as isize - p[2] as isize;
                        for (li, line) in (l0..l1).enumerate() {
                            let dst = &mut row[li * wo..(li + 1) * wo];
                            let iz = ((line / ho) * sd + kd) as isize - p[0] as isize;
                            let iy = ((line % ho) * sh + kh) as isize - p[1] as isize;
                            if iz < 0 || iz >= di as isize || iy < 0 || iy >= hi as isize {
                                dst.fill(0.0);
                                continue;
                            }
                            let start = (iz as usize * hi + iy as usize) * wi;
                            let src = &src_c[start..start + wi];
                            if sw == 1 {
                                // x valid where 0 ≤ x + off < wi.
                                let lo = (-off).clamp(0, wo as isize) as usize;
                                let hi_x =
                                    (wi as isize - off).clamp(lo as isize, wo as isize) as usize;
                                dst[..lo].fill(0.0);
                                let s0 = (lo as isize + off) as usize;
                                dst[lo..hi_x].copy_from_slice(&src[s0..s0 + hi_x - lo]);
                                dst[hi_x..].fill(0.0);
                            } else {
                                // x valid where 0 ≤ x·sw + off < wi.
                                let lo = if off < 0 {
                                    ((-off) as usize).div_ceil(sw).min(wo)
                                } else {
                                    0
                                };
                                let hi_x = ((wi as isize - off).max(0) as usize)
                                    .div_ceil(sw)
                                    .clamp(lo, wo);
                                dst[..lo].fill(0.0);
                                if hi_x > lo {
                                    let s0 = ((lo * sw) as isize + off) as usize;
                                    for (d, &v) in
                                        dst[lo..hi_x].iter_mut().zip(src[s0..].iter().step_by(sw))
                                    {
                                        *d = v;
                                    }
                                }
                                dst[hi_x..].fill(0.0);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A transposed convolution whose kernel equals its stride (no overlap between the input
/// voxels' footprints), with bias.
pub(crate) struct UpConv {
    pub(crate) cin: usize,
    pub(crate) cout: usize,
    pub(crate) s: [usize; 3],
    /// `[(C_out, a, b, c), C_in]`, row-major: burn's `[in, out, kd, kh, kw]` transposed at load.
    pub(crate) wt: Vec<f32>,
    pub(crate) bias: Vec<f32>,
}

impl UpConv {
    /// Output `[D, H, W]` for an input of `dims`.
    pub(crate) fn out_dims(&self, dims: [usize; 3]) -> [usize; 3] {
        std::array::from_fn(|i| dims[i] * self.s[i])
    }

    /// Writes the up-sampled `x` into `out` (`cout` channels of `out_dims(x.dims)` voxels).
    pub(crate) fn forward_into(&self, x: &Act, out: &mut [f32], pool: &Pool) {
        let kv: usize = self.s.iter().product();
        let n_in = x.n();
        let [_, hi, wi] = x.dims;
        let od = self.out_dims(x.dims);
        let [_, ho, wo] = od;
        let n_out = n_in * kv;
        assert_eq!(out.len(), self.cout * n_out);
        let mut y = pool.take(self.cout * kv * n_in);
        par_matmul(self.cout * kv, n_in, self.cin, &mut y, &self.wt, &x.data);
        let [sd, sh, sw] = self.s;
        out.par_chunks_mut(n_out)
            .enumerate()
            .for_each(|(co, out_c)| {
                let b = self.bias[co];
                for (line, dst) in out_c.chunks_exact_mut(wo).enumerate() {
                    let (oz, oy) = (line / ho, line % ho);
                    let (z, a) = (oz / sd, oz % sd);
                    let (yy, bb) = (oy / sh, oy % sh);
                    let src0 = (z * hi + yy) * wi;
                    for c in 0..sw {
                        let r = ((co * sd + a) * sh + bb) * sw + c;
                        let src = &y[r * n_in + src0..r * n_in + src0 + wi];
                        for (xi, &v) in src.iter().enumerate() {
                            dst[xi * sw + c] = v + b;
                        }
                    }
                }
            });
        pool.give(y);
    }
}
