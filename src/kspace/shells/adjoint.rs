//! The backward pass of [`super::shell_sum`] (positions and strain), through the shared driver
//! of the dense engine's adjoint (`crate::kspace::dense_backward`): only the basis-dependent
//! half differs, and it uses the shells the way the values do.
//!
//! With `B[k, (r, u)] = R[r, g(u)](|k_s|) A_u(k)` and a cotangent `g_i[a, (r, u)]`, fold the
//! radial factor once per shell and centre, `g̃_i^a[u](s) = Σ_r g_i[a, (r, u)] R[r, g(u)](|k_s|)`
//! (`n_radial n_ang` per centre and shell), then `G_i^a(k) = Σ_u A_u(k) g̃_i^a[u](s)` (`n_ang`
//! per centre and k-vector: one small GEMM per shell). Strain: with
//! `E_u(k) = Σ_{i,a} g̃_i^a[u] F^a(i, k)` and `E'_u(k)` the same with `R'` for `R`,
//! `Σ_{k,q} H[k, q] ∂B[k, q]/∂ε_ab = Σ_k [−δ_ab Σ_u A_u E_u − k_a (k_b/|k| Σ_u A_u E'_u +
//! Σ_u ∂_b A_u E_u)]` (`crate::kspace::SeparableBasis::fill_strain_rows` for the derivative).

use std::ops::Range;

use ndarray::linalg::general_mat_mul;
use ndarray::{s, Array2, Array3, ArrayView2, ArrayView3, Axis};

use super::super::adjoint::{backward_blocks, BlockAdjoint};
use super::super::basis::SeparableBasis;
use super::super::contraction::ParityOrder;
use super::super::phases::Sources;
use super::Shells;
use crate::systems::{Mat3, Vec3};

/// One block of whole shells.
struct ShellBlock {
    /// Local k-vector range and `(R, R')` `(n_radial, n_ang)` (angular columns in parity order)
    /// of each shell of the block (`R'` empty without strain).
    shells: Vec<(Range<usize>, Array2<f64>, Array2<f64>)>,
    /// `A[k, p]` in parity order, `(len, n_ang)`.
    angular: Array2<f64>,
    /// `∂A[k, p]/∂k_b`, `(len, n_ang, 3)` (empty without strain).
    gradient: Array3<f64>,
    vectors: Vec<Vec3>,
    norms: Vec<f64>,
    n_even: usize,
}

impl BlockAdjoint for ShellBlock {
    fn len(&self) -> usize {
        self.angular.nrows()
    }

    /// `scratch[(s, f)] = (rows, n_ang)`: `Σ_r g[i, r n_ang + p] R_s[r, p]` for every shell `s`
    /// of the block, `f = 0` with `R`, `f = 1` with `R'` (with strain), in one pass over `g`.
    fn prepare(&self, g: ArrayView2<'_, f64>, strain: bool, scratch: &mut Vec<f64>) {
        let n_ang = self.angular.ncols();
        let rows = g.nrows();
        let factors = if strain { 2 } else { 1 };
        let size = rows * n_ang;
        scratch.clear();
        scratch.resize(self.shells.len() * factors * size, 0.0);
        let g = g.as_standard_layout();
        let g = g.as_slice().expect("standard layout");
        let n_cols = g.len() / rows.max(1);
        for (s, (_, radial, derivative)) in self.shells.iter().enumerate() {
            let radial = radial.as_slice().expect("contiguous");
            let base = s * factors * size;
            for (i, g_i) in g.chunks_exact(n_cols).enumerate() {
                let out = &mut scratch[base + i * n_ang..base + (i + 1) * n_ang];
                for (g_r, rad) in g_i.chunks_exact(n_ang).zip(radial.chunks_exact(n_ang)) {
                    for ((o, x), w) in out.iter_mut().zip(g_r).zip(rad) {
                        *o += x * w;
                    }
                }
            }
            if strain {
                let derivative = derivative.as_slice().expect("contiguous");
                let base = base + size;
                for (i, g_i) in g.chunks_exact(n_cols).enumerate() {
                    let out = &mut scratch[base + i * n_ang..base + (i + 1) * n_ang];
                    for (g_r, der) in g_i.chunks_exact(n_ang).zip(derivative.chunks_exact(n_ang)) {
                        for ((o, x), w) in out.iter_mut().zip(g_r).zip(der) {
                            *o += x * w;
                        }
                    }
                }
            }
        }
    }

    fn contract(
        &self,
        g: ArrayView2<'_, f64>,
        scratch: &[f64],
        ge: &mut Array2<f64>,
        go: &mut Array2<f64>,
    ) {
        let n_ang = self.angular.ncols();
        let size = g.nrows() * n_ang;
        let factors = scratch.len() / (self.shells.len() * size).max(1);
        for (s, (range, _, _)) in self.shells.iter().enumerate() {
            let base = s * factors * size;
            let folded = ArrayView2::from_shape((g.nrows(), n_ang), &scratch[base..base + size])
                .expect("(rows, n_ang)");
            let a = self.angular.slice(s![range.clone(), ..]);
            let (a_even, a_odd) = a.split_at(Axis(1), self.n_even);
            let (f_even, f_odd) = folded.split_at(Axis(1), self.n_even);
            let mut e = ge.slice_mut(s![.., range.clone()]);
            general_mat_mul(1.0, &f_even, &a_even.t(), 0.0, &mut e);
            let mut o = go.slice_mut(s![.., range.clone()]);
            general_mat_mul(1.0, &f_odd, &a_odd.t(), 0.0, &mut o);
        }
    }

    fn strain_shape(&self) -> (usize, usize) {
        (self.len(), 2 * self.angular.ncols())
    }

