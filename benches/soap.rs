//! SOAP coefficients and power spectrum: time per atom on the Na/Cl gas benchmark set
//! (cutoff 6 Å, σ 0.5 Å, n_max 6, l_max 4) on one and on all threads.

mod common;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lode_rs::expansion::{SoapCalculator, SoapHypers, SpeciesMap};
use lode_rs::invariants::power_spectrum;

fn soap(c: &mut Criterion) {
    let systems = common::gas_set(100);
    let n_atoms: usize = systems.iter().map(|s| s.size()).sum();
    let species = SpeciesMap::new(&[11, 17]).unwrap();
    let calculator = SoapCalculator::new(SoapHypers {
        cutoff: 6.0,
        smearing: 0.5,
        n_max: 6,
        l_max: 4,
        ..SoapHypers::default()
    })
    .unwrap();

    let mut group = c.benchmark_group("soap-nacl-gas-100x64");
    group.throughput(Throughput::Elements(n_atoms as u64));
    group.sample_size(10);
    for threads in [1, 0] {
        let name = if threads == 1 {
            "1-thread"
        } else {
            "all-threads"
        };
        group.bench_function(format!("coefficients/{name}"), |b| {
            b.iter(|| calculator.compute(&systems, &species, threads).unwrap())
        });
        group.bench_function(format!("power-spectrum/{name}"), |b| {
            b.iter(|| {
                let e = calculator.compute(&systems, &species, threads).unwrap();
                lode_rs::threads::with_threads(threads, || {
                    power_spectrum(e.values.view(), species.species(), None).unwrap()
                })
                .unwrap()
            })
        });
    }
    group.finish();

    // the rate of the power-spectrum products alone, one thread, best of three: each centre
    // computes M_l = X_l Y_lᵀ for every l, (n_species·n_max)² (2l+1) multiply-adds
    let e = calculator.compute(&systems, &species, 1).unwrap();
    let seconds = (0..3)
        .map(|_| {
            let start = std::time::Instant::now();
            std::hint::black_box(
                lode_rs::threads::with_threads(1, || {
                    power_spectrum(e.values.view(), species.species(), None).unwrap()
                })
                .unwrap(),
            );
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min);
    let rows = (species.len() * 6) as f64;
    let flops = 2.0 * n_atoms as f64 * rows * rows * 25.0;
    eprintln!(
        "power spectrum of {n_atoms} centres, 1 thread: {:.2} µs/centre, {:.1} GFLOP/s",
        1e6 * seconds / n_atoms as f64,
        flops / seconds / 1e9
    );

    let large = common::gas_at_density(4096, 7);
    let mut group = c.benchmark_group("soap-nacl-gas-one-4096");
    group.throughput(Throughput::Elements(large.size() as u64));
    group.sample_size(10);
    for threads in [1, 0] {
        let name = if threads == 1 {
            "1-thread"
        } else {
            "all-threads"
        };
        group.bench_function(format!("coefficients/{name}"), |b| {
            b.iter(|| {
                calculator
                    .compute(std::slice::from_ref(&large), &species, threads)
                    .unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, soap);
criterion_main!(benches);
