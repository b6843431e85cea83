//! Time per vector of the real spherical harmonics, with and without gradients, for
//! `l_max = 4, 10, 20`. `cargo bench --bench spherical_harmonics -- --test` runs each once.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lode_rs::math::spherical_harmonics::SphericalHarmonics;
use rand::{Rng, SeedableRng};

const N_VECTORS: usize = 1000;

fn random_vectors() -> Vec<[f64; 3]> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    (0..N_VECTORS)
        .map(|_| {
            [
                rng.random_range(-1.0..1.0),
                rng.random_range(-1.0..1.0),
                rng.random_range(-1.0..1.0),
            ]
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let vectors = random_vectors();
    let mut group = c.benchmark_group("spherical_harmonics");
    // reported throughput: vectors per second (time per vector = 1/throughput)
    group.throughput(Throughput::Elements(N_VECTORS as u64));
    for l_max in [4, 10, 20] {
        let sh = SphericalHarmonics::new(l_max).unwrap();
        let mut values = vec![0.0; sh.len()];
        let mut gradients = vec![[0.0; 3]; sh.len()];
        group.bench_with_input(BenchmarkId::new("values", l_max), &l_max, |b, _| {
            b.iter(|| {
                for &r in &vectors {
                    sh.compute(black_box(r), &mut values);
                }
                black_box(&values);
            })
        });
        group.bench_with_input(
            BenchmarkId::new("values+gradients", l_max),
            &l_max,
            |b, _| {
                b.iter(|| {
                    for &r in &vectors {
                        sh.compute_with_gradients(black_box(r), &mut values, &mut gradients);
                    }
                    black_box((&values, &gradients));
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
