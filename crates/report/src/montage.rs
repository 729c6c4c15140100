//! Axial overlay montages: one row per image (DWI, ADC, …), one column per slice, lesion
//! outlines drawn in red, shown the radiological way (patient's right on the viewer's left,
//! anterior up). Images are first brought to RAS+ axis order, so any acquisition works.

use image::{Rgb, RgbImage};
use ndarray::Array2;
use strokeseg_core::{percentile_in_place, Mask, Reoriented, Volume};

/// One row of a montage: an image and optionally a mask to outline on it.
pub struct Row<'a> {
    /// The image (any grid).
    pub image: &'a Volume,
    /// Outline on the same grid as `image`.
    pub outline: Option<&'a Mask>,
    /// Display window (low, high); `None` = 1st–99.5th percentile of non-zero voxels.
    pub window: Option<(f32, f32)>,
}

/// `n` axial slice indices (RAS+ k axis) spread over the slices that hold signal, always
/// including the slice with most outline voxels when an outline is given.
#[must_use]
pub fn pick_slices(image: &Volume, outline: Option<&Mask>, n: usize) -> Vec<usize> {
    let r = Reoriented::new(image);
    let d = r.image.dims();
    let with_signal: Vec<usize> = (0..d[2])
        .filter(|&k| {
            r.image
                .data()
                .index_axis(ndarray::Axis(2), k)
                .iter()
                .any(|&v| v > 0.0)
        })
        .collect();
    let (lo, hi) = (
        *with_signal.first().unwrap_or(&0),
        *with_signal.last().unwrap_or(&(d[2] - 1)),
    );
    let mut ks: Vec<usize> = (0..n)
        .map(|c| lo + ((hi - lo) as f64 * (c as f64 + 0.5) / n as f64) as usize)
        .collect();
    if let Some(m) = outline {
        let rm = Reoriented::new(m);
        let counts: Vec<usize> = (0..d[2])
            .map(|k| {
                rm.image
                    .data()
                    .index_axis(ndarray::Axis(2), k)
                    .iter()
                    .filter(|&&b| b)
                    .count()
            })
            .collect();
        if let Some((kmax, &c)) = counts.iter().enumerate().max_by_key(|(_, c)| **c) {
            if c > 0 && !ks.contains(&kmax) {
                let nearest = (0..ks.len())
                    .min_by_key(|&i| ks[i].abs_diff(kmax))
                    .unwrap_or(0);
                ks[nearest] = kmax;
            }
        }
    }
    ks
}

/// Display window of an image: 1st–99.5th percentile of its positive voxels (shared with the
/// key-image page).
pub(crate) fn window(v: &Volume) -> (f32, f32) {
    let mut x: Vec<f32> = v
        .data()
        .iter()
        .copied()
        .filter(|&a| a > 0.0 && a.is_finite())
        .collect();
    let lo = percentile_in_place(&mut x, 1.0).unwrap_or(0.0);
    let hi = percentile_in_place(&mut x, 99.5).unwrap_or(1.0);
    (lo.min(0.0), if hi > lo { hi } else { lo + 1.0 })
}

