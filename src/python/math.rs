//! Bindings for `crate::math`: spherical harmonics, special functions, smeared power laws.
//!
//! Each function converts types, runs the core with the GIL released ([`run_detached`]) and
//! hands the owned result arrays to NumPy without copying.

use ndarray::{ArrayD, Zip};
use numpy::{IntoPyArray, PyReadonlyArray2, PyReadonlyArrayDyn};
use pyo3::prelude::*;

use super::errors::{run_detached, run_detached_on};
use crate::error::Error;
use crate::math::power_law::PowerLaw;
use crate::math::special;
use crate::math::spherical_harmonics::SphericalHarmonics;

/// spherical_harmonics(vectors, l_max, gradients=False, n_threads=0)
/// --
///
/// Real spherical harmonics Y_lm(r/|r|) (orthonormal, no Condon-Shortley phase, column
/// l² + l + m) for float64 vectors of shape (n, 3). Returns values (n, (l_max+1)²); with
/// gradients=True a tuple (values, gradients) where gradients (n, 3, (l_max+1)²) holds
/// dY_lm/dr_alpha at [i, alpha, lm]. n_threads = 0 uses all cores.
#[pyfunction]
#[pyo3(signature = (vectors, l_max, gradients = false, n_threads = 0))]
fn spherical_harmonics<'py>(
    py: Python<'py>,
    vectors: PyReadonlyArray2<'py, f64>,
    l_max: usize,
    gradients: bool,
    n_threads: i64,
) -> PyResult<Bound<'py, PyAny>> {
    let n_threads = super::errors::n_threads(n_threads)?;
    let vectors = vectors.as_array();
    if gradients {
        let (values, grads) = run_detached_on(py, n_threads, || {
            let sh = SphericalHarmonics::new(l_max)?;
            crate::threads::with_threads(n_threads, || sh.compute_batch_with_gradients(vectors))?
        })?;
        let tuple = (values.into_pyarray(py), grads.into_pyarray(py)).into_pyobject(py)?;
        Ok(tuple.into_any())
    } else {
        let values = run_detached_on(py, n_threads, || {
            let sh = SphericalHarmonics::new(l_max)?;
            crate::threads::with_threads(n_threads, || sh.compute_batch(vectors))?
        })?;
        Ok(values.into_pyarray(py).into_any())
    }
}

/// One- and two-argument special functions by name.
enum Special {
    One(fn(f64) -> f64),
    Two(fn(f64, f64) -> f64),
}

fn special_by_name(name: &str) -> crate::Result<Special> {
    Ok(match name {
        "erf" => Special::One(special::erf),
        "erfc" => Special::One(special::erfc),
        "gamma" => Special::One(special::gamma),
        "ln_gamma" => Special::One(special::ln_gamma),
        "exp1" => Special::One(special::exp1),
        "gamma_p" => Special::Two(special::gamma_p),
        "gamma_q" => Special::Two(special::gamma_q),
        "lower_gamma" => Special::Two(special::lower_gamma),
        "upper_gamma" => Special::Two(special::upper_gamma),
        "upper_gamma_scaled" => Special::Two(special::upper_gamma_scaled),
        "gamma_p_scaled" => Special::Two(special::gamma_p_scaled),
        other => {
            return Err(Error::InvalidParameter(format!(
                "unknown special function '{other}'; expected one of erf, erfc, gamma, ln_gamma, \
                 exp1, gamma_p, gamma_q, lower_gamma, upper_gamma, upper_gamma_scaled, \
                 gamma_p_scaled"
            )))
        }
    })
}

