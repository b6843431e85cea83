//! Bindings for `crate::expansion`: calculator classes holding their tabulated radial integrals.

use numpy::{IntoPyArray, PyArray1, PyArray4};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::errors::{non_negative, run_detached, run_detached_on, to_py};
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
    inner: SoapCalculator,
}

#[pymethods]
impl PySoapCalculator {
    #[new]
    #[pyo3(signature = (*, cutoff, smearing, n_max, l_max, cutoff_width=None, center_weight=None, radial_accuracy=None, max_memory=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        cutoff: f64,
        smearing: f64,
        n_max: i64,
        l_max: i64,
        cutoff_width: Option<f64>,
        center_weight: Option<f64>,
        radial_accuracy: Option<f64>,
        max_memory: Option<f64>,
    ) -> PyResult<Self> {
        let defaults = SoapHypers::default();
        let hypers = SoapHypers {
            cutoff,
            smearing,
            n_max: non_negative("n_max", n_max)?,
            l_max: non_negative("l_max", l_max)?,
            cutoff_width: cutoff_width.unwrap_or(defaults.cutoff_width),
            center_weight: center_weight.unwrap_or(defaults.center_weight),
            radial_accuracy: radial_accuracy.unwrap_or(defaults.radial_accuracy),
            max_memory: max_memory.unwrap_or(defaults.max_memory),
        };
        let inner = run_detached(py, || SoapCalculator::new(hypers))?;
        Ok(PySoapCalculator { inner })
    }

    /// The hyper-parameters, defaults filled in, as a dict.
    #[getter]
    fn hypers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let h = self.inner.hypers();
        let d = PyDict::new(py);
        d.set_item("cutoff", h.cutoff)?;
        d.set_item("smearing", h.smearing)?;
        d.set_item("n_max", h.n_max)?;
        d.set_item("l_max", h.l_max)?;
        d.set_item("cutoff_width", h.cutoff_width)?;
        d.set_item("center_weight", h.center_weight)?;
        d.set_item("radial_accuracy", h.radial_accuracy)?;
        d.set_item("max_memory", h.max_memory)?;
        Ok(d)
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
