//! The Ewald-split route (`docs/math.md` §3c, §8.3): `g_p = g_p^SR + g_p^LR` with the long range a
//! smeared power law of width `η > σ`. The short range is a pair sum over periodic images (its
//! radial table splined per `η`), the long range the k-space sum of [`super::reciprocal`] with
//! kernel width `η` and a small `k_c`, and the short range's own `k = 0` component is
//! subtracted for `p = 1, 2, 3` ([`subtract_ewald_k0`]).
//!
//! Widths are tried on the grid `η = σ 2^{m/4}`, `m = 1..=`[`EWALD_STEPS`]; the planner picks
//! the cheapest ([`pair_cost`] + the long range's k-space cost); each width's tables are built
//! once and cached here ([`EwaldTables`]), and the mesh route shares them.
//!
//! Gradients (positions and strain): the short range's pairs over images
//! ([`super::super::real_space::listed_pair_jacobian_row`], `listed_pair_backward`), the long
//! range as the reciprocal route with kernel width `η` ([`ReciprocalRoute::with_kernel`]: the
//! dense k-space engine's adjoint, its `k = 0` term for `p ≥ 4`), and the split's `k = 0`
//! correction (`p = 1, 2, 3`) through `1/V` only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ndarray::{Array2, Array3, ArrayView3};

use super::super::calculator::Common;
use super::super::constant_terms::{
    add_self, add_volume_term_strain_backward, add_volume_term_strain_row, coefficient_of_self,
    ewald_k0, subtract_ewald_k0,
};
use super::super::real_space::{
    listed_pair_backward, listed_pair_jacobian_row, listed_pairs, AtomChannels,
};
use super::reciprocal::{check_memory, k_cutoff_for, ReciprocalRoute};
use super::LodeRoute;
use crate::cost::{LODE_PAIR_COST_PER_COLUMN, TABLE_NODE_COST};
use crate::error::{Error, Result};
use crate::math::power_law::PowerLaw;
use crate::neighbors::NeighborSearch;
use crate::radial::{LodeKernel, LodeRadialTable};
use crate::systems::{Mat3, System, Vec3};

/// Ewald widths tried: η = σ · 2^{m/4}, m = 1..=EWALD_STEPS (up to 64σ).
pub(in crate::expansion::lode) const EWALD_STEPS: i32 = 24;
/// Fraction of the accuracy budget given to each part of the Ewald split (the splined short
/// range and the truncated long range): their errors add, so each gets a quarter.
pub(in crate::expansion::lode) const EWALD_SHARE: f64 = 0.25;

/// Tables of one Ewald split.
pub(in crate::expansion::lode) struct EwaldPart {
    pub eta: f64,
    pub short_range: LodeRadialTable,
    pub k_cutoff: f64,
    /// `lim_{k→0} ĝ_SR(k)` (p = 1, 2, 3) to subtract, zero otherwise.
    pub k0_correction: f64,
    /// `C_n^SR`: the short-range part of the centre's own potential on `R̃_n Y_00`.
    pub self_term: Vec<f64>,
}

impl EwaldPart {
    /// The long-range kernel `g_p` of width `η`.
    pub fn long_range(&self) -> Result<PowerLaw> {
        PowerLaw::new(self.short_range.kernel().exponent(), self.eta)
    }
}

/// `η` of Ewald step `step`: `σ 2^{step/4}`.
pub(in crate::expansion::lode) fn eta(common: &Common, step: i32) -> f64 {
    common.hypers.smearing * 2f64.powf(step as f64 / 4.0)
}

/// Estimated cost of the pairs within the reach of a kernel of width `eta` (the basis extent
/// plus `η √(2 ln(1/accuracy))`), `n` centres at number density `density`, in units of one
/// k-space multiply-add ([`LODE_PAIR_COST_PER_COLUMN`] per pair and column).
pub(in crate::expansion::lode) fn pair_cost(
    common: &Common,
    n: f64,
    density: f64,
    eta: f64,
) -> f64 {
    let per_pair = LODE_PAIR_COST_PER_COLUMN * common.n_cols() as f64;
    let log_acc = (1.0 / common.hypers.accuracy).ln();
    let reach = common.basis_extent + eta * (2.0 * log_acc).sqrt();
    n * density * 4.0 / 3.0 * std::f64::consts::PI * reach.powi(3) * per_pair
}

