//! Derivatives of the dense contraction [`super::dense_sum`] with respect to the positions and
//! to a homogeneous strain when the centres are the sources (`docs/math.md` §13,
//! `docs/gradients.md`): the backward pass (vector–Jacobian product, [`dense_backward`]) through
//! the adjoint of the structure-factor contraction; the Jacobian rows of the same formulas are in
//! `super::jacobian`.
//!
//! With `F_even^a(i, k) = 2 Σ_{j∈a} w_j cos k·(r_i − r_j) = 2 (C_i C^a + S_i S^a)`,
//! `F_odd^a = 2 Σ_j w_j sin k·(r_i − r_j) = 2 (S_i C^a − C_i S^a)` and
//! `c_i[a, q] = Σ_k B[k, q] F^a_{parity(q)}(i, k)`:
//! - positions: `∂c_i[a, q]/∂r_j = 2 w_j Σ_k B[k, q] k (sin k·(r_i − r_j) | −cos k·(r_i − r_j))`
//!   for `j ∈ a`, `j ≠ i` (even | odd `q`), and `∂c_i/∂r_i = −Σ_{j≠i} ∂c_i/∂r_j`;
//! - strain: the phases are invariant, so `∂c_i[a, q]/∂ε_ab = Σ_k ∂B[k, q]/∂ε_ab F^a(i, k)` with
//!   the basis derivative of [`SeparableBasis::fill_strain_rows`];
//! - backward, for a cotangent `g_i[a, q]`: contract it with the basis first,
//!   `Ge_i^a(k) = Σ_{q even} g_i[a, q] B[k, q]`, `Go_i^a(k)` likewise over the odd columns (one
//!   GEMM per channel and parity, the size of the values'), form
//!   `X^a = Σ_i (Ge_i^a C_i + Go_i^a S_i)`, `Y^a = Σ_i (Ge_i^a S_i − Go_i^a C_i)`; then
//!   `∂(Σ g·c)/∂r_m = 2 Σ_k k [Σ_a (Ge_m^a (C_m S^a − S_m C^a) + Go_m^a (C_m C^a + S_m S^a)) +
//!   w_m (C_m Y^{a_m} − S_m X^{a_m})]` — the centre's own phase, then the structure factor.
//!   Strain: `H[k, q] = Σ_{i,a} g_i[a, q] F^a(i, k)` (one more GEMM per channel and parity) and
//!   `∂(Σ g·c)/∂ε_ab = Σ_{k,q} H[k, q] ∂B[k, q]/∂ε_ab`, contracted through the separable
//!   factors (`StrainFactors`: `H` folded with `R` and `R'` over the radial index first, never a
//!   table of `∂B/∂ε`).
//!
//! Cost of the backward pass: two (positions) or four (with strain) GEMMs of the values' size,
//! `2 N N_k n_channels n_cols` flops each, plus `O(N N_k n_channels)` elementwise work.

use ndarray::linalg::general_mat_mul;
use std::ops::Range;

use ndarray::{s, Array2, Array3, ArrayView2, ArrayView3, ArrayViewMut2, Axis};
use rayon::prelude::*;

use super::basis::SeparableBasis;
use super::contraction::{ParityOrder, K_BLOCK};
use super::k_vectors::KVectors;
use super::phases::{phases_into, weighted_sums, Sources};
use crate::systems::{Mat3, Vec3};

/// Atoms per task of the backward pass (fixed: the result does not depend on the threads).
const ROW_TILE: usize = 128;

/// The basis-dependent half of the backward pass over one block of k-vectors: what
/// [`backward_blocks`] needs from an engine. The cotangent reaches it per channel as
/// `(rows, n_cols)` with its columns in [`BlockAdjoint`]'s `column_order` (chosen by the engine).
pub(super) trait BlockAdjoint: Sync {
    /// Number of k-vectors of the block.
    fn len(&self) -> usize;

