//! Bindings for the LODE calculator.

use numpy::PyReadonlyArrayDyn;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::errors::{run_detached, run_detached_on, to_py};
use super::expansion::{expansion_to_py, ExpansionArrays};
use super::hypers;
use super::systems::{extract_charges, extract_systems, validate_all};
use crate::expansion::{Channels, LodeCalculator, LodeHypers, Plan, Route, SpeciesMap};

/// LODE calculator: validated hyper-parameters and k-space tables; real-space tables cached.
#[pyclass(name = "LodeCalculator", module = "lode_rs._lode_rs", frozen)]
pub struct PyLodeCalculator {
    pub(super) inner: LodeCalculator,
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

    /// The plan `compute` follows for each structure (with `n_channels` channels), one dict
    /// each: `route` (`"real-space"`, `"pairs"`, `"reciprocal"`, `"ewald"`, `"mesh"`, `"slab"`),
    /// the route's parameters (`k_cutoff`, `eta`, `spline_order`, `mesh_spacing`, `mesh`; a
    /// slab's `length`, `inner_route` and its inner route's parameters), and the
    /// estimated `cost` (k-space multiply-adds) and `memory` (bytes). `for_jacobian`: the plan
    /// of the Jacobians (`lode_gradients`) instead.
    #[pyo3(signature = (systems, n_channels=1, for_jacobian=false))]
    fn routes<'py>(
        &self,
        py: Python<'py>,
        systems: &Bound<'py, PyAny>,
        n_channels: usize,
        for_jacobian: bool,
    ) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let raw = extract_systems(systems)?;
        let plans = run_detached(py, || {
            let systems = validate_all(raw)?;
            systems
                .iter()
                .map(|s| {
                    if for_jacobian {
                        self.inner.plan_jacobian(s, n_channels)
                    } else {
                        self.inner.plan(s, n_channels)
                    }
                })
                .collect::<crate::Result<Vec<_>>>()
        })?;
        plans.iter().map(|plan| plan_to_dict(py, plan)).collect()
    }

    /// Coefficients for a list of `(positions, numbers, cell, pbc)` tuples, with species
    /// channels (`species`) or one charge-weighted channel (`charges`, one array per structure).
    /// `for_jacobian`: on each structure's Jacobian plan (the values that go with
    /// `lode_gradients`).
    #[pyo3(signature = (systems, species=None, charges=None, n_threads=0, for_jacobian=false))]
    fn compute<'py>(
        &self,
        py: Python<'py>,
        systems: &Bound<'py, PyAny>,
        species: Option<Vec<i32>>,
        charges: Option<Vec<PyReadonlyArrayDyn<'py, f64>>>,
        n_threads: i64,
        for_jacobian: bool,
    ) -> PyResult<ExpansionArrays<'py>> {
        let n_threads = super::errors::n_threads(n_threads)?;
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
        let expansion = run_detached_on(py, n_threads, || {
            let systems = validate_all(raw)?;
            let channels = match (&map, &charges) {
                (Some(m), _) => Channels::Species(m),
                (None, Some(q)) => Channels::Charges(q),
                _ => unreachable!("checked above"),
            };
            if for_jacobian {
                self.inner
                    .compute_for_jacobian(&systems, channels, n_threads)
            } else {
                self.inner.compute(&systems, channels, n_threads)
            }
        })?;
        Ok(expansion_to_py(py, expansion))
    }
}

/// One plan as a dict (see `routes`).
fn plan_to_dict<'py>(py: Python<'py>, plan: &Plan) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("route", plan.route.name())?;
    route_parameters(&d, &plan.route)?;
    d.set_item("cost", plan.cost)?;
    d.set_item("memory", plan.memory)?;
    Ok(d)
}

/// The parameters of `route` into `d`; a slab's own (`length`, `inner_route`) and its inner
/// route's.
fn route_parameters(d: &Bound<'_, PyDict>, route: &Route) -> PyResult<()> {
    match route {
        Route::Finite | Route::Pairs => {}
        Route::Reciprocal { k_cutoff } => d.set_item("k_cutoff", k_cutoff)?,
        Route::Ewald(split) => {
            d.set_item("eta", split.eta)?;
            d.set_item("k_cutoff", split.k_cutoff)?;
        }
        Route::Mesh {
            split,
            spline_order,
            mesh_spacing,
            mesh,
        } => {
            d.set_item("eta", split.eta)?;
            d.set_item("k_cutoff", split.k_cutoff)?;
            d.set_item("spline_order", spline_order)?;
            d.set_item("mesh_spacing", mesh_spacing)?;
            d.set_item("mesh", mesh.to_vec())?;
        }
        Route::Slab { length, inner } => {
            d.set_item("length", length)?;
            d.set_item("inner_route", inner.name())?;
            route_parameters(d, inner)?;
        }
    }
    Ok(())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyLodeCalculator>()
}
