//! DICOM input (and, for tests and the synthetic generator, output) with the dicom-rs crates.
//!
//! Reading: a folder is searched recursively; files that are not DICOM are skipped with a
//! warning; instances are grouped by SeriesInstanceUID and, inside a series, by b-value;
//! slices are sorted along the slice normal; classic single-frame MR, Enhanced MR
//! multi-frame and Siemens mosaics (cut into their slices, slice count and b-value also from
//! the CSA header) are supported. World coordinates are converted from DICOM LPS to RAS+.

mod attrs;
mod csa;
mod geometry;
pub mod guard;
mod mosaic;
pub mod provenance;
mod read;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_errors;
#[cfg(test)]
mod tests_mosaic;
#[cfg(test)]
mod tests_real;
mod write;

pub use attrs::{b_value, B0_THRESHOLD};
pub use guard::DicomLimits;
pub use provenance::{DicomProvenance, DicomSlices, SourceImage, SourceSlice};
pub(crate) use read::has_dicm_marker;
pub use write::{
    ds, new_uid, uid_from, write_enhanced_mr, write_mr_series, write_siemens_mosaic,
    MosaicWriteOptions, SeriesWriteOptions,
};

use crate::error::InputError;
use read::{FileOutcome, Frame};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use strokeseg_core::Volume;

/// One b-value (or, for maps such as ADC, the only) volume of a series.
#[derive(Debug, Clone)]
pub struct BVolume {
    /// b-value in s/mm², when the files carry one.
    pub b_value: Option<f64>,
    /// Number of diffusion directions (or repeats) combined into this volume (1 when single).
    pub n_combined: usize,
    /// The voxels, rescale slope/intercept applied, on a RAS+ affine.
    pub volume: Volume,
    /// The source images of each slice (k) and their DICOM geometry.
    pub dicom: DicomSlices,
}

/// One DICOM series as found on disk.
#[derive(Debug, Clone)]
pub struct DicomSeries {
    /// SeriesInstanceUID.
    pub series_uid: String,
    /// Modality (0008,0060), empty when absent.
    pub modality: String,
    /// SeriesDescription (empty when absent).
    pub description: String,
    /// ImageType values, upper-case (e.g. `["DERIVED", "PRIMARY", "DIFFUSION", "ADC"]`).
    pub image_type: Vec<String>,
    /// SeriesNumber, when present.
    pub series_number: Option<i64>,
    /// Number of files in the series.
    pub n_files: usize,
    /// Folder that holds (the first of) its files.
    pub folder: PathBuf,
    /// Volumes, one per b-value group, sorted by increasing b (unknown b first).
    pub volumes: Vec<BVolume>,
    /// StudyInstanceUID (of the series' first image; empty when absent).
    pub study_uid: String,
    /// FrameOfReferenceUID (of the series' first image; empty when absent).
    pub frame_of_reference_uid: String,
    /// Patient/study attributes of the series' first image ([`provenance::COPIED_TAGS`]).
    pub patient_study: dicom_object::InMemDicomObject,
}

/// Result of scanning a folder.
#[derive(Debug, Clone, Default)]
pub struct DicomScan {
    /// Series found, in SeriesNumber then UID order.
    pub series: Vec<DicomSeries>,
    /// Non-fatal findings (skipped files and the like), also logged at debug level; callers report them.
    pub warnings: Vec<String>,
}

