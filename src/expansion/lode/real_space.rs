//! Real-space pair sums of LODE: finite systems (all pairs) and the Ewald short range
//! (pairs within the kernel's reach, periodic images included).
//!
//! `out[i, a] += Σ_{j∈a, j≠i (or image)} w_j f_nl(d_ij) Y_lm(r̂_ij)`; the centre's own term
//! (`d = 0`) is added by the caller. Parallel over centres; each centre's sum runs in a fixed
//! order, so results do not depend on the number of threads.
//!
//! Gradients of both pair sums ([`pair_jacobian_row`], [`pair_backward`]): every pair is a term
//! `w_j f_nl(d) Y_lm(r̂)` of [`crate::expansion::pair_gradients`] with a constant weight
//! (`w' = 0`); its derivative goes to atom `j` (+) and to the centre (−), and `∂/∂r ⊗ r` to
//! the strain (the image vector `r = r_j + S·M − r_i` deforms with the cell). The pairs of a
//! centre are produced by the route: all pairs ([`finite_pairs_into`]) or the images within
//! a neighbour search ([`listed_pairs_into`]).

use ndarray::{Array3, ArrayView3, Axis};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::expansion::pair_gradients::{reduce_in_order, Contributions, PairGradients};
use crate::expansion::pairs::PairSum;
use crate::kspace::Sources;
use crate::math::spherical_harmonics::SphericalHarmonics;
use crate::neighbors::{NeighborSearch, Pair};
use crate::radial::{LodeRadialTable, RadialIntegral};
use crate::systems::OVERLAP_DISTANCE;
use crate::systems::{Mat3, System, Vec3};

/// Sources of one structure: channel and weight of every atom.
pub(super) struct AtomChannels<'a> {
    pub channel: &'a [usize],
    pub weight: Option<&'a [f64]>,
    pub n_channels: usize,
}

impl<'a> AtomChannels<'a> {
    /// Weight `w_j` of atom `j` (1 for species channels).
    pub fn weight(&self, j: usize) -> f64 {
        self.weight.map_or(1.0, |w| w[j])
    }

    /// Every atom of `system` as a source of its channel (for the k-space and mesh sums).
    pub fn sources(&self, system: &'a System) -> Result<Sources<'a>> {
        Sources::new(
            system.positions(),
            self.channel,
            self.weight,
            self.n_channels,
        )
    }
}

struct Scratch {
    sum: PairSum,
    pairs: Vec<Pair>,
}

fn scratch(n_max: usize, l_max: usize) -> Scratch {
    Scratch {
        sum: PairSum::new(n_max, l_max),
        pairs: Vec::new(),
    }
}

/// Finite system: every ordered pair `i ≠ j`, no images. Output `(N, n_channels, n_max·n_lm)`.
pub(super) fn finite_pairs(
    system: &System,
    atoms: &AtomChannels<'_>,
    radial: &dyn RadialIntegral,
    harmonics: &SphericalHarmonics,
    structure: usize,
) -> Result<Array3<f64>> {
    let (n_max, l_max) = (radial.n_max(), radial.l_max());
    let n_lm = (l_max + 1) * (l_max + 1);
    let positions = system.positions();
    let n = positions.len();
    let mut out = Array3::zeros((n, atoms.n_channels, n_max * n_lm));
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .try_for_each_init(
            || scratch(n_max, l_max),
            |s, (i, mut block)| {
                crate::threads::check_cancelled()?;
                s.sum.clear();
                s.sum.try_reserve(n - 1).map_err(|_| {
                    Error::InvalidParameter(format!(
                        "structure {structure}: could not allocate the pair buffers of atom {i} \
                         ({} pairs): use fewer threads, or compute a smaller structure",
                        n - 1
                    ))
                })?;
                each_finite_pair(system, structure, i, |d, v, j| {
                    s.sum.push(d, v, atoms.channel[j], atoms.weight(j));
                })?;
                let block = block.as_slice_mut().expect("contiguous centre block");
                s.sum.add_to(radial, harmonics, block);
                Ok(())
            },
        )?;
    Ok(out)
}

/// The error of two atoms `i`, `j` of a finite structure closer than [`OVERLAP_DISTANCE`].
pub(super) fn overlap(structure: usize, i: usize, j: usize, d: f64) -> Error {
    Error::InvalidInput(format!(
        "structure {structure}: atoms {i} and {j} overlap (distance {d:.2e} Å < {OVERLAP_DISTANCE} Å)"
    ))
}

/// Bytes held per pair of the centre in hand: its neighbour-list entry and its [`PairSum`]
/// columns (the finite route holds only the latter; counted the same, an upper bound).
pub(super) const BYTES_PER_PAIR: usize = std::mem::size_of::<Pair>() + PairSum::BYTES_PER_PAIR;

/// Centres may hold this many times the mean number of pairs before the cap of
/// [`PairMemory::max_pairs`] refuses them (a uniform gas fluctuates by a few √mean; the budget
/// is checked for it).
const PAIR_MARGIN: f64 = 2.0;

/// Memory of a streamed pair loop: each thread of the current pool holds the pairs of one
/// centre at a time, `per_centre` of them on average (`ρ 4π/3 reach³` over periodic images,
/// `N − 1` for a finite structure), budgeted for [`PAIR_MARGIN`] times that.
#[derive(Debug, Clone, Copy)]
pub(super) struct PairMemory {
    pub per_centre: f64,
    pub reach: f64,
    pub threads: usize,
}

impl PairMemory {
    /// The pairs within `reach` (periodic images included; every other atom when `system` is
    /// not periodic, `reach` infinite).
    pub fn of(system: &System, reach: f64) -> PairMemory {
        let n = system.size() as f64;
        let cell = system.cell();
        let per_centre = if cell.is_periodic() {
            n / cell.volume() * 4.0 / 3.0 * std::f64::consts::PI * reach.powi(3)
        } else {
            (n - 1.0).max(0.0)
        };
        PairMemory {
            per_centre,
            reach,
            threads: rayon::current_num_threads(),
        }
    }

