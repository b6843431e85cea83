//! The contraction over k-vectors, as dense matrix products per block of k-vectors.

use std::ops::Range;

use ndarray::linalg::general_mat_mul;
use ndarray::parallel::prelude::*;
use ndarray::{s, Array2, Array3, ArrayView1, ArrayView2, ArrayViewMut2, Axis};

use super::basis::SeparableBasis;
use super::k_vectors::KVectors;
use super::phases::{check_finite, phases_into, structure_factors, weighted_sums, Sources};
use crate::error::Result;
use crate::systems::Vec3;

/// k-vectors per block: the inner dimension of each GEMM.
pub const K_BLOCK: usize = 256;

/// Output rows (centres) per GEMM task: large enough that repacking `B` for every tile stays
/// cheap next to the tile's GEMM (matrixmultiply packs both operands on every call).
const ROW_TILE: usize = 128;
/// k-vectors per call of the basis function.
const BASIS_CHUNK: usize = 64;

/// The reciprocal-space sum
///
/// `out[i, a, q] = Σ_k B[k, q] F^a_{parity(q)}(i, k)`,
///
/// over the half-space k-vectors of `kvectors` (one of each `±k`, `k = 0` excluded), with
///
/// - `F_even^a(i, k) = 2 Σ_{j∈a} w_j cos(k·(r_i − r_j)) = 2 [C_i C^a + S_i S^a]`,
/// - `F_odd^a(i, k)  = 2 Σ_{j∈a} w_j sin(k·(r_i − r_j)) = 2 [S_i C^a − C_i S^a]`,
///
/// `C_i = cos(k·r_i)`, `S_i = sin(k·r_i)` for the centres and `C^a`, `S^a` the structure factors
/// of channel `a` ([`structure_factors`]). Column `q` is odd when `odd[q]`; `n_cols = odd.len()`.
/// Centres and sources are independent sets of atoms.
///
/// `basis(kvectors, start..end, b)` fills `b[k − start, q] = B[k, q]` (shape `(end − start,
/// n_cols)`, zeroed beforehand) for a range of k-vectors; it is called concurrently on disjoint
/// ranges and must give each entry independently of the range it is asked for.
///
/// Returns `out` with shape `(centers.len(), n_channels, n_cols)`.
///
/// # Algorithm and memory
/// Inside each channel, the columns are regrouped as `[even q | odd q]` so that each parity is
/// one dense product. For each block `K` of [`K_BLOCK`] consecutive k-vectors:
/// 1. `B` for the block (`|K| × n_cols`), regrouped by parity;
/// 2. `[C_i(k) | S_i(k)]` for the centres (`n_centres × 2|K|`) by phase recurrence
///    ([`phases_into`]);
/// 3. the structure factors `C^a`, `S^a` of the sources (`n_channels × 2|K|`), from the
///    centres' phases when `sources.positions()` is the very slice `centers` (same pointer and
///    length), otherwise from their own;
/// 4. per tile of centres, channel and parity: `F^a_p` for the tile (`rows × |K|`, elementwise
///    from 2 and 3), then `out[rows, a, q ∈ p] += F^a_p · B[K, q ∈ p]` (`general_mat_mul`).
///
/// The GEMMs cost `2 n_centres N_k n_channels n_cols` flops ([`reciprocal_sum_flops`]): half
/// of the equivalent `[C_i | S_i] · [[C^a B]; [S^a B]]` product, whose inner dimension is `2|K|`;
/// forming `F` costs `6 n_channels` flops per (centre, k), against `2 n_channels n_cols`.
///
/// Memory: the output twice (the grouped accumulator and the returned array) plus
/// `O((n_centres + n_sources + n_cols) K_BLOCK)` scratch; never `O(N N_k)`.
///
/// # Parallelism and determinism
/// Runs on the current rayon pool (wrap the call in [`crate::threads::with_threads`] to choose
/// the thread count; calling it from inside a parallel loop over structures is fine: the tasks
/// below simply join the pool's queue). Blocks are processed in order; inside a block, the
/// basis, the phases and the GEMMs are split into tasks whose extent depends only on the
/// problem size, never on the thread count: one GEMM task per (128 centres, channel, parity)
/// output tile, which accumulates its own block products in block order. Every output element
/// is therefore computed by the same floating-point operations whatever the number of threads:
/// results are bitwise identical for 1 and N threads. A single large structure is parallel over
/// tiles; many small structures should be parallelised by the caller (one structure of ≤ 128
/// centres has `2 n_channels` tasks per block).
///
/// Errors: `InvalidInput` for non-finite centre positions.
pub fn reciprocal_sum<F>(
    centers: &[Vec3],
    sources: &Sources<'_>,
    kvectors: &KVectors,
    odd: &[bool],
    basis: F,
) -> Result<Array3<f64>>
where
    F: Fn(&KVectors, Range<usize>, ArrayViewMut2<'_, f64>) + Sync,
{
    check_finite(centers, "centre")?;
    let n_centres = centers.len();
    let n_channels = sources.n_channels();
    let n_cols = odd.len();
    let parity = ParityOrder::new(odd);
    let n_even = parity.n_even;

    let mut grouped = Array2::<f64>::zeros((n_centres, n_channels * n_cols));
    let mut b_grouped = Array2::<f64>::zeros((K_BLOCK.min(kvectors.len()), n_cols));
    for_each_block(centers, sources, kvectors, n_cols, basis, |block| {
        let mut b_par = b_grouped.slice_mut(s![..block.basis.nrows(), ..]);
        parity.regroup_rows(block.basis, b_par.view_mut());
        let (b_even, b_odd) = b_par.view().split_at(Axis(1), n_even);
        let (phases, factors) = (block.phases, block.factors.view());
        grouped
            .axis_chunks_iter_mut(Axis(0), ROW_TILE)
            .into_par_iter()
            .enumerate()
            .for_each(|(t, mut rows)| {
                let r0 = t * ROW_TILE;
                let tile_phases = phases.slice(s![r0..r0 + rows.nrows(), ..]);
                rows.axis_chunks_iter_mut(Axis(1), n_cols)
                    .into_par_iter()
                    .enumerate()
                    .for_each(|(a, out_a)| {
                        let sf = factors.row(a);
                        let (out_even, out_odd) = out_a.split_at(Axis(1), n_even);
                        rayon::join(
                            || contract(tile_phases, sf, false, b_even, out_even),
                            || contract(tile_phases, sf, true, b_odd, out_odd),
                        );
                    });
            });
    });
    crate::threads::check_cancelled()?;
    Ok(parity.ungroup(&grouped, n_channels))
}

/// [`reciprocal_sum`] for a separable basis: `B` rows from [`SeparableBasis::fill_rows`],
/// column parities from [`SeparableBasis::odd_columns`]. Returns `(centers.len(), n_channels,
/// basis.n_columns())`.
pub fn dense_sum<B: SeparableBasis>(
    centers: &[Vec3],
    sources: &Sources<'_>,
    kvectors: &KVectors,
    basis: &B,
) -> Result<Array3<f64>> {
    let odd = basis.odd_columns();
    reciprocal_sum(centers, sources, kvectors, &odd, |kv, range, b| {
        basis.fill_rows(kv, range, b)
    })
}

/// The columns of a basis regrouped by parity: grouped column `p` holds column `order[p]`,
/// even columns first (`n_even` of them), then odd ones.
pub(super) struct ParityOrder {
    pub order: Vec<usize>,
    pub n_even: usize,
}

impl ParityOrder {
    pub fn new(odd: &[bool]) -> ParityOrder {
        let n = odd.len();
        let order = (0..n)
            .filter(|&q| !odd[q])
            .chain((0..n).filter(|&q| odd[q]))
            .collect();
        let n_even = odd.iter().filter(|&&o| !o).count();
        ParityOrder { order, n_even }
    }

    /// `to[k, p] = from[k, order[p]]` for every row.
    pub fn regroup_rows(&self, from: ArrayView2<'_, f64>, mut to: ArrayViewMut2<'_, f64>) {
        for (mut to, from) in to.outer_iter_mut().zip(from.outer_iter()) {
            for (t, &q) in to.iter_mut().zip(&self.order) {
                *t = from[q];
            }
        }
    }

    /// The `(n_centres, n_channels, n_cols)` result from `grouped`, whose rows hold one run of
    /// `n_cols` grouped columns per channel: column `order[p]` of channel `a` is
    /// `grouped[i, a · n_cols + p]`.
    pub fn ungroup(&self, grouped: &Array2<f64>, n_channels: usize) -> Array3<f64> {
        let n_cols = self.order.len();
        let mut out = Array3::<f64>::zeros((grouped.nrows(), n_channels, n_cols));
        for (mut out_i, grouped_i) in out.outer_iter_mut().zip(grouped.outer_iter()) {
            for (mut out_ia, grouped_ia) in out_i
                .outer_iter_mut()
                .zip(grouped_i.exact_chunks(n_cols.max(1)))
            {
                for (&q, &x) in self.order.iter().zip(grouped_ia) {
                    out_ia[q] = x;
                }
            }
        }
        out
    }
}

/// What [`for_each_block`] hands over for one block of `len` consecutive k-vectors.
pub(super) struct Block<'a> {
    /// The caller's basis rows, `(len, n_cols)`.
    pub basis: ArrayView2<'a, f64>,
    /// `[C_i | S_i]` of every centre, `(n_centres, 2 len)`.
    pub phases: ArrayView2<'a, f64>,
    /// `[C^a | S^a]` of every channel, `(n_channels, 2 len)`.
    pub factors: Array2<f64>,
}

