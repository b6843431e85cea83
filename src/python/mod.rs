//! The PyO3 layer: the only place pyo3 and rust-numpy appear. One thin file per core module;
//! each converts types, runs the core inside `py.detach` (GIL released) behind a panic guard,
//! and maps [`crate::Error`] to Python exceptions.

mod electrostatics;
mod equivariant;
mod errors;
mod expansion;
mod gradients;
mod hypers;
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
    expansion::register(m)?;
    gradients::register(m)?;
    invariants::register(m)?;
    equivariant::register(m)?;
    lode::register(m)?;
    electrostatics::register(m)?;
    m.add("testing", testing(m.py())?)?;
    Ok(())
}

/// `lode_rs._lode_rs.testing`: the core's building blocks (neighbour lists, spherical harmonics,
/// special functions, radial integrals), exposed only so the tests can check them against
/// independent references. Not part of the public API.
fn testing(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    const NAME: &str = "lode_rs._lode_rs.testing";
    let testing = PyModule::new(py, NAME)?;
    testing.setattr(
        "__doc__",
        "Building blocks of the compiled core, exposed for the tests only (not public API).",
    )?;
    neighbors::register(&testing)?;
    math::register(&testing)?;
    radial::register(&testing)?;
    testing.add_function(wrap_pyfunction!(pools_built, &testing)?)?;
    testing.add_function(wrap_pyfunction!(cell_cache_counts, &testing)?)?;
    testing.add_function(wrap_pyfunction!(set_cell_cache, &testing)?)?;
    // an extension submodule is not found by the import system: register it by its full name
    // so that `import lode_rs._lode_rs.testing` works as well as attribute access
    py.import("sys")?
        .getattr("modules")?
        .set_item(NAME, &testing)?;
    Ok(testing)
}

/// pools_built()
/// --
///
/// Number of thread pools the core has built in this process so far (pools are built once per
/// size and reused by later calls: a call that builds none leaves it unchanged).
#[pyfunction]
fn pools_built() -> usize {
    crate::threads::pools_built()
}

/// cell_cache_counts()
/// --
///
/// `(hits, builds)` of the LODE calculators' per-cell caches in this process so far: a hit is
/// a plan, k-vector set or mesh-mode set taken from a cache, a build one computed.
#[pyfunction]
fn cell_cache_counts() -> (usize, usize) {
    crate::expansion::cell_cache::counts()
}

/// set_cell_cache(enabled)
/// --
///
/// Enable or disable the LODE calculators' per-cell caches of this process (disabled, every
/// call prepares its cell again); returns the previous setting.
#[pyfunction]
fn set_cell_cache(enabled: bool) -> bool {
    crate::expansion::cell_cache::set_enabled(enabled)
}
