//! The one description of a k-space basis that the three k-space engines consume: the dense
//! contraction ([`super::dense_sum`]), the sum by shells ([`super::shell_sum`]) and the particle
//! mesh (`crate::mesh::separable_mesh_sum`).
//!
//! A separable basis is a radial factor of `|k|` times an angular factor of `k`
//! (`docs/math.md` §3b):
//!
//! `B[k, r · n_ang + u] = R[r, group(u)](|k|) · A_u(k)`,
//!
//! with the column's parity `odd(u)`: even columns pair with the cosine sums `F_even`, odd ones
//! with the sine sums `F_odd` (for LODE `r = n`, `u = (l, m)`, `group(u) = l`, `odd(u) = l odd`,
//! `R = (4π/V) ĝ(|k|) Ĩ_nl(|k|) φ_l`, `A = Y_lm(k̂)`). Every engine evaluates `R` and `A` through
//! this trait and forms their product `R · A` in that order, so that the three give the same
//! basis to the bit; an adjoint (gradient) of an engine needs only this trait besides the
//! engine: the derivatives `dR/d|k|` ([`SeparableBasis::radial_derivative`]) and `∇_k A`
//! ([`SeparableBasis::angular_with_gradient`]).
//!
//! Strain (`docs/math.md` §13): under `x → (1 + ε) x` the k-vectors move as
//! `k → (1 + ε)^{−T} k` (`∂k_c/∂ε_ab = −δ_cb k_a`) and `V → V det(1 + ε)`. A basis depends on the
//! cell through `k` and through one factor `1/V` in `R` (every implementor must keep to that),
//! so
//!
//! `∂B[k, q]/∂ε_ab = −δ_ab B[k, q] − k_a ∂B[k, q]/∂k_b`,
//! `∂B/∂k_b = R'(|k|) (k_b/|k|) A_u(k) + R(|k|) ∂A_u/∂k_b`
//!
//! ([`SeparableBasis::fill_strain_rows`]); the phases `k·(r_i − r_j)` do not change.

use std::ops::Range;

use ndarray::{Array2, ArrayViewMut2, ArrayViewMut3, Axis};

use super::k_vectors::KVectors;
use crate::systems::Vec3;

/// A basis `B[k, r · n_ang + u] = R[r, group(u)](|k|) · A_u(k)` (module docs).
pub trait SeparableBasis: Sync {
    /// Number of radial functions `r`.
    fn n_radial(&self) -> usize;

    /// Number of radial groups (columns of the radial factor).
    fn n_groups(&self) -> usize;

    /// Parity of each angular column `u` (`n_ang` entries): odd columns pair with the sines.
    fn odd(&self) -> &[bool];

    /// Radial group of each angular column, `< n_groups`.
    fn group(&self) -> &[usize];

