//! Gradients of the periodic real-space routes (the `p = 0` pairs, the Ewald split, the
//! particle mesh) against central differences of their values, the backward pass against
//! the transposed Jacobian, and the routes against each other (`gradients::tests::check_positions`
//! and `check_strain` state steps and tolerances).

use ndarray::{s, Array4};

use super::calculator::Channels;
use super::gradients::tests::{calculator, check_positions, check_strain, moved, triclinic};
use super::{LodeCalculator, LodeHypers, Method};
use crate::expansion::gradients::GradientRequest;
use crate::expansion::SpeciesMap;
use crate::systems::{System, Vec3};

/// Two atoms in a small triclinic cell (about 5 Å: the smallest in which the planner keeps the
/// pairs and Ewald routes at accuracy 1e-7): the pairs reach over many images (reach
/// ≈ 8.6 Å, two to three cells).
fn small_cell() -> System {
    let scale = |v: [f64; 3]| v.map(|x| 1.6 * x);
    System::new(
        vec![scale([0.2, 0.1, 0.3]), scale([1.7, 1.2, 1.9])],
        vec![1, 8],
        [[3.1, 0.0, 0.0], [0.4, 2.9, 0.0], [-0.3, 0.5, 3.3]].map(scale),
        [true; 3],
    )
    .unwrap()
}

/// Charges of the atoms of `system` (neutral).
fn charges(system: &System) -> Vec<Vec<f64>> {
    let n = system.size();
    let mut q: Vec<f64> = (0..n)
        .map(|j| 0.3 + 0.45 * (j as f64 * 1.7).sin())
        .collect();
    let mean = q.iter().sum::<f64>() / n as f64;
    q.iter_mut().for_each(|x| *x -= mean);
    vec![q]
}

/// `calculator(p, method)` with `center_weight` 0.4.
fn weighted(exponent: u32, method: Method) -> LodeCalculator {
    LodeCalculator::new(LodeHypers {
        cutoff: 3.0,
        smearing: 1.0,
        n_max: 3,
        l_max: 2,
        exponent,
        method,
        accuracy: 1e-7,
        center_weight: 0.4,
        ..LodeHypers::default()
    })
    .unwrap()
}

/// The `p = 0` pairs route: positions and strain, species and charge channels, a triclinic
/// cell and a small cell with many images, `center_weight` 1 and 0.4.
#[test]
fn pairs_route_gradients() {
    let species = SpeciesMap::new(&[1, 8]).unwrap();
    for system in [triclinic(), small_cell()] {
        let charges = charges(&system);
        for calc in [calculator(0, Method::Auto), weighted(0, Method::Auto)] {
            assert_eq!(calc.plan(&system, 2).unwrap().route.name(), "pairs");
            for channels in [Channels::Species(&species), Channels::Charges(&charges)] {
                let what = format!("pairs, {} atoms", system.size());
                check_positions(&calc, &system, channels, &what, true);
                check_strain(&calc, &system, channels, &what);
            }
        }
    }
}

/// The Ewald route, p = 1…6: positions and strain, species and charge channels, both cells,
/// `center_weight` 0.4 for p = 2.
#[test]
fn ewald_route_gradients() {
    let species = SpeciesMap::new(&[1, 8]).unwrap();
    for system in [triclinic(), small_cell()] {
        let charges = charges(&system);
        for p in 1..=6 {
            let calc = if p == 2 {
                weighted(p, Method::Ewald)
            } else {
                calculator(p, Method::Ewald)
            };
            for channels in [Channels::Species(&species), Channels::Charges(&charges)] {
                let what = format!("ewald, p = {p}, {} atoms", system.size());
                check_positions(&calc, &system, channels, &what, true);
                check_strain(&calc, &system, channels, &what);
            }
        }
    }
}

/// `Σ v·c` of the values of `system` deformed by `deform` (positions and cell vectors).
fn objective(
    calc: &LodeCalculator,
    system: &System,
    channels: Channels<'_>,
    v: &Array4<f64>,
    deform: impl Fn(usize, Vec3) -> Vec3,
) -> f64 {
    let positions = system
        .positions()
        .iter()
        .enumerate()
        .map(|(j, &r)| deform(j, r))
        .collect();
    let cell = system.cell();
    let matrix = cell.matrix().map(|a| deform(usize::MAX, a));
    let moved = System::new(positions, system.numbers().to_vec(), matrix, cell.pbc()).unwrap();
    let values = calc.compute(&[moved], channels, 1).unwrap().values;
    (&values * v).sum()
}

/// A deterministic cotangent `(n, n_channels, 3, 9)`.
fn cotangent(n: usize, n_channels: usize) -> Array4<f64> {
    Array4::from_shape_fn((n, n_channels, 3, 9), |(i, a, k, l)| {
        (((i * 31 + a * 17 + k * 7 + l * 3) % 23) as f64 / 11.0) - 1.0
    })
}

fn largest<'a>(values: impl IntoIterator<Item = &'a f64>) -> f64 {
    values.into_iter().fold(0.0f64, |m, x| m.max(x.abs()))
}

