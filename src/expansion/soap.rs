//! SOAP: the smeared neighbour density around each atom expanded on `R̃_n Y_lm`.
//!
//! `c^a_nlm(i) = w_c δ_{a,a_i} f_n0(0) Y_00 + Σ_{j∈a, 0<r_ij<r_c} f_c(r_ij) f_nl(r_ij) Y_lm(r̂_ij)`
//! with `f_nl` the Gaussian × GTO radial integral ([`SoapRadialIntegral`], splined), `w_c` the
//! centre weight and `f_c` a shifted-cosine cutoff of width `w` on `[r_c − w, r_c]`.

use ndarray::{Array2, ArrayViewMut3, Axis};
use rayon::prelude::*;

use super::pairs::PairSum;
use super::{
    centers_of, check_basis, check_center_weight, coefficient_bytes, overlap_error, parallel_zeros,
    Expansion, SpeciesMap, DEFAULT_MAX_MEMORY,
};
use crate::error::{Error, Result};
use crate::math::spherical_harmonics::{SphericalHarmonics, Y00};
use crate::neighbors::{NeighborSearch, Pair};
use crate::radial::{GtoBasis, RadialIntegral, SoapRadialIntegral, SplinedRadialIntegral};
use crate::systems::System;
use crate::systems::OVERLAP_DISTANCE;
use crate::threads::{check_cancelled, resolve, with_threads};

mod gradients;

crate::hypers! {
    /// Hyper-parameters of a SOAP expansion. The single source of each option's name, type and
    /// default: the Python calculators take and return exactly these fields.
    pub struct SoapHypers {
        /// Neighbour cutoff and GTO basis radius r_c (Å).
        pub cutoff: f64 = 5.0,
        /// Gaussian width σ of the atomic densities (Å).
        pub smearing: f64 = 0.3,
        /// Number of radial functions.
        pub n_max: usize = 6,
        /// Largest angular momentum (inclusive, ≤ 20).
        pub l_max: usize = 4,
        /// Width w of the shifted-cosine cutoff function (Å), `0 ≤ w ≤ r_c`.
        pub cutoff_width: f64 = 0.5,
        /// Weight of the centre atom's own density.
        pub center_weight: f64 = 1.0,
        /// Absolute accuracy of the splined radial integral.
        pub radial_accuracy: f64 = 1e-10,
        /// Memory budget (bytes) of one `compute`: the coefficient array plus one centre's
        /// pair list per thread (see [`SoapCalculator::compute`]); checked before allocating.
        pub max_memory: f64 = DEFAULT_MAX_MEMORY,
    }
    required: cutoff, smearing, n_max, l_max
}

/// A SOAP calculator: hyper-parameters validated and the radial integral splined once.
pub struct SoapCalculator {
    hypers: SoapHypers,
    radial: SplinedRadialIntegral,
    harmonics: SphericalHarmonics,
    /// `f_n0(0) Y_00`, the centre atom's own contribution to `c_n00` (before `center_weight`).
    self_term: Vec<f64>,
}

impl SoapCalculator {
    /// Validate hyper-parameters and tabulate the radial integral.
    pub fn new(hypers: SoapHypers) -> Result<SoapCalculator> {
        check_basis(hypers.cutoff, hypers.smearing, hypers.n_max, hypers.l_max)?;
        let w = hypers.cutoff_width;
        if !(w.is_finite() && (0.0..=hypers.cutoff).contains(&w)) {
            let default = SoapHypers::default().cutoff_width;
            crate::bail_param!(
                "cutoff_width must be between 0 and the cutoff ({} Å), got {w}{}",
                hypers.cutoff,
                if w == default && hypers.cutoff < default {
                    format!(
                        " (the default): with a cutoff below {default} Å, give a cutoff_width \
                         of at most {} Å",
                        hypers.cutoff
                    )
                } else {
                    String::new()
                }
            );
        }
        check_center_weight(hypers.center_weight)?;
        if !(hypers.max_memory.is_finite() && hypers.max_memory > 0.0) {
            crate::bail_param!(
                "max_memory must be a positive number of bytes, got {}",
                hypers.max_memory
            );
        }
        if !(hypers.radial_accuracy.is_finite() && hypers.radial_accuracy > 0.0) {
            crate::bail_param!(
                "radial_accuracy must be positive, got {}",
                hypers.radial_accuracy
            );
        }
        let basis = GtoBasis::new(hypers.n_max, hypers.cutoff)?;
        let exact = SoapRadialIntegral::new(&basis, hypers.l_max, hypers.smearing)?;
        let radial = SplinedRadialIntegral::new(&exact, hypers.cutoff, hypers.radial_accuracy)
            .map_err(|e| match e {
                Error::InvalidParameter(m) => {
                    Error::InvalidParameter(format!(
                    "the SOAP radial table for smearing {} Å, cutoff {} Å, n_max {}, l_max {}: \
                     {m}; use a larger radial_accuracy (it is {:e}) or a larger smearing",
                    hypers.smearing, hypers.cutoff, hypers.n_max, hypers.l_max,
                    hypers.radial_accuracy
                ))
                }
                other => other,
            })?;
        let harmonics = SphericalHarmonics::new(hypers.l_max)?;
        let mut at_zero = Array2::zeros((hypers.n_max, hypers.l_max + 1));
        exact.compute(0.0, at_zero.view_mut(), None);
        let self_term = (0..hypers.n_max).map(|n| at_zero[[n, 0]] * Y00).collect();
        Ok(SoapCalculator {
            hypers,
            radial,
            harmonics,
            self_term,
        })
    }

