//! The 12 parameters of an affine update and the 4×4 matrices they make (nalgebra).
//!
//! An update acts on template (MNI) points about a fixed centre `c` (the template brain's
//! centre, so that rotations and scales do not drag translations with them):
//! `q' = c + R(rx, ry, rz) · diag(e^sx, e^sy, e^sz) · K(kxy, kxz, kyz) · (q − c) + t`.
//! Parameters are stored in "millimetre-equivalent" units: angles, log-scales and shears
//! are multiplied by [`LEVER_MM`], so one unit of any parameter moves a point at the edge of
//! the brain by about 1 mm. That lets the optimiser use one step size for all of them.

use nalgebra::{Matrix3, Matrix4, Rotation3, Vector3};

/// Typical distance (mm) from the brain centre to its edge: the lever arm of the
/// rotation/scale/shear parameters.
pub const LEVER_MM: f64 = 60.0;

/// Number of parameters.
pub const N: usize = 12;

/// Parameter indices: translation 0–2, rotation 3–5, log-scale 6–8, shear 9–11.
pub type Params = [f64; N];

/// The update matrix for `p` about `centre`.
#[must_use]
pub fn update_matrix(p: &Params, centre: [f64; 3]) -> Matrix4<f64> {
    let r = Rotation3::from_euler_angles(p[3] / LEVER_MM, p[4] / LEVER_MM, p[5] / LEVER_MM);
    let s = Matrix3::from_diagonal(&Vector3::new(
        (p[6] / LEVER_MM).exp(),
        (p[7] / LEVER_MM).exp(),
        (p[8] / LEVER_MM).exp(),
    ));
    let mut k = Matrix3::identity();
    k[(0, 1)] = p[9] / LEVER_MM;
    k[(0, 2)] = p[10] / LEVER_MM;
    k[(1, 2)] = p[11] / LEVER_MM;
    let l = r.matrix() * s * k;
    let c = Vector3::from(centre);
    let t = c + Vector3::new(p[0], p[1], p[2]) - l * c;
    let mut m = Matrix4::identity();
    m.fixed_view_mut::<3, 3>(0, 0).copy_from(&l);
    m.fixed_view_mut::<3, 1>(0, 3).copy_from(&t);
    m
}

/// Applies a 4×4 affine to a point.
#[must_use]
#[inline]
pub fn apply(m: &Matrix4<f64>, p: [f64; 3]) -> [f64; 3] {
    [
        m[(0, 0)] * p[0] + m[(0, 1)] * p[1] + m[(0, 2)] * p[2] + m[(0, 3)],
        m[(1, 0)] * p[0] + m[(1, 1)] * p[1] + m[(1, 2)] * p[2] + m[(1, 3)],
        m[(2, 0)] * p[0] + m[(2, 1)] * p[1] + m[(2, 2)] * p[2] + m[(2, 3)],
    ]
}

/// Row-major nested array of a 4×4 matrix (for JSON).
#[must_use]
pub fn to_rows(m: &Matrix4<f64>) -> [[f64; 4]; 4] {
    std::array::from_fn(|r| std::array::from_fn(|c| m[(r, c)]))
}

/// The matrix of a row-major nested array.
#[must_use]
pub fn from_rows(rows: &[[f64; 4]; 4]) -> Matrix4<f64> {
    Matrix4::from_fn(|r, c| rows[r][c])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_params_is_identity_and_units_are_millimetres() {
        let c = [1.0, -18.0, 8.0];
        assert!((update_matrix(&[0.0; N], c) - Matrix4::identity()).norm() < 1e-12);
        let mut p = [0.0; N];
        p[0] = 2.0;
        assert!((apply(&update_matrix(&p, c), [5.0, 5.0, 5.0])[0] - 7.0).abs() < 1e-12);
        // 1 unit of yaw moves a point LEVER_MM from the centre by about 1 mm; the centre stays.
        let mut p = [0.0; N];
        p[5] = 1.0;
        let m = update_matrix(&p, c);
        let q = apply(&m, [c[0] + LEVER_MM, c[1], c[2]]);
        let d = ((q[0] - c[0] - LEVER_MM).powi(2) + (q[1] - c[1]).powi(2)).sqrt();
        assert!((d - 1.0).abs() < 0.01, "{d}");
        let cc = apply(&m, c);
        assert!((0..3).all(|a| (cc[a] - c[a]).abs() < 1e-9));
    }
}
