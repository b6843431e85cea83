//! The pair table of [`super::DenseJacobian`] by shells, for cells whose k-vectors share their
//! norms (cubic, orthorhombic…), as the values' sum by shells does (`super::shells`): with the
//! separable basis `B[k, (r, u)] = R_{r,g(u)}(|k|) A_u(k)` the pair sums split into
//!
//! 1. `P^α_u(ij, s) = Σ_{k∈s} k_α A_u(k) (sin | cos) k·(r_i − r_j)` (even | odd `u`): `3 n_ang`
//!    multiply-adds per (pair, k-vector) instead of `3 n_radial n_ang`, one product per shell
//!    and parity;
//! 2. `(S | C)^α_{r,u}(ij) = Σ_s R_{r,g(u)}(|k_s|) P^α_u(ij, s)`: `n_radial` per (pair, shell,
//!    column), one product per `(α, u)`.
//!
//! The radial factors are evaluated at each shell's smallest norm
//! ([`super::SHELL_TOLERANCE`]): the table equals the dense one to ~1e-12 relative.

use std::ops::Range;

use ndarray::{s, Array2, Array3, ArrayView2, ArrayViewMut2, ShapeBuilder};

use super::basis::SeparableBasis;
use super::k_vectors::KVectors;
use super::phases::{pair_phase_differences, phases_into};
use super::shells::Shells;
use crate::systems::Vec3;

/// Mean k-vectors per shell from which the pair table is made by shells (below it, the dense
/// product: its single large GEMM beats many small ones).
pub const MIN_DEGENERACY: f64 = 4.0;

/// The basis by shells (module docs).
pub(super) struct ShellPairs {
    shells: Shells,
    /// The angular columns `u` of each parity (even, odd), in order.
    columns: [Vec<usize>; 2],
    /// Per parity: `(N_k, 3 n_parity)`, `k_α A_u(k)` over the sorted k-vectors, `α`-major.
    ka: [Array2<f64>; 2],
    /// `(n_shells, n_radial, n_groups)`: `R` at each shell's norm.
    radial: Array3<f64>,
    group: Vec<usize>,
    n_ang: usize,
}

impl ShellPairs {
    /// The tables of `basis` over `kvectors` grouped by shells, or `None` when the shells hold
    /// fewer than [`MIN_DEGENERACY`] k-vectors on average.
    pub fn new<B: SeparableBasis>(kvectors: &KVectors, basis: &B) -> Option<ShellPairs> {
        let shells = Shells::new(kvectors);
        if shells.is_empty() || shells.degeneracy() < MIN_DEGENERACY {
            return None;
        }
        let n_ang = basis.n_angular();
        let odd = basis.odd();
        let columns =
            [false, true].map(|p| (0..n_ang).filter(|&u| odd[u] == p).collect::<Vec<_>>());
        let sorted = shells.kvectors();
        let mut angular = vec![0.0; n_ang];
        let mut ka = columns
            .clone()
            .map(|c| Array2::zeros((sorted.len(), 3 * c.len())));
        for k in 0..sorted.len() {
            let kv = sorted.vectors()[k];
            basis.angular(kv, &mut angular);
            for (par, us) in columns.iter().enumerate() {
                let width = us.len();
                let mut row = ka[par].row_mut(k);
                for alpha in 0..3 {
                    for (i, &u) in us.iter().enumerate() {
                        row[alpha * width + i] = kv[alpha] * angular[u];
                    }
                }
            }
        }
        let mut radial = Array3::zeros((shells.len(), basis.n_radial(), basis.n_groups()));
        for (s, out) in radial.outer_iter_mut().enumerate() {
            basis.radial(shells.norm(s), out);
        }
        Some(ShellPairs {
            shells,
            columns,
            ka,
            radial,
            group: basis.group().to_vec(),
            n_ang,
        })
    }

    /// The sorted k-vectors (the phases of [`tile`](Self::tile) are over these).
    pub fn kvectors(&self) -> &KVectors {
        self.shells.kvectors()
    }

    /// `(N, 2 N_k)` phases `cos | sin k·r_j` of `positions` over the sorted k-vectors.
    pub fn phases(&self, positions: &[Vec3]) -> Array2<f64> {
        let sorted = self.kvectors();
        let mut phases = Array2::zeros((positions.len(), 2 * sorted.len()));
        phases_into(positions, sorted, 0..sorted.len(), phases.view_mut());
        phases
    }

