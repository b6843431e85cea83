//! Bindings for the LODE calculator.

use numpy::PyReadonlyArrayDyn;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::errors::{run_detached, to_py};
use super::expansion::{expansion_to_py, ExpansionArrays};
use super::hypers;
use super::systems::{extract_charges, extract_systems, validate_all};
use crate::expansion::{Channels, LodeCalculator, LodeHypers, SpeciesMap};

/// LODE calculator: validated hyper-parameters and k-space tables; real-space tables cached.
#[pyclass(name = "LodeCalculator", module = "lode_rs._lode_rs", frozen)]
pub struct PyLodeCalculator {
    inner: LodeCalculator,
}

#[pymethods]
impl PyLodeCalculator {
    /// Keyword arguments: the fields of `LodeHypers` (see `hyper_fields()`).
    #[new]
    #[pyo3(signature = (**hypers))]
    fn new(py: Python<'_>, hypers: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let hypers = hypers::from_kwargs::<LodeHypers>("LODE", hypers)?;
        let inner = run_detached(py, || LodeCalculator::new(hypers))?;
        Ok(PyLodeCalculator { inner })
    }

    /// The hyper-parameters, defaults filled in, as a dict.
    #[getter]
    fn hypers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        hypers::to_dict(py, self.inner.hypers())
    }

    /// Every hyper-parameter as `(name, doc, default, required)`, in declaration order.
    #[staticmethod]
    fn hyper_fields(py: Python<'_>) -> PyResult<Vec<hypers::FieldInfo>> {
        hypers::fields::<LodeHypers>(py)
    }

    /// k-cutoff (Å⁻¹) of the plain reciprocal route (given, or chosen for the accuracy).
    #[getter]
    fn reciprocal_k_cutoff(&self) -> f64 {
        self.inner.k_cutoff()
    }

    /// The route `compute` would take for each structure (with `n_channels` channels), and its
    /// parameters, e.g. `"mesh eta=2.0 ... mesh=40x40x40"`.
    #[pyo3(signature = (systems, n_channels=1))]
    fn routes(
        &self,
        py: Python<'_>,
        systems: &Bound<'_, PyAny>,
        n_channels: usize,
    ) -> PyResult<Vec<String>> {
        let raw = extract_systems(systems)?;
        run_detached(py, || {
            let systems = validate_all(raw)?;
            systems
                .iter()
                .map(|s| self.inner.route_for(s, n_channels))
                .collect::<crate::Result<Vec<_>>>()
        })
    }

    /// Coefficients for a list of `(positions, numbers, cell, pbc)` tuples, with species
    /// channels (`species`) or one charge-weighted channel (`charges`, one array per structure).
    #[pyo3(signature = (systems, species=None, charges=None, n_threads=0))]
    fn compute<'py>(
        &self,
        py: Python<'py>,
        systems: &Bound<'py, PyAny>,
        species: Option<Vec<i32>>,
        charges: Option<Vec<PyReadonlyArrayDyn<'py, f64>>>,
        n_threads: usize,
    ) -> PyResult<ExpansionArrays<'py>> {
        let raw = extract_systems(systems)?;
        let charges = charges.map(extract_charges).transpose()?;
        let map = match (&species, &charges) {
            (Some(s), None) => Some(SpeciesMap::new(s).map_err(to_py)?),
            (None, Some(_)) => None,
            _ => {
                return Err(to_py(crate::Error::InvalidParameter(
                    "give exactly one of species and charges".into(),
                )))
            }
        };
        let expansion = run_detached(py, || {
            let systems = validate_all(raw)?;
            let channels = match (&map, &charges) {
                (Some(m), _) => Channels::Species(m),
                (None, Some(q)) => Channels::Charges(q),
                _ => unreachable!("checked above"),
            };
            self.inner.compute(&systems, channels, n_threads)
        })?;
        Ok(expansion_to_py(py, expansion))
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyLodeCalculator>()
}