    /// `out[[r, g]] = R[r, g](|k|)`, shape `(n_radial, n_groups)`; every entry is written.
    fn radial(&self, norm: f64, out: ArrayViewMut2<'_, f64>);

    /// `out[u] = A_u(k)`, `n_ang` entries; every entry is written.
    fn angular(&self, k: Vec3, out: &mut [f64]);

    /// `out[[r, g]] = dR[r, g]/d|k|` at `|k| = norm`, shape `(n_radial, n_groups)`.
    fn radial_derivative(&self, norm: f64, out: ArrayViewMut2<'_, f64>);

    /// `values[u] = A_u(k)` (as [`angular`](Self::angular)) and `gradients[u] = ∇_k A_u(k)`.
    fn angular_with_gradient(&self, k: Vec3, values: &mut [f64], gradients: &mut [Vec3]);

    /// Number of angular columns.
    fn n_angular(&self) -> usize {
        self.odd().len()
    }

    /// Number of output columns, `n_radial · n_ang`.
    fn n_columns(&self) -> usize {
        self.n_radial() * self.n_angular()
    }

    /// Parity of every output column `r · n_ang + u`.
    fn odd_columns(&self) -> Vec<bool> {
        let mut odd = Vec::with_capacity(self.n_columns());
        for _ in 0..self.n_radial() {
            odd.extend_from_slice(self.odd());
        }
        odd
    }

    /// Dense rows `b[k − start, r · n_ang + u] = B[k, r · n_ang + u]` for the k-vectors `range`
    /// of `kvectors` (`b` is `(range.len(), n_columns)`).
    fn fill_rows(&self, kvectors: &KVectors, range: Range<usize>, mut b: ArrayViewMut2<'_, f64>) {
        let n_ang = self.n_angular();
        let group = self.group();
        let mut radial = Array2::zeros((self.n_radial(), self.n_groups()));
        let mut angular = vec![0.0; n_ang];
        for (row, k) in range.enumerate() {
            self.radial(kvectors.norms()[k], radial.view_mut());
            self.angular(kvectors.vectors()[k], &mut angular);
            let mut out = b.row_mut(row);
            for r in 0..self.n_radial() {
                for (u, a) in angular.iter().enumerate() {
                    out[r * n_ang + u] = radial[[r, group[u]]] * a;
                }
            }
        }
    }

    /// The basis rows and their strain derivatives for the k-vectors `range` (module docs):
    /// `b[k − start, q] = B[k, q]` (as [`fill_rows`](Self::fill_rows)) and
    /// `db[k − start, 3a + b, q] = ∂B[k, q]/∂ε_ab = −δ_ab B − k_a (R' k_b/|k| A + R ∂_b A)`;
    /// shapes `(range.len(), n_columns)` and `(range.len(), 9, n_columns)`.
    fn fill_strain_rows(
        &self,
        kvectors: &KVectors,
        range: Range<usize>,
        mut b: ArrayViewMut2<'_, f64>,
        mut db: ArrayViewMut3<'_, f64>,
    ) {
        let n_ang = self.n_angular();
        let group = self.group();
        let mut radial = Array2::zeros((self.n_radial(), self.n_groups()));
        let mut derivative = Array2::zeros((self.n_radial(), self.n_groups()));
        let mut angular = vec![0.0; n_ang];
        let mut gradient = vec![[0.0; 3]; n_ang];
        for (row, k) in range.enumerate() {
            let norm = kvectors.norms()[k];
            let kv = kvectors.vectors()[k];
            self.radial(norm, radial.view_mut());
            self.radial_derivative(norm, derivative.view_mut());
            self.angular_with_gradient(kv, &mut angular, &mut gradient);
            let mut out = b.row_mut(row);
            let mut dout = db.index_axis_mut(Axis(0), row);
            for r in 0..self.n_radial() {
                for u in 0..n_ang {
                    let q = r * n_ang + u;
                    let (rad, der) = (radial[[r, group[u]]], derivative[[r, group[u]]]);
                    let value = rad * angular[u];
                    out[q] = value;
                    let radial_part = der * angular[u] / norm;
                    for a in 0..3 {
                        for c in 0..3 {
                            let dk = radial_part * kv[c] + rad * gradient[u][c];
                            let diagonal = if a == c { value } else { 0.0 };
                            dout[[3 * a + c, q]] = -diagonal - kv[a] * dk;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::systems::Cell;

    /// A smooth separable test basis: 4 radial functions, 3 radial groups over 7 angular
    /// columns of mixed parity.
    pub(crate) struct TestBasis {
        pub odd: Vec<bool>,
        pub group: Vec<usize>,
    }

    impl TestBasis {
        pub(crate) fn new() -> TestBasis {
            TestBasis {
                odd: vec![false, true, false, true, true, false, false],
                group: vec![0, 1, 2, 1, 1, 0, 2],
            }
        }
    }

    impl SeparableBasis for TestBasis {
        fn n_radial(&self) -> usize {
            4
        }
        fn n_groups(&self) -> usize {
            3
        }
        fn odd(&self) -> &[bool] {
            &self.odd
        }
        fn group(&self) -> &[usize] {
            &self.group
        }
        fn radial(&self, norm: f64, mut out: ArrayViewMut2<'_, f64>) {
            for ((n, g), x) in out.indexed_iter_mut() {
                *x = (-norm * norm / (n as f64 + g as f64 + 1.0)).exp() * (1.0 + 0.2 * g as f64);
            }
        }
        fn angular(&self, v: Vec3, out: &mut [f64]) {
            for (u, x) in out.iter_mut().enumerate() {
                *x = (u as f64 * 0.3 * v[0] + v[1] - 0.5 * v[2]).cos() + 0.1 * u as f64;
            }
        }
        fn radial_derivative(&self, norm: f64, mut out: ArrayViewMut2<'_, f64>) {
            for ((n, g), x) in out.indexed_iter_mut() {
                let width = n as f64 + g as f64 + 1.0;
                *x = -2.0 * norm / width * (-norm * norm / width).exp() * (1.0 + 0.2 * g as f64);
            }
        }
        fn angular_with_gradient(&self, v: Vec3, values: &mut [f64], gradients: &mut [Vec3]) {
            self.angular(v, values);
            for (u, g) in gradients.iter_mut().enumerate() {
                let s = -(u as f64 * 0.3 * v[0] + v[1] - 0.5 * v[2]).sin();
                *g = [s * u as f64 * 0.3, s, -0.5 * s];
            }
        }
    }

    /// `fill_strain_rows` against central differences of `fill_rows` in strained cells (the
    /// same index set, `B ∝ 1/V` through a volume factor applied here): step 1e-6, tolerance
    /// 1e-7 of the largest derivative (truncation ~1e-11; a sign or factor error is ~1).
    #[test]
    fn strain_rows_match_finite_differences() {
        let matrix = [[6.0, 0.0, 0.0], [1.0, 7.0, 0.0], [0.5, -1.0, 8.0]];
        let cell = Cell::new(matrix, [true; 3]).unwrap();
        let kv = super::super::k_vectors(&cell, 2.0).unwrap();
        let basis = TestBasis::new();
        let n = kv.len();
        let mut b = Array2::zeros((n, basis.n_columns()));
        let mut db = ndarray::Array3::zeros((n, 9, basis.n_columns()));
        basis.fill_strain_rows(&kv, 0..n, b.view_mut(), db.view_mut());
        // the test basis has no 1/V: add its −δ_ab B back before comparing
        let scale = db.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        let h = 1e-6;
        for a in 0..3 {
            for c in 0..3 {
                let rows = |sign: f64| {
                    let mut m = matrix;
                    for row in m.iter_mut() {
                        let x = *row;
                        row[a] += sign * h * x[c];
                    }
                    let strained = kv.in_cell(&Cell::new(m, [true; 3]).unwrap()).unwrap();
                    let mut out = Array2::zeros((n, basis.n_columns()));
                    basis.fill_rows(&strained, 0..n, out.view_mut());
                    out
                };
                let fd = (rows(1.0) - rows(-1.0)) / (2.0 * h);
                for k in 0..n {
                    for q in 0..basis.n_columns() {
                        let diagonal = if a == c { b[[k, q]] } else { 0.0 };
                        let analytic = db[[k, 3 * a + c, q]] + diagonal;
                        assert!(
                            (analytic - fd[[k, q]]).abs() < 1e-7 * scale,
                            "k {k}, ab {a}{c}, q {q}: {analytic} vs {}",
                            fd[[k, q]]
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn dense_rows_are_radial_times_angular() {
        let cell = Cell::new(
            [[6.0, 0.0, 0.0], [1.0, 7.0, 0.0], [0.5, -1.0, 8.0]],
            [true; 3],
        )
        .unwrap();
        let kv = super::super::k_vectors(&cell, 3.0).unwrap();
        let basis = TestBasis::new();
        let mut b = Array2::zeros((kv.len(), basis.n_columns()));
        basis.fill_rows(&kv, 0..kv.len(), b.view_mut());
        let odd = basis.odd_columns();
        assert_eq!(odd.len(), 28);
        let mut radial = Array2::zeros((4, 3));
        let mut angular = [0.0; 7];
        for (k, row) in b.outer_iter().enumerate() {
            basis.radial(kv.norms()[k], radial.view_mut());
            basis.angular(kv.vectors()[k], &mut angular);
            for r in 0..4 {
                for u in 0..7 {
                    assert_eq!(row[r * 7 + u], radial[[r, basis.group[u]]] * angular[u]);
                    assert_eq!(odd[r * 7 + u], basis.odd[u]);
                }
            }
        }
    }
}
