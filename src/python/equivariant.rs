//! Bindings for `crate::invariants::equivariant_power_spectrum`.

use numpy::{IntoPyArray, PyArray2, PyArray3, PyReadonlyArray4};

use super::errors::to_py;
use pyo3::prelude::*;

use super::errors::{non_negative, run_detached_on};
use crate::invariants::clebsch_gordan::real_clebsch_gordan_dense;
use crate::invariants::{equivariant_flop_count, equivariant_power_spectrum};
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
    let n_threads = super::errors::n_threads(n_threads)?;
    let blocks = run_detached_on(py, n_threads, || {
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

/// Real-basis Clebsch–Gordan coefficients `C[m1+l1, m2+l2, μ+λ]` of one `(l1, l2, λ)`
/// (zero outside the triangle), in lode_rs's real-harmonic convention.
#[pyfunction(name = "real_clebsch_gordan")]
fn py_real_clebsch_gordan(
    py: Python<'_>,
    l1: i64,
    l2: i64,
    o3_lambda: i64,
) -> PyResult<Bound<'_, PyArray3<f64>>> {
    let (l1, l2) = (non_negative("l1", l1)?, non_negative("l2", l2)?);
    let lambda = non_negative("o3_lambda", o3_lambda)?;
    let c = real_clebsch_gordan_dense(l1, l2, lambda).map_err(to_py)?;
    Ok(c.into_pyarray(py))
}

/// Floating-point operations per centre of `equivariant_power_spectrum` (the tile updates).
#[pyfunction(name = "equivariant_flop_count")]
fn py_equivariant_flop_count(
    l_max: i64,
    other_l_max: i64,
    lambda_max: i64,
    same: bool,
    rows: i64,
    other_rows: i64,
) -> PyResult<f64> {
    equivariant_flop_count(
        non_negative("l_max", l_max)?,
        non_negative("other_l_max", other_l_max)?,
        non_negative("lambda_max", lambda_max)?,
        same,
        non_negative("rows", rows)?,
        non_negative("other_rows", other_rows)?,
    )
    .map_err(to_py)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(py_equivariant_power_spectrum, m)?)?;
    m.add_function(wrap_pyfunction!(py_real_clebsch_gordan, m)?)?;
    m.add_function(wrap_pyfunction!(py_equivariant_flop_count, m)?)?;
    Ok(())
}
