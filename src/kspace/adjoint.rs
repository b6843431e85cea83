//! Derivatives of the dense contraction [`super::dense_sum`] with respect to the positions when
//! the centres are the sources (`docs/gradients.md`): one row of the Jacobian, and the backward
//! pass (vector–Jacobian product) through the adjoint of the structure-factor contraction.
//!
//! With `F_even^a(i, k) = 2 Σ_{j∈a} w_j cos k·(r_i − r_j)`, `F_odd^a = 2 Σ_j w_j sin k·(r_i − r_j)`
//! and `c_i[a, q] = Σ_k B[k, q] F^a_{parity(q)}(i, k)`:
//! - Jacobian: `∂c_i[a, q]/∂r_j = 2 w_j Σ_k B[k, q] k (sin k·(r_i − r_j) | −cos k·(r_i − r_j))`
//!   for `j ∈ a`, `j ≠ i` (even | odd `q`), and `∂c_i/∂r_i = −Σ_{j≠i} ∂c_i/∂r_j`;
//! - backward, for a cotangent `g_i[a, q]`: contract it with the basis first,
//!   `Ge_i^a(k) = Σ_{q even} g_i[a, q] B[k, q]`, `Go_i^a(k)` likewise over the odd columns, and
//!   form `X^a = Σ_i (Ge_i^a C_i + Go_i^a S_i)`, `Y^a = Σ_i (Ge_i^a S_i − Go_i^a C_i)`; then
//!   `∂(Σ g·c)/∂r_m = 2 Σ_k k [Σ_a (Ge_m^a (C_m S^a − S_m C^a) + Go_m^a (C_m C^a + S_m S^a)) +
//!   w_m (C_m Y^{a_m} − S_m X^{a_m})]` — the centre's own phase, then the structure factor
//!   (`C^a`, `S^a`: [`super::structure_factors`]).
//!
//! Cost of the backward pass: `O(N N_k n_channels n_cols)`, the class of the values.

use ndarray::{Array2, ArrayView3};
use rayon::prelude::*;

use super::basis::SeparableBasis;
use super::k_vectors::KVectors;
use super::phases::Sources;
use crate::systems::Vec3;

/// k-vectors per task of the backward pass (fixed: the result does not depend on the threads).
const CHUNK: usize = 128;

fn phase(k: Vec3, r: Vec3) -> f64 {
    k[0] * r[0] + k[1] * r[1] + k[2] * r[2]
}

#[allow(clippy::needless_range_loop)] // index notation, as in the formulas
/// Add the Jacobian of centre `i` (the sources are the centres) into the zeroed `out`
/// `(N, 3, n_channels, n_cols)`.
pub fn dense_jacobian_row<B: SeparableBasis>(
    sources: &Sources<'_>,
    kvectors: &KVectors,
    basis: &B,
    i: usize,
    out: &mut [f64],
) {
    let positions = sources.positions();
    let n = positions.len();
    let n_channels = sources.n_channels();
    let n_cols = basis.n_columns();
    let odd = basis.odd_columns();
    assert_eq!(out.len(), n * 3 * n_channels * n_cols, "(N, 3, C, n_cols)");
    let mut b = Array2::zeros((CHUNK, n_cols));
    let mut start = 0;
    while start < kvectors.len() {
        let end = (start + CHUNK).min(kvectors.len());
        b.fill(0.0);
        basis.fill_rows(
            kvectors,
            start..end,
            b.slice_mut(ndarray::s![..end - start, ..]),
        );
        for (row, k) in (start..end).enumerate() {
            let kv = kvectors.vectors()[k];
            let b_row = b.row(row);
            for j in (0..n).filter(|&j| j != i) {
                let a = sources.channels()[j];
                let w = sources.weight(j);
                let (s, c) = (phase(kv, positions[i]) - phase(kv, positions[j])).sin_cos();
                let (even, odd_factor) = (2.0 * w * s, -2.0 * w * c);
                for alpha in 0..3 {
                    let base_j = ((j * 3 + alpha) * n_channels + a) * n_cols;
                    let base_i = ((i * 3 + alpha) * n_channels + a) * n_cols;
                    for q in 0..n_cols {
                        let factor = if odd[q] { odd_factor } else { even };
                        let v = kv[alpha] * factor * b_row[q];
                        out[base_j + q] += v;
                        out[base_i + q] -= v;
                    }
                }
            }
        }
        start = end;
    }
}

