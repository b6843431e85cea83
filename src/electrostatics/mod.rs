//! Coulomb energies of point charges: Ewald summation for fully periodic cells, the direct pair
//! sum for finite systems.
//!
//! # Energy and units
//!
//! Energies are in eV, with charges in elementary charges and lengths in Å:
//!
//! $$ E = \frac{k_e}{2} \sum_{i, j, \mathbf n}{}' \frac{q_i q_j}{|\mathbf r_{ij} + \mathbf n|},
//! \qquad k_e = 14.399645\ \mathrm{eV\,Å/e^2} \ ([`COULOMB_CONSTANT`]), $$
//!
//! where `n` runs over the lattice translations (only `n = 0` for a finite system) and the prime
//! excludes `i = j` at `n = 0`.
//!
//! * Finite systems (`pbc` all false): the pair sum over `i < j`, computed directly
//!   ([`direct`]); the cell is ignored.
//! * Fully periodic systems: the conditionally convergent lattice sum is defined by the Ewald
//!   summation ([`ewald`]), which is the energy per cell of the infinite crystal summed in
//!   spherical shells inside a conducting medium ("tinfoil" boundary conditions: no surface
//!   dipole term). A non-zero total charge `Q = Σ q_i` is compensated by a uniform
//!   neutralising background of density `−Q/V`, whose energy is included (the term
//!   `−π η² Q²/V` of [`ewald`]; the result is then independent of the splitting width η).
//! * Slabs (periodic along two directions, open along the third): the Ewald energy of a
//!   vacuum cell plus the exact correction of its `k_∥ = 0` line ([`slab`]); the slab must be
//!   neutral. Wires (one periodic direction) are refused. Forces and stress of slabs: the
//!   vacuum cell's Ewald gradients plus the dipole term's ([`slab::slab_gradients`]).
//!
//! # Accuracy
//!
//! The Ewald parameters (splitting width η, real-space cutoff, k-space cutoff) are chosen from a
//! requested relative accuracy `ε` (default [`DEFAULT_ACCURACY`]), so that each truncated tail
//! is below `ε` relative to the energy: measured `|ΔE|/|E| ≤ 0.6 ε` for `ε` from 1e-2 to 1e-12
//! on random ionic gases and `≤ 1e-11` for the NaCl and CsCl crystals at `ε = 1e-10`; see
//! [`ewald::EwaldParameters::for_accuracy`].
//!
//! # Parallelism
//!
//! [`coulomb_energies`] runs in a pool of `n_threads` threads, over structures and, inside each
//! structure, over fixed chunks of centres (real space, direct sum) and fixed blocks of
//! k-vectors (reciprocal space). Partial sums are added in a fixed order, so results are bitwise
//! identical for any number of threads.

pub mod direct;
pub mod ewald;
pub mod gradients;
pub mod slab;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::systems::{check_charges, check_structure_charges, System};

pub use ewald::EwaldParameters;
pub use gradients::{coulomb_gradients, coulomb_gradients_many, CoulombGradients};

/// Coulomb constant `k_e = e²/(4πε₀)` in eV·Å/e².
pub const COULOMB_CONSTANT: f64 = 14.399645;

/// Default relative accuracy of the Ewald summation.
pub const DEFAULT_ACCURACY: f64 = 1e-10;

/// Check that the periodicity is one the energy can sum: all, none, or a slab.
fn check_energy_periodicity(system: &System) -> Result<()> {
    system.cell().check_not_wire("Coulomb energies")
}

/// Validate `accuracy`: finite, in `[1e-16, 1)`.
fn check_accuracy(accuracy: f64) -> Result<()> {
    if !(accuracy.is_finite() && (1e-16..1.0).contains(&accuracy)) {
        crate::bail_param!(
            "accuracy must be a relative accuracy in [1e-16, 1) (double precision cannot do \
             better), got {accuracy}"
        );
    }
    Ok(())
}

/// Coulomb energy (eV) of one structure with per-atom `charges` (e), by Ewald summation when
/// the cell is fully periodic, by [`slab::slab_energy`] for a slab, and by the direct pair sum
/// when it is not periodic at all.
///
/// Runs in the current rayon pool. Errors: `InvalidInput` for a wire, a charged slab, a charge count
/// that differs from the atom count, non-finite charges, two charged atoms closer than
/// [`OVERLAP_DISTANCE`](crate::systems::OVERLAP_DISTANCE); `InvalidParameter` for an accuracy outside `[1e-16, 1)` or a request
/// too large for the neighbour or k-vector budgets.
pub fn coulomb_energy(system: &System, charges: &[f64], accuracy: f64) -> Result<f64> {
    check_accuracy(accuracy)?;
    check_structure_charges(system, charges)?;
    check_energy_periodicity(system)?;
    let cell = system.cell();
    let energy = if cell.is_fully_periodic() {
        let parameters = EwaldParameters::for_accuracy(system, accuracy)?;
        ewald::ewald_energy(system, charges, &parameters)?
    } else if cell.is_periodic() {
        slab::slab_energy(system, charges, accuracy)?
    } else {
        direct::direct_energy(system.positions(), charges)?
    };
    Ok(COULOMB_CONSTANT * energy)
}

/// Coulomb energies (eV) of many structures, one charge array per structure, computed in a pool
/// of `n_threads` threads (0: all cores); see [`coulomb_energy`] for the conventions and errors.
/// All inputs are validated before any work starts; an error names the structure.
pub fn coulomb_energies<C>(
    systems: &[System],
    charges: &[C],
    accuracy: f64,
    n_threads: usize,
) -> Result<Vec<f64>>
where
    C: AsRef<[f64]> + Sync,
{
    check_accuracy(accuracy)?;
    check_charges(systems, charges)?;
    let name = |s: usize, e: Error| match e {
        Error::InvalidInput(m) => Error::InvalidInput(format!("structure {s}: {m}")),
        Error::InvalidParameter(m) => Error::InvalidParameter(format!("structure {s}: {m}")),
        other => other,
    };
    for (s, system) in systems.iter().enumerate() {
        check_energy_periodicity(system).map_err(|e| name(s, e))?;
    }
    let results: Vec<Result<f64>> = crate::threads::with_threads(n_threads, || {
        systems
            .par_iter()
            .zip(charges.par_iter())
            .map(|(system, q)| coulomb_energy(system, q.as_ref(), accuracy))
            .collect()
    })?;
    results
        .into_iter()
        .enumerate()
        .map(|(s, r)| r.map_err(|e| name(s, e)))
        .collect()
}

#[cfg(test)]
mod tests;