    /// Budgeted bytes of the pair buffers of every thread (the margin included; a finite
    /// structure's count is exact).
    pub fn bytes(&self) -> f64 {
        let margin = if self.reach.is_finite() {
            PAIR_MARGIN
        } else {
            1.0
        };
        self.threads as f64 * margin * self.per_centre * BYTES_PER_PAIR as f64
    }

    /// Refuse the route when `fixed` bytes (its coefficient arrays and tables) and the pair
    /// buffers exceed `max_memory`, with an error that names the parts and what to change.
    pub fn check(&self, route: &str, system: &System, fixed: f64, max_memory: f64) -> Result<()> {
        let total = fixed + self.bytes();
        if total.is_nan() || total > max_memory {
            let within = if self.reach.is_finite() {
                format!(
                    "within {:.1} Å, budgeted at {PAIR_MARGIN}× the mean",
                    self.reach
                )
            } else {
                "every other atom".to_string()
            };
            crate::bail_param!(
                "the {route} route of this structure ({} atoms) would need about {}: {} of \
                 coefficients and tables, and {} threads × {:.3e} pairs per centre ({within}) \
                 × {BYTES_PER_PAIR} bytes, above max_memory = {}: use fewer threads, \
                 method=\"reciprocal\", a looser accuracy or a smaller smearing (a shorter \
                 reach), or raise max_memory",
                system.size(),
                bytes(total),
                bytes(fixed),
                self.threads,
                self.per_centre,
                bytes(max_memory)
            );
        }
        Ok(())
    }

