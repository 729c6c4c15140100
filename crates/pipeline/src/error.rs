//! What can go wrong in the pipeline, split into the user's mistakes (bad input, a bad model
//! folder or output folder: exit 2) and the machine's failures (exit 1).

use std::path::PathBuf;
use strokeseg_io::InputError;

/// A pipeline error.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// A study, dataset or argument the user gave is unusable (the message names it).
    #[error(transparent)]
    Input(#[from] InputError),
    /// The model folder cannot be loaded.
    #[error("cannot load the model in {}: {message}", dir.display())]
    Model {
        /// The model folder.
        dir: PathBuf,
        /// Why.
        message: String,
    },
    /// The network device or inference engine asked for is not available.
    #[error("{0}")]
    Setup(String),
    /// An output file could not be written.
    #[error("cannot write {}: {message}", path.display())]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The DICOM outputs could not be made (geometry, source information, writing).
    #[error("cannot write the DICOM outputs into {}: {source}", dir.display())]
    Deliver {
        /// The output folder.
        dir: PathBuf,
        /// What crates/deliver said.
        source: strokeseg_deliver::DeliverError,
    },
}

impl PipelineError {
    /// True when the user can fix it (bad input, model folder, device or engine choice); the
    /// CLI exits 2 for these, 1 otherwise.
    #[must_use]
    pub fn is_user_error(&self) -> bool {
        match self {
            PipelineError::Input(_) | PipelineError::Model { .. } | PipelineError::Setup(_) => true,
            PipelineError::Write { .. } => false,
            PipelineError::Deliver { source, .. } => {
                !matches!(source, strokeseg_deliver::DeliverError::Write { .. })
            }
        }
    }

    /// A write error for `path`.
    pub(crate) fn write(path: impl Into<PathBuf>, e: impl std::fmt::Display) -> PipelineError {
        PipelineError::Write {
            path: path.into(),
            message: e.to_string(),
        }
    }
}
