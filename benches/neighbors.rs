//! Neighbour search: time per atom of the full pair list (`neighbor_list`) and of the streamed
//! search (`NeighborSearch`: cell list once, then every centre's pairs) on Na/Cl gases at the
//! benchmark density (64 atoms per 16³ Å³), for 64, 1000 and 8000 atoms, at the SOAP cutoff
//! (6 Å) and at an Ewald short-range reach (10 Å), on one thread.

mod common;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lode_rs::neighbors::{neighbor_list, NeighborSearch};

fn neighbors(c: &mut Criterion) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    for n_atoms in [64, 1000, 8000] {
        let system = common::gas_at_density(n_atoms, 11);
        let mut group = c.benchmark_group(format!("neighbors/{n_atoms}-atoms"));
        group.throughput(Throughput::Elements(n_atoms as u64));
        group.sample_size(10);
        for cutoff in [6.0, 10.0] {
            group.bench_function(format!("list/cutoff-{cutoff}/1-thread"), |b| {
                pool.install(|| b.iter(|| neighbor_list(&system, cutoff).unwrap()))
            });
            group.bench_function(format!("stream/cutoff-{cutoff}/1-thread"), |b| {
                pool.install(|| {
                    b.iter(|| {
                        let search = NeighborSearch::new(&system, cutoff).unwrap();
                        let mut pairs = Vec::new();
                        let mut count = 0;
                        for i in 0..system.size() {
                            search.pairs_of(i, &mut pairs);
                            count += pairs.len();
                        }
                        black_box(count)
                    })
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, neighbors);
criterion_main!(benches);
