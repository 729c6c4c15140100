//! The key-image page (`key_images.png`): what a clinician reads in two seconds. The axial
//! slices that hold lesions (each lesion's largest cross-section, not a fixed six), DWI and
//! ADC side by side, lesions filled translucent in their own colour with their number, a
//! legend (number, volume, structure, territory), the call with its operating point, a 5 cm
//! scale bar, the R/L marker (radiological: the patient's right on the viewer's left,
//! anterior up) and "RESEARCH USE ONLY", in anti-aliased text (DejaVu Sans, embedded;
//! `fonts/DejaVuSans-LICENSE.txt`).

use crate::montage::window;
use ab_glyph::{FontRef, PxScale};
use image::{Rgb, RgbImage};
use imageproc::drawing::{draw_filled_rect_mut, draw_text_mut, text_size};
use imageproc::rect::Rect;
use strokeseg_core::{Image, Reoriented, Volume};

/// DejaVu Sans, embedded (also registered with plotters by `plot`).
pub(crate) static FONT: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");

/// The embedded font (DejaVu Sans).
///
/// # Panics
/// Never: the font is compiled in and checked by a test.
#[must_use]
pub fn font() -> &'static FontRef<'static> {
    static PARSED: std::sync::OnceLock<FontRef<'static>> = std::sync::OnceLock::new();
    PARSED.get_or_init(|| FontRef::try_from_slice(FONT).expect("the embedded DejaVu Sans parses"))
}

/// One row of the legend.
#[derive(Debug, Clone)]
pub struct KeyLesion {
    /// Lesion number (the value in [`KeyPage::labels`]).
    pub id: u32,
    /// Volume in mL.
    pub volume_ml: f64,
    /// Main structure with side, e.g. "temporal lobe R" (or the coarse region).
    pub structure: String,
    /// Main arterial territory with side, e.g. "MCA R" (empty without an atlas).
    pub territory: String,
}

/// Everything the page shows.
pub struct KeyPage<'a> {
    /// The DWI (any grid).
    pub dwi: &'a Volume,
    /// The ADC on the DWI's grid, when there is one (10⁻⁶ mm²/s).
    pub adc: Option<&'a Volume>,
    /// Lesion number per voxel (0 = none), on the DWI's grid.
    pub labels: &'a Image<u32>,
    /// Legend rows, largest lesion first.
    pub lesions: &'a [KeyLesion],
    /// Study name.
    pub study: String,
    /// True when the call is "infarct".
    pub positive: bool,
    /// The call in words with score and operating point.
    pub call: String,
    /// Model name and what it was trained on, one line.
    pub model: String,
    /// A caution about the input shown in amber under the research-use line (e.g. a noisy
    /// DWI that was smoothed before reading); `None` for none.
    pub caution: Option<String>,
}

/// Most slices on one page.
pub const MAX_SLICES: usize = 6;
const PANEL: u32 = 300;
const GAP: u32 = 8;
const WHITE: Rgb<u8> = Rgb([235, 235, 235]);
const GREY: Rgb<u8> = Rgb([160, 160, 160]);
const AMBER: Rgb<u8> = Rgb([255, 200, 60]);

/// Distinct colours for lesion numbers 1, 2, … (cycled).
const PALETTE: [[u8; 3]; 8] = [
    [255, 60, 60],
    [255, 190, 30],
    [60, 200, 255],
    [120, 255, 90],
    [255, 90, 230],
    [255, 140, 60],
    [150, 120, 255],
    [40, 255, 200],
];

/// Colour of lesion `id` (1-based).
#[must_use]
pub fn colour(id: u32) -> Rgb<u8> {
    Rgb(PALETTE[(id.max(1) as usize - 1) % PALETTE.len()])
}

/// The RAS+ axial slices to show: each listed lesion's largest cross-section (largest lesion
/// first, at most [`MAX_SLICES`], duplicates dropped), in foot-to-head order; three slices
/// spread over the brain when there is no lesion.
#[must_use]
pub fn key_slices(labels: &Image<u32>, ids: &[u32]) -> Vec<usize> {
    let r = Reoriented::new(labels).image;
    let d = r.dims();
    let mut ks = Vec::new();
    for &id in ids {
        let counts: Vec<usize> = (0..d[2])
            .map(|k| {
                r.data()
                    .index_axis(ndarray::Axis(2), k)
                    .iter()
                    .filter(|&&l| l == id)
                    .count()
            })
            .collect();
        let most = counts.iter().copied().max().unwrap_or(0);
        // The largest cross-section; of equal ones, the middle.
        let tied: Vec<usize> = (0..d[2]).filter(|&k| counts[k] == most).collect();
        if most > 0 {
            let k = tied[tied.len() / 2];
            if !ks.contains(&k) {
                ks.push(k);
            }
        }
        if ks.len() == MAX_SLICES {
            break;
        }
    }
    if ks.is_empty() {
        ks = vec![d[2] * 3 / 10, d[2] / 2, d[2] * 7 / 10];
    }
    ks.sort_unstable();
    ks
}