    fn strain_tile(
        &self,
        fe: ArrayView2<'_, f64>,
        fo: ArrayView2<'_, f64>,
        g: ArrayView2<'_, f64>,
        scratch: &[f64],
        acc: &mut Array2<f64>,
    ) {
        let n_ang = self.angular.ncols();
        let ne = self.n_even;
        let size = g.nrows() * n_ang;
        for (s, (range, _, _)) in self.shells.iter().enumerate() {
            let (fe_s, fo_s) = (
                fe.slice(s![.., range.clone()]),
                fo.slice(s![.., range.clone()]),
            );
            // [g̃ | g̃'] side by side: (rows, 2, n_ang) → one product per parity and factor
            for f in 0..2 {
                let base = (2 * s + f) * size;
                let folded =
                    ArrayView2::from_shape((g.nrows(), n_ang), &scratch[base..base + size])
                        .expect("(rows, n_ang)");
                let (f_even, f_odd) = folded.split_at(Axis(1), ne);
                let offset = f * n_ang;
                let mut e = acc.slice_mut(s![range.clone(), offset..offset + ne]);
                general_mat_mul(1.0, &fe_s.t(), &f_even, 1.0, &mut e);
                let mut o = acc.slice_mut(s![range.clone(), offset + ne..offset + n_ang]);
                general_mat_mul(1.0, &fo_s.t(), &f_odd, 1.0, &mut o);
            }
        }
    }

    fn virial(&self, acc: &Array2<f64>) -> Mat3 {
        let n_ang = self.angular.ncols();
        let mut virial = [[0.0; 3]; 3];
        for k in 0..self.len() {
            let (e, e1) = (acc.slice(s![k, ..n_ang]), acc.slice(s![k, n_ang..]));
            let a = self.angular.row(k);
            let s0: f64 = a.iter().zip(e).map(|(a, e)| a * e).sum();
            let s1: f64 = a.iter().zip(e1).map(|(a, e)| a * e).sum();
            let mut v = [0.0; 3];
            for (p, e) in e.iter().enumerate() {
                for (b, vb) in v.iter_mut().enumerate() {
                    *vb += self.gradient[[k, p, b]] * e;
                }
            }
            let (kv, norm) = (self.vectors[k], self.norms[k]);
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

/// The backward pass of [`super::shell_sum`] with the centres as sources: for a cotangent
/// `(N, n_channels, n_radial · n_ang)`, `∂(Σ g·c)/∂r_m` for every atom and, when `strain`,
/// `∂(Σ g·c)/∂ε` (module docs; the 1/V of the basis included, the `k = 0` terms of the caller
/// not). Blocks of whole shells in norm order, tiles of atoms in parallel, partial sums added
/// in a fixed order: bitwise independent of the number of threads.
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
    let n_ang = basis.n_angular();
    let n_radial = basis.n_radial();
    let n_groups = basis.n_groups();
    let group = basis.group();
    let parity = ParityOrder::new(basis.odd());
    let order: Vec<usize> = (0..n_radial)
        .flat_map(|r| parity.order.iter().map(move |&u| r * n_ang + u))
        .collect();
    let kvectors = shells.kvectors();
    let starts = &shells.starts;
    let make = |range: Range<usize>| {
        let len = range.len();
        let mut members = Vec::new();
        let mut r_ng = Array2::zeros((n_radial, n_groups));
        let in_parity_order = |r_ng: &Array2<f64>| {
            Array2::from_shape_fn((n_radial, n_ang), |(r, p)| {
                r_ng[[r, group[parity.order[p]]]]
            })
        };
        let first = starts.partition_point(|&s| s < range.start);
        for s in first..shells.len() {
            let shell = shells.range(s);
            if shell.start >= range.end {
                break;
            }
            r_ng.fill(0.0);
            basis.radial(shells.norm(s), r_ng.view_mut());
            let radial = in_parity_order(&r_ng);
            let derivative = if strain {
                r_ng.fill(0.0);
                basis.radial_derivative(shells.norm(s), r_ng.view_mut());
                in_parity_order(&r_ng)
            } else {
                Array2::zeros((0, 0))
            };
            members.push((
                shell.start - range.start..shell.end - range.start,
                radial,
                derivative,
            ));
        }
        let mut angular = Array2::<f64>::zeros((len, n_ang));
        let mut gradient = Array3::<f64>::zeros((if strain { len } else { 0 }, n_ang, 3));
        let mut values = vec![0.0; n_ang];
        let mut grads = vec![[0.0; 3]; n_ang];
        for (j, k) in range.clone().enumerate() {
            let kv = kvectors.vectors()[k];
            if strain {
                basis.angular_with_gradient(kv, &mut values, &mut grads);
            } else {
                basis.angular(kv, &mut values);
            }
            for (p, &u) in parity.order.iter().enumerate() {
                angular[[j, p]] = values[u];
                if strain {
                    for b in 0..3 {
                        gradient[[j, p, b]] = grads[u][b];
                    }
                }
            }
        }
        ShellBlock {
            shells: members,
            angular,
            gradient,
            vectors: kvectors.vectors()[range.clone()].to_vec(),
            norms: kvectors.norms()[range].to_vec(),
            n_even: parity.n_even,
        }
    };
    backward_blocks(
        sources,
        kvectors,
        &order,
        cotangent,
        strain,
        shells.blocks().into_iter(),
        make,
    )
}

#[cfg(test)]
mod tests {
    use super::super::super::basis::tests::TestBasis;
    use super::super::super::k_vectors::k_vectors;
    use super::super::super::{dense_backward, DenseJacobian};
    use super::*;
    use crate::systems::Cell;
    use crate::threads::with_threads;
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
}
