//! Small line charts (learning curves, metric-vs-size curves) drawn straight into a PNG with
//! the bitmap font, so no plotting stack or system fonts are needed.

use crate::text::{draw_text, text_width};
use image::{Rgb, RgbImage};

/// One line of a chart.
pub struct Series<'a> {
    /// Legend label.
    pub label: &'a str,
    /// Points (x, y).
    pub points: Vec<(f64, f64)>,
    /// Colour.
    pub color: Rgb<u8>,
}

fn line(img: &mut RgbImage, (x0, y0): (f64, f64), (x1, y1): (f64, f64), c: Rgb<u8>) {
    let n = ((x1 - x0).abs().max((y1 - y0).abs()).ceil() as usize).max(1);
    for s in 0..=n {
        let t = s as f64 / n as f64;
        let (x, y) = (x0 + t * (x1 - x0), y0 + t * (y1 - y0));
        for (dx, dy) in [(0i64, 0i64), (1, 0), (0, 1)] {
            let (px, py) = (x.round() as i64 + dx, y.round() as i64 + dy);
            if px >= 0 && py >= 0 && (px as u32) < img.width() && (py as u32) < img.height() {
                img.put_pixel(px as u32, py as u32, c);
            }
        }
    }
}

/// A chart of `series` with y in `y_range` (x range from the data), axis ticks, a title and a
/// legend.
#[must_use]
pub fn line_chart(
    title: &str,
    x_label: &str,
    series: &[Series<'_>],
    y_range: (f64, f64),
) -> RgbImage {
    let (w, h) = (640u32, 400u32);
    let (l, r, t, b) = (56.0, 16.0, 40.0, 44.0);
    let mut img = RgbImage::from_pixel(w, h, Rgb([255, 255, 255]));
    let xs: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    let (xmin, xmax) = (
        xs.iter().copied().fold(f64::INFINITY, f64::min),
        xs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    );
    let (xmin, xmax) = if xmin.is_finite() && xmax > xmin {
        (xmin, xmax)
    } else {
        (0.0, 1.0)
    };
    let (ymin, ymax) = y_range;
    let px = |x: f64| l + (x - xmin) / (xmax - xmin) * (f64::from(w) - l - r);
    let py = |y: f64| {
        f64::from(h) - b - (y.clamp(ymin, ymax) - ymin) / (ymax - ymin) * (f64::from(h) - t - b)
    };
    let grey = Rgb([200, 200, 200]);
    let black = Rgb([0, 0, 0]);
    for i in 0..=4 {
        let y = ymin + (ymax - ymin) * f64::from(i) / 4.0;
        line(&mut img, (l, py(y)), (f64::from(w) - r, py(y)), grey);
        let label = format!("{y:.2}");
        draw_text(&mut img, 4, py(y) as u32 - 4, &label, 1, black);
        let x = xmin + (xmax - xmin) * f64::from(i) / 4.0;
        let xl = format!("{x:.0}");
        draw_text(
            &mut img,
            px(x) as u32 - text_width(&xl, 1) / 2,
            h - b as u32 + 6,
            &xl,
            1,
            black,
        );
    }
    line(
        &mut img,
        (l, f64::from(h) - b),
        (f64::from(w) - r, f64::from(h) - b),
        black,
    );
    line(&mut img, (l, t), (l, f64::from(h) - b), black);
    draw_text(&mut img, l as u32, 8, title, 2, black);
    draw_text(
        &mut img,
        (f64::from(w) / 2.0) as u32 - text_width(x_label, 1) / 2,
        h - 16,
        x_label,
        1,
        black,
    );
    for (n, s) in series.iter().enumerate() {
        for p in s.points.windows(2) {
            line(
                &mut img,
                (px(p[0].0), py(p[0].1)),
                (px(p[1].0), py(p[1].1)),
                s.color,
            );
        }
        if let [p] = s.points.as_slice() {
            line(
                &mut img,
                (px(p.0) - 2.0, py(p.1)),
                (px(p.0) + 2.0, py(p.1)),
                s.color,
            );
        }
        let ly = t as u32 + 4 + n as u32 * 12;
        line(
            &mut img,
            (f64::from(w) - 180.0, f64::from(ly) + 4.0),
            (f64::from(w) - 160.0, f64::from(ly) + 4.0),
            s.color,
        );
        draw_text(&mut img, w - 154, ly, s.label, 1, black);
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_series_in_their_colours() {
        let red = Rgb([220, 30, 30]);
        let img = line_chart(
            "t",
            "epoch",
            &[Series {
                label: "dice",
                points: vec![(1.0, 0.1), (2.0, 0.5), (3.0, 0.9)],
                color: red,
            }],
            (0.0, 1.0),
        );
        assert!(img.pixels().filter(|p| **p == red).count() > 100);
    }
}
