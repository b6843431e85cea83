//! Jacobian rows of the dense contraction [`super::dense_sum`] with respect to the positions and
//! to a homogeneous strain when the centres are the sources (`docs/math.md` §13,
//! `docs/gradients.md`); the formulas are those of the backward pass's module
//! (`super::adjoint`):
//! - positions: `∂c_i[a, q]/∂r_j = 2 w_j Σ_k B[k, q] k (sin k·(r_i − r_j) | −cos k·(r_i − r_j))`
//!   for `j ∈ a`, `j ≠ i` (even | odd `q`), and `∂c_i/∂r_i = −Σ_{j≠i} ∂c_i/∂r_j`;
//! - strain: the phases are invariant, so `∂c_i[a, q]/∂ε_ab = Σ_k ∂B[k, q]/∂ε_ab F^a(i, k)` with
//!   the basis derivative of [`SeparableBasis::fill_strain_rows`].
//!
//! The k-space sums `S_ij[α, q] = Σ_k k_α B[k, q] sin k·(r_i − r_j)` (even `q`) and
//! `C_ij[α, q] = Σ_k k_α B[k, q] cos k·(r_i − r_j)` (odd `q`) do not depend on the channels, and
//! `S_ji = −S_ij`, `C_ji = C_ij`: [`DenseJacobian::prepare_pairs`] computes them once for every
//! pair `i < j` of a structure (half the products of computing every row on its own), and the
//! rows read them: `∂c_i[a_j]/∂r_j = 2 w_j (S_ij | −C_ij)`.
//!
//! Cost: per structure, the phases `e^{ik·r_j}` of every atom and the structure factors are
//! computed once (by the first row); with the pair table, `3 N (N − 1) N_k n_cols` flops in
//! all; without it, per row, per block of k-vectors, the matrix
//! `[2 w_j (sin | −cos) k·(r_i − r_j)]_{j, k}` from them (`sin k·(r_i − r_j) = s_i c_j − c_i s_j`)
//! times the basis with `k_α` folded in, `[k_α B[k, q]]_{k, (α, q)}` (one GEMM per parity,
//! `6 N N_k n_cols` flops per row in all), and the strain's `F^a(i, k) · ∂B/∂ε`. Scratch
//! buffers are kept per thread across rows (fresh pages cost more than the GEMM's share of
//! a row on huge-page systems).

use std::cell::RefCell;
use std::sync::{Arc, OnceLock, RwLock};

use ndarray::linalg::general_mat_mul;
use ndarray::{s, Array2, Array3, ArrayView2, ArrayViewMut2, Axis};
use rayon::prelude::*;

use super::basis::SeparableBasis;
use super::contraction::{ParityOrder, K_BLOCK};
use super::jacobian_shells::ShellPairs;
use super::k_vectors::KVectors;
use super::phases::{
    pair_phase_differences, phase_differences, phases_into, weighted_sums, Sources,
};

/// The phases of one structure's atoms for one block of k-vectors, and their weighted sums.
struct PhaseBlock {
    start: usize,
    len: usize,
    /// `(N, 2 len)`: `cos k·r_j | sin k·r_j`.
    phases: Array2<f64>,
    /// `(n_channels, 2 len)`: `F` (cos | sin sums), only when strain rows are asked.
    factors: Option<Array2<f64>>,
}

/// The k-space sums `(S_ij | C_ij)` of every pair `i < j` of one structure (module docs).
struct PairTable {
    /// Index of the first entry of centre `i` (its pairs `j = i + 1 .. N`, in order).
    offsets: Vec<usize>,
    /// `(N (N − 1) / 2, 3, n_cols)`: per pair `T' = (S_ij | −C_ij)` (even | odd columns).
    values: Vec<f64>,
}

/// Pairs per product of [`DenseJacobian::prepare_pairs`] (a tile of consecutive centres).
const PAIR_TILE: usize = 512;

