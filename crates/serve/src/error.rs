//! What can go wrong in the service, by where it went wrong. The binary decides the exit code
//! from [`ServeError::is_user_error`]; a job's failure is stored as the error's message.

/// An error of the service.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The configuration (file, token, listening addresses) is not usable; the user fixes it.
    #[error("{0}")]
    Config(String),
    /// A DICOM exchange was refused or failed (a peer's command set, an association, a
    /// C-STORE to the PACS).
    #[error("{0}")]
    Dicom(String),
    /// The job database.
    #[error("job database: {0}")]
    Db(String),
    /// Forwarding results over HTTP (DICOMweb STOW-RS).
    #[error("{0}")]
    Forward(String),
    /// Reading or writing a file or a socket.
    #[error("{context}: {source}")]
    Io {
        /// What was being read or written.
        context: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The injected [`Processor`](crate::Processor) failed on a study (its own error, kept
    /// whole as the source).
    #[error("{0}")]
    Processing(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ServeError {
    /// Whether the user can fix it by changing what they gave (configuration, token file).
    #[must_use]
    pub fn is_user_error(&self) -> bool {
        matches!(self, ServeError::Config(_))
    }

    /// An I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        ServeError::Io {
            context: context.into(),
            source,
        }
    }
}

impl From<rusqlite::Error> for ServeError {
    fn from(e: rusqlite::Error) -> Self {
        ServeError::Db(e.to_string())
    }
}

/// The DICOM libraries' errors are a DICOM exchange that failed.
macro_rules! dicom_errors {
    ($($t:ty),*) => {$(
        impl From<$t> for ServeError {
            fn from(e: $t) -> Self {
                ServeError::Dicom(e.to_string())
            }
        }
    )*};
}
dicom_errors!(
    dicom_ul::association::Error,
    dicom_object::WriteError,
    std::num::TryFromIntError
);

impl From<std::io::Error> for ServeError {
    fn from(e: std::io::Error) -> Self {
        ServeError::io("I/O", e)
    }
}

impl From<toml::ser::Error> for ServeError {
    fn from(e: toml::ser::Error) -> Self {
        ServeError::Config(e.to_string())
    }
}

/// The service's result type.
pub type Result<T, E = ServeError> = std::result::Result<T, E>;

/// Returns `Err(ServeError::$kind(message))` unless the condition holds.
macro_rules! ensure {
    ($kind:ident, $cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err($crate::error::ServeError::$kind(format!($($fmt)+)));
        }
    };
}

/// Returns `Err(ServeError::$kind(message))`.
macro_rules! bail {
    ($kind:ident, $($fmt:tt)+) => {
        return Err($crate::error::ServeError::$kind(format!($($fmt)+)))
    };
}

/// `ServeError::$kind(message)`.
macro_rules! err {
    ($kind:ident, $($fmt:tt)+) => {
        $crate::error::ServeError::$kind(format!($($fmt)+))
    };
}

pub(crate) use {bail, ensure, err};
