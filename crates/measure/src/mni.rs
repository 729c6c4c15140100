//! [`MniApprox`]: a coarse study→MNI map from the brain mask's moments, until real atlas
//! registration exists.

use crate::mni_constants;
use nalgebra::{Matrix3, Rotation3, Vector3};
use serde::{Deserialize, Serialize};
use strokeseg_core::{Grid, Mask};
use strokeseg_mni::Template;

/// Scales are clamped to this range (a head is not 20 % bigger or smaller than the template
/// along any axis; beyond that the mask is wrong, not the head).
const SCALE_RANGE: (f64, f64) = (0.8, 1.25);
/// Width of the z bins of the slab profiles, mm.
const BIN_MM: f64 = 2.0;
/// Head pitch searched, ± degrees (the head is assumed within about 15° of RAS).
const MAX_PITCH_DEG: f64 = 20.0;
/// Cost added per (10°)² of pitch in the partial-coverage fit (see `fit_slabs`).
const PITCH_PRIOR: f64 = 0.03;
/// A slice-axis end plane whose mask count exceeds this fraction of the fullest plane's
/// means the brain is cut off there (a medulla stub in the bottom slice is not a cut).
const CUT_FRACTION: f64 = 0.03;

/// The template's intracranial mask cross-section in one z bin (MNI mm).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ProfileBin {
    /// Cross-sectional area, mm² (volume in the bin ÷ bin width).
    pub area_mm2: f64,
    /// Mean x, mm.
    pub mean_x: f64,
    /// Mean y, mm.
    pub mean_y: f64,
    /// Standard deviation of x, mm.
    pub sd_x: f64,
    /// Standard deviation of y, mm.
    pub sd_y: f64,
}

/// In-plane moments of a mask in consecutive z slabs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZProfile {
    /// z (mm) of the centre of bin 0.
    pub z0_mm: f64,
    /// Bin width (mm).
    pub dz_mm: f64,
    /// One entry per bin, from inferior to superior.
    pub bins: Vec<ProfileBin>,
}

/// Raw (linear) moments of one bin: area, area·mean, area·E[x²].
#[derive(Debug, Clone, Copy, Default)]
struct Raw {
    a: f64,
    x: f64,
    y: f64,
    xx: f64,
    yy: f64,
}

impl Raw {
    fn of(b: &ProfileBin) -> Raw {
        Raw {
            a: b.area_mm2,
            x: b.area_mm2 * b.mean_x,
            y: b.area_mm2 * b.mean_y,
            xx: b.area_mm2 * (b.sd_x * b.sd_x + b.mean_x * b.mean_x),
            yy: b.area_mm2 * (b.sd_y * b.sd_y + b.mean_y * b.mean_y),
        }
    }

    fn add(&mut self, o: &Raw, w: f64) {
        self.a += w * o.a;
        self.x += w * o.x;
        self.y += w * o.y;
        self.xx += w * o.xx;
        self.yy += w * o.yy;
    }

    /// (area, mean x, mean y, var x, var y); means and variances 0 for an empty bin.
    fn stats(&self) -> (f64, f64, f64, f64, f64) {
        if self.a <= 1e-9 {
            return (0.0, 0.0, 0.0, 0.0, 0.0);
        }
        let (mx, my) = (self.x / self.a, self.y / self.a);
        (
            self.a,
            mx,
            my,
            (self.xx / self.a - mx * mx).max(0.0),
            (self.yy / self.a - my * my).max(0.0),
        )
    }
}

impl ZProfile {
    /// Moments at `z` (mm), linearly interpolated between bin centres; area 0 outside.
    fn at(&self, z: f64) -> Raw {
        let f = (z - self.z0_mm) / self.dz_mm;
        let n = self.bins.len() as f64;
        if !(-0.5..=n - 0.5).contains(&f) {
            return Raw::default();
        }
        let b0 = f.floor();
        let t = f - b0;
        let mut r = Raw::default();
        for (b, w) in [(b0, 1.0 - t), (b0 + 1.0, t)] {
            if b >= 0.0 && b < n && w > 0.0 {
                r.add(&Raw::of(&self.bins[b as usize]), w);
            }
        }
        r
    }

