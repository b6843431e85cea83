//! Cubic Hermite splines on a uniform grid, for many functions of one variable at once.
//!
//! Nodes `x_i = i h`, `h = x_max / n_intervals`, carry the values `y_i` and exact derivatives
//! `y'_i` of each function. On interval `i`, with `t = (x − x_i)/h ∈ [0, 1]`,
//! $$ p(t) = y_i + h y'_i t + \big(3(y_{i+1} − y_i) − h(2y'_i + y'_{i+1})\big) t^2
//!         + \big(2(y_i − y_{i+1}) + h(y'_i + y'_{i+1})\big) t^3 $$
//! and `dp/dx = p'(t)/h`. The interpolation error is `f⁗(ξ) h⁴ t²(1−t)²/24`, largest at
//! interval midpoints (`h⁴ f⁗/384`).
//!
//! Storage: the four coefficients are kept per interval as `(n_intervals, 4, n_functions)`, so
//! evaluating all functions at one `x` reads one contiguous block and the loop over functions
//! vectorises; nothing is allocated per evaluation.
//!
//! Outside `[0, x_max]` (and for NaN) every value and derivative is **zero**: callers that need
//! another continuation must handle it themselves.

use ndarray::ArrayView2;

use crate::bail_param;
use crate::error::Result;
use crate::math::simd::with_avx2;

/// Many cubic Hermite splines sharing one uniform grid on `[0, x_max]`.
#[derive(Debug, Clone)]
pub struct HermiteSplines {
    n_functions: usize,
    n_intervals: usize,
    x_max: f64,
    step: f64,
    inverse_step: f64,
    /// shape `(n_intervals, 4, n_functions)`, polynomial coefficients in `t`
    coefficients: Vec<f64>,
}

impl HermiteSplines {
    /// Build from node values and derivatives, both of shape `(n_nodes, n_functions)` with
    /// `n_nodes ≥ 2` nodes uniformly spaced on `[0, x_max]`, `x_max > 0`.
    pub fn new(
        x_max: f64,
        values: ArrayView2<'_, f64>,
        derivatives: ArrayView2<'_, f64>,
    ) -> Result<HermiteSplines> {
        if !(x_max.is_finite() && x_max > 0.0) {
            bail_param!("spline range must be positive and finite, got x_max = {x_max}");
        }
        if values.dim() != derivatives.dim() {
            bail_param!(
                "spline values {:?} and derivatives {:?} differ in shape",
                values.dim(),
                derivatives.dim()
            );
        }
        let (n_nodes, n_functions) = values.dim();
        if n_nodes < 2 {
            bail_param!("a spline needs at least 2 nodes, got {n_nodes}");
        }
        let n_intervals = n_nodes - 1;
        let step = x_max / n_intervals as f64;
        let mut coefficients = vec![0.0; n_intervals * 4 * n_functions];
        for (i, block) in coefficients.chunks_exact_mut(4 * n_functions).enumerate() {
            let (c0, rest) = block.split_at_mut(n_functions);
            let (c1, rest) = rest.split_at_mut(n_functions);
            let (c2, c3) = rest.split_at_mut(n_functions);
            for j in 0..n_functions {
                let (y0, y1) = (values[[i, j]], values[[i + 1, j]]);
                let (m0, m1) = (step * derivatives[[i, j]], step * derivatives[[i + 1, j]]);
                c0[j] = y0;
                c1[j] = m0;
                c2[j] = 3.0 * (y1 - y0) - 2.0 * m0 - m1;
                c3[j] = 2.0 * (y0 - y1) + m0 + m1;
            }
        }
        Ok(HermiteSplines {
            n_functions,
            n_intervals,
            x_max,
            step,
            inverse_step: 1.0 / step,
            coefficients,
        })
    }

    /// Number of functions splined together.
    pub fn n_functions(&self) -> usize {
        self.n_functions
    }

    /// Number of grid intervals (nodes − 1).
    pub fn n_intervals(&self) -> usize {
        self.n_intervals
    }

    /// Upper end of the grid.
    pub fn x_max(&self) -> f64 {
        self.x_max
    }

    /// Grid spacing `h`.
    pub fn step(&self) -> f64 {
        self.step
    }

