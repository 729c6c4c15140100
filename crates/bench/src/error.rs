//! What can go wrong while benchmarking.

/// An error of the benchmark machinery.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The model does not fit the tuned forward.
    #[error(transparent)]
    FastNet(#[from] strokeseg_fastnet::FastNetError),
    /// Reading or writing a file, or starting a process.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The PyTorch/ONNX Runtime side failed or wrote results that cannot be read.
    #[error("{0}")]
    Peer(String),
}

impl BenchError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        BenchError::Io {
            context: context.into(),
            source,
        }
    }
}
