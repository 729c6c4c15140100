//! One synthetic subject's anatomy: where the head sits in the scanner (rigid pose, global
//! scale), a smooth random non-linear warp, and atrophy (ventricle enlargement, sulcal
//! widening). Maps scanner-world points to template (MNI) points, so images are sampled
//! directly on the scanner's grid.

use nalgebra::{Matrix3, Rotation3, Vector3};
use rand::Rng;
use rand_distr::{Distribution, Normal};
use serde::Serialize;

/// Centre of the lateral ventricles in MNI mm, the focus of atrophy-driven expansion.
const VENTRICLE_CENTRE: [f64; 3] = [0.0, -8.0, 14.0];
/// Head centre in MNI mm (roughly the middle of the brain's bounding box).
pub const HEAD_CENTRE: [f64; 3] = [0.0, -18.0, 8.0];
/// Control points per axis of the warp (over a 200 mm cube centred on the head).
const WARP_N: usize = 6;
const WARP_EXTENT_MM: f64 = 200.0;

/// Subject parameters (recorded in the manifest).
#[derive(Debug, Clone, Serialize)]
pub struct Subject {
    /// Rotation of the head in the scanner, degrees about x (pitch), y (roll), z (yaw).
    pub rotation_deg: [f64; 3],
    /// Isotropic scale of the head relative to the template.
    pub scale: f64,
    /// Head centre in scanner coordinates (mm).
    pub centre_mm: [f64; 3],
    /// Atrophy 0 (none) – 1 (severe): ventricle expansion and sulcal widening.
    pub atrophy: f64,
    /// Largest displacement of the non-linear warp (mm).
    pub warp_max_mm: f64,
    #[serde(skip)]
    warp: Vec<[f64; 3]>,
    #[serde(skip)]
    rot_inv: Matrix3<f64>,
}

impl Subject {
    /// Draws a subject.
    pub fn sample<R: Rng>(rng: &mut R) -> Subject {
        let n = |sd: f64| Normal::new(0.0, sd).expect("valid sd");
        let rotation_deg = [
            n(6.0).sample(rng).clamp(-15.0, 15.0),
            n(3.0).sample(rng).clamp(-8.0, 8.0),
            n(4.0).sample(rng).clamp(-10.0, 10.0),
        ];
        let scale = (1.0 + n(0.05).sample(rng)).clamp(0.88, 1.12);
        let centre_mm = [n(4.0).sample(rng), n(6.0).sample(rng), n(6.0).sample(rng)];
        let atrophy = rng.random::<f64>().powf(0.7); // stroke patients are mostly elderly
        let amp = rng.random_range(1.0..4.0);
        let warp: Vec<[f64; 3]> = (0..WARP_N * WARP_N * WARP_N)
            .map(|_| [n(amp).sample(rng), n(amp).sample(rng), n(amp).sample(rng)])
            .collect();
        let warp_max_mm = warp
            .iter()
            .map(|w| (w[0] * w[0] + w[1] * w[1] + w[2] * w[2]).sqrt())
            .fold(0.0, f64::max);
        Self::build(rotation_deg, scale, centre_mm, atrophy, warp, warp_max_mm)
    }

    /// The template itself: no pose, no warp, no atrophy (for tests and checks).
    #[must_use]
    pub fn identity() -> Subject {
        Self::build(
            [0.0; 3],
            1.0,
            HEAD_CENTRE,
            0.0,
            vec![[0.0; 3]; WARP_N * WARP_N * WARP_N],
            0.0,
        )
    }

    fn build(
        rotation_deg: [f64; 3],
        scale: f64,
        centre_mm: [f64; 3],
        atrophy: f64,
        warp: Vec<[f64; 3]>,
        warp_max_mm: f64,
    ) -> Subject {
        let r = Rotation3::from_euler_angles(
            rotation_deg[0].to_radians(),
            rotation_deg[1].to_radians(),
            rotation_deg[2].to_radians(),
        );
        Subject {
            rotation_deg,
            scale,
            centre_mm,
            atrophy,
            warp_max_mm,
            warp,
            rot_inv: r.matrix().transpose(),
        }
    }

