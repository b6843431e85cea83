//! Bindings for `crate::neighbors`. OWNER: neighbors helper.

use pyo3::prelude::*;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let _ = m;
    Ok(())
}
