//! NIfTI-1 input and output (`.nii`, `.nii.gz`) with the `nifti` crate.
//!
//! Reading follows nibabel exactly where it matters for geometry: the sform is used when
//! `sform_code != 0`, else the qform when `qform_code != 0`, else the "base" affine from the
//! voxel sizes; `scl_slope`/`scl_inter` are applied unless the slope is 0 or not finite.
//! Writing sets both sform and qform (code 1, scanner anatomical) so every reader agrees.
//! 4-D DWI is split into volumes; `.bval` sidecars are read by [`read_bvals`].

use crate::error::InputError;
use flate2::read::MultiGzDecoder;
use nalgebra::Matrix4;
use ndarray::{Array3, Axis, Ix3};
use nifti::{writer::WriterOptions, IntoNdArray, NiftiHeader, NiftiType, XForm};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use strokeseg_core::{Mask, Volume};

/// Largest accepted size along one axis, and in total (voxels × volumes): beyond these a
/// header is treated as corrupt rather than risk exhausting memory.
const MAX_DIM: usize = 4096;
const MAX_VOXELS: usize = 1 << 29;

/// A decoded NIfTI file: one or more 3-D volumes on one grid.
#[derive(Debug, Clone)]
pub struct NiftiImage {
    /// The file.
    pub path: PathBuf,
    /// Volumes along the 4th dimension (one for a 3-D file).
    pub volumes: Vec<Volume>,
    /// Which transform gave the affine: "sform", "qform" or "base".
    pub affine_source: &'static str,
    /// Stored data type, e.g. "Int16".
    pub datatype: String,
}

/// Opens a file, transparently gunzipping when it starts with the gzip magic bytes.
fn open(path: &Path) -> Result<Box<dyn Read>, InputError> {
    let mut f = File::open(path).map_err(|e| InputError::io(path, e))?;
    let mut magic = [0u8; 2];
    let n = f.read(&mut magic).map_err(|e| InputError::io(path, e))?;
    let f = File::open(path).map_err(|e| InputError::io(path, e))?;
    let r = BufReader::new(f);
    Ok(if n == 2 && magic == [0x1f, 0x8b] {
        Box::new(MultiGzDecoder::new(r))
    } else {
        Box::new(r)
    })
}

