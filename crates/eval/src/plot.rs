//! The evaluation's PNG plots: ROC curve, volume Bland–Altman, lesion sensitivity by size.
//!
//! Drawn straight into pixels with the project's bitmap font (`strokeseg_report::text`), like
//! `strokeseg_report::chart`: a plotting stack (plotters) would pull in system fonts, and
//! these three plots need only axes, points, lines and bars.

use image::{Rgb, RgbImage};
use strokeseg_report::text::{draw_text, text_width};

const W: u32 = 640;
const H: u32 = 440;
const L: f64 = 64.0;
const R: f64 = 20.0;
const T: f64 = 40.0;
const B: f64 = 52.0;
const BLACK: Rgb<u8> = Rgb([0, 0, 0]);
const GREY: Rgb<u8> = Rgb([205, 205, 205]);
/// Main series colour.
pub const BLUE: Rgb<u8> = Rgb([31, 90, 200]);
/// Reference lines.
pub const RED: Rgb<u8> = Rgb([210, 40, 40]);

/// A plot area mapping data (x, y) into the image.
struct Axes {
    img: RgbImage,
    x: (f64, f64),
    y: (f64, f64),
}

fn tick_label(v: f64, span: f64) -> String {
    if span >= 50.0 {
        format!("{v:.0}")
    } else if span >= 5.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

impl Axes {
    fn new(title: &str, x_label: &str, y_label: &str, x: (f64, f64), y: (f64, f64)) -> Self {
        let fix = |(a, b): (f64, f64)| {
            if a.is_finite() && b.is_finite() && b > a {
                (a, b)
            } else {
                (a.min(0.0) - 1.0, a.max(0.0) + 1.0)
            }
        };
        let mut ax = Axes {
            img: RgbImage::from_pixel(W, H, Rgb([255, 255, 255])),
            x: fix(x),
            y: fix(y),
        };
        let (x, y) = (ax.x, ax.y);
        for i in 0..=4 {
            let f = f64::from(i) / 4.0;
            let (xv, yv) = (x.0 + f * (x.1 - x.0), y.0 + f * (y.1 - y.0));
            ax.line((x.0, yv), (x.1, yv), GREY);
            ax.line((xv, y.0), (xv, y.1), GREY);
            let yl = tick_label(yv, y.1 - y.0);
            let (_, py) = ax.px((x.0, yv));
            ax.text(L - 6.0 - f64::from(text_width(&yl, 1)), py - 4.0, &yl, 1);
            let xl = tick_label(xv, x.1 - x.0);
            let (px, _) = ax.px((xv, y.0));
            ax.text(
                px - f64::from(text_width(&xl, 1)) / 2.0,
                f64::from(H) - B + 6.0,
                &xl,
                1,
            );
        }
        ax.line((x.0, y.0), (x.1, y.0), BLACK);
        ax.line((x.0, y.0), (x.0, y.1), BLACK);
        ax.text(L, 10.0, title, 2);
        let xw = f64::from(text_width(x_label, 1));
        ax.text((f64::from(W) - xw) / 2.0, f64::from(H) - 20.0, x_label, 1);
        ax.text(4.0, T - 14.0, y_label, 1);
        ax
    }

    fn px(&self, (x, y): (f64, f64)) -> (f64, f64) {
        let fx = (x - self.x.0) / (self.x.1 - self.x.0);
        let fy = (y - self.y.0) / (self.y.1 - self.y.0);
        (
            L + fx * (f64::from(W) - L - R),
            f64::from(H) - B - fy * (f64::from(H) - T - B),
        )
    }

    fn put(&mut self, x: f64, y: f64, c: Rgb<u8>) {
        let (px, py) = (x.round(), y.round());
        if px >= 0.0 && py >= 0.0 && px < f64::from(W) && py < f64::from(H) {
            self.img.put_pixel(px as u32, py as u32, c);
        }
    }

    fn text(&mut self, x: f64, y: f64, s: &str, scale: u32) {
        draw_text(
            &mut self.img,
            x.max(0.0) as u32,
            y.max(0.0) as u32,
            s,
            scale,
            BLACK,
        );
    }

    /// A 2-pixel line between data points.
    fn line(&mut self, a: (f64, f64), b: (f64, f64), c: Rgb<u8>) {
        let ((x0, y0), (x1, y1)) = (self.px(a), self.px(b));
        let n = ((x1 - x0).abs().max((y1 - y0).abs()).ceil() as usize).max(1);
        for s in 0..=n {
            let t = s as f64 / n as f64;
            let (x, y) = (x0 + t * (x1 - x0), y0 + t * (y1 - y0));
            self.put(x, y, c);
            self.put(x + 1.0, y, c);
        }
    }

    /// A filled square marker.
    fn point(&mut self, p: (f64, f64), c: Rgb<u8>) {
        let (x, y) = self.px(p);
        for dx in -2..=2 {
            for dy in -2..=2 {
                self.put(x + f64::from(dx), y + f64::from(dy), c);
            }
        }
    }

    /// A filled rectangle between data corners.
    fn rect(&mut self, a: (f64, f64), b: (f64, f64), c: Rgb<u8>) {
        let ((x0, y0), (x1, y1)) = (self.px(a), self.px(b));
        let (xa, xb) = (x0.min(x1).round() as i64, x0.max(x1).round() as i64);
        let (ya, yb) = (y0.min(y1).round() as i64, y0.max(y1).round() as i64);
        for x in xa..=xb {
            for y in ya..=yb {
                self.put(x as f64, y as f64, c);
            }
        }
    }
}

/// ROC curve (FPR, TPR) with the chance diagonal.
#[must_use]
pub fn roc(points: &[(f64, f64)], auc: Option<f64>) -> RgbImage {
    let title = match auc {
        Some(a) => format!("ROC, patient level (AUC {a:.3})"),
        None => "ROC, patient level".to_string(),
    };
    let mut ax = Axes::new(
        &title,
        "1 - specificity",
        "sensitivity",
        (0.0, 1.0),
        (0.0, 1.0),
    );
    ax.line((0.0, 0.0), (1.0, 1.0), GREY);
    for w in points.windows(2) {
        ax.line(w[0], w[1], BLUE);
    }
    ax.img
}

/// Bland–Altman plot of volumes: x = mean of truth and prediction, y = prediction − truth
/// (mL), with the mean difference and its 95% limits of agreement (± 1.96 SD).
#[must_use]
pub fn bland_altman(truth_ml: &[f64], pred_ml: &[f64]) -> RgbImage {
    let pts: Vec<(f64, f64)> = truth_ml
        .iter()
        .zip(pred_ml)
        .map(|(t, p)| ((t + p) / 2.0, p - t))
        .collect();
    let n = pts.len() as f64;
    let bias = pts.iter().map(|p| p.1).sum::<f64>() / n.max(1.0);
    let sd = if pts.len() > 1 {
        (pts.iter().map(|p| (p.1 - bias).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    } else {
        0.0
    };
    let (lo, hi) = (bias - 1.96 * sd, bias + 1.96 * sd);
    let xmax = pts.iter().map(|p| p.0).fold(0.0, f64::max) * 1.05;
    let ys = pts.iter().map(|p| p.1).chain([lo, hi, 0.0]);
    let (ymin, ymax) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
        (a.min(y), b.max(y))
    });
    let pad = ((ymax - ymin) * 0.08).max(0.01);
    let mut ax = Axes::new(
        "Volume Bland-Altman",
        "mean of truth and predicted volume (mL)",
        "predicted - truth (mL)",
        (0.0, xmax.max(0.01)),
        (ymin - pad, ymax + pad),
    );
    let x1 = ax.x.1;
    let note = format!("mean difference {bias:.2} mL, 95% limits {lo:.2} to {hi:.2} mL");
    ax.text(L + 8.0, T + 4.0, &note, 1);
    ax.line((0.0, bias), (x1, bias), RED);
    for y in [lo, hi] {
        let mut x = 0.0;
        while x < x1 {
            ax.line((x, y), ((x + x1 / 60.0).min(x1), y), RED);
            x += x1 / 30.0;
        }
    }
    for p in pts {
        ax.point(p, BLUE);
    }
    ax.img
}

/// Bars of lesion-wise sensitivity per bin, labelled with the bin and its lesion count; an
/// empty bin has no bar and says "n=0".
#[must_use]
pub fn sensitivity_bars(title: &str, bins: &[(String, usize, Option<f64>)]) -> RgbImage {
    let n = bins.len().max(1) as f64;
    let mut ax = Axes::new(
        title,
        "truth lesion volume",
        "lesion sensitivity",
        (0.0, n),
        (0.0, 1.0),
    );
    // Replace the numeric x ticks with bin labels.
    let band = (0, H - B as u32 + 2);
    for x in band.0..W {
        for y in band.1..H - 24 {
            ax.img.put_pixel(x, y, Rgb([255, 255, 255]));
        }
    }
    for (i, (label, count, sens)) in bins.iter().enumerate() {
        let c = i as f64 + 0.5;
        if let Some(s) = sens {
            ax.rect((c - 0.3, 0.0), (c + 0.3, *s), BLUE);
            let (px, py) = ax.px((c, *s));
            let v = format!("{s:.2}");
            ax.text(px - f64::from(text_width(&v, 1)) / 2.0, py - 12.0, &v, 1);
        }
        let (px, py) = ax.px((c, 0.0));
        let n = format!("n={count}");
        ax.text(
            px - f64::from(text_width(label, 1)) / 2.0,
            py + 6.0,
            label,
            1,
        );
        ax.text(px - f64::from(text_width(&n, 1)) / 2.0, py + 16.0, &n, 1);
    }
    ax.img
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(img: &RgbImage, c: Rgb<u8>) -> usize {
        img.pixels().filter(|p| **p == c).count()
    }

    #[test]
    fn plots_draw_their_data() {
        let r = roc(&[(0.0, 0.0), (0.0, 0.8), (1.0, 1.0)], Some(0.9));
        assert!(count(&r, BLUE) > 300);
        let b = bland_altman(&[1.0, 2.0, 5.0], &[1.5, 1.0, 5.5]);
        assert!(count(&b, BLUE) >= 3 * 20 && count(&b, RED) > 100);
        let s = sensitivity_bars("s", &[("a".into(), 4, Some(0.5)), ("b".into(), 0, None)]);
        let empty = sensitivity_bars("s", &[("a".into(), 4, Some(0.0)), ("b".into(), 0, None)]);
        assert!(count(&s, BLUE) > count(&empty, BLUE) + 1000);
    }
}
