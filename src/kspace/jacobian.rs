//! Jacobian rows of the dense contraction [`super::dense_sum`] with respect to the positions and
//! to a homogeneous strain when the centres are the sources (`docs/math.md` §13,
//! `docs/gradients.md`); the formulas are those of the backward pass's module
//! (`super::adjoint`):
//! - positions: `∂c_i[a, q]/∂r_j = 2 w_j Σ_k B[k, q] k (sin k·(r_i − r_j) | −cos k·(r_i − r_j))`
//!   for `j ∈ a`, `j ≠ i` (even | odd `q`), and `∂c_i/∂r_i = −Σ_{j≠i} ∂c_i/∂r_j`;
//! - strain: the phases are invariant, so `∂c_i[a, q]/∂ε_ab = Σ_k ∂B[k, q]/∂ε_ab F^a(i, k)` with
//!   the basis derivative of [`SeparableBasis::fill_strain_rows`].
//!
//! Cost: per structure, the phases `e^{ik·r_j}` of every atom and the structure factors are
//! computed once (by the first row); per row, per block of k-vectors, the matrix
//! `[2 w_j (sin | −cos) k·(r_i − r_j)]_{j, k}` from them (`sin k·(r_i − r_j) = s_i c_j − c_i s_j`)
//! times the basis with `k_α` folded in, `[k_α B[k, q]]_{k, (α, q)}` (one GEMM per parity,
//! `6 N N_k n_cols` flops per row in all), and the strain's `F^a(i, k) · ∂B/∂ε`. Scratch
//! buffers are kept per thread across rows (fresh pages cost more than the GEMM's share of
//! a row on huge-page systems).

use std::cell::RefCell;
use std::sync::OnceLock;

use ndarray::linalg::general_mat_mul;
use ndarray::{s, Array2, Array3, ArrayView2, ArrayViewMut2, Axis};
use rayon::prelude::*;

use super::basis::SeparableBasis;
use super::contraction::{ParityOrder, K_BLOCK};
use super::k_vectors::KVectors;
use super::phases::{phases_into, weighted_sums, Sources};

/// The phases of one structure's atoms for one block of k-vectors, and their weighted sums.
struct PhaseBlock {
    start: usize,
    len: usize,
    /// `(N, 2 len)`: `cos k·r_j | sin k·r_j`.
    phases: Array2<f64>,
    /// `(n_channels, 2 len)`: `F` (cos | sin sums), only when strain rows are asked.
    factors: Option<Array2<f64>>,
}

/// Per-thread scratch of [`DenseJacobian::row`].
#[derive(Default)]
struct Scratch {
    acc: Vec<f64>,
    m: Vec<f64>,
    f: Vec<f64>,
    strain: Vec<f64>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// `buffer[..len]`, grown when needed (contents unspecified).
fn take(buffer: &mut Vec<f64>, len: usize) -> &mut [f64] {
    if buffer.len() < len {
        buffer.resize(len, 0.0);
    }
    &mut buffer[..len]
}

/// The basis rows (and their strain derivatives) of every k-vector, prepared once for the
/// Jacobian rows of one structure: `k_α B` in parity order `(N_k, 3 n_parity)` per parity,
/// `∂B/∂ε` `(N_k, 9, n_cols)`; and the phases of the structure's atoms (made by the first row:
/// one table serves one structure).
pub struct DenseJacobian {
    kvectors: KVectors,
    odd: Vec<bool>,
    parity: ParityOrder,
    /// `[even, odd]`: `kb[par][k, α n_par + p] = k_α B[k, order[offset + p]]`.
    kb: [Array2<f64>; 2],
    strain: Option<Array3<f64>>,
    phases: OnceLock<Vec<PhaseBlock>>,
}

impl DenseJacobian {
    /// Tabulate `basis` over `kvectors` (with the strain derivatives when `strain`); memory
    /// `24 N_k n_cols` bytes, `96 N_k n_cols` with strain, plus `16 N N_k` of phases once the
    /// first row is made.
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
        let odd = basis.odd_columns();
        let parity = ParityOrder::new(&odd);
        let n_even = parity.n_even;
        let widths = [n_even, n_cols - n_even];
        let kb = [0, 1].map(|par| {
            let (offset, width) = (par * n_even, widths[par]);
            let mut kb = Array2::zeros((n_k, 3 * width));
            for (k, (mut row, b)) in kb.outer_iter_mut().zip(b.outer_iter()).enumerate() {
                let kv = kvectors.vectors()[k];
                for alpha in 0..3 {
                    for p in 0..width {
                        row[alpha * width + p] = kv[alpha] * b[parity.order[offset + p]];
                    }
                }
            }
            kb
        });
        DenseJacobian {
            kvectors: kvectors.clone(),
            odd,
            parity,
            kb,
            strain: db,
            phases: OnceLock::new(),
        }
    }

    /// The phases (and, for strain tables, structure factors) of `sources`, per block.
    fn phase_blocks(&self, sources: &Sources<'_>) -> &[PhaseBlock] {
        let blocks = self.phases.get_or_init(|| {
            let n_k = self.kvectors.len();
            let n = sources.len();
            (0..n_k)
                .step_by(K_BLOCK)
                .map(|start| {
                    let len = K_BLOCK.min(n_k - start);
                    let mut phases = Array2::zeros((n, 2 * len));
                    phases_into(
                        sources.positions(),
                        &self.kvectors,
                        start..start + len,
                        phases.view_mut(),
                    );
                    let factors = self
                        .strain
                        .is_some()
                        .then(|| weighted_sums(sources, phases.view()));
                    PhaseBlock {
                        start,
                        len,
                        phases,
                        factors,
                    }
                })
                .collect()
        });
        assert!(
            blocks
                .first()
                .is_none_or(|b| b.phases.nrows() == sources.len()),
            "a DenseJacobian serves the rows of one structure"
        );
        blocks
    }

