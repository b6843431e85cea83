//! Bindings for `crate::invariants`.

use numpy::{IntoPyArray, PyArray2, PyReadonlyArray4};
use pyo3::prelude::*;

use super::errors::run_detached_on;
use crate::invariants::{power_spectrum, radial_spectrum, Features};
use crate::threads::with_threads;

type FeatureArrays<'py> = (Bound<'py, PyArray2<f64>>, Bound<'py, PyArray2<i32>>);

fn features_to_py(py: Python<'_>, f: Features) -> FeatureArrays<'_> {
    (f.values.into_pyarray(py), f.labels.into_pyarray(py))
}

/// ν = 1 radial spectrum: `(values (n_centres, n_species·n_max), labels (species, n))`.
#[pyfunction(name = "radial_spectrum")]
#[pyo3(signature = (coefficients, species, n_threads=0))]
fn py_radial_spectrum<'py>(
    py: Python<'py>,
    coefficients: PyReadonlyArray4<'py, f64>,
    species: Vec<i32>,
    n_threads: i64,
) -> PyResult<FeatureArrays<'py>> {
    let c = coefficients.as_array();
    let n_threads = super::errors::n_threads(n_threads)?;
    let f = run_detached_on(py, n_threads, || {
        with_threads(n_threads, || radial_spectrum(c, &species))?
    })?;
    Ok(features_to_py(py, f))
}

/// ν = 2 power spectrum of one expansion with itself (folded) or with a second one;
/// labels `(species_a, species_b, n, n', l)`.
#[pyfunction(name = "power_spectrum")]
#[pyo3(signature = (coefficients, species, other=None, other_species=None, n_threads=0))]
fn py_power_spectrum<'py>(
    py: Python<'py>,
    coefficients: PyReadonlyArray4<'py, f64>,
    species: Vec<i32>,
    other: Option<PyReadonlyArray4<'py, f64>>,
    other_species: Option<Vec<i32>>,
    n_threads: i64,
) -> PyResult<FeatureArrays<'py>> {
    let c = coefficients.as_array();
    let o = other.as_ref().map(|o| o.as_array());
    let other_species = other_species.unwrap_or_default();
    let n_threads = super::errors::n_threads(n_threads)?;
    let f = run_detached_on(py, n_threads, || {
        with_threads(n_threads, || {
            power_spectrum(c, &species, o.map(|o| (o, other_species.as_slice())))
        })?
    })?;
    Ok(features_to_py(py, f))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(py_radial_spectrum, m)?)?;
    m.add_function(wrap_pyfunction!(py_power_spectrum, m)?)?;
    Ok(())
}
