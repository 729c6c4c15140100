//! Every chart strokeseg draws, through one maintained plotting library (`plotters`, bitmap
//! backend) with the embedded DejaVu Sans (no system fonts): line charts (learning curves,
//! training curves), the patient-level ROC, the volume Bland–Altman plot and lesion
//! sensitivity by size.

use image::{Rgb, RgbImage};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::sync::Once;

const FAMILY: &str = "sans-serif";
/// Series colour of the ROC, Bland–Altman points and sensitivity bars.
pub const BLUE: Rgb<u8> = Rgb([30, 90, 200]);
/// Colour of reference lines (Bland–Altman mean and limits).
pub const RED: Rgb<u8> = Rgb([200, 50, 40]);

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;
type Res = Result<(), Box<dyn std::error::Error>>;
type Chart<'a, 'b> = ChartContext<
    'a,
    BitMapBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// The axes every chart shares: title, the embedded font, axis descriptions, no fine grid;
/// with `x_ticks` false the caller labels x itself (bar charts).
fn axes<'a, 'b>(
    root: &'a Area<'b>,
    title: &str,
    (x, y): (std::ops::Range<f64>, std::ops::Range<f64>),
    (x_desc, y_desc): (&str, &str),
    x_ticks: bool,
) -> Result<Chart<'a, 'b>, Box<dyn std::error::Error>> {
    let mut c = ChartBuilder::on(root)
        .caption(title, (FAMILY, 20))
        .margin(12)
        .x_label_area_size(50)
        .y_label_area_size(60)
        .build_cartesian_2d(x, y)?;
    let mut mesh = c.configure_mesh();
    mesh.x_desc(x_desc)
        .y_desc(y_desc)
        .light_line_style(WHITE.mix(0.0))
        .label_style((FAMILY, 14))
        .axis_desc_style((FAMILY, 15));
    if !x_ticks {
        mesh.disable_x_mesh().x_labels(0);
    }
    mesh.draw()?;
    Ok(c)
}

fn rgb(c: Rgb<u8>) -> RGBColor {
    RGBColor(c[0], c[1], c[2])
}

/// Draws with `f` on a white `w`×`h` picture. A plotting error (none is expected: the data
/// ranges are checked) is written into the picture, so it is never silently blank.
fn render(w: u32, h: u32, f: impl FnOnce(&Area<'_>) -> Res) -> RgbImage {
    static FONT: Once = Once::new();
    FONT.call_once(|| {
        // The same bytes the key-image page uses; parsing is checked by its test.
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, crate::keyimages::FONT);
    });
    let mut buf = vec![255u8; (w * h * 3) as usize];
    let mut failed = None;
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        if let Err(e) = root
            .fill(&WHITE)
            .map_err(Into::into)
            .and_then(|()| f(&root))
        {
            failed = Some(e.to_string());
        }
        let _ = root.present();
    }
    let mut img = RgbImage::from_raw(w, h, buf).unwrap_or_else(|| RgbImage::new(w, h));
    if let Some(e) = failed {
        imageproc::drawing::draw_text_mut(
            &mut img,
            Rgb([200, 0, 0]),
            8,
            8,
            ab_glyph::PxScale::from(16.0),
            crate::keyimages::font(),
            &format!("plot failed: {e}"),
        );
    }
    img
}

/// `(lo, hi)` widened to a usable, finite axis range.
fn range(lo: f64, hi: f64) -> (f64, f64) {
    match (lo.is_finite(), hi.is_finite()) {
        (true, true) if hi > lo => (lo, hi),
        (true, true) => (lo - 0.5, lo + 0.5),
        _ => (0.0, 1.0),
    }
}

/// One line of a chart.
pub struct Series<'a> {
    /// Legend label.
    pub label: &'a str,
    /// Points (x, y).
    pub points: Vec<(f64, f64)>,
    /// Colour.
    pub color: Rgb<u8>,
}