    /// Add the Jacobian of centre `i` (the sources are the centres) into the zeroed buffers
    /// `positions` `(N, 3, n_channels, n_cols)` and `strain` `(3, 3, n_channels, n_cols)`
    /// (module docs). The phases are those of the first row's `sources`: every row of one
    /// table must come from the same structure. Deterministic (no threads inside, after the
    /// first row's phases).
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
        let n = sources.len();
        let n_channels = sources.n_channels();
        let n_cols = self.odd.len();
        let n_even = self.parity.n_even;
        let widths = [n_even, n_cols - n_even];
        let want_positions = positions.is_some();
        let db = strain.as_ref().map(|_| {
            self.strain
                .as_ref()
                .expect("a strain row needs DenseJacobian::new(.., strain = true)")
        });
        let blocks = self.phase_blocks(sources);
        let weights: Vec<f64> = (0..n)
            .map(|j| if j == i { 0.0 } else { 2.0 * sources.weight(j) })
            .collect();
        SCRATCH.with(|scratch| {
            let scratch = &mut *scratch.borrow_mut();
            // accumulators: positions (N, 3 n_even | 3 n_odd), strain (2 parities,
            // n_channels, 9 n_cols)
            let rows = if want_positions { n } else { 0 };
            let acc = take(&mut scratch.acc, 3 * rows * n_cols);
            acc.fill(0.0);
            let (acc_even, acc_odd) = acc.split_at_mut(3 * rows * n_even);
            let mut accs = [
                ArrayViewMut2::from_shape((rows, 3 * widths[0]), acc_even).expect("sized"),
                ArrayViewMut2::from_shape((rows, 3 * widths[1]), acc_odd).expect("sized"),
            ];
            let strain_acc = take(&mut scratch.strain, 2 * n_channels * 9 * n_cols);
            strain_acc.fill(0.0);
            let mut strain_acc =
                ndarray::ArrayViewMut3::from_shape((2, n_channels, 9 * n_cols), strain_acc)
                    .expect("sized");
            let m = take(&mut scratch.m, 2 * n * K_BLOCK);
            let f = take(&mut scratch.f, 2 * n_channels * K_BLOCK);
            for block in blocks {
                let (start, len) = (block.start, block.len);
                let p = block.phases.view();
                let row_i = p.row(i);
                let (ci, si) = (
                    row_i.slice(s![..len]).to_vec(),
                    row_i.slice(s![len..]).to_vec(),
                );
                if want_positions {
                    let (m_even, m_odd) = m[..2 * n * len].split_at_mut(n * len);
                    for j in 0..n {
                        let w = weights[j];
                        let row_j = p.row(j);
                        let row_j = row_j.as_slice().expect("standard layout");
                        let (cj, sj) = row_j.split_at(len);
                        let even = &mut m_even[j * len..(j + 1) * len];
                        let odd = &mut m_odd[j * len..(j + 1) * len];
                        for k in 0..len {
                            // sin, cos of k·(r_i − r_j)
                            let sij = si[k] * cj[k] - ci[k] * sj[k];
                            let cij = ci[k] * cj[k] + si[k] * sj[k];
                            even[k] = w * sij;
                            odd[k] = -w * cij;
                        }
                    }
                    for (par, mm) in [m_even, m_odd].into_iter().enumerate() {
                        if widths[par] == 0 {
                            continue;
                        }
                        let mm = ArrayView2::from_shape((n, len), &*mm).expect("sized");
                        let kb = self.kb[par].slice(s![start..start + len, ..]);
                        general_mat_mul(1.0, &mm, &kb, 1.0, &mut accs[par]);
                    }
                }
                if let Some(db) = db {
                    // F^a(i, k) of both parities, rows [even a | odd a]
                    let factors = block.factors.as_ref().expect("strain tables");
                    let mut ff = ArrayViewMut2::from_shape(
                        (2 * n_channels, len),
                        &mut f[..2 * n_channels * len],
                    )
                    .expect("sized");
                    for a in 0..n_channels {
                        for k in 0..len {
                            let (ca, sa) = (factors[[a, k]], factors[[a, len + k]]);
                            ff[[a, k]] = 2.0 * (ci[k] * ca + si[k] * sa);
                            ff[[n_channels + a, k]] = 2.0 * (si[k] * ca - ci[k] * sa);
                        }
                    }
                    let db_block = db.slice(s![start..start + len, .., ..]);
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
                let order = &self.parity.order;
                for j in (0..n).filter(|&j| j != i) {
                    let a = sources.channels()[j];
                    for alpha in 0..3 {
                        let base_j = ((j * 3 + alpha) * n_channels + a) * n_cols;
                        let base_i = ((i * 3 + alpha) * n_channels + a) * n_cols;
                        for (par, acc) in accs.iter().enumerate() {
                            let width = widths[par];
                            let offset = par * n_even;
                            let from = acc.row(j);
                            let from = &from.as_slice().expect("standard layout")
                                [alpha * width..(alpha + 1) * width];
                            for (&v, &q) in from.iter().zip(&order[offset..offset + width]) {
                                out[base_j + q] += v;
                                out[base_i + q] -= v;
                            }
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
        });
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