    /// Smooth warp displacement at a template point (trilinear between control points).
    fn warp_at(&self, q: [f64; 3]) -> [f64; 3] {
        let step = WARP_EXTENT_MM / (WARP_N - 1) as f64;
        let mut idx = [0usize; 3];
        let mut frac = [0.0f64; 3];
        for a in 0..3 {
            let u = ((q[a] - HEAD_CENTRE[a] + WARP_EXTENT_MM / 2.0) / step)
                .clamp(0.0, (WARP_N - 1) as f64 - 1e-9);
            idx[a] = u.floor() as usize;
            frac[a] = u - idx[a] as f64;
        }
        let mut out = [0.0; 3];
        for corner in 0..8 {
            let off = [corner & 1, (corner >> 1) & 1, (corner >> 2) & 1];
            let w: f64 = (0..3)
                .map(|a| if off[a] == 1 { frac[a] } else { 1.0 - frac[a] })
                .product();
            let c = &self.warp
                [(idx[0] + off[0]) + WARP_N * ((idx[1] + off[1]) + WARP_N * (idx[2] + off[2]))];
            for a in 0..3 {
                out[a] += w * c[a];
            }
        }
        out
    }

    /// The template (MNI) point imaged at scanner point `p` (mm).
    #[must_use]
    pub fn to_template(&self, p: [f64; 3]) -> [f64; 3] {
        let d = Vector3::new(
            p[0] - self.centre_mm[0],
            p[1] - self.centre_mm[1],
            p[2] - self.centre_mm[2],
        );
        let q = self.rot_inv * d / self.scale;
        let mut q = [
            q[0] + HEAD_CENTRE[0],
            q[1] + HEAD_CENTRE[1],
            q[2] + HEAD_CENTRE[2],
        ];
        let w = self.warp_at(q);
        for a in 0..3 {
            q[a] += w[a];
        }
        if self.atrophy > 0.0 {
            // Ventricle expansion: sample the template closer to the ventricle centre, so the
            // CSF spaces appear larger; strongest centrally, fading out by ~40 mm.
            let r2: f64 = (0..3).map(|a| (q[a] - VENTRICLE_CENTRE[a]).powi(2)).sum();
            let k = 1.0 - 0.45 * self.atrophy * (-r2 / (2.0 * 22.0f64.powi(2))).exp();
            for a in 0..3 {
                q[a] = VENTRICLE_CENTRE[a] + (q[a] - VENTRICLE_CENTRE[a]) * k;
            }
        }
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn identity_maps_head_centre_to_itself_and_sampling_is_deterministic() {
        let s = Subject::identity();
        let q = s.to_template([1.0, -30.0, 20.0]);
        assert!(
            (q[0] - 1.0).abs() < 1e-9 && (q[1] + 30.0).abs() < 1e-9 && (q[2] - 20.0).abs() < 1e-9
        );
        let mut r1 = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut r2 = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let (a, b) = (Subject::sample(&mut r1), Subject::sample(&mut r2));
        assert_eq!(
            a.to_template([10.0, 5.0, -3.0]),
            b.to_template([10.0, 5.0, -3.0])
        );
    }

    #[test]
    fn warp_is_smooth_and_bounded() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let mut s = Subject::sample(&mut rng);
        // Atrophy deliberately magnifies the centre (ventricles); check the warp without it.
        let atrophy = s.atrophy;
        s.atrophy = 0.0;
        let a = s.to_template([0.0, 0.0, 0.0]);
        let b = s.to_template([1.0, 0.0, 0.0]);
        let step = ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt();
        assert!(
            (0.7..1.4).contains(&step),
            "1 mm in the scanner is {step} mm in the template"
        );
        assert!(s.warp_max_mm < 20.0);
        // With atrophy, 1 scanner mm near the ventricles covers less template: they look larger.
        s.atrophy = atrophy.max(0.5);
        let c = s.to_template([0.0, 0.0, 0.0]);
        let d = s.to_template([1.0, 0.0, 0.0]);
        let step_atrophy =
            ((c[0] - d[0]).powi(2) + (c[1] - d[1]).powi(2) + (c[2] - d[2]).powi(2)).sqrt();
        assert!(step_atrophy < step, "{step_atrophy} vs {step}");
    }
}
