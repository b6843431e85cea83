//! Bindings for `crate::neighbors`.

use numpy::{IntoPyArray, PyArray1, PyArray2};
use pyo3::prelude::*;

use super::errors::run_detached_on;
use super::systems::extract_system;
use crate::neighbors::{self, PairArrays};
use crate::threads::with_threads;

type PairTuple<'py> = (
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray2<i32>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray2<f64>>,
);

/// neighbor_list(system, cutoff, n_threads=0)
/// --
///
/// Full neighbour list of one structure: every pair `(i, j, S)` with
/// `|r_j + S · cell − r_i| < cutoff` (strict), both directions, no `i → i` with `S = 0`.
/// `system` is a tuple `(positions float64 (n, 3), numbers int32 (n,), cell float64 (3, 3),
/// pbc bool (3,))`; positions are wrapped into the cell along periodic directions first.
///
/// Returns `(i, j, S, d, D)`: `i`, `j` int64 `(n_pairs,)`, `S` int32 `(n_pairs, 3)`,
/// `d` float64 `(n_pairs,)`, `D` float64 `(n_pairs, 3)`, sorted by `i`, then `(j, S)`.
/// `n_threads = 0` uses all cores; the result does not depend on it.
#[pyfunction]
#[pyo3(signature = (system, cutoff, n_threads = 0))]
fn neighbor_list<'py>(
    py: Python<'py>,
    system: &Bound<'py, PyAny>,
    cutoff: f64,
    n_threads: i64,
) -> PyResult<PairTuple<'py>> {
    let n_threads = super::errors::n_threads(n_threads)?;
    let raw = extract_system(system)?;
    let arrays: PairArrays = run_detached_on(py, n_threads, move || {
        let system = raw.validate()?;
        let list = with_threads(n_threads, || neighbors::neighbor_list(&system, cutoff))??;
        Ok(list.to_arrays())
    })?;
    Ok((
        arrays.first.into_pyarray(py),
        arrays.second.into_pyarray(py),
        arrays.shifts.into_pyarray(py),
        arrays.distances.into_pyarray(py),
        arrays.vectors.into_pyarray(py),
    ))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(neighbor_list, m)?)?;
    Ok(())
}