    /// z range (mm) of the bins with any area, edges included.
    fn extent(&self) -> (f64, f64) {
        let first = self.bins.iter().position(|b| b.area_mm2 > 0.0).unwrap_or(0);
        let last = self
            .bins
            .iter()
            .rposition(|b| b.area_mm2 > 0.0)
            .unwrap_or(0);
        (
            self.z0_mm + (first as f64 - 0.5) * self.dz_mm,
            self.z0_mm + (last as f64 + 0.5) * self.dz_mm,
        )
    }

    fn max_area(&self) -> f64 {
        self.bins.iter().map(|b| b.area_mm2).fold(0.0, f64::max)
    }
}

/// What [`MniApprox::fit`] needs to know about the template: the intracranial mask's
/// centroid and covariance in MNI mm, and its z profile for partial coverage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateMoments {
    /// Centroid (MNI mm).
    pub centroid_mm: [f64; 3],
    /// Covariance (mm²), including each voxel's own extent (size²/12 per axis).
    pub cov_mm2: [[f64; 3]; 3],
    /// In-plane moments per z slab.
    pub profile: ZProfile,
}

impl TemplateMoments {
    /// The MNI ICBM152 2009a intracranial mask, from constants computed once from the real
    /// template (see `mni_constants.rs`), so that callers need not load the template.
    #[must_use]
    pub fn mni_icbm152_2009a() -> Self {
        TemplateMoments {
            centroid_mm: mni_constants::MNI2009A_IC_CENTROID_MM,
            cov_mm2: mni_constants::MNI2009A_IC_COV_MM2,
            profile: ZProfile {
                z0_mm: mni_constants::MNI2009A_IC_PROFILE_Z0_MM,
                dz_mm: mni_constants::MNI2009A_IC_PROFILE_DZ_MM,
                bins: mni_constants::MNI2009A_IC_PROFILE
                    .iter()
                    .map(|b| ProfileBin {
                        area_mm2: b[0],
                        mean_x: b[1],
                        mean_y: b[2],
                        sd_x: b[3],
                        sd_y: b[4],
                    })
                    .collect(),
            },
        }
    }

    /// Moments of a template's intracranial mask (the real template or a phantom).
    #[must_use]
    pub fn from_template(t: &Template) -> Self {
        Self::from_mask(&Mask::on_grid(t.intracranial.clone(), &t.grid))
    }

    /// Moments of any mask in its world space (what the template's numbers mean).
    ///
    /// # Panics
    /// When the mask is empty.
    #[must_use]
    pub fn from_mask(mask: &Mask) -> Self {
        let m = MaskMoments::new(mask, 0.0).expect("template mask must not be empty");
        let bins = m
            .bins
            .iter()
            .map(|r| {
                let (a, mx, my, vx, vy) = r.stats();
                ProfileBin {
                    area_mm2: a,
                    mean_x: mx,
                    mean_y: my,
                    sd_x: vx.sqrt(),
                    sd_y: vy.sqrt(),
                }
            })
            .collect();
        TemplateMoments {
            centroid_mm: m.centroid,
            cov_mm2: m.cov,
            profile: ZProfile {
                z0_mm: m.bin_z0 + BIN_MM / 2.0,
                dz_mm: BIN_MM,
                bins,
            },
        }
    }
}

/// Moments of a mask: whole-mask centroid and covariance, z-binned in-plane moments, and
/// where along world z the slice axis covers the whole brain.
struct MaskMoments {
    centroid: [f64; 3],
    cov: [[f64; 3]; 3],
    /// Lower edge (world z) of bin 0.
    bin_z0: f64,
    /// Raw moments per bin; `a` is area in mm².
    bins: Vec<Raw>,
    /// z range of the mask including voxel extents.
    z_extent: (f64, f64),
    /// z range over which every brain column along the slice axis lies inside the grid.
    covered: (f64, f64),
    /// The brain touches the grid's inferior / superior end plane along the slice axis.
    cut: (bool, bool),
}

