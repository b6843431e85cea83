//! The Chebyshev interpolation of a slab's `k_∥ = 0` line in the atom heights
//! (`docs/math.md` §15.2): a pair function `χ(z_i − z_j)` on the padded interval
//! `[z_min − δ, z_max + δ]` of the slab's heights, in the affine form
//!
//! `I(z_i, z_j) = Σ_ab ℓ_a(u_i) χ(h (t_a − t_b)) ℓ_b(u_j)`,   `u = (z − m)/h`,
//!
//! with `t_a` the Chebyshev nodes of `[−1, 1]`, `ℓ_a` their Lagrange basis, `m = (z_min +
//! z_max)/2` and `h = (z_max − z_min)/2 + δ`. The padding `δ` keeps the interval open for a
//! monolayer, so that the interpolant also carries the slope `χ'(0)` its gradient needs. The
//! form is exactly invariant under a translation of every height (`m` moves with them) and
//! under a common scaling about the origin the nodes move with the heights, which the gradients
//! of [`super::slab_gradients`] differentiate through `m` and `h`.

use rayon::prelude::*;

use super::slab_line::LineKernel;
use crate::error::{Error, Result};
use crate::systems::SlabGeometry;

/// Padding `δ` (Å) of the interpolation interval on either side of the heights.
pub(in crate::expansion::lode) const PADDING: f64 = 1.0;
/// Largest number of Chebyshev nodes per height variable.
const MAX_NODES: usize = 256;

/// Chebyshev nodes (first kind) on `[−1, 1]` and their barycentric weights.
pub(super) fn chebyshev(count: usize) -> (Vec<f64>, Vec<f64>) {
    (0..count)
        .map(|a| {
            let angle = (2 * a + 1) as f64 * std::f64::consts::PI / (2 * count) as f64;
            let sign = if a % 2 == 0 { 1.0 } else { -1.0 };
            (angle.cos(), sign * angle.sin())
        })
        .unzip()
}

/// Lagrange basis `ℓ_a(x)` of the nodes (barycentric form) into `out`.
pub(super) fn lagrange(nodes: &[f64], weights: &[f64], x: f64, out: &mut [f64]) {
    if let Some(a) = nodes.iter().position(|&node| node == x) {
        out.fill(0.0);
        out[a] = 1.0;
        return;
    }
    let mut total = 0.0;
    for ((o, &node), &w) in out.iter_mut().zip(nodes).zip(weights) {
        *o = w / (x - node);
        total += *o;
    }
    for o in out.iter_mut() {
        *o /= total;
    }
}

/// The interpolation of one slab's `χ` in the heights; see the module documentation.
pub(in crate::expansion::lode) struct Interpolant {
    /// Number `K` of nodes per variable.
    pub count: usize,
    /// Nodes `t_a` on `[−1, 1]` and barycentric weights.
    nodes: Vec<f64>,
    weights: Vec<f64>,
    /// Differentiation matrix `D[a K + b] = ℓ_b'(t_a)`, so `ℓ_b'(u) = Σ_a ℓ_a(u) D_ab`
    /// (exact: `ℓ_b'` has degree `K − 2`).
    derivative: Vec<f64>,
    /// Centre `m` and half-width `h` of the interval; the atoms at its lower and upper ends.
    pub mid: f64,
    pub half: f64,
    pub low_atom: usize,
    pub high_atom: usize,
    /// `χ(h (t_a − t_b))` at `[(a K + b) n_cols + col]`.
    pub table: Vec<f64>,
}

impl Interpolant {
    /// Fit `kernel`'s `χ` for `slab`: `K` doubles from 1 until the interpolant matches direct
    /// evaluations at 49 test pairs of heights within `allowed` (absolute, on `χ`).
    pub fn new(kernel: &LineKernel, slab: &SlabGeometry, allowed: f64) -> Result<Interpolant> {
        let n_cols = kernel.n_cols();
        let heights = &slab.heights;
        let low_atom = argmin(heights, |a, b| a < b);
        let high_atom = argmin(heights, |a, b| a > b);
        let (low, high) = (heights[low_atom], heights[high_atom]);
        let mid = 0.5 * (low + high);
        let half = 0.5 * (high - low) + PADDING;
        // test points of u: the ends and points between the nodes of every size tried
        let tests: Vec<f64> = [0.0, 0.0137, 0.309, 0.5, 0.7731, 0.9911, 1.0]
            .iter()
            .map(|s| 2.0 * s - 1.0)
            .collect();
        let n_tests = tests.len();
        let direct: Vec<Vec<f64>> = (0..n_tests * n_tests)
            .into_par_iter()
            .map(|xy| {
                let mut v = vec![0.0; n_cols];
                kernel.chi(half * (tests[xy / n_tests] - tests[xy % n_tests]), &mut v);
                v
            })
            .collect();
        let mut count = 1;
        loop {
            let (nodes, weights) = chebyshev(count);
            let table = node_table(kernel, &nodes, half, LineKernel::chi);
            let mut lx = vec![0.0; count];
            let mut ly = vec![0.0; count];
            let mut worst = 0.0_f64;
            for (xy, exact) in direct.iter().enumerate() {
                lagrange(&nodes, &weights, tests[xy / n_tests], &mut lx);
                lagrange(&nodes, &weights, tests[xy % n_tests], &mut ly);
                for (col, e) in exact.iter().enumerate() {
                    let mut v = 0.0;
                    for a in 0..count {
                        for b in 0..count {
                            v += lx[a] * ly[b] * table[(a * count + b) * n_cols + col];
                        }
                    }
                    worst = worst.max((v - e).abs());
                }
            }
            if worst <= allowed {
                let derivative = differentiation_matrix(&nodes, &weights);
                return Ok(Interpolant {
                    count,
                    nodes,
                    weights,
                    derivative,
                    mid,
                    half,
                    low_atom,
                    high_atom,
                    table,
                });
            }
            if count >= MAX_NODES {
                return Err(Error::Internal(format!(
                    "slab route: the k_∥ = 0 correction did not reach {allowed:.2e} with \
                     {count} Chebyshev nodes (error {worst:.2e})"
                )));
            }
            count *= 2;
        }
    }