/// A panel: slice `k` of the RAS-reoriented image, scaled by nearest neighbour to `px`
/// pixels on its longer side, radiological orientation.
fn panel(row: &Row<'_>, k: usize, px: u32) -> (Array2<u8>, Option<Array2<bool>>, (u32, u32)) {
    let r = Reoriented::new(row.image);
    let d = r.image.dims();
    let sp = r.image.spacing_mm();
    let (w_mm, h_mm) = (d[0] as f64 * sp[0], d[1] as f64 * sp[1]);
    let scale = f64::from(px) / w_mm.max(h_mm);
    let (w, h) = (
        ((w_mm * scale).round() as u32).max(1),
        ((h_mm * scale).round() as u32).max(1),
    );
    let (lo, hi) = row.window.unwrap_or_else(|| window(row.image));
    let k = k.min(d[2] - 1);
    let mask = row.outline.map(|m| Reoriented::new(m).image);
    let mut gray = Array2::<u8>::zeros((h as usize, w as usize));
    let mut inside = mask
        .as_ref()
        .map(|_| Array2::<bool>::from_elem((h as usize, w as usize), false));
    for y in 0..h as usize {
        for x in 0..w as usize {
            // radiological: screen-left = patient right (+x, high i); anterior (high j) up.
            let i = d[0]
                - 1
                - ((x as f64 + 0.5) / scale / sp[0])
                    .floor()
                    .min(d[0] as f64 - 1.0) as usize;
            let j = d[1]
                - 1
                - ((y as f64 + 0.5) / scale / sp[1])
                    .floor()
                    .min(d[1] as f64 - 1.0) as usize;
            let v = r.image.data()[[i, j, k]];
            gray[[y, x]] = (((v - lo) / (hi - lo)).clamp(0.0, 1.0) * 255.0) as u8;
            if let (Some(m), Some(ins)) = (&mask, inside.as_mut()) {
                ins[[y, x]] = m.data()[[i, j, k]];
            }
        }
    }
    (gray, inside, (w, h))
}

/// Renders rows × slices panels of `px` pixels into one RGB picture.
#[must_use]
pub fn montage(rows: &[Row<'_>], slices: &[usize], px: u32) -> RgbImage {
    let gap = 4u32;
    let cols = slices.len().max(1) as u32;
    let mut img = RgbImage::from_pixel(
        cols * (px + gap) + gap,
        rows.len() as u32 * (px + gap) + gap,
        Rgb([0, 0, 0]),
    );
    for (ri, row) in rows.iter().enumerate() {
        for (ci, &k) in slices.iter().enumerate() {
            let (gray, inside, (w, h)) = panel(row, k, px);
            let x0 = gap + ci as u32 * (px + gap) + (px - w) / 2;
            let y0 = gap + ri as u32 * (px + gap) + (px - h) / 2;
            for y in 0..h as usize {
                for x in 0..w as usize {
                    let g = gray[[y, x]];
                    let mut c = Rgb([g, g, g]);
                    if let Some(ins) = &inside {
                        // outline: inside pixels with an outside 4-neighbour
                        if ins[[y, x]] {
                            let edge =
                                [(0i64, 1i64), (0, -1), (1, 0), (-1, 0)]
                                    .iter()
                                    .any(|(dy, dx)| {
                                        let (yy, xx) = (y as i64 + dy, x as i64 + dx);
                                        yy < 0
                                            || xx < 0
                                            || yy >= h as i64
                                            || xx >= w as i64
                                            || !ins[[yy as usize, xx as usize]]
                                    });
                            if edge {
                                c = Rgb([255, 40, 40]);
                            }
                        }
                    }
                    img.put_pixel(x0 + x as u32, y0 + y as u32, c);
                }
            }
        }
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;
    use strokeseg_core::Grid;

    #[test]
    fn outline_is_red_and_orientation_is_radiological() {
        let g = Grid::axis_aligned([20, 20, 5], [1.0; 3], [0.0; 3]);
        // bright on the patient's right (high i), a lesion there too
        let v = Volume::on_grid(
            Array3::from_shape_fn((20, 20, 5), |(i, _, _)| if i >= 10 { 100.0 } else { 10.0 }),
            &g,
        );
        let m = Mask::on_grid(
            Array3::from_shape_fn((20, 20, 5), |(i, j, _)| {
                (12..16).contains(&i) && (5..9).contains(&j)
            }),
            &g,
        );
        let img = montage(
            &[Row {
                image: &v,
                outline: Some(&m),
                window: Some((0.0, 100.0)),
            }],
            &[2],
            20,
        );
        // left half of the panel (patient right) is bright
        assert!(img.get_pixel(4 + 2, 4 + 10)[0] == 255 || img.get_pixel(4 + 2, 4 + 10)[1] == 255);
        assert!(img.get_pixel(4 + 17, 4 + 10)[1] < 50);
        assert!(
            img.pixels().any(|p| *p == Rgb([255, 40, 40])),
            "an outline is drawn"
        );
        assert_eq!(pick_slices(&v, Some(&m), 3).len(), 3);
    }
}