    /// Per tile and channel, before [`contract`](Self::contract) and
    /// [`strain_tile`](Self::strain_tile): whatever they share, derived from the cotangent `g`
    /// `(rows, n_cols)`, into `scratch` (nothing by default).
    fn prepare(&self, _g: ArrayView2<'_, f64>, _strain: bool, _scratch: &mut Vec<f64>) {}

    /// `ge[i, k] = Σ_{q even} g[i, q] B[k, q]`, `go` over the odd columns (`(rows, len)` each,
    /// overwritten); `scratch` as left by [`prepare`](Self::prepare).
    fn contract(
        &self,
        g: ArrayView2<'_, f64>,
        scratch: &[f64],
        ge: &mut Array2<f64>,
        go: &mut Array2<f64>,
    );

    /// Shape of the strain accumulator of a tile.
    fn strain_shape(&self) -> (usize, usize);

    /// Add what `Σ_i g_i F(i, k)` contributes to the strain accumulator, for `F_even` `fe` and
    /// `F_odd` `fo` `(rows, len)` of one channel and its cotangent `g` `(rows, n_cols)`.
    fn strain_tile(
        &self,
        fe: ArrayView2<'_, f64>,
        fo: ArrayView2<'_, f64>,
        g: ArrayView2<'_, f64>,
        scratch: &[f64],
        acc: &mut Array2<f64>,
    );

    /// `Σ_{k, q} H[k, q] ∂B[k, q]/∂ε_ab` from the accumulator summed over the tiles.
    fn virial(&self, acc: &Array2<f64>) -> Mat3;
}

/// The dense engine's block: basis rows in parity order and, with strain, the separable factors
/// of each k-vector.
struct DenseBlock {
    /// `(len, n_cols)`, columns in parity order.
    b: Array2<f64>,
    /// With strain: `R`, `R'`, `A`, `∇_k A` per k-vector.
    factors: Option<StrainFactors>,
    n_even: usize,
}

/// The separable factors of a block's k-vectors for the strain (`docs/gradients.md`):
/// `Σ_q H[k, q] ∂B[k, q]/∂ε_ab = −δ_ab Σ_u A_u E_u − k_a (k_b/|k| Σ_u A_u E'_u + Σ_u ∂_b A_u E_u)`
/// with `E_u = Σ_r R[r, g(u)] H[k, (r, u)]` and `E'_u` the same with `R'`: `2 n_cols + 5 n_ang`
/// operations per k-vector instead of a `(9, n_cols)` table of `∂B/∂ε`.
struct StrainFactors {
    /// `R[r, g]` and `R'[r, g]` per k-vector, `(len, n_radial, n_groups)`.
    radial: Array3<f64>,
    derivative: Array3<f64>,
    /// `A_u` `(len, n_ang)` and `∂A_u/∂k_b` `(len, n_ang, 3)`.
    angular: Array2<f64>,
    gradient: Array3<f64>,
    vectors: Vec<Vec3>,
    norms: Vec<f64>,
    group: Vec<usize>,
    /// Position of column `q` in the parity order.
    position: Vec<usize>,
}

impl StrainFactors {
    /// The factors of the k-vectors `range`, and the basis rows `b[k − start, q] = R A` (as
    /// [`SeparableBasis::fill_rows`], columns in the original order).
    fn new<B: SeparableBasis>(
        basis: &B,
        kvectors: &KVectors,
        range: Range<usize>,
        order: &[usize],
        mut b: ArrayViewMut2<'_, f64>,
    ) -> Self {
        let (len, n_radial, n_groups, n_ang) = (
            range.len(),
            basis.n_radial(),
            basis.n_groups(),
            basis.n_angular(),
        );
        let group = basis.group().to_vec();
        let mut radial = Array3::zeros((len, n_radial, n_groups));
        let mut derivative = Array3::zeros((len, n_radial, n_groups));
        let mut angular = Array2::zeros((len, n_ang));
        let mut gradient = Array3::zeros((len, n_ang, 3));
        let mut grads = vec![[0.0; 3]; n_ang];
        for (j, k) in range.clone().enumerate() {
            let norm = kvectors.norms()[k];
            basis.radial(norm, radial.index_axis_mut(Axis(0), j));
            basis.radial_derivative(norm, derivative.index_axis_mut(Axis(0), j));
            let mut a = angular.row_mut(j);
            let a = a.as_slice_mut().expect("contiguous");
            basis.angular_with_gradient(kvectors.vectors()[k], a, &mut grads);
            for (u, g) in grads.iter().enumerate() {
                for c in 0..3 {
                    gradient[[j, u, c]] = g[c];
                }
            }
            let mut row = b.row_mut(j);
            for r in 0..n_radial {
                for u in 0..n_ang {
                    row[r * n_ang + u] = radial[[j, r, group[u]]] * angular[[j, u]];
                }
            }
        }
        let mut position = vec![0; order.len()];
        for (p, &q) in order.iter().enumerate() {
            position[q] = p;
        }
        StrainFactors {
            radial,
            derivative,
            angular,
            gradient,
            vectors: kvectors.vectors()[range.clone()].to_vec(),
            norms: kvectors.norms()[range].to_vec(),
            group,
            position,
        }
    }

