//! The contraction over k grouped by shells, for a separable basis ([`shell_sum`]).

use ndarray::parallel::prelude::*;
use ndarray::Array3;
use rayon::prelude::*;

use super::super::basis::SeparableBasis;
use super::super::contraction::ParityOrder;
use super::super::lanes::{self, LANES};
use super::super::phases::{check_finite, IndexBox, Sources};
use super::kernels::{lane_structure_factors, BlockData, FoldTask, LaneTables, TileScratch};
use super::tables::{angular_table, radial_table};
use super::Shells;
use crate::error::Result;
use crate::systems::Vec3;

/// The reciprocal-space sum of [`crate::kspace::reciprocal_sum`] for a separable basis, grouped by
/// shells:
///
/// `out[i, a, r · n_ang + u] = Σ_s R[r, group[u]](|k_s|) Σ_{k∈s} A[k, u] F^a_{odd[u]}(i, k)`,
///
/// with `F` the cos/sin sums of [`crate::kspace::reciprocal_sum`] over the k-vectors of `shells`.
/// Returns `(centers.len(), n_channels, n_radial · n_ang)`.
///
/// # Algorithm and memory
/// 1. The radial factors of every shell, once (`shells × n_radial × n_ang`), and the angular
///    factors of every k-vector (`N_k × n_ang`).
/// 2. Phase tables `e^{inθ_d}` of the atoms in tiles of `LANES` (16) (atoms along SIMD lanes;
///    `N × Σ_d len_d` complex values, shared when the centres are the sources), and from them
///    the doubled structure factors of every k-vector (`2 n_channels N_k`).
/// 3. Per tile of centres (in parallel) and block of whole shells (about [`K_BLOCK`](crate::kspace::K_BLOCK)
///    k-vectors): the centres' phases (two complex products per k-vector), then per shell and
///    channel `G_u = Σ_{k∈s} A[k, u] F(k)`, held in registers two columns at a time and folded
///    into the tile's coefficients with the shell's radial factors.
///
/// Memory: the output twice, the tables and factors above and
/// `O(threads · LANES · K_BLOCK)` scratch.
///
/// # Parallelism and determinism
/// Parallel over tiles of `LANES` (16) centres inside each block; every centre's sum runs in the
/// same order whatever the number of threads, so results are bitwise identical for 1 and N
/// threads.
///
/// Errors: `InvalidInput` for non-finite centre positions.
pub fn shell_sum<B: SeparableBasis>(
    centers: &[Vec3],
    sources: &Sources<'_>,
    shells: &Shells,
    basis: &B,
) -> Result<Array3<f64>> {
    check_finite(centers, "centre")?;
    let n_centres = centers.len();
    let n_channels = sources.n_channels();
    let n_ang = basis.n_angular();
    let n_radial = basis.n_radial();
    let n_groups = basis.n_groups();
    let group = basis.group();
    assert_eq!(group.len(), n_ang, "one radial group per angular column");
    assert!(group.iter().all(|&g| g < n_groups));
    let parity = ParityOrder::new(basis.odd());
    let width = n_channels * n_radial * n_ang;
    let kvectors = shells.kvectors();
    let n_k = kvectors.len();
    if n_centres == 0 || width == 0 || n_k == 0 || sources.is_empty() {
        return Ok(Array3::zeros((n_centres, n_channels, n_radial * n_ang)));
    }

    // 1. per shell, R[r, group[order[p]]] in parity order: (shells, n_radial · n_ang)
    let radial = radial_table(basis, shells, &parity, false);
    let radial = radial.as_slice().expect("a fresh array is contiguous");

    // 3. the angular factors of every k-vector, in parity order, (N_k, n_ang)
    let angular = angular_table(basis, shells, &parity);
    let angular = angular.as_slice().expect("a fresh array is contiguous");

    // offsets of every k-vector's (h, k, l) into phase tables over their index box
    let index_box = IndexBox::of(kvectors.indices());
    let offsets: Vec<[usize; 3]> = kvectors
        .indices()
        .iter()
        .map(|n| index_box.offsets(n))
        .collect();

    // 2. phase tables e^{inθ_d} of the centres, tile by tile, and of the sources (the same ones
    //    when the centres are the sources); the doubled structure factors from the latter
    let b = kvectors.reciprocal();
    let centre_tables = LaneTables::new(centers, b, &index_box);
    let source_tables;
    let source_tables = if std::ptr::eq(centers, sources.positions()) {
        &centre_tables
    } else {
        source_tables = LaneTables::new(sources.positions(), b, &index_box);
        &source_tables
    };
    let factors = lane_structure_factors(sources, source_tables, &offsets);

    // blocks of whole shells, each with its shells' local ranges
    let blocks = shells.blocks_with_shells();
    let longest = blocks.iter().map(|b| b.0.len()).max().unwrap_or(0);

    // 4. per tile of LANES centres (in parallel), every block
    let n_tiles = n_centres.div_ceil(LANES);
    let mut coefficients = vec![[0.0; LANES]; n_tiles * width];
    coefficients
        .par_chunks_mut(width)
        .enumerate()
        .for_each_init(
            || TileScratch::new(longest),
            |scratch, (t, out)| {
                let tables = centre_tables.tile(t);
                for (block, members) in &blocks {
                    if crate::threads::check_cancelled().is_err() {
                        return; // reported after the loop
                    }
                    let data = BlockData {
                        offsets: &offsets[block.clone()],
                        factors: &factors,
                        n_k,
                        start: block.start,
                        angular: &angular[block.start * n_ang..block.end * n_ang],
                        n_even: parity.n_even,
                        shells: members,
                        radial,
                        n_radial,
                    };
                    lanes::dispatch(&mut FoldTask {
                        data: &data,
                        tables: &tables,
                        scratch,
                        out,
                    });
                }
            },
        );

    crate::threads::check_cancelled()?;
    // centres back from the lanes and columns back from parity order, in one copy
    let mut out = Array3::<f64>::zeros((n_centres, n_channels, n_radial * n_ang));
    for (i, mut out_i) in out.outer_iter_mut().enumerate() {
        let tile = &coefficients[(i / LANES) * width..(i / LANES + 1) * width];
        let out_i = out_i.as_slice_mut().expect("a fresh array is contiguous");
        for (run, (lanes, to)) in tile
            .chunks_exact(n_ang)
            .zip(out_i.chunks_exact_mut(n_ang))
            .enumerate()
        {
            debug_assert!(run < n_channels * n_radial);
            for (row, &u) in lanes.iter().zip(&parity.order) {
                to[u] = row[i % LANES];
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::super::basis::tests::TestBasis;
    use super::super::super::k_vectors::k_vectors;
    use super::super::super::k_vectors::KVectors;
    use super::super::super::reciprocal_sum;
    use super::*;
    use crate::kspace::K_BLOCK;
    use crate::systems::Cell;
    use crate::threads::with_threads;
    use ndarray::Array2;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn cell(m: [[f64; 3]; 3]) -> Cell {
        Cell::new(m, [true; 3]).unwrap()
    }

    fn cubic(a: f64) -> Cell {
        cell([[a, 0.0, 0.0], [0.0, a, 0.0], [0.0, 0.0, a]])
    }

    fn basis() -> TestBasis {
        TestBasis::new()
    }

    /// The same sum as [`reciprocal_sum`] with the dense basis `R(|k|) A(k)`.
    fn dense(centers: &[Vec3], sources: &Sources<'_>, kv: &KVectors) -> Array3<f64> {
        let b = basis();
        let n_ang = b.odd.len();
        let odd: Vec<bool> = (0..b.n_radial()).flat_map(|_| b.odd.clone()).collect();
        reciprocal_sum(centers, sources, kv, &odd, |kv, range, mut out| {
            let mut a = vec![0.0; n_ang];
            let mut r = Array2::zeros((b.n_radial(), b.n_groups()));
            for (j, k) in range.enumerate() {
                b.angular(kv.vectors()[k], &mut a);
                b.radial(kv.norms()[k], r.view_mut());
                for rr in 0..b.n_radial() {
                    for u in 0..n_ang {
                        out[[j, rr * n_ang + u]] = r[[rr, b.group[u]]] * a[u];
                    }
                }
            }
        })
        .unwrap()
    }

    struct Atoms {
        centers: Vec<Vec3>,
        positions: Vec<Vec3>,
        channels: Vec<usize>,
        weights: Vec<f64>,
    }

    fn atoms(cell: &Cell, n_centres: usize, n_sources: usize, seed: u64) -> Atoms {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut random = || cell.to_cartesian([0, 1, 2].map(|_| rng.random_range(-0.2..1.2)));
        let centers = (0..n_centres).map(|_| random()).collect();
        let positions = (0..n_sources).map(|_| random()).collect();
        Atoms {
            centers,
            positions,
            channels: (0..n_sources).map(|j| (j * 5 + 2) % 3).collect(),
            weights: (0..n_sources)
                .map(|j| 0.4 + (j % 4) as f64 * 0.35)
                .collect(),
        }
    }

    fn worst_relative(x: &Array3<f64>, y: &Array3<f64>) -> f64 {
        let scale = y.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        x.iter()
            .zip(y)
            .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()))
            / scale
    }

    #[test]
    fn equals_the_dense_contraction() {
        // cubic (many blocks, large shells), orthorhombic, triclinic (one vector per shell);
        // partial tiles of lanes, centres distinct from the sources, 3 channels
        let cases = [
            (cubic(8.0), 5.0),
            (
                cell([[6.0, 0.0, 0.0], [0.0, 7.0, 0.0], [0.0, 0.0, 8.5]]),
                4.0,
            ),
            (
                cell([[7.0, 0.0, 0.0], [2.0, 6.5, 0.0], [-1.5, 1.0, 8.0]]),
                3.5,
            ),
        ];
        for (c, (cell, k_cutoff)) in cases.iter().enumerate() {
            let kv = k_vectors(cell, *k_cutoff).unwrap();
            let shells = Shells::new(&kv);
            let at = atoms(cell, 21, 13, c as u64);
            let sources = Sources::new(&at.positions, &at.channels, Some(&at.weights), 3).unwrap();
            let got = shell_sum(&at.centers, &sources, &shells, &basis()).unwrap();
            let expected = dense(&at.centers, &sources, &kv);
            assert_eq!(got.dim(), (21, 3, 28));
            let err = worst_relative(&got, &expected);
            eprintln!(
                "case {c}: {} k-vectors in {} shells, worst error {err:.1e} of the largest value",
                kv.len(),
                shells.len()
            );
            assert!(err < 1e-12, "case {c}: {err:e}");
        }
        // c == 0 must span several blocks
        assert!(k_vectors(&cases[0].0, cases[0].1).unwrap().len() > 2 * K_BLOCK);
    }

    #[test]
    fn bitwise_identical_for_one_and_two_threads_and_shared_phases() {
        let cell = cubic(9.0);
        let kv = k_vectors(&cell, 3.0).unwrap();
        let shells = Shells::new(&kv);
        let at = atoms(&cell, 40, 40, 5);
        let sources = Sources::new(&at.positions, &at.channels, None, 3).unwrap();
        let run = || shell_sum(&at.positions, &sources, &shells, &basis()).unwrap();
        let one = with_threads(1, run).unwrap();
        let two = with_threads(2, run).unwrap();
        assert!(one
            .iter()
            .zip(&two)
            .all(|(x, y)| x.to_bits() == y.to_bits()));
        let expected = dense(&at.positions, &sources, &kv);
        assert!(worst_relative(&one, &expected) < 1e-12);
    }

    #[test]
    fn portable_kernel_agrees_with_the_dispatched_one() {
        let cell = cell([[8.0, 0.0, 0.0], [0.0, 8.0, 0.0], [0.0, 0.0, 11.0]]);
        let kv = k_vectors(&cell, 3.5).unwrap();
        let shells = Shells::new(&kv);
        let at = atoms(&cell, 19, 19, 8);
        let sources = Sources::new(&at.positions, &at.channels, None, 3).unwrap();
        let run = || shell_sum(&at.positions, &sources, &shells, &basis()).unwrap();
        let dispatched = run();
        let portable = crate::kspace::lanes::tests::with_portable(run);
        assert!(worst_relative(&portable, &dispatched) < 1e-13);
        assert!(worst_relative(&portable, &dense(&at.positions, &sources, &kv)) < 1e-12);
    }

    #[test]
    fn empty_inputs_and_bad_positions() {
        let cell = cubic(6.0);
        let kv = k_vectors(&cell, 2.0).unwrap();
        let shells = Shells::new(&kv);
        let at = atoms(&cell, 3, 4, 1);
        let sources = Sources::new(&at.positions, &at.channels, None, 3).unwrap();
        let none = Sources::new(&[], &[], None, 3).unwrap();
        let out = shell_sum(&at.centers, &none, &shells, &basis()).unwrap();
        assert_eq!(out.dim(), (3, 3, 28));
        assert!(out.iter().all(|&x| x == 0.0));
        assert_eq!(
            shell_sum(&[], &sources, &shells, &basis()).unwrap().dim(),
            (0, 3, 28)
        );
        let bad = [[0.0, f64::INFINITY, 0.0]];
        assert!(shell_sum(&bad, &sources, &shells, &basis()).is_err());
    }
}
