//! Text burned into pictures (an 8×8 public-domain bitmap font from the `font8x8` crate,
//! scaled), so the call, volumes and the research-use notice survive any PACS viewer.

use font8x8::{UnicodeFonts, BASIC_FONTS};
use image::{Rgb, RgbImage};

/// Draws `text` with its top-left corner at (x, y), each font pixel `scale` image pixels.
/// Characters outside basic Latin are drawn as '?'.
pub fn draw_text(img: &mut RgbImage, x: u32, y: u32, text: &str, scale: u32, color: Rgb<u8>) {
    let mut cx = x;
    for ch in text.chars() {
        let glyph = BASIC_FONTS
            .get(ch)
            .or_else(|| BASIC_FONTS.get('?'))
            .unwrap_or([0; 8]);
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8u32 {
                if bits & (1 << col) != 0 {
                    for dy in 0..scale {
                        for dx in 0..scale {
                            let (px, py) = (cx + col * scale + dx, y + row as u32 * scale + dy);
                            if px < img.width() && py < img.height() {
                                img.put_pixel(px, py, color);
                            }
                        }
                    }
                }
            }
        }
        cx += 8 * scale;
    }
}

/// Width in pixels of `text` at `scale`.
#[must_use]
pub fn text_width(text: &str, scale: u32) -> u32 {
    text.chars().count() as u32 * 8 * scale
}

/// Adds a black band of `lines` text lines above `img` and writes them (one colour each).
#[must_use]
pub fn with_header(img: &RgbImage, lines: &[(String, Rgb<u8>)], scale: u32) -> RgbImage {
    let line_h = 10 * scale;
    let band = lines.len() as u32 * line_h + 2 * scale;
    let width = lines
        .iter()
        .map(|(t, _)| text_width(t, scale) + 8)
        .max()
        .unwrap_or(0)
        .max(img.width());
    let mut out = RgbImage::from_pixel(width, img.height() + band, Rgb([0, 0, 0]));
    image::imageops::overlay(&mut out, img, 0, i64::from(band));
    for (n, (t, c)) in lines.iter().enumerate() {
        draw_text(&mut out, 4, scale + n as u32 * line_h, t, scale, *c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_sets_pixels_inside_its_box_only() {
        let mut img = RgbImage::new(100, 20);
        draw_text(&mut img, 2, 2, "AB", 1, Rgb([255, 255, 255]));
        let lit: Vec<(u32, u32)> = img
            .enumerate_pixels()
            .filter(|(_, _, p)| p[0] == 255)
            .map(|(x, y, _)| (x, y))
            .collect();
        assert!(!lit.is_empty());
        assert!(lit
            .iter()
            .all(|&(x, y)| (2..18).contains(&x) && (2..10).contains(&y)));
        let h = with_header(&img, &[("hello".into(), Rgb([255, 0, 0]))], 2);
        assert_eq!(h.height(), 20 + 10 * 2 + 4);
    }
}
