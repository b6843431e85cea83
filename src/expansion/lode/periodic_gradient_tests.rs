//! Gradients of the periodic real-space routes (the `p = 0` pairs, the Ewald split, the
//! particle mesh) against central differences of their values, the backward pass against
//! the transposed Jacobian, and the routes against each other (`gradients::tests::check_positions`
//! and `check_strain` state steps and tolerances).

use super::calculator::Channels;
use super::gradients::tests::{calculator, check_positions, check_strain, triclinic};
use super::{LodeCalculator, LodeHypers, Method};
use crate::expansion::SpeciesMap;
use crate::systems::System;

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
