//! Exceptions and the guard that runs core work with the GIL released.

use pyo3::create_exception;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use crate::error::Error;

create_exception!(
    _lode_rs,
    InvalidInputError,
    PyValueError,
    "The data handed in is unusable (NaN positions, degenerate cell, overlapping atoms, ...)."
);
create_exception!(
    _lode_rs,
    InvalidParameterError,
    PyValueError,
    "A hyper-parameter is outside its domain (cutoff <= 0, unknown species, ...)."
);

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("InvalidInputError", py.get_type::<InvalidInputError>())?;
    m.add(
        "InvalidParameterError",
        py.get_type::<InvalidParameterError>(),
    )?;
    Ok(())
}

/// Map a core error to its Python exception.
pub fn to_py(error: Error) -> PyErr {
    match error {
        Error::InvalidInput(msg) => InvalidInputError::new_err(msg),
        Error::InvalidParameter(msg) => InvalidParameterError::new_err(msg),
        Error::Internal(msg) => PyRuntimeError::new_err(format!("lode_rs internal error: {msg}")),
    }
}

/// Run `work` with the GIL released; a panic inside becomes a `RuntimeError`, never a
/// `PanicException` crossing into Python.
pub fn run_detached<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> crate::Result<T> + Send,
{
    let outcome = py.detach(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)));
    match outcome {
        Ok(result) => result.map_err(to_py),
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(PyRuntimeError::new_err(format!(
                "lode_rs internal error (please report): {msg}"
            )))
        }
    }
}
