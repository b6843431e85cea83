//! The backward pass of [`super::shell_sum`] (positions and strain): the adjoint of the
//! structure-factor contraction (`crate::kspace::dense_backward`'s formulas), with the shells
//! used the way the values use them and the atoms along SIMD lanes (`adjoint_kernels.rs`).
//!
//! With `B[k, (r, u)] = R[r, g(u)](|k_s|) A_u(k)` and a cotangent `g_i[a, (r, u)]`, fold the
//! radial factor once per shell and centre, `g̃_i^a[u](s) = Σ_r g_i[a, (r, u)] R[r, g(u)](|k_s|)`
//! (`n_radial n_ang` per centre and shell), then `G_i^a(k) = Σ_u A_u(k) g̃_i^a[u](s)` (`n_ang`
//! per centre and k-vector, split by parity into `Ge`, `Go`). With `F_even = 2 (C_i C^a + S_i
//! S^a)`, `F_odd = 2 (S_i C^a − C_i S^a)`:
//! - forces: `Σ_k k Σ_a (Go F_even − Ge F_odd)` through the centre's own phase, plus
//!   `2 w_m Σ_k k (C_m Y^{a_m} − S_m X^{a_m})` through the structure factors, with
//!   `X^a = Σ_i (Ge_i^a C_i + Go_i^a S_i)`, `Y^a = Σ_i (Ge_i^a S_i − Go_i^a C_i)`;
//! - strain: with `E_u(k) = Σ_{i,a} g̃_i^a[u] F^a(i, k)` and `S'(k) = Σ_{i,a} G'^a_i(k)
//!   F^a(i, k)` (`G'` the same as `G` with `R'` for `R`),
//!   `Σ_{k,q} H[k, q] ∂B[k, q]/∂ε_ab = Σ_k [−δ_ab Σ_u A_u E_u − k_a (k_b/|k| S' +
//!   Σ_u ∂_b A_u E_u)]` (`crate::kspace::SeparableBasis::fill_strain_rows` for the derivative).
//!
//! Cost per (centre, k-vector, channel): `n_ang` multiply-adds of lanes for `G` (the values'
//! count), `2 n_ang` more with strain (`G'`, `E`), a few for the forces and `X`, `Y`.

use std::ops::Range;

use ndarray::ArrayView3;
use rayon::prelude::*;

use super::super::basis::SeparableBasis;
use super::super::contraction::ParityOrder;
use super::super::lanes::{self, LANES};
use super::super::phases::{IndexBox, Sources};
use super::adjoint_kernels::{AdjointBlock, AdjointScratch, OwnTask, SourceTask};
use super::kernels::{lane_structure_factors, LaneTables};
use super::tables::{angular_table, radial_table};
use super::Shells;
use crate::kspace::KVectors;
use crate::systems::{Mat3, Vec3};

/// Tiles of [`LANES`] atoms per task (fixed: the result does not depend on the threads).
const TILES_PER_TASK: usize = 4;
/// k-vectors per task of the block's virial.
const VIRIAL_CHUNK: usize = 32;