impl MaskMoments {
    /// Moments of `mask` in world coordinates turned by `pitch` radians about the x axis
    /// (see [`rot_x`]).
    fn new(mask: &Mask, pitch: f64) -> Option<Self> {
        let grid = Grid {
            dims: mask.dims(),
            affine: rot_x(pitch).to_homogeneous() * mask.affine(),
        };
        let a = grid.affine;
        let col = |c: usize| [a[(0, c)], a[(1, c)], a[(2, c)]];
        let cols = [col(0), col(1), col(2)];
        let origin = [a[(0, 3)], a[(1, 3)], a[(2, 3)]];
        let dims = grid.dims;
        let data = mask.data();
        // The slice axis: the voxel axis running closest to world z.
        let sa = (0..3)
            .max_by(|&p, &q| {
                let c = |v: usize| cols[v][2].abs() / grid.spacing_mm()[v];
                c(p).total_cmp(&c(q))
            })
            .unwrap_or(2);
        let dz_slice = cols[sa][2];
        // Sub-points along each axis so that one voxel spreads over z in steps ≤ 0.5 mm.
        let nsub: [usize; 3] =
            std::array::from_fn(|v| ((cols[v][2].abs() / 0.5).ceil() as usize).max(1));
        let nsub_total = (nsub[0] * nsub[1] * nsub[2]) as f64;
        let voxel_mm3 = grid.voxel_volume_ml() * 1000.0;
        let half_z: f64 = cols.iter().map(|c| c[2].abs() / 2.0).sum();

        // Pass 1: count, first moments, z range, coverage, end planes.
        let mut n = 0usize;
        let mut s1 = [0.0f64; 3];
        let mut s2 = [[0.0f64; 3]; 3];
        let mut zr = (f64::INFINITY, f64::NEG_INFINITY);
        let mut cov_z = (f64::NEG_INFINITY, f64::INFINITY);
        let mut plane = vec![0usize; dims[sa]];
        for ((i, j, k), &m) in data.indexed_iter() {
            if !m {
                continue;
            }
            let idx = [i as f64, j as f64, k as f64];
            let p: [f64; 3] = std::array::from_fn(|d| {
                origin[d] + idx[0] * cols[0][d] + idx[1] * cols[1][d] + idx[2] * cols[2][d]
            });
            n += 1;
            for d in 0..3 {
                s1[d] += p[d];
                for e in 0..3 {
                    s2[d][e] += p[d] * p[e];
                }
            }
            zr = (zr.0.min(p[2] - half_z), zr.1.max(p[2] + half_z));
            let iv = idx[sa];
            let z_a = p[2] + (-0.5 - iv) * dz_slice;
            let z_b = p[2] + (dims[sa] as f64 - 0.5 - iv) * dz_slice;
            cov_z = (cov_z.0.max(z_a.min(z_b)), cov_z.1.min(z_a.max(z_b)));
            plane[[i, j, k][sa]] += 1;
        }
        if n == 0 {
            return None;
        }
        let nf = n as f64;
        let centroid = [s1[0] / nf, s1[1] / nf, s1[2] / nf];
        let mut cov = [[0.0; 3]; 3];
        for d in 0..3 {
            for e in 0..3 {
                cov[d][e] = s2[d][e] / nf - centroid[d] * centroid[e];
            }
            // A voxel is a box, not a point: add its own variance along world axis d.
            cov[d][d] += cols.iter().map(|c| c[d] * c[d]).sum::<f64>() / 12.0;
        }
        let fullest = plane.iter().copied().max().unwrap_or(0) as f64;
        let end_cut = |c: usize| c as f64 > CUT_FRACTION * fullest;
        let (first, last) = (end_cut(plane[0]), end_cut(plane[dims[sa] - 1]));
        let cut = if dz_slice >= 0.0 {
            (first, last)
        } else {
            (last, first)
        };

        // Pass 2: z-binned in-plane moments from sub-points.
        let bin_z0 = (zr.0 / BIN_MM).floor() * BIN_MM;
        let nbins = ((zr.1 - bin_z0) / BIN_MM).ceil() as usize + 1;
        let mut bins = vec![Raw::default(); nbins];
        let w = voxel_mm3 / nsub_total / BIN_MM; // area contributed by one sub-point
        let offs: [Vec<f64>; 3] = std::array::from_fn(|v| {
            (0..nsub[v])
                .map(|s| (s as f64 + 0.5) / nsub[v] as f64 - 0.5)
                .collect()
        });
        for ((i, j, k), &m) in data.indexed_iter() {
            if !m {
                continue;
            }
            let idx = [i as f64, j as f64, k as f64];
            for &u in &offs[0] {
                for &v in &offs[1] {
                    for &t in &offs[2] {
                        let q = [idx[0] + u, idx[1] + v, idx[2] + t];
                        let p: [f64; 3] = std::array::from_fn(|d| {
                            origin[d] + q[0] * cols[0][d] + q[1] * cols[1][d] + q[2] * cols[2][d]
                        });
                        let b = ((p[2] - bin_z0) / BIN_MM).floor();
                        if b >= 0.0 && (b as usize) < nbins {
                            let r = &mut bins[b as usize];
                            r.a += w;
                            r.x += w * p[0];
                            r.y += w * p[1];
                            r.xx += w * p[0] * p[0];
                            r.yy += w * p[1] * p[1];
                        }
                    }
                }
            }
        }
        Some(MaskMoments {
            centroid,
            cov,
            bin_z0,
            bins,
            z_extent: zr,
            covered: cov_z,
            cut,
        })
    }
}