    /// The validated hyper-parameters.
    pub fn hypers(&self) -> &SoapHypers {
        &self.hypers
    }

    /// Shifted-cosine cutoff function.
    fn cutoff_function(&self, r: f64) -> f64 {
        let (rc, w) = (self.hypers.cutoff, self.hypers.cutoff_width);
        if r >= rc {
            0.0
        } else if r <= rc - w {
            1.0
        } else {
            0.5 * (1.0 + (std::f64::consts::PI * (r - rc + w) / w).cos())
        }
    }

    /// The cutoff function and its derivative `d f_c/dr = −(π/2w) sin(π(r − r_c + w)/w)` on
    /// the switching interval (zero elsewhere; with `w = 0` the cutoff is a step and its
    /// derivative is taken as zero).
    fn cutoff_with_derivative(&self, r: f64) -> (f64, f64) {
        let (rc, w) = (self.hypers.cutoff, self.hypers.cutoff_width);
        let value = self.cutoff_function(r);
        if r >= rc || r <= rc - w {
            return (value, 0.0);
        }
        let pi = std::f64::consts::PI;
        (value, -0.5 * pi / w * (pi * (r - rc + w) / w).sin())
    }

    /// Expansion coefficients for every atom of every structure, on `n_threads` threads
    /// (0: all cores). Parallel over structures for neighbour lists, then over all centres.
    ///
    /// Memory: the coefficients take `8 n_centres n_species n_max (l_max+1)²` bytes, and each
    /// thread holds the pair list of one centre (112 bytes per pair). Before allocating, the
    /// coefficients plus `n_threads ×` the mean pairs per centre (estimated from the
    /// density) must fit in `max_memory`; while running, one centre's list may use at most the
    /// rest of the budget divided by the threads (it grows through `try_reserve`, never past
    /// that cap). Errors: `InvalidParameter` when the budget would be exceeded;
    /// `Interrupted` when cancelled ([`crate::threads`]).
    pub fn compute(
        &self,
        systems: &[System],
        species: &SpeciesMap,
        n_threads: usize,
    ) -> Result<Expansion> {
        let threads = resolve(n_threads)?;
        with_threads(n_threads, || {
            self.compute_in_pool(systems, species, threads)
        })?
    }