/// A chart of `series` (lines with point markers) with y in `y_range` (x range from the
/// data), axes, a title and a legend.
#[must_use]
pub fn line_chart(
    title: &str,
    x_label: &str,
    series: &[Series<'_>],
    y_range: (f64, f64),
) -> RgbImage {
    let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let (xmin, xmax) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
        (a.min(x), b.max(x))
    });
    let (xmin, xmax) = range(xmin, xmax);
    let (ymin, ymax) = range(y_range.0, y_range.1);
    render(720, 440, |root| {
        let mut c = axes(root, title, (xmin..xmax, ymin..ymax), (x_label, ""), true)?;
        for s in series {
            let col = rgb(s.color);
            let clamp = |p: &(f64, f64)| (p.0, p.1.clamp(ymin, ymax));
            c.draw_series(LineSeries::new(
                s.points.iter().map(clamp),
                col.stroke_width(2),
            ))?
            .label(s.label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], col.stroke_width(2)));
            c.draw_series(
                s.points
                    .iter()
                    .map(|p| Circle::new(clamp(p), 3, col.filled())),
            )?;
        }
        c.configure_series_labels()
            .label_font((FAMILY, 14))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    })
}

/// ROC curve (FPR, TPR) with the chance diagonal.
#[must_use]
pub fn roc(points: &[(f64, f64)], auc: Option<f64>) -> RgbImage {
    let title = match auc {
        Some(a) => format!("ROC, patient level (AUC {a:.3})"),
        None => "ROC, patient level".to_string(),
    };
    render(520, 520, |root| {
        let mut c = axes(
            root,
            &title,
            (0.0..1.0, 0.0..1.0),
            ("1 - specificity", "sensitivity"),
            true,
        )?;
        c.draw_series(DashedLineSeries::new(
            [(0.0, 0.0), (1.0, 1.0)],
            6,
            4,
            RGBColor(150, 150, 150).stroke_width(1),
        ))?;
        c.draw_series(LineSeries::new(
            points.iter().copied(),
            rgb(BLUE).stroke_width(3),
        ))?;
        Ok(())
    })
}

/// Bland–Altman plot of volumes: x = mean of truth and prediction, y = prediction − truth
/// (mL), with the mean difference and its 95% limits of agreement (± 1.96 SD).
#[must_use]
pub fn bland_altman(truth_ml: &[f64], pred_ml: &[f64]) -> RgbImage {
    let pts: Vec<(f64, f64)> = truth_ml
        .iter()
        .zip(pred_ml)
        .map(|(t, p)| ((t + p) / 2.0, p - t))
        .filter(|p| p.0.is_finite() && p.1.is_finite())
        .collect();
    let n = pts.len() as f64;
    let bias = pts.iter().map(|p| p.1).sum::<f64>() / n.max(1.0);
    let sd = if pts.len() > 1 {
        (pts.iter().map(|p| (p.1 - bias).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    } else {
        0.0
    };
    let (lo, hi) = (bias - 1.96 * sd, bias + 1.96 * sd);
    let xmax = (pts.iter().map(|p| p.0).fold(0.0, f64::max) * 1.05).max(0.01);
    let (ymin, ymax) = pts
        .iter()
        .map(|p| p.1)
        .chain([lo, hi, 0.0])
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
            (a.min(y), b.max(y))
        });
    let pad = ((ymax - ymin) * 0.12).max(0.01);
    let (ymin, ymax) = range(ymin - pad, ymax + pad);
    render(720, 440, |root| {
        let mut c = axes(
            root,
            "Volume Bland-Altman",
            (0.0..xmax, ymin..ymax),
            (
                "mean of truth and predicted volume (mL)",
                "predicted - truth (mL)",
            ),
            true,
        )?;
        let red = rgb(RED);
        c.draw_series(LineSeries::new(
            [(0.0, bias), (xmax, bias)],
            red.stroke_width(2),
        ))?
        .label(format!("mean difference {bias:.2} mL"))
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], red.stroke_width(2)));
        for (i, y) in [lo, hi].into_iter().enumerate() {
            let s = c.draw_series(DashedLineSeries::new(
                [(0.0, y), (xmax, y)],
                8,
                5,
                red.stroke_width(1),
            ))?;
            if i == 0 {
                s.label(format!("95% limits {lo:.2} to {hi:.2} mL"))
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], red.stroke_width(1))
                    });
            }
        }
        c.draw_series(pts.iter().map(|&p| Circle::new(p, 4, rgb(BLUE).filled())))?;
        c.configure_series_labels()
            .label_font((FAMILY, 14))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()?;
        Ok(())
    })
}

