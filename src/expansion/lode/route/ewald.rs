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
//! Gradients: the short range's pairs over images (positions and strain:
//! [`super::super::real_space::listed_pair_jacobian_row`], `listed_pair_backward`), the long
//! range through the dense k-space engine's adjoint ([`crate::kspace::dense_jacobian_row`],
//! [`crate::kspace::dense_backward`]), and the `k = 0` terms (the long-range kernel's for
//! `p = 0, p ≥ 4`, the split's correction for `p = 1, 2, 3`) through `1/V` only
//! ([`k0_terms`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ndarray::{Array2, Array3, ArrayView3};

use super::super::calculator::Common;
use super::super::constant_terms::{
    add_self, coefficient_of_self, ewald_k0, k0_term, subtract_ewald_k0,
    volume_term_strain_backward, volume_term_strain_row,
};
use super::super::real_space::{
    listed_pair_backward, listed_pair_jacobian_row, listed_pairs, AtomChannels,
};
use super::reciprocal::{check_memory, k_cutoff_for};
use super::LodeRoute;
use crate::cost::LODE_PAIR_COST_PER_COLUMN;
use crate::error::{Error, Result};
use crate::kspace::{dense_backward, dense_jacobian_row, k_vectors};
use crate::math::power_law::PowerLaw;
use crate::neighbors::NeighborSearch;
use crate::radial::{LodeKernel, LodeRadialTable};
use crate::systems::{Mat3, System, Vec3};

/// Ewald widths tried: η = σ · 2^{m/4}, m = 1..=EWALD_STEPS (up to 64σ).
pub(in crate::expansion::lode) const EWALD_STEPS: i32 = 24;
/// Fraction of the accuracy budget given to each part of the Ewald split (the splined short
/// range and the truncated long range): their errors add, so each gets a quarter.
const EWALD_SHARE: f64 = 0.25;

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

/// The Ewald tables of a calculator, built on first use per width and cached.
#[derive(Default)]
pub(in crate::expansion::lode) struct EwaldTables {
    parts: Mutex<HashMap<i32, Arc<EwaldPart>>>,
    /// Long-range k-cutoff of each Ewald width (step).
    long_range_cutoffs: Mutex<HashMap<i32, f64>>,
}

impl EwaldTables {
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
            &common.kspace_radial,
            EWALD_SHARE * common.hypers.accuracy,
        )
        .min(common.k_max);
        self.long_range_cutoffs
            .lock()
            .expect("cutoff cache")
            .insert(step, k);
        Ok(k)
    }

    /// The tables of Ewald step `step`.
    pub fn part(&self, common: &Common, step: i32) -> Result<Arc<EwaldPart>> {
        if let Some(part) = self.parts.lock().expect("ewald cache").get(&step) {
            return Ok(part.clone());
        }
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
        let part = Arc::new(EwaldPart {
            eta,
            short_range,
            k_cutoff,
            k0_correction,
            self_term,
        });
        self.parts
            .lock()
            .expect("ewald cache")
            .insert(step, part.clone());
        Ok(part)
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
    let search = NeighborSearch::new(system, part.short_range.reach())?;
    let mut out = listed_pairs(system, &search, atoms, &part.short_range, &common.harmonics);
    add_self(&mut out, atoms, &part.self_term, 1.0, common.n_lm());
    Ok(out)
}

/// The Ewald route with the tables of one width.
pub(in crate::expansion::lode) struct EwaldRoute<'a> {
    pub common: &'a Common,
    pub part: Arc<EwaldPart>,
}

