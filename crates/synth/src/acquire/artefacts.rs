//! Step 1: image-domain artefacts — skull-base susceptibility, DWI motion, N/2 ghosting.

use super::Clean;
use ndarray::{s, Array2, Array3};
use rand::Rng;

/// Air/bone cavities at the skull base (MNI centre and half-axes, mm) whose field offsets
/// distort EPI in the brain just above them.
const CAVITIES: [([f64; 3], [f64; 3]); 7] = [
    // sphenoid sinus, under the sella and the medial orbitofrontal cortex
    ([0.0, 12.0, -38.0], [14.0, 14.0, 11.0]),
    // orbits / ethmoid cells under the orbitofrontal cortex (gyrus rectus, orbital gyri)
    ([-22.0, 45.0, -35.0], [14.0, 18.0, 12.0]),
    ([22.0, 45.0, -35.0], [14.0, 18.0, 12.0]),
    // greater sphenoid wing / middle cranial fossa floor under the temporal poles
    ([-38.0, 15.0, -45.0], [12.0, 12.0, 10.0]),
    ([38.0, 15.0, -45.0], [12.0, 12.0, 10.0]),
    // petrous bone and mastoid air cells under the inferior temporal lobes
    ([-48.0, -28.0, -48.0], [14.0, 14.0, 12.0]),
    ([48.0, -28.0, -48.0], [14.0, 14.0, 12.0]),
];

/// Skull-base susceptibility: for a random subset of [`CAVITIES`] (at least one), a thin band
/// (3–6 mm) just outside the cavity gets signal pile-up ×1.5–3 on one side along the
/// phase-encode direction (MNI y, polarity random) and drop-out (×0.1–0.6) on the other.
/// The same factor multiplies b0 and DWI, so the DWI looks bright while the ADC stays
/// normal: a mimic, not an infarct. Returns whether any voxel with signal changed by > 5%.
pub(super) fn susceptibility<R: Rng + ?Sized>(
    rng: &mut R,
    mni: &Array3<[f32; 3]>,
    s0: &mut Array3<f32>,
    dwi: &mut Array3<f32>,
) -> bool {
    struct Band {
        c: [f64; 3],
        r: [f64; 3],
        r_mean: f64,
        pile: f64,
        drop: f64,
        half_w: f64,
    }
    let polarity = if rng.random::<bool>() { 1.0 } else { -1.0 };
    let mut chosen: Vec<usize> = (0..CAVITIES.len())
        .filter(|_| rng.random::<f64>() < 0.6)
        .collect();
    if chosen.is_empty() {
        chosen.push(rng.random_range(0..CAVITIES.len()));
    }
    let bands: Vec<Band> = chosen
        .into_iter()
        .map(|n| {
            let (c, r) = CAVITIES[n];
            Band {
                c,
                r,
                r_mean: (r[0] + r[1] + r[2]) / 3.0,
                pile: rng.random_range(1.5..3.0),
                drop: rng.random_range(0.4..0.9),
                half_w: rng.random_range(3.0..6.0) / 2.0,
            }
        })
        .collect();
    let mut changed = false;
    for (p, (b, d)) in mni.iter().zip(s0.iter_mut().zip(dwi.iter_mut())) {
        let p = [f64::from(p[0]), f64::from(p[1]), f64::from(p[2])];
        let mut f = 1.0;
        for band in &bands {
            let rho2: f64 = (0..3)
                .map(|a| ((p[a] - band.c[a]) / band.r[a]).powi(2))
                .sum();
            if rho2.is_nan() || rho2 >= 6.25 {
                continue; // far away (or a non-finite position)
            }
            let d_mm = (rho2.sqrt() - 1.0) * band.r_mean;
            let g = (-((d_mm - band.half_w) / band.half_w).powi(2)).exp();
            let side = (polarity * (p[1] - band.c[1]) / 4.0).tanh();
            f *= if side >= 0.0 {
                1.0 + side * (band.pile - 1.0) * g
            } else {
                1.0 + side * band.drop * g
            };
        }
        if f != 1.0 {
            changed |= *b > 0.05 && (f - 1.0).abs() > 0.05;
            *b = (f64::from(*b) * f) as f32;
            *d = (f64::from(*d) * f) as f32;
        }
    }
    changed
}

