//! The k-space contraction of the reciprocal LODE route: time per atom and the rate of its GEMMs,
//! for Na/Cl gases at 0.0156 atoms/Å³ (64 atoms at k_c = 3.77 Å⁻¹, 1000 and 4000 atoms at
//! k_c = 1.5 Å⁻¹), 2 channels, 150 output columns (n_max 6 × (l_max 4 + 1)²).

mod common;

use std::hint::black_box;
use std::ops::Range;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lode_rs::kspace::{
    k_vectors, reciprocal_sum, reciprocal_sum_flops, KVectors, Sources, K_BLOCK,
};
use ndarray::{Array2, ArrayViewMut2};

const N_MAX: usize = 6;
const L_MAX: usize = 4;

/// Column layout `q = (n, l, m)`, odd for odd `l`.
fn odd_columns() -> Vec<bool> {
    let mut odd = Vec::new();
    for _n in 0..N_MAX {
        for l in 0..=L_MAX {
            odd.extend(std::iter::repeat_n(l % 2 == 1, 2 * l + 1));
        }
    }
    odd
}

/// A stand-in for the LODE basis (Gaussian-damped, radial-dependent values): costs about what a
/// splined basis would, values are irrelevant for timing.
fn basis(kv: &KVectors, range: Range<usize>, mut b: ArrayViewMut2<'_, f64>) {
    let n_lm = (L_MAX + 1) * (L_MAX + 1);
    for (mut row, k) in b.outer_iter_mut().zip(range) {
        let kn = kv.norms()[k];
        let v = kv.vectors()[k];
        for n in 0..N_MAX {
            let radial = (-0.125 * kn * kn * (1.0 + n as f64)).exp() / (kn * kn);
            for lm in 0..n_lm {
                row[n * n_lm + lm] = radial * (1.0 + 0.1 * lm as f64) * (v[0] + 0.5 * v[1]);
            }
        }
    }
}

fn kspace(c: &mut Criterion) {
    let odd = odd_columns();
    let n_threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(n_threads)
        .build()
        .unwrap();

    for (n_atoms, k_cutoff) in [(64, 3.77), (1000, 1.5), (4000, 1.5)] {
        let system = common::gas_at_density(n_atoms, 7);
        let kv = k_vectors(system.cell(), k_cutoff).unwrap();
        let channels: Vec<usize> = system
            .numbers()
            .iter()
            .map(|&z| usize::from(z == 17))
            .collect();
        let sources = Sources::new(system.positions(), &channels, None, 2).unwrap();
        let centers = system.positions();
        let run = || reciprocal_sum(centers, &sources, &kv, &odd, basis).unwrap();

        let mut group = c.benchmark_group(format!("kspace-sum/{n_atoms}-atoms"));
        group.throughput(Throughput::Elements(n_atoms as u64));
        group.sample_size(10);
        group.sampling_mode(criterion::SamplingMode::Flat);
        group.bench_function(format!("kc-{k_cutoff}/{n_threads}-threads"), |b| {
            pool.install(|| b.iter(|| black_box(run())))
        });
        group.finish();

        // the best of three timed runs for the per-atom time and the GEMM rate
        let seconds = (0..3)
            .map(|_| {
                let start = Instant::now();
                black_box(pool.install(run));
                start.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min);
        let flops = reciprocal_sum_flops(n_atoms, kv.len(), 2, odd.len());
        // reference: one plain single-threaded GEMM with the flops of one block
        let a = Array2::<f64>::from_elem((n_atoms, K_BLOCK), 0.5);
        let b = Array2::<f64>::from_elem((K_BLOCK, 2 * odd.len()), 0.25);
        let mut out = Array2::<f64>::zeros((n_atoms, 2 * odd.len()));
        let start = Instant::now();
        ndarray::linalg::general_mat_mul(1.0, &a, &b, 1.0, &mut out);
        let gemm_rate =
            reciprocal_sum_flops(n_atoms, K_BLOCK, 2, odd.len()) / start.elapsed().as_secs_f64();
        eprintln!(
            "kspace N = {n_atoms}, k_c = {k_cutoff}, {} k-vectors, {n_threads} threads: {:.1} µs/atom, \
             GEMM flops / total time = {:.1} GFLOP/s (plain 1-thread GEMM of one block: {:.1} GFLOP/s)",
            kv.len(),
            1e6 * seconds / n_atoms as f64,
            flops / seconds / 1e9,
            gemm_rate / 1e9,
        );
    }
}

/// The rate of one large, well-shaped, single-threaded GEMM (1024³) with the same library: the
/// practical peak that the k-contraction's rate is compared with.
fn gemm_peak(_c: &mut Criterion) {
    let n = 1024;
    let a = Array2::<f64>::from_elem((n, n), 0.5);
    let b = Array2::<f64>::from_elem((n, n), 0.25);
    let mut out = Array2::<f64>::zeros((n, n));
    let seconds = (0..3)
        .map(|_| {
            let start = Instant::now();
            ndarray::linalg::general_mat_mul(1.0, &a, &b, 1.0, &mut out);
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min);
    eprintln!(
        "GEMM 1024³, 1 thread: {:.1} GFLOP/s (practical peak of one core with this GEMM)",
        2.0 * (n * n * n) as f64 / seconds / 1e9
    );
}

criterion_group!(benches, kspace, gemm_peak);
criterion_main!(benches);