    /// `u = (z − m)/h` of a height.
    pub fn reduced(&self, z: f64) -> f64 {
        (z - self.mid) / self.half
    }

    /// `ℓ_a(u)` into `out` (length `K`).
    pub fn basis(&self, u: f64, out: &mut [f64]) {
        lagrange(&self.nodes, &self.weights, u, out);
    }

    /// `ℓ_a(u)` into `values` and `dℓ_a/du` into `slopes`.
    pub fn basis_with_slopes(&self, u: f64, values: &mut [f64], slopes: &mut [f64]) {
        self.basis(u, values);
        let k = self.count;
        slopes.fill(0.0);
        for (a, &la) in values.iter().enumerate() {
            for (s, d) in slopes.iter_mut().zip(&self.derivative[a * k..(a + 1) * k]) {
                *s += la * d;
            }
        }
    }

    /// `f(h (t_a − t_b))` at every pair of nodes, laid out as [`table`](Self::table), for a
    /// column function `f` of the kernel (`χ'` or `∂χ/∂L`).
    pub fn table_of(&self, kernel: &LineKernel, f: fn(&LineKernel, f64, &mut [f64])) -> Vec<f64> {
        node_table(kernel, &self.nodes, self.half, f)
    }

    /// `h (t_a − t_b)` of the pair `ab = a K + b`.
    pub fn difference(&self, ab: usize) -> f64 {
        self.half * (self.nodes[ab / self.count] - self.nodes[ab % self.count])
    }
}

/// Index of the first extreme value (`before(a, b)`: `a` comes strictly before `b`).
fn argmin(values: &[f64], before: impl Fn(f64, f64) -> bool) -> usize {
    let mut best = 0;
    for (j, &v) in values.iter().enumerate() {
        if before(v, values[best]) {
            best = j;
        }
    }
    best
}

/// `D[a K + b] = ℓ_b'(t_a)`: `(w_b/w_a)/(t_a − t_b)` off the diagonal, minus the row sum on it.
fn differentiation_matrix(nodes: &[f64], weights: &[f64]) -> Vec<f64> {
    let k = nodes.len();
    let mut d = vec![0.0; k * k];
    for a in 0..k {
        let mut diagonal = 0.0;
        for b in 0..k {
            if a != b {
                let v = weights[b] / weights[a] / (nodes[a] - nodes[b]);
                d[a * k + b] = v;
                diagonal -= v;
            }
        }
        d[a * k + a] = diagonal;
    }
    d
}

/// `f(h (t_a − t_b))` for every pair of nodes, `[(a · K + b) · n_cols + col]`.
fn node_table(
    kernel: &LineKernel,
    nodes: &[f64],
    half: f64,
    f: fn(&LineKernel, f64, &mut [f64]),
) -> Vec<f64> {
    let n_cols = kernel.n_cols();
    let k = nodes.len();
    let rows: Vec<Vec<f64>> = (0..k * k)
        .into_par_iter()
        .map(|ab| {
            let mut out = vec![0.0; n_cols];
            f(kernel, half * (nodes[ab / k] - nodes[ab % k]), &mut out);
            out
        })
        .collect();
    rows.concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Chebyshev interpolation reproduces a smooth function and its derivative.
    #[test]
    fn lagrange_interpolates_values_and_slopes() {
        let (nodes, weights) = chebyshev(16);
        let d = differentiation_matrix(&nodes, &weights);
        let mut l = [0.0; 16];
        let mut s = [0.0; 16];
        for x in [-1.0, 0.3, 0.99, 1.0, nodes[3], nodes[3] + 1e-12] {
            lagrange(&nodes, &weights, x, &mut l);
            let v: f64 = l.iter().zip(&nodes).map(|(a, n)| a * (0.3 * n).exp()).sum();
            assert!((v - (0.3 * x).exp()).abs() < 1e-13, "{x} {v}");
            s.fill(0.0);
            for a in 0..16 {
                for b in 0..16 {
                    s[b] += l[a] * d[a * 16 + b];
                }
            }
            let slope: f64 = s.iter().zip(&nodes).map(|(a, n)| a * (0.3 * n).exp()).sum();
            assert!((slope - 0.3 * (0.3 * x).exp()).abs() < 1e-12, "{x} {slope}");
        }
    }
}