/// Estimated cost of building the short-range table of Ewald step `step`
/// ([`LodeRadialTable::estimated_work`] × [`TABLE_NODE_COST`]), in units of one k-space
/// multiply-add.
pub(in crate::expansion::lode) fn table_cost(common: &Common, step: i32) -> Result<f64> {
    let h = &common.hypers;
    let kernel = LodeKernel::ewald_short_range(h.exponent, h.smearing, eta(common, step))?;
    let work =
        LodeRadialTable::estimated_work(&common.basis, h.l_max, &kernel, EWALD_SHARE * h.accuracy);
    Ok(TABLE_NODE_COST * work)
}

/// The Ewald tables of a calculator, built on first use per width and cached (a failure too:
/// asking again returns the same error without building again).
#[derive(Default)]
pub(in crate::expansion::lode) struct EwaldTables {
    parts: Mutex<HashMap<i32, Result<Arc<EwaldPart>>>>,
    /// Long-range k-cutoff of each Ewald width (step).
    long_range_cutoffs: Mutex<HashMap<i32, f64>>,
    /// [`table_cost`] of each Ewald width (step).
    table_costs: Mutex<HashMap<i32, f64>>,
}

impl EwaldTables {
    /// [`table_cost`] of Ewald step `step`, estimated once (it depends on the hyper-parameters
    /// only, and the planner asks for every step on every new cell; estimated every time while
    /// the cell caches are disabled, [`super::super::cell_cache::set_enabled`]).
    pub fn table_cost(&self, common: &Common, step: i32) -> Result<f64> {
        if !super::super::cell_cache::enabled() {
            return table_cost(common, step);
        }
        if let Some(c) = self.table_costs.lock().expect("cost cache").get(&step) {
            return Ok(*c);
        }
        let cost = table_cost(common, step)?;
        self.table_costs
            .lock()
            .expect("cost cache")
            .insert(step, cost);
        Ok(cost)
    }

    /// k-cutoff of the long range with width `η(step)` for its share of the accuracy.
    pub fn long_range_cutoff(&self, common: &Common, step: i32) -> Result<f64> {
        if let Some(k) = self
            .long_range_cutoffs
            .lock()
            .expect("cutoff cache")
            .get(&step)
        {
            return Ok(*k);
        }
        let long = PowerLaw::new(common.hypers.exponent, eta(common, step))?;
        let k = k_cutoff_for(
            &long,
            &common.kspace_radial.spline,
            EWALD_SHARE * common.hypers.accuracy,
        )
        .min(common.k_max);
        self.long_range_cutoffs
            .lock()
            .expect("cutoff cache")
            .insert(step, k);
        Ok(k)
    }

    /// The tables of Ewald step `step` (built without holding the cache's lock: a build runs
    /// parallel loops, whose thread may meanwhile take another structure's planning).
    pub fn part(&self, common: &Common, step: i32) -> Result<Arc<EwaldPart>> {
        if let Some(part) = self.parts.lock().expect("ewald cache").get(&step) {
            return part.clone();
        }
        let part = self.build(common, step);
        self.parts
            .lock()
            .expect("ewald cache")
            .insert(step, part.clone());
        part
    }

    fn build(&self, common: &Common, step: i32) -> Result<Arc<EwaldPart>> {
        let sigma = common.hypers.smearing;
        let eta = eta(common, step);
        let p = common.hypers.exponent;
        let short_range = LodeRadialTable::ewald_short_range(
            &common.basis,
            common.hypers.l_max,
            p,
            sigma,
            eta,
            EWALD_SHARE * common.hypers.accuracy,
        )?;
        let k_cutoff = self.long_range_cutoff(common, step)?;
        let k0_correction = if (1..=3).contains(&p) {
            LodeKernel::ewald_short_range(p, sigma, eta)?
                .fourier_at_zero()
                .ok_or_else(|| {
                    Error::Internal("the short-range kernel has no k = 0 limit".into())
                })?
        } else {
            0.0
        };
        let self_term = coefficient_of_self(short_range.self_term());
        Ok(Arc::new(EwaldPart {
            eta,
            short_range,
            k_cutoff,
            k0_correction,
            self_term,
        }))
    }
}

/// The short range: streamed pairs over periodic images and the centre's own short-range
/// potential.
pub(in crate::expansion::lode) fn short_range(
    common: &Common,
    system: &System,
    atoms: &AtomChannels<'_>,
    part: &EwaldPart,
) -> Result<Array3<f64>> {
    let reach = part.short_range.reach();
    let search = NeighborSearch::new(system, reach)?;
    let cap = super::pairs::max_pairs(common, system, reach, atoms.n_channels);
    let mut out = listed_pairs(
        system,
        &search,
        atoms,
        &part.short_range,
        &common.harmonics,
        cap,
    )?;
    add_self(&mut out, atoms, &part.self_term, 1.0, common.n_lm());
    Ok(out)
}

