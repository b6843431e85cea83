//! A radial integral tabulated once and evaluated by cubic Hermite interpolation.
//!
//! Built from any exact [`RadialIntegral`] on `[0, x_max]`: values and exact derivatives at
//! `n_intervals + 1` uniform nodes, starting from [`INITIAL_INTERVALS`] and doubling until the
//! largest absolute error at the interval midpoints (where the Hermite error `h⁴ f⁗ t²(1−t)²/24`
//! peaks), over all `(n, l)`, is below the requested accuracy. The midpoints evaluated for the
//! check become nodes of the next, doubled grid, so no exact evaluation is wasted.
//!
//! Beyond `x_max` (and below 0) the splined integral is **zero**, values and gradients: the
//! callers (SOAP with `x_max = cutoff`, the k route with `x_max = k_cut`) never ask there.

use ndarray::{Array2, ArrayViewMut2};

use super::{evaluate_many, RadialIntegral};
use crate::bail_param;
use crate::error::{Error, Result};
use crate::math::splines::HermiteSplines;

/// Number of intervals of the first grid.
pub const INITIAL_INTERVALS: usize = 16;
/// Largest grid tried (intervals).
pub const MAX_INTERVALS: usize = 1 << 16;
/// Largest coefficient table (f64 values, 4 per function per interval): 64 MiB.
pub const MAX_TABLE_SIZE: usize = 1 << 23;

/// Cubic Hermite spline of a radial integral on `[0, x_max]`; see the module documentation.
#[derive(Debug, Clone)]
pub struct SplinedRadialIntegral {
    n_max: usize,
    l_max: usize,
    spline: HermiteSplines,
    max_error: f64,
}

/// Exact values and gradients at `xs`, each flattened to `(len, n_max * (l_max + 1))`.
fn tabulate(exact: &dyn RadialIntegral, xs: &[f64]) -> (Array2<f64>, Array2<f64>) {
    let width = exact.n_max() * (exact.l_max() + 1);
    let (values, gradients) = evaluate_many(exact, xs);
    let flatten = |a: ndarray::Array3<f64>| {
        a.into_shape_with_order((xs.len(), width))
            .expect("standard layout")
    };
    (flatten(values), flatten(gradients))
}

