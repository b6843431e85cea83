//! Bindings for `crate::expansion`: calculator classes holding their tabulated radial integrals.

use numpy::{IntoPyArray, PyArray1, PyArray4};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::errors::{run_detached, run_detached_on, to_py};
use super::hypers;
use super::systems::{extract_systems, validate_all};
use crate::expansion::{Expansion, SoapCalculator, SoapHypers, SpeciesMap};

pub type ExpansionArrays<'py> = (
    Bound<'py, PyArray4<f64>>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<i32>>,
);

pub fn expansion_to_py(py: Python<'_>, e: Expansion) -> ExpansionArrays<'_> {
    (
        e.values.into_pyarray(py),
        e.structure.into_pyarray(py),
        e.center.into_pyarray(py),
        e.center_species.into_pyarray(py),
    )
}

/// SOAP calculator: validated hyper-parameters and the splined radial integral.
#[pyclass(name = "SoapCalculator", module = "lode_rs._lode_rs", frozen)]
pub struct PySoapCalculator {
    pub(super) inner: SoapCalculator,
}

#[pymethods]
impl PySoapCalculator {
    /// Keyword arguments: the fields of `SoapHypers` (see `hyper_fields()`).
    #[new]
    #[pyo3(signature = (**hypers))]
    fn new(py: Python<'_>, hypers: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let hypers = hypers::from_kwargs::<SoapHypers>("SOAP", hypers)?;
        let inner = run_detached(py, || SoapCalculator::new(hypers))?;
        Ok(PySoapCalculator { inner })
    }

    /// The hyper-parameters, defaults filled in, as a dict.
    #[getter]
    fn hypers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        hypers::to_dict(py, self.inner.hypers())
    }

    /// Every hyper-parameter as `(name, doc, default, required)`, in declaration order.
    #[staticmethod]
    fn hyper_fields(py: Python<'_>) -> PyResult<Vec<hypers::FieldInfo>> {
        hypers::fields::<SoapHypers>(py)
    }

    /// Coefficients `(n_centres, n_species, n_max, (l_max+1)²)`, structure, centre and centre
    /// species of each row, for a list of `(positions, numbers, cell, pbc)` tuples.
    #[pyo3(signature = (systems, species, n_threads=0))]
    fn compute<'py>(
        &self,
        py: Python<'py>,
        systems: &Bound<'py, PyAny>,
        species: Vec<i32>,
        n_threads: i64,
    ) -> PyResult<ExpansionArrays<'py>> {
        let n_threads = super::errors::n_threads(n_threads)?;
        let raw = extract_systems(systems)?;
        let species = SpeciesMap::new(&species).map_err(to_py)?;
        let expansion = run_detached_on(py, n_threads, || {
            let systems = validate_all(raw)?;
            self.inner.compute(&systems, &species, n_threads)
        })?;
        Ok(expansion_to_py(py, expansion))
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PySoapCalculator>()
}