#[allow(clippy::needless_range_loop)] // index notation, as in the formulas
/// The backward pass of [`super::dense_sum`] with the centres as sources: for a cotangent
/// `(N, n_channels, n_cols)`, `∂(Σ g·c)/∂r_m` for every atom (module docs). Tasks of
/// `CHUNK` (128) k-vectors, added in order: bitwise independent of the number of threads.
pub fn dense_backward<B: SeparableBasis>(
    sources: &Sources<'_>,
    kvectors: &KVectors,
    basis: &B,
    cotangent: ArrayView3<f64>,
) -> Vec<Vec3> {
    let positions = sources.positions();
    let n = positions.len();
    let n_channels = sources.n_channels();
    let n_cols = basis.n_columns();
    let odd = basis.odd_columns();
    assert_eq!(cotangent.shape(), [n, n_channels, n_cols]);
    let g = cotangent.as_standard_layout();
    let g = g.as_slice().expect("standard layout");
    let n_chunks = kvectors.len().div_ceil(CHUNK);
    let parts: Vec<Vec<Vec3>> = (0..n_chunks)
        .into_par_iter()
        .map(|chunk| {
            if crate::threads::check_cancelled().is_err() {
                return Vec::new(); // the caller's check_cancelled reports it
            }
            let start = chunk * CHUNK;
            let end = (start + CHUNK).min(kvectors.len());
            let mut b = Array2::zeros((end - start, n_cols));
            basis.fill_rows(kvectors, start..end, b.view_mut());
            let mut forces = vec![[0.0; 3]; n];
            let mut cs = vec![(0.0, 0.0); n];
            let mut ge = vec![0.0; n * n_channels];
            let mut go = vec![0.0; n * n_channels];
            for (row, k) in (start..end).enumerate() {
                let kv = kvectors.vectors()[k];
                let b_row = b.row(row);
                let b_row = b_row.as_slice().expect("contiguous rows");
                let mut c_a = vec![0.0; n_channels];
                let mut s_a = vec![0.0; n_channels];
                for (m, r) in positions.iter().enumerate() {
                    let (s, c) = phase(kv, *r).sin_cos();
                    cs[m] = (c, s);
                    let a = sources.channels()[m];
                    c_a[a] += sources.weight(m) * c;
                    s_a[a] += sources.weight(m) * s;
                }
                let mut x = vec![0.0; n_channels];
                let mut y = vec![0.0; n_channels];
                for i in 0..n {
                    let (c, s) = cs[i];
                    for a in 0..n_channels {
                        let gi =
                            &g[(i * n_channels + a) * n_cols..(i * n_channels + a + 1) * n_cols];
                        let (mut e, mut o) = (0.0, 0.0);
                        for q in 0..n_cols {
                            if odd[q] {
                                o += gi[q] * b_row[q];
                            } else {
                                e += gi[q] * b_row[q];
                            }
                        }
                        ge[i * n_channels + a] = e;
                        go[i * n_channels + a] = o;
                        x[a] += e * c + o * s;
                        y[a] += e * s - o * c;
                    }
                }
                for m in 0..n {
                    let (c, s) = cs[m];
                    let mut t = 0.0;
                    for a in 0..n_channels {
                        let (e, o) = (ge[m * n_channels + a], go[m * n_channels + a]);
                        t += e * (c * s_a[a] - s * c_a[a]) + o * (c * c_a[a] + s * s_a[a]);
                    }
                    let a = sources.channels()[m];
                    t += sources.weight(m) * (c * y[a] - s * x[a]);
                    for alpha in 0..3 {
                        forces[m][alpha] += 2.0 * t * kv[alpha];
                    }
                }
            }
            forces
        })
        .collect();
    let mut forces = vec![[0.0; 3]; n];
    for part in parts {
        for (f, p) in forces.iter_mut().zip(part) {
            for alpha in 0..3 {
                f[alpha] += p[alpha];
            }
        }
    }
    forces
}
