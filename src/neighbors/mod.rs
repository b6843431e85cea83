//! Neighbour lists by cell lists: O(N) for any triclinic cell, cells smaller than the cutoff
//! (several images of one pair, an atom's own images), any mix of periodic directions.
//!
//! For every centre `i`, the list holds every atom `j` and integer cell shift `S` (zero along
//! non-periodic directions) with
//!
//! $$ \mathbf{d}_{ij}(S) = (\mathbf{r}_j - \mathbf{r}_i) + S \cdot M, \qquad |\mathbf{d}_{ij}(S)| < r_c, $$
//!
//! where `r` are the system's wrapped positions and `M` the cell matrix (rows = lattice vectors),
//! excluding only `j = i` with `S = 0`. The test is strict, as in `ase.neighborlist.neighbor_list`,
//! and the vector is computed in the same order of operations.
//!
//! Algorithm: atoms are sorted into bins in fractional coordinates (`bins`): periodic
//! directions are cut into slices at least `r_c` thick (the thickness is measured between the
//! bounding lattice planes, so it uses the face distances, not the lattice-vector lengths);
//! non-periodic directions are cut over the atoms' bounding interval. Each centre visits the
//! bins within reach, including as many periodic images as the face distances require. Work
//! runs in parallel over chunks of centres; each centre's pairs are sorted by `(second, shift)`,
//! so the result is bitwise identical for any number of threads.

mod bins;
mod images;
#[cfg(test)]
mod tests;

use ndarray::{Array1, Array2};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::systems::{Cell, System, Vec3};

use bins::{Extent, Grid};
use images::Lattice;

/// Upper bound on the estimated number of pairs (each [`Pair`] takes 64 bytes, so the list
/// alone would take about 6.4 GB at the limit). Larger requests are refused up front with
/// [`Error::InvalidParameter`] instead of exhausting memory.
pub const MAX_PAIRS: f64 = 1e8;

/// Centres handled by one parallel task.
const CENTERS_PER_TASK: usize = 64;

/// The cell list is replaced by the direct enumeration of every atom's images
/// ([`images`]) when it would test at least this many candidates per atom of the structure:
/// cells thinner than twice the cutoff along at least two directions (the cell list then
/// visits every atom many times, and its pairs need sorting). Measured: at 27 candidates per
/// atom (one bin per direction) the direct enumeration is 2.5× faster; at 3.4 (two bins per
/// direction, SOAP on the benchmark gases) the cell list is faster.
const DIRECT_ABOVE: f64 = 8.0;

/// One directed pair: atom `second` (translated by `shift` cells) seen from atom `first`.
/// `vector = r_second + shift · M − r_first`, `distance = |vector|`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pair {
    pub first: usize,
    pub second: usize,
    pub shift: [i32; 3],
    pub vector: Vec3,
    pub distance: f64,
}

/// A full neighbour list (both `i→j` and `j→i`; no `i→i` with zero shift), in CSR form:
/// the pairs of centre `i` are `pairs[offsets[i]..offsets[i + 1]]`, sorted by
/// `(second, shift)` inside each centre, so the order never depends on threads.
#[derive(Debug, Clone, Default)]
pub struct NeighborList {
    pub pairs: Vec<Pair>,
    pub offsets: Vec<usize>,
}

impl NeighborList {
    /// The pairs whose `first` atom is `center`.
    pub fn pairs_of(&self, center: usize) -> &[Pair] {
        &self.pairs[self.offsets[center]..self.offsets[center + 1]]
    }

    /// The list as flat arrays, in the order of `pairs` (see [`PairArrays`]).
    pub fn to_arrays(&self) -> PairArrays {
        let n = self.pairs.len();
        let mut first = Vec::with_capacity(n);
        let mut second = Vec::with_capacity(n);
        let mut shifts = Vec::with_capacity(3 * n);
        let mut distances = Vec::with_capacity(n);
        let mut vectors = Vec::with_capacity(3 * n);
        for pair in &self.pairs {
            first.push(pair.first as i64);
            second.push(pair.second as i64);
            shifts.extend_from_slice(&pair.shift);
            distances.push(pair.distance);
            vectors.extend_from_slice(&pair.vector);
        }
        PairArrays {
            first: Array1::from_vec(first),
            second: Array1::from_vec(second),
            shifts: Array2::from_shape_vec((n, 3), shifts).expect("3 shifts per pair"),
            distances: Array1::from_vec(distances),
            vectors: Array2::from_shape_vec((n, 3), vectors).expect("3 components per pair"),
        }
    }
}