    /// The factors of consecutive ranges, in order, as one.
    fn concatenate(parts: Vec<StrainFactors>) -> StrainFactors {
        let mut parts = parts.into_iter();
        let mut all = parts.next().expect("at least one chunk");
        for p in parts {
            let cat3 = |x: &Array3<f64>, y: &Array3<f64>| {
                ndarray::concatenate(Axis(0), &[x.view(), y.view()]).expect("same shapes")
            };
            all.radial = cat3(&all.radial, &p.radial);
            all.derivative = cat3(&all.derivative, &p.derivative);
            all.gradient = cat3(&all.gradient, &p.gradient);
            all.angular = ndarray::concatenate(Axis(0), &[all.angular.view(), p.angular.view()])
                .expect("same shapes");
            all.vectors.extend(p.vectors);
            all.norms.extend(p.norms);
        }
        all
    }

    /// `Σ_{k, q} H[k, q] ∂B[k, q]/∂ε_ab` for `h` `(len, n_cols)` in parity order.
    fn virial(&self, h: &Array2<f64>) -> Mat3 {
        let (n_radial, n_ang) = (self.radial.shape()[1], self.angular.ncols());
        let mut virial = [[0.0; 3]; 3];
        for (j, (kv, norm)) in self.vectors.iter().zip(&self.norms).enumerate() {
            let (mut s0, mut s1, mut v) = (0.0, 0.0, [0.0; 3]);
            for u in 0..n_ang {
                let g = self.group[u];
                let (mut e, mut e1) = (0.0, 0.0);
                for r in 0..n_radial {
                    let x = h[[j, self.position[r * n_ang + u]]];
                    e += self.radial[[j, r, g]] * x;
                    e1 += self.derivative[[j, r, g]] * x;
                }
                let a = self.angular[[j, u]];
                s0 += a * e;
                s1 += a * e1;
                for (b, vb) in v.iter_mut().enumerate() {
                    *vb += self.gradient[[j, u, b]] * e;
                }
            }
            for a in 0..3 {
                virial[a][a] -= s0;
                for b in 0..3 {
                    virial[a][b] -= kv[a] * (kv[b] / norm * s1 + v[b]);
                }
            }
        }
        virial
    }
}

impl BlockAdjoint for DenseBlock {
    fn len(&self) -> usize {
        self.b.nrows()
    }

    fn contract(
        &self,
        g: ArrayView2<'_, f64>,
        _scratch: &[f64],
        ge: &mut Array2<f64>,
        go: &mut Array2<f64>,
    ) {
        let (b_even, b_odd) = self.b.view().split_at(Axis(1), self.n_even);
        let (g_even, g_odd) = g.split_at(Axis(1), self.n_even);
        general_mat_mul(1.0, &g_even, &b_even.t(), 0.0, ge);
        general_mat_mul(1.0, &g_odd, &b_odd.t(), 0.0, go);
    }

    fn strain_shape(&self) -> (usize, usize) {
        (self.len(), self.b.ncols())
    }

