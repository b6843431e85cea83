//! Bindings for gradients: expansion Jacobians and backward passes, and the invariants' chain
//! rule. Type conversion only; the work runs in the core with the GIL released.

use numpy::{
    IntoPyArray, PyArray2, PyArray3, PyArray4, PyArray5, PyArray6, PyReadonlyArray2,
    PyReadonlyArray4, PyReadonlyArrayDyn,
};
use pyo3::prelude::*;

use super::errors::{run_detached, run_detached_on, to_py};
use super::expansion::PySoapCalculator;
use super::lode::PyLodeCalculator;
use super::systems::{extract_charges, extract_systems, validate_all};
use crate::expansion::{
    Backward, Channels, ExpansionGradients, GradientRequest, RowJacobian, SpeciesMap,
    DEFAULT_JACOBIAN_MEMORY,
};
use crate::invariants::{
    power_spectrum_backward, power_spectrum_jacobians, radial_spectrum_backward,
};
use crate::threads::with_threads;

/// Owner of a large output handed to numpy ([`reusable_to_py`]): when numpy frees the array,
/// its buffer becomes the spare of [`crate::memory::reusable`].
#[pyclass]
struct OutputBuffer {
    data: Vec<f64>,
}

impl Drop for OutputBuffer {
    fn drop(&mut self) {
        crate::memory::give_back(std::mem::take(&mut self.data));
    }
}

/// `array` as a numpy array whose buffer returns to [`crate::memory::give_back`] when freed
/// (for outputs of kernels that write every element: [`crate::memory::reusable`]).
fn reusable_to_py<D: ndarray::Dimension>(
    py: Python<'_>,
    array: ndarray::Array<f64, D>,
) -> PyResult<Bound<'_, numpy::PyArray<f64, D>>> {
    if !array.is_standard_layout() {
        return Ok(array.into_pyarray(py));
    }
    let shape = array.raw_dim();
    let (data, offset) = array.into_raw_vec_and_offset();
    if offset.unwrap_or(0) != 0 {
        let array = ndarray::Array::from_shape_vec(shape, data).expect("same shape");
        return Ok(array.into_pyarray(py));
    }
    let owner = Bound::new(py, OutputBuffer { data })?;
    let borrowed = owner.borrow();
    let view = ndarray::ArrayView::from_shape(shape, &borrowed.data).expect("same shape");
    // SAFETY: `owner` keeps the buffer alive as the array's base and never touches it before
    // it is dropped (with the array); the buffer is never reallocated
    let out = unsafe { numpy::PyArray::borrow_from_array(&view, owner.clone().into_any()) };
    Ok(out)
}

type JacobianArrays<'py> = (
    Option<Bound<'py, PyArray2<i64>>>,
    Option<Bound<'py, PyArray5<f64>>>,
    Option<Bound<'py, PyArray6<f64>>>,
);

type BackwardArrays<'py> = (
    Vec<Bound<'py, PyArray2<f64>>>,
    Vec<Option<Bound<'py, PyArray2<f64>>>>,
);

fn backward_to_py(py: Python<'_>, b: Backward) -> BackwardArrays<'_> {
    let positions = b
        .positions
        .into_iter()
        .map(|p| p.into_pyarray(py))
        .collect();
    let strain = b
        .strain
        .into_iter()
        .map(|s| {
            s.map(|m| ndarray::Array2::from_shape_fn((3, 3), |(a, b)| m[a][b]).into_pyarray(py))
        })
        .collect();
    (positions, strain)
}

/// Validate gradient names (`"positions"`, `"strain"`) and `max_memory` (bytes, default
/// 4 GiB): `InvalidParameterError` naming the problem.
#[pyfunction]
#[pyo3(signature = (gradients, max_memory=None))]
fn check_gradients(gradients: Vec<String>, max_memory: Option<f64>) -> PyResult<()> {
    GradientRequest::from_names(&gradients, max_memory.unwrap_or(DEFAULT_JACOBIAN_MEMORY))
        .map(|_| ())
        .map_err(to_py)
}

/// SOAP Jacobians: `(samples (n, 3) | None, positions (n, 3, S, N, LM) | None,
/// strain (n_rows, 3, 3, S, N, LM) | None)`.
#[pyfunction]
#[pyo3(signature = (calculator, systems, species, gradients, max_memory=None, n_threads=0))]
fn soap_gradients<'py>(
    py: Python<'py>,
    calculator: PyRef<'py, PySoapCalculator>,
    systems: &Bound<'py, PyAny>,
    species: Vec<i32>,
    gradients: Vec<String>,
    max_memory: Option<f64>,
    n_threads: i64,
) -> PyResult<JacobianArrays<'py>> {
    let raw = extract_systems(systems)?;
    let species = SpeciesMap::new(&species).map_err(to_py)?;
    let request =
        GradientRequest::from_names(&gradients, max_memory.unwrap_or(DEFAULT_JACOBIAN_MEMORY))
            .map_err(to_py)?;
    let n_threads = super::errors::n_threads(n_threads)?;
    let inner = &calculator.inner;
    let result = run_detached_on(py, n_threads, || {
        let systems = validate_all(raw)?;
        inner.compute_gradients(&systems, &species, &request, n_threads)
    })?;
    jacobians_to_py(py, result)
}