/// A neighbour list as columns, `n_pairs` rows each (the layout of ASE's `"ijSdD"`).
#[derive(Debug, Clone)]
pub struct PairArrays {
    /// Centre atom `i`, `(n_pairs,)`.
    pub first: Array1<i64>,
    /// Neighbour atom `j`, `(n_pairs,)`.
    pub second: Array1<i64>,
    /// Integer cell shift `S`, `(n_pairs, 3)`.
    pub shifts: Array2<i32>,
    /// `|d_ij|` in Å, `(n_pairs,)`.
    pub distances: Array1<f64>,
    /// `d_ij = r_j + S · M − r_i` in Å, `(n_pairs, 3)`.
    pub vectors: Array2<f64>,
}

/// All pairs with `distance < cutoff` (strict, ASE's convention), as a full, sorted list.
///
/// Runs in the current rayon pool (wrap the call in [`crate::threads::with_threads`] to choose
/// the number of threads); the result does not depend on it.
///
/// Errors ([`Error::InvalidParameter`]): `cutoff` not finite or `≤ 0`; an estimated number of
/// pairs `N · ρ · 4/3 π r_c³` (counting periodic images) above [`MAX_PAIRS`].
/// [`Error::Interrupted`] when cancelled ([`crate::threads::check_cancelled`], per chunk of
/// centres).
pub fn neighbor_list(system: &System, cutoff: f64) -> Result<NeighborList> {
    let searcher = NeighborSearch::new(system, cutoff)?;

    let n_atoms = system.size();
    let n_tasks = n_atoms.div_ceil(CENTERS_PER_TASK);
    let chunks: Vec<(Vec<Pair>, Vec<usize>)> = (0..n_tasks)
        .into_par_iter()
        .map(|task| {
            crate::threads::check_cancelled()?;
            let search = searcher.search(usize::MAX);
            let begin = task * CENTERS_PER_TASK;
            let end = (begin + CENTERS_PER_TASK).min(n_atoms);
            let mut pairs = Vec::new();
            let mut counts = Vec::with_capacity(end - begin);
            for center in begin..end {
                let start = pairs.len();
                search.sorted_pairs_of(center, &mut pairs);
                counts.push(pairs.len() - start);
            }
            Ok((pairs, counts))
        })
        .collect::<Result<_>>()?;

    let total = chunks.iter().map(|(pairs, _)| pairs.len()).sum();
    let mut pairs = Vec::with_capacity(total);
    let mut offsets = Vec::with_capacity(n_atoms + 1);
    offsets.push(0);
    for (chunk, counts) in chunks {
        for count in counts {
            offsets.push(offsets.last().expect("starts at 0") + count);
        }
        pairs.extend(chunk);
    }
    Ok(NeighborList { pairs, offsets })
}

/// A prepared neighbour search: the cell-list grid of one structure, from which the sorted
/// pairs of any centre are produced on demand. Use it instead of [`neighbor_list`] when the
/// pairs are consumed centre by centre: memory stays `O(N + pairs of one centre)` per thread
/// instead of `O(all pairs)`.
pub struct NeighborSearch<'a> {
    system: &'a System,
    grid: Grid,
    cutoff: f64,
    lattice: Lattice,
    /// Round-off margin (Å) added to the cutoff for the image ranges of the direct enumeration.
    margin: f64,
    /// Enumerate every atom's images directly instead of visiting the cell list.
    direct: bool,
    /// Estimated number of pairs of the structure ([`check_pair_budget`]).
    estimated_pairs: f64,
}

impl<'a> NeighborSearch<'a> {
    /// Bin the atoms for `cutoff` (same errors as [`neighbor_list`]).
    pub fn new(system: &'a System, cutoff: f64) -> Result<NeighborSearch<'a>> {
        if !(cutoff.is_finite() && cutoff > 0.0) {
            return Err(Error::InvalidParameter(format!(
                "the neighbour-list cutoff must be a finite positive number of Å, got {cutoff}"
            )));
        }
        let extent = Extent::new(system, cutoff);
        let estimated_pairs = check_pair_budget(system, &extent, cutoff)?;
        let grid = Grid::new(&extent, cutoff);
        // average number of candidates the cell list tests per atom of the structure
        let visited: f64 = (0..3)
            .map(|k| {
                let n = grid.n_bins[k];
                let span = 2 * grid.search[k] + 1;
                let span = if extent.periodic[k] {
                    span
                } else {
                    span.min(n)
                };
                span as f64 / n as f64
            })
            .product();
        Ok(NeighborSearch {
            system,
            grid,
            cutoff,
            lattice: Lattice::new(system.cell()),
            margin: 1e-9 * cutoff + 4.0 * extent.margin,
            direct: visited >= DIRECT_ABOVE,
            estimated_pairs,
        })
    }

    /// The search state of one call; at most `max_pairs` pairs are kept (see [`Search::full`]).
    fn search(&self, max_pairs: usize) -> Search<'_> {
        Search {
            cell: self.system.cell(),
            positions: self.system.positions(),
            grid: &self.grid,
            lattice: &self.lattice,
            direct: self.direct,
            reach: self.cutoff + self.margin,
            cutoff: self.cutoff,
            // d² above this bound cannot pass the exact test `sqrt(d²) < cutoff`
            loose_cutoff2: self.cutoff * self.cutoff * (1.0 + 1e-12),
            max_pairs,
            full: std::cell::Cell::new(false),
        }
    }

