//! What can go wrong in a training run, split the way the command line needs it: the user's
//! input (bad data, a run folder that cannot be resumed, a stream without a schedule: exit 2)
//! or the machine (a file that cannot be written, a model that cannot be saved: exit 1).

use std::path::PathBuf;
use strokeseg_io::InputError;
use strokeseg_model::ModelError;

/// Why a training run stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
    /// A study, mask or dataset the user gave.
    #[error(transparent)]
    Input(#[from] InputError),
    /// What the run was asked to do cannot be done (no training case, a source without a
    /// schedule).
    #[error("{0}")]
    Usage(String),
    /// A run folder's `state.json` that cannot be read back (`--resume` of a damaged run).
    #[error("{path}: cannot resume from it: {reason}")]
    State {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The model or its optimizer state could not be saved or loaded.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A file of the run could not be written or read.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The on-the-fly study source stopped (its thread ended).
    #[error("the on-the-fly study source stopped")]
    SourceStopped,
}

impl TrainError {
    /// True for mistakes in what the user gave (exit code 2); false for failures of the
    /// machine or the program (exit code 1).
    #[must_use]
    pub fn is_user_error(&self) -> bool {
        matches!(
            self,
            TrainError::Input(_) | TrainError::Usage(_) | TrainError::State { .. }
        )
    }

    /// An [`TrainError::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> TrainError {
        let path = path.into();
        move |source| TrainError::Io { path, source }
    }
}
