//! The brain's left–right mirror: finds the mid-sagittal plane of a prepared DWI and reflects
//! an image through it, so the network (a plan's mirror channel) and the lesion measurements
//! (`signal.dwi_mirror_ratio`) can compare each voxel with the same place in the other
//! hemisphere (an infarct is one-sided; bright posterior fossa, ghosts and coil shading mostly
//! are not).
//!
//! Owns the plane search and the reflection on the prepared (axis-aligned RAS+) grid. It does
//! not register to a template: the plane is the one that best matches the brain with its own
//! reflection, which works on any head position and needs no atlas. Written by hand because no
//! crate fits a symmetry plane to a 3-D image.

use ndarray::Array3;
use strokeseg_core::sample_trilinear;

/// A mid-sagittal plane in the prepared grid's millimetre frame (voxel index × spacing): the
/// points `p` with `normal · (p − centre) = offset_mm`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MidPlane {
    /// Unit normal (≈ ±x, the left–right axis).
    pub normal: [f64; 3],
    /// A point near the brain's centre (mm).
    pub centre: [f64; 3],
    /// Signed distance of the plane from `centre` along `normal` (mm).
    pub offset_mm: f64,
    /// Mean absolute difference between the image and its reflection in the brain (the fit's
    /// cost; 0 for a perfectly symmetric image).
    pub asymmetry: f64,
}

impl MidPlane {
    /// The reflection of `p` (mm) through the plane.
    #[must_use]
    pub fn reflect(&self, p: [f64; 3]) -> [f64; 3] {
        let n = self.normal;
        let s = (0..3).map(|a| n[a] * (p[a] - self.centre[a])).sum::<f64>() - self.offset_mm;
        [
            p[0] - 2.0 * s * n[0],
            p[1] - 2.0 * s * n[1],
            p[2] - 2.0 * s * n[2],
        ]
    }

    /// Yaw and roll of the plane's normal away from the x axis (degrees).
    #[must_use]
    pub fn tilt_deg(&self) -> [f64; 2] {
        let n = self.normal;
        [n[1].atan2(n[0]).to_degrees(), n[2].atan2(n[0]).to_degrees()]
    }
}

/// Trilinear sample of an [x, y, z] array at a fractional voxel position; 0 outside.
fn sample(v: &Array3<f32>, p: [f64; 3]) -> f32 {
    sample_trilinear(&v.view(), p)
}

fn unit(a: f64, b: f64) -> [f64; 3] {
    let l = (1.0 + a * a + b * b).sqrt();
    [1.0 / l, a / l, b / l]
}

/// Largest yaw/roll slope (tan of the angle) and offset (mm) the search goes to.
const MAX_SLOPE: f64 = 0.4;
const MAX_OFFSET_MM: f64 = 25.0;

/// Fits the mid-sagittal plane of `img` (an [x, y, z] image, e.g. the z-scored DWI) over the
/// voxels of `brain` on a grid of `spacing` mm. Values are clipped to ±`clip` so a large lesion
/// does not pull the plane. `None` when the brain has fewer than 100 voxels.
#[must_use]
pub fn fit_midplane(
    img: &Array3<f32>,
    brain: &Array3<bool>,
    spacing: [f64; 3],
    clip: f32,
) -> Option<MidPlane> {
    let clipped = img.mapv(|v| v.clamp(-clip, clip));
    // every other voxel in-plane: plenty for a 3-parameter fit, and 4× faster
    let pts: Vec<[f64; 3]> = brain
        .indexed_iter()
        .filter(|((i, j, _), &b)| b && i % 2 == 0 && j % 2 == 0)
        .map(|((i, j, k), _)| {
            [
                i as f64 * spacing[0],
                j as f64 * spacing[1],
                k as f64 * spacing[2],
            ]
        })
        .collect();
    if pts.len() < 25 {
        return None;
    }
    let n = pts.len() as f64;
    let centre = [0, 1, 2].map(|a| pts.iter().map(|p| p[a]).sum::<f64>() / n);
    let vals: Vec<f32> = pts
        .iter()
        .map(|p| {
            sample(
                &clipped,
                [p[0] / spacing[0], p[1] / spacing[1], p[2] / spacing[2]],
            )
        })
        .collect();
    let cost = |a: f64, b: f64, d: f64| -> f64 {
        let plane = MidPlane {
            normal: unit(a, b),
            centre,
            offset_mm: d,
            asymmetry: 0.0,
        };
        let mut s = 0.0;
        for (p, &v) in pts.iter().zip(&vals) {
            let q = plane.reflect(*p);
            let m = sample(
                &clipped,
                [q[0] / spacing[0], q[1] / spacing[1], q[2] / spacing[2]],
            );
            s += f64::from((v - m).abs());
        }
        s / n
    };
    // pattern search from the brain's centre, coarse to fine
    let (mut a, mut b, mut d) = (0.0, 0.0, 0.0);
    let mut best = cost(a, b, d);
    for (step_d, step_s) in [
        (4.0, 0.08),
        (2.0, 0.04),
        (1.0, 0.02),
        (0.5, 0.01),
        (0.25, 0.005),
    ] {
        for _ in 0..8 {
            let mut moved = false;
            for (da, db, dd) in [
                (0.0, 0.0, step_d),
                (0.0, 0.0, -step_d),
                (step_s, 0.0, 0.0),
                (-step_s, 0.0, 0.0),
                (0.0, step_s, 0.0),
                (0.0, -step_s, 0.0),
            ] {
                let (na, nb, nd) = (a + da, b + db, d + dd);
                if na.abs() > MAX_SLOPE || nb.abs() > MAX_SLOPE || nd.abs() > MAX_OFFSET_MM {
                    continue;
                }
                let c = cost(na, nb, nd);
                if c < best {
                    (a, b, d, best) = (na, nb, nd, c);
                    moved = true;
                }
            }
            if !moved {
                break;
            }
        }
    }
    Some(MidPlane {
        normal: unit(a, b),
        centre,
        offset_mm: d,
        asymmetry: best,
    })
}

