//! The crate's one error type. Mapped once, at the Python boundary, to distinct exceptions:
//! `InvalidInput`/`InvalidParameter` become `ValueError` subclasses, `Internal` a `RuntimeError`,
//! `Interrupted` a `KeyboardInterrupt`.

use std::fmt;

/// Everything that can go wrong in the core.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// The data handed in is unusable: NaN positions, degenerate cell, overlapping atoms, ...
    InvalidInput(String),
    /// A hyper-parameter is out of its domain: cutoff <= 0, n_max < 1, unknown species, ...
    InvalidParameter(String),
    /// A bug or an unexpected numerical failure inside the library.
    Internal(String),
    /// The computation was cancelled (Ctrl-C) before it finished; see [`crate::threads`].
    Interrupted,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidInput(msg) => write!(f, "invalid input: {msg}"),
            Error::InvalidParameter(msg) => write!(f, "invalid parameter: {msg}"),
            Error::Internal(msg) => write!(f, "internal error: {msg}"),
            Error::Interrupted => write!(f, "interrupted"),
        }
    }
}

impl std::error::Error for Error {}

/// Result alias used throughout the crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Shorthand: `Err(Error::InvalidParameter(format!(..)))`.
#[macro_export]
macro_rules! bail_param {
    ($($arg:tt)*) => {
        return Err($crate::error::Error::InvalidParameter(format!($($arg)*)))
    };
}

/// Shorthand: `Err(Error::InvalidInput(format!(..)))`.
#[macro_export]
macro_rules! bail_input {
    ($($arg:tt)*) => {
        return Err($crate::error::Error::InvalidInput(format!($($arg)*)))
    };
}
