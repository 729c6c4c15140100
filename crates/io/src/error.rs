//! [`InputError`]: everything that can be wrong with a study a user gives us. Every variant
//! names the file or folder; the CLI maps all of them to exit code 2.

use std::path::PathBuf;

/// A problem with user-supplied input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// The file or folder does not exist or cannot be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The offending path.
        path: PathBuf,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },
    /// A folder with nothing usable in it.
    #[error("{path}: {reason}")]
    Empty {
        /// The folder.
        path: PathBuf,
        /// What was looked for.
        reason: String,
    },
    /// A NIfTI file that cannot be decoded (truncated, bad header, unsupported type).
    #[error("{path}: not a readable NIfTI file: {reason}")]
    Nifti {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A DICOM file or series that cannot be used.
    #[error("{path}: DICOM: {reason}")]
    Dicom {
        /// The file, or the series' folder.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Pixel data in a compressed transfer syntax we cannot decode in pure Rust.
    #[error(
        "{path}: DICOM pixel data uses transfer syntax {uid} ({name}), which strokeseg cannot \
         decode; convert the series to uncompressed or JPEG/RLE first (e.g. `gdcmconv --raw`)"
    )]
    UnsupportedTransferSyntax {
        /// The file.
        path: PathBuf,
        /// Transfer syntax UID.
        uid: String,
        /// Its name, when known.
        name: String,
    },
    /// Decoded voxels are not a usable image (dims, NaN/Inf, geometry).
    #[error("{path}: {reason}")]
    BadImage {
        /// The file or series.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The input holds images, but no diffusion-weighted one.
    #[error("{path}: no DWI found: {reason}")]
    NoDwi {
        /// What was given.
        path: PathBuf,
        /// What was found instead.
        reason: String,
    },
    /// Arguments that do not make sense together.
    #[error("{0}")]
    Usage(String),
}

impl InputError {
    /// Shorthand for [`InputError::Io`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        InputError::Io {
            path: path.into(),
            source,
        }
    }

    /// Shorthand for [`InputError::BadImage`].
    pub fn bad_image(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        InputError::BadImage {
            path: path.into(),
            reason: reason.into(),
        }
    }

    /// Shorthand for [`InputError::Dicom`].
    pub fn dicom(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        InputError::Dicom {
            path: path.into(),
            reason: reason.into(),
        }
    }
}