/// Air spaces at the skull base whose field offsets every EPI study shows in the brain above
/// them ([`skull_base_pileup`]): the [`CAVITIES`] plus the ethmoid cells under the gyrus
/// rectus and the mastoid air cells / external auditory canals lateral to the inferior
/// temporal lobes (MNI centre and half-axes, mm).
const EPI_AIR: [([f64; 3], [f64; 3]); 10] = [
    CAVITIES[0],
    CAVITIES[1],
    CAVITIES[2],
    CAVITIES[3],
    CAVITIES[4],
    CAVITIES[5],
    CAVITIES[6],
    ([0.0, 38.0, -32.0], [7.0, 14.0, 8.0]),
    ([-62.0, -22.0, -38.0], [10.0, 14.0, 10.0]),
    ([62.0, -22.0, -38.0], [10.0, 14.0, 10.0]),
];

/// The skull-base signal pile-up that every EPI DWI has (not an artefact drawn with the
/// site's probability, which comes on top as [`susceptibility`]): near each air space of
/// [`EPI_AIR`] the distortion compresses signal into a broad zone of brain (Gaussian fall-off
/// with the distance from the air, width 6–12 mm), brighter on one side along the
/// phase-encode direction (MNI y, polarity random) and slightly darker on the other. Study
/// amplitude: up to ×(1 + 0.6–1.4) at 3 T, scaled by `field_t / 3` (0.5–1.2), each air space
/// 0.4–1.2 of it. The same factor multiplies b0 and DWI, so the ADC stays normal. On the
/// real healthy series here the brain above the skull base is ~1.5–2× the brain median at
/// its 95th percentile (docs/synth.md, "Normal tissue by region"). Applied to the clean
/// native images (`clean.s0`, `clean.dwi` at `clean.mni`) before [`super::acquire`].
/// Returns the largest factor applied.
pub fn skull_base_pileup<R: Rng + ?Sized>(rng: &mut R, field_t: f64, clean: &mut Clean) -> f64 {
    let Clean { s0, dwi, mni, .. } = clean;
    let field = if field_t.is_finite() {
        (field_t / 3.0).clamp(0.5, 1.2)
    } else {
        1.0
    };
    let polarity = if rng.random::<bool>() { 1.0 } else { -1.0 };
    let amp = rng.random_range(0.6..1.4) * field;
    /// One air space: centre, half-axes, mean half-axis, amplitude, width (mm).
    struct Zone {
        c: [f64; 3],
        r: [f64; 3],
        r_mean: f64,
        a: f64,
        w: f64,
    }
    let zones: Vec<Zone> = EPI_AIR
        .iter()
        .map(|&(c, r)| Zone {
            c,
            r,
            r_mean: (r[0] + r[1] + r[2]) / 3.0,
            a: amp * rng.random_range(0.4..1.2),
            w: rng.random_range(6.0..12.0),
        })
        .collect();
    let mut max_f = 1.0f64;
    for (p, (b, d)) in mni.iter().zip(s0.iter_mut().zip(dwi.iter_mut())) {
        if *b == 0.0 && *d == 0.0 {
            continue; // air
        }
        let p = [f64::from(p[0]), f64::from(p[1]), f64::from(p[2])];
        let mut f = 1.0;
        for &Zone { c, r, r_mean, a, w } in &zones {
            let rho2: f64 = (0..3).map(|k| ((p[k] - c[k]) / r[k]).powi(2)).sum();
            if rho2.is_nan() {
                continue;
            }
            let d_mm = ((rho2.sqrt() - 1.0) * r_mean).max(0.0);
            if d_mm > 3.0 * w {
                continue;
            }
            let g = (-(d_mm / w).powi(2)).exp();
            // 0.2 (far side along the phase encoding) … 1 (near side): from −0.14·a to +a
            let s = 0.6 + 0.4 * (polarity * (p[1] - c[1]) / 8.0).tanh();
            f *= 1.0 + a * g * (s - 0.3) / 0.7;
        }
        if f != 1.0 {
            let f = f.max(0.3);
            max_f = max_f.max(f);
            *b = (f64::from(*b) * f) as f32;
            *d = (f64::from(*d) * f) as f32;
        }
    }
    max_f
}