/// The Ewald route with the tables of one width.
pub(in crate::expansion::lode) struct EwaldRoute<'a> {
    pub common: &'a Common,
    pub part: Arc<EwaldPart>,
    /// The long range: the reciprocal route with kernel width `η` and cutoff `part.k_cutoff`.
    long: ReciprocalRoute<'a>,
}

impl<'a> EwaldRoute<'a> {
    pub fn new(common: &'a Common, part: Arc<EwaldPart>) -> Result<Self> {
        let long = ReciprocalRoute::with_kernel(common, part.long_range()?, part.k_cutoff);
        Ok(EwaldRoute { common, part, long })
    }

    /// The split's `k = 0` correction (`p = 1, 2, 3`), `(n_channels, n_max)` as it enters the
    /// values (negative), or `None`.
    fn correction(&self, system: &System, atoms: &AtomChannels<'_>) -> Option<Array2<f64>> {
        let (common, part) = (self.common, &*self.part);
        (part.k0_correction != 0.0).then(|| {
            let volume = system.cell().volume();
            -ewald_k0(&common.basis, atoms, volume, part.k0_correction)
        })
    }
}

impl LodeRoute for EwaldRoute<'_> {
    fn check_memory(&self, system: &System, n_channels: usize) -> Result<()> {
        check_memory(self.common, system, self.part.k_cutoff, n_channels)?;
        let reach = self.part.short_range.reach();
        super::pairs::check_pair_memory(self.common, system, "ewald", reach, n_channels)
    }

    fn values(&self, system: &System, atoms: &AtomChannels<'_>) -> Result<Array3<f64>> {
        let (common, part) = (self.common, &*self.part);
        let mut out = short_range(common, system, atoms, part)?;
        out += &self.long.values(system, atoms)?;
        if part.k0_correction != 0.0 {
            let volume = system.cell().volume();
            subtract_ewald_k0(&mut out, &common.basis, atoms, volume, part.k0_correction);
        }
        Ok(out)
    }

    /// Short-range pairs over images, the long range's reciprocal route (its `k = 0` term
    /// included), and the split's `k = 0` correction (`∝ 1/V`: strain only).
    fn jacobian_row(
        &self,
        system: &System,
        atoms: &AtomChannels<'_>,
        i: usize,
        mut positions: Option<&mut [f64]>,
        mut strain: Option<&mut [f64]>,
    ) -> Result<()> {
        let table = &self.part.short_range;
        let harmonics = &self.common.harmonics;
        listed_pair_jacobian_row(
            system,
            atoms,
            table,
            harmonics,
            i,
            positions.as_deref_mut(),
            strain.as_deref_mut(),
        )?;
        self.long
            .jacobian_row(system, atoms, i, positions, strain.as_deref_mut())?;
        if let (Some(out), Some(term)) = (strain, self.correction(system, atoms)) {
            add_volume_term_strain_row(out, &term, self.common.n_lm());
        }
        Ok(())
    }

    fn prepare_jacobian(
        &self,
        system: &System,
        atoms: &AtomChannels<'_>,
        positions: bool,
        strain: bool,
    ) -> Result<()> {
        self.long.prepare_jacobian(system, atoms, positions, strain)
    }

    fn release_jacobian(&self) {
        self.long.release_jacobian()
    }

    fn backward(
        &self,
        system: &System,
        atoms: &AtomChannels<'_>,
        cotangent: ArrayView3<f64>,
    ) -> Result<(Vec<Vec3>, Option<Mat3>)> {
        let harmonics = &self.common.harmonics;
        let table = &self.part.short_range;
        let (mut forces, mut virial) =
            listed_pair_backward(system, atoms, table, harmonics, cotangent)?;
        let long = self.long.backward(system, atoms, cotangent)?;
        add_gradients(&mut forces, &mut virial, long);
        if let Some(term) = self.correction(system, atoms) {
            let n_lm = self.common.n_lm();
            add_volume_term_strain_backward(&mut virial, cotangent, &term, n_lm);
        }
        Ok((forces, Some(virial)))
    }
}

/// `forces[j] += more.0[j]`, `virial += more.1` (a part of a backward pass with strain).
pub(in crate::expansion::lode) fn add_gradients(
    forces: &mut [Vec3],
    virial: &mut Mat3,
    more: (Vec<Vec3>, Option<Mat3>),
) {
    for (f, m) in forces.iter_mut().zip(&more.0) {
        for alpha in 0..3 {
            f[alpha] += m[alpha];
        }
    }
    let more = more.1.expect("a part with strain");
    for (v, m) in virial.iter_mut().flatten().zip(more.iter().flatten()) {
        *v += m;
    }
}