/// The backward pass of [`super::shell_sum`] with the centres as sources: for a cotangent
/// `(N, n_channels, n_radial · n_ang)`, `∂(Σ g·c)/∂r_m` for every atom and, when `strain`,
/// `∂(Σ g·c)/∂ε` (module docs; the 1/V of the basis included, the `k = 0` terms of the caller
/// not).
///
/// The tables of the values (radial factors per shell, angular factors per k-vector, lane phase
/// tables, structure factors; `R'` with strain) and the cotangent in lanes; then per block of
/// whole shells, in norm order: per group of `TILES_PER_TASK` tiles (in parallel) the
/// contracted cotangent, the own-phase forces and the group's shares of `X`, `Y`, `E`, `S'`;
/// those shares added in group order; the block's virial; the structure-factor forces per tile
/// (in parallel). Bitwise independent of the number of threads. Memory: the tables of the
/// values and `O(N · n_channels · n_cols)` for the cotangent in lanes.
///
/// # Panics
/// When the cotangent's shape is not `(N, n_channels, n_radial · n_ang)`.
pub fn shell_backward<B: SeparableBasis>(
    sources: &Sources<'_>,
    shells: &Shells,
    basis: &B,
    cotangent: ArrayView3<f64>,
    strain: bool,
) -> (Vec<Vec3>, Option<Mat3>) {
    let positions = sources.positions();
    let n = positions.len();
    let n_ch = sources.n_channels();
    let (n_ang, n_radial) = (basis.n_angular(), basis.n_radial());
    let n_cols = n_radial * n_ang;
    assert_eq!(cotangent.shape(), [n, n_ch, n_cols]);
    let mut forces = vec![[0.0; 3]; n];
    let mut virial = [[0.0; 3]; 3];
    let kvectors = shells.kvectors();
    let n_k = kvectors.len();
    if n == 0 || n_k == 0 || n_cols == 0 || n_ch == 0 {
        return (forces, strain.then_some(virial));
    }
    let parity = ParityOrder::new(basis.odd());
    let radial = radial_table(basis, shells, &parity, false);
    let derivative = strain.then(|| radial_table(basis, shells, &parity, true));
    let angular = angular_table(basis, shells, &parity);
    let angular = angular.as_slice().expect("a fresh array is contiguous");
    let index_box = IndexBox::of(kvectors.indices());
    let offsets: Vec<[usize; 3]> = kvectors
        .indices()
        .iter()
        .map(|n| index_box.offsets(n))
        .collect();
    let tables = LaneTables::new(positions, kvectors.reciprocal(), &index_box);
    let factors = lane_structure_factors(sources, &tables, &offsets);

    // the cotangent in lanes, per tile (n_channels, n_radial, n_ang) rows in parity order,
    // and per tile and channel the weights of the lanes of that channel
    let n_tiles = n.div_ceil(LANES);
    let width = n_ch * n_cols;
    let mut lane_cotangent = vec![[0.0; LANES]; n_tiles * width];
    let mut weights = vec![[0.0; LANES]; n_tiles * n_ch];
    for i in 0..n {
        let (t, lane) = (i / LANES, i % LANES);
        for a in 0..n_ch {
            for r in 0..n_radial {
                for (p, &u) in parity.order.iter().enumerate() {
                    let row = t * width + (a * n_radial + r) * n_ang + p;
                    lane_cotangent[row][lane] = cotangent[[i, a, r * n_ang + u]];
                }
            }
        }
        weights[t * n_ch + sources.channels()[i]][lane] = sources.weight(i);
    }

    let longest = shells.longest_shell();
    let mut force_rows = vec![[[0.0; LANES]; 3]; n_tiles];
    for (block, members) in &shells.blocks_with_shells() {
        if crate::threads::check_cancelled().is_err() {
            break; // partial sums: the caller's check_cancelled reports it
        }
        let len = block.len();
        let data = AdjointBlock {
            offsets: &offsets[block.clone()],
            factors: &factors,
            n_k,
            start: block.start,
            vectors: &kvectors.vectors()[block.clone()],
            angular: &angular[block.start * n_ang..block.end * n_ang],
            n_even: parity.n_even,
            shells: members,
            radial: radial.as_slice().expect("contiguous"),
            derivative: derivative
                .as_ref()
                .map(|d| d.as_slice().expect("contiguous")),
            n_radial,
            n_channels: n_ch,
        };
        let parts: Vec<_> = force_rows
            .par_chunks_mut(TILES_PER_TASK)
            .enumerate()
            .map_init(
                || AdjointScratch::new(longest, n_ch, n_ang),
                |scratch, (g, forces)| {
                    let first = g * TILES_PER_TASK;
                    let mut task = OwnTask {
                        data: &data,
                        tables: &tables,
                        tiles: first..first + forces.len(),
                        cotangent: &lane_cotangent,
                        forces,
                        scratch,
                        part: OwnTask::new_part(&data),
                    };
                    lanes::dispatch(&mut task);
                    task.part
                },
            )
            .collect();
        // the groups' shares in group order
        let mut sums = parts.into_iter();
        let mut total = sums.next().expect("at least one group");
        for part in sums {
            for (x, y) in total.xy.iter_mut().zip(&part.xy) {
                *x += y;
            }
            for (x, y) in total.e.iter_mut().zip(&part.e) {
                *x += y;
            }
            for (x, y) in total.s1.iter_mut().zip(&part.s1) {
                *x += y;
            }
        }
        if strain {
            let v = block_virial(basis, kvectors, block.clone(), &parity, angular, &total);
            for (x, y) in virial.iter_mut().flatten().zip(v.iter().flatten()) {
                *x += y;
            }
        }
        force_rows
            .par_chunks_mut(TILES_PER_TASK)
            .enumerate()
            .for_each(|(g, forces)| {
                let first = g * TILES_PER_TASK;
                lanes::dispatch(&mut SourceTask {
                    offsets: &offsets[block.clone()],
                    vectors: &kvectors.vectors()[block.clone()],
                    xy: &total.xy,
                    weights: &weights,
                    n_channels: n_ch,
                    tables: &tables,
                    tiles: first..first + forces.len(),
                    forces,
                });
            });
        debug_assert_eq!(total.xy.len(), 2 * n_ch * len);
    }
    for (i, f) in forces.iter_mut().enumerate() {
        let rows = &force_rows[i / LANES];
        for alpha in 0..3 {
            f[alpha] = rows[alpha][i % LANES];
        }
    }
    (forces, strain.then_some(virial))
}

