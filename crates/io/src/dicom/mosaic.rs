//! Siemens mosaic images: one file holds every slice of a volume, tiled row by row in a
//! square grid of ceil(√n) × ceil(√n) tiles (the unused tiles at the end are blank).
//!
//! A file is a mosaic when its ImageType holds `MOSAIC`, or when Siemens (0019,100A)
//! NumberOfImagesInMosaic says more than one image. The slice count comes from (0019,100A),
//! else from the CSA Image Header's `NumberOfImagesInMosaic`. The geometry follows nibabel's
//! `MosaicWrapper`: ImagePositionPatient refers to the top-left of the whole mosaic as if it
//! were one image, so the first slice's position is that moved by half the difference in
//! size between mosaic and tile along the row and column directions; slice t lies t ×
//! (SpacingBetweenSlices, else SliceThickness) along the slice normal, which is the cross
//! product of the ImageOrientationPatient directions with the sign of the CSA
//! `SliceNormalVector` (Siemens may store the slices opposite to row × column).
//!
//! Each tile becomes a [`Frame`] of its own (frame number = tile index), so the rest of the
//! reader sorts, groups by b-value and combines directions exactly as for single-slice files.

use super::attrs::{self, Obj};
use super::csa::CsaHeader;
use super::read::Frame;
use crate::error::InputError;
use nalgebra::Vector3;
use std::path::Path;

/// Most slices a mosaic may claim (far above any real acquisition).
const MAX_SLICES: usize = 4096;

/// How a mosaic is cut into slices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    /// Number of slices (tiles in use).
    pub n: usize,
    /// Tiles per row and per column of the mosaic.
    pub grid: usize,
    pub tile_rows: usize,
    pub tile_cols: usize,
}

/// The layout of `obj` when it is a Siemens mosaic of `rows` × `cols` pixels, `None` for an
/// ordinary image.
///
/// # Errors
/// [`InputError::Dicom`] naming `path` when it is marked as a mosaic but the slice count is
/// missing, implausible or contradictory, or the mosaic cannot hold a square grid of tiles.
pub(crate) fn layout(
    path: &Path,
    obj: &Obj,
    image_type: &[String],
    csa: Option<&Result<CsaHeader, String>>,
    (rows, cols): (usize, usize),
    n_frames: usize,
) -> Result<Option<Layout>, InputError> {
    let marked = image_type.iter().any(|t| t == "MOSAIC");
    let from_tag = attrs::siemens_mosaic_count(obj).filter(|&n| n > 0.0);
    if !marked && !from_tag.is_some_and(|n| n > 1.0) {
        return Ok(None);
    }
    let err = |what: String| InputError::dicom(path, format!("Siemens mosaic: {what}"));
    let from_csa = match csa {
        Some(Ok(h)) => h.number("NumberOfImagesInMosaic").filter(|&n| n > 0.0),
        _ => None,
    };
    let n = match (from_tag, from_csa) {
        (Some(t), Some(c)) if t != c => {
            return Err(err(format!(
                "(0019,100A) NumberOfImagesInMosaic says {t} slices, the CSA image header {c}"
            )))
        }
        (Some(n), _) | (None, Some(n)) => n,
        (None, None) => {
            let csa_note = match csa {
                None => "no CSA image header (0029,1010)".to_string(),
                Some(Err(e)) => format!("unreadable CSA image header (0029,1010): {e}"),
                Some(Ok(_)) => "no NumberOfImagesInMosaic in the CSA image header".to_string(),
            };
            return Err(err(format!(
                "ImageType says MOSAIC but the slice count is missing: no (0019,100A) \
                 NumberOfImagesInMosaic and {csa_note}; cannot split it into slices"
            )));
        }
    };
    if n.fract() != 0.0 || !(1.0..=MAX_SLICES as f64).contains(&n) {
        return Err(err(format!("implausible NumberOfImagesInMosaic {n}")));
    }
    let n = n as usize;
    if n_frames > 1 {
        return Err(err(format!(
            "multi-frame mosaic ({n_frames} frames) is not supported"
        )));
    }
    let grid = (1..=n).find(|g| g * g >= n).unwrap_or(1);
    if rows % grid != 0 || cols % grid != 0 {
        return Err(err(format!(
            "{n} slices need a {grid}×{grid} grid of tiles, which a {rows}×{cols} image \
             cannot hold (not divisible)"
        )));
    }
    Ok(Some(Layout {
        n,
        grid,
        tile_rows: rows / grid,
        tile_cols: cols / grid,
    }))
}

