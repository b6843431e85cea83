//! LODE (p = 1, σ 1 Å, r_c 3 Å, n_max 6, l_max 4, accuracy 1e-6): time per atom for each
//! periodic route on the Na/Cl gas set, `auto` on single gases of growing size, and the
//! particle-mesh route against the Ewald route on larger single gases (throughput = atoms, so
//! criterion reports time per atom; the mesh route's should stay flat as N grows).

mod common;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lode_rs::expansion::{Channels, LodeCalculator, LodeHypers, Method, SpeciesMap};

fn calculator(method: Method) -> LodeCalculator {
    LodeCalculator::new(LodeHypers {
        cutoff: 3.0,
        smearing: 1.0,
        n_max: 6,
        l_max: 4,
        method,
        accuracy: 1e-6,
        ..LodeHypers::default()
    })
    .unwrap()
}

fn lode(c: &mut Criterion) {
    let species = SpeciesMap::new(&[11, 17]).unwrap();
    let systems = common::gas_set(20);
    let n_atoms: usize = systems.iter().map(|s| s.size()).sum();
    let mut group = c.benchmark_group("lode-nacl-gas-20x64-1-thread");
    group.throughput(Throughput::Elements(n_atoms as u64));
    group.sample_size(10);
    for (name, method) in [
        ("reciprocal", Method::Reciprocal),
        ("ewald", Method::Ewald),
        ("auto", Method::Auto),
    ] {
        let calc = calculator(method);
        calc.compute(&systems, Channels::Species(&species), 1)
            .unwrap();
        group.bench_function(name, |b| {
            b.iter(|| {
                calc.compute(&systems, Channels::Species(&species), 1)
                    .unwrap()
            })
        });
    }
    group.finish();

    let calc = calculator(Method::Auto);
    let mut group = c.benchmark_group("lode-nacl-gas-one-structure-all-threads");
    group.sample_size(10);
    for n in [216, 1000, 2000] {
        let system = common::gas_at_density(n, 11);
        let systems = std::slice::from_ref(&system);
        calc.compute(systems, Channels::Species(&species), 0)
            .unwrap();
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(format!("auto/{n}"), |b| {
            b.iter(|| {
                calc.compute(systems, Channels::Species(&species), 0)
                    .unwrap()
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("lode-nacl-gas-mesh-vs-ewald-all-threads");
    group.sample_size(10);
    for (name, method) in [("mesh", Method::Mesh), ("ewald", Method::Ewald)] {
        let calc = calculator(method);
        for n in [1000, 4000] {
            let system = common::gas_at_density(n, 7);
            let systems = std::slice::from_ref(&system);
            calc.compute(systems, Channels::Species(&species), 0)
                .unwrap();
            group.throughput(Throughput::Elements(n as u64));
            group.bench_function(format!("{name}/{n}"), |b| {
                b.iter(|| {
                    calc.compute(systems, Channels::Species(&species), 0)
                        .unwrap()
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, lode);
criterion_main!(benches);