/// `Σ_{k ∈ block} [−δ_ab Σ_p A_p E_p − k_a (k_b/|k| S' + Σ_p ∂_b A_p E_p)]` (module docs), in
/// chunks of [`VIRIAL_CHUNK`] k-vectors (in parallel) added in order; `angular` is the table
/// of all k-vectors `(N_k, n_ang)` in parity order, `sums` the block's `E` and `S'`.
fn block_virial<B: SeparableBasis>(
    basis: &B,
    kvectors: &KVectors,
    block: Range<usize>,
    parity: &ParityOrder,
    angular: &[f64],
    sums: &super::adjoint_kernels::GroupPart,
) -> Mat3 {
    let n_ang = basis.n_angular();
    let chunks: Vec<Mat3> = block
        .clone()
        .collect::<Vec<_>>()
        .par_chunks(VIRIAL_CHUNK)
        .map(|chunk| {
            let mut values = vec![0.0; n_ang];
            let mut gradients = vec![[0.0; 3]; n_ang];
            let mut virial = [[0.0; 3]; 3];
            for &k in chunk {
                let j = k - block.start;
                let (kv, norm) = (kvectors.vectors()[k], kvectors.norms()[k]);
                basis.angular_with_gradient(kv, &mut values, &mut gradients);
                let e = &sums.e[j * n_ang..(j + 1) * n_ang];
                let a = &angular[k * n_ang..(k + 1) * n_ang];
                let s0: f64 = a.iter().zip(e).map(|(a, e)| a * e).sum();
                let mut v = [0.0; 3];
                for (&u, e) in parity.order.iter().zip(e) {
                    for (b, vb) in v.iter_mut().enumerate() {
                        *vb += gradients[u][b] * e;
                    }
                }
                for a in 0..3 {
                    virial[a][a] -= s0;
                    for b in 0..3 {
                        virial[a][b] -= kv[a] * (kv[b] / norm * sums.s1[j] + v[b]);
                    }
                }
            }
            virial
        })
        .collect();
    let mut virial = [[0.0; 3]; 3];
    for v in chunks {
        for (x, y) in virial.iter_mut().flatten().zip(v.iter().flatten()) {
            *x += y;
        }
    }
    virial
}

#[cfg(test)]
mod tests {
    use super::super::super::basis::tests::TestBasis;
    use super::super::super::k_vectors::k_vectors;
    use super::super::super::{dense_backward, DenseJacobian};
    use super::*;
    use crate::systems::Cell;
    use crate::threads::with_threads;
    use ndarray::{Array2, Array3, Axis};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// The shells' and the dense backward passes against the transposed Jacobian rows of
    /// [`DenseJacobian`] (1e-11 relative: all three are the same sums in other orders), on a
    /// cubic cell (large shells, several blocks) and a triclinic one; 1 and 2 threads bitwise.
    #[test]
    fn backward_passes_are_transposed_jacobians() {
        let cells = [
            [[7.0, 0.0, 0.0], [0.0, 7.0, 0.0], [0.0, 0.0, 7.0]],
            [[6.0, 0.0, 0.0], [1.0, 6.5, 0.0], [-0.5, 0.7, 7.0]],
        ];
        for (c, matrix) in cells.iter().enumerate() {
            let cell = Cell::new(*matrix, [true; 3]).unwrap();
            let kv = k_vectors(&cell, if c == 0 { 5.5 } else { 4.0 }).unwrap();
            let shells = Shells::new(&kv);
            let mut rng = StdRng::seed_from_u64(c as u64);
            let n = 140; // two tiles of atoms
            let positions: Vec<Vec3> = (0..n)
                .map(|_| cell.to_cartesian([0, 1, 2].map(|_| rng.random_range(0.0..1.0))))
                .collect();
            let channels: Vec<usize> = (0..n).map(|j| (j * 7) % 3).collect();
            let weights: Vec<f64> = (0..n).map(|j| 0.5 + (j % 4) as f64 * 0.3).collect();
            let sources = Sources::new(&positions, &channels, Some(&weights), 3).unwrap();
            let basis = TestBasis::new();
            let n_cols = basis.n_columns();
            let g = Array3::from_shape_fn((n, 3, n_cols), |_| rng.random_range(-1.0..1.0));
            let table = DenseJacobian::new(&kv, &basis, true);
            let mut forces = Array2::<f64>::zeros((n, 3));
            let mut virial = Array2::<f64>::zeros((3, 3));
            for i in 0..n {
                let mut jp = vec![0.0; n * 3 * 3 * n_cols];
                let mut js = vec![0.0; 9 * 3 * n_cols];
                table.row(&sources, i, Some(&mut jp), Some(&mut js));
                let gi = g.index_axis(Axis(0), i);
                let gi = gi.as_slice().unwrap();
                for (j, chunk) in jp.chunks(3 * 3 * n_cols).enumerate() {
                    for alpha in 0..3 {
                        let row = &chunk[alpha * 3 * n_cols..(alpha + 1) * 3 * n_cols];
                        forces[[j, alpha]] += row.iter().zip(gi).map(|(x, y)| x * y).sum::<f64>();
                    }
                }
                for ab in 0..9 {
                    let row = &js[ab * 3 * n_cols..(ab + 1) * 3 * n_cols];
                    virial[[ab / 3, ab % 3]] += row.iter().zip(gi).map(|(x, y)| x * y).sum::<f64>();
                }
            }
            let f_scale = forces.iter().fold(0.0f64, |m, x| m.max(x.abs()));
            let v_scale = virial.iter().fold(0.0f64, |m, x| m.max(x.abs()));
            assert!(f_scale > 1e-3 && v_scale > 1e-3);
            let shell_run = || shell_backward(&sources, &shells, &basis, g.view(), true);
            let dense_run = || dense_backward(&sources, &kv, &basis, g.view(), true);
            for (name, (f, v)) in [("shells", shell_run()), ("dense", dense_run())] {
                let v = v.unwrap();
                for j in 0..n {
                    for alpha in 0..3 {
                        let d = (f[j][alpha] - forces[[j, alpha]]).abs();
                        assert!(d < 1e-11 * f_scale, "{name}, cell {c}: atom {j}: {d:e}");
                    }
                }
                for a in 0..3 {
                    for b in 0..3 {
                        let d = (v[a][b] - virial[[a, b]]).abs();
                        assert!(d < 1e-11 * v_scale, "{name}, cell {c}: {a}{b}: {d:e}");
                    }
                }
            }
            for run in [
                &shell_run as &(dyn Fn() -> (Vec<Vec3>, Option<Mat3>) + Sync),
                &dense_run,
            ] {
                let one = with_threads(1, run).unwrap();
                let two = with_threads(2, run).unwrap();
                assert!(one
                    .0
                    .iter()
                    .flatten()
                    .zip(two.0.iter().flatten())
                    .all(|(x, y)| x.to_bits() == y.to_bits()));
                assert!(one
                    .1
                    .unwrap()
                    .iter()
                    .flatten()
                    .zip(two.1.unwrap().iter().flatten())
                    .all(|(x, y)| x.to_bits() == y.to_bits()));
            }
            if c == 0 {
                assert!(shells.degeneracy() > 5.0 && shells.blocks().len() > 1);
            }
        }
    }

