//! Jacobian rows of the dense contraction [`super::dense_sum`] with respect to the positions and
//! to a homogeneous strain when the centres are the sources (`docs/math.md` §13,
//! `docs/gradients.md`); the formulas are those of the backward pass's module
//! (`super::adjoint`):
//! - positions: `∂c_i[a, q]/∂r_j = 2 w_j Σ_k B[k, q] k (sin k·(r_i − r_j) | −cos k·(r_i − r_j))`
//!   for `j ∈ a`, `j ≠ i` (even | odd `q`), and `∂c_i/∂r_i = −Σ_{j≠i} ∂c_i/∂r_j`;
//! - strain: the phases are invariant, so `∂c_i[a, q]/∂ε_ab = Σ_k ∂B[k, q]/∂ε_ab F^a(i, k)` with
//!   the basis derivative of [`SeparableBasis::fill_strain_rows`].

use ndarray::linalg::general_mat_mul;
use ndarray::{s, Array2, Array3, Axis};
use rayon::prelude::*;

use super::basis::SeparableBasis;
use super::contraction::{ParityOrder, K_BLOCK};
use super::k_vectors::KVectors;
use super::phases::{phases_into, weighted_sums, Sources};

/// The basis rows (and their strain derivatives) of every k-vector, prepared once for the
/// Jacobian rows of one structure: `B` `(N_k, n_cols)`, `∂B/∂ε` `(N_k, 9, n_cols)`.
pub struct DenseJacobian {
    kvectors: KVectors,
    odd: Vec<bool>,
    basis: Array2<f64>,
    strain: Option<Array3<f64>>,
}

impl DenseJacobian {
    /// Tabulate `basis` over `kvectors` (with the strain derivatives when `strain`); memory
    /// `8 N_k n_cols` bytes, ten times that with strain.
    pub fn new<B: SeparableBasis>(kvectors: &KVectors, basis: &B, strain: bool) -> Self {
        let (n_k, n_cols) = (kvectors.len(), basis.n_columns());
        let mut b = Array2::zeros((n_k, n_cols));
        let mut db = strain.then(|| Array3::zeros((n_k, 9, n_cols)));
        const CHUNK: usize = 64;
        match &mut db {
            Some(db) => b
                .axis_chunks_iter_mut(Axis(0), CHUNK)
                .into_par_iter()
                .zip(db.axis_chunks_iter_mut(Axis(0), CHUNK))
                .enumerate()
                .for_each(|(c, (b, db))| {
                    let start = c * CHUNK;
                    basis.fill_strain_rows(kvectors, start..start + b.nrows(), b, db);
                }),
            None => b
                .axis_chunks_iter_mut(Axis(0), CHUNK)
                .into_par_iter()
                .enumerate()
                .for_each(|(c, b)| {
                    let start = c * CHUNK;
                    basis.fill_rows(kvectors, start..start + b.nrows(), b);
                }),
        }
        DenseJacobian {
            kvectors: kvectors.clone(),
            odd: basis.odd_columns(),
            basis: b,
            strain: db,
        }
    }