/// The block loop shared by the contractions: for each block of [`K_BLOCK`] consecutive
/// k-vectors, in order,
/// 1. the basis rows (`basis(kvectors, range, rows)` on chunks of [`BASIS_CHUNK`] k-vectors in
///    parallel, rows zeroed beforehand) and the centres' phases ([`phases_into`]), together;
/// 2. the structure factors of the sources, from the centres' phases when `sources.positions()`
///    is the very slice `centers` (same pointer and length), otherwise from their own;
/// 3. `consume(block)`.
///
/// Nothing is called when there are no centres, sources, columns or k-vectors.
pub(super) fn for_each_block<F>(
    centers: &[Vec3],
    sources: &Sources<'_>,
    kvectors: &KVectors,
    n_cols: usize,
    basis: F,
    mut consume: impl FnMut(Block<'_>),
) where
    F: Fn(&KVectors, Range<usize>, ArrayViewMut2<'_, f64>) + Sync,
{
    let n_centres = centers.len();
    let n_k = kvectors.len();
    if n_centres == 0 || n_cols == 0 || n_k == 0 || sources.is_empty() {
        return;
    }
    // the common case "every atom is a centre and a source": the source phases are the centres'
    let same_atoms = std::ptr::eq(centers, sources.positions());
    let block = K_BLOCK.min(n_k);
    let mut b_block = Array2::<f64>::zeros((block, n_cols));
    let mut phases = Array2::<f64>::zeros((n_centres, 2 * block));
    for start in (0..n_k).step_by(K_BLOCK) {
        if crate::threads::check_cancelled().is_err() {
            return; // the caller's check_cancelled reports it
        }
        let end = (start + K_BLOCK).min(n_k);
        let len = end - start;
        let mut b = b_block.slice_mut(s![..len, ..]);
        let mut centre_phases = phases.slice_mut(s![.., ..2 * len]);
        // the basis and the centres' phases are independent: one parallel region
        rayon::join(
            || {
                b.fill(0.0);
                b.axis_chunks_iter_mut(Axis(0), BASIS_CHUNK)
                    .into_par_iter()
                    .enumerate()
                    .for_each(|(c, chunk)| {
                        let first = start + c * BASIS_CHUNK;
                        basis(kvectors, first..first + chunk.nrows(), chunk);
                    });
            },
            || phases_into(centers, kvectors, start..end, centre_phases.view_mut()),
        );
        let centre_phases = centre_phases.view();
        let factors = if same_atoms {
            weighted_sums(sources, centre_phases)
        } else {
            structure_factors(sources, kvectors, start..end)
        };
        consume(Block {
            basis: b.view(),
            phases: centre_phases,
            factors,
        });
    }
}

/// `out += F_p · b` for one tile of centres, one channel and one parity `p`, with
/// `F_even = 2 (C_i C^a + S_i S^a)`, `F_odd = 2 (S_i C^a − C_i S^a)`.
///
/// `phases`: `(rows, 2|K|)` as `[C_i | S_i]`; `factors`: `(2|K|)` as `[C^a | S^a]`;
/// `b`: `(|K|, n_p)`; `out`: `(rows, n_p)`.
fn contract(
    phases: ArrayView2<'_, f64>,
    factors: ArrayView1<'_, f64>,
    odd: bool,
    b: ArrayView2<'_, f64>,
    mut out: ArrayViewMut2<'_, f64>,
) {
    if out.ncols() == 0 {
        return;
    }
    let len = b.nrows();
    let rows = phases.nrows();
    let (ca, sa) = factors.split_at(Axis(0), len);
    let (ca, sa) = (ca.mapv(|x| 2.0 * x), sa.mapv(|x| 2.0 * x));
    let (ca, sa) = (ca.as_slice().expect("owned"), sa.as_slice().expect("owned"));
    // F row-major, appended row by row (no zero fill); rows of the phases are contiguous
    let mut f = Vec::with_capacity(rows * len);
    for phases_i in phases.outer_iter() {
        let (c, s) = phases_i.split_at(Axis(0), len);
        match (c.as_slice(), s.as_slice()) {
            (Some(c), Some(s)) => push_terms(&mut f, c.iter().zip(s), ca, sa, odd),
            _ => push_terms(&mut f, c.iter().zip(s.iter()), ca, sa, odd),
        }
    }
    let f = Array2::from_shape_vec((rows, len), f).expect("F has rows × |K| entries");
    general_mat_mul(1.0, &f, &b, 1.0, &mut out);
}

/// Append `F_p(i, k)` for one centre `i` and all `k` of the block, from its `(C_i, S_i)` pairs
/// and the doubled structure factors `ca = 2 C^a`, `sa = 2 S^a`.
fn push_terms<'a>(
    f: &mut Vec<f64>,
    phases: impl Iterator<Item = (&'a f64, &'a f64)>,
    ca: &[f64],
    sa: &[f64],
    odd: bool,
) {
    let terms = phases.zip(ca).zip(sa);
    if odd {
        f.extend(terms.map(|(((&c, &s), &ca), &sa)| s * ca - c * sa));
    } else {
        f.extend(terms.map(|(((&c, &s), &ca), &sa)| c * ca + s * sa));
    }
}

/// Floating-point operations of the GEMMs in [`reciprocal_sum`], `2 · n_centres · N_k ·
/// n_channels n_cols` (for rate reports).
pub fn reciprocal_sum_flops(n_centres: usize, n_k: usize, n_channels: usize, n_cols: usize) -> f64 {
    2.0 * n_centres as f64 * n_k as f64 * (n_channels * n_cols) as f64
}

#[cfg(test)]
mod tests {
    use super::super::k_vectors::{dot, k_vectors};
    use super::*;
    use crate::error::Error;
    use crate::systems::Cell;
    use crate::threads::with_threads;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// A smooth, parity-agnostic test basis: `B[k, q] = exp(−|k|²/(q + 2)) · cos(q k_x + k_z)`.
    fn test_basis(kv: &KVectors, range: Range<usize>, mut b: ArrayViewMut2<'_, f64>) {
        for (mut row, k) in b.outer_iter_mut().zip(range) {
            let v = kv.vectors()[k];
            let kn = kv.norms()[k];
            for (q, x) in row.iter_mut().enumerate() {
                *x = (-kn * kn / (q as f64 + 2.0)).exp() * (q as f64 * v[0] + v[2]).cos();
            }
        }
    }

    struct Case {
        kv: KVectors,
        centers: Vec<Vec3>,
        positions: Vec<Vec3>,
        channels: Vec<usize>,
        weights: Vec<f64>,
        odd: Vec<bool>,
    }

    fn case(n_centres: usize, n_sources: usize, k_cutoff: f64, seed: u64) -> Case {
        let cell = Cell::new(
            [[7.0, 0.0, 0.0], [2.0, 6.5, 0.0], [-1.5, 1.0, 8.0]],
            [true; 3],
        )
        .unwrap();
        let kv = k_vectors(&cell, k_cutoff).unwrap();
        let mut rng = StdRng::seed_from_u64(seed);
        let mut random_position = || {
            let f = [0, 1, 2].map(|_| rng.random_range(-0.2..1.2));
            cell.to_cartesian(f)
        };
        let centers: Vec<Vec3> = (0..n_centres).map(|_| random_position()).collect();
        let positions: Vec<Vec3> = (0..n_sources).map(|_| random_position()).collect();
        let channels = (0..n_sources).map(|j| (j * 7 + 1) % 3).collect();
        let weights = (0..n_sources).map(|j| 0.5 + (j % 5) as f64 * 0.3).collect();
        let odd = (0..11).map(|q| q % 3 == 1).collect();
        Case {
            kv,
            centers,
            positions,
            channels,
            weights,
            odd,
        }
    }

    fn run(c: &Case) -> Array3<f64> {
        let sources = Sources::new(&c.positions, &c.channels, Some(&c.weights), 3).unwrap();
        reciprocal_sum(&c.centers, &sources, &c.kv, &c.odd, test_basis).unwrap()
    }

    #[test]
    fn matches_the_naive_triple_loop() {
        // > 2 blocks, with a partial last one
        let c = case(9, 13, 6.0, 11);
        assert!(
            c.kv.len() > 2 * K_BLOCK && !c.kv.len().is_multiple_of(K_BLOCK),
            "{}",
            c.kv.len()
        );
        let got = run(&c);
        let n_cols = c.odd.len();
        let mut b = Array2::zeros((c.kv.len(), n_cols));
        test_basis(&c.kv, 0..c.kv.len(), b.view_mut());
        let mut worst: f64 = 0.0;
        for (i, ri) in c.centers.iter().enumerate() {
            for a in 0..3 {
                for q in 0..n_cols {
                    let mut expected = 0.0;
                    let mut scale = 0.0;
                    for (k, kvec) in c.kv.vectors().iter().enumerate() {
                        for (j, rj) in c.positions.iter().enumerate() {
                            if c.channels[j] != a {
                                continue;
                            }
                            let x = dot(*kvec, *ri) - dot(*kvec, *rj);
                            let f = if c.odd[q] { x.sin() } else { x.cos() };
                            let term = b[[k, q]] * 2.0 * c.weights[j] * f;
                            expected += term;
                            scale += term.abs();
                        }
                    }
                    let err = (got[[i, a, q]] - expected).abs() / scale.max(1e-300);
                    worst = worst.max(err);
                }
            }
        }
        eprintln!(
            "reciprocal_sum vs naive loop over {} k-vectors: worst error {worst:.2e} relative to Σ|terms|",
            c.kv.len()
        );
        assert!(worst < 1e-12, "worst relative error {worst:e}");
    }

    #[test]
    fn bitwise_identical_for_one_and_two_threads() {
        // enough centres for several row tiles, a partial last tile
        let mut c = case(150, 40, 2.5, 23);
        c.odd = (0..70).map(|q| q % 2 == 0).collect();
        let one = with_threads(1, || run(&c)).unwrap();
        let two = with_threads(2, || run(&c)).unwrap();
        assert_eq!(one.dim(), (150, 3, 70));
        assert!(one
            .iter()
            .zip(two.iter())
            .all(|(x, y)| x.to_bits() == y.to_bits()));
        // and from inside a parallel loop over structures
        let nested = with_threads(2, || {
            (0..3).into_par_iter().map(|_| run(&c)).collect::<Vec<_>>()
        })
        .unwrap();
        for n in &nested {
            assert!(one
                .iter()
                .zip(n.iter())
                .all(|(x, y)| x.to_bits() == y.to_bits()));
        }
    }

    #[test]
    fn centres_and_sources_are_independent() {
        // a centre that is not a source, sources in an unused channel, no k-vectors, no sources
        let c = case(3, 5, 2.0, 2);
        let sources = Sources::new(&c.positions, &[2, 2, 2, 2, 2], None, 3).unwrap();
        let out = reciprocal_sum(&c.centers, &sources, &c.kv, &c.odd, test_basis).unwrap();
        assert!(out.slice(s![.., 0..2, ..]).iter().all(|&x| x == 0.0));
        assert!(out.slice(s![.., 2, ..]).iter().any(|&x| x != 0.0));

        let empty = Sources::new(&[], &[], None, 3).unwrap();
        let out = reciprocal_sum(&c.centers, &empty, &c.kv, &c.odd, test_basis).unwrap();
        assert_eq!(out.dim(), (3, 3, 11));
        assert!(out.iter().all(|&x| x == 0.0));

        let out = reciprocal_sum(&[], &sources, &c.kv, &c.odd, test_basis).unwrap();
        assert_eq!(out.dim(), (0, 3, 11));

        // one parity only: the same columns as in the mixed layout
        let mixed = run(&c);
        for parity in [false, true] {
            let same = Case {
                kv: c.kv.clone(),
                centers: c.centers.clone(),
                positions: c.positions.clone(),
                channels: c.channels.clone(),
                weights: c.weights.clone(),
                odd: vec![parity; c.odd.len()],
            };
            let single = run(&same);
            for q in (0..c.odd.len()).filter(|&q| c.odd[q] == parity) {
                let (x, y) = (mixed.slice(s![.., .., q]), single.slice(s![.., .., q]));
                assert!(x
                    .iter()
                    .zip(y)
                    .all(|(x, y)| (x - y).abs() <= 1e-14 * x.abs().max(1.0)));
            }
        }

        // centres that are the sources (same slice: shared phases) or a copy of them
        let sources = Sources::new(&c.positions, &c.channels, Some(&c.weights), 3).unwrap();
        let copy = c.positions.clone();
        let shared = reciprocal_sum(&c.positions, &sources, &c.kv, &c.odd, test_basis).unwrap();
        let separate = reciprocal_sum(&copy, &sources, &c.kv, &c.odd, test_basis).unwrap();
        assert!(shared
            .iter()
            .zip(&separate)
            .all(|(x, y)| x.to_bits() == y.to_bits()));

        let bad = [[0.0, f64::NAN, 0.0]];
        assert!(matches!(
            reciprocal_sum(&bad, &sources, &c.kv, &c.odd, test_basis),
            Err(Error::InvalidInput(_))
        ));
    }

    #[test]
    fn translation_invariance() {
        // F depends on r_i − r_j only: shifting every atom leaves the sum unchanged
        let c = case(6, 8, 2.5, 9);
        let shift = [0.37, -1.1, 2.9];
        let moved = |p: &[Vec3]| -> Vec<Vec3> {
            p.iter()
                .map(|r| [r[0] + shift[0], r[1] + shift[1], r[2] + shift[2]])
                .collect()
        };
        let shifted = Case {
            kv: c.kv.clone(),
            centers: moved(&c.centers),
            positions: moved(&c.positions),
            channels: c.channels.clone(),
            weights: c.weights.clone(),
            odd: c.odd.clone(),
        };
        let (x, y) = (run(&c), run(&shifted));
        let scale = x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let worst = x
            .iter()
            .zip(y.iter())
            .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
        assert!(worst < 1e-12 * scale, "{worst:e} vs {scale:e}");
    }
}
