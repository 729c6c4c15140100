//! From the frames of one series to [`DicomSeries`]: b-value groups, slice positions along the
//! normal, combination of directions/repeats, spacing checks and the RAS+ affine.

use super::attrs::B0_THRESHOLD;
use super::provenance::{DicomSlices, SourceImage, SourceSlice};
use super::read::Frame;
use super::{BVolume, DicomSeries};
use crate::error::InputError;
use nalgebra::{Matrix4, Vector3};
use ndarray::Array3;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use strokeseg_core::Volume;

/// Images closer than this along the slice normal share a slice position (mm).
const SAME_POSITION_MM: f64 = 0.02;
/// Largest difference between direction cosines for "same orientation".
const ORIENTATION_TOL: f64 = 1e-3;

/// Identifies a series in messages.
struct Ctx<'a> {
    folder: &'a Path,
    label: String,
}

impl Ctx<'_> {
    fn err(&self, what: impl std::fmt::Display) -> InputError {
        InputError::dicom(self.folder, format!("{}: {what}", self.label))
    }
}

/// Builds a series from its frames (all with the same SeriesInstanceUID, not empty).
/// `Ok(None)` (plus a warning) for series that are not volumes: localizers, images without
/// geometry.
pub(crate) fn assemble_series(
    mut frames: Vec<Frame>,
    warnings: &mut Vec<String>,
) -> Result<Option<DicomSeries>, InputError> {
    frames.sort_by(|a, b| (&a.path, a.frame).cmp(&(&b.path, b.frame)));
    let Some(first) = frames.first() else {
        return Ok(None);
    };
    let folder = first
        .path
        .parent()
        .map_or_else(PathBuf::new, Path::to_path_buf);
    let files: BTreeSet<&Path> = frames.iter().map(|f| f.path.as_path()).collect();
    let n_files = files.len();
    let label = format!(
        "series {} (#{} '{}')",
        first.series_uid,
        first
            .series_number
            .map_or_else(|| "?".to_string(), |n| n.to_string()),
        first.description
    );
    let ctx = Ctx {
        folder: &folder,
        label,
    };
    let mut skip = |why: &str| {
        let msg = format!("{}: {}: {why}; skipped", folder.display(), ctx.label);
        tracing::debug!("{msg}");
        warnings.push(msg);
        Ok(None)
    };
    if first.image_type.iter().any(|t| t == "LOCALIZER") {
        return skip("localizer");
    }
    if let Some(why) = missing_geometry(&frames) {
        return skip(&why);
    }
    if let Some(why) = plane_mismatch(&frames) {
        return skip(&why);
    }

    let modality = first.modality.clone();
    let (series_uid, description, image_type, series_number) = (
        first.series_uid.clone(),
        first.description.clone(),
        first.image_type.clone(),
        first.series_number,
    );
    let (study_uid, frame_of_reference_uid, patient_study) = (
        first.study_uid.clone(),
        first.frame_of_reference_uid.clone(),
        (*first.header).clone(),
    );
    let mut volumes = Vec::new();
    for (b, group) in group_by_b(frames) {
        let v = build_volume(&ctx, b, group)?;
        if v.b_value.is_none() && v.n_combined > 1 {
            let msg = format!(
                "{}: {}: {} images per slice position without b-value tags; averaged",
                folder.display(),
                ctx.label,
                v.n_combined
            );
            tracing::debug!("{msg}");
            warnings.push(msg);
        }
        volumes.push(v);
    }
    Ok(Some(DicomSeries {
        series_uid,
        modality,
        description,
        image_type,
        series_number,
        n_files,
        folder,
        volumes,
        study_uid,
        frame_of_reference_uid,
        patient_study,
    }))
}

/// Why the frames do not form one stack of parallel slices (different sizes, orientations or
/// pixel spacings, as in a three-plane localizer), or `None` when they do.
fn plane_mismatch(frames: &[Frame]) -> Option<String> {
    let f0 = frames.first()?;
    for f in frames {
        let (p0, p) = (f0.path.display(), f.path.display());
        if (f.rows, f.cols) != (f0.rows, f0.cols) {
            return Some(format!(
                "images of different sizes ({}×{} in {p0}, {}×{} in {p})",
                f0.rows, f0.cols, f.rows, f.cols
            ));
        }
        let (Some(o), Some(o0), Some(s), Some(s0)) = (
            f.orientation,
            f0.orientation,
            f.pixel_spacing,
            f0.pixel_spacing,
        ) else {
            continue;
        };
        if o.iter()
            .zip(&o0)
            .any(|(a, b)| (a - b).abs() > ORIENTATION_TOL)
        {
            return Some(format!(
                "images with different orientations ({o0:?} in {p0}, {o:?} in {p})"
            ));
        }
        if s.iter()
            .zip(&s0)
            .any(|(a, b)| (a - b).abs() > 1e-3 * b.abs().max(1.0))
        {
            return Some(format!(
                "images with different pixel spacings ({s0:?} in {p0}, {s:?} in {p})"
            ));
        }
    }
    None
}