/// The Jacobian arrays for Python; their buffers return to [`crate::memory::give_back`] when
/// freed (`assemble` takes its outputs from [`crate::memory::reusable`]).
fn jacobians_to_py(py: Python<'_>, result: ExpansionGradients) -> PyResult<JacobianArrays<'_>> {
    let (samples, positions) = match result.positions {
        Some(p) => (
            Some(p.samples.into_pyarray(py)),
            Some(reusable_to_py(py, p.values)?),
        ),
        None => (None, None),
    };
    let strain = result.strain.map(|s| reusable_to_py(py, s)).transpose()?;
    Ok((samples, positions, strain))
}

/// A species map or charges, one of the two.
type LodeChannels = (Option<SpeciesMap>, Option<Vec<Vec<f64>>>);

/// Species map or charges of a LODE call: exactly one of them.
fn lode_channels(
    species: Option<Vec<i32>>,
    charges: Option<Vec<PyReadonlyArrayDyn<'_, f64>>>,
) -> PyResult<LodeChannels> {
    let charges = charges.map(extract_charges).transpose()?;
    match (&species, &charges) {
        (Some(s), None) => Ok((Some(SpeciesMap::new(s).map_err(to_py)?), None)),
        (None, Some(_)) => Ok((None, charges)),
        _ => Err(to_py(crate::Error::InvalidParameter(
            "give exactly one of species and charges".into(),
        ))),
    }
}

fn channels_of<'a>(
    map: &'a Option<SpeciesMap>,
    charges: &'a Option<Vec<Vec<f64>>>,
) -> Channels<'a> {
    match (map, charges) {
        (Some(m), _) => Channels::Species(m),
        (None, Some(q)) => Channels::Charges(q),
        _ => unreachable!("lode_channels gives one of them"),
    }
}

/// LODE Jacobians (dense: every atom of a row's structure is a sample), for the structures
/// whose route has gradients: `(samples | None, positions | None, strain | None)` as
/// [`soap_gradients`], with species channels (`species`) or one charge channel (`charges`).
#[pyfunction]
#[pyo3(signature = (calculator, systems, gradients, species=None, charges=None, max_memory=None, n_threads=0))]
#[allow(clippy::too_many_arguments)]
fn lode_gradients<'py>(
    py: Python<'py>,
    calculator: PyRef<'py, PyLodeCalculator>,
    systems: &Bound<'py, PyAny>,
    gradients: Vec<String>,
    species: Option<Vec<i32>>,
    charges: Option<Vec<PyReadonlyArrayDyn<'py, f64>>>,
    max_memory: Option<f64>,
    n_threads: i64,
) -> PyResult<JacobianArrays<'py>> {
    let raw = extract_systems(systems)?;
    let (map, charges) = lode_channels(species, charges)?;
    let request =
        GradientRequest::from_names(&gradients, max_memory.unwrap_or(DEFAULT_JACOBIAN_MEMORY))
            .map_err(to_py)?;
    let n_threads = super::errors::n_threads(n_threads)?;
    let inner = &calculator.inner;
    let result = run_detached_on(py, n_threads, || {
        let systems = validate_all(raw)?;
        inner.compute_gradients(&systems, channels_of(&map, &charges), &request, n_threads)
    })?;
    jacobians_to_py(py, result)
}

/// LODE backward pass: `(positions: list of (n_atoms, 3), strain: list of (3, 3) | None)`.
#[pyfunction]
#[pyo3(signature = (calculator, systems, cotangent, species=None, charges=None, n_threads=0))]
fn lode_backward<'py>(
    py: Python<'py>,
    calculator: PyRef<'py, PyLodeCalculator>,
    systems: &Bound<'py, PyAny>,
    cotangent: PyReadonlyArray4<'py, f64>,
    species: Option<Vec<i32>>,
    charges: Option<Vec<PyReadonlyArrayDyn<'py, f64>>>,
    n_threads: i64,
) -> PyResult<BackwardArrays<'py>> {
    let raw = extract_systems(systems)?;
    let (map, charges) = lode_channels(species, charges)?;
    let n_threads = super::errors::n_threads(n_threads)?;
    let cotangent = cotangent.as_array();
    let inner = &calculator.inner;
    let result = run_detached_on(py, n_threads, || {
        let systems = validate_all(raw)?;
        inner.backward(&systems, channels_of(&map, &charges), cotangent, n_threads)
    })?;
    Ok(backward_to_py(py, result))
}