fn nifti_err(path: &Path, reason: impl Into<String>) -> InputError {
    InputError::Nifti {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Explains a low-level read failure in words a user can act on.
fn describe(e: &nifti::NiftiError) -> String {
    match e {
        nifti::NiftiError::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            "file ends early (truncated or incomplete download)".into()
        }
        nifti::NiftiError::IncompatibleLength(got, want) => {
            format!("file is truncated: {got} bytes of voxel data where the header promises {want}")
        }
        nifti::NiftiError::Io(io) if io.to_string().contains("invalid gzip") => {
            "corrupt gzip stream".into()
        }
        other => other.to_string(),
    }
}

/// Spatial dims and number of volumes, validated.
fn checked_dims(path: &Path, h: &NiftiHeader) -> Result<([usize; 3], usize), InputError> {
    let nd = h.dim[0];
    if !(1..=7).contains(&nd) {
        // The reader decides the byte order from dim[0]: a value that is not 1–7 in either
        // order makes it read the header swapped, so show the value as it is in the file too.
        let as_stored = nd.swap_bytes();
        let shown = if (0..=255).contains(&as_stored) {
            format!("dim[0] = {as_stored}")
        } else {
            format!("dim[0] = {nd}")
        };
        return Err(nifti_err(
            path,
            format!("{shown} is not 1–7 (corrupt header)"),
        ));
    }
    let dims: Vec<usize> = (1..=7)
        .map(|i| {
            if i <= nd as usize {
                h.dim[i] as usize
            } else {
                1
            }
        })
        .collect();
    if let Some(z) = dims.iter().take(nd as usize).position(|&d| d == 0) {
        return Err(InputError::bad_image(
            path,
            format!(
                "dimension {} is zero (dims {:?})",
                z + 1,
                &dims[..nd as usize]
            ),
        ));
    }
    if dims[..3].iter().any(|&d| d > MAX_DIM) {
        return Err(InputError::bad_image(
            path,
            format!(
                "absurd dimensions {:?} (more than {MAX_DIM} voxels along an axis)",
                &dims[..3]
            ),
        ));
    }
    let extra: Vec<usize> = dims[3..].iter().copied().filter(|&d| d > 1).collect();
    if extra.len() > 1 {
        return Err(InputError::bad_image(
            path,
            format!(
                "{nd}-D image with dims {:?}: only 3-D or 4-D images are supported",
                &dims[..nd as usize]
            ),
        ));
    }
    let nvol = extra.first().copied().unwrap_or(1);
    let total = dims[..3].iter().product::<usize>() * nvol;
    if total > MAX_VOXELS {
        return Err(InputError::bad_image(
            path,
            format!(
                "absurd size: {total} voxels ({:?} × {nvol} volumes)",
                &dims[..3]
            ),
        ));
    }
    Ok(([dims[0], dims[1], dims[2]], nvol))
}

/// The affine nibabel would return for this header.
fn best_affine(path: &Path, h: &NiftiHeader) -> Result<(Matrix4<f64>, &'static str), InputError> {
    if h.sform_code != 0 {
        return Ok((h.sform_affine::<f64>(), "sform"));
    }
    let mut h = h.clone();
    // A 1-D or 2-D image: the missing axes have one voxel of 1 mm (as nibabel pads them). The
    // nifti crate's base affine indexes three dims and panicked on fewer (found by fuzzing).
    let nd = usize::from(h.dim[0]).clamp(1, 7);
    if nd < 3 {
        for i in nd + 1..=3 {
            h.dim[i] = 1;
            h.pixdim[i] = 1.0;
        }
        h.dim[0] = 3;
    }
    // nibabel treats qfac (pixdim[0]) other than ±1 as 1 and rejects negative voxel sizes;
    // we take their magnitude instead, and reject zero or non-finite ones below via Grid.
    h.fix();
    for i in 1..=3 {
        if !h.pixdim[i].is_finite() || h.pixdim[i] == 0.0 {
            return Err(InputError::bad_image(
                path,
                format!("voxel size pixdim[{i}] = {} is not usable", h.pixdim[i]),
            ));
        }
        h.pixdim[i] = h.pixdim[i].abs();
    }
    if h.qform_code != 0 {
        // The nifti crate panics on a quaternion whose (b, c, d) has norm above 1 (found by
        // fuzzing); nibabel refuses it too.
        let q = [h.quatern_b, h.quatern_c, h.quatern_d];
        let n2: f64 = q.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
        if !n2.is_finite() || n2 > 1.0 + 1e-7 {
            return Err(InputError::bad_image(
                path,
                format!("qform quaternion (b, c, d) = {q:?} is not a rotation (b² + c² + d² > 1)"),
            ));
        }
        Ok((h.qform_affine::<f64>(), "qform"))
    } else {
        Ok((h.affine::<f64>(), "base"))
    }
}

/// Reads a 3-D or 4-D NIfTI-1 file into volumes of f32 (scaling applied).
///
/// # Errors
/// [`InputError`] naming the file when it is missing, truncated, has a corrupt or absurd
/// header, an unusable affine, an unsupported data type, or NaN/Inf voxels.
pub fn read_nifti(path: &Path) -> Result<NiftiImage, InputError> {
    let mut r = open(path)?;
    let header = NiftiHeader::from_reader(&mut r).map_err(|e| {
        nifti_err(
            path,
            match e {
                nifti::NiftiError::InvalidFormat => {
                    "not a NIfTI-1 file (bad magic or header size)".into()
                }
                other => describe(&other),
            },
        )
    })?;
    if &header.magic == b"ni1\0" {
        return Err(nifti_err(
            path,
            "header-only .hdr/.img pair; convert to a single .nii or .nii.gz",
        ));
    }
    let (dims, nvol) = checked_dims(path, &header)?;
    let (affine, affine_source) = best_affine(path, &header)?;
    let datatype = header
        .data_type()
        .map_err(|e| nifti_err(path, describe(&e)))?;
    if matches!(
        datatype,
        NiftiType::Complex64 | NiftiType::Complex128 | NiftiType::Rgb24 | NiftiType::Rgba32
    ) {
        return Err(nifti_err(
            path,
            format!("data type {datatype:?} is not a scalar image"),
        ));
    }
    // The nifti crate sizes the voxel buffer from bitpix but reads it by datatype, and panics
    // when the two disagree (issue 16 item 3): refuse such a header here, naming the file.
    let bits = datatype.size_of() * 8;
    if usize::try_from(header.bitpix).ok() != Some(bits) {
        return Err(nifti_err(
            path,
            format!(
                "inconsistent header: bitpix = {} but datatype {datatype:?} has {bits} bits per voxel",
                header.bitpix
            ),
        ));
    }
    // Skip the extension flag and extensions up to vox_offset.
    let skip = (header.vox_offset as u64).saturating_sub(348);
    std::io::copy(&mut (&mut r).take(skip), &mut std::io::sink())
        .map_err(|e| nifti_err(path, format!("cannot read past the header: {e}")))?;
    let mut raw_header = header.clone();
    raw_header.scl_slope = 0.0; // we apply scaling ourselves, with nibabel's rules
    let vol = nifti::InMemNiftiVolume::from_reader(&mut r, &raw_header)
        .map_err(|e| nifti_err(path, describe(&e)))?;
    let arr = vol
        .into_ndarray::<f32>()
        .map_err(|e| nifti_err(path, describe(&e)))?;
    let (slope, inter) = if header.scl_slope == 0.0 || !header.scl_slope.is_finite() {
        (1.0, 0.0)
    } else {
        (
            header.scl_slope,
            if header.scl_inter.is_finite() {
                header.scl_inter
            } else {
                0.0
            },
        )
    };
    let arr = arr
        .into_shape_with_order(((dims[0], dims[1], dims[2], nvol), ndarray::Order::F))
        .map_err(|e| nifti_err(path, format!("voxel data does not match dims: {e}")))?;
    let mut volumes = Vec::with_capacity(nvol);
    for v in 0..nvol {
        let mut data: Array3<f32> = arr.index_axis(Axis(3), v).to_owned();
        if slope != 1.0 || inter != 0.0 {
            data.mapv_inplace(|x| x * slope + inter);
        }
        let vol =
            Volume::new(data, affine).map_err(|e| InputError::bad_image(path, e.to_string()))?;
        if let Some((count, first)) = vol.non_finite() {
            return Err(InputError::bad_image(path, format!(
                "{count} voxels are NaN or infinite (first at voxel {first:?}{}); fix or mask them before use",
                if nvol > 1 { format!(" of volume {v}") } else { String::new() }
            )));
        }
        volumes.push(vol);
    }
    Ok(NiftiImage {
        path: path.to_path_buf(),
        volumes,
        affine_source,
        datatype: format!("{datatype:?}"),
    })
}

/// Reads a single 3-D volume; a 4-D file is an error here.
///
/// # Errors
/// As [`read_nifti`], plus a 4-D file with more than one volume.
pub fn read_volume(path: &Path) -> Result<Volume, InputError> {
    let mut img = read_nifti(path)?;
    if img.volumes.len() != 1 {
        return Err(InputError::bad_image(
            path,
            format!("expected a 3-D image, found {} volumes", img.volumes.len()),
        ));
    }
    Ok(img.volumes.remove(0))
}

/// Reads the b-values of a `.bval` sidecar (whitespace-separated numbers, FSL style).
///
/// # Errors
/// [`InputError`] when unreadable or when a value is not a number.
pub fn read_bvals(path: &Path) -> Result<Vec<f64>, InputError> {
    let text = std::fs::read_to_string(path).map_err(|e| InputError::io(path, e))?;
    text.split_whitespace()
        .map(|t| {
            t.parse::<f64>()
                .ok()
                .filter(|b| b.is_finite() && *b >= 0.0)
                .ok_or_else(|| {
                    InputError::bad_image(
                        path,
                        format!("b-value {t:?} is not a non-negative number"),
                    )
                })
        })
        .collect()
}

/// The `.bval` sidecar path of a NIfTI file (`x.nii.gz` → `x.bval`).
#[must_use]
pub fn sidecar(path: &Path, ext: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.strip_suffix(".gz").unwrap_or(&name);
    let stem = stem.strip_suffix(".nii").unwrap_or(stem);
    path.with_file_name(format!("{stem}.{ext}"))
}

fn header_for(affine: &Matrix4<f64>, description: &str) -> NiftiHeader {
    let mut h = NiftiHeader::default();
    h.set_sform(affine, XForm::ScannerAnat);
    h.set_qform(affine, XForm::ScannerAnat);
    h.xyzt_units = 2 | 8; // mm, seconds
    let _ = h.set_description_str(description.chars().take(79).collect::<String>());
    h
}

fn write_err(path: &Path, e: &nifti::NiftiError) -> InputError {
    match e {
        nifti::NiftiError::Io(io) => {
            InputError::io(path, std::io::Error::new(io.kind(), io.to_string()))
        }
        other => nifti_err(path, other.to_string()),
    }
}

fn writer<'a>(path: &'a Path, h: &'a NiftiHeader) -> WriterOptions<'a> {
    let gz = path.to_string_lossy().ends_with(".gz");
    WriterOptions::new(path).reference_header(h).compress(gz)
}

/// Writes a float volume (`.nii` or `.nii.gz` by extension) with sform and qform both set.
///
/// # Errors
/// [`InputError::Io`] when the file cannot be written.
pub fn write_volume(path: &Path, vol: &Volume, description: &str) -> Result<(), InputError> {
    let h = header_for(vol.affine(), description);
    writer(path, &h)
        .write_nifti(&vol.data().view().into_dimensionality::<Ix3>().expect("3-D"))
        .map_err(|e| write_err(path, &e))
}

/// Writes a mask as uint8 0/1 with sform and qform both set.
///
/// # Errors
/// [`InputError::Io`] when the file cannot be written.
pub fn write_mask(path: &Path, mask: &Mask, description: &str) -> Result<(), InputError> {
    let h = header_for(mask.affine(), description);
    let data = mask.data().mapv(u8::from);
    writer(path, &h)
        .write_nifti(&data)
        .map_err(|e| write_err(path, &e))
}
