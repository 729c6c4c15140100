//! Stride-1 convolutions without a full im2col: per tile of output voxels, the input is copied
//! once per kernel column `kw` into a zero-padded block `E[(ci, kw), z, y, x]` (3× the input
//! instead of im2col's 27×), and the convolution is a sum over the `(kd, kh)` taps of gemms
//! `W_{kd,kh}[C_out, C_in·kw] · E[(ci, kw), shifted by (kd, kh)]` accumulated into the output:
//! for a fixed tap every row of `E` is read at the same offset, so it is an ordinary strided
//! matrix for gemm. The taps accumulate into a small channels-last buffer per output plane
//! (`C_out` contiguous: gemm's micro-kernel tiles the 32·2^l output channels without remainder
//! kernels), which is then transposed into the channels-first output.
//!
//! Measured on the 1×2×32×128×128 window (CPU seconds per forward, `examples/speed.rs`, AVX2
//! kernels): full im2col 0.88–0.90, these taps 0.84–0.87; with gemm's AVX-512 kernels see
//! [`crate::conv`]'s `TAPS_MIN_COUT`.
//!
//! Hand-written for the same reason as [`crate::conv`]'s im2col: it is layout only.

use std::cell::RefCell;

use rayon::prelude::*;

use crate::conv::Act;
use crate::gemm_tiles::{matmul_cm, SendPtr};

/// Elements of a tile's padded block we aim for (~2 MB, as the im2col tiles).
const BLOCK_BUDGET: usize = 1 << 19;