/// SOAP backward pass: `(positions: list of (n_atoms, 3), strain: list of (3, 3) | None)`.
#[pyfunction]
#[pyo3(signature = (calculator, systems, species, cotangent, n_threads=0))]
fn soap_backward<'py>(
    py: Python<'py>,
    calculator: PyRef<'py, PySoapCalculator>,
    systems: &Bound<'py, PyAny>,
    species: Vec<i32>,
    cotangent: PyReadonlyArray4<'py, f64>,
    n_threads: i64,
) -> PyResult<BackwardArrays<'py>> {
    let raw = extract_systems(systems)?;
    let species = SpeciesMap::new(&species).map_err(to_py)?;
    let n_threads = super::errors::n_threads(n_threads)?;
    let cotangent = cotangent.as_array();
    let inner = &calculator.inner;
    let result = run_detached_on(py, n_threads, || {
        let systems = validate_all(raw)?;
        inner.backward(&systems, &species, cotangent, n_threads)
    })?;
    Ok(backward_to_py(py, result))
}

/// One expansion of an invariant: `(core calculator, channel labels, values, charges | None)`;
/// `charges` (one array per structure) for a LODE calculator with one charge channel.
type Expansion<'py> = (
    Bound<'py, PyAny>,
    Vec<i32>,
    PyReadonlyArray4<'py, f64>,
    Option<Vec<PyReadonlyArrayDyn<'py, f64>>>,
);

/// The core calculator of an [`Expansion`] and its channels.
enum Core<'py> {
    Soap(PyRef<'py, PySoapCalculator>, SpeciesMap),
    Lode(PyRef<'py, PyLodeCalculator>, LodeChannels),
}

/// [`Core`] without the Python references, to make row Jacobians with the GIL released.
enum Inner<'a> {
    Soap(&'a crate::expansion::SoapCalculator, &'a SpeciesMap),
    Lode(&'a crate::expansion::LodeCalculator, &'a LodeChannels),
}

impl<'py> Core<'py> {
    /// The calculator, its channel labels and (LODE) charges of an [`Expansion`]; the values
    /// stay with the caller.
    fn new(
        calculator: &Bound<'py, PyAny>,
        species: &[i32],
        charges: Option<Vec<PyReadonlyArrayDyn<'py, f64>>>,
    ) -> PyResult<Core<'py>> {
        if let Ok(soap) = calculator.extract::<PyRef<'py, PySoapCalculator>>() {
            if charges.is_some() {
                return Err(to_py(crate::Error::InvalidParameter(
                    "SOAP expansions have species channels only, not charges".into(),
                )));
            }
            return Ok(Core::Soap(soap, SpeciesMap::new(species).map_err(to_py)?));
        }
        if let Ok(lode) = calculator.extract::<PyRef<'py, PyLodeCalculator>>() {
            let channels = match charges {
                Some(q) => lode_channels(None, Some(q))?,
                None => lode_channels(Some(species.to_vec()), None)?,
            };
            return Ok(Core::Lode(lode, channels));
        }
        Err(pyo3::exceptions::PyTypeError::new_err(
            "an invariant's expansion must be a SoapCalculator or a LodeCalculator",
        ))
    }

    fn inner(&self) -> Inner<'_> {
        match self {
            Core::Soap(calc, species) => Inner::Soap(&calc.inner, species),
            Core::Lode(calc, channels) => Inner::Lode(&calc.inner, channels),
        }
    }
}

impl Inner<'_> {
    /// The row Jacobian of `systems` (planned in the current rayon pool).
    fn rows<'a>(
        &'a self,
        systems: &'a [crate::systems::System],
        request: &GradientRequest,
    ) -> crate::Result<Box<dyn RowJacobian + 'a>> {
        Ok(match self {
            Inner::Soap(calc, species) => Box::new(calc.row_jacobian(systems, species, request)?),
            Inner::Lode(calc, (map, charges)) => {
                Box::new(calc.row_jacobian(systems, channels_of(map, charges), request)?)
            }
        })
    }
}