    /// The table rows `(rows, 3 n_cols)` of the pairs `(i, j > i)` of the centres `centres`
    /// (of `n` atoms), `T' = (S | −C)` in column order `(α, r n_ang + u)`, into `out`.
    pub fn tile(
        &self,
        phases: ArrayView2<'_, f64>,
        centres: Range<usize>,
        n: usize,
        mut out: ArrayViewMut2<'_, f64>,
        scratch: &mut Vec<f64>,
    ) {
        let rows = out.nrows();
        let nk = self.kvectors().len();
        let ns = self.shells.len();
        let n_radial = self.radial.shape()[1];
        let n_ang = self.n_ang;
        let widths = [self.columns[0].len(), self.columns[1].len()];
        // scratch: sin | cos (rows, N_k) each; stage 1 `[par][α][i][s][row]`; stage 2
        // `[par][α][i][r][row]`
        let (m_len, p_len, t_len) = (
            rows * nk,
            3 * n_ang * ns * rows,
            3 * n_ang * n_radial * rows,
        );
        if scratch.len() < 2 * m_len + p_len + t_len {
            scratch.resize(2 * m_len + p_len + t_len, 0.0);
        }
        let (m, rest) = scratch.split_at_mut(2 * m_len);
        let (p_all, rest) = rest.split_at_mut(p_len);
        let t_all = &mut rest[..t_len];
        let (m_sin, m_cos) = m.split_at_mut(m_len);
        let r = pair_phase_differences(phases, centres, n, m_sin, m_cos);
        assert_eq!(r, rows, "the tile's pairs");
        let m = [
            ArrayView2::from_shape((rows, nk), &*m_sin).expect("sized"),
            ArrayView2::from_shape((rows, nk), &*m_cos).expect("sized"),
        ];
        // stage 1: per shell and parity, (rows, d_s) · (d_s, 3 n_par) into P[par][(α, i)][s][·]
        let (p_even, p_odd) = p_all.split_at_mut(3 * widths[0] * ns * rows);
        let p = [p_even, p_odd];
        for par in 0..2 {
            if widths[par] == 0 {
                continue;
            }
            let columns = 3 * widths[par];
            for s in 0..ns {
                let range = self.shells.range(s);
                let lhs = m[par].slice(s![.., range.clone()]);
                let rhs = self.ka[par].slice(s![range, ..]);
                // C[row, c] at (c ns + s) rows + row
                let offset = s * rows;
                let len = (columns - 1) * ns * rows + rows;
                let mut c = ArrayViewMut2::from_shape(
                    (rows, columns).strides((1, ns * rows)),
                    &mut p[par][offset..offset + len],
                )
                .expect("strided view");
                ndarray::linalg::general_mat_mul(1.0, &lhs, &rhs, 0.0, &mut c);
            }
        }
        // stage 2: per (α, u), (n_radial, n_s) · (n_s, rows) into T[par][(α, i)][r][·]
        let (t_even, t_odd) = t_all.split_at_mut(3 * widths[0] * n_radial * rows);
        let t = [t_even, t_odd];
        for par in 0..2 {
            for alpha in 0..3 {
                for (i, &u) in self.columns[par].iter().enumerate() {
                    let c = alpha * widths[par] + i;
                    let rhs = ArrayView2::from_shape(
                        (ns, rows),
                        &p[par][c * ns * rows..(c + 1) * ns * rows],
                    )
                    .expect("sized");
                    let lhs = self.radial.slice(s![.., .., self.group[u]]);
                    let lhs = lhs.t();
                    let mut to = ArrayViewMut2::from_shape(
                        (n_radial, rows),
                        &mut t[par][c * n_radial * rows..(c + 1) * n_radial * rows],
                    )
                    .expect("sized");
                    ndarray::linalg::general_mat_mul(1.0, &lhs, &rhs, 0.0, &mut to);
                }
            }
        }
        // stage 3: into (row, α, r n_ang + u), odd columns negated; eight rows at a time (a
        // blocked transpose)
        let n_cols = n_radial * n_ang;
        const ROWS: usize = 8;
        for first in (0..rows).step_by(ROWS) {
            let last = (first + ROWS).min(rows);
            for par in 0..2 {
                let sign = if par == 0 { 1.0 } else { -1.0 };
                for alpha in 0..3 {
                    for (i, &u) in self.columns[par].iter().enumerate() {
                        let c = alpha * widths[par] + i;
                        for radial in 0..n_radial {
                            let from = &t[par][(c * n_radial + radial) * rows..][first..last];
                            let column = alpha * n_cols + radial * n_ang + u;
                            for (row, &v) in (first..last).zip(from) {
                                out[[row, column]] = sign * v;
                            }
                        }
                    }
                }
            }
        }
    }
}