/// Rotation by `pitch` radians about the x (left–right) axis: positive turns +y (anterior)
/// towards +z (superior).
fn rot_x(pitch: f64) -> Rotation3<f64> {
    Rotation3::from_axis_angle(&Vector3::x_axis(), pitch)
}

/// How an [`MniApprox`] was estimated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FitMethod {
    /// Empty brain mask: the identity (world coordinates taken as MNI).
    Identity,
    /// Whole-brain centroid and second moments.
    Moments,
    /// The brain is cut off by the slice coverage: in-plane moments per z slab, matched to
    /// the template's z profile.
    SlabProfile,
}

/// An approximate map from a study's world space (RAS+ mm) to MNI mm:
/// `mni = scale ⊙ Rx(pitch)·p + offset` — a head pitch (rotation about the left–right
/// axis), one scale per RAS axis, and a translation.
///
/// # Method
/// Assumes the head is roughly in standard orientation (within about ±15° of RAS). Pitch
/// (chin up/down) is the common deviation and is estimated; roll and yaw are not (the
/// head's left–right and superior–inferior spreads are too close for principal axes to
/// tell them apart reliably, and axes would swap), so a residual roll or yaw θ shows up as an
/// error of about `r·sin θ` at distance `r` from the brain centre (≈ 9 mm at 50 mm for 10°).
///
/// - **Whole brain covered** ([`FitMethod::Moments`]): the pitch is the rotation about x
///   that gives the brain mask's y–z correlation the template's (scaling does not change a
///   correlation; searched within ±20°, so axes cannot swap). Then, in the turned frame, the
///   brain's centroid goes to the template intracranial centroid and each axis is scaled by
///   √(template variance ÷ brain variance).
/// - **Partial coverage** ([`FitMethod::SlabProfile`]): clinical DWI often covers only part
///   of the head (e.g. 20 slices of 6.5 mm missing the vertex or the cerebellum). When the
///   brain mask fills more than 3 % of the fullest slice in the first or last slice along
///   the slice axis, the whole-mask centroid and z spread are biased and are not used.
///   Instead the mask is cut into 2 mm slabs along (turned) z, over the z range where the
///   grid covers every brain column, and each slab's area, in-plane centroid and in-plane
///   spread are matched to the template's profile ([`TemplateMoments::profile`]): for each
///   candidate z offset the x/y scales come from the ratio of in-plane spreads and the x/y
///   offsets from the centroids; the z offset (and, by an outer search, the pitch) with the
///   least area and shape mismatch wins. The z scale is the geometric mean of the in-plane
///   scales, since the z spread of a cut brain says nothing. Only truncation along the
///   slice axis nearest to z is detected; a field of view narrower than the head in x or y
///   is not, and biases the moments.
///
/// All scales are clamped to 0.8–1.25.
///
/// # Accuracy (measured in `tests/mni_template.rs`)
/// Worst error at seven landmarks (pons, cerebellar hemisphere, vermis, thalamus, putamen,
/// motor and occipital white matter) on copies of the MNI template's intracranial mask
/// moved by up to 40 mm and scaled by 0.92–1.10 per axis:
/// - whole head at 1.5 × 1.5 × 5 mm: ≤ 0.4 mm (scales within 0.5 %);
/// - slabs of 16–19 slices of 6.5 mm missing the cerebellum, the vertex or both: ≤ 3 mm,
///   4.5 mm when the z scale differs from the in-plane ones by 3.5 %;
/// - head pitched by +10° or −12°: pitch found within 1.5°, ≤ 1 mm, whole or slab;
/// - a brain mask 3 mm tighter than the intracranial mask: scales overestimated by about
///   the erosion over the half-width (3–5 %), ≤ 5 mm.
///
/// Real heads differ from the template in shape, which none of this measures; treat the
/// result as a coarse location (the [`crate::Region`] of a lesion), not a registration.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MniApprox {
    /// Rotation about the x axis applied to world coordinates first, degrees (positive turns
    /// anterior towards superior, i.e. undoes a chin-down head).
    pub pitch_deg: f64,
    /// Per-axis scale (x, y, z), applied after the pitch.
    pub scale: [f64; 3],
    /// Offset in MNI mm.
    pub offset: [f64; 3],
    /// How it was estimated.
    pub method: FitMethod,
}