    /// Add the Jacobian of centre `i` (the sources are the centres) into the zeroed buffers
    /// `positions` `(N, 3, n_channels, n_cols)` and `strain` `(3, 3, n_channels, n_cols)`
    /// (module docs). Per block of k-vectors: the phases of every atom, then
    /// `[2 w_j k_α (sin | −cos) k·(r_i − r_j)]_{(j, α), k} · B` (one GEMM per parity) and
    /// `F^a(i, k) · ∂B/∂ε` (one per parity); deterministic (no threads inside).
    ///
    /// # Panics
    /// When a buffer has the wrong size, or `strain` is asked of a table made without it.
    pub fn row(
        &self,
        sources: &Sources<'_>,
        i: usize,
        positions: Option<&mut [f64]>,
        strain: Option<&mut [f64]>,
    ) {
        let atoms = sources.positions();
        let n = atoms.len();
        let n_channels = sources.n_channels();
        let n_cols = self.odd.len();
        let n_k = self.kvectors.len();
        let parity = ParityOrder::new(&self.odd);
        let n_even = parity.n_even;
        let want_positions = positions.is_some();
        let db = strain.as_ref().map(|_| {
            self.strain
                .as_ref()
                .expect("a strain row needs DenseJacobian::new(.., strain = true)")
        });
        // accumulators: positions (3N, n_cols) in parity order, strain (2 parities, n_channels,
        // 9 n_cols)
        let mut acc = Array2::<f64>::zeros((if want_positions { 3 * n } else { 0 }, n_cols));
        let mut strain_acc = Array3::<f64>::zeros((2, n_channels, 9 * n_cols));
        let block = K_BLOCK.min(n_k.max(1));
        let mut phases = Array2::<f64>::zeros((n, 2 * block));
        let mut b_par = Array2::<f64>::zeros((block, n_cols));
        let mut m = Array2::<f64>::zeros((3 * n, block));
        let mut f = Array2::<f64>::zeros((2 * n_channels, block));
        for start in (0..n_k).step_by(K_BLOCK) {
            let end = (start + K_BLOCK).min(n_k);
            let len = end - start;
            let mut p = phases.slice_mut(s![.., ..2 * len]);
            phases_into(atoms, &self.kvectors, start..end, p.view_mut());
            let (cos, sin) = p.view().split_at(Axis(1), len);
            let kv = &self.kvectors.vectors()[start..end];
            if want_positions {
                let mut bp = b_par.slice_mut(s![..len, ..]);
                parity.regroup_rows(self.basis.slice(s![start..end, ..]), bp.view_mut());
                let (b_even, b_odd) = bp.view().split_at(Axis(1), n_even);
                let (ci, si) = (cos.row(i), sin.row(i));
                for (par, b_p, offset) in [(false, b_even, 0), (true, b_odd, n_even)] {
                    if b_p.ncols() == 0 {
                        continue;
                    }
                    let mut mm = m.slice_mut(s![.., ..len]);
                    for j in 0..n {
                        let w = if j == i { 0.0 } else { 2.0 * sources.weight(j) };
                        for k in 0..len {
                            let (cj, sj) = (cos[[j, k]], sin[[j, k]]);
                            // sin, cos of k·(r_i − r_j)
                            let sij = si[k] * cj - ci[k] * sj;
                            let cij = ci[k] * cj + si[k] * sj;
                            let factor = if par { -w * cij } else { w * sij };
                            for alpha in 0..3 {
                                mm[[3 * j + alpha, k]] = factor * kv[k][alpha];
                            }
                        }
                    }
                    let mut out = acc.slice_mut(s![.., offset..offset + b_p.ncols()]);
                    general_mat_mul(1.0, &mm.view(), &b_p, 1.0, &mut out);
                }
            }
            if let Some(db) = db {
                // F^a(i, k) of both parities, rows [even a | odd a]
                let factors = weighted_sums(sources, p.view());
                let (ci, si) = (cos.row(i), sin.row(i));
                let mut ff = f.slice_mut(s![.., ..len]);
                for a in 0..n_channels {
                    for k in 0..len {
                        let (ca, sa) = (factors[[a, k]], factors[[a, len + k]]);
                        ff[[a, k]] = 2.0 * (ci[k] * ca + si[k] * sa);
                        ff[[n_channels + a, k]] = 2.0 * (si[k] * ca - ci[k] * sa);
                    }
                }
                let db_block = db.slice(s![start..end, .., ..]);
                let db_block = db_block
                    .to_shape((len, 9 * n_cols))
                    .expect("a contiguous block");
                for par in 0..2 {
                    let fp = ff.slice(s![par * n_channels..(par + 1) * n_channels, ..]);
                    let mut out = strain_acc.index_axis_mut(Axis(0), par);
                    general_mat_mul(1.0, &fp, &db_block.view(), 1.0, &mut out);
                }
            }
        }
        if let Some(out) = positions {
            assert_eq!(out.len(), n * 3 * n_channels * n_cols, "(N, 3, C, n_cols)");
            for j in (0..n).filter(|&j| j != i) {
                let a = sources.channels()[j];
                for alpha in 0..3 {
                    let base_j = ((j * 3 + alpha) * n_channels + a) * n_cols;
                    let base_i = ((i * 3 + alpha) * n_channels + a) * n_cols;
                    for (p, &q) in parity.order.iter().enumerate() {
                        let v = acc[[3 * j + alpha, p]];
                        out[base_j + q] += v;
                        out[base_i + q] -= v;
                    }
                }
            }
        }
        if let Some(out) = strain {
            assert_eq!(out.len(), 9 * n_channels * n_cols, "(3, 3, C, n_cols)");
            for ab in 0..9 {
                for a in 0..n_channels {
                    for q in 0..n_cols {
                        let par = usize::from(self.odd[q]);
                        out[(ab * n_channels + a) * n_cols + q] +=
                            strain_acc[[par, a, ab * n_cols + q]];
                    }
                }
            }
        }
    }
}

/// Add the Jacobian of centre `i` into the zeroed buffers `positions` `(N, 3, n_channels,
/// n_cols)` and `strain` `(3, 3, n_channels, n_cols)` ([`DenseJacobian::row`], with the basis
/// tabulated for this one row: prefer one [`DenseJacobian`] for all rows of a structure).
pub fn dense_jacobian_row<B: SeparableBasis>(
    sources: &Sources<'_>,
    kvectors: &KVectors,
    basis: &B,
    i: usize,
    positions: Option<&mut [f64]>,
    strain: Option<&mut [f64]>,
) {
    DenseJacobian::new(kvectors, basis, strain.is_some()).row(sources, i, positions, strain)
}
