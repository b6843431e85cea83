//! The PyO3 layer: the only place pyo3 and rust-numpy appear. One thin file per core module;
//! each converts types, runs the core inside `py.detach` (GIL released) behind a panic guard,
//! and maps [`crate::Error`] to Python exceptions.

mod electrostatics;
mod equivariant;
mod errors;
mod expansion;
mod invariants;
mod lode;
mod math;
mod neighbors;
mod radial;
mod systems;

use pyo3::prelude::*;

/// The compiled core of `lode_rs`.
#[pymodule]
fn _lode_rs(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    neighbors::register(m)?;
    math::register(m)?;
    radial::register(m)?;
    expansion::register(m)?;
    invariants::register(m)?;
    equivariant::register(m)?;
    lode::register(m)?;
    electrostatics::register(m)?;
    Ok(())
}