/// `img` reflected through `plane`: out[p] = img[reflect(p)] (trilinear, 0 outside the grid).
#[must_use]
pub fn reflect_image(img: &Array3<f32>, plane: &MidPlane, spacing: [f64; 3]) -> Array3<f32> {
    let mut out = Array3::<f32>::zeros(img.dim());
    for ((i, j, k), o) in out.indexed_iter_mut() {
        let q = plane.reflect([
            i as f64 * spacing[0],
            j as f64 * spacing[1],
            k as f64 * spacing[2],
        ]);
        *o = sample(
            img,
            [q[0] / spacing[0], q[1] / spacing[1], q[2] / spacing[2]],
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ellipsoidal "brain" whose mid-plane passes through x = `cx` mm with yaw `yaw`
    /// (radians), with paired bright structures on both sides and one bright lesion on one.
    fn head(cx: f64, yaw: f64) -> (Array3<f32>, Array3<bool>, [f64; 3]) {
        let sp = [1.6, 1.6, 4.0];
        let (nx, ny, nz) = (96, 112, 30);
        let mut img = Array3::<f32>::zeros((nx, ny, nz));
        let mut brain = Array3::from_elem((nx, ny, nz), false);
        let (cy, cz) = (90.0, 60.0);
        let (s, c) = yaw.sin_cos();
        for ((i, j, k), v) in img.indexed_iter_mut() {
            let (x, y, z) = (
                i as f64 * sp[0] - cx,
                j as f64 * sp[1] - cy,
                k as f64 * sp[2] - cz,
            );
            // head frame: u left–right, w front–back
            let u = c * x + s * y;
            let w = -s * x + c * y;
            if (u / 60.0).powi(2) + (w / 75.0).powi(2) + (z / 50.0).powi(2) < 1.0 {
                brain[[i, j, k]] = true;
                let mut val = 0.2 * (w / 20.0).sin() as f32;
                // paired structures at u = ±25, and a one-sided lesion at u = +30, w = −30
                if ((u.abs() - 25.0).powi(2) + (w - 20.0).powi(2)) < 100.0 {
                    val += 1.5;
                }
                if ((u.abs() - 15.0).powi(2) + (w + 45.0).powi(2) + (z - 20.0).powi(2)) < 64.0 {
                    val -= 1.0;
                }
                if (u - 30.0).powi(2) + (w + 30.0).powi(2) + z.powi(2) < 80.0 {
                    val += 3.0;
                }
                *v = val;
            }
        }
        (img, brain, sp)
    }

    #[test]
    fn finds_an_off_centre_yawed_midplane_and_keeps_the_lesion_one_sided() {
        let (cx, yaw) = (77.0, 6.0f64.to_radians());
        let (img, brain, sp) = head(cx, yaw);
        let plane = fit_midplane(&img, &brain, sp, 3.0).expect("a brain");
        let [y, r] = plane.tilt_deg();
        assert!(
            (y - 6.0).abs() < 1.5 && r.abs() < 1.5,
            "tilt {y:.2}, {r:.2}"
        );
        // the head's centre (cx, 90, 60) lies on the plane: it reflects onto itself
        let q = plane.reflect([cx, 90.0, 60.0]);
        let dist = ((q[0] - cx).powi(2) + (q[1] - 90.0).powi(2) + (q[2] - 60.0).powi(2)).sqrt();
        assert!(dist < 2.0, "centre moved {dist:.2} mm");
        let m = reflect_image(&img, &plane, sp);
        // paired bright structures meet their partner; the lesion is not matched in the mirror
        let (s, c) = yaw.sin_cos();
        let at = |u: f64, w: f64| {
            let (x, y) = (c * u - s * w + cx, s * u + c * w + 90.0);
            [
                (x / sp[0]).round() as usize,
                (y / sp[1]).round() as usize,
                15,
            ]
        };
        let pair = at(-25.0, 20.0);
        assert!(
            (img[pair] - m[pair]).abs() < 0.5,
            "{} vs {}",
            img[pair],
            m[pair]
        );
        let les = at(30.0, -30.0);
        assert!(
            img[les] > 2.5 && m[les] < 1.0,
            "lesion {} mirror {}",
            img[les],
            m[les]
        );
        let other = at(-30.0, -30.0);
        assert!(
            m[other] > 2.5,
            "the lesion appears on the other side of the mirror"
        );
        assert!(plane.asymmetry < 0.2, "asymmetry {}", plane.asymmetry);
    }

    #[test]
    fn an_empty_brain_has_no_plane_and_reflection_is_an_involution() {
        let img = Array3::<f32>::zeros((8, 8, 4));
        assert!(fit_midplane(&img, &Array3::from_elem((8, 8, 4), false), [1.0; 3], 3.0).is_none());
        let plane = MidPlane {
            normal: unit(0.1, -0.05),
            centre: [10.0, 20.0, 30.0],
            offset_mm: 3.0,
            asymmetry: 0.0,
        };
        let p = [1.0, 2.0, 3.0];
        let back = plane.reflect(plane.reflect(p));
        assert!((0..3).all(|a| (back[a] - p[a]).abs() < 1e-9));
    }
}
