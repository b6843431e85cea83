//! The GTO radial basis and radial integrals.
//!
//! A radial integral maps one scalar (a pair distance `d` for the pair route, a wave number `k`
//! for the reciprocal route) to an `(n_max, l_max + 1)` block of values, in the orthonormalised
//! basis `R̃_n`. Exact implementations and a splined one share the [`RadialIntegral`] trait:
//! - [`GtoBasis`]: `σ_n`, `N_n`, overlap and Löwdin `S^{−1/2}`, evaluation and moments (`gto.rs`);
//! - [`SoapRadialIntegral`]: Gaussian density on GTOs, closed form with ₁F₁ (`soap.rs`);
//! - [`KspaceRadialIntegral`]: `∫ r² R̃_n j_l(kr) dr` for the reciprocal route (`kspace.rs`);
//! - [`SplinedRadialIntegral`]: cubic Hermite spline of any of them to a stated accuracy
//!   (`splined.rs`);
//! - [`LodeKernel`]: the potentials of the LODE pair route, power laws and the Ewald short range
//!   (`lode_kernel.rs`);
//! - [`LodePairRadialIntegral`]: the exact LODE pair integral by a k-quadrature (`lode_pair.rs`);
//! - [`MultipoleTail`]: its far-field Gegenbauer series for finite systems (`multipole_tail.rs`);
//! - [`LodeRadialTable`]: what the LODE calculator evaluates per pair, spline + tail (finite
//!   systems) or spline + zero beyond a reach (short-ranged kernels), and the self term
//!   (`lode_table.rs`).

use ndarray::{Array3, ArrayViewMut2, Axis};
use rayon::prelude::*;

mod gto;
mod kspace;
mod lode_kernel;
mod lode_pair;
mod lode_table;
mod multipole_tail;
mod soap;
mod splined;

pub use gto::{GtoBasis, MAX_OVERLAP_CONDITION};
pub use kspace::KspaceRadialIntegral;
pub use lode_kernel::LodeKernel;
pub(crate) use lode_pair::basis_extent;
pub use lode_pair::LodePairRadialIntegral;
pub use lode_table::{table_builds, LodeRadialTable};
pub use multipole_tail::{MultipoleTail, MAX_TAIL_TERMS};
pub use soap::SoapRadialIntegral;
pub use splined::{SplinedRadialIntegral, INITIAL_INTERVALS, MAX_INTERVALS, MAX_TABLE_SIZE};

/// A radial integral `f_nl(x)`, `n < n_max`, `l ≤ l_max`, in the orthonormal basis.
pub trait RadialIntegral: Send + Sync {
    /// Number of radial functions.
    fn n_max(&self) -> usize;
    /// Largest angular momentum.
    fn l_max(&self) -> usize;
    /// Write `f_nl(x)` into `values` (shape `(n_max, l_max + 1)`) and, when given,
    /// `d f_nl / dx` into `gradients` (same shape).
    fn compute(&self, x: f64, values: ArrayViewMut2<f64>, gradients: Option<ArrayViewMut2<f64>>);

    /// `f_nl` at every `x` of `xs` into `values`, `(xs.len(), n_max (l_max + 1))` row-major
    /// (index `p · n_max (l_max + 1) + n (l_max + 1) + l`): the same numbers as
    /// [`compute`](Self::compute) point by point. Splined integrals override it with a loop free
    /// of per-call checks and array views (the pair loops' hot path).
    fn compute_many(&self, xs: &[f64], values: &mut [f64]) {
        let shape = (self.n_max(), self.l_max() + 1);
        assert_eq!(
            values.len(),
            xs.len() * shape.0 * shape.1,
            "values: wrong length"
        );
        for (&x, row) in xs.iter().zip(values.chunks_exact_mut(shape.0 * shape.1)) {
            let view = ArrayViewMut2::from_shape(shape, row).expect("one row per point");
            self.compute(x, view, None);
        }
    }

    /// Values and `d/dx` at every `x` of `xs`, both laid out as in
    /// [`compute_many`](Self::compute_many): the same numbers as
    /// [`compute`](Self::compute) with gradients, point by point (the pair routes' gradient and
    /// backward passes). Splined integrals override it with an allocation-free loop.
    fn compute_many_with_gradients(&self, xs: &[f64], values: &mut [f64], gradients: &mut [f64]) {
        let shape = (self.n_max(), self.l_max() + 1);
        let width = shape.0 * shape.1;
        assert_eq!(values.len(), xs.len() * width, "values: wrong length");
        assert_eq!(gradients.len(), xs.len() * width, "gradients: wrong length");
        let rows = values
            .chunks_exact_mut(width)
            .zip(gradients.chunks_exact_mut(width));
        for (&x, (row, slope)) in xs.iter().zip(rows) {
            let view = ArrayViewMut2::from_shape(shape, row).expect("one row per point");
            let slope = ArrayViewMut2::from_shape(shape, slope).expect("one row per point");
            self.compute(x, view, Some(slope));
        }
    }
}

