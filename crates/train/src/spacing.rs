//! Target spacing planned from the training set, as nnU-Net does: the median voxel spacing of
//! the training studies (read from NIfTI headers only, so planning 400 studies takes a moment),
//! with nnU-Net's rule for anisotropic data, clamped to a range the CPU pipeline can afford.
//!
//! nnU-Net v2's rule (`ExperimentPlanner.determine_fullres_target_spacing`): with `t` the
//! per-axis median spacing and `s` the per-axis median size in voxels, let `w` be the axis of
//! largest `t`. When `t[w] > 3·max(t[others])` **and** `s[w]·3 < min(s[others])` (thick slices
//! *and* few of them), axis `w` takes the 10th percentile of its spacings instead of the
//! median (so the many finer studies are not blurred to the coarsest), but never less than
//! `max(t[others])`. nnU-Net uses sizes after cropping to the non-zero region; we use the
//! header's sizes (no voxel data is read), which only matters at the margin of the second
//! condition. Spacings are expressed along the RAS+ axes the prepared grid uses: each voxel
//! axis is assigned to the world axis it points along most.

use std::io::Read;
use std::path::{Path, PathBuf};
use strokeseg_io::study::{nifti_files, pick, role_from_name, Role};

/// nnU-Net's anisotropy threshold.
pub const ANISO_THRESHOLD: f64 = 3.0;
/// Smallest planned spacing (mm): DWI is rarely finer than 1 mm in-plane, and a finer grid
/// would multiply the network's cost on CPU for no gain.
pub const MIN_SPACING_MM: f64 = 1.0;
/// Largest planned spacing (mm): coarser than this and small infarcts vanish.
pub const MAX_SPACING_MM: f64 = 8.0;

pub use strokeseg_infer::SpacingPlan;

/// Percentile with linear interpolation between order statistics (numpy's default).
#[must_use]
pub fn percentile(values: &[f64], q: f64) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let pos = q / 100.0 * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

/// nnU-Net's target spacing from per-study `(spacing [x,y,z] mm, size [x,y,z] voxels)`, then
/// clamped. Returns `None` for an empty list.
#[must_use]
pub fn plan_spacing(studies: &[([f64; 3], [usize; 3])]) -> Option<([f64; 3], SpacingPlan)> {
    if studies.is_empty() {
        return None;
    }
    let axis = |a: usize| -> Vec<f64> { studies.iter().map(|s| s.0[a]).collect() };
    let size = |a: usize| -> Vec<f64> { studies.iter().map(|s| s.1[a] as f64).collect() };
    let median: [f64; 3] = std::array::from_fn(|a| percentile(&axis(a), 50.0));
    let sizes: [f64; 3] = std::array::from_fn(|a| percentile(&size(a), 50.0));
    let worst = (0..3)
        .max_by(|&a, &b| median[a].total_cmp(&median[b]))
        .unwrap_or(2);
    let others: Vec<usize> = (0..3).filter(|&a| a != worst).collect();
    let max_other_sp = others.iter().map(|&a| median[a]).fold(f64::MIN, f64::max);
    let min_other_size = others.iter().map(|&a| sizes[a]).fold(f64::MAX, f64::min);
    let mut target = median;
    let mut anisotropic_axis = None;
    if median[worst] > ANISO_THRESHOLD * max_other_sp
        && sizes[worst] * ANISO_THRESHOLD < min_other_size
    {
        let mut t = percentile(&axis(worst), 10.0);
        if t < max_other_sp {
            t = t.max(max_other_sp) + 1e-5;
        }
        target[worst] = t;
        anisotropic_axis = Some(worst);
    }
    let clamped_target = target.map(|t| t.clamp(MIN_SPACING_MM, MAX_SPACING_MM));
    let clamped = clamped_target != target;
    Some((
        clamped_target,
        SpacingPlan {
            method: if anisotropic_axis.is_some() {
                "median+anisotropic-p10".into()
            } else {
                "median".into()
            },
            studies: studies.len(),
            median_mm: Some(median),
            anisotropic_axis,
            clamped,
            skipped: Vec::new(),
        },
    ))
}

/// The record for a spacing the user gave.
#[must_use]
pub fn given(spacing: [f64; 3]) -> SpacingPlan {
    let _ = spacing;
    SpacingPlan {
        method: "given".into(),
        studies: 0,
        median_mm: None,
        anisotropic_axis: None,
        clamped: false,
        skipped: Vec::new(),
    }
}