    /// The pairs of `center`, sorted by `(second, shift)` exactly as in [`neighbor_list`],
    /// written into `out` (cleared first).
    pub fn pairs_of(&self, center: usize, out: &mut Vec<Pair>) {
        out.clear();
        self.search(usize::MAX).sorted_pairs_of(center, out);
    }

    /// [`pairs_of`](Self::pairs_of) with a bound on memory: `out` never holds (nor reserves
    /// room for) more than `max_pairs` pairs, and its growth goes through `try_reserve`.
    /// Errors (`InvalidParameter`, naming the centre) when the centre has more pairs, or when
    /// the allocation fails; `out` is then left with an incomplete list.
    pub fn pairs_of_bounded(
        &self,
        center: usize,
        out: &mut Vec<Pair>,
        max_pairs: usize,
    ) -> Result<()> {
        out.clear();
        let search = self.search(max_pairs);
        search.sorted_pairs_of(center, out);
        if search.full.get() {
            return Err(Error::InvalidParameter(format!(
                "atom {center} has more than {} neighbours within the cutoff {} Å (or their \
                 pair list could not be allocated): use a smaller cutoff, or raise the memory \
                 budget (max_memory)",
                out.len(),
                self.cutoff
            )));
        }
        Ok(())
    }

    /// The cutoff (Å) of the search.
    pub fn cutoff(&self) -> f64 {
        self.cutoff
    }

    /// The estimated number of pairs of the whole structure (counting periodic images), as
    /// used for the [`MAX_PAIRS`] guard; divide by the number of atoms for the mean per centre.
    pub fn estimated_pairs(&self) -> f64 {
        self.estimated_pairs
    }

    /// Number of atoms of the structure searched.
    pub fn system_size(&self) -> usize {
        self.system.size()
    }
}

/// Refuse cutoffs that would produce more than [`MAX_PAIRS`] pairs; returns the estimate.
///
/// Estimate: `N² · (π/6) · Π_k g_k` with `g_k = 2 r_c / h_k` along periodic directions (the
/// number of cell slices, hence images, a sphere spans) and `min(1, 2 r_c / L_k)` along
/// non-periodic ones (`L_k` the thickness of the atoms' region); for a fully periodic system
/// this is exactly `N · ρ · 4/3 π r_c³`.
fn check_pair_budget(system: &System, extent: &Extent, cutoff: f64) -> Result<f64> {
    let n = system.size() as f64;
    let mut estimate = n * n * std::f64::consts::PI / 6.0;
    for k in 0..3 {
        let span = 2.0 * cutoff / extent.thickness[k];
        estimate *= if extent.periodic[k] {
            span
        } else if extent.thickness[k] > 0.0 {
            span.min(1.0)
        } else {
            1.0
        };
    }
    // a NaN estimate (from overflowing factors) is refused too
    if estimate.is_nan() || estimate > MAX_PAIRS {
        let h = system.cell().face_distances();
        let thinnest = (0..3)
            .filter(|&k| extent.periodic[k])
            .map(|k| h[k])
            .fold(f64::INFINITY, f64::min);
        return Err(Error::InvalidParameter(format!(
            "cutoff {cutoff} Å would give about {estimate:.1e} neighbour pairs for {} atoms in a cell \
             with face distances [{:.3}, {:.3}, {:.3}] Å (periodic: {:?}; thinnest periodic \
             direction {thinnest:.3} Å), more than the limit of {MAX_PAIRS:.0e} pairs (~{:.1} GB); \
             use a smaller cutoff, or fewer/larger periodic images (e.g. a non-periodic or \
             larger cell)",
            system.size(),
            h[0],
            h[1],
            h[2],
            extent.periodic,
            MAX_PAIRS * std::mem::size_of::<Pair>() as f64 / 1e9,
        )));
    }
    Ok(estimate)
}

/// Everything a centre needs to find its neighbours.
struct Search<'a> {
    cell: &'a Cell,
    positions: &'a [Vec3],
    grid: &'a Grid,
    lattice: &'a Lattice,
    direct: bool,
    /// Cutoff plus round-off margin, for the image ranges of the direct enumeration.
    reach: f64,
    cutoff: f64,
    loose_cutoff2: f64,
    /// Most pairs one call may return; beyond, [`full`](Self::full) is set and pairs dropped.
    max_pairs: usize,
    /// A pair was dropped: over `max_pairs`, or the list could not grow.
    full: std::cell::Cell<bool>,
}