/// Bars of lesion-wise sensitivity per bin, labelled with the bin and its lesion count, the
/// value above each bar; an empty bin has no bar and says "n=0".
#[must_use]
pub fn sensitivity_bars(title: &str, bins: &[(String, usize, Option<f64>)]) -> RgbImage {
    let n = bins.len().max(1) as f64;
    render(720, 440, |root| {
        let mut c = axes(
            root,
            title,
            (0.0..n, 0.0..1.08),
            ("truth lesion volume", "lesion sensitivity"),
            false,
        )?;
        let blue = rgb(BLUE);
        for (i, (label, count, sens)) in bins.iter().enumerate() {
            let x = i as f64 + 0.5;
            if let Some(s) = sens {
                c.draw_series([Rectangle::new(
                    [(x - 0.3, 0.0), (x + 0.3, *s)],
                    blue.filled(),
                )])?;
                c.draw_series([Text::new(
                    format!("{s:.2}"),
                    (x - 0.08, (s + 0.06).min(1.07)),
                    (FAMILY, 14),
                )])?;
            }
            let (px, py) = c.backend_coord(&(x, 0.0));
            let style = TextStyle::from((FAMILY, 14)).pos(plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Center,
                plotters::style::text_anchor::VPos::Top,
            ));
            root.draw_text(label, &style, (px, py + 6))?;
            root.draw_text(&format!("n={count}"), &style, (px, py + 24))?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(img: &RgbImage, c: Rgb<u8>) -> usize {
        img.pixels().filter(|p| **p == c).count()
    }

    fn has_text(img: &RgbImage) -> bool {
        // Anti-aliased glyph edges: many grey levels that no line or fill would make.
        let greys: std::collections::BTreeSet<u8> = img
            .pixels()
            .filter(|p| p[0] == p[1] && p[1] == p[2])
            .map(|p| p[0])
            .collect();
        greys.len() > 30
    }

    #[test]
    fn plots_draw_their_data_and_text() {
        let r = roc(&[(0.0, 0.0), (0.0, 0.8), (1.0, 1.0)], Some(0.9));
        assert!(count(&r, BLUE) > 300);
        assert!(has_text(&r));
        let b = bland_altman(&[1.0, 2.0, 5.0], &[1.5, 1.0, 5.5]);
        assert!(count(&b, BLUE) >= 3 * 20 && count(&b, RED) > 100);
        let s = sensitivity_bars("s", &[("a".into(), 4, Some(0.5)), ("b".into(), 0, None)]);
        let empty = sensitivity_bars("s", &[("a".into(), 4, Some(0.0)), ("b".into(), 0, None)]);
        assert!(count(&s, BLUE) > count(&empty, BLUE) + 1000);
        // Nothing in the failure colour: every plot rendered.
        for img in [&r, &b, &s, &empty] {
            assert_eq!(count(img, Rgb([200, 0, 0])), 0);
        }
    }

    #[test]
    fn line_chart_draws_series_in_their_colours_even_with_one_point_or_bad_ranges() {
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
        assert!(count(&img, red) > 100);
        assert!(has_text(&img));
        let one = line_chart(
            "t",
            "x",
            &[Series {
                label: "a",
                points: vec![(2.0, f64::NAN)],
                color: red,
            }],
            (f64::NAN, 1.0),
        );
        assert_eq!(count(&one, Rgb([200, 0, 0])), 0);
    }
}