/// Splits frames by b-value: unknown b first, then b≈0 (b < 50), then clusters of nearby b
/// (within 2 % or 2 s/mm²) in increasing order. Each group's b is its smallest value for
/// b≈0 and its median otherwise.
fn group_by_b(frames: Vec<Frame>) -> Vec<(Option<f64>, Vec<Frame>)> {
    let (mut unknown, mut known): (Vec<Frame>, Vec<Frame>) =
        frames.into_iter().partition(|f| f.b_value.is_none());
    let b = |f: &Frame| f.b_value.unwrap_or(0.0);
    known.sort_by(|x, y| b(x).total_cmp(&b(y)));
    let mut groups: Vec<(Option<f64>, Vec<Frame>)> = Vec::new();
    if !unknown.is_empty() {
        groups.push((None, std::mem::take(&mut unknown)));
    }
    let mut current: Vec<Frame> = Vec::new();
    let flush = |current: &mut Vec<Frame>, groups: &mut Vec<(Option<f64>, Vec<Frame>)>| {
        if current.is_empty() {
            return;
        }
        let bs: Vec<f64> = current.iter().map(b).collect();
        let rep = if bs[0] < B0_THRESHOLD {
            bs[0]
        } else {
            bs[bs.len() / 2]
        };
        groups.push((Some(rep), std::mem::take(current)));
    };
    for f in known {
        if let Some(last) = current.last() {
            let (pb, nb) = (b(last), b(&f));
            let same = if pb < B0_THRESHOLD {
                nb < B0_THRESHOLD
            } else {
                nb - pb <= (0.02 * pb).max(2.0)
            };
            if !same {
                flush(&mut current, &mut groups);
            }
        }
        current.push(f);
    }
    flush(&mut current, &mut groups);
    groups
}

fn fmt_b(b: Option<f64>) -> String {
    b.map_or_else(|| "b=unknown".to_string(), |b| format!("b={b}"))
}

/// Unit slice normal (LPS) of a frame with orientation.
fn normal_of(o: &[f64; 6]) -> Vector3<f64> {
    let r = Vector3::new(o[0], o[1], o[2]);
    let c = Vector3::new(o[3], o[4], o[5]);
    let n = r.cross(&c);
    let len = n.norm();
    if len > 0.0 {
        n / len
    } else {
        n
    }
}