    /// The channel of every atom and the neighbour search of every structure.
    #[allow(clippy::type_complexity)]
    fn prepare<'a>(
        &self,
        systems: &'a [System],
        species: &SpeciesMap,
    ) -> Result<(Vec<Vec<usize>>, Vec<NeighborSearch<'a>>)> {
        let channels = systems
            .iter()
            .enumerate()
            .map(|(s, system)| species.channels(system, s))
            .collect::<Result<Vec<_>>>()?;
        let searches = systems
            .par_iter()
            .map(|system| {
                check_cancelled()?;
                NeighborSearch::new(system, self.hypers.cutoff)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((channels, searches))
    }

    fn compute_in_pool(
        &self,
        systems: &[System],
        species: &SpeciesMap,
        n_threads: usize,
    ) -> Result<Expansion> {
        let (channels, searches) = self.prepare(systems, species)?;

        let sizes: Vec<usize> = systems.iter().map(System::size).collect();
        let (structure, center) = centers_of(&sizes);
        let (n_max, l_max) = (self.hypers.n_max, self.hypers.l_max);
        let n_lm = (l_max + 1) * (l_max + 1);
        let shape = (structure.len(), species.len(), n_max, n_lm);
        let max_pairs = self.pair_budget(&searches, shape, n_threads)?;
        let mut values = parallel_zeros(shape)?;
        values
            .axis_iter_mut(Axis(0))
            .into_par_iter()
            .enumerate()
            .try_for_each_init(
                || Scratch::new(n_max, l_max),
                |scratch, (row, block)| {
                    check_cancelled()?;
                    let (s, i) = (structure[row] as usize, center[row] as usize);
                    searches[s]
                        .pairs_of_bounded(i, &mut scratch.pairs, max_pairs)
                        .map_err(|e| self.over_budget(e, s, n_threads))?;
                    if let Some(pair) = scratch.pairs.iter().find(|p| p.distance < OVERLAP_DISTANCE)
                    {
                        return Err(overlap_error(pair, s));
                    }
                    scratch.sum.clear();
                    scratch
                        .sum
                        .try_reserve(scratch.pairs.len())
                        .map_err(|e| self.over_budget(e, s, n_threads))?;
                    self.expand_center(&channels[s], i, block, scratch);
                    Ok(())
                },
            )?;
        Ok(Expansion::new(systems, values, structure, center))
    }

    /// Check the memory estimate of a `compute` against `max_memory` (before any large
    /// allocation) and return the cap on the pairs of one centre.
    fn pair_budget(
        &self,
        searches: &[NeighborSearch],
        shape: (usize, usize, usize, usize),
        n_threads: usize,
    ) -> Result<usize> {
        let budget = self.hypers.max_memory;
        let output = coefficient_bytes(shape);
        let mean_pairs = searches
            .iter()
            .map(|s| s.estimated_pairs() / s.system_size() as f64)
            .fold(0.0, f64::max);
        let per_thread = (budget - output) / n_threads as f64;
        let estimate = output + n_threads as f64 * mean_pairs * BYTES_PER_PAIR as f64;
        if estimate.is_nan() || estimate > budget {
            return Err(Error::InvalidParameter(format!(
                "SOAP would need about {:.2} GiB ({:.2} GiB of coefficients for {} centres, \
                 {n_threads} threads × {mean_pairs:.0} pairs per centre), above max_memory = \
                 {:.2} GiB: compute fewer structures at a time, use a smaller cutoff or fewer \
                 threads, or raise max_memory",
                estimate / 2f64.powi(30),
                output / 2f64.powi(30),
                shape.0,
                budget / 2f64.powi(30)
            )));
        }
        Ok((per_thread / BYTES_PER_PAIR as f64).min(usize::MAX as f64) as usize)
    }

    /// A neighbour-list or pair-buffer error of structure `s`, with the budget named.
    fn over_budget(&self, error: Error, s: usize, n_threads: usize) -> Error {
        match error {
            Error::InvalidParameter(m) => Error::InvalidParameter(format!(
                "structure {s}: {m} (SOAP max_memory = {:.2} GiB shared by the coefficients and \
                 {n_threads} threads' pair lists)",
                self.hypers.max_memory / 2f64.powi(30)
            )),
            other => other,
        }
    }

    /// Coefficients of one centre into `out` `(n_species, n_max, (l_max+1)²)`.
    fn expand_center(
        &self,
        channels: &[usize],
        center: usize,
        mut out: ArrayViewMut3<f64>,
        scratch: &mut Scratch,
    ) {
        let own = channels[center];
        for (n, &c0) in self.self_term.iter().enumerate() {
            out[[own, n, 0]] += self.hypers.center_weight * c0;
        }
        for pair in &scratch.pairs {
            let fc = self.cutoff_function(pair.distance);
            if fc != 0.0 {
                scratch
                    .sum
                    .push(pair.distance, pair.vector, channels[pair.second], fc);
            }
        }
        let out = out.as_slice_mut().expect("contiguous centre block");
        scratch.sum.add_to(&self.radial, &self.harmonics, out);
    }
}

/// Bytes per pair held while one centre is expanded: the neighbour-list entry and its
/// [`PairSum`] columns.
pub const BYTES_PER_PAIR: usize = std::mem::size_of::<Pair>() + PairSum::BYTES_PER_PAIR;

/// Per-task buffers, allocated once per rayon task, never per pair.
struct Scratch {
    sum: PairSum,
    pairs: Vec<Pair>,
}

impl Scratch {
    fn new(n_max: usize, l_max: usize) -> Scratch {
        Scratch {
            sum: PairSum::new(n_max, l_max),
            pairs: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dense cluster of `n_cluster` atoms (about 3 Å across) and `n_line` atoms spread over a
    /// 2 000 Å line: the mean pairs per centre estimated from the density is small, while the
    /// cluster's atoms each have `n_cluster - 1` neighbours.
    fn cluster_and_line(n_cluster: usize, n_line: usize) -> System {
        let mut positions = Vec::new();
        for i in 0..n_cluster {
            let t = i as f64;
            positions.push([
                1.5 * (0.7 * t).sin(),
                1.5 * (1.3 * t).cos(),
                3.0 * t / n_cluster as f64,
            ]);
        }
        for i in 0..n_line {
            positions.push([10.0 + 2000.0 * i as f64 / n_line as f64, 0.0, 0.0]);
        }
        let n = positions.len();
        System::new(positions, vec![1; n], [[0.0; 3]; 3], [false; 3]).unwrap()
    }

    fn soap(max_memory: f64) -> SoapCalculator {
        SoapCalculator::new(SoapHypers {
            cutoff: 4.0,
            n_max: 2,
            l_max: 1,
            max_memory,
            ..SoapHypers::default()
        })
        .unwrap()
    }

    /// The budget is checked before allocating (coefficients), caps one centre's pair list
    /// while running, and leaves results bitwise unchanged when it is large enough.
    #[test]
    fn memory_budget() {
        let systems = [cluster_and_line(60, 100)];
        let species = SpeciesMap::new(&[1]).unwrap();
        let threads = 2;
        let output = coefficient_bytes((160, 1, 2, 4));
        let reference = soap(DEFAULT_MAX_MEMORY)
            .compute(&systems, &species, threads)
            .unwrap();

        // below the coefficients alone: refused up front, naming max_memory
        match soap(0.5 * output).compute(&systems, &species, threads) {
            Err(Error::InvalidParameter(m)) => assert!(m.contains("max_memory"), "{m}"),
            other => panic!("{other:?}"),
        }

        // room for 20 pairs per thread: passes the estimate, stops at a cluster atom
        let estimate = NeighborSearch::new(&systems[0], 4.0)
            .unwrap()
            .estimated_pairs()
            / 160.0;
        assert!(estimate < 20.0, "{estimate}");
        let budget = |pairs: f64| output + threads as f64 * pairs * BYTES_PER_PAIR as f64;
        match soap(budget(20.0)).compute(&systems, &species, threads) {
            Err(Error::InvalidParameter(m)) => {
                assert!(m.contains("more than 20 neighbours"), "{m}");
                assert!(m.contains("structure 0"), "{m}");
            }
            other => panic!("{other:?}"),
        }

        // room for every centre's 59 pairs: the same coefficients, bitwise
        let bounded = soap(budget(59.0))
            .compute(&systems, &species, threads)
            .unwrap();
        assert!(bounded
            .values
            .iter()
            .zip(&reference.values)
            .all(|(a, b)| a.to_bits() == b.to_bits()));
        assert!(soap(budget(58.0))
            .compute(&systems, &species, threads)
            .is_err());
    }

    /// An unreachable spline accuracy names the hyper-parameters the user set.
    #[test]
    fn spline_failure_names_the_hypers() {
        let hypers = SoapHypers {
            radial_accuracy: 1e-30,
            ..SoapHypers::default()
        };
        match SoapCalculator::new(hypers) {
            Err(Error::InvalidParameter(m)) => {
                assert!(
                    m.contains("radial_accuracy") && m.contains("smearing 0.3"),
                    "{m}"
                )
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
    }

    #[test]
    fn center_weight_and_max_memory_are_validated() {
        assert_eq!(BYTES_PER_PAIR, 112, "the documented bytes per pair");
        for w in [f64::NAN, f64::INFINITY, 1e308, -2e6] {
            let hypers = SoapHypers {
                center_weight: w,
                ..SoapHypers::default()
            };
            assert!(matches!(
                SoapCalculator::new(hypers),
                Err(Error::InvalidParameter(_))
            ));
        }
        for m in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let hypers = SoapHypers {
                max_memory: m,
                ..SoapHypers::default()
            };
            assert!(SoapCalculator::new(hypers).is_err());
        }
    }
}