/// Bilinear sample of a slice at fractional (x, y), coordinates clamped to the slice.
fn bilinear(img: &Array2<f32>, x: f64, y: f64) -> f32 {
    let (ni, nj) = img.dim();
    let x = x.clamp(0.0, (ni - 1) as f64);
    let y = y.clamp(0.0, (nj - 1) as f64);
    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(ni - 1), (y0 + 1).min(nj - 1));
    let (fx, fy) = ((x - x0 as f64) as f32, (y - y0 as f64) as f32);
    let top = img[[x0, y0]] * (1.0 - fx) + img[[x1, y0]] * fx;
    let bot = img[[x0, y1]] * (1.0 - fx) + img[[x1, y1]] * fx;
    top * (1.0 - fy) + bot * fy
}

/// Motion during the diffusion-weighted shots: 1–4 random slices of the DWI (never the b0)
/// are shifted in-plane by 1–4 mm (bilinear), and/or lose 20–50% of their signal; a shifted
/// slice also gets bright edges (a fraction 0.3–0.8 of |shifted − original| added, which is
/// large at the brain and ventricle borders). Returns the slices hit, sorted.
pub(super) fn motion<R: Rng + ?Sized>(
    rng: &mut R,
    spacing_ij: [f64; 2],
    dwi: &mut Array3<f32>,
) -> Vec<usize> {
    let (ni, nj, nk) = dwi.dim();
    if ni == 0 || nj == 0 || nk == 0 {
        return Vec::new();
    }
    let n_hit = rng.random_range(1..=nk.min(4));
    let mut slices = rand::seq::index::sample(rng, nk, n_hit).into_vec();
    slices.sort_unstable();
    let sp = |v: f64| if v.is_finite() && v > 0.0 { v } else { 1.0 };
    for &k in &slices {
        let mode = rng.random_range(0..3u8); // 0: shift, 1: signal loss, 2: both
        let shift_mm = rng.random_range(1.0..4.0);
        let angle = rng.random_range(0.0..std::f64::consts::TAU);
        let keep = 1.0 - rng.random_range(0.2f32..0.5);
        let edge = rng.random_range(0.3f32..0.8);
        let (si, sj) = (
            shift_mm * angle.cos() / sp(spacing_ij[0]),
            shift_mm * angle.sin() / sp(spacing_ij[1]),
        );
        let orig = dwi.slice(s![.., .., k]).to_owned();
        let mut out = dwi.slice_mut(s![.., .., k]);
        for ((i, j), v) in out.indexed_iter_mut() {
            let o = orig[[i, j]];
            let (moved, rim) = if mode == 1 {
                (o, 0.0)
            } else {
                let m = bilinear(&orig, i as f64 - si, j as f64 - sj);
                (m, edge * (m - o).abs())
            };
            let gain = if mode == 0 { 1.0 } else { keep };
            *v = gain * moved + rim;
        }
    }
    slices
}

/// N/2 ghost: a copy of each image shifted by half the field of view along the phase-encode
/// axis j (circularly), scaled by a 2–8% amplitude and added to both b0 and DWI.
/// Returns the amplitude.
pub(super) fn ghosting<R: Rng + ?Sized>(
    rng: &mut R,
    s0: &mut Array3<f32>,
    dwi: &mut Array3<f32>,
) -> f32 {
    let amp = rng.random_range(0.02f32..0.08);
    for img in [s0, dwi] {
        let nj = img.dim().1;
        let copy = img.clone();
        for ((i, j, k), v) in img.indexed_iter_mut() {
            *v += amp * copy[[i, (j + nj / 2) % nj, k]];
        }
    }
    amp
}