/// Scans `dir` recursively for DICOM image series.
///
/// Files without the DICM marker are skipped with a warning, DICOM objects without pixel data
/// silently; duplicate SOP instances are ignored with a warning. Series that are not one stack
/// of parallel slices (three-plane localizers, mixed sizes) or lack geometry are skipped with
/// a warning. Inside a series, images are grouped by b-value (b < [`B0_THRESHOLD`] is b≈0),
/// then by position along the slice normal; several images per position are combined
/// (geometric mean for diffusion-weighted groups, preferring images marked isotropic;
/// arithmetic mean otherwise) and counted in [`BVolume::n_combined`].
///
/// # Errors
/// [`InputError`] naming the file or folder when the folder is unreadable, holds no DICOM
/// image, or a series is unusable (missing slices, unequal spacing, undecodable pixels).
pub fn scan_dir(dir: &Path) -> Result<DicomScan, InputError> {
    let meta = std::fs::metadata(dir).map_err(|e| InputError::io(dir, e))?;
    if !meta.is_dir() {
        return Err(InputError::io(
            dir,
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a folder"),
        ));
    }
    let mut files = Vec::new();
    collect_files(dir, &mut files)?;
    let n_files = files.len();
    let mut scan = DicomScan::default();
    let mut by_series: BTreeMap<String, Vec<Frame>> = BTreeMap::new();
    let mut seen: HashSet<(String, u32)> = HashSet::new();
    for (path, outcome) in files.iter().zip(read_all(&files)?) {
        match outcome {
            FileOutcome::Skipped(why) => warn(&mut scan, format!("{}: {why}", path.display())),
            FileOutcome::NoImage => {}
            FileOutcome::Frames(frames) => {
                for f in frames {
                    if !f.sop_instance_uid.is_empty()
                        && !seen.insert((f.sop_instance_uid.clone(), f.frame))
                    {
                        let msg = format!(
                            "{}: duplicate of SOPInstanceUID {} (frame {}), ignored",
                            path.display(),
                            f.sop_instance_uid,
                            f.frame
                        );
                        warn(&mut scan, msg);
                        continue;
                    }
                    by_series.entry(f.series_uid.clone()).or_default().push(f);
                }
            }
        }
    }
    if by_series.is_empty() {
        return Err(InputError::Empty {
            path: dir.to_path_buf(),
            reason: format!(
                "no DICOM image found ({n_files} files looked at){}",
                skipped_note(&scan.warnings, "skipped")
            ),
        });
    }
    let n_candidates = by_series.len();
    for frames in by_series.into_values() {
        match geometry::assemble_series(frames, &mut scan.warnings) {
            Ok(Some(s)) => scan.series.push(s),
            Ok(None) => {}
            // A series with a gap often lost its images to files that were skipped (a damaged
            // slice, a missing UID, an odd NumberOfFrames): name them with the error.
            Err(InputError::Dicom { path, reason }) => {
                return Err(InputError::Dicom {
                    path,
                    reason: format!(
                        "{reason}{}",
                        skipped_note(
                            &scan.warnings,
                            "skipped while reading, possibly the missing images"
                        )
                    ),
                })
            }
            Err(e) => return Err(e),
        }
    }
    if scan.series.is_empty() {
        return Err(InputError::Empty {
            path: dir.to_path_buf(),
            reason: format!(
                "no usable DICOM image series ({n_candidates} found, all skipped: {})",
                scan.warnings.join("; ")
            ),
        });
    }
    scan.series.sort_by(|a, b| {
        (a.series_number.unwrap_or(i64::MAX), &a.series_uid)
            .cmp(&(b.series_number.unwrap_or(i64::MAX), &b.series_uid))
    });
    Ok(scan)
}

/// "; <what>: w1; w2; … (and N more)" of the reader's warnings, or "" when there are none.
fn skipped_note(warnings: &[String], what: &str) -> String {
    if warnings.is_empty() {
        return String::new();
    }
    let shown: Vec<&str> = warnings.iter().take(4).map(String::as_str).collect();
    let more = warnings.len().saturating_sub(shown.len());
    format!(
        "; {what}: {}{}",
        shown.join("; "),
        if more > 0 {
            format!(" (and {more} more)")
        } else {
            String::new()
        }
    )
}

fn warn(scan: &mut DicomScan, msg: String) {
    tracing::debug!("{msg}");
    scan.warnings.push(msg);
}

/// All regular files under `dir`, recursively, in sorted order (symlinked folders are not
/// followed).
fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), InputError> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| InputError::io(dir, e))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(|e| InputError::io(dir, e))?;
    entries.sort();
    for p in entries {
        let lmeta = std::fs::symlink_metadata(&p).map_err(|e| InputError::io(&p, e))?;
        if lmeta.is_dir() {
            collect_files(&p, out)?;
        } else if lmeta.is_file() || std::fs::metadata(&p).is_ok_and(|m| m.is_file()) {
            out.push(p);
        }
    }
    Ok(())
}

/// Reads all files on a few threads; results in the order of `files`. The first error (in
/// file order) wins.
fn read_all(files: &[PathBuf]) -> Result<Vec<FileOutcome>, InputError> {
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .clamp(1, 8);
    let chunk = files.len().div_ceil(threads).max(1);
    if files.len() <= chunk {
        // One chunk: read here rather than on a thread of its own (a single file, a
        // one-core machine).
        return files.iter().map(|p| read::read_file(p)).collect();
    }
    let results: Vec<Result<Vec<FileOutcome>, InputError>> = std::thread::scope(|s| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().map(|p| read::read_file(p)).collect()))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(InputError::dicom(
                        files.first().map_or_else(PathBuf::new, Clone::clone),
                        "internal error: a reader thread panicked",
                    ))
                })
            })
            .collect()
    });
    let mut out = Vec::with_capacity(files.len());
    for r in results {
        out.extend(r?);
    }
    Ok(out)
}