/// The mesh route, p = 1…6, species and charge channels, both cells:
/// - the backward pass is the exact adjoint of the mesh values: it equals central differences
///   of `Σ v·c` in every position (step 1e-4 Å) and strain component (step 1e-5, so that no
///   k-vector crosses k_c) to 1e-6 of its largest entry (truncation ~1e-8; a sign or factor
///   error is of order one), and 1 and
///   2 threads agree bitwise;
/// - the Jacobian rows (the Ewald route's) equal central differences of the mesh values to
///   1e-4 of the largest entry (the mesh's discretisation error at accuracy 1e-7; a sign or
///   factor error is of order one), and `Jᵀv` equals the backward pass to 1e-4 relative;
/// - the forces sum to zero to 1e-5 relative (the mesh breaks translation invariance by its
///   discretisation error only);
/// - the backward passes of the mesh, Ewald and reciprocal routes agree to 1e-5 relative
///   (positions and strain): three independent evaluations of the same derivatives.
#[test]
fn mesh_route_gradients() {
    let species = SpeciesMap::new(&[1, 8]).unwrap();
    for system in [triclinic(), small_cell()] {
        let n = system.size();
        let charges = charges(&system);
        for p in 1..=6 {
            let calc = calculator(p, Method::Mesh);
            for channels in [Channels::Species(&species), Channels::Charges(&charges)] {
                let what = format!("mesh, p = {p}, {n} atoms");
                let n_channels = match channels {
                    Channels::Species(_) => 2,
                    Channels::Charges(_) => 1,
                };
                assert_eq!(calc.plan(&system, n_channels).unwrap().route.name(), "mesh");
                let v = cotangent(n, n_channels);
                let systems = std::slice::from_ref(&system);
                let back = calc.backward(systems, channels, v.view(), 1).unwrap();
                let two = calc.backward(systems, channels, v.view(), 2).unwrap();
                let forces = &back.positions[0];
                let virial = back.strain[0].unwrap();
                assert!(forces
                    .iter()
                    .zip(&two.positions[0])
                    .all(|(a, b)| a.to_bits() == b.to_bits()));
                assert!(virial
                    .iter()
                    .flatten()
                    .zip(two.strain[0].unwrap().iter().flatten())
                    .all(|(a, b)| a.to_bits() == b.to_bits()));
                // backward = differences of Σ v·c
                let h = 1e-4;
                let scale = largest(forces);
                assert!(scale > 1e-3, "{what}");
                for j in 0..n {
                    for alpha in 0..3 {
                        let at = |d: f64| {
                            objective(&calc, &system, channels, &v, |k, mut r| {
                                if k == j {
                                    r[alpha] += d;
                                }
                                r
                            })
                        };
                        let fd = (at(h) - at(-h)) / (2.0 * h);
                        let error = (fd - forces[[j, alpha]]).abs();
                        assert!(
                            error < 1e-6 * scale,
                            "{what}, atom {j} α {alpha}: {error:e}"
                        );
                    }
                }
                // a smaller step under strain: the k-vectors below k_c are fixed while
                // differentiating, and a k-vector within 1e-4 of k_c must not cross it
                let h = 1e-5;
                let strain_scale = largest(virial.iter().flatten());
                for alpha in 0..3 {
                    for beta in 0..3 {
                        let at = |d: f64| {
                            objective(&calc, &system, channels, &v, |_, mut r| {
                                r[alpha] += d * r[beta];
                                r
                            })
                        };
                        let fd = (at(h) - at(-h)) / (2.0 * h);
                        let error = (fd - virial[alpha][beta]).abs();
                        assert!(
                            error < 1e-6 * strain_scale,
                            "{what}, strain {alpha}{beta}: {error:e} (scale {strain_scale:e})"
                        );
                    }
                }
                // translational sum rule, to the mesh's accuracy
                for alpha in 0..3 {
                    let total: f64 = forces.column(alpha).sum();
                    assert!(total.abs() < 1e-5 * scale, "{what}: Σ F = {total:e}");
                }
                // the Jacobian (the Ewald route's rows) against the mesh values
                let request = GradientRequest::from_names(&["positions"], 1e9).unwrap();
                let jac = calc
                    .compute_gradients(systems, channels, &request, 1)
                    .unwrap()
                    .positions
                    .unwrap();
                let jac_scale = largest(&jac.values);
                let moved = |j, alpha, d| moved(&calc, &system, channels, j, alpha, d);
                for j in 0..n {
                    for alpha in 0..3 {
                        let fd = (moved(j, alpha, h) - moved(j, alpha, -h)) / (2.0 * h);
                        for i in 0..n {
                            let analytic = jac.values.slice(s![i * n + j, alpha, .., .., ..]);
                            let error = analytic
                                .iter()
                                .zip(fd.slice(s![i, .., .., ..]))
                                .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
                            assert!(
                                error < 1e-4 * jac_scale,
                                "{what}: Jacobian row {i} atom {j} α {alpha}: {error:e}"
                            );
                        }
                    }
                }
                // Jᵀv against the backward pass
                for j in 0..n {
                    for alpha in 0..3 {
                        let mut jtv = 0.0;
                        for i in 0..n {
                            let row = jac.values.slice(s![i * n + j, alpha, .., .., ..]);
                            jtv += (&row * &v.slice(s![i, .., .., ..])).sum();
                        }
                        let error = (jtv - forces[[j, alpha]]).abs();
                        assert!(error < 1e-4 * scale, "{what}: Jᵀv, atom {j}: {error:e}");
                    }
                }
                // three routes, one derivative
                for method in [Method::Ewald, Method::Reciprocal] {
                    let other = calculator(p, method);
                    let b = other.backward(systems, channels, v.view(), 1).unwrap();
                    let error = largest(&(&b.positions[0] - forces));
                    assert!(error < 1e-5 * scale, "{what} vs {method:?}: {error:e}");
                    let ov = b.strain[0].unwrap();
                    let error = ov
                        .iter()
                        .flatten()
                        .zip(virial.iter().flatten())
                        .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
                    assert!(
                        error < 1e-5 * strain_scale,
                        "{what} vs {method:?}: strain {error:e}"
                    );
                }
            }
        }
    }
}