    fn strain_tile(
        &self,
        fe: ArrayView2<'_, f64>,
        fo: ArrayView2<'_, f64>,
        g: ArrayView2<'_, f64>,
        _scratch: &[f64],
        acc: &mut Array2<f64>,
    ) {
        let (g_even, g_odd) = g.split_at(Axis(1), self.n_even);
        let (mut h_even, mut h_odd) = acc.view_mut().split_at(Axis(1), self.n_even);
        general_mat_mul(1.0, &fe.t(), &g_even, 1.0, &mut h_even);
        general_mat_mul(1.0, &fo.t(), &g_odd, 1.0, &mut h_odd);
    }

    fn virial(&self, h: &Array2<f64>) -> Mat3 {
        self.factors
            .as_ref()
            .expect("strain factors with strain")
            .virial(h)
    }
}

/// The backward pass of [`super::dense_sum`] with the centres as sources: for a cotangent
/// `(N, n_channels, n_cols)`, `∂(Σ g·c)/∂r_m` for every atom and, when `strain`,
/// `∂(Σ g·c)/∂ε` (module docs; the 1/V of the basis included, the `k = 0` terms of the caller
/// not).
///
/// Per block of [`K_BLOCK`] k-vectors: the basis rows (and strain derivatives), the phases of
/// every atom by recurrence ([`phases_into`]) and the structure factors; then per tile of 128
/// atoms (in parallel) `G = g · Bᵀ` and, with strain, `H += Fᵀ g` (GEMMs), the own-phase forces
/// and partial `X`, `Y`; the partial sums are added in tile order, then the structure-factor
/// forces per atom. Bitwise independent of the number of threads.
///
/// # Panics
/// When the cotangent's shape is not `(N, n_channels, n_cols)`.
pub fn dense_backward<B: SeparableBasis>(
    sources: &Sources<'_>,
    kvectors: &KVectors,
    basis: &B,
    cotangent: ArrayView3<f64>,
    strain: bool,
) -> (Vec<Vec3>, Option<Mat3>) {
    let n_cols = basis.n_columns();
    let odd = basis.odd_columns();
    let parity = ParityOrder::new(&odd);
    let n_k = kvectors.len();
    let ranges = (0..n_k)
        .step_by(K_BLOCK)
        .map(|start| start..(start + K_BLOCK).min(n_k));
    const BASIS_CHUNK: usize = 32;
    let make = |range: Range<usize>| {
        let len = range.len();
        let mut b = Array2::<f64>::zeros((len, n_cols));
        let factors = if strain {
            let parts: Vec<StrainFactors> = b
                .axis_chunks_iter_mut(Axis(0), BASIS_CHUNK)
                .into_par_iter()
                .enumerate()
                .map(|(c, b)| {
                    let first = range.start + c * BASIS_CHUNK;
                    let chunk = first..first + b.nrows();
                    StrainFactors::new(basis, kvectors, chunk, &parity.order, b)
                })
                .collect();
            Some(StrainFactors::concatenate(parts))
        } else {
            b.axis_chunks_iter_mut(Axis(0), BASIS_CHUNK)
                .into_par_iter()
                .enumerate()
                .for_each(|(c, b)| {
                    let first = range.start + c * BASIS_CHUNK;
                    basis.fill_rows(kvectors, first..first + b.nrows(), b);
                });
            None
        };
        let mut b_par = Array2::<f64>::zeros((len, n_cols));
        parity.regroup_rows(b.view(), b_par.view_mut());
        DenseBlock {
            b: b_par,
            factors,
            n_even: parity.n_even,
        }
    };
    backward_blocks(
        sources,
        kvectors,
        &parity.order,
        cotangent,
        strain,
        ranges,
        make,
    )
}

/// What one tile of atoms contributes in one block of the backward pass.
struct TilePart {
    /// `2 Σ_k k t_m(k)` of the tile's atoms (the centre's own phase).
    forces: Vec<Vec3>,
    /// `[X^a | Y^a]`, `(n_channels, 2 len)`, partial sums over the tile.
    xy: Array2<f64>,
    /// The strain accumulator over the tile (empty without strain).
    h: Array2<f64>,
}

/// The engine-independent half of the backward pass (module docs): for each block of
/// k-vectors `ranges` (in order) of `kvectors`, the engine's block (`make(range)`, built while
/// the phases of every atom are computed), the structure factors, then per tile of
/// [`ROW_TILE`] atoms (in parallel) `G` ([`BlockAdjoint::contract`]), the own-phase forces, the
/// partial `X^a`, `Y^a` and the strain accumulator; partial sums added in tile order, then the
/// structure-factor forces per atom and the block's virial. `order` is the column order the
/// engine wants the cotangent in. Bitwise independent of the number of threads.
pub(super) fn backward_blocks<A: BlockAdjoint + Send>(
    sources: &Sources<'_>,
    kvectors: &KVectors,
    order: &[usize],
    cotangent: ArrayView3<f64>,
    strain: bool,
    ranges: impl Iterator<Item = Range<usize>>,
    make: impl Fn(Range<usize>) -> A + Sync,
) -> (Vec<Vec3>, Option<Mat3>) {
    let positions = sources.positions();
    let n = positions.len();
    let n_channels = sources.n_channels();
    let n_cols = order.len();
    assert_eq!(cotangent.shape(), [n, n_channels, n_cols]);
    let mut forces = vec![[0.0; 3]; n];
    let mut virial = [[0.0; 3]; 3];
    if n == 0 || kvectors.is_empty() || n_cols == 0 {
        return (forces, strain.then_some(virial));
    }
    // the cotangent per channel in the engine's column order: (n_channels, N, n_cols)
    let mut g = Array3::<f64>::zeros((n_channels, n, n_cols));
    for i in 0..n {
        for a in 0..n_channels {
            for (p, &q) in order.iter().enumerate() {
                g[[a, i, p]] = cotangent[[i, a, q]];
            }
        }
    }
    let longest = K_BLOCK.min(kvectors.len());
    let mut phases = Array2::<f64>::zeros((n, 2 * longest));
    for range in ranges {
        if crate::threads::check_cancelled().is_err() {
            break; // partial sums: the caller's check_cancelled reports it
        }
        let len = range.len();
        if phases.ncols() < 2 * len {
            phases = Array2::zeros((n, 2 * len));
        }
        let mut p = phases.slice_mut(s![.., ..2 * len]);
        let (block, ()) = rayon::join(
            || make(range.clone()),
            || phases_into(positions, kvectors, range.clone(), p.view_mut()),
        );
        let p = p.view();
        let factors = weighted_sums(sources, p);
        let kv = &kvectors.vectors()[range];
        let parts: Vec<TilePart> = (0..n.div_ceil(ROW_TILE))
            .into_par_iter()
            .map(|t| {
                let rows = t * ROW_TILE..((t + 1) * ROW_TILE).min(n);
                backward_tile(&g, p, factors.view(), &block, kv, rows, strain)
            })
            .collect();
        // partial sums in tile order
        let mut xy = Array2::<f64>::zeros((n_channels, 2 * len));
        let mut h = Array2::<f64>::zeros(if strain { block.strain_shape() } else { (0, 0) });
        for (t, part) in parts.into_iter().enumerate() {
            for (f, pf) in forces[t * ROW_TILE..].iter_mut().zip(&part.forces) {
                for alpha in 0..3 {
                    f[alpha] += pf[alpha];
                }
            }
            xy += &part.xy;
            if strain {
                h += &part.h;
            }
        }
        // the structure-factor forces, per atom
        forces
            .par_chunks_mut(ROW_TILE)
            .enumerate()
            .for_each(|(t, chunk)| {
                for (local, f) in chunk.iter_mut().enumerate() {
                    let m = t * ROW_TILE + local;
                    let a = sources.channels()[m];
                    let w = 2.0 * sources.weight(m);
                    let (c, s_) = p.row(m).split_at(Axis(0), len);
                    let (x, y) = xy.row(a).split_at(Axis(0), len);
                    let mut sum = [0.0; 3];
                    for k in 0..len {
                        let u = w * (c[k] * y[k] - s_[k] * x[k]);
                        for alpha in 0..3 {
                            sum[alpha] += u * kv[k][alpha];
                        }
                    }
                    for alpha in 0..3 {
                        f[alpha] += sum[alpha];
                    }
                }
            });
        if strain {
            let v = block.virial(&h);
            for a in 0..3 {
                for b in 0..3 {
                    virial[a][b] += v[a][b];
                }
            }
        }
    }
    (forces, strain.then_some(virial))
}

/// One tile of atoms `rows` in one block (see [`backward_blocks`]): `g` `(n_channels, N,
/// n_cols)` in the engine's column order, `phases` `[C | S]` `(N, 2 len)`, `factors`
/// `[C^a | S^a]` `(n_channels, 2 len)`.
fn backward_tile<A: BlockAdjoint>(
    g: &Array3<f64>,
    phases: ArrayView2<'_, f64>,
    factors: ArrayView2<'_, f64>,
    block: &A,
    kv: &[Vec3],
    rows: Range<usize>,
    strain: bool,
) -> TilePart {
    let n_channels = g.shape()[0];
    let len = block.len();
    let n_rows = rows.len();
    let tile_phases = phases.slice(s![rows.clone(), ..]);
    let mut t = Array2::<f64>::zeros((n_rows, len));
    let mut xy = Array2::<f64>::zeros((n_channels, 2 * len));
    let mut h = Array2::<f64>::zeros(if strain { block.strain_shape() } else { (0, 0) });
    let mut ge = Array2::<f64>::zeros((n_rows, len));
    let mut go = Array2::<f64>::zeros((n_rows, len));
    let f_rows = if strain { n_rows } else { 0 };
    let mut fe = Array2::<f64>::zeros((f_rows, len));
    let mut fo = Array2::<f64>::zeros((f_rows, len));
    let mut scratch = Vec::new();
    for a in 0..n_channels {
        let ga = g.slice(s![a, rows.clone(), ..]);
        block.prepare(ga, strain, &mut scratch);
        block.contract(ga, &scratch, &mut ge, &mut go);
        let (ca, sa) = factors.row(a).split_at(Axis(0), len);
        let (ca, sa) = (ca.to_vec(), sa.to_vec());
        let (mut x, mut y) = xy.row_mut(a).split_at(Axis(0), len);
        let (x, y) = (
            x.as_slice_mut().expect("contiguous"),
            y.as_slice_mut().expect("contiguous"),
        );
        for r in 0..n_rows {
            let ph = tile_phases.row(r);
            let (c, s_) = ph.split_at(Axis(0), len);
            let (c, s_) = (c.to_slice(), s_.to_slice());
            let (e, o) = (ge.row(r), go.row(r));
            let (e, o) = (e.to_slice(), o.to_slice());
            let mut tr = t.row_mut(r);
            let tr = tr.as_slice_mut().expect("contiguous");
            for k in 0..len {
                let (c, s_, cf, sf, e, o) = (c[k], s_[k], ca[k], sa[k], e[k], o[k]);
                tr[k] += e * (c * sf - s_ * cf) + o * (c * cf + s_ * sf);
                x[k] += e * c + o * s_;
                y[k] += e * s_ - o * c;
            }
            if strain {
                for k in 0..len {
                    let (c, s_, cf, sf) = (c[k], s_[k], ca[k], sa[k]);
                    fe[[r, k]] = 2.0 * (c * cf + s_ * sf);
                    fo[[r, k]] = 2.0 * (s_ * cf - c * sf);
                }
            }
        }
        if strain {
            block.strain_tile(fe.view(), fo.view(), ga, &scratch, &mut h);
        }
    }
    let forces = (0..n_rows)
        .map(|r| {
            let mut f = [0.0; 3];
            for (tk, kk) in t.row(r).iter().zip(kv) {
                let u = 2.0 * tk;
                for alpha in 0..3 {
                    f[alpha] += u * kk[alpha];
                }
            }
            f
        })
        .collect();
    TilePart { forces, xy, h }
}

/// Contiguous slices of 1-D views.
trait ToSlice<'a> {
    fn to_slice(self) -> &'a [f64];
}

impl<'a> ToSlice<'a> for ndarray::ArrayView1<'a, f64> {
    fn to_slice(self) -> &'a [f64] {
        self.to_slice_memory_order()
            .expect("rows of standard-layout arrays are contiguous")
    }
}