fn clamp_scale(s: f64) -> f64 {
    if s.is_finite() {
        s.clamp(SCALE_RANGE.0, SCALE_RANGE.1)
    } else {
        1.0
    }
}

impl MniApprox {
    /// The identity map (world coordinates taken as MNI).
    #[must_use]
    pub fn identity() -> Self {
        MniApprox {
            pitch_deg: 0.0,
            scale: [1.0; 3],
            offset: [0.0; 3],
            method: FitMethod::Identity,
        }
    }

    /// Estimates the map from the study's brain mask (see the type's docs for the method).
    /// `template` is [`TemplateMoments::mni_icbm152_2009a`] for real studies. An empty mask
    /// gives the identity, with a warning.
    #[must_use]
    pub fn fit(brain: &Mask, template: &TemplateMoments) -> Self {
        let Some(m) = MaskMoments::new(brain, 0.0) else {
            tracing::warn!("MNI approximation: empty brain mask, using the identity");
            return Self::identity();
        };
        if m.cut.0 || m.cut.1 {
            if let Some(fit) = fit_slabs(brain, &m, &template.profile) {
                tracing::debug!(
                    cut_inferior = m.cut.0,
                    cut_superior = m.cut.1,
                    ?fit,
                    "MNI approximation from slab profiles"
                );
                return fit;
            }
            tracing::warn!("MNI approximation: slab profile fit failed, using whole-mask moments");
        }
        let fit = fit_moments(&m, template);
        tracing::debug!(?fit, "MNI approximation from moments");
        fit
    }

    /// Maps a world point (RAS+ mm) to approximate MNI mm.
    #[must_use]
    pub fn to_mni(&self, p: [f64; 3]) -> [f64; 3] {
        let q = rot_x(self.pitch_deg.to_radians()) * Vector3::from(p);
        std::array::from_fn(|d| self.scale[d] * q[d] + self.offset[d])
    }
}

/// y–z correlation of a covariance matrix.
fn yz_correlation(c: &Matrix3<f64>) -> f64 {
    c[(1, 2)] / (c[(1, 1)] * c[(2, 2)]).sqrt()
}