thread_local! {
    /// Each rayon worker's padded block, kept between calls.
    static BLOCK: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// Each worker's output accumulator for one plane of a tile, channels last.
    static ACC: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Weights of a stride-1 convolution arranged per tap.
pub(crate) struct Taps {
    cin: usize,
    cout: usize,
    k: [usize; 3],
    /// `[kd, kh][(C_in, kw), C_out]`: per tap, the gemm's column-major left matrix.
    wt: Vec<f32>,
}

/// One tile: output planes `z0..z0+zb`, rows `y0..y0+yb`, all columns.
#[derive(Clone, Copy)]
struct Tile {
    z0: usize,
    zb: usize,
    y0: usize,
    yb: usize,
}

impl Taps {
    /// Re-lays out burn's `[C_out, C_in, kd, kh, kw]` weights.
    pub(crate) fn new(cin: usize, cout: usize, k: [usize; 3], w: &[f32]) -> Taps {
        let [kd, kh, kw] = k;
        let k3 = cin * kw;
        let mut wt = vec![0f32; kd * kh * k3 * cout];
        for co in 0..cout {
            for ci in 0..cin {
                for a in 0..kd {
                    for b in 0..kh {
                        for c in 0..kw {
                            let src = (((co * cin + ci) * kd + a) * kh + b) * kw + c;
                            let dst = ((a * kh + b) * k3 + ci * kw + c) * cout + co;
                            wt[dst] = w[src];
                        }
                    }
                }
            }
        }
        Taps { cin, cout, k, wt }
    }

    /// The tiles of an output of `dims`: blocks of planes and rows sized to the budget, at least
    /// a few per thread.
    fn tiles(&self, dims: [usize; 3]) -> Vec<Tile> {
        let [d, h, w] = dims;
        let [kd, kh, kw] = self.k;
        let per_row = self.cin * kw * w;
        let threads = rayon::current_num_threads().max(1);
        let mut zb = d.min(4);
        let yb = loop {
            let rows = BLOCK_BUDGET / (per_row * (zb + kd - 1)).max(1);
            let yb = rows.saturating_sub(kh - 1).clamp(1, h);
            if yb >= 8.min(h) || zb == 1 {
                break yb;
            }
            zb = (zb / 2).max(1);
        };
        // Enough tiles for load balance.
        let (mut zb, mut yb) = (zb, yb);
        while d.div_ceil(zb) * h.div_ceil(yb) < 2 * threads && (zb > 1 || yb > 1) {
            if zb > 1 {
                zb = zb.div_ceil(2);
            } else {
                yb = yb.div_ceil(2);
            }
        }
        let mut tiles = Vec::new();
        for z0 in (0..d).step_by(zb) {
            for y0 in (0..h).step_by(yb) {
                tiles.push(Tile {
                    z0,
                    zb: zb.min(d - z0),
                    y0,
                    yb: yb.min(h - y0),
                });
            }
        }
        tiles
    }

    /// The convolution of `x` (padding `k/2`, stride 1) into `out` (`C_out` × voxels of `x`).
    pub(crate) fn forward_into(&self, x: &Act, out: &mut [f32]) {
        let n = x.n();
        assert!(x.c == self.cin && out.len() == self.cout * n);
        let dst = SendPtr(out.as_mut_ptr());
        self.tiles(x.dims).into_par_iter().for_each(|t| {
            BLOCK.with(|b| {
                let mut b = b.borrow_mut();
                self.tile(x, t, &mut b, dst);
            });
        });
    }

    fn tile(&self, x: &Act, t: Tile, block: &mut Vec<f32>, dst: SendPtr) {
        let [d, h, w] = x.dims;
        let n = d * h * w;
        let [kd, kh, kw] = self.k;
        let [pd, ph, pw] = [kd / 2, kh / 2, kw / 2];
        let (zt, yt) = (t.zb + kd - 1, t.yb + kh - 1);
        let rs = zt * yt * w;
        let k3 = self.cin * kw;
        block.resize(block.len().max(k3 * rs), 0.0);
        // E[(ci, c)][zz][yy][xx] = x[ci][z0 + zz − pd][y0 + yy − ph][xx + c − pw], 0 outside.
        for ci in 0..self.cin {
            let src_c = &x.data[ci * n..(ci + 1) * n];
            for c in 0..kw {
                let off = c as isize - pw as isize;
                let lo = (-off).clamp(0, w as isize) as usize;
                let hi = (w as isize - off).clamp(lo as isize, w as isize) as usize;
                let row = &mut block[(ci * kw + c) * rs..(ci * kw + c + 1) * rs];
                for (line, dst) in row.chunks_exact_mut(w).enumerate() {
                    let iz = (t.z0 + line / yt) as isize - pd as isize;
                    let iy = (t.y0 + line % yt) as isize - ph as isize;
                    if iz < 0 || iz >= d as isize || iy < 0 || iy >= h as isize {
                        dst.fill(0.0);
                        continue;
                    }
                    let s = (iz as usize * h + iy as usize) * w;
                    let src = &src_c[s..s + w];
                    dst[..lo].fill(0.0);
                    let s0 = (lo as isize + off) as usize;
                    dst[lo..hi].copy_from_slice(&src[s0..s0 + hi - lo]);
                    dst[hi..].fill(0.0);
                }
            }
        }
        let cols = t.yb * w;
        ACC.with(|acc| {
            let mut acc = acc.borrow_mut();
            let need = acc.len().max(cols * self.cout);
            acc.resize(need, 0.0);
            for zl in 0..t.zb {
                for a in 0..kd {
                    for bb in 0..kh {
                        let tap = a * kh + bb;
                        let rhs_off = ((zl + a) * yt + bb) * w;
                        // SAFETY: acc holds cols × C_out; the block k3 rows of
                        // rs ≥ rhs_off + cols; the tap's weights k3 × C_out.
                        unsafe {
                            matmul_cm(
                                self.cout,
                                cols,
                                k3,
                                acc.as_mut_ptr(),
                                self.cout,
                                self.wt.as_ptr().add(tap * self.cout * k3),
                                self.cout,
                                block.as_ptr().add(rhs_off),
                                rs,
                                tap > 0,
                            );
                        }
                    }
                }
                let dst_off = ((t.z0 + zl) * h + t.y0) * w;
                for co in 0..self.cout {
                    // SAFETY: row co of dst (C_out rows of n, asserted by the caller),
                    // columns [dst_off, dst_off + cols): lines of this tile only, which no
                    // other tile writes (tiles partition the (z, y) lines).
                    let row = unsafe {
                        std::slice::from_raw_parts_mut(dst.get().add(co * n + dst_off), cols)
                    };
                    for (j, v) in row.iter_mut().enumerate() {
                        *v = acc[j * self.cout + co];
                    }
                }
            }
        });
    }
}