    /// The interval holding `x` and the local coordinate `t ∈ [0, 1]`; `None` outside `[0, x_max]`.
    #[inline]
    fn locate(&self, x: f64) -> Option<(usize, f64)> {
        if !(x >= 0.0 && x <= self.x_max) {
            return None;
        }
        let position = x * self.inverse_step;
        let interval = (position as usize).min(self.n_intervals - 1);
        Some((interval, position - interval as f64))
    }

    /// Values (and, when given, `d/dx`) of all functions at `x` into slices of length
    /// `n_functions`. Zeros outside `[0, x_max]`.
    #[inline]
    pub fn evaluate(&self, x: f64, values: &mut [f64], derivatives: Option<&mut [f64]>) {
        let n = self.n_functions;
        assert_eq!(values.len(), n, "values must have length n_functions");
        let Some((interval, t)) = self.locate(x) else {
            values.fill(0.0);
            if let Some(derivatives) = derivatives {
                assert_eq!(
                    derivatives.len(),
                    n,
                    "derivatives must have length n_functions"
                );
                derivatives.fill(0.0);
            }
            return;
        };
        let [_, c1, c2, c3] = self.values_at(interval, t, values);
        if let Some(derivatives) = derivatives {
            assert_eq!(
                derivatives.len(),
                n,
                "derivatives must have length n_functions"
            );
            let (u, v) = (2.0 * t, 3.0 * t * t);
            let inv_h = self.inverse_step;
            for j in 0..n {
                derivatives[j] = (c1[j] + u * c2[j] + v * c3[j]) * inv_h;
            }
        }
    }

    /// Values of all functions at every `x` of `xs` into `values`, `(xs.len(), n_functions)`
    /// row-major: the same numbers as [`evaluate`](Self::evaluate) point by point, without its
    /// per-call checks.
    #[inline]
    pub fn evaluate_many(&self, xs: &[f64], values: &mut [f64]) {
        let n = self.n_functions;
        assert_eq!(
            values.len(),
            xs.len() * n,
            "values must have length xs.len() · n_functions"
        );
        with_avx2(
            #[inline(always)]
            || {
                for (&x, out) in xs.iter().zip(values.chunks_exact_mut(n)) {
                    match self.locate(x) {
                        Some((interval, t)) => {
                            self.values_at(interval, t, out);
                        }
                        None => out.fill(0.0),
                    }
                }
            },
        )
    }

    /// Values and `d/dx` of all functions at every `x` of `xs`, both `(xs.len(), n_functions)`
    /// row-major: the same numbers as [`evaluate`](Self::evaluate) with derivatives, point by
    /// point (the values are bitwise those of [`evaluate_many`](Self::evaluate_many)); zeros
    /// outside `[0, x_max]`.
    #[inline]
    pub fn evaluate_many_with_derivatives(
        &self,
        xs: &[f64],
        values: &mut [f64],
        derivatives: &mut [f64],
    ) {
        let n = self.n_functions;
        assert_eq!(
            values.len(),
            xs.len() * n,
            "values must have length xs.len() · n_functions"
        );
        assert_eq!(
            derivatives.len(),
            xs.len() * n,
            "derivatives must have length xs.len() · n_functions"
        );
        let inv_h = self.inverse_step;
        with_avx2(
            #[inline(always)]
            || {
                let rows = values
                    .chunks_exact_mut(n)
                    .zip(derivatives.chunks_exact_mut(n));
                for (&x, (out, slope)) in xs.iter().zip(rows) {
                    match self.locate(x) {
                        Some((interval, t)) => {
                            let [_, c1, c2, c3] = self.values_at(interval, t, out);
                            let (u, v) = (2.0 * t, 3.0 * t * t);
                            for j in 0..n {
                                slope[j] = (c1[j] + u * c2[j] + v * c3[j]) * inv_h;
                            }
                        }
                        None => {
                            out.fill(0.0);
                            slope.fill(0.0);
                        }
                    }
                }
            },
        )
    }