/// ν = 2 Jacobians straight from the expansions (SOAP or LODE, species or charge channels),
/// row by row (the expansions' Jacobians are never stored): `(samples (n, 3) | None,
/// positions (n, 3, F) | None, strain (n_rows, 3, 3, F) | None)`. `first`/`second`: see
/// [`Expansion`].
#[pyfunction]
#[pyo3(signature = (systems, first, gradients, second=None, max_memory=None, n_threads=0))]
#[allow(clippy::type_complexity)]
fn power_spectrum_gradients<'py>(
    py: Python<'py>,
    systems: &Bound<'py, PyAny>,
    first: Expansion<'py>,
    gradients: Vec<String>,
    second: Option<Expansion<'py>>,
    max_memory: Option<f64>,
    n_threads: i64,
) -> PyResult<(
    Option<Bound<'py, PyArray2<i64>>>,
    Option<Bound<'py, PyArray3<f64>>>,
    Option<Bound<'py, PyArray4<f64>>>,
)> {
    let raw = extract_systems(systems)?;
    let request =
        GradientRequest::from_names(&gradients, max_memory.unwrap_or(DEFAULT_JACOBIAN_MEMORY))
            .map_err(to_py)?;
    let n_threads = super::errors::n_threads(n_threads)?;
    let (calc1, species1, values1, charges1) = first;
    let core1 = Core::new(&calc1, &species1, charges1)?;
    let (c1, sp1) = (values1.as_array(), species1.as_slice());
    let (second, core2) = match second {
        Some((calc, species, values, charges)) => {
            let core = Core::new(&calc, &species, charges)?;
            (Some((values, species)), Some(core))
        }
        None => (None, None),
    };
    let c2 = second.as_ref().map(|(v, s)| (v.as_array(), s.as_slice()));
    let (inner1, inner2) = (core1.inner(), core2.as_ref().map(Core::inner));
    let (core1, core2) = (&inner1, inner2.as_ref());
    let (positions, strain) = run_detached_on(py, n_threads, || {
        let systems = validate_all(raw)?;
        with_threads(n_threads, || {
            let rows1 = core1.rows(&systems, &request)?;
            let rows2 = core2.map(|c| c.rows(&systems, &request)).transpose()?;
            let second = rows2.as_deref().zip(c2).map(|(r, (c, s))| (r, c, s));
            power_spectrum_jacobians((rows1.as_ref(), c1, sp1), second, &request)
        })?
    })?;
    let (samples, positions) = match positions {
        Some((s, p)) => (Some(s.into_pyarray(py)), Some(reusable_to_py(py, p)?)),
        None => (None, None),
    };
    let strain = strain.map(|s| reusable_to_py(py, s)).transpose()?;
    Ok((samples, positions, strain))
}

/// ν = 2 backward pass: the coefficients' cotangents `(first, second | None)`.
#[pyfunction(name = "power_spectrum_backward")]
#[pyo3(signature = (coefficients, species, cotangent, other=None, other_species=None, n_threads=0))]
#[allow(clippy::type_complexity)]
fn py_power_spectrum_backward<'py>(
    py: Python<'py>,
    coefficients: PyReadonlyArray4<'py, f64>,
    species: Vec<i32>,
    cotangent: PyReadonlyArray2<'py, f64>,
    other: Option<PyReadonlyArray4<'py, f64>>,
    other_species: Option<Vec<i32>>,
    n_threads: i64,
) -> PyResult<(Bound<'py, PyArray4<f64>>, Option<Bound<'py, PyArray4<f64>>>)> {
    let n_threads = super::errors::n_threads(n_threads)?;
    let c = coefficients.as_array();
    let o = other.as_ref().map(|o| o.as_array());
    let other_species = other_species.unwrap_or_default();
    let g = cotangent.as_array();
    let (first, second) = run_detached_on(py, n_threads, || {
        with_threads(n_threads, || {
            power_spectrum_backward(c, &species, o.map(|o| (o, other_species.as_slice())), g)
        })?
    })?;
    Ok((first.into_pyarray(py), second.map(|s| s.into_pyarray(py))))
}

/// ν = 1 backward pass: the cotangent placed in the `l = 0` entries of a coefficient
/// cotangent of shape `shape`.
#[pyfunction(name = "radial_spectrum_backward")]
fn py_radial_spectrum_backward<'py>(
    py: Python<'py>,
    cotangent: PyReadonlyArray2<'py, f64>,
    shape: [usize; 4],
) -> PyResult<Bound<'py, PyArray4<f64>>> {
    let g = cotangent.as_array();
    let out = run_detached(py, || radial_spectrum_backward(g, shape))?;
    Ok(out.into_pyarray(py))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(check_gradients, m)?)?;
    m.add_function(wrap_pyfunction!(soap_gradients, m)?)?;
    m.add_function(wrap_pyfunction!(soap_backward, m)?)?;
    m.add_function(wrap_pyfunction!(lode_gradients, m)?)?;
    m.add_function(wrap_pyfunction!(lode_backward, m)?)?;
    m.add_function(wrap_pyfunction!(power_spectrum_gradients, m)?)?;
    m.add_function(wrap_pyfunction!(py_power_spectrum_backward, m)?)?;
    m.add_function(wrap_pyfunction!(py_radial_spectrum_backward, m)?)?;
    Ok(())
}