/// Pairs per tile of the pair table by shells (its scratch grows with the tile).
const SHELL_TILE: usize = 128;

/// The layout of a pair table of `n` atoms with `width` values per pair: each centre's first
/// entry, a `crate::memory::scratch` buffer (unspecified contents) and tiles of consecutive
/// centres of about `tile` pairs (`(centres, pairs)`; their entries are consecutive).
#[allow(clippy::type_complexity)]
fn pair_tiles(
    n: usize,
    width: usize,
    tile: usize,
) -> (Vec<usize>, Vec<f64>, Vec<(std::ops::Range<usize>, usize)>) {
    let mut offsets = Vec::with_capacity(n);
    let mut total = 0;
    for i in 0..n {
        offsets.push(total);
        total += n - 1 - i;
    }
    let values = crate::memory::scratch(total * width);
    let mut tiles = Vec::new();
    let mut first = 0;
    while first < n {
        let mut last = first;
        let mut rows = 0;
        while last < n && (rows == 0 || rows + (n - 1 - last) <= tile) {
            rows += n - 1 - last;
            last += 1;
        }
        tiles.push((first..last, rows));
        first = last;
    }
    (offsets, values, tiles)
}

/// Bytes of the pair table of a structure of `n` atoms ([`DenseJacobian::prepare_pairs`]).
pub fn pair_table_bytes(n: usize, n_cols: usize) -> f64 {
    let n = n as f64;
    8.0 * 0.5 * n * (n - 1.0) * 3.0 * n_cols as f64
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
    /// From [`prepare_pairs`](Self::prepare_pairs) to [`release_pairs`](Self::release_pairs).
    pairs: RwLock<Option<Arc<PairTable>>>,
    /// `−1` for the even columns, `1` for the odd ones.
    even_negated: Vec<f64>,
    /// The basis by shells, when the cell's k-vectors share their norms enough for the pair
    /// table to be made that way (`super::jacobian_shells`).
    shells: Option<ShellPairs>,
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
        let even_negated = odd.iter().map(|&o| if o { 1.0 } else { -1.0 }).collect();
        let shells = ShellPairs::new(kvectors, basis);
        DenseJacobian {
            shells,
            kvectors: kvectors.clone(),
            even_negated,
            odd,
            parity,
            kb,
            strain: db,
            phases: OnceLock::new(),
            pairs: RwLock::new(None),
        }
    }

    /// Compute the k-space sums of every pair of `sources` (the structure's atoms: the same
    /// for every row of this table) in parallel, unless they are there; rows read them
    /// instead of computing their positions blocks on their own, until
    /// [`release_pairs`](Self::release_pairs). Memory [`pair_table_bytes`] (a
    /// `crate::memory::scratch` buffer). Deterministic: fixed tiles of pairs.
    pub fn prepare_pairs(&self, sources: &Sources<'_>) {
        let mut pairs = self.pairs.write().unwrap_or_else(|p| p.into_inner());
        if pairs.is_some() {
            return;
        }
        if let Some(shells) = &self.shells {
            *pairs = Some(Arc::new(self.shell_pair_table(shells, sources)));
            return;
        }
        let blocks = self.phase_blocks(sources);
        *pairs = Some(Arc::new({
            let n = sources.len();
            let n_cols = self.odd.len();
            let n_even = self.parity.n_even;
            let widths = [n_even, n_cols - n_even];
            let width = 3 * n_cols;
            // every element is written: the first block's products overwrite; tiles of
            // consecutive centres (their pairs are consecutive rows of the table): one product
            // per tile, block and parity
            let (offsets, mut values, tile_list) = pair_tiles(n, width, PAIR_TILE);
            let mut tiles = Vec::with_capacity(tile_list.len());
            let mut rest = values.as_mut_slice();
            for (centres, rows) in tile_list {
                let (head, tail) = rest.split_at_mut(rows * width);
                tiles.push((centres, rows, head));
                rest = tail;
            }
            tiles.into_par_iter().for_each(|(centres, rows, segment)| {
                if rows == 0 {
                    return;
                }
                let mut out = ArrayViewMut2::from_shape((rows, width), segment).expect("sized");
                SCRATCH.with(|scratch| {
                    let scratch = &mut *scratch.borrow_mut();
                    let m = take(&mut scratch.m, 2 * rows * K_BLOCK);
                    for block in blocks {
                        let (start, len) = (block.start, block.len);
                        let p = block.phases.view();
                        let (m_even, m_odd) = m[..2 * rows * len].split_at_mut(rows * len);
                        pair_phase_differences(p, centres.clone(), n, m_even, m_odd);
                        for (par, mm) in [&*m_even, &*m_odd].into_iter().enumerate() {
                            if widths[par] == 0 {
                                continue;
                            }
                            let mm = ArrayView2::from_shape((rows, len), mm).expect("sized");
                            let kb = self.kb[par].slice(s![start..start + len, ..]);
                            let first = par * 3 * n_even;
                            let mut to = out.slice_mut(s![.., first..first + 3 * widths[par]]);
                            let beta = if start == 0 { 0.0 } else { 1.0 };
                            general_mat_mul(1.0, &mm, &kb, beta, &mut to);
                        }
                    }
                    // parity order → (α, q), odd columns negated
                    let order = &self.parity.order;
                    let copy = take(&mut scratch.f, width);
                    for mut entry in out.outer_iter_mut() {
                        let entry = entry.as_slice_mut().expect("standard layout");
                        copy.copy_from_slice(entry);
                        for alpha in 0..3 {
                            for (par, &w) in widths.iter().enumerate() {
                                let offset = par * n_even;
                                let sign = if par == 0 { 1.0 } else { -1.0 };
                                let from =
                                    &copy[3 * offset + alpha * w..3 * offset + (alpha + 1) * w];
                                for (&v, &q) in from.iter().zip(&order[offset..offset + w]) {
                                    entry[alpha * n_cols + q] = sign * v;
                                }
                            }
                        }
                    }
                });
            });
            if blocks.is_empty() {
                values.fill(0.0);
            }
            PairTable { offsets, values }
        }));
    }

    /// The pair table by shells (`super::jacobian_shells`), in tiles of about [`SHELL_TILE`]
    /// pairs.
    fn shell_pair_table(&self, shells: &ShellPairs, sources: &Sources<'_>) -> PairTable {
        let n = sources.len();
        let width = 3 * self.odd.len();
        let phases = shells.phases(sources.positions());
        let (offsets, mut values, tiles) = pair_tiles(n, width, SHELL_TILE);
        let mut rest = values.as_mut_slice();
        let mut segments = Vec::with_capacity(tiles.len());
        for (centres, rows) in tiles {
            let (head, tail) = rest.split_at_mut(rows * width);
            segments.push((centres, rows, head));
            rest = tail;
        }
        segments
            .into_par_iter()
            .for_each(|(centres, rows, segment)| {
                if rows == 0 {
                    return;
                }
                let out = ArrayViewMut2::from_shape((rows, width), segment).expect("sized");
                SCRATCH.with(|scratch| {
                    let scratch = &mut *scratch.borrow_mut();
                    shells.tile(phases.view(), centres, n, out, &mut scratch.m);
                });
            });
        PairTable { offsets, values }
    }

    /// Drop the pair table (its buffer becomes the `crate::memory::scratch` spare); rows
    /// after this compute their blocks on their own.
    pub fn release_pairs(&self) {
        let table = self.pairs.write().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(table) = table.and_then(|t| Arc::try_unwrap(t).ok()) {
            crate::memory::give_back_scratch(table.values);
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
        mut positions: Option<&mut [f64]>,
        strain: Option<&mut [f64]>,
    ) {
        let n = sources.len();
        let n_channels = sources.n_channels();
        let n_cols = self.odd.len();
        let n_even = self.parity.n_even;
        let widths = [n_even, n_cols - n_even];
        let pairs = positions
            .as_ref()
            .and_then(|_| self.pairs.read().unwrap_or_else(|p| p.into_inner()).clone());
        let pairs = pairs.as_deref();
        // the positions blocks from the pair table when there is one, else computed here
        let want_positions = positions.is_some() && pairs.is_none();
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
                    let row_i = row_i.as_slice().expect("standard layout");
                    let (m_even, m_odd) = m[..2 * n * len].split_at_mut(n * len);
                    for j in 0..n {
                        let w = weights[j];
                        let row_j = p.row(j);
                        let row_j = row_j.as_slice().expect("standard layout");
                        let even = &mut m_even[j * len..(j + 1) * len];
                        let odd = &mut m_odd[j * len..(j + 1) * len];
                        phase_differences(row_i, row_j, even, odd);
                        // (w sin | −w cos) of k·(r_i − r_j)
                        for (e, o) in even.iter_mut().zip(odd.iter_mut()) {
                            *e *= w;
                            *o *= -w;
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
            if let (Some(out), Some(pairs)) = (positions.as_deref_mut(), pairs) {
                assert_eq!(out.len(), n * 3 * n_channels * n_cols, "(N, 3, C, n_cols)");
                assert_eq!(pairs.offsets.len(), n, "a pair table of this structure");
                let width = 3 * n_cols;
                // the centre's block, `−Σ_j` of the others, added at the end
                let centre = take(&mut scratch.f, 3 * n_channels * n_cols);
                centre.fill(0.0);
                for j in (0..n).filter(|&j| j != i) {
                    let a = sources.channels()[j];
                    let w = weights[j];
                    // T' = (S_ij | −C_ij); S_ji = −S_ij, C_ji = C_ij
                    let (entry, signs) = if j > i {
                        (pairs.offsets[i] + j - i - 1, None)
                    } else {
                        (pairs.offsets[j] + i - j - 1, Some(&self.even_negated))
                    };
                    let entry = &pairs.values[entry * width..(entry + 1) * width];
                    for alpha in 0..3 {
                        let t = &entry[alpha * n_cols..(alpha + 1) * n_cols];
                        let base_j = ((j * 3 + alpha) * n_channels + a) * n_cols;
                        let to = &mut out[base_j..base_j + n_cols];
                        let c = (alpha * n_channels + a) * n_cols;
                        let c = &mut centre[c..c + n_cols];
                        match signs {
                            None => {
                                for ((o, c), &t) in to.iter_mut().zip(c.iter_mut()).zip(t) {
                                    *o += w * t;
                                    *c -= w * t;
                                }
                            }
                            Some(signs) => {
                                for (((o, c), &t), &sg) in
                                    to.iter_mut().zip(c.iter_mut()).zip(t).zip(signs)
                                {
                                    *o += w * sg * t;
                                    *c -= w * sg * t;
                                }
                            }
                        }
                    }
                }
                for alpha in 0..3 {
                    let base = (i * 3 + alpha) * n_channels * n_cols;
                    let c = &centre[alpha * n_channels * n_cols..(alpha + 1) * n_channels * n_cols];
                    for (o, c) in out[base..base + n_channels * n_cols].iter_mut().zip(c) {
                        *o += c;
                    }
                }
            } else if let Some(out) = positions {
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

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::super::basis::tests::TestBasis;
    use super::super::k_vectors::k_vectors;
    use super::*;
    use crate::systems::{Cell, Vec3};
    use crate::threads::with_threads;

    /// Rows read from the pair table equal rows computed on their own, with and without
    /// strain rows, for an odd number of atoms spread over several tiles and k-blocks: to
    /// 1e-12 relative in a triclinic cell (the dense table: the same sums, the products in
    /// another order), to 1e-10 in a cubic one (the table by shells: radial factors at each
    /// shell's smallest norm, ~1e-12 apart; a sign or factor error is ~1). Rows after
    /// `release_pairs` are the rows before; a table made again in a reused buffer full of NaN
    /// is the same; the table is bitwise independent of the number of threads.
    #[test]
    fn pair_table_rows_equal_rows_on_their_own() {
        let triclinic = [[6.0, 0.0, 0.0], [1.0, 6.5, 0.0], [-0.5, 0.7, 7.0]];
        let cubic = [[6.0, 0.0, 0.0], [0.0, 6.0, 0.0], [0.0, 0.0, 6.0]];
        for (matrix, by_shells, tolerance) in [(triclinic, false, 1e-12), (cubic, true, 1e-10)] {
            pair_table_case(matrix, by_shells, tolerance);
        }
    }

    fn pair_table_case(matrix: [[f64; 3]; 3], by_shells: bool, tolerance: f64) {
        let cell = Cell::new(matrix, [true; 3]).unwrap();
        let kv = k_vectors(&cell, 6.0).unwrap();
        assert!(kv.len() > K_BLOCK, "several blocks of k-vectors");
        let mut rng = StdRng::seed_from_u64(5);
        let n = 37; // 666 pairs: two tiles
        let positions: Vec<Vec3> = (0..n)
            .map(|_| cell.to_cartesian([0, 1, 2].map(|_| rng.random_range(0.0..1.0))))
            .collect();
        let channels: Vec<usize> = (0..n).map(|j| (j * 7) % 3).collect();
        let weights: Vec<f64> = (0..n).map(|j| 0.5 + (j % 4) as f64 * 0.3).collect();
        let sources = Sources::new(&positions, &channels, Some(&weights), 3).unwrap();
        let basis = TestBasis::new();
        let n_cols = basis.n_columns();
        for strain in [false, true] {
            let table = DenseJacobian::new(&kv, &basis, strain);
            assert_eq!(table.shells.is_some(), by_shells);
            let rows = |table: &DenseJacobian| {
                (0..n)
                    .map(|i| {
                        let mut jp = vec![0.0; n * 3 * 3 * n_cols];
                        let mut js = vec![0.0; 9 * 3 * n_cols];
                        table.row(&sources, i, Some(&mut jp), strain.then_some(&mut js[..]));
                        (jp, js)
                    })
                    .collect::<Vec<_>>()
            };
            let alone = rows(&table);
            table.prepare_pairs(&sources);
            let one = table.pairs.read().unwrap().as_ref().unwrap().values.clone();
            let shared = rows(&table);
            table.release_pairs();
            let again = rows(&table);
            // a second table takes the first one's buffer (unspecified contents): every entry
            // is written again
            crate::memory::give_back_scratch(vec![f64::NAN; one.len()]);
            table.prepare_pairs(&sources);
            let reused = table.pairs.read().unwrap().as_ref().unwrap().values.clone();
            assert_eq!(one, reused, "a table made in a reused buffer");
            table.release_pairs();
            let scale = alone
                .iter()
                .flat_map(|(p, _)| p)
                .fold(0.0f64, |m, x| m.max(x.abs()));
            assert!(scale > 1e-3);
            for i in 0..n {
                assert_eq!(alone[i], again[i], "row {i} after release");
                for (a, b) in alone[i].0.iter().zip(&shared[i].0) {
                    assert!((a - b).abs() <= tolerance * scale, "row {i}: {a} vs {b}");
                }
                assert_eq!(alone[i].1, shared[i].1, "strain row {i}");
            }
            let two = with_threads(2, || {
                let table = DenseJacobian::new(&kv, &basis, strain);
                table.prepare_pairs(&sources);
                let values = table.pairs.read().unwrap().as_ref().unwrap().values.clone();
                values
            })
            .unwrap();
            assert_eq!(one, two, "1 vs 2 threads");
        }
    }
}
