//! The GTO radial basis and radial integrals.
//!
//! OWNER: radial helper. Interface fixed; implementation pending.
//!
//! A radial integral maps one scalar (a pair distance `d` for the pair route, a wave number `k`
//! for the reciprocal route) to an `(n_max, l_max + 1)` block of values, in the orthonormalised
//! basis `R̃_n`. Exact implementations and a splined one share the [`RadialIntegral`] trait.

use ndarray::ArrayViewMut2;

use crate::error::{Error, Result};

/// A radial integral `f_nl(x)`, `n < n_max`, `l ≤ l_max`, in the orthonormal basis.
pub trait RadialIntegral: Send + Sync {
    /// Number of radial functions.
    fn n_max(&self) -> usize;
    /// Largest angular momentum.
    fn l_max(&self) -> usize;
    /// Write `f_nl(x)` into `values` (shape `(n_max, l_max + 1)`) and, when given,
    /// `d f_nl / dx` into `gradients` (same shape).
    fn compute(&self, x: f64, values: ArrayViewMut2<f64>, gradients: Option<ArrayViewMut2<f64>>);
}

/// The GTO basis of `lode-math.md` §1 with its Löwdin orthonormalisation.
#[derive(Debug, Clone)]
pub struct GtoBasis {
    n_max: usize,
    cutoff: f64,
}

impl GtoBasis {
    /// `n_max ≥ 1` radial functions of radius `cutoff > 0` (Å).
    pub fn new(n_max: usize, cutoff: f64) -> Result<GtoBasis> {
        Ok(GtoBasis { n_max, cutoff })
    }
    /// Number of radial functions.
    pub fn n_max(&self) -> usize {
        self.n_max
    }
    /// Basis radius r_c.
    pub fn cutoff(&self) -> f64 {
        self.cutoff
    }
}

/// SOAP pair radial integral: the Gaussian density `g` of width `smearing` centred at distance
/// `d` projected on `R̃_n Y_lm` gives `f_nl(d) Y_lm(d̂)` (closed form with ₁F₁).
pub struct SoapRadialIntegral;

impl SoapRadialIntegral {
    pub fn new(basis: &GtoBasis, l_max: usize, smearing: f64) -> Result<Self> {
        let _ = (basis, l_max, smearing);
        Err(Error::Internal(
            "SoapRadialIntegral: not implemented yet".into(),
        ))
    }
}

/// A cubic Hermite spline of any radial integral on `[0, x_max]`, built to a stated accuracy.
pub struct SplinedRadialIntegral;

impl SplinedRadialIntegral {
    pub fn new(exact: &dyn RadialIntegral, x_max: f64, accuracy: f64) -> Result<Self> {
        let _ = (exact, x_max, accuracy);
        Err(Error::Internal(
            "SplinedRadialIntegral: not implemented yet".into(),
        ))
    }
}

impl RadialIntegral for SplinedRadialIntegral {
    fn n_max(&self) -> usize {
        unimplemented!()
    }
    fn l_max(&self) -> usize {
        unimplemented!()
    }
    fn compute(&self, x: f64, values: ArrayViewMut2<f64>, gradients: Option<ArrayViewMut2<f64>>) {
        let _ = (x, values, gradients);
        unimplemented!()
    }
}