/// The CSA `SliceNormalVector`, when present and a usable direction.
pub(crate) fn csa_slice_normal(csa: Option<&CsaHeader>) -> Option<Vector3<f64>> {
    let v = csa?.numbers("SliceNormalVector")?;
    let v = Vector3::new(*v.first()?, *v.get(1)?, *v.get(2)?);
    (v.norm() > 0.5).then(|| v.normalize())
}

/// Cuts mosaic `frame` (whole-image pixels, rescale applied) into one frame per slice, with
/// each slice's own position.
///
/// # Errors
/// [`InputError::Dicom`] naming the file when the slices cannot be placed: no slice spacing
/// for a multi-slice mosaic, a degenerate orientation, or a CSA slice normal that is not
/// perpendicular to the image plane.
pub(crate) fn split(
    mut frame: Frame,
    l: &Layout,
    csa_normal: Option<Vector3<f64>>,
) -> Result<Vec<Frame>, InputError> {
    let err = |what: String| InputError::dicom(&frame.path, format!("Siemens mosaic: {what}"));
    let (rows, cols) = (frame.rows, frame.cols);
    if frame.pixels.len() < rows * cols || l.grid * l.tile_rows != rows {
        return Err(err(format!(
            "{} pixel values for a {rows}×{cols} mosaic",
            frame.pixels.len()
        )));
    }
    let mosaic = std::mem::take(&mut frame.pixels);
    // First slice's position and the step between slices (LPS), when the file has geometry.
    let mut placement: Option<(Vector3<f64>, Vector3<f64>)> = None;
    if let (Some(o), Some(p), Some(ps)) = (frame.orientation, frame.position, frame.pixel_spacing) {
        let row = Vector3::new(o[0], o[1], o[2]);
        let col = Vector3::new(o[3], o[4], o[5]);
        let mut normal = row.cross(&col);
        if normal.norm() < 0.5 {
            return Err(err(format!("degenerate ImageOrientationPatient {o:?}")));
        }
        normal = normal.normalize();
        if let Some(csa) = csa_normal {
            let dot = csa.dot(&normal);
            if dot.abs() < 0.999 {
                return Err(err(format!(
                    "CSA SliceNormalVector {:?} is not perpendicular to the image plane \
                     (ImageOrientationPatient {o:?})",
                    [csa.x, csa.y, csa.z]
                )));
            }
            if dot < 0.0 {
                normal = -normal;
            }
        }
        let spacing = frame
            .spacing_between_slices
            .filter(|s| *s > 0.0)
            .or(frame.slice_thickness.filter(|s| *s > 0.0));
        let spacing = match spacing {
            Some(s) => s,
            None if l.n == 1 => 1.0,
            None => {
                return Err(err(format!(
                    "{} slices but neither SpacingBetweenSlices nor SliceThickness: cannot \
                     place them",
                    l.n
                )))
            }
        };
        let half = |mosaic: usize, tile: usize| (mosaic - tile) as f64 / 2.0;
        let first = Vector3::from(p)
            + col * ps[0] * half(rows, l.tile_rows)
            + row * ps[1] * half(cols, l.tile_cols);
        placement = Some((first, normal * spacing));
    }
    let mut out = Vec::with_capacity(l.n);
    for t in 0..l.n {
        let (tr, tc) = (t / l.grid, t % l.grid);
        let mut pixels = Vec::with_capacity(l.tile_rows * l.tile_cols);
        for r in 0..l.tile_rows {
            let start = (tr * l.tile_rows + r) * cols + tc * l.tile_cols;
            pixels.extend_from_slice(&mosaic[start..start + l.tile_cols]);
        }
        let position = placement.map(|(first, step)| {
            let p = first + step * t as f64;
            [p.x, p.y, p.z]
        });
        out.push(Frame {
            frame: t as u32,
            rows: l.tile_rows,
            cols: l.tile_cols,
            position,
            pixels,
            ..frame.clone()
        });
    }
    Ok(out)
}