impl Search<'_> {
    /// Room for one more pair in `out`: grows by doubling up to `max_pairs`, through
    /// `try_reserve_exact` (an allocation failure is reported, never an abort).
    #[cold]
    fn grow(&self, out: &mut Vec<Pair>) -> bool {
        let target = out.capacity().saturating_mul(2).max(64).min(self.max_pairs);
        if target <= out.len() || out.try_reserve_exact(target - out.len()).is_err() {
            self.full.set(true);
            return false;
        }
        true
    }

    /// The bin `offset` slices away from bin `bin` along direction `k`, and the cell shift
    /// crossed to reach it; `None` past the edge of a non-periodic direction.
    fn step(&self, k: usize, bin: usize, offset: i64) -> Option<(usize, i32)> {
        let n = self.grid.n_bins[k] as i64;
        let target = bin as i64 + offset;
        if self.cell.pbc()[k] {
            Some((target.rem_euclid(n) as usize, target.div_euclid(n) as i32))
        } else if (0..n).contains(&target) {
            Some((target as usize, 0))
        } else {
            None
        }
    }

    /// Append all pairs of `center` to `out`, sorted by `(second, shift)`.
    fn sorted_pairs_of(&self, center: usize, out: &mut Vec<Pair>) {
        if self.direct {
            self.direct_pairs_of(center, out);
        } else {
            let start = out.len();
            self.binned_pairs_of(center, out);
            out[start..].sort_unstable_by_key(|p| (p.second, p.shift));
        }
    }

    /// Append the pair `center → j` with `shift` to `out` if it is within the cutoff.
    #[inline(always)]
    fn test(&self, center: usize, r_i: Vec3, j: usize, shift: [i32; 3], out: &mut Vec<Pair>) {
        let vector = pair_vector(self.cell, r_i, self.positions[j], shift);
        let d2 = vector[0] * vector[0] + vector[1] * vector[1] + vector[2] * vector[2];
        if d2 > self.loose_cutoff2 {
            return;
        }
        let distance = d2.sqrt();
        if distance < self.cutoff {
            if out.len() == out.capacity() && !self.grow(out) {
                return;
            }
            out.push(Pair {
                first: center,
                second: j,
                shift,
                vector,
                distance,
            });
        }
    }

    /// Every atom's images around `center` ([`images`]), already in `(second, shift)` order.
    fn direct_pairs_of(&self, center: usize, out: &mut Vec<Pair>) {
        let r_i = self.positions[center];
        for (j, &r_j) in self.positions.iter().enumerate() {
            let d0 = [r_j[0] - r_i[0], r_j[1] - r_i[1], r_j[2] - r_i[2]];
            self.lattice.images(d0, self.reach, |shift| {
                if j != center || shift != [0, 0, 0] {
                    self.test(center, r_i, j, shift, out);
                }
            });
        }
    }

    /// Append all pairs of `center` (unsorted) to `out`, from the cell list.
    fn binned_pairs_of(&self, center: usize, out: &mut Vec<Pair>) {
        let grid = self.grid;
        let bin = grid.atom_bin[center];
        let image = grid.atom_image[center];
        let r_i = self.positions[center];
        let s = grid.search.map(|s| s as i64);
        for oz in -s[2]..=s[2] {
            let Some((bz, qz)) = self.step(2, bin[2], oz) else {
                continue;
            };
            for oy in -s[1]..=s[1] {
                let Some((by, qy)) = self.step(1, bin[1], oy) else {
                    continue;
                };
                for ox in -s[0]..=s[0] {
                    let Some((bx, qx)) = self.step(0, bin[0], ox) else {
                        continue;
                    };
                    let crossed = [qx + image[0], qy + image[1], qz + image[2]];
                    for &j in grid.atoms_in(grid.linear([bx, by, bz])) {
                        let m_j = grid.atom_image[j];
                        let shift = [
                            crossed[0] - m_j[0],
                            crossed[1] - m_j[1],
                            crossed[2] - m_j[2],
                        ];
                        if j == center && shift == [0, 0, 0] {
                            continue;
                        }
                        self.test(center, r_i, j, shift, out);
                    }
                }
            }
        }
    }
}

/// `(r_j − r_i) + shift · M`, in ASE's order of operations.
fn pair_vector(cell: &Cell, r_i: Vec3, r_j: Vec3, shift: [i32; 3]) -> Vec3 {
    let t = cell.shift_vector(shift);
    [
        (r_j[0] - r_i[0]) + t[0],
        (r_j[1] - r_i[1]) + t[1],
        (r_j[2] - r_i[2]) + t[2],
    ]
}