/// (lesion number, screen position of its first pixel) per lesion seen in a panel.
type Anchors = Vec<(u32, (u32, u32))>;

/// Draws slice `k` of the reoriented `img` with `labels` filled translucent into `out` at
/// (x0, y0), fitted into a PANEL-pixel square. Returns the screen position of each label's
/// first (top-left-most) pixel and the pixels per mm.
fn draw_panel(
    out: &mut RgbImage,
    (x0, y0): (u32, u32),
    img: &Image<f32>,
    labels: Option<&Image<u32>>,
    k: usize,
    (lo, hi): (f32, f32),
) -> (Anchors, f64) {
    let d = img.dims();
    let sp = img.spacing_mm();
    let (w_mm, h_mm) = (d[0] as f64 * sp[0], d[1] as f64 * sp[1]);
    let scale = f64::from(PANEL) / w_mm.max(h_mm);
    let (w, h) = ((w_mm * scale) as u32, (h_mm * scale) as u32);
    let (ox, oy) = (x0 + (PANEL - w) / 2, y0 + (PANEL - h) / 2);
    let k = k.min(d[2] - 1);
    let mut anchors: Anchors = Vec::new();
    let voxel = |x: u32, y: u32| {
        // radiological: screen-left = patient right (high i); anterior (high j) up.
        let i = d[0] - 1 - ((f64::from(x) + 0.5) / scale / sp[0]).min(d[0] as f64 - 1.0) as usize;
        let j = d[1] - 1 - ((f64::from(y) + 0.5) / scale / sp[1]).min(d[1] as f64 - 1.0) as usize;
        [i, j, k]
    };
    let label_at = |x: i64, y: i64| -> u32 {
        if x < 0 || y < 0 || x >= i64::from(w) || y >= i64::from(h) {
            return 0;
        }
        labels.map_or(0, |l| l.data()[voxel(x as u32, y as u32)])
    };
    for y in 0..h {
        for x in 0..w {
            let v = img.data()[voxel(x, y)];
            let g = ((v - lo) / (hi - lo)).clamp(0.0, 1.0) * 255.0;
            let mut c = [g, g, g];
            let l = label_at(i64::from(x), i64::from(y));
            if l > 0 {
                let col = colour(l).0;
                let edge = [(0, 1), (0, -1), (1, 0), (-1, 0)]
                    .iter()
                    .any(|(dx, dy)| label_at(i64::from(x) + dx, i64::from(y) + dy) != l);
                let a = if edge { 1.0 } else { 0.4 };
                for (ch, &cc) in c.iter_mut().zip(&col) {
                    *ch = *ch * (1.0 - a) + f32::from(cc) * a;
                }
                if !anchors.iter().any(|(id, _)| *id == l) {
                    anchors.push((l, (ox + x, oy + y)));
                }
            }
            out.put_pixel(ox + x, oy + y, Rgb(c.map(|v| v as u8)));
        }
    }
    (anchors, scale)
}

fn text(out: &mut RgbImage, c: Rgb<u8>, x: u32, y: u32, size: f32, s: &str) {
    draw_text_mut(out, c, x as i32, y as i32, PxScale::from(size), font(), s);
}

