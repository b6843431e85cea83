//! Bindings for the LODE calculator.

use numpy::PyReadonlyArray1;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::errors::{non_negative, run_detached, run_detached_on, to_py};
use super::expansion::{expansion_to_py, ExpansionArrays};
use super::systems::{extract_systems, validate_all};
use crate::expansion::{Channels, LodeCalculator, LodeHypers, Method, SpeciesMap};

/// LODE calculator: validated hyper-parameters and k-space tables; real-space tables cached.
#[pyclass(name = "LodeCalculator", module = "lode_rs._lode_rs", frozen)]
pub struct PyLodeCalculator {
    inner: LodeCalculator,
}

#[pymethods]
impl PyLodeCalculator {
    #[new]
    #[pyo3(signature = (*, cutoff, smearing, n_max, l_max, exponent=None, center_weight=None,
                        method=None, accuracy=None, k_cutoff=None, max_memory=None,
                        mesh_spacing=None, spline_order=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        cutoff: f64,
        smearing: f64,
        n_max: i64,
        l_max: i64,
        exponent: Option<i64>,
        center_weight: Option<f64>,
        method: Option<&str>,
        accuracy: Option<f64>,
        k_cutoff: Option<f64>,
        max_memory: Option<f64>,
        mesh_spacing: Option<f64>,
        spline_order: Option<i64>,
    ) -> PyResult<Self> {
        let defaults = LodeHypers::default();
        let exponent = match exponent {
            Some(p) => u32::try_from(non_negative("exponent", p)?).map_err(|_| {
                to_py(crate::Error::InvalidParameter(format!(
                    "exponent {p} is too large"
                )))
            })?,
            None => defaults.exponent,
        };
        let hypers = LodeHypers {
            cutoff,
            smearing,
            n_max: non_negative("n_max", n_max)?,
            l_max: non_negative("l_max", l_max)?,
            exponent,
            center_weight: center_weight.unwrap_or(defaults.center_weight),
            method: match method {
                Some(name) => Method::parse(name).map_err(to_py)?,
                None => defaults.method,
            },
            accuracy: accuracy.unwrap_or(defaults.accuracy),
            k_cutoff,
            max_memory: max_memory.unwrap_or(defaults.max_memory),
            mesh_spacing,
            spline_order: spline_order
                .map(|p| non_negative("spline_order", p))
                .transpose()?,
        };
        let inner = run_detached(py, || LodeCalculator::new(hypers))?;
        Ok(PyLodeCalculator { inner })
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
        d.set_item("exponent", h.exponent)?;
        d.set_item("center_weight", h.center_weight)?;
        d.set_item("method", h.method.name())?;
        d.set_item("accuracy", h.accuracy)?;
        d.set_item("k_cutoff", h.k_cutoff)?;
        d.set_item("max_memory", h.max_memory)?;
        d.set_item("mesh_spacing", h.mesh_spacing)?;
        d.set_item("spline_order", h.spline_order)?;
        Ok(d)
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
        charges: Option<Vec<PyReadonlyArray1<'py, f64>>>,
        n_threads: i64,
    ) -> PyResult<ExpansionArrays<'py>> {
        let n_threads = super::errors::n_threads(n_threads)?;
        let raw = extract_systems(systems)?;
        let charges: Option<Vec<Vec<f64>>> =
            charges.map(|list| list.iter().map(|q| q.as_array().to_vec()).collect());
        let map = match (&species, &charges) {
            (Some(s), None) => Some(SpeciesMap::new(s).map_err(to_py)?),
            (None, Some(_)) => None,
            _ => {
                return Err(to_py(crate::Error::InvalidParameter(
                    "give exactly one of species and charges".into(),
                )))
            }
        };
        let expansion = run_detached_on(py, n_threads, || {
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
