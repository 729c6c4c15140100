//! From a mask on a RAS+ voxel grid to one rows×columns frame per source slice, through world
//! coordinates: pixel (row r, column c) of slice k lies at
//! `IPP_k + c·Δcol·rowcos + r·Δrow·colcos` (LPS), which must land on a mask voxel centre.
//! Handles the study's own DWI grid and any permutation or flip of it; anything else (a
//! resampled mask) is refused rather than interpolated.

use crate::DeliverError;
use nalgebra::{Vector3, Vector4};
use strokeseg_core::Mask;
use strokeseg_io::dicom::DicomSlices;

/// Largest distance (in voxels) of a source pixel centre from the nearest mask voxel centre.
/// Slice positions may wander a little from the regular grid the reader fitted (it accepts
/// gaps within 10 % of the median), hence not much tighter.
const TOL_VOXEL: f64 = 0.3;

/// LPS point → RAS point.
fn ras(p: Vector3<f64>) -> Vector3<f64> {
    Vector3::new(-p.x, -p.y, p.z)
}

fn near_int(v: Vector3<f64>, tol: f64) -> Option<[i64; 3]> {
    let r = v.map(f64::round);
    ((v - r).amax() <= tol).then(|| [r.x as i64, r.y as i64, r.z as i64])
}