/// Values and gradients of `integral` at every `x` in `xs`, each of shape
/// `(xs.len(), n_max, l_max + 1)`. Parallel over points in the current rayon pool (each row is
/// written by one task: the result does not depend on the number of threads).
pub fn evaluate_many(integral: &dyn RadialIntegral, xs: &[f64]) -> (Array3<f64>, Array3<f64>) {
    let shape = (xs.len(), integral.n_max(), integral.l_max() + 1);
    let mut values = Array3::zeros(shape);
    let mut gradients = Array3::zeros(shape);
    values
        .axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(gradients.axis_iter_mut(Axis(0)).into_par_iter())
        .zip(xs.par_iter())
        .for_each(|((v, g), &x)| integral.compute(x, v, Some(g)));
    (values, gradients)
}

/// Panic unless `values` (and `gradients`) have shape `(n_max, l_max + 1)`: a caller bug.
pub(crate) fn check_shapes(
    values: &ArrayViewMut2<f64>,
    gradients: &Option<ArrayViewMut2<f64>>,
    n_max: usize,
    l_max: usize,
) {
    let shape = (n_max, l_max + 1);
    assert_eq!(
        values.dim(),
        shape,
        "values must have shape (n_max, l_max + 1)"
    );
    if let Some(g) = gradients {
        assert_eq!(
            g.dim(),
            shape,
            "gradients must have shape (n_max, l_max + 1)"
        );
    }
}

/// Fill the outputs with NaN and return true when `x` is not a valid argument (`x < minimum`
/// or NaN).
pub(crate) fn nan_if_invalid(
    x: f64,
    minimum: f64,
    values: &mut ArrayViewMut2<f64>,
    gradients: &mut Option<ArrayViewMut2<f64>>,
) -> bool {
    if x.is_nan() || x < minimum {
        values.fill(f64::NAN);
        if let Some(g) = gradients.as_mut() {
            g.fill(f64::NAN);
        }
        return true;
    }
    false
}

/// [`RadialIntegral::compute`] through a flat kernel `flat(values, gradients)` that writes index
/// `n (l_max + 1) + l`: straight into contiguous outputs (no allocation: the hot path), through
/// temporary buffers only for strided ones.
pub(crate) fn compute_with_flat(
    mut values: ArrayViewMut2<f64>,
    mut gradients: Option<ArrayViewMut2<f64>>,
    flat: impl FnOnce(&mut [f64], Option<&mut [f64]>),
) {
    let contiguous =
        values.is_standard_layout() && gradients.as_ref().is_none_or(|g| g.is_standard_layout());
    if contiguous {
        let v = values.as_slice_mut().expect("standard layout");
        let g = gradients
            .as_mut()
            .map(|g| g.as_slice_mut().expect("standard layout"));
        return flat(v, g);
    }
    // fresh arrays are in standard layout whatever the outputs' strides
    let mut v = ndarray::Array2::zeros(values.raw_dim());
    let mut g = gradients
        .as_ref()
        .map(|g| ndarray::Array2::zeros(g.raw_dim()));
    flat(
        v.as_slice_mut().expect("owned arrays are contiguous"),
        g.as_mut()
            .map(|g| g.as_slice_mut().expect("owned arrays are contiguous")),
    );
    values.assign(&v);
    if let (Some(out), Some(g)) = (gradients.as_mut(), g) {
        out.assign(&g);
    }
}

/// `values[n, l] = Σ_n' S^{-1/2}_{nn'} raw(n', l)` (and the same for the gradients): the Löwdin
/// orthonormalisation shared by the exact integrals, whose `raw(n, l)` returns the raw-GTO
/// value and gradient.
pub(crate) fn orthonormalise_into(
    orthonormaliser: ndarray::ArrayView2<f64>,
    l_max: usize,
    raw: impl Fn(usize, usize) -> (f64, f64),
    mut values: ArrayViewMut2<f64>,
    mut gradients: Option<ArrayViewMut2<f64>>,
) {
    let n_max = orthonormaliser.nrows();
    let mut column = [0.0; soap::MAX_N_MAX];
    let mut column_gradient = [0.0; soap::MAX_N_MAX];
    for l in 0..=l_max {
        for n in 0..n_max {
            (column[n], column_gradient[n]) = raw(n, l);
        }
        for n in 0..n_max {
            let row = orthonormaliser.row(n);
            values[[n, l]] = row.iter().zip(&column).map(|(t, p)| t * p).sum();
            if let Some(g) = gradients.as_mut() {
                g[[n, l]] = row.iter().zip(&column_gradient).map(|(t, p)| t * p).sum();
            }
        }
    }
}

#[cfg(test)]
mod tests;