impl LodeRoute for EwaldRoute<'_> {
    fn check_memory(&self, system: &System, n_channels: usize) -> Result<()> {
        check_memory(self.common, system, self.part.k_cutoff, n_channels)
    }

    fn values(&self, system: &System, atoms: &AtomChannels<'_>) -> Result<Array3<f64>> {
        let (common, part) = (self.common, &*self.part);
        let mut out = short_range(common, system, atoms, part)?;
        out += &common.kspace(&part.long_range()?).compute(
            system,
            &atoms.sources(system)?,
            part.k_cutoff,
        )?;
        if part.k0_correction != 0.0 {
            let volume = system.cell().volume();
            subtract_ewald_k0(&mut out, &common.basis, atoms, volume, part.k0_correction);
        }
        Ok(out)
    }

    fn jacobian_row(
        &self,
        system: &System,
        atoms: &AtomChannels<'_>,
        i: usize,
        mut positions: Option<&mut [f64]>,
        strain: Option<&mut [f64]>,
    ) -> Result<()> {
        if strain.is_some() {
            return Err(no_strain("ewald"));
        }
        let (common, part) = (self.common, &*self.part);
        let harmonics = &common.harmonics;
        let table = &part.short_range;
        listed_pair_jacobian_row(
            system,
            atoms,
            table,
            harmonics,
            i,
            positions.as_deref_mut(),
            None,
        )?;
        if let Some(out) = positions {
            let kv = k_vectors(system.cell(), part.k_cutoff)?;
            let sum = common.kspace(&part.long_range()?);
            let basis = sum.separable(system.cell().volume());
            dense_jacobian_row(&atoms.sources(system)?, &kv, &basis, i, out);
        }
        Ok(())
    }

    fn backward(
        &self,
        system: &System,
        atoms: &AtomChannels<'_>,
        cotangent: ArrayView3<f64>,
    ) -> Result<(Vec<Vec3>, Option<Mat3>)> {
        let (common, part) = (self.common, &*self.part);
        let (mut forces, _) = listed_pair_backward(
            system,
            atoms,
            &part.short_range,
            &common.harmonics,
            cotangent,
        )?;
        let kv = k_vectors(system.cell(), part.k_cutoff)?;
        let sum = common.kspace(&part.long_range()?);
        let basis = sum.separable(system.cell().volume());
        let long = dense_backward(&atoms.sources(system)?, &kv, &basis, cotangent);
        add_forces(&mut forces, &long);
        Ok((forces, None))
    }
}

/// `forces[j] += more[j]`.
pub(in crate::expansion::lode) fn add_forces(forces: &mut [Vec3], more: &[Vec3]) {
    for (f, m) in forces.iter_mut().zip(more) {
        for alpha in 0..3 {
            f[alpha] += m[alpha];
        }
    }
}

/// The `k = 0` terms of the Ewald split of `system` (the long-range kernel's, `p = 0` and
/// `p ≥ 4`, and minus the short range's `k = 0` component, `p = 1, 2, 3`), `(n_channels,
/// n_max)` on `l = 0` of every centre, each with its sign: all proportional to `1/V`.
pub(in crate::expansion::lode) fn k0_terms(
    common: &Common,
    system: &System,
    atoms: &AtomChannels<'_>,
    part: &EwaldPart,
) -> Result<Vec<(Array2<f64>, f64)>> {
    let volume = system.cell().volume();
    let mut terms = Vec::new();
    let sources = atoms.sources(system)?;
    let kernel = part.long_range()?;
    if let Some(term) = k0_term(&kernel, &common.kspace_radial, &sources, volume) {
        terms.push((term, 1.0));
    }
    if part.k0_correction != 0.0 {
        let term = ewald_k0(&common.basis, atoms, volume, part.k0_correction);
        terms.push((term, -1.0));
    }
    Ok(terms)
}

/// Strain of the `k = 0` terms ([`k0_terms`]) in a centre's strain Jacobian `(3, 3,
/// n_channels, n_max·n_lm)`.
pub(in crate::expansion::lode) fn k0_strain_row(terms: &[(Array2<f64>, f64)], strain: &mut [f64]) {
    for (term, sign) in terms {
        volume_term_strain_row(strain, term, *sign);
    }
}

/// Strain of the `k = 0` terms ([`k0_terms`]) in the backward pass, added into `virial`.
pub(in crate::expansion::lode) fn k0_strain_backward(
    terms: &[(Array2<f64>, f64)],
    cotangent: ArrayView3<f64>,
    virial: &mut Mat3,
) {
    for (term, sign) in terms {
        volume_term_strain_backward(cotangent, term, *sign, virial);
    }
}

/// Strain gradients of a LODE route that has none yet.
pub(in crate::expansion::lode) fn no_strain(route: &str) -> Error {
    Error::InvalidParameter(format!(
        "strain gradients of the LODE {route:?} route are not implemented yet: ask for \
         \"positions\" only"
    ))
}
