//! Bindings for the Coulomb energies of point charges.

use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArrayDyn};
use pyo3::prelude::*;

use super::errors::run_detached_on;
use super::systems::{extract_charges, extract_systems, validate_all};
use crate::electrostatics::{
    coulomb_energies, coulomb_gradients_many, COULOMB_CONSTANT, DEFAULT_ACCURACY,
};

/// Coulomb energies (eV) of a list of `(positions, numbers, cell, pbc)` tuples with one float64
/// charge array (e) per structure: Ewald summation for fully periodic cells (a non-zero total
/// charge with a neutralising background), a vacuum cell plus the exact dipole term for neutral
/// slabs, the direct pair sum for finite ones.
#[pyfunction]
#[pyo3(signature = (systems, charges, accuracy=DEFAULT_ACCURACY, n_threads=0))]
fn ewald_energy<'py>(
    py: Python<'py>,
    systems: &Bound<'py, PyAny>,
    charges: Vec<PyReadonlyArrayDyn<'py, f64>>,
    accuracy: f64,
    n_threads: i64,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let n_threads = super::errors::n_threads(n_threads)?;
    let raw = extract_systems(systems)?;
    let charges = extract_charges(charges)?;
    let energies = run_detached_on(py, n_threads, || {
        let systems = validate_all(raw)?;
        coulomb_energies(&systems, &charges, accuracy, n_threads)
    })?;
    Ok(energies.into_pyarray(py))
}

type GradientArrays<'py> = (
    Bound<'py, PyArray1<f64>>,
    Vec<Bound<'py, PyArray2<f64>>>,
    Vec<Option<Bound<'py, PyArray2<f64>>>>,
);

/// Coulomb energies (eV) with their derivatives: `(energies, dE/dr (n_atoms, 3) per structure
/// in eV/Å, dE/dstrain (3, 3) per structure in eV — None for finite structures)`, slabs
/// included; with `stress`, a finite structure is an error.
#[pyfunction]
#[pyo3(signature = (systems, charges, accuracy=DEFAULT_ACCURACY, stress=false, n_threads=0))]
fn ewald_gradients<'py>(
    py: Python<'py>,
    systems: &Bound<'py, PyAny>,
    charges: Vec<PyReadonlyArrayDyn<'py, f64>>,
    accuracy: f64,
    stress: bool,
    n_threads: i64,
) -> PyResult<GradientArrays<'py>> {
    let n_threads = super::errors::n_threads(n_threads)?;
    let raw = extract_systems(systems)?;
    let charges = extract_charges(charges)?;
    let results = run_detached_on(py, n_threads, || {
        let systems = validate_all(raw)?;
        coulomb_gradients_many(&systems, &charges, accuracy, stress, n_threads)
    })?;
    let energies: Vec<f64> = results.iter().map(|r| r.energy).collect();
    let mut positions = Vec::with_capacity(results.len());
    let mut strain = Vec::with_capacity(results.len());
    for r in results {
        let n = r.positions.len();
        let flat: Vec<f64> = r.positions.into_iter().flatten().collect();
        let array = ndarray::Array2::from_shape_vec((n, 3), flat).expect("3 per atom");
        positions.push(array.into_pyarray(py));
        strain
            .push(r.strain.map(|m| {
                ndarray::Array2::from_shape_fn((3, 3), |(a, b)| m[a][b]).into_pyarray(py)
            }));
    }
    Ok((energies.into_pyarray(py), positions, strain))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(ewald_energy, m)?)?;
    m.add_function(wrap_pyfunction!(ewald_gradients, m)?)?;
    // k_e in eV·Å/e², the one value (Python reads it as lode_rs.constants.COULOMB_CONSTANT)
    m.add("COULOMB_CONSTANT", COULOMB_CONSTANT)?;
    Ok(())
}
