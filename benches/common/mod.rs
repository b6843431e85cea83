//! Shared structure generators for the benches: random periodic ionic gases.

#![allow(dead_code)]

use lode_rs::systems::System;
use rand::{Rng, SeedableRng};

/// A random Na/Cl gas of `n_atoms` in a cubic box of side `box_length`, no pair closer than
/// `min_distance` (minimum image), seeded.
pub fn ionic_gas(n_atoms: usize, box_length: f64, min_distance: f64, seed: u64) -> System {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut positions: Vec<[f64; 3]> = Vec::with_capacity(n_atoms);
    while positions.len() < n_atoms {
        let trial = [
            rng.random::<f64>() * box_length,
            rng.random::<f64>() * box_length,
            rng.random::<f64>() * box_length,
        ];
        let far = positions.iter().all(|p| {
            let mut d2 = 0.0;
            for k in 0..3 {
                let mut d = trial[k] - p[k];
                d -= box_length * (d / box_length).round();
                d2 += d * d;
            }
            d2 >= min_distance * min_distance
        });
        if far {
            positions.push(trial);
        }
    }
    let numbers = (0..n_atoms)
        .map(|i| if i % 2 == 0 { 11 } else { 17 })
        .collect();
    let cell = [
        [box_length, 0.0, 0.0],
        [0.0, box_length, 0.0],
        [0.0, 0.0, box_length],
    ];
    System::new(positions, numbers, cell, [true; 3]).expect("valid gas")
}

/// The benchmark set: `count` 64-atom gases, boxes uniform in [12, 20] Å, d_min 2.5 Å.
pub fn gas_set(count: usize) -> Vec<System> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(2024);
    (0..count)
        .map(|s| ionic_gas(64, 12.0 + 8.0 * rng.random::<f64>(), 2.5, s as u64))
        .collect()
}

/// One gas at the set's mean density (64 atoms per 16³ Å³) with `n_atoms` atoms.
pub fn gas_at_density(n_atoms: usize, seed: u64) -> System {
    let length = 16.0 * (n_atoms as f64 / 64.0).cbrt();
    ionic_gas(n_atoms, length, 2.5, seed)
}