/// Renders the page.
#[must_use]
pub fn key_images(p: &KeyPage<'_>) -> RgbImage {
    let ids: Vec<u32> = p.lesions.iter().map(|l| l.id).collect();
    let slices = key_slices(p.labels, &ids);
    let dwi = Reoriented::new(p.dwi).image;
    let labels = Reoriented::new(p.labels).image;
    let adc = p
        .adc
        .filter(|a| a.dims() == p.dwi.dims())
        .map(|a| Reoriented::new(a).image);
    let per_row: u32 = if adc.is_some() { 2 } else { 3 };
    let cell_w = if adc.is_some() {
        2 * PANEL + GAP
    } else {
        PANEL
    };
    let width = per_row * (cell_w + 3 * GAP) + GAP;
    let rows = slices.len().div_ceil(per_row as usize) as u32;
    let header = 112u32;
    let legend = 44 + 26 * p.lesions.len().clamp(1, 12) as u32;
    let height = header + rows * (PANEL + 34) + legend + 40;
    let mut out = RgbImage::from_pixel(width, height, Rgb([0, 0, 0]));

    // Header: the call first, large, in its colour.
    let (banner, colour_call) = if p.positive {
        ("INFARCT SUSPECTED", Rgb([255, 80, 80]))
    } else {
        ("NO INFARCT DETECTED", Rgb([90, 220, 90]))
    };
    draw_filled_rect_mut(
        &mut out,
        Rect::at(0, 0).of_size(width, header - 8),
        Rgb([25, 25, 30]),
    );
    text(&mut out, colour_call, 16, 10, 36.0, banner);
    text(
        &mut out,
        WHITE,
        16,
        54,
        20.0,
        &format!("{}   ·   {}", p.study, p.call),
    );
    text(&mut out, GREY, 16, 80, 16.0, &p.model);
    let ruo = "RESEARCH USE ONLY — not for diagnosis";
    let (tw, _) = text_size(PxScale::from(18.0), font(), ruo);
    text(
        &mut out,
        AMBER,
        width.saturating_sub(tw + 16),
        16,
        18.0,
        ruo,
    );
    if let Some(c) = &p.caution {
        let (cw, _) = text_size(PxScale::from(15.0), font(), c);
        text(&mut out, AMBER, width.saturating_sub(cw + 16), 38, 15.0, c);
    }

    let wdwi = window(p.dwi);
    for (n, &k) in slices.iter().enumerate() {
        let (r, c) = (n as u32 / per_row, n as u32 % per_row);
        let x0 = GAP + c * (cell_w + 3 * GAP);
        let y0 = header + r * (PANEL + 34);
        let (anchors, scale) = draw_panel(&mut out, (x0, y0), &dwi, Some(&labels), k, wdwi);
        text(&mut out, GREY, x0 + 4, y0 + 2, 15.0, "DWI");
        text(&mut out, WHITE, x0 + 4, y0 + PANEL / 2 - 8, 18.0, "R");
        text(
            &mut out,
            WHITE,
            x0 + PANEL - 16,
            y0 + PANEL / 2 - 8,
            18.0,
            "L",
        );
        if let Some(a) = &adc {
            let xa = x0 + PANEL + GAP;
            draw_panel(&mut out, (xa, y0), a, Some(&labels), k, (0.0, 2000.0));
            text(&mut out, GREY, xa + 4, y0 + 2, 15.0, "ADC");
        }
        for (id, (ax, ay)) in anchors {
            let s = id.to_string();
            let (lx, ly) = (ax.saturating_sub(18).max(x0), ay.saturating_sub(20).max(y0));
            draw_filled_rect_mut(
                &mut out,
                Rect::at(lx as i32, ly as i32).of_size(8 + 10 * s.len() as u32, 20),
                Rgb([0, 0, 0]),
            );
            text(&mut out, colour(id), lx + 4, ly + 1, 17.0, &s);
        }
        // 5 cm scale bar under the DWI panel, and the slice's height in the RAS+ stack.
        let bar = (50.0 * scale).round() as u32;
        let yb = y0 + PANEL + 8;
        draw_filled_rect_mut(
            &mut out,
            Rect::at(x0 as i32 + 4, yb as i32).of_size(bar.max(1), 4),
            WHITE,
        );
        text(&mut out, GREY, x0 + bar + 10, yb - 6, 14.0, "5 cm");
        text(
            &mut out,
            GREY,
            x0 + bar + 60,
            yb - 6,
            14.0,
            &format!("axial slice {}", k + 1),
        );
    }

    // Legend.
    let mut y = header + rows * (PANEL + 34) + 8;
    for (x, h) in [
        (34, "#"),
        (80, "volume"),
        (190, "structure"),
        (470, "territory"),
    ] {
        text(&mut out, GREY, x, y, 17.0, h);
    }
    y += 28;
    if p.lesions.is_empty() {
        text(&mut out, GREY, 16, y, 17.0, "no lesion found");
    }
    for l in p.lesions.iter().take(12) {
        draw_filled_rect_mut(
            &mut out,
            Rect::at(16, y as i32 + 3).of_size(14, 14),
            colour(l.id),
        );
        text(&mut out, WHITE, 38, y, 17.0, &l.id.to_string());
        text(
            &mut out,
            WHITE,
            80,
            y,
            17.0,
            &format!("{:.2} mL", l.volume_ml),
        );
        text(&mut out, WHITE, 190, y, 17.0, &l.structure);
        text(&mut out, WHITE, 470, y, 17.0, &l.territory);
        y += 26;
    }
    if p.lesions.len() > 12 {
        text(
            &mut out,
            GREY,
            16,
            y,
            15.0,
            &format!(
                "… and {} smaller lesions (report.json)",
                p.lesions.len() - 12
            ),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;
    use strokeseg_core::Grid;

    fn page_for(labels: &Image<u32>, dwi: &Volume, lesions: &[KeyLesion]) -> RgbImage {
        page_with(labels, dwi, lesions, None)
    }

    fn page_with(
        labels: &Image<u32>,
        dwi: &Volume,
        lesions: &[KeyLesion],
        caution: Option<String>,
    ) -> RgbImage {
        key_images(&KeyPage {
            dwi,
            adc: Some(dwi),
            labels,
            lesions,
            study: "sub-test".into(),
            positive: !lesions.is_empty(),
            call: "score 0.97 >= 0.41 at sens99".into(),
            model: "model test".into(),
            caution,
        })
    }

    #[test]
    fn a_caution_is_written_in_amber_in_the_header_and_only_when_given() {
        let g = Grid::axis_aligned([40, 40, 20], [2.0; 3], [0.0; 3]);
        let dwi = Volume::on_grid(Array3::from_elem((40, 40, 20), 100.0), &g);
        let labels = Image::on_grid(Array3::from_elem((40, 40, 20), 0u32), &g);
        let amber_in_band = |img: &RgbImage| {
            (38..56)
                .flat_map(|y| (0..img.width()).map(move |x| (x, y)))
                .filter(|&(x, y)| *img.get_pixel(x, y) == AMBER)
                .count()
        };
        let plain = page_with(&labels, &dwi, &[], None);
        let warned = page_with(&labels, &dwi, &[], Some("noisy DWI: smoothed".into()));
        assert_eq!(amber_in_band(&plain), 0);
        assert!(amber_in_band(&warned) > 20);
    }

    #[test]
    fn font_parses_and_text_is_antialiased() {
        let mut img = RgbImage::from_pixel(120, 40, Rgb([0, 0, 0]));
        text(&mut img, WHITE, 4, 4, 24.0, "RESEARCH");
        let levels: std::collections::BTreeSet<u8> = img.pixels().map(|p| p[0]).collect();
        assert!(levels.len() > 5, "grey levels at glyph edges: {levels:?}");
    }

    #[test]
    fn shows_each_lesion_slice_filled_in_its_colour_on_the_patients_side() {
        let g = Grid::axis_aligned([40, 40, 20], [2.0; 3], [0.0; 3]);
        let dwi = Volume::on_grid(Array3::from_elem((40, 40, 20), 100.0), &g);
        // Lesion 1 on the patient's right (high i) in slice 5, lesion 2 on the left in 12.
        let labels = Image::on_grid(
            Array3::from_shape_fn((40, 40, 20), |(i, j, k)| {
                if (28..34).contains(&i) && (18..24).contains(&j) && k == 5 {
                    1
                } else if (6..9).contains(&i) && (18..21).contains(&j) && (11..14).contains(&k) {
                    2
                } else {
                    0
                }
            }),
            &g,
        );
        assert_eq!(key_slices(&labels, &[1, 2]), vec![5, 12]);
        assert_eq!(key_slices(&labels, &[]).len(), 3);
        let les = [
            KeyLesion {
                id: 1,
                volume_ml: 0.29,
                structure: "a".into(),
                territory: "MCA R".into(),
            },
            KeyLesion {
                id: 2,
                volume_ml: 0.07,
                structure: "b".into(),
                territory: "MCA L".into(),
            },
        ];
        let img = page_for(&labels, &dwi, &les);
        let near = |p: &Rgb<u8>, c: Rgb<u8>| {
            p.0.iter()
                .zip(c.0)
                .all(|(&a, b)| (i32::from(a) - i32::from(b)).abs() < 8)
        };
        // Lesion 1's outline colour appears in the first DWI panel's left half (patient right).
        let header = 112;
        let mut found = (false, false);
        for y in header..header + PANEL {
            for x in GAP..GAP + PANEL {
                if near(img.get_pixel(x, y), colour(1)) {
                    if x < GAP + PANEL / 2 {
                        found.0 = true;
                    } else {
                        found.1 = true;
                    }
                }
            }
        }
        assert!(found.0 && !found.1, "{found:?}");
        assert!(img.pixels().any(|p| near(p, colour(2))));
        // Inside a lesion the grey shows through (translucent fill).
        let mixed = img
            .pixels()
            .any(|p| p[0] > 150 && p[1] > 80 && p[1] < 150 && p[2] < 150);
        assert!(mixed);
    }

    #[test]
    fn a_study_without_lesions_gets_three_slices_and_a_green_banner() {
        let g = Grid::axis_aligned([30, 30, 10], [2.0; 3], [0.0; 3]);
        let dwi = Volume::on_grid(Array3::from_elem((30, 30, 10), 50.0), &g);
        let labels = Image::on_grid(Array3::<u32>::zeros((30, 30, 10)), &g);
        let img = page_for(&labels, &dwi, &[]);
        assert!(img.pixels().any(|p| p[1] > 200 && p[0] < 120 && p[2] < 120));
        assert!(!img.pixels().any(|p| *p == colour(1)));
    }
}