fn build_volume(ctx: &Ctx, b: Option<f64>, frames: Vec<Frame>) -> Result<BVolume, InputError> {
    let bl = fmt_b(b);
    let Some(f0) = frames.first() else {
        return Err(ctx.err(format!("{bl}: no images")));
    };
    let (Some(o), Some(ps)) = (f0.orientation, f0.pixel_spacing) else {
        return Err(ctx.err(format!("{bl}: images without geometry")));
    };
    // Issue 16 item 7: a negative or zero PixelSpacing flips or collapses the grid silently.
    if let Some(f) = frames.iter().find(|f| {
        f.pixel_spacing
            .is_some_and(|p| !(p[0].is_finite() && p[1].is_finite() && p[0] > 0.0 && p[1] > 0.0))
    }) {
        return Err(ctx.err(format!(
            "{bl}: {}: PixelSpacing {:?} must be two positive numbers",
            f.path.display(),
            f.pixel_spacing.unwrap_or_default()
        )));
    }
    let (rows, cols) = (f0.rows, f0.cols);
    let (thickness, between) = (f0.slice_thickness, f0.spacing_between_slices);
    let single_slice_spacing = f0
        .spacing_between_slices
        .filter(|s| *s > 0.0)
        .or(f0.slice_thickness.filter(|s| *s > 0.0))
        .unwrap_or(1.0);
    let normal = normal_of(&o);
    if normal.norm() < 0.5 {
        return Err(ctx.err(format!("{bl}: degenerate ImageOrientationPatient {o:?}")));
    }
    let pos = |f: &Frame| Vector3::from(f.position.unwrap_or_default());
    let dist = |f: &Frame| normal.dot(&pos(f));

    let mut frames = frames;
    frames.sort_by(|x, y| {
        dist(x)
            .total_cmp(&dist(y))
            .then(x.instance_number.cmp(&y.instance_number))
            .then((&x.path, x.frame).cmp(&(&y.path, y.frame)))
    });
    // Slice positions: runs of frames within SAME_POSITION_MM of the run's first frame.
    let mut slices: Vec<Vec<Frame>> = Vec::new();
    for f in frames {
        match slices.last_mut() {
            Some(s) if dist(&f) - dist(&s[0]) <= SAME_POSITION_MM => s.push(f),
            _ => slices.push(vec![f]),
        }
    }
    let diffusion_weighted = b.is_some_and(|b| b >= B0_THRESHOLD);
    if diffusion_weighted && slices.iter().flatten().any(|f| f.isotropic) {
        for s in &mut slices {
            s.retain(|f| f.isotropic);
        }
    }
    let counts: Vec<usize> = slices.iter().map(Vec::len).collect();
    let n = counts.first().copied().unwrap_or(0);
    if n == 0 || counts.iter().any(|&c| c != n) {
        let odd = odd_positions(&slices, ctx.folder, dist);
        let shown: Vec<&str> = odd.iter().take(4).map(String::as_str).collect();
        return Err(ctx.err(format!(
            "{bl}: slice positions hold unequal numbers of images ({}{}); a duplicate image \
             at one position, or an incomplete series?",
            shown.join("; "),
            if odd.len() > shown.len() {
                format!("; and {} more positions", odd.len() - shown.len())
            } else {
                String::new()
            }
        )));
    }
    let d: Vec<f64> = slices.iter().map(|s| dist(&s[0])).collect();
    check_spacing(ctx, &bl, &d)?;
    let dicom = DicomSlices {
        rows,
        columns: cols,
        orientation: o,
        pixel_spacing: ps,
        slice_thickness: thickness,
        spacing_between_slices: between,
        slices: slices.iter().map(|s| source_slice(s)).collect(),
    };

    let nk = slices.len();
    let step = if nk > 1 {
        (pos(&slices[nk - 1][0]) - pos(&slices[0][0])) / (nk - 1) as f64
    } else {
        normal * single_slice_spacing
    };
    let row = Vector3::new(o[0], o[1], o[2]);
    let col = Vector3::new(o[3], o[4], o[5]);
    let mut lps = Matrix4::identity();
    let axes = [row * ps[1], col * ps[0], step, pos(&slices[0][0])];
    for (c, v) in axes.iter().enumerate() {
        for r in 0..3 {
            lps[(r, c)] = v[r];
        }
    }
    let ras = Matrix4::from_diagonal(&nalgebra::Vector4::new(-1.0, -1.0, 1.0, 1.0)) * lps;

    let combined: Vec<Vec<f32>> = slices
        .iter()
        .map(|s| combine(s, diffusion_weighted))
        .collect();
    let data = Array3::from_shape_fn((cols, rows, nk), |(i, j, k)| {
        combined[k].get(j * cols + i).copied().unwrap_or(0.0)
    });
    let volume = Volume::new(data, ras)
        .map_err(|e| InputError::bad_image(ctx.folder, format!("{}: {bl}: {e}", ctx.label)))?;
    Ok(BVolume {
        b_value: b,
        n_combined: n,
        volume,
        dicom,
    })
}

/// The source images of one slice position.
fn source_slice(frames: &[Frame]) -> SourceSlice {
    SourceSlice {
        images: frames
            .iter()
            .map(|f| SourceImage {
                path: f.path.clone(),
                sop_class_uid: f.sop_class_uid.clone(),
                sop_instance_uid: f.sop_instance_uid.clone(),
                frame_number: f.multi_frame.then_some(f.frame + 1),
                position: f.position.unwrap_or_default(),
            })
            .collect(),
    }
}

/// Voxel-wise combination of the images of one slice position: geometric mean for
/// diffusion-weighted images (the trace), arithmetic mean otherwise.
fn combine(images: &[Frame], geometric: bool) -> Vec<f32> {
    let len = images.first().map_or(0, |f| f.pixels.len());
    if images.len() == 1 {
        return images[0].pixels.clone();
    }
    let n = images.len() as f64;
    (0..len)
        .map(|p| {
            let vals = images
                .iter()
                .map(|f| f64::from(f.pixels.get(p).copied().unwrap_or(0.0)));
            if geometric {
                (vals.map(|v| v.max(1e-6).ln()).sum::<f64>() / n).exp() as f32
            } else {
                (vals.sum::<f64>() / n) as f32
            }
        })
        .collect()
}

