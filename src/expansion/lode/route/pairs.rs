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
    listed_pair_backward, listed_pair_jacobian_row, listed_pairs, AtomChannels,
};
use super::ewald::pair_cost;
use super::reciprocal::check_memory;
use super::LodeRoute;
use crate::error::Result;
use crate::neighbors::NeighborSearch;
use crate::radial::LodeRadialTable;
use crate::systems::{Mat3, System, Vec3};

/// Estimated cost: the pairs within the reach of a Gaussian of width σ ([`pair_cost`]).
pub(in crate::expansion::lode) fn cost(common: &Common, n: f64, density: f64) -> f64 {
    pair_cost(common, n, density, common.hypers.smearing)
}

/// The `p = 0` pair route.
pub(in crate::expansion::lode) struct PairsRoute<'a> {
    pub common: &'a Common,
    pub table: Arc<LodeRadialTable>,
}

impl LodeRoute for PairsRoute<'_> {
    /// The coefficient arrays only (no k-vectors; pairs are streamed).
    fn check_memory(&self, system: &System, n_channels: usize) -> Result<()> {
        check_memory(self.common, system, 0.0, n_channels)
    }

    fn values(&self, system: &System, atoms: &AtomChannels<'_>) -> Result<Array3<f64>> {
        let common = self.common;
        let search = NeighborSearch::new(system, self.table.reach())?;
        let mut out = listed_pairs(
            system,
            &search,
            atoms,
            self.table.as_ref(),
            &common.harmonics,
        );
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
