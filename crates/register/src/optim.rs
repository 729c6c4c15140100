//! A derivative-free local optimiser: coordinate search with a parabolic step per
//! coordinate and a shrinking step size (Powell-like, without direction updates).
//!
//! Hand-written because the cost (NMI of a histogram) has no cheap gradient and the
//! problem is small (≤ 12 parameters, a few hundred evaluations per level): a few lines of
//! pattern search are simpler to reason about than adapting a general crate (e.g. argmin's
//! Nelder–Mead, which needs far more evaluations in 12 dimensions).

use crate::affine::{Params, N};

/// Options of [`minimize`].
#[derive(Debug, Clone, Copy)]
pub struct Search {
    /// First step (parameter units, ≈ mm).
    pub step: f64,
    /// Stop when the step falls below this.
    pub min_step: f64,
    /// Hard cap on cost evaluations.
    pub max_evals: usize,
}

/// Minimises `f` over the parameters whose index is in `active`, from `x`.
pub fn minimize(
    f: &mut dyn FnMut(&Params) -> f64,
    mut x: Params,
    active: &[usize],
    s: Search,
) -> (Params, f64, usize) {
    let mut fx = f(&x);
    let mut evals = 1;
    let mut h = s.step;
    while h >= s.min_step && evals < s.max_evals {
        let mut improved = false;
        for &i in active {
            debug_assert!(i < N);
            let mut xp = x;
            xp[i] += h;
            let fp = f(&xp);
            let mut xm = x;
            xm[i] -= h;
            let fm = f(&xm);
            evals += 2;
            let (mut best, mut bx) = (fx, x);
            if fp < best {
                (best, bx) = (fp, xp);
            }
            if fm < best {
                (best, bx) = (fm, xm);
            }
            // Vertex of the parabola through the three values, within two steps.
            let curv = fp + fm - 2.0 * fx;
            if curv > 1e-15 {
                let d = (h * (fm - fp) / (2.0 * curv)).clamp(-2.0 * h, 2.0 * h);
                if d.abs() > 1e-3 * h && (d - h).abs() > 1e-6 && (d + h).abs() > 1e-6 {
                    let mut xd = x;
                    xd[i] += d;
                    let fd = f(&xd);
                    evals += 1;
                    if fd < best {
                        (best, bx) = (fd, xd);
                    }
                }
            }
            if best < fx - 1e-9 {
                fx = best;
                x = bx;
                improved = true;
            }
        }
        if !improved {
            h /= 2.0;
        }
    }
    (x, fx, evals)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_minimum_of_a_skewed_quadratic_on_active_coordinates_only() {
        let target = [3.0, -2.0, 0.5, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 7.0];
        let mut f = |p: &Params| {
            (p[0] - target[0]).powi(2)
                + 2.0 * (p[1] - target[1]).powi(2)
                + (p[0] - target[0]) * (p[1] - target[1])
                + (p[2] - target[2]).powi(2)
                + (p[6] - target[6]).powi(2)
                + (p[11] - target[11]).powi(2)
        };
        let s = Search {
            step: 2.0,
            min_step: 1e-3,
            max_evals: 5000,
        };
        let (x, fx, _) = minimize(&mut f, [0.0; N], &[0, 1, 2, 6], s);
        assert!(fx - 49.0 < 1e-4, "{fx}");
        for i in [0, 1, 2, 6] {
            assert!((x[i] - target[i]).abs() < 0.01, "{i}: {}", x[i]);
        }
        assert_eq!(x[11], 0.0, "inactive parameters stay put");
    }
}
