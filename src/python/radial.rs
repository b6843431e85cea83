//! Bindings for `crate::radial` (and the ₁F₁ it is built on), for tests: registered in the
//! `lode_rs._lode_rs.testing` submodule.

use ndarray::Array1;
use numpy::{IntoPyArray, PyArray1, PyArray3, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::errors::{run_detached, run_detached_on};
use crate::math::hyp1f1::{hyp1f1 as hyp1f1_core, hyp1f1_scaled};
use crate::radial::{
    evaluate_many, GtoBasis, KspaceRadialIntegral, RadialIntegral, SoapRadialIntegral,
    SplinedRadialIntegral,
};
use crate::threads::with_threads;

type Blocks<'py> = (Bound<'py, PyArray3<f64>>, Bound<'py, PyArray3<f64>>);

/// gto_basis(n_max, cutoff)
/// --
///
/// The GTO radial basis: a dict with `sigmas` and `normalisations` float64 `(n_max,)`,
/// `overlap` and `orthonormaliser` (`S^{-1/2}`) float64 `(n_max, n_max)`, and
/// `condition_number` (float). Raises `InvalidParameterError` for `n_max < 1`, a bad cutoff,
/// or `n_max >= 17` (overlap too ill-conditioned for double precision).
#[pyfunction]
fn gto_basis<'py>(py: Python<'py>, n_max: usize, cutoff: f64) -> PyResult<Bound<'py, PyDict>> {
    let basis = run_detached(py, move || GtoBasis::new(n_max, cutoff))?;
    let dict = PyDict::new(py);
    dict.set_item(
        "sigmas",
        Array1::from(basis.sigmas().to_vec()).into_pyarray(py),
    )?;
    dict.set_item(
        "normalisations",
        Array1::from(basis.normalisations().to_vec()).into_pyarray(py),
    )?;
    dict.set_item("overlap", basis.overlap().to_owned().into_pyarray(py))?;
    dict.set_item(
        "orthonormaliser",
        basis.orthonormaliser().to_owned().into_pyarray(py),
    )?;
    dict.set_item("condition_number", basis.condition_number())?;
    Ok(dict)
}

/// soap_radial_integral(n_max, l_max, cutoff, smearing, distances, splined=False, accuracy=1e-10, n_threads=0)
/// --
///
/// SOAP pair radial integral `f_nl(d)` and `d f_nl / d d` at each distance, both float64
/// `(len(distances), n_max, l_max + 1)`. With `splined=True` the cubic Hermite spline on
/// `[0, cutoff]` built to `accuracy` is evaluated instead (zero beyond `cutoff`).
#[pyfunction]
#[pyo3(signature = (n_max, l_max, cutoff, smearing, distances, splined = false, accuracy = 1e-10, n_threads = 0))]
#[allow(clippy::too_many_arguments)]
fn soap_radial_integral<'py>(
    py: Python<'py>,
    n_max: usize,
    l_max: usize,
    cutoff: f64,
    smearing: f64,
    distances: PyReadonlyArray1<'py, f64>,
    splined: bool,
    accuracy: f64,
    n_threads: i64,
) -> PyResult<Blocks<'py>> {
    let n_threads = super::errors::n_threads(n_threads)?;
    let distances = distances.as_array().to_vec();
    super::errors::non_negative_values("distances", &distances)?;
    let (values, gradients) = run_detached_on(py, n_threads, move || {
        let basis = GtoBasis::new(n_max, cutoff)?;
        let exact = SoapRadialIntegral::new(&basis, l_max, smearing)?;
        with_threads(n_threads, || {
            if splined {
                let spline = SplinedRadialIntegral::new(&exact, cutoff, accuracy)?;
                Ok(evaluate_many(&spline, &distances))
            } else {
                Ok(evaluate_many(&exact, &distances))
            }
        })?
    })?;
    Ok((values.into_pyarray(py), gradients.into_pyarray(py)))
}

/// kspace_radial_integral(n_max, l_max, cutoff, k, n_threads=0)
/// --
///
/// Reciprocal-route radial integral `Ĩ_nl(k) = ∫ r² R̃_n(r) j_l(kr) dr` and its k-derivative at
/// each `k`, both float64 `(len(k), n_max, l_max + 1)`.
#[pyfunction]
#[pyo3(signature = (n_max, l_max, cutoff, k, n_threads = 0))]
fn kspace_radial_integral<'py>(
    py: Python<'py>,
    n_max: usize,
    l_max: usize,
    cutoff: f64,
    k: PyReadonlyArray1<'py, f64>,
    n_threads: i64,
) -> PyResult<Blocks<'py>> {
    let n_threads = super::errors::n_threads(n_threads)?;
    let k = k.as_array().to_vec();
    super::errors::non_negative_values("k", &k)?;
    let (values, gradients) = run_detached_on(py, n_threads, move || {
        let basis = GtoBasis::new(n_max, cutoff)?;
        let integral = KspaceRadialIntegral::new(&basis, l_max)?;
        let integral: &dyn RadialIntegral = &integral;
        with_threads(n_threads, || evaluate_many(integral, &k))
    })?;
    Ok((values.into_pyarray(py), gradients.into_pyarray(py)))
}

/// hyp1f1(a, b, z, scaled=False)
/// --
///
/// Kummer's function ₁F₁(a; b; z) elementwise over the float64 array `z` (real `a`, `b > 0`);
/// with `scaled=True`, `exp(-max(z, 0)) ₁F₁(a; b; z)`, which never overflows.
#[pyfunction]
#[pyo3(signature = (a, b, z, scaled = false))]
fn hyp1f1<'py>(
    py: Python<'py>,
    a: f64,
    b: f64,
    z: PyReadonlyArray1<'py, f64>,
    scaled: bool,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let z = z.as_array().to_owned();
    let values = run_detached(py, move || {
        Ok(z.mapv(|z| {
            if scaled {
                hyp1f1_scaled(a, b, z)
            } else {
                hyp1f1_core(a, b, z)
            }
        }))
    })?;
    Ok(values.into_pyarray(py))
}

/// lode_table_builds()
/// --
///
/// Number of LODE real-space radial tables built (or attempted) by this process so far: a
/// probe of the planner's table caching for tests.
#[pyfunction]
fn lode_table_builds() -> usize {
    crate::radial::table_builds()
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(lode_table_builds, m)?)?;
    m.add_function(wrap_pyfunction!(gto_basis, m)?)?;
    m.add_function(wrap_pyfunction!(soap_radial_integral, m)?)?;
    m.add_function(wrap_pyfunction!(kspace_radial_integral, m)?)?;
    m.add_function(wrap_pyfunction!(hyp1f1, m)?)?;
    Ok(())
}
