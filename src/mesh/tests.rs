use super::*;
use crate::systems::Cell;

pub(super) fn triclinic() -> Cell {
    Cell::new(
        [[7.0, 0.0, 0.0], [1.3, 6.2, 0.0], [-0.8, 1.1, 6.6]],
        [true; 3],
    )
    .unwrap()
}

pub(super) fn atoms(cell: &Cell, n: usize) -> Vec<Vec3> {
    (0..n)
        .map(|i| {
            let f = [
                ((i * 37 + 3) % 101) as f64 / 101.0,
                ((i * 59 + 11) % 103) as f64 / 103.0,
                ((i * 71 + 5) % 107) as f64 / 107.0 - 0.3,
            ];
            cell.to_cartesian(f)
        })
        .collect()
}

/// Three test columns: `e^{−k²η²/2}` (even), `k_x e^{…}` (odd), `k_x k_y e^{…}` (even).
fn factor(k: Vec3, eta: f64) -> [f64; 3] {
    let g = (-0.5 * eta * eta * (k[0] * k[0] + k[1] * k[1] + k[2] * k[2])).exp();
    [g, k[0] * g, k[0] * k[1] * g]
}

/// `Σ_{k≠0, |k|<k_c} G_q(k) Σ_j w_j e^{ik·(r_i − r_j)}` over the full reciprocal lattice.
fn direct(
    cell: &Cell,
    positions: &[Vec3],
    sources: &Sources<'_>,
    k_c: f64,
    eta: f64,
) -> Array3<f64> {
    let b = cell.reciprocal();
    let mut out = Array3::zeros((positions.len(), sources.n_channels(), 3));
    let m = 12;
    for m0 in -m..=m {
        for m1 in -m..=m {
            for m2 in -m..=m {
                if m0 == 0 && m1 == 0 && m2 == 0 {
                    continue;
                }
                let mut k = [0.0; 3];
                for c in 0..3 {
                    k[c] = m0 as f64 * b[0][c] + m1 as f64 * b[1][c] + m2 as f64 * b[2][c];
                }
                if norm(k) >= k_c {
                    continue;
                }
                let f = factor(k, eta);
                for (i, ri) in positions.iter().enumerate() {
                    for j in 0..sources.len() {
                        let rj = sources.positions()[j];
                        let theta: f64 = (0..3).map(|c| k[c] * (ri[c] - rj[c])).sum();
                        let w = sources.weight(j);
                        let a = sources.channels()[j];
                        out[[i, a, 0]] += w * f[0] * theta.cos();
                        out[[i, a, 1]] += w * f[1] * theta.sin();
                        out[[i, a, 2]] += w * f[2] * theta.cos();
                    }
                }
            }
        }
    }
    out
}

fn run(
    cell: &Cell,
    positions: &[Vec3],
    sources: &Sources<'_>,
    dims: [usize; 3],
    order: usize,
    k_c: f64,
    eta: f64,
) -> Array3<f64> {
    let modes = MeshModes::new(cell, dims, order, k_c).unwrap();
    let table: Vec<[f64; 3]> = modes.vectors().iter().map(|&k| factor(k, eta)).collect();
    mesh_sum(
        cell,
        positions,
        sources,
        &modes,
        &[false, true, false],
        |q, out| {
            for (o, t) in out.iter_mut().zip(&table) {
                *o = t[q];
            }
        },
    )
    .unwrap()
}

fn max_abs_diff(a: &Array3<f64>, b: &Array3<f64>) -> f64 {
    a.iter()
        .zip(b.iter())
        .fold(0.0, |m, (x, y)| m.max((x - y).abs()))
}

/// The mesh sum converges to the k-space sum as the spline order grows, on a triclinic cell
/// with two weighted channels.
#[test]
fn mesh_sum_converges_to_the_kspace_sum() {
    let cell = triclinic();
    let positions = atoms(&cell, 9);
    let channels: Vec<usize> = (0..9).map(|i| i % 2).collect();
    let weights: Vec<f64> = (0..9).map(|i| 0.5 + 0.1 * i as f64).collect();
    let sources = Sources::new(&positions, &channels, Some(&weights), 2).unwrap();
    let (eta, k_c) = (1.2, 4.0);
    let exact = direct(&cell, &positions, &sources, k_c, eta);
    let scale = exact.iter().fold(0.0_f64, |m, x| m.max(x.abs()));
    let mut previous = f64::INFINITY;
    for order in [4, 6, 8, 10] {
        let mesh = run(&cell, &positions, &sources, [16, 15, 18], order, k_c, eta);
        let err = max_abs_diff(&mesh, &exact) / scale;
        assert!(err < previous, "order {order}: {err} !< {previous}");
        previous = err;
    }
    assert!(previous < 1e-7, "order 10: {previous}");
}

/// A cell smaller than the spline stencil (K < p along every axis) still gives the k-space
/// sum: the stencil wraps around the periodic mesh.
#[test]
fn stencil_wider_than_the_mesh() {
    let cell = Cell::new(
        [[2.1, 0.0, 0.0], [0.0, 2.3, 0.0], [0.2, 0.0, 2.0]],
        [true; 3],
    )
    .unwrap();
    let positions = atoms(&cell, 3);
    let channels = vec![0; 3];
    let sources = Sources::new(&positions, &channels, None, 1).unwrap();
    let (eta, k_c) = (0.5, 6.0);
    let exact = direct(&cell, &positions, &sources, k_c, eta);
    let mesh = run(&cell, &positions, &sources, [6, 6, 5], 8, k_c, eta);
    let scale = exact.iter().fold(0.0_f64, |m, x| m.max(x.abs()));
    let err = max_abs_diff(&mesh, &exact) / scale;
    assert!(err < 1e-3, "{err}");
}

#[test]
fn identical_for_any_number_of_threads() {
    let cell = triclinic();
    let positions = atoms(&cell, 20);
    let channels: Vec<usize> = (0..20).map(|i| i % 3).collect();
    let sources = Sources::new(&positions, &channels, None, 3).unwrap();
    let one = crate::threads::with_threads(1, || {
        run(&cell, &positions, &sources, [12, 12, 14], 6, 3.0, 1.0)
    })
    .unwrap();
    let two = crate::threads::with_threads(2, || {
        run(&cell, &positions, &sources, [12, 12, 14], 6, 3.0, 1.0)
    })
    .unwrap();
    assert!(one
        .iter()
        .zip(two.iter())
        .all(|(a, b)| a.to_bits() == b.to_bits()));
}

#[test]
fn bad_parameters_are_errors() {
    let cell = triclinic();
    assert!(MeshModes::new(&cell, [8, 8, 8], 2, 2.0).is_err());
    assert!(MeshModes::new(&cell, [8, 8, 8], 13, 2.0).is_err());
    assert!(MeshModes::new(&cell, [8, 0, 8], 4, 2.0).is_err());
    assert!(MeshModes::new(&cell, [8, 8, 8], 4, f64::NAN).is_err());
    let open = Cell::open();
    assert!(MeshModes::new(&open, [8, 8, 8], 4, 2.0).is_err());
}