/// Whole-brain fit: pitch from the y–z correlation, then centroid and per-axis spreads.
fn fit_moments(m: &MaskMoments, t: &TemplateMoments) -> MniApprox {
    let cov = Matrix3::from_fn(|r, c| m.cov[r][c]);
    let target = yz_correlation(&Matrix3::from_fn(|r, c| t.cov_mm2[r][c]));
    // Fine scan rather than a closed form: simple, and it cannot leave the ±20° range.
    let steps = (2.0 * MAX_PITCH_DEG / 0.05).round() as i64;
    let mut best = (f64::INFINITY, 0.0f64);
    for s in 0..=steps {
        let deg = -MAX_PITCH_DEG + s as f64 * 0.05;
        let r = rot_x(deg.to_radians());
        let e = (yz_correlation(&(r.matrix() * cov * r.matrix().transpose())) - target).abs();
        // Prefer the smaller turn among equals.
        if e < best.0 - 1e-12 || ((e - best.0).abs() <= 1e-12 && deg.abs() < best.1.abs()) {
            best = (e, deg);
        }
    }
    let pitch_deg = best.1;
    if pitch_deg.abs() >= MAX_PITCH_DEG - 0.1 {
        tracing::warn!("MNI approximation: head pitch at the search limit ({pitch_deg:.1}°)");
    }
    let r = rot_x(pitch_deg.to_radians());
    let c = r * Vector3::from(m.centroid);
    let cv = r.matrix() * cov * r.matrix().transpose();
    let mut scale = [1.0; 3];
    let mut offset = [0.0; 3];
    for d in 0..3 {
        scale[d] = clamp_scale((t.cov_mm2[d][d] / cv[(d, d)]).sqrt());
        offset[d] = t.centroid_mm[d] - scale[d] * c[d];
    }
    MniApprox {
        pitch_deg,
        scale,
        offset,
        method: FitMethod::Moments,
    }
}

/// Partial-coverage fit: the best slab-profile match over head pitches. A cut brain says
/// less about pitch than a whole one (the cost varies little over ±8° for a slab without
/// the posterior fossa), so a mild prior, [`PITCH_PRIOR`] per (10°)², keeps far turns
/// from winning on small differences.
fn fit_slabs(brain: &Mask, m0: &MaskMoments, prof: &ZProfile) -> Option<MniApprox> {
    let try_pitch = |deg: f64, best: &mut Option<(f64, MniApprox)>| {
        let m = if deg == 0.0 {
            None
        } else {
            MaskMoments::new(brain, deg.to_radians())
        };
        if let Some((cost, mut fit)) = fit_profile(m.as_ref().unwrap_or(m0), prof) {
            fit.pitch_deg = deg;
            let cost = cost + PITCH_PRIOR * (deg / 10.0).powi(2);
            if best.as_ref().is_none_or(|b| cost < b.0) {
                *best = Some((cost, fit));
            }
        }
    };
    let mut best = None;
    let n = (MAX_PITCH_DEG / 2.0).round() as i64;
    for s in -n..=n {
        try_pitch(s as f64 * 2.0, &mut best);
    }
    let centre = best.as_ref()?.1.pitch_deg;
    for s in [-1.5, -1.0, -0.5, 0.5, 1.0, 1.5] {
        try_pitch(centre + s, &mut best);
    }
    best.map(|b| b.1)
}

/// One study slab: its world z centre and (area, mean x, mean y, var x, var y).
struct Slab {
    z: f64,
    a: f64,
    mx: f64,
    my: f64,
    vx: f64,
    vy: f64,
}

/// Scores of one candidate z mapping.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    cost: f64,
    scale: [f64; 2],
    offset: [f64; 2],
}

/// Cost of mapping study z to `sz·z + tz`, with the best in-plane scales and offsets for it.
fn evaluate(slabs: &[Slab], prof: &ZProfile, sz: f64, tz: f64, a_max: f64) -> Candidate {
    let tm: Vec<_> = slabs
        .iter()
        .map(|s| prof.at(sz * s.z + tz).stats())
        .collect();
    // In-plane scales and offsets from the slabs present in both, weighted by template area.
    let (mut w, mut tvx, mut svx, mut tvy, mut svy) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (s, t) in slabs.iter().zip(&tm) {
        if s.a > 0.0 && t.0 > 0.0 {
            w += t.0;
            tvx += t.0 * t.3;
            svx += t.0 * s.vx;
            tvy += t.0 * t.4;
            svy += t.0 * s.vy;
        }
    }
    if w <= 0.0 || svx <= 0.0 || svy <= 0.0 {
        return Candidate {
            cost: f64::INFINITY,
            scale: [1.0; 2],
            offset: [0.0; 2],
        };
    }
    let sx = clamp_scale((tvx / svx).sqrt());
    let sy = clamp_scale((tvy / svy).sqrt());
    let (mut ox, mut oy) = (0.0, 0.0);
    for (s, t) in slabs.iter().zip(&tm) {
        if s.a > 0.0 && t.0 > 0.0 {
            ox += t.0 * (t.1 - sx * s.mx);
            oy += t.0 * (t.2 - sy * s.my);
        }
    }
    ox /= w;
    oy /= w;
    // Area mismatch over every slab (5 % of the widest section ≈ 1), shape mismatch in
    // units of 5 mm over the slabs present in both.
    let area: f64 = slabs
        .iter()
        .zip(&tm)
        .map(|(s, t)| ((t.0 - sx * sy * s.a) / (0.05 * a_max)).powi(2))
        .sum::<f64>()
        / slabs.len() as f64;
    let mut shape = 0.0;
    for (s, t) in slabs.iter().zip(&tm) {
        if s.a > 0.0 && t.0 > 0.0 {
            let r = [
                t.1 - sx * s.mx - ox,
                t.2 - sy * s.my - oy,
                t.3.sqrt() - sx * s.vx.sqrt(),
                t.4.sqrt() - sy * s.vy.sqrt(),
            ];
            shape += t.0 * r.iter().map(|x| x * x).sum::<f64>();
        }
    }
    shape /= w * 25.0;
    Candidate {
        cost: area + shape,
        scale: [sx, sy],
        offset: [ox, oy],
    }
}

