//! LODE of a 10 000-atom slab against the same atoms in a 3D cell (p = 1, σ 1 Å, r_c 3 Å,
//! n_max 6, l_max 4, accuracy 1e-6, `auto`, all threads): a rocksalt (001) slab of 16 layers of
//! 25 × 25 sites (d = 2.82 Å, positions jittered by up to 0.1 Å), as a slab
//! (`pbc = [T, T, F]`, the slab route: the vacuum cell's route plus the exact k_∥ = 0 line) and
//! as a 3D crystal (`pbc = T`, the cell's height the 16 layers' period). Throughput = atoms: the
//! ratio of the two times is the cost of the slab geometry (docs/math.md §15.2: the vacuum gap
//! grows like ln(1/accuracy) / |k_∥,min|, so the ratio grows with the in-plane size at fixed
//! thickness).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lode_rs::expansion::{Channels, LodeCalculator, LodeHypers, Method, SpeciesMap};
use lode_rs::systems::System;
use rand::{Rng, SeedableRng};

const SIDE: usize = 25;
const LAYERS: usize = 16;
const SPACING: f64 = 2.82;

/// The slab (`periodic = false`) or the crystal (`true`).
fn rocksalt(periodic: bool) -> System {
    let mut rng = rand::rngs::StdRng::seed_from_u64(10_000);
    let mut positions = Vec::new();
    let mut numbers = Vec::new();
    for i in 0..SIDE {
        for j in 0..SIDE {
            for k in 0..LAYERS {
                let jitter = |rng: &mut rand::rngs::StdRng| 0.2 * (rng.random::<f64>() - 0.5);
                positions.push([
                    i as f64 * SPACING + jitter(&mut rng),
                    j as f64 * SPACING + jitter(&mut rng),
                    k as f64 * SPACING + jitter(&mut rng),
                ]);
                numbers.push(if (i + j + k) % 2 == 0 { 11 } else { 17 });
            }
        }
    }
    let side = SIDE as f64 * SPACING;
    let height = if periodic {
        LAYERS as f64 * SPACING
    } else {
        0.0
    };
    let cell = [[side, 0.0, 0.0], [0.0, side, 0.0], [0.0, 0.0, height]];
    System::new(positions, numbers, cell, [true, true, periodic]).unwrap()
}

fn slabs(c: &mut Criterion) {
    let species = SpeciesMap::new(&[11, 17]).unwrap();
    let calc = LodeCalculator::new(LodeHypers {
        cutoff: 3.0,
        smearing: 1.0,
        n_max: 6,
        l_max: 4,
        method: Method::Auto,
        accuracy: 1e-6,
        ..LodeHypers::default()
    })
    .unwrap();
    let mut group = c.benchmark_group("lode-rocksalt-10000-slab-vs-3d-all-threads");
    group.sample_size(10);
    group.throughput(Throughput::Elements((SIDE * SIDE * LAYERS) as u64));
    for (name, periodic) in [("3d", true), ("slab", false)] {
        let system = rocksalt(periodic);
        let systems = std::slice::from_ref(&system);
        group.bench_function(name, |b| {
            b.iter(|| {
                calc.compute(systems, Channels::Species(&species), 0)
                    .unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, slabs);
criterion_main!(benches);