/// What geometry the series' images lack, naming the first image that lacks it: every image
/// needs a finite ImagePositionPatient, ImageOrientationPatient and PixelSpacing (a NaN or
/// infinite value is as good as none: it would sort and place the slice anywhere).
fn missing_geometry(frames: &[Frame]) -> Option<String> {
    let finite = |v: Option<&[f64]>| v.is_some_and(|v| v.iter().all(|x| x.is_finite()));
    type Get = fn(&Frame) -> Option<&[f64]>;
    let checks: [(&str, Get); 3] = [
        ("ImagePositionPatient", |f| {
            f.position.as_ref().map(|v| &v[..])
        }),
        ("ImageOrientationPatient", |f| {
            f.orientation.as_ref().map(|v| &v[..])
        }),
        ("PixelSpacing", |f| f.pixel_spacing.as_ref().map(|v| &v[..])),
    ];
    for (name, get) in checks {
        let bad: Vec<&Frame> = frames.iter().filter(|f| !finite(get(f))).collect();
        if let Some(first) = bad.first() {
            let what = if get(first).is_some() {
                format!("a non-finite {name} {:?}", get(first).unwrap_or_default())
            } else {
                format!("{name} absent or not numbers")
            };
            return Some(format!(
                "{} of {} images have no usable {name} (first: {}{}, {what})",
                bad.len(),
                frames.len(),
                first.path.display(),
                if first.multi_frame {
                    format!(" frame {}", first.frame + 1)
                } else {
                    String::new()
                }
            ));
        }
    }
    None
}

/// "at 12.00 mm: 2 images (a.dcm, b.dcm)" for each slice position whose number of images
/// differs from the most common one: the duplicate or the gap a user has to look at.
fn odd_positions(
    slices: &[Vec<Frame>],
    folder: &std::path::Path,
    dist: impl Fn(&Frame) -> f64,
) -> Vec<String> {
    let mut freq: std::collections::BTreeMap<usize, usize> = std::collections::BTreeMap::new();
    for s in slices {
        *freq.entry(s.len()).or_default() += 1;
    }
    let usual = freq
        .iter()
        .max_by_key(|(len, n)| (**n, **len))
        .map_or(0, |(len, _)| *len);
    slices
        .iter()
        .filter(|s| s.len() != usual)
        .map(|s| {
            let names: Vec<String> = s
                .iter()
                .take(3)
                .map(|f| {
                    f.path
                        .strip_prefix(folder)
                        .unwrap_or(&f.path)
                        .display()
                        .to_string()
                })
                .collect();
            format!(
                "at {:.2} mm: {} image{} ({}{}) where most positions hold {usual}",
                s.first().map_or(0.0, &dist),
                s.len(),
                if s.len() == 1 { "" } else { "s" },
                names.join(", "),
                if s.len() > 3 { ", …" } else { "" }
            )
        })
        .collect()
}

/// Slice positions `d` (sorted, mm along the normal) must be evenly spaced.
fn check_spacing(ctx: &Ctx, bl: &str, d: &[f64]) -> Result<(), InputError> {
    if d.len() < 3 {
        return Ok(());
    }
    let gaps: Vec<f64> = d.windows(2).map(|w| w[1] - w[0]).collect();
    let mut sorted = gaps.clone();
    sorted.sort_by(f64::total_cmp);
    let g = sorted[sorted.len() / 2];
    let (min, max) = (sorted[0], sorted[sorted.len() - 1]);
    if g <= 0.0 {
        return Err(ctx.err(format!("{bl}: slices at identical positions")));
    }
    let mut missing = Vec::new();
    for (i, &gap) in gaps.iter().enumerate() {
        let k = (gap / g).round();
        if k >= 2.0 && (gap - k * g).abs() <= 0.2 * g {
            for m in 1..(k as usize) {
                missing.push(d[i] + m as f64 * gap / k);
            }
        }
    }
    if !missing.is_empty() {
        let list: Vec<String> = missing.iter().map(|x| format!("{x:.1}")).collect();
        return Err(ctx.err(format!(
            "{bl}: missing slices at {} mm along the slice normal (spacing {g:.1} mm)",
            list.join(", ")
        )));
    }
    if max - min > 0.1 * g + 0.01 {
        return Err(ctx.err(format!(
            "{bl}: unequal slice spacing (gaps from {min:.2} to {max:.2} mm, median {g:.2} mm)"
        )));
    }
    Ok(())
}
