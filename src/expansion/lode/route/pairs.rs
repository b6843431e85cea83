//! The periodic pair route for `p = 0` (`docs/math.md` §2, §3a, §8.6): the Gaussian density is short
//! ranged, so the real-space sum over periodic images within the pair table's reach is exact
//! (to the table's accuracy) and cheap; the centre's own density at full weight. The table is
//! the finite route's ([`super::finite::FiniteTables`]).
//!
//! Gradients: positions and strain of the pair sum over images
//! ([`super::super::real_space::listed_pair_jacobian_row`], `listed_pair_backward`); the
//! centre's own density does not move, and nothing here depends on the volume.

use std::sync::Arc;

use ndarray::{Array3, ArrayView3};

use super::super::calculator::Common;
use super::super::constant_terms::add_self;
use super::super::real_space::{
    listed_pair_backward, listed_pair_jacobian_row, listed_pairs, AtomChannels, PairMemory,
};
use super::ewald::pair_cost;
use super::LodeRoute;
use crate::error::Result;
use crate::neighbors::NeighborSearch;
use crate::radial::LodeRadialTable;
use crate::systems::{Mat3, System, Vec3};

/// Estimated cost: the pairs within the reach of a Gaussian of width σ ([`pair_cost`]).
pub(in crate::expansion::lode) fn cost(common: &Common, n: f64, density: f64) -> f64 {
    pair_cost(common, n, density, common.hypers.smearing)
}

/// The memory of a streamed pair loop within `reach` over `system`, and the bytes held beside
/// it (the coefficient arrays, [`super::reciprocal::memory`] without k-vectors).
pub(in crate::expansion::lode) fn pair_memory(
    common: &Common,
    system: &System,
    reach: f64,
    n_channels: usize,
) -> (PairMemory, f64) {
    let fixed = super::reciprocal::memory(common, system, 0.0, n_channels).0;
    (PairMemory::of(system, reach), fixed)
}

/// The most pairs one centre of a pair loop within `reach` may hold under `max_memory`.
pub(in crate::expansion::lode) fn max_pairs(
    common: &Common,
    system: &System,
    reach: f64,
    n_channels: usize,
) -> usize {
    let (pairs, fixed) = pair_memory(common, system, reach, n_channels);
    pairs.max_pairs(fixed, common.hypers.max_memory)
}

/// Refuse a pair loop within `reach` whose buffers and coefficient arrays exceed `max_memory`.
pub(in crate::expansion::lode) fn check_pair_memory(
    common: &Common,
    system: &System,
    route: &str,
    reach: f64,
    n_channels: usize,
) -> Result<()> {
    let (pairs, fixed) = pair_memory(common, system, reach, n_channels);
    pairs.check(route, system, fixed, common.hypers.max_memory)
}

/// The `p = 0` pair route.
pub(in crate::expansion::lode) struct PairsRoute<'a> {
    pub common: &'a Common,
    pub table: Arc<LodeRadialTable>,
}

impl LodeRoute for PairsRoute<'_> {
    /// The coefficient arrays and the pair buffers of every thread (no k-vectors).
    fn check_memory(&self, system: &System, n_channels: usize) -> Result<()> {
        check_pair_memory(self.common, system, "pairs", self.table.reach(), n_channels)
    }

    fn values(&self, system: &System, atoms: &AtomChannels<'_>) -> Result<Array3<f64>> {
        let common = self.common;
        let reach = self.table.reach();
        let search = NeighborSearch::new(system, reach)?;
        let cap = max_pairs(common, system, reach, atoms.n_channels);
        let mut out = listed_pairs(
            system,
            &search,
            atoms,
            self.table.as_ref(),
            &common.harmonics,
            cap,
        )?;
        add_self(&mut out, atoms, &common.self_term, 1.0, common.n_lm());
        Ok(out)
    }

    fn jacobian_row(
        &self,
        system: &System,
        atoms: &AtomChannels<'_>,
        i: usize,
        positions: Option<&mut [f64]>,
        strain: Option<&mut [f64]>,
    ) -> Result<()> {
        let harmonics = &self.common.harmonics;
        listed_pair_jacobian_row(system, atoms, &self.table, harmonics, i, positions, strain)
    }

    fn backward(
        &self,
        system: &System,
        atoms: &AtomChannels<'_>,
        cotangent: ArrayView3<f64>,
    ) -> Result<(Vec<Vec3>, Option<Mat3>)> {
        let harmonics = &self.common.harmonics;
        let (forces, virial) =
            listed_pair_backward(system, atoms, &self.table, harmonics, cotangent)?;
        Ok((forces, Some(virial)))
    }
}