/// special_function(name, a, x)
/// --
///
/// Evaluate a special function element-wise on the float64 array x (any shape; result has the
/// same shape). One-argument functions (a must be None): erf, erfc, gamma, ln_gamma (ln|Γ|),
/// exp1 (E1). Two-argument functions f(a, x): gamma_p = P(a, x), gamma_q = Q(a, x),
/// lower_gamma = γ(a, x), upper_gamma = Γ(a, x) (any real a, x > 0), upper_gamma_scaled =
/// x^-a Γ(a, x), gamma_p_scaled = x^-a P(a, x). Outside a function's domain the value is NaN.
#[pyfunction]
#[pyo3(signature = (name, a, x))]
fn special_function<'py>(
    py: Python<'py>,
    name: &str,
    a: Option<f64>,
    x: PyReadonlyArrayDyn<'py, f64>,
) -> PyResult<Bound<'py, numpy::PyArrayDyn<f64>>> {
    let x = x.as_array();
    let out = run_detached(py, || {
        let function = special_by_name(name)?;
        let mut out = ArrayD::<f64>::zeros(x.raw_dim());
        match (function, a) {
            (Special::One(f), None) => Zip::from(&mut out).and(&x).for_each(|o, &v| *o = f(v)),
            (Special::Two(f), Some(a)) => {
                Zip::from(&mut out).and(&x).for_each(|o, &v| *o = f(a, v))
            }
            (Special::One(_), Some(_)) => {
                crate::bail_param!("special function '{name}' takes no parameter a (pass None)")
            }
            (Special::Two(_), None) => {
                crate::bail_param!("special function '{name}' needs a parameter a")
            }
        }
        Ok(out)
    })?;
    Ok(out.into_pyarray(py))
}

/// power_law_potential(p, sigma, r, derivative=False)
/// --
///
/// Smeared power-law potential g_p(r) = γ(p/2, r²/2σ²)/(Γ(p/2) r^p) for p = 1..6, the
/// normalised Gaussian (πσ²)^(-3/4) exp(-r²/2σ²) for p = 0, element-wise on the float64 array
/// r ≥ 0 (any shape). With derivative=True returns dg_p/dr instead.
#[pyfunction]
#[pyo3(signature = (p, sigma, r, derivative = false))]
fn power_law_potential<'py>(
    py: Python<'py>,
    p: u32,
    sigma: f64,
    r: PyReadonlyArrayDyn<'py, f64>,
    derivative: bool,
) -> PyResult<Bound<'py, numpy::PyArrayDyn<f64>>> {
    let r = r.as_array();
    super::errors::non_negative_values("r", &r)?;
    let out = run_detached(py, || {
        let g = PowerLaw::new(p, sigma)?;
        let mut out = ArrayD::<f64>::zeros(r.raw_dim());
        if derivative {
            Zip::from(&mut out)
                .and(&r)
                .for_each(|o, &v| *o = g.derivative(v));
        } else {
            Zip::from(&mut out)
                .and(&r)
                .for_each(|o, &v| *o = g.value(v));
        }
        Ok(out)
    })?;
    Ok(out.into_pyarray(py))
}

/// power_law_fourier(p, sigma, k)
/// --
///
/// Fourier transform ĝ_p(k) of the smeared power law (docs/math.md §2), element-wise on the
/// float64 array k ≥ 0 (any shape). At k = 0 it is finite for p = 0 and p ≥ 4 and +inf for
/// p = 1, 2, 3.
#[pyfunction]
#[pyo3(signature = (p, sigma, k))]
fn power_law_fourier<'py>(
    py: Python<'py>,
    p: u32,
    sigma: f64,
    k: PyReadonlyArrayDyn<'py, f64>,
) -> PyResult<Bound<'py, numpy::PyArrayDyn<f64>>> {
    let k = k.as_array();
    super::errors::non_negative_values("k", &k)?;
    let out = run_detached(py, || {
        let g = PowerLaw::new(p, sigma)?;
        let mut out = ArrayD::<f64>::zeros(k.raw_dim());
        Zip::from(&mut out)
            .and(&k)
            .for_each(|o, &v| *o = g.fourier(v));
        Ok(out)
    })?;
    Ok(out.into_pyarray(py))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(spherical_harmonics, m)?)?;
    m.add_function(wrap_pyfunction!(special_function, m)?)?;
    m.add_function(wrap_pyfunction!(power_law_potential, m)?)?;
    m.add_function(wrap_pyfunction!(power_law_fourier, m)?)?;
    Ok(())
}