    /// The portable row operations against the dispatched (SIMD, fused multiply-add) ones:
    /// the same sums in the same order up to the rounding of the fused products (1e-13 of the
    /// largest entry; a wrong lane or index would be ~1).
    #[test]
    fn portable_kernel_agrees_with_the_dispatched_one() {
        let cell = Cell::new(
            [[8.0, 0.0, 0.0], [0.0, 8.0, 0.0], [0.0, 0.0, 11.0]],
            [true; 3],
        )
        .unwrap();
        let kv = k_vectors(&cell, 3.5).unwrap();
        let shells = Shells::new(&kv);
        let mut rng = StdRng::seed_from_u64(4);
        let n = 37; // partial tiles
        let positions: Vec<Vec3> = (0..n)
            .map(|_| cell.to_cartesian([0, 1, 2].map(|_| rng.random_range(0.0..1.0))))
            .collect();
        // five channels: one chunk of four and one of one
        let channels: Vec<usize> = (0..n).map(|j| (j * 3) % 5).collect();
        let sources = Sources::new(&positions, &channels, None, 5).unwrap();
        let basis = TestBasis::new();
        let g = Array3::from_shape_fn((n, 5, basis.n_columns()), |_| rng.random_range(-1.0..1.0));
        let run = || shell_backward(&sources, &shells, &basis, g.view(), true);
        let (f0, v0) = run();
        let (f1, v1) = crate::kspace::lanes::tests::with_portable(run);
        let (dense_f, dense_v) = dense_backward(&sources, &kv, &basis, g.view(), true);
        let scale = dense_f.iter().flatten().fold(0.0f64, |m, x| m.max(x.abs()));
        let v_scale = dense_v
            .unwrap()
            .iter()
            .flatten()
            .fold(0.0f64, |m, x| m.max(x.abs()));
        for ((a, b), c) in f0
            .iter()
            .flatten()
            .zip(f1.iter().flatten())
            .zip(dense_f.iter().flatten())
        {
            assert!((a - b).abs() < 1e-13 * scale, "{a} vs {b}");
            assert!((b - c).abs() < 1e-11 * scale, "{b} vs dense {c}");
        }
        for (a, b) in v0
            .unwrap()
            .iter()
            .flatten()
            .zip(v1.unwrap().iter().flatten())
        {
            assert!((a - b).abs() < 1e-13 * v_scale, "{a} vs {b}");
        }
    }
}
