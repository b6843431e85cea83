//! SOAP: the smeared neighbour density around each atom expanded on `R̃_n Y_lm`.
//!
//! `c^a_nlm(i) = w_c δ_{a,a_i} f_n0(0) Y_00 + Σ_{j∈a, 0<r_ij<r_c} f_c(r_ij) f_nl(r_ij) Y_lm(r̂_ij)`
//! with `f_nl` the Gaussian × GTO radial integral ([`SoapRadialIntegral`], splined), `w_c` the
//! centre weight and `f_c` a shifted-cosine cutoff of width `w` on `[r_c − w, r_c]`.

use ndarray::{Array2, ArrayViewMut3, Axis};
use rayon::prelude::*;

use super::pairs::PairSum;
use super::{centers_of, check_basis, overlap_error, parallel_zeros, Expansion, SpeciesMap};
use crate::error::Result;
use crate::math::spherical_harmonics::{SphericalHarmonics, Y00};
use crate::neighbors::{NeighborSearch, Pair};
use crate::radial::{GtoBasis, RadialIntegral, SoapRadialIntegral, SplinedRadialIntegral};
use crate::systems::System;
use crate::systems::OVERLAP_DISTANCE;
use crate::threads::with_threads;

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
            crate::bail_param!(
                "cutoff_width must be between 0 and the cutoff ({} Å), got {w}",
                hypers.cutoff
            );
        }
        if !hypers.center_weight.is_finite() {
            crate::bail_param!("center_weight must be finite, got {}", hypers.center_weight);
        }
        if !(hypers.radial_accuracy.is_finite() && hypers.radial_accuracy > 0.0) {
            crate::bail_param!(
                "radial_accuracy must be positive, got {}",
                hypers.radial_accuracy
            );
        }
        let basis = GtoBasis::new(hypers.n_max, hypers.cutoff)?;
        let exact = SoapRadialIntegral::new(&basis, hypers.l_max, hypers.smearing)?;
        let radial = SplinedRadialIntegral::new(&exact, hypers.cutoff, hypers.radial_accuracy)?;
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
    pub fn compute(
        &self,
        systems: &[System],
        species: &SpeciesMap,
        n_threads: usize,
    ) -> Result<Expansion> {
        with_threads(n_threads, || self.compute_in_pool(systems, species))?
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
            .map(|system| NeighborSearch::new(system, self.hypers.cutoff))
            .collect::<Result<Vec<_>>>()?;
        Ok((channels, searches))
    }

    fn compute_in_pool(&self, systems: &[System], species: &SpeciesMap) -> Result<Expansion> {
        let (channels, searches) = self.prepare(systems, species)?;

        let sizes: Vec<usize> = systems.iter().map(System::size).collect();
        let (structure, center) = centers_of(&sizes);
        let (n_max, l_max) = (self.hypers.n_max, self.hypers.l_max);
        let n_lm = (l_max + 1) * (l_max + 1);
        let mut values = parallel_zeros((structure.len(), species.len(), n_max, n_lm));
        values
            .axis_iter_mut(Axis(0))
            .into_par_iter()
            .enumerate()
            .try_for_each_init(
                || Scratch::new(n_max, l_max),
                |scratch, (row, block)| {
                    let (s, i) = (structure[row] as usize, center[row] as usize);
                    searches[s].pairs_of(i, &mut scratch.pairs);
                    if let Some(pair) = scratch.pairs.iter().find(|p| p.distance < OVERLAP_DISTANCE)
                    {
                        return Err(overlap_error(pair, s));
                    }
                    self.expand_center(&channels[s], i, block, scratch);
                    Ok(())
                },
            )?;
        Ok(Expansion::new(systems, values, structure, center))
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
        scratch.sum.clear();
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
