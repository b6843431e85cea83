//! The per-shell radial factors and per-k-vector angular factors of a separable basis, in the
//! parity order of the angular columns (even columns first): the tables [`super::shell_sum`] and
//! [`super::shell_backward`] share.

use ndarray::parallel::prelude::*;
use ndarray::{s, Array2, Axis};

use super::super::basis::SeparableBasis;
use super::super::contraction::ParityOrder;
use super::Shells;

/// k-vectors per call of the angular factors.
const BASIS_CHUNK: usize = 64;

/// `R_s[r, p] = R[r, group[order[p]]](|k_s|)` for every shell `s`, or its derivative `dR/d|k|`
/// when `derivative`: shape `(shells, n_radial · n_ang)` (row `s` holds `n_radial` runs of
/// `n_ang` columns in parity order).
pub(super) fn radial_table<B: SeparableBasis>(
    basis: &B,
    shells: &Shells,
    parity: &ParityOrder,
    derivative: bool,
) -> Array2<f64> {
    let (n_radial, n_groups, n_ang) = (basis.n_radial(), basis.n_groups(), basis.n_angular());
    let group = basis.group();
    let mut radial = Array2::<f64>::zeros((shells.len(), n_radial * n_ang));
    radial
        .outer_iter_mut()
        .into_par_iter()
        .enumerate()
        .for_each_init(
            || Array2::zeros((n_radial, n_groups)),
            |r_ng, (s, mut row)| {
                r_ng.fill(0.0);
                if derivative {
                    basis.radial_derivative(shells.norm(s), r_ng.view_mut());
                } else {
                    basis.radial(shells.norm(s), r_ng.view_mut());
                }
                for (r, run) in row.exact_chunks_mut(n_ang).into_iter().enumerate() {
                    for (x, &u) in run.into_iter().zip(&parity.order) {
                        *x = r_ng[[r, group[u]]];
                    }
                }
            },
        );
    radial
}

/// `A[k, p] = A_{order[p]}(k)` for every (sorted) k-vector of `shells`, shape `(N_k, n_ang)`.
pub(super) fn angular_table<B: SeparableBasis>(
    basis: &B,
    shells: &Shells,
    parity: &ParityOrder,
) -> Array2<f64> {
    let kvectors = shells.kvectors();
    let n_ang = basis.n_angular();
    let mut angular = Array2::<f64>::zeros((kvectors.len(), n_ang));
    angular
        .axis_chunks_iter_mut(Axis(0), BASIS_CHUNK)
        .into_par_iter()
        .enumerate()
        .for_each_init(
            || Array2::zeros((BASIS_CHUNK, n_ang)),
            |chunk_a, (c, mut rows)| {
                let first = c * BASIS_CHUNK;
                let mut a = chunk_a.slice_mut(s![..rows.nrows(), ..]);
                a.fill(0.0);
                for (mut row, k) in a.outer_iter_mut().zip(first..first + rows.nrows()) {
                    let row = row.as_slice_mut().expect("angular rows are contiguous");
                    basis.angular(kvectors.vectors()[k], row);
                }
                parity.regroup_rows(a.view(), rows.view_mut());
            },
        );
    angular
}