impl SplinedRadialIntegral {
    /// Spline `exact` on `[0, x_max]` to absolute accuracy `accuracy` (max over all `(n, l)`
    /// of the midpoint error). Errors (`InvalidParameter`) for `x_max` or `accuracy` not
    /// positive and finite, or when the accuracy needs more than [`MAX_INTERVALS`] intervals or
    /// a table above [`MAX_TABLE_SIZE`] values (detected early from the `h⁴` decay of the
    /// error, so an impossible request fails fast); `Internal` if the exact integral is not
    /// finite.
    pub fn new(exact: &dyn RadialIntegral, x_max: f64, accuracy: f64) -> Result<Self> {
        if !(x_max.is_finite() && x_max > 0.0) {
            bail_param!("spline range must be positive and finite, got {x_max}");
        }
        if !(accuracy.is_finite() && accuracy > 0.0) {
            bail_param!("spline accuracy must be positive and finite, got {accuracy}");
        }
        let (n_max, l_max) = (exact.n_max(), exact.l_max());
        let width = n_max * (l_max + 1);

        let mut n_intervals = INITIAL_INTERVALS;
        let nodes =
            |n: usize| -> Vec<f64> { (0..=n).map(|i| x_max * i as f64 / n as f64).collect() };
        let midpoints_of = |n: usize| -> Vec<f64> {
            (0..n)
                .map(|i| x_max * (i as f64 + 0.5) / n as f64)
                .collect()
        };
        let (mut node_values, mut node_gradients) = tabulate(exact, &nodes(n_intervals));
        loop {
            crate::threads::check_cancelled()?;
            if node_values
                .iter()
                .chain(node_gradients.iter())
                .any(|v| !v.is_finite())
            {
                return Err(Error::Internal(
                    "the exact radial integral is not finite on the spline grid".into(),
                ));
            }
            let spline = HermiteSplines::new(x_max, node_values.view(), node_gradients.view())?;
            let midpoints = midpoints_of(n_intervals);
            let (mid_values, mid_gradients) = tabulate(exact, &midpoints);
            let mut interpolated = vec![0.0; width];
            let mut max_error = 0.0_f64;
            for (i, &x) in midpoints.iter().enumerate() {
                spline.evaluate(x, &mut interpolated, None);
                for (s, e) in interpolated.iter().zip(mid_values.row(i)) {
                    max_error = max_error.max((s - e).abs());
                }
            }
            if max_error.is_nan() {
                return Err(Error::Internal(
                    "the exact radial integral is not finite on the spline grid".into(),
                ));
            }
            if max_error <= accuracy {
                return Ok(SplinedRadialIntegral {
                    n_max,
                    l_max,
                    spline,
                    max_error,
                });
            }
            let doubled = 2 * n_intervals;
            // the error falls as h⁴: give up early when even a generous extrapolation
            // (4× the h⁴ estimate) needs more intervals than allowed
            let needed = n_intervals as f64 * (max_error / accuracy).powf(0.25);
            let allowed = MAX_INTERVALS.min(MAX_TABLE_SIZE / (4 * width));
            if doubled > allowed || needed > 4.0 * allowed as f64 {
                bail_param!(
                    "spline accuracy {accuracy:e} not reached with {n_intervals} intervals on \
                     [0, {x_max}] (max error {max_error:.3e}); ask for a looser accuracy"
                );
            }
            // interleave old nodes and midpoints into the doubled grid
            let mut values = Array2::zeros((doubled + 1, width));
            let mut gradients = Array2::zeros((doubled + 1, width));
            for i in 0..=n_intervals {
                values.row_mut(2 * i).assign(&node_values.row(i));
                gradients.row_mut(2 * i).assign(&node_gradients.row(i));
                if i < n_intervals {
                    values.row_mut(2 * i + 1).assign(&mid_values.row(i));
                    gradients.row_mut(2 * i + 1).assign(&mid_gradients.row(i));
                }
            }
            node_values = values;
            node_gradients = gradients;
            n_intervals = doubled;
        }
    }

    /// Number of grid intervals chosen.
    pub fn n_intervals(&self) -> usize {
        self.spline.n_intervals()
    }

    /// Upper end of the splined range.
    pub fn x_max(&self) -> f64 {
        self.spline.x_max()
    }

    /// Largest absolute midpoint error measured when the grid was accepted.
    pub fn max_error(&self) -> f64 {
        self.max_error
    }

    /// Values (and gradients) for all `(n, l)` at `x` into flat slices of length
    /// `n_max * (l_max + 1)`, index `n * (l_max + 1) + l`: the allocation-free hot path.
    #[inline]
    pub fn compute_flat(&self, x: f64, values: &mut [f64], gradients: Option<&mut [f64]>) {
        self.spline.evaluate(x, values, gradients);
    }
}

impl RadialIntegral for SplinedRadialIntegral {
    fn n_max(&self) -> usize {
        self.n_max
    }

    fn l_max(&self) -> usize {
        self.l_max
    }

    /// Interpolated values; zeros outside `[0, x_max]`.
    fn compute(&self, x: f64, values: ArrayViewMut2<f64>, gradients: Option<ArrayViewMut2<f64>>) {
        super::check_shapes(&values, &gradients, self.n_max, self.l_max);
        super::compute_with_flat(values, gradients, |v, g| self.spline.evaluate(x, v, g));
    }

    fn compute_many(&self, xs: &[f64], values: &mut [f64]) {
        self.spline.evaluate_many(xs, values);
    }

    fn compute_many_with_gradients(&self, xs: &[f64], values: &mut [f64], gradients: &mut [f64]) {
        self.spline
            .evaluate_many_with_derivatives(xs, values, gradients);
    }
}
