//! Exceptions and the guard that runs core work with the GIL released and Ctrl-C honoured.

use std::sync::mpsc;
use std::time::Duration;

use pyo3::create_exception;
use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use crate::error::Error;
use crate::threads::{request_cancel, CancelScope};

/// How often the waiting caller re-acquires the GIL to run Python's signal handlers.
const SIGNAL_POLL: Duration = Duration::from_millis(50);

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
        Error::Interrupted => PyKeyboardInterrupt::new_err("lode_rs computation interrupted"),
    }
}

/// Run `work` with the GIL released; a panic inside becomes a `RuntimeError`, never a
/// `PanicException` crossing into Python. `work` runs on a pool of all cores; use
/// [`run_detached_on`] for work that uses `n_threads`.
pub fn run_detached<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> crate::Result<T> + Send,
{
    run_detached_on(py, 0, work)
}

/// [`run_detached`] on the pool of `n_threads` threads (0: all cores), the one the work's own
/// `with_threads(n_threads, ..)` then runs in without a second hand-over.
///
/// Ctrl-C: `work` runs on a thread of the pool while the calling thread waits, re-acquiring
/// the GIL every [`SIGNAL_POLL`] to run Python's signal handlers. When one raises (a
/// `KeyboardInterrupt` on SIGINT), the core is asked to stop ([`request_cancel`]: loops
/// return `Error::Interrupted` at their next `check_cancelled`), the work is waited for, and
/// the handler's exception is raised. Signals are only delivered on Python's main thread.
pub fn run_detached_on<T, F>(py: Python<'_>, n_threads: usize, work: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> crate::Result<T> + Send,
{
    let _scope = CancelScope::enter();
    let lease = crate::threads::lease(n_threads).map_err(to_py)?;
    let mut outcome = None;
    let interrupt = lease.pool().in_place_scope(|scope| {
        let (done, finished) = mpsc::channel::<()>();
        let slot = &mut outcome;
        scope.spawn(move |_| {
            *slot = Some(std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)));
            let _ = done.send(());
        });
        py.detach(move || {
            let mut interrupt = None;
            loop {
                match finished.recv_timeout(SIGNAL_POLL) {
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    _ => return interrupt,
                }
                if interrupt.is_none() {
                    if let Err(e) = Python::attach(|py| py.check_signals()) {
                        request_cancel();
                        interrupt = Some(e);
                    }
                }
            }
        })
    });
    if let Some(e) = interrupt {
        return Err(e);
    }
    let outcome = outcome.expect("the scope waited for the work");
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

/// The `n_threads` argument of every binding: 0 (all cores) up to
/// [`crate::threads::max_threads`]; negative or too large: `InvalidParameterError`.
pub fn n_threads(value: i64) -> PyResult<usize> {
    let n = usize::try_from(value).map_err(|_| {
        InvalidParameterError::new_err(format!(
            "n_threads must be >= 0 (0: all cores), got {value}"
        ))
    })?;
    crate::threads::resolve(n).map_err(to_py)?;
    Ok(n)
}

/// Arguments documented as `≥ 0` (distances, wave numbers): every value finite and
/// non-negative, else `InvalidInputError` naming the argument and the first bad value.
pub fn non_negative_values<'a>(
    name: &str,
    values: impl IntoIterator<Item = &'a f64>,
) -> PyResult<()> {
    match values
        .into_iter()
        .enumerate()
        .find(|(_, x)| !(x.is_finite() && **x >= 0.0))
    {
        Some((i, x)) => Err(InvalidInputError::new_err(format!(
            "{name} must be finite and >= 0; element {i} is {x}"
        ))),
        None => Ok(()),
    }
}