/// One frame per slice of `src`, each `rows * columns` values row by row.
///
/// # Errors
/// [`DeliverError::Geometry`] when the mask's voxels do not coincide one-to-one with the
/// source pixels (different grid, resampled mask), naming the first mismatch.
pub(crate) fn mask_frames(src: &DicomSlices, mask: &Mask) -> Result<Vec<Vec<bool>>, DeliverError> {
    let (rows, cols) = (src.rows, src.columns);
    let n_src = rows * cols * src.slices.len();
    let dims = mask.dims();
    if n_src != mask.grid().len() {
        return Err(DeliverError::Geometry(format!(
            "mask has {dims:?} voxels ({}), the source {} slices of {rows}×{cols} pixels ({n_src})",
            mask.grid().len(),
            src.slices.len()
        )));
    }
    let inv = mask.grid().world_to_voxel_affine();
    let lin = inv.fixed_view::<3, 3>(0, 0).into_owned();
    let o = src.orientation;
    let [d_row, d_col] = src.pixel_spacing;
    // One column step moves along the row direction cosines by the column spacing.
    let step_c = lin * ras(Vector3::new(o[0], o[1], o[2]) * d_col);
    let step_r = lin * ras(Vector3::new(o[3], o[4], o[5]) * d_row);
    let span = rows.max(cols) as f64;
    let (Some(dc), Some(dr)) = (
        near_int(step_c, TOL_VOXEL / span),
        near_int(step_r, TOL_VOXEL / span),
    ) else {
        return Err(DeliverError::Geometry(format!(
            "one pixel step along a source row/column is {:.4?}/{:.4?} mask voxels, not a whole voxel",
            step_c.as_slice(),
            step_r.as_slice()
        )));
    };
    let inside = |v: [i64; 3]| (0..3).all(|a| v[a] >= 0 && (v[a] as usize) < dims[a]);
    let data = mask.data();
    let mut out = Vec::with_capacity(src.slices.len());
    let mut seen = vec![false; dims[0] * dims[1] * dims[2]];
    let mut n_true = 0usize;
    for (k, s) in src.slices.iter().enumerate() {
        let p = s.position();
        let b = inv * Vector4::new(-p[0], -p[1], p[2], 1.0);
        let Some(base) = near_int(Vector3::new(b.x, b.y, b.z), TOL_VOXEL) else {
            return Err(DeliverError::Geometry(format!(
                "slice {k} (ImagePositionPatient {p:?}) falls at mask voxel {:.3?}, between voxel centres",
                [b.x, b.y, b.z]
            )));
        };
        let at = |r: usize, c: usize| -> [i64; 3] {
            std::array::from_fn(|a| base[a] + dc[a] * c as i64 + dr[a] * r as i64)
        };
        for corner in [
            at(0, 0),
            at(rows - 1, 0),
            at(0, cols - 1),
            at(rows - 1, cols - 1),
        ] {
            if !inside(corner) {
                return Err(DeliverError::Geometry(format!(
                    "slice {k} reaches mask voxel {corner:?}, outside the mask's {dims:?}"
                )));
            }
        }
        let mut frame = Vec::with_capacity(rows * cols);
        for r in 0..rows {
            for c in 0..cols {
                let v = at(r, c).map(|x| x as usize);
                let flat = (v[0] * dims[1] + v[1]) * dims[2] + v[2];
                if std::mem::replace(&mut seen[flat], true) {
                    return Err(DeliverError::Geometry(format!(
                        "mask voxel {v:?} is hit by two source pixels (slice {k})"
                    )));
                }
                let x = data[v];
                n_true += usize::from(x);
                frame.push(x);
            }
        }
        out.push(frame);
    }
    debug_assert_eq!(n_true, mask.count());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::Matrix4;
    use ndarray::Array3;
    use strokeseg_io::dicom::{SourceImage, SourceSlice};

    /// Source slices of an axial stack: rows along +P (LPS y), columns along +L (LPS x).
    fn axial(rows: usize, cols: usize, n: usize, sp: [f64; 3]) -> DicomSlices {
        DicomSlices {
            rows,
            columns: cols,
            orientation: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
            pixel_spacing: [sp[1], sp[0]],
            slice_thickness: Some(sp[2]),
            spacing_between_slices: None,
            slices: (0..n)
                .map(|k| SourceSlice {
                    images: vec![SourceImage {
                        path: "x".into(),
                        sop_class_uid: "1.2".into(),
                        sop_instance_uid: format!("1.2.{k}"),
                        frame_number: None,
                        position: [10.0, -20.0, 30.0 + sp[2] * k as f64],
                    }],
                })
                .collect(),
        }
    }

    /// The RAS affine the reader builds for `axial`.
    fn reader_affine(sp: [f64; 3]) -> Matrix4<f64> {
        Matrix4::new(
            -sp[0], 0.0, 0.0, -10.0, //
            0.0, -sp[1], 0.0, 20.0, //
            0.0, 0.0, sp[2], 30.0, //
            0.0, 0.0, 0.0, 1.0,
        )
    }

    #[test]
    fn native_grid_maps_column_row_slice() {
        let sp = [0.9, 1.1, 5.0];
        let src = axial(4, 3, 2, sp);
        let mut data = Array3::from_elem((3, 4, 2), false);
        data[[2, 1, 0]] = true; // column 2, row 1, slice 0
        data[[0, 3, 1]] = true; // column 0, row 3, slice 1
        let mask = Mask::new(data, reader_affine(sp)).unwrap();
        let f = mask_frames(&src, &mask).unwrap();
        assert_eq!(f.len(), 2);
        let on: Vec<(usize, usize)> = f
            .iter()
            .enumerate()
            .flat_map(|(k, fr)| {
                fr.iter()
                    .enumerate()
                    .filter(|(_, &x)| x)
                    .map(move |(i, _)| (k, i))
            })
            .collect();
        assert_eq!(on, vec![(0, 3 + 2), (1, 3 * 3)]);
    }

    #[test]
    fn flipped_grid_gives_the_same_frames() {
        let sp = [1.0, 1.0, 4.0];
        let src = axial(5, 6, 3, sp);
        let mut data = Array3::from_elem((6, 5, 3), false);
        data[[4, 1, 2]] = true;
        let a = reader_affine(sp);
        let native = mask_frames(&src, &Mask::new(data.clone(), a).unwrap()).unwrap();
        // Flip i: voxel i' = 5 - i; world unchanged.
        let mut flipped = data.clone();
        flipped.invert_axis(ndarray::Axis(0));
        let mut a2 = a;
        a2[(0, 3)] = a[(0, 3)] + 5.0 * a[(0, 0)];
        a2[(0, 0)] = -a[(0, 0)];
        let f2 = mask_frames(&src, &Mask::new(flipped, a2).unwrap()).unwrap();
        assert_eq!(native, f2);
        assert_eq!(native.iter().flatten().filter(|&&x| x).count(), 1);
    }

    #[test]
    fn half_voxel_shift_is_refused() {
        let sp = [1.0, 1.0, 4.0];
        let src = axial(4, 4, 2, sp);
        let mut a = reader_affine(sp);
        a[(0, 3)] += 0.5;
        let mask = Mask::new(Array3::from_elem((4, 4, 2), false), a).unwrap();
        let e = mask_frames(&src, &mask).unwrap_err().to_string();
        assert!(e.contains("between voxel centres"), "{e}");
    }

    #[test]
    fn wrong_size_is_refused() {
        let sp = [1.0, 1.0, 4.0];
        let src = axial(4, 4, 2, sp);
        let mask = Mask::new(Array3::from_elem((4, 4, 3), false), reader_affine(sp)).unwrap();
        assert!(matches!(
            mask_frames(&src, &mask),
            Err(DeliverError::Geometry(_))
        ));
    }
}
