//! Registration error against a synthetic subject's known anatomy (for tests, the benchmark
//! and docs/location.md): mean distance, over brain points of the study, between where the
//! registration puts a point in MNI space and where the generator took it from.

use nalgebra::{Rotation3, Vector3};
use strokeseg_core::Mask;
use strokeseg_synth::subject::{Subject, HEAD_CENTRE};

use strokeseg_register::Registration;

/// Mean error (mm) over `brain`'s voxels: against the full truth (pose, scale, smooth warp
/// and atrophy: [`Subject::to_template`]) and against the pose and scale alone (what an
/// affine can represent).
#[must_use]
pub fn mean_errors(reg: &Registration, subject: &Subject, brain: &Mask) -> (f64, f64) {
    let g = brain.grid();
    let r = Rotation3::from_euler_angles(
        subject.rotation_deg[0].to_radians(),
        subject.rotation_deg[1].to_radians(),
        subject.rotation_deg[2].to_radians(),
    );
    let rinv = r.matrix().transpose();
    let (mut n, mut full, mut pose) = (0.0f64, 0.0f64, 0.0f64);
    for ((i, j, k), &b) in brain.data().indexed_iter() {
        if !b {
            continue;
        }
        let p = g.voxel_to_world([i as f64, j as f64, k as f64]);
        let q = reg.to_mni(p);
        let t = subject.to_template(p);
        let d = Vector3::from(p) - Vector3::from(subject.centre_mm);
        let a = rinv * d / subject.scale + Vector3::from(HEAD_CENTRE);
        let dist = |x: [f64; 3], y: [f64; 3]| {
            ((x[0] - y[0]).powi(2) + (x[1] - y[1]).powi(2) + (x[2] - y[2]).powi(2)).sqrt()
        };
        n += 1.0;
        full += dist(q, t);
        pose += dist(q, [a[0], a[1], a[2]]);
    }
    if n == 0.0 {
        return (f64::NAN, f64::NAN);
    }
    (full / n, pose / n)
}