/// The slab-profile fit for one pitch (see [`MniApprox`]), with its cost; `None` when there
/// is too little to match. The returned map has pitch 0 (the caller sets it).
fn fit_profile(m: &MaskMoments, prof: &ZProfile) -> Option<(f64, MniApprox)> {
    // Slabs fully inside the covered z range, and at most 10 mm beyond the brain.
    let lo = m.covered.0.max(m.z_extent.0 - 10.0);
    let hi = m.covered.1.min(m.z_extent.1 + 10.0);
    let slabs: Vec<Slab> = m
        .bins
        .iter()
        .enumerate()
        .filter_map(|(b, r)| {
            let z0 = m.bin_z0 + b as f64 * BIN_MM;
            if z0 < lo - 1e-6 || z0 + BIN_MM > hi + 1e-6 {
                return None;
            }
            let (a, mx, my, vx, vy) = r.stats();
            Some(Slab {
                z: z0 + BIN_MM / 2.0,
                a,
                mx,
                my,
                vx,
                vy,
            })
        })
        .collect();
    if slabs.iter().filter(|s| s.a > 0.0).count() < 10 {
        return None;
    }
    let a_max = prof.max_area();
    let (t_lo, t_hi) = prof.extent();
    let (b_lo, b_hi) = (
        slabs.iter().find(|s| s.a > 0.0)?.z,
        slabs.iter().rev().find(|s| s.a > 0.0)?.z,
    );
    let mut sz = 1.0;
    let mut result = None;
    for _pass in 0..3 {
        // Every z offset that keeps the study's brain slabs within 15 mm of the template's.
        let (mut from, mut to) = (t_lo - 15.0 - sz * b_lo, t_hi + 15.0 - sz * b_hi);
        if from > to {
            let mid = (from + to) / 2.0;
            (from, to) = (mid - 20.0, mid + 20.0);
        }
        let mut best: Option<(f64, Candidate)> = None;
        let scan = |from: f64, to: f64, step: f64, best: &mut Option<(f64, Candidate)>| {
            let n = ((to - from) / step).ceil() as usize;
            for i in 0..=n {
                let tz = from + i as f64 * step;
                let c = evaluate(&slabs, prof, sz, tz, a_max);
                if best.as_ref().is_none_or(|b| c.cost < b.1.cost) {
                    *best = Some((tz, c));
                }
            }
        };
        scan(from, to, 1.0, &mut best);
        let (tz, _) = best?;
        scan(tz - 1.0, tz + 1.0, 0.1, &mut best);
        let (tz, c) = best?;
        if !c.cost.is_finite() {
            return None;
        }
        // This pass' z offset goes with this pass' z scale.
        result = Some((
            c.cost,
            MniApprox {
                pitch_deg: 0.0,
                scale: [c.scale[0], c.scale[1], sz],
                offset: [c.offset[0], c.offset[1], tz],
                method: FitMethod::SlabProfile,
            },
        ));
        sz = clamp_scale((c.scale[0] * c.scale[1]).sqrt());
    }
    result
}