/// The DWI NIfTI file of a study spec (explicit `--dwi`, or found in its folder as `Study`
/// would), if it has one.
fn dwi_file(spec: &strokeseg_io::StudySpec) -> Option<PathBuf> {
    if let Some(d) = &spec.dwi {
        return Some(d.clone());
    }
    let p = spec.paths.first()?;
    if p.is_file() {
        return Some(p.clone());
    }
    let files = nifti_files(p).ok()?;
    let dwi: Vec<PathBuf> = files
        .into_iter()
        .filter(|f| {
            f.file_name()
                .and_then(|n| role_from_name(&n.to_string_lossy()))
                == Some(Role::Dwi)
        })
        .collect();
    pick(Role::Dwi, dwi).0
}

/// Voxel spacing and size along RAS+ [x, y, z] from a NIfTI header (no voxel data read).
///
/// # Errors
/// A message naming the file when it cannot be read or its geometry is unusable.
pub fn header_spacing(path: &Path) -> Result<([f64; 3], [usize; 3]), String> {
    let err = |m: String| format!("{}: {m}", path.display());
    let mut f = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
    let mut magic = [0u8; 2];
    let n = f.read(&mut magic).map_err(|e| err(e.to_string()))?;
    let f = std::io::BufReader::new(std::fs::File::open(path).map_err(|e| err(e.to_string()))?);
    let mut h = if n == 2 && magic == [0x1f, 0x8b] {
        nifti::NiftiHeader::from_reader(flate2::read::MultiGzDecoder::new(f))
    } else {
        nifti::NiftiHeader::from_reader(f)
    }
    .map_err(|e| err(format!("bad NIfTI header: {e}")))?;
    let dims: [usize; 3] = std::array::from_fn(|i| usize::from(h.dim[i + 1].max(1)));
    // the affine nibabel would use (sform, else qform with |pixdim|, else the voxel sizes)
    let m = if h.sform_code != 0 {
        h.sform_affine::<f64>()
    } else {
        h.fix();
        for i in 1..=3 {
            if !h.pixdim[i].is_finite() || h.pixdim[i] == 0.0 {
                return Err(err(format!("voxel size pixdim[{i}] = {}", h.pixdim[i])));
            }
            h.pixdim[i] = h.pixdim[i].abs();
        }
        if h.qform_code != 0 {
            h.qform_affine::<f64>()
        } else {
            h.affine::<f64>()
        }
    };
    let mut spacing = [f64::NAN; 3];
    let mut size = [0usize; 3];
    for (j, &dim) in dims.iter().enumerate() {
        let col = [m[(0, j)], m[(1, j)], m[(2, j)]];
        let len = col.iter().map(|c| c * c).sum::<f64>().sqrt();
        if !(len.is_finite() && len > 0.0) {
            return Err(err(format!("voxel axis {j} has no usable length")));
        }
        let world = (0..3)
            .max_by(|&a, &b| col[a].abs().total_cmp(&col[b].abs()))
            .unwrap_or(j);
        spacing[world] = len;
        size[world] = dim;
    }
    if spacing.iter().any(|s| s.is_nan()) {
        return Err(err(
            "oblique axes map two voxel axes onto one world axis".into()
        ));
    }
    Ok((spacing, size))
}