    /// The most pairs one centre may hold: what `max_memory` leaves after `fixed`, shared by
    /// the threads (at least the estimated mean, which [`check`](Self::check) admitted with
    /// its margin).
    pub fn max_pairs(&self, fixed: f64, max_memory: f64) -> usize {
        let per_thread = (max_memory - fixed) / self.threads as f64 / BYTES_PER_PAIR as f64;
        per_thread
            .max(self.per_centre.ceil())
            .min(usize::MAX as f64) as usize
    }
}

/// A size in MB (below 0.1 GiB) or GiB.
fn bytes(x: f64) -> String {
    if x < 0.1 * 2f64.powi(30) {
        format!("{:.3} MB", x / 1e6)
    } else {
        format!("{:.2} GiB", x / 2f64.powi(30))
    }
}

/// The error of a centre whose pairs exceed the cap of [`PairMemory::max_pairs`] (or whose
/// pair buffers could not be allocated).
fn too_many_pairs(center: usize, max_pairs: usize, reach: f64) -> Error {
    Error::InvalidParameter(format!(
        "atom {center} has more than {max_pairs} pairs within the pair route's reach {reach:.1} Å \
         (or their buffers could not be allocated), more than max_memory allows for each \
         thread: use fewer threads, method=\"reciprocal\", or raise max_memory"
    ))
}

/// Periodic short range: the pairs within the search's cutoff (all images), streamed centre by
/// centre so that no pair list is stored; at most `max_pairs` per centre
/// ([`PairMemory::max_pairs`]), allocated fallibly. Errors: a centre above the cap,
/// `Interrupted`.
pub(super) fn listed_pairs(
    system: &System,
    search: &NeighborSearch<'_>,
    atoms: &AtomChannels<'_>,
    radial: &dyn RadialIntegral,
    harmonics: &SphericalHarmonics,
    max_pairs: usize,
) -> Result<Array3<f64>> {
    let (n_max, l_max) = (radial.n_max(), radial.l_max());
    let n_lm = (l_max + 1) * (l_max + 1);
    let mut out = Array3::zeros((system.size(), atoms.n_channels, n_max * n_lm));
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .try_for_each_init(
            || scratch(n_max, l_max),
            |s, (i, mut block)| {
                crate::threads::check_cancelled()?;
                let over = |_| too_many_pairs(i, max_pairs, search.cutoff());
                search
                    .pairs_of_bounded(i, &mut s.pairs, max_pairs)
                    .map_err(over)?;
                s.sum.clear();
                s.sum.try_reserve(s.pairs.len()).map_err(over)?;
                for pair in &s.pairs {
                    let j = pair.second;
                    s.sum.push(
                        pair.distance,
                        pair.vector,
                        atoms.channel[j],
                        atoms.weight(j),
                    );
                }
                let block = block.as_slice_mut().expect("contiguous centre block");
                s.sum.add_to(radial, harmonics, block);
                Ok(())
            },
        )?;
    Ok(out)
}

/// Buffers of the pair gradients of one centre; one per thread.
pub(super) struct PairScratch {
    pub gradients: PairGradients,
    pub pairs: Vec<Pair>,
}

impl PairScratch {
    pub fn new(n_max: usize, l_max: usize) -> PairScratch {
        PairScratch {
            gradients: PairGradients::new(n_max, l_max),
            pairs: Vec::new(),
        }
    }
}

/// Every pair `j ≠ i` of centre `i` of a finite system (no images) into `scratch` (target
/// `j`, weight `w_j`); an overlap is an error.
pub(super) fn finite_pairs_into(
    system: &System,
    atoms: &AtomChannels<'_>,
    structure: usize,
    i: usize,
    scratch: &mut PairScratch,
) -> Result<()> {
    scratch.gradients.clear();
    each_finite_pair(system, structure, i, |d, v, j| {
        let gradients = &mut scratch.gradients;
        gradients.push(d, v, atoms.channel[j], j, atoms.weight(j), 0.0);
    })
}

/// `pair(d, r_j − r_i, j)` for every atom `j ≠ i` of a finite system, in order; two atoms
/// closer than [`OVERLAP_DISTANCE`] are an error.
fn each_finite_pair(
    system: &System,
    structure: usize,
    i: usize,
    mut pair: impl FnMut(f64, Vec3, usize),
) -> Result<()> {
    let positions = system.positions();
    let ri = positions[i];
    for (j, rj) in positions.iter().enumerate() {
        if j == i {
            continue;
        }
        let v = [rj[0] - ri[0], rj[1] - ri[1], rj[2] - ri[2]];
        let d = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
        if d < OVERLAP_DISTANCE {
            return Err(overlap(structure, i, j, d));
        }
        pair(d, v, j);
    }
    Ok(())
}

/// The pairs of centre `i` within `search` (periodic images included, in the order of
/// [`listed_pairs`]) into `scratch` (target: the neighbour atom, weight `w_j`).
pub(super) fn listed_pairs_into(
    search: &NeighborSearch<'_>,
    atoms: &AtomChannels<'_>,
    i: usize,
    scratch: &mut PairScratch,
) {
    search.pairs_of(i, &mut scratch.pairs);
    scratch.gradients.clear();
    for pair in &scratch.pairs {
        let j = pair.second;
        scratch.gradients.push(
            pair.distance,
            pair.vector,
            atoms.channel[j],
            j,
            atoms.weight(j),
            0.0,
        );
    }
}

/// Add the Jacobian of centre `i`'s pair sum into zeroed buffers: `positions`
/// `(N, 3, n_channels, n_max·n_lm)`, `strain` `(3, 3, n_channels, n_max·n_lm)`; `push` fills
/// the centre's pairs.
pub(super) fn pair_jacobian_row(
    radial: &dyn RadialIntegral,
    harmonics: &SphericalHarmonics,
    n_channels: usize,
    i: usize,
    push: impl FnOnce(&mut PairScratch) -> Result<()>,
    positions: Option<&mut [f64]>,
    strain: Option<&mut [f64]>,
) -> Result<()> {
    let mut scratch = PairScratch::new(radial.n_max(), radial.l_max());
    push(&mut scratch)?;
    scratch
        .gradients
        .add_jacobian(radial, harmonics, n_channels, i, positions, strain);
    Ok(())
}

/// Backward pass of a pair sum over the `n` centres of one structure, for a cotangent
/// `(n, n_channels, n_max·n_lm)`: `∂(Σ g·c)/∂r_j` for every atom and the strain gradient
/// (the pairs' virial); `push(scratch, i)` fills centre `i`'s pairs. Bitwise independent of
/// the number of threads ([`reduce_in_order`]).
pub(super) fn pair_backward<F>(
    radial: &dyn RadialIntegral,
    harmonics: &SphericalHarmonics,
    cotangent: ArrayView3<f64>,
    push: F,
) -> Result<(Vec<Vec3>, Mat3)>
where
    F: Fn(&mut PairScratch, usize) -> Result<()> + Sync + Send,
{
    let n = cotangent.shape()[0];
    let cotangent = cotangent.as_standard_layout();
    let (forces, virials) = reduce_in_order(
        n,
        n,
        1,
        || PairScratch::new(radial.n_max(), radial.l_max()),
        |scratch: &mut PairScratch, i, out: &mut Contributions| {
            push(scratch, i)?;
            let g = cotangent.index_axis(Axis(0), i);
            let g = g.as_slice().expect("standard layout");
            scratch
                .gradients
                .backward_into(radial, harmonics, g, i, 0, out);
            Ok(())
        },
    )?;
    Ok((forces, virials[0]))
}

/// [`pair_jacobian_row`] of the periodic pair sum of `table` (images within its reach).
pub(super) fn listed_pair_jacobian_row(
    system: &System,
    atoms: &AtomChannels<'_>,
    table: &LodeRadialTable,
    harmonics: &SphericalHarmonics,
    i: usize,
    positions: Option<&mut [f64]>,
    strain: Option<&mut [f64]>,
) -> Result<()> {
    let search = NeighborSearch::new(system, table.reach())?;
    pair_jacobian_row(
        table,
        harmonics,
        atoms.n_channels,
        i,
        |scratch| {
            listed_pairs_into(&search, atoms, i, scratch);
            Ok(())
        },
        positions,
        strain,
    )
}

/// [`pair_backward`] of the periodic pair sum of `table` (images within its reach).
pub(super) fn listed_pair_backward(
    system: &System,
    atoms: &AtomChannels<'_>,
    table: &LodeRadialTable,
    harmonics: &SphericalHarmonics,
    cotangent: ArrayView3<f64>,
) -> Result<(Vec<Vec3>, Mat3)> {
    let search = NeighborSearch::new(system, table.reach())?;
    pair_backward(table, harmonics, cotangent, |scratch, i| {
        listed_pairs_into(&search, atoms, i, scratch);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use ndarray::Array2;

    use super::*;
    use crate::expansion::accumulate_pair;
    use crate::radial::{GtoBasis, LodeRadialTable};

    /// The straightforward pair loop (one pair at a time, sorted pairs): the reference the
    /// batched loop must reproduce bitwise.
    fn reference(
        system: &System,
        search: &NeighborSearch<'_>,
        atoms: &AtomChannels<'_>,
        radial: &dyn RadialIntegral,
        harmonics: &SphericalHarmonics,
    ) -> Array3<f64> {
        let (n_max, l_max) = (radial.n_max(), radial.l_max());
        let n_lm = (l_max + 1) * (l_max + 1);
        let mut out = Array3::zeros((system.size(), atoms.n_channels, n_max * n_lm));
        let mut values = Array2::zeros((n_max, l_max + 1));
        let mut y = vec![0.0; n_lm];
        let mut pairs = Vec::new();
        for (i, mut block) in out.axis_iter_mut(Axis(0)).enumerate() {
            search.pairs_of(i, &mut pairs);
            for pair in &pairs {
                radial.compute(pair.distance, values.view_mut(), None);
                harmonics.compute(pair.vector, &mut y);
                let mut channel = block.index_axis_mut(Axis(0), atoms.channel[pair.second]);
                let channel = channel
                    .view_mut()
                    .into_shape_with_order((n_max, n_lm))
                    .unwrap();
                accumulate_pair(channel, values.view(), &y, atoms.weight(pair.second));
            }
        }
        out
    }

    /// A random gas of `n` atoms in a box of side `length`, no two closer than 2.5 Å.
    fn gas(rng: &mut StdRng, n: usize, length: f64) -> System {
        let mut positions: Vec<[f64; 3]> = Vec::with_capacity(n);
        while positions.len() < n {
            let trial = [0, 1, 2].map(|_| rng.random::<f64>() * length);
            let far = positions.iter().all(|p| {
                let d2: f64 = (0..3)
                    .map(|k| {
                        let d = trial[k] - p[k];
                        let d = d - length * (d / length).round();
                        d * d
                    })
                    .sum();
                d2 >= 2.5 * 2.5
            });
            if far {
                positions.push(trial);
            }
        }
        let cell = [[length, 0.0, 0.0], [0.0, length, 0.0], [0.0, 0.0, length]];
        System::new(positions, vec![1; n], cell, [true; 3]).unwrap()
    }

    #[test]
    fn batched_pairs_equal_the_reference_bitwise() {
        let basis = GtoBasis::new(5, 3.0).unwrap();
        let table = LodeRadialTable::ewald_short_range(&basis, 3, 1, 1.0, 1.5, 1e-6).unwrap();
        let harmonics = SphericalHarmonics::new(3).unwrap();
        let mut rng = StdRng::seed_from_u64(5);
        let cases = [(6.0, 5), (9.5, 12), (14.0, 25), (30.0, 40)];
        for (case, (length, n_atoms)) in cases.into_iter().enumerate() {
            let system = gas(&mut rng, n_atoms, length);
            let n = system.size();
            let channel: Vec<usize> = (0..n).map(|j| (j * 7 + case) % 3).collect();
            let weight: Vec<f64> = (0..n).map(|j| 1.0 - 0.37 * j as f64).collect();
            let search = NeighborSearch::new(&system, table.reach()).unwrap();
            for weight in [None, Some(weight.as_slice())] {
                let atoms = AtomChannels {
                    channel: &channel,
                    weight,
                    n_channels: 3,
                };
                let expected = reference(&system, &search, &atoms, &table, &harmonics);
                for threads in [1, 2] {
                    let out = crate::threads::with_threads(threads, || {
                        listed_pairs(&system, &search, &atoms, &table, &harmonics, usize::MAX)
                    })
                    .unwrap()
                    .unwrap();
                    assert!(
                        out.iter()
                            .zip(&expected)
                            .all(|(a, b)| a.to_bits() == b.to_bits()),
                        "box {length}, threads {threads}"
                    );
                }
            }
        }
    }

    /// A centre with more pairs than the cap is refused with an error naming it and the fix;
    /// a cap at the largest centre's count gives the unbounded result bitwise; the estimate of
    /// [`PairMemory`] is the mean count of the gas (within 30 %: a uniform random gas).
    #[test]
    fn pair_cap_and_estimate() {
        let basis = GtoBasis::new(3, 3.0).unwrap();
        let table = LodeRadialTable::ewald_short_range(&basis, 2, 1, 1.0, 1.5, 1e-6).unwrap();
        let harmonics = SphericalHarmonics::new(2).unwrap();
        let system = gas(&mut StdRng::seed_from_u64(3), 40, 14.0);
        let search = NeighborSearch::new(&system, table.reach()).unwrap();
        let channel = vec![0; 40];
        let atoms = AtomChannels {
            channel: &channel,
            weight: None,
            n_channels: 1,
        };
        let mut pairs = Vec::new();
        let counts: Vec<usize> = (0..40)
            .map(|i| {
                search.pairs_of(i, &mut pairs);
                pairs.len()
            })
            .collect();
        let largest = *counts.iter().max().unwrap();
        let mean = counts.iter().sum::<usize>() as f64 / 40.0;
        let estimate = PairMemory::of(&system, table.reach()).per_centre;
        assert!((estimate / mean - 1.0).abs() < 0.3, "{estimate} vs {mean}");
        let run = |cap| listed_pairs(&system, &search, &atoms, &table, &harmonics, cap);
        let full = run(usize::MAX).unwrap();
        assert_eq!(run(largest).unwrap(), full);
        let error = run(largest - 1).unwrap_err().to_string();
        assert!(
            error.contains(&format!("more than {} pairs", largest - 1))
                && error.contains("max_memory"),
            "{error}"
        );
        // the check: refused when the pairs of every thread do not fit beside `fixed`
        let memory = PairMemory {
            per_centre: mean,
            reach: table.reach(),
            threads: 2,
        };
        let need = memory.bytes();
        assert!(memory.check("pairs", &system, 1e5, 1e5 + need).is_ok());
        let error = memory
            .check("pairs", &system, 1e5, 1e5 + 0.9 * need)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("2 threads") && error.contains("max_memory"),
            "{error}"
        );
        // the budget admitted covers centres up to the margin × the mean
        assert_eq!(
            memory.max_pairs(1e5, 1e5 + need),
            (PAIR_MARGIN * mean).floor() as usize
        );
    }

    /// Time of the new and the reference loop on the LODE benchmark set (100 gases of 64 atoms
    /// in 12–20 Å boxes, Ewald η = 1.68 Å short range, n_max 6, l_max 4):
    /// `cargo test --release time_listed_pairs -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn time_listed_pairs() {
        let basis = GtoBasis::new(6, 3.0).unwrap();
        let table = LodeRadialTable::ewald_short_range(&basis, 4, 1, 1.0, 1.6818, 2.5e-7).unwrap();
        let harmonics = SphericalHarmonics::new(4).unwrap();
        let mut rng = StdRng::seed_from_u64(2024);
        let systems: Vec<System> = (0..100)
            .map(|_| {
                let length = 12.0 + 8.0 * rng.random::<f64>();
                gas(&mut rng, 64, length)
            })
            .collect();
        let channel: Vec<usize> = (0..64).map(|j| j % 2).collect();
        let atoms = AtomChannels {
            channel: &channel,
            weight: None,
            n_channels: 2,
        };
        let searches: Vec<_> = systems
            .iter()
            .map(|s| NeighborSearch::new(s, table.reach()).unwrap())
            .collect();
        let mut n_pairs = 0;
        let mut pairs = Vec::new();
        for search in &searches {
            for i in 0..64 {
                search.pairs_of(i, &mut pairs);
                n_pairs += pairs.len();
            }
        }
        println!(
            "reach {:.2} Å, {:.1} pairs per centre",
            table.reach(),
            n_pairs as f64 / 6400.0
        );
        let time = |f: &dyn Fn(&System, &NeighborSearch<'_>) -> Array3<f64>| {
            let mut best = f64::INFINITY;
            for _ in 0..5 {
                let start = Instant::now();
                for (system, search) in systems.iter().zip(&searches) {
                    std::hint::black_box(f(system, search));
                }
                best = best.min(start.elapsed().as_secs_f64());
            }
            best * 1e9 / n_pairs as f64
        };
        crate::threads::with_threads(1, || {
            for _ in 0..2 {
                let search_only = time(&|system, search| {
                    let mut pairs = Vec::new();
                    for i in 0..system.size() {
                        search.pairs_of(i, &mut pairs);
                    }
                    Array3::zeros((1, 1, 1))
                });
                let old = time(&|system, search| {
                    reference(system, search, &atoms, &table, &harmonics)
                });
                let new = time(&|system, search| {
                    listed_pairs(system, search, &atoms, &table, &harmonics, usize::MAX).unwrap()
                });
                println!(
                    "ns per pair: search {search_only:.1}, reference {old:.1}, listed_pairs {new:.1}"
                );
            }
        })
        .unwrap();
    }
}
