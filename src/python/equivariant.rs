//! Bindings for `crate::invariants::equivariant_power_spectrum`.

use numpy::{IntoPyArray, PyArray2, PyArray3, PyReadonlyArray4};
use pyo3::prelude::*;

use super::errors::{non_negative, run_detached};
use crate::invariants::equivariant_power_spectrum;
use crate::threads::with_threads;

type Block<'py> = (
    usize,
    i32,
    Bound<'py, PyArray3<f64>>,
    Bound<'py, PyArray2<i32>>,
);

/// λ-equivariant ν = 2 features of one expansion with itself (folded) or with a second one,
/// λ = 0 … lambda_max: a list of `(λ, σ, values (n_centres, 2λ+1, n_features), labels
/// (λ, σ, species_a, species_b, n, n', l, l'))`, one per non-empty `(λ, σ)` block.
#[pyfunction(name = "equivariant_power_spectrum")]
#[pyo3(signature = (coefficients, species, lambda_max, other=None, other_species=None, n_threads=0))]
fn py_equivariant_power_spectrum<'py>(
    py: Python<'py>,
    coefficients: PyReadonlyArray4<'py, f64>,
    species: Vec<i32>,
    lambda_max: i64,
    other: Option<PyReadonlyArray4<'py, f64>>,
    other_species: Option<Vec<i32>>,
    n_threads: i64,
) -> PyResult<Vec<Block<'py>>> {
    let c = coefficients.as_array();
    let o = other.as_ref().map(|o| o.as_array());
    let other_species = other_species.unwrap_or_default();
    let lambda_max = non_negative("lambda_max", lambda_max)?;
    let n_threads = non_negative("n_threads", n_threads)?;
    let blocks = run_detached(py, || {
        with_threads(n_threads, || {
            equivariant_power_spectrum(
                c,
                &species,
                o.map(|o| (o, other_species.as_slice())),
                lambda_max,
            )
        })?
    })?;
    Ok(blocks
        .into_iter()
        .map(|b| {
            (
                b.lambda,
                b.sigma,
                b.values.into_pyarray(py),
                b.labels.into_pyarray(py),
            )
        })
        .collect())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(py_equivariant_power_spectrum, m)?)?;
    Ok(())
}
