//! The finite route (`docs/math.md` §3a, §8.5): a system without periodicity sums every ordered pair
//! `i ≠ j` (no images) with the splined pair table near and the exact far-field (multipole)
//! form far away, plus the centre's own potential with weight `center_weight`. The table is
//! built on first use and cached here; the periodic `p = 0` route ([`super::pairs`]) shares it.
//!
//! Gradients: every pair `j → i` is a term `w_j f_nl(d_ij) Y_lm(r̂_ij)` of
//! [`crate::expansion::pair_gradients`] with a constant weight (`w' = 0`), `f'_nl` from the
//! table (the spline's derivative near, the multipole tail's far); the centre's own potential
//! does not move. The Jacobian is dense: every atom moves every centre.

use std::sync::{Arc, OnceLock};

use ndarray::{Array3, ArrayView3};

use super::super::calculator::Common;
use super::super::constant_terms::add_self;
use super::super::real_space::{
    finite_pairs, finite_pairs_into, pair_backward, pair_jacobian_row, AtomChannels, PairMemory,
};
use super::LodeRoute;
use crate::cost::LODE_PAIR_COST_PER_COLUMN;
use crate::error::{Error, Result};
use crate::radial::LodeRadialTable;
use crate::systems::{Mat3, System, Vec3};

/// The pair table of the full kernel `g_p` (width σ), built once.
#[derive(Default)]
pub(in crate::expansion::lode) struct FiniteTables {
    table: OnceLock<std::result::Result<Arc<LodeRadialTable>, Error>>,
}

impl FiniteTables {
    /// The table, built on first use (a failure is kept too). Built outside the `OnceLock`:
    /// the build runs parallel loops, whose thread may meanwhile take another structure's
    /// planning and ask for the table again (a re-entrant `get_or_init` would deadlock);
    /// concurrent first calls may build it twice, the first result is kept.
    pub fn table(&self, common: &Common) -> Result<Arc<LodeRadialTable>> {
        if let Some(table) = self.table.get() {
            return table.clone();
        }
        let table = LodeRadialTable::finite(
            &common.basis,
            common.hypers.l_max,
            common.hypers.exponent,
            common.hypers.smearing,
            common.hypers.accuracy,
        )
        .map(Arc::new);
        self.table.get_or_init(|| table).clone()
    }
}

/// Estimated cost of the finite route: every ordered pair, [`LODE_PAIR_COST_PER_COLUMN`] per
/// pair and column.
pub(in crate::expansion::lode) fn cost(common: &Common, n: f64) -> f64 {
    n * (n - 1.0).max(0.0) * LODE_PAIR_COST_PER_COLUMN * common.n_cols() as f64
}

/// Estimated bytes of the finite route: the coefficient array, twice (the structure's block
/// and the joined output); the pair buffers ([`PairMemory`], `N − 1` pairs per thread) are
/// checked beside it.
pub(in crate::expansion::lode) fn memory(
    common: &Common,
    system: &System,
    n_channels: usize,
) -> f64 {
    2.0 * (system.size() * n_channels * common.n_cols()) as f64 * 8.0
}

/// The finite route of structure `structure` (for error messages).
pub(in crate::expansion::lode) struct FiniteRoute<'a> {
    pub common: &'a Common,
    pub table: Arc<LodeRadialTable>,
    pub structure: usize,
}

impl LodeRoute for FiniteRoute<'_> {
    fn check_memory(&self, system: &System, n_channels: usize) -> Result<()> {
        let fixed = memory(self.common, system, n_channels);
        PairMemory::of(system, f64::INFINITY).check(
            "real-space",
            system,
            fixed,
            self.common.hypers.max_memory,
        )
    }

    fn values(&self, system: &System, atoms: &AtomChannels<'_>) -> Result<Array3<f64>> {
        let common = self.common;
        let mut out = finite_pairs(
            system,
            atoms,
            self.table.as_ref(),
            &common.harmonics,
            self.structure,
        )?;
        // the centre's own potential, with weight center_weight
        let w = common.hypers.center_weight;
        add_self(&mut out, atoms, &common.self_term, w, common.n_lm());
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
        pair_jacobian_row(
            self.table.as_ref(),
            &self.common.harmonics,
            atoms.n_channels,
            i,
            |scratch| finite_pairs_into(system, atoms, self.structure, i, scratch),
            positions,
            strain,
        )
    }

    fn backward(
        &self,
        system: &System,
        atoms: &AtomChannels<'_>,
        cotangent: ArrayView3<f64>,
    ) -> Result<(Vec<Vec3>, Option<Mat3>)> {
        let (forces, virial) = pair_backward(
            self.table.as_ref(),
            &self.common.harmonics,
            cotangent,
            |scratch, i| finite_pairs_into(system, atoms, self.structure, i, scratch),
        )?;
        Ok((forces, Some(virial)))
    }
}
