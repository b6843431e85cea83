//! Bindings for the Coulomb energies of point charges.

use numpy::{IntoPyArray, PyArray1, PyReadonlyArrayDyn};
use pyo3::prelude::*;

use super::errors::run_detached;
use super::systems::{extract_charges, extract_systems, validate_all};
use crate::electrostatics::{coulomb_energies, DEFAULT_ACCURACY};

/// Coulomb energies (eV) of a list of `(positions, numbers, cell, pbc)` tuples with one float64
/// charge array (e) per structure: Ewald summation for fully periodic cells (a non-zero total
/// charge with a neutralising background), the direct pair sum for finite ones.
#[pyfunction]
#[pyo3(signature = (systems, charges, accuracy=DEFAULT_ACCURACY, n_threads=0))]
fn ewald_energy<'py>(
    py: Python<'py>,
    systems: &Bound<'py, PyAny>,
    charges: Vec<PyReadonlyArrayDyn<'py, f64>>,
    accuracy: f64,
    n_threads: usize,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let raw = extract_systems(systems)?;
    let charges = extract_charges(charges)?;
    let energies = run_detached(py, || {
        let systems = validate_all(raw)?;
        coulomb_energies(&systems, &charges, accuracy, n_threads)
    })?;
    Ok(energies.into_pyarray(py))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(ewald_energy, m)?)?;
    Ok(())
}