    /// The polynomials of `interval` at `t` into `values`; returns the interval's four
    /// coefficient rows.
    #[inline(always)]
    fn values_at(&self, interval: usize, t: f64, values: &mut [f64]) -> [&[f64]; 4] {
        let n = self.n_functions;
        let block = &self.coefficients[interval * 4 * n..(interval + 1) * 4 * n];
        let (c0, rest) = block.split_at(n);
        let (c1, rest) = rest.split_at(n);
        let (c2, c3) = rest.split_at(n);
        for j in 0..n {
            values[j] = c0[j] + t * (c1[j] + t * (c2[j] + t * c3[j]));
        }
        [c0, c1, c2, c3]
    }

    /// As [`evaluate`](Self::evaluate), handing `(function index, value, derivative)` to `sink`
    /// (for outputs that are not contiguous slices).
    #[inline]
    pub fn evaluate_each(&self, x: f64, mut sink: impl FnMut(usize, f64, f64)) {
        let n = self.n_functions;
        let Some((interval, t)) = self.locate(x) else {
            (0..n).for_each(|j| sink(j, 0.0, 0.0));
            return;
        };
        let block = &self.coefficients[interval * 4 * n..(interval + 1) * 4 * n];
        let (u, v) = (2.0 * t, 3.0 * t * t);
        for j in 0..n {
            let (c0, c1, c2, c3) = (block[j], block[n + j], block[2 * n + j], block[3 * n + j]);
            let value = c0 + t * (c1 + t * (c2 + t * c3));
            let derivative = (c1 + u * c2 + v * c3) * self.inverse_step;
            sink(j, value, derivative);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn reproduces_cubics_exactly() {
        // p(x) = 1 − 2x + 0.5x² + 0.25x³ and a second function sin-free cubic
        let f = |x: f64| {
            [
                1.0 - 2.0 * x + 0.5 * x * x + 0.25 * x.powi(3),
                3.0 * x.powi(3),
            ]
        };
        let df = |x: f64| [-2.0 + x + 0.75 * x * x, 9.0 * x * x];
        let (x_max, n_nodes) = (3.0, 7);
        let mut values = Array2::zeros((n_nodes, 2));
        let mut derivatives = Array2::zeros((n_nodes, 2));
        for i in 0..n_nodes {
            let x = x_max * i as f64 / (n_nodes - 1) as f64;
            for j in 0..2 {
                values[[i, j]] = f(x)[j];
                derivatives[[i, j]] = df(x)[j];
            }
        }
        let spline = HermiteSplines::new(x_max, values.view(), derivatives.view()).unwrap();
        let (mut v, mut d) = ([0.0; 2], [0.0; 2]);
        for &x in &[0.0, 0.1, 0.77, 1.5, 2.999, 3.0] {
            spline.evaluate(x, &mut v, Some(&mut d));
            for j in 0..2 {
                assert!((v[j] - f(x)[j]).abs() < 1e-13, "x={x}");
                assert!((d[j] - df(x)[j]).abs() < 1e-12, "x={x}");
            }
            spline.evaluate_each(x, |j, value, derivative| {
                assert_eq!(value, v[j]);
                assert_eq!(derivative, d[j]);
            });
        }
        spline.evaluate(3.5, &mut v, Some(&mut d));
        assert_eq!(v, [0.0; 2]);
        assert_eq!(d, [0.0; 2]);
        spline.evaluate(-0.1, &mut v, None);
        assert_eq!(v, [0.0; 2]);
    }

    #[test]
    fn many_match_single_bitwise() {
        let (n_nodes, n_functions) = (9, 5);
        let values =
            Array2::from_shape_fn((n_nodes, n_functions), |(i, j)| ((i * 7 + j) as f64).sin());
        let derivatives =
            Array2::from_shape_fn((n_nodes, n_functions), |(i, j)| ((i * 3 + j) as f64).cos());
        let spline = HermiteSplines::new(2.0, values.view(), derivatives.view()).unwrap();
        let xs = [0.0, 0.3, 1.0, 1.2345, 1.999, 2.0, 2.5, -0.1, f64::NAN];
        let mut many = vec![f64::NAN; xs.len() * n_functions];
        spline.evaluate_many(&xs, &mut many);
        let mut one = vec![0.0; n_functions];
        for (p, &x) in xs.iter().enumerate() {
            spline.evaluate(x, &mut one, None);
            for j in 0..n_functions {
                assert_eq!(
                    many[p * n_functions + j].to_bits(),
                    one[j].to_bits(),
                    "x = {x}"
                );
            }
        }
    }

    /// The batched values and derivatives equal the one-point evaluation bitwise, and the
    /// derivative of the spline of `sin` equals central differences of the spline itself
    /// (step 1e-5: error ~1e-10 against derivatives of order 1, far below a factor-2 slip).
    #[test]
    fn many_with_derivatives_match_single_and_finite_differences() {
        let (n_nodes, n_functions) = (11, 3);
        let x_max = 2.0;
        let node = |i: usize| x_max * i as f64 / (n_nodes - 1) as f64;
        let values = Array2::from_shape_fn((n_nodes, n_functions), |(i, j)| {
            (node(i) * (j + 1) as f64).sin()
        });
        let derivatives = Array2::from_shape_fn((n_nodes, n_functions), |(i, j)| {
            (j + 1) as f64 * (node(i) * (j + 1) as f64).cos()
        });
        let spline = HermiteSplines::new(x_max, values.view(), derivatives.view()).unwrap();
        let xs = [0.0, 0.3, 1.0, 1.2345, 1.999, 2.0, 2.5, -0.1, f64::NAN];
        let mut many = vec![f64::NAN; xs.len() * n_functions];
        let mut slopes = vec![f64::NAN; xs.len() * n_functions];
        spline.evaluate_many_with_derivatives(&xs, &mut many, &mut slopes);
        let mut plain = vec![f64::NAN; xs.len() * n_functions];
        spline.evaluate_many(&xs, &mut plain);
        let (mut one, mut d) = (vec![0.0; n_functions], vec![0.0; n_functions]);
        for (p, &x) in xs.iter().enumerate() {
            spline.evaluate(x, &mut one, Some(&mut d));
            for j in 0..n_functions {
                let k = p * n_functions + j;
                assert_eq!(many[k].to_bits(), one[j].to_bits(), "x = {x}");
                assert_eq!(plain[k].to_bits(), one[j].to_bits(), "x = {x}");
                assert_eq!(slopes[k].to_bits(), d[j].to_bits(), "x = {x}");
            }
        }
        let h = 1e-5;
        let (mut plus, mut minus) = (vec![0.0; n_functions], vec![0.0; n_functions]);
        for &x in &[0.1, 0.55, 1.3, 1.9] {
            spline.evaluate(x, &mut one, Some(&mut d));
            spline.evaluate(x + h, &mut plus, None);
            spline.evaluate(x - h, &mut minus, None);
            for j in 0..n_functions {
                let fd = (plus[j] - minus[j]) / (2.0 * h);
                assert!(
                    (fd - d[j]).abs() < 1e-8,
                    "x = {x}, function {j}: {fd} vs {}",
                    d[j]
                );
            }
        }
    }

    #[test]
    fn fourth_order_convergence() {
        let error = |n_intervals: usize| {
            let n_nodes = n_intervals + 1;
            let x_max = 2.0;
            let xs: Vec<f64> = (0..n_nodes)
                .map(|i| x_max * i as f64 / n_intervals as f64)
                .collect();
            let values = Array2::from_shape_fn((n_nodes, 1), |(i, _)| xs[i].sin());
            let derivatives = Array2::from_shape_fn((n_nodes, 1), |(i, _)| xs[i].cos());
            let spline = HermiteSplines::new(x_max, values.view(), derivatives.view()).unwrap();
            let mut v = [0.0];
            (0..1000)
                .map(|k| {
                    let x = x_max * (k as f64 + 0.5) / 1000.0;
                    spline.evaluate(x, &mut v, None);
                    (v[0] - x.sin()).abs()
                })
                .fold(0.0, f64::max)
        };
        let ratio = error(10) / error(20);
        assert!((ratio - 16.0).abs() < 1.0, "ratio {ratio}");
        // bound h⁴ max|f⁗| / 384
        assert!(error(10) <= 0.2f64.powi(4) / 384.0 * 1.0001);
    }

    #[test]
    fn invalid() {
        let a = Array2::<f64>::zeros((1, 3));
        assert!(HermiteSplines::new(1.0, a.view(), a.view()).is_err());
        let b = Array2::<f64>::zeros((4, 3));
        assert!(HermiteSplines::new(0.0, b.view(), b.view()).is_err());
        assert!(HermiteSplines::new(1.0, b.view(), a.view()).is_err());
    }
}