/// Plans the spacing from the DWI headers of `cases`; `None` when no header could be read.
#[must_use]
pub fn plan_from_cases(cases: &[crate::data::CaseRef]) -> Option<([f64; 3], SpacingPlan)> {
    let mut found = Vec::new();
    let mut skipped = Vec::new();
    for c in cases {
        match dwi_file(&c.spec).map(|p| header_spacing(&p)) {
            Some(Ok(s)) => found.push(s),
            Some(Err(e)) => skipped.push(e),
            None => skipped.push(format!("{}: no NIfTI DWI (DICOM?)", c.id)),
        }
    }
    let (sp, mut plan) = plan_spacing(&found)?;
    plan.skipped = skipped;
    Some((sp, plan))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_matches_numpy_linear() {
        let v = [1.0, 2.0, 3.0, 4.0, 10.0];
        assert_eq!(percentile(&v, 50.0), 3.0);
        // numpy.percentile([1,2,3,4,10], 10) = 1.4; 90 → 7.6
        assert!((percentile(&v, 10.0) - 1.4).abs() < 1e-12);
        assert!((percentile(&v, 90.0) - 7.6).abs() < 1e-12);
        assert!((percentile(&[2.0, 1.0], 50.0) - 1.5).abs() < 1e-12);
    }

    #[test]
    fn median_spacing_of_near_isotropic_data() {
        let s = [
            ([1.2, 1.2, 4.0], [192, 192, 30]),
            ([1.8, 1.8, 6.5], [128, 128, 24]),
            ([2.0, 2.0, 2.0], [112, 112, 72]),
            ([1.4, 1.4, 7.0], [160, 160, 22]),
            ([1.6, 1.6, 3.6], [144, 144, 40]),
        ];
        let (sp, p) = plan_spacing(&s).unwrap();
        // 4.0 / 1.6 = 2.5 ≤ 3: plain median
        assert_eq!(sp, [1.6, 1.6, 4.0]);
        assert_eq!(p.method, "median");
        assert_eq!(p.anisotropic_axis, None);
        assert!(!p.clamped);
    }

    #[test]
    fn anisotropic_axis_takes_its_tenth_percentile() {
        // thick, few slices (8 mm median vs 1 mm in-plane; 20 slices vs 200 voxels)
        let mut s = Vec::new();
        for (i, z) in [4.0, 6.0, 8.0, 8.0, 8.0, 9.0, 10.0].iter().enumerate() {
            s.push(([1.0, 1.0 + 0.01 * i as f64, *z], [200, 200, 20]));
        }
        let (sp, p) = plan_spacing(&s).unwrap();
        let p10 = percentile(&[4.0, 6.0, 8.0, 8.0, 8.0, 9.0, 10.0], 10.0);
        assert!((p10 - 5.2).abs() < 1e-9);
        assert!((sp[2] - p10).abs() < 1e-9, "{sp:?}");
        assert_eq!(p.anisotropic_axis, Some(2));
        assert_eq!(p.method, "median+anisotropic-p10");
        // the same spacings with many slices: the size condition fails, median stays
        for x in &mut s {
            x.1[2] = 150;
        }
        let (sp, p) = plan_spacing(&s).unwrap();
        assert_eq!(sp[2], 8.0);
        assert_eq!(p.anisotropic_axis, None);
        // never finer than the in-plane axes: the p10 floor
        let s2: Vec<_> = [0.5, 0.5, 0.5, 0.5, 6.0, 6.0, 6.0, 6.0, 6.0]
            .iter()
            .map(|&z| ([1.5, 1.5, z], [200, 200, 20]))
            .collect();
        let (sp, _) = plan_spacing(&s2).unwrap();
        assert!((sp[2] - (1.5 + 1e-5)).abs() < 1e-9, "{sp:?}");
    }

    #[test]
    fn absurd_spacings_are_clamped_and_recorded() {
        let (sp, p) = plan_spacing(&[([0.3, 0.3, 20.0], [600, 600, 100])]).unwrap();
        assert_eq!(sp, [MIN_SPACING_MM, MIN_SPACING_MM, MAX_SPACING_MM]);
        assert!(p.clamped);
        assert!(plan_spacing(&[]).is_none());
    }

    #[test]
    fn header_spacing_follows_the_affine_axes() {
        use strokeseg_core::Volume;
        let d = tempfile::tempdir().unwrap();
        // voxel axes (i, j, k) = world (z, x, y): a sagittal-like permutation
        #[rustfmt::skip]
        let aff = nalgebra::Matrix4::new(
            0.0, 1.5, 0.0, -90.0,
            0.0, 0.0, 2.0, -100.0,
            5.0, 0.0, 0.0, -60.0,
            0.0, 0.0, 0.0, 1.0,
        );
        let v = Volume::new(ndarray::Array3::<f32>::zeros((10, 20, 30)), aff).unwrap();
        let p = d.path().join("x_dwi.nii.gz");
        strokeseg_io::nifti_io::write_volume(&p, &v, "test").unwrap();
        let (sp, size) = header_spacing(&p).unwrap();
        assert!(
            (sp[0] - 1.5).abs() < 1e-5 && (sp[1] - 2.0).abs() < 1e-5 && (sp[2] - 5.0).abs() < 1e-5,
            "{sp:?}"
        );
        assert_eq!(size, [20, 30, 10]);
        let bad = d.path().join("bad.nii");
        std::fs::write(&bad, b"nope").unwrap();
        assert!(header_spacing(&bad).unwrap_err().contains("bad.nii"));
    }
}
