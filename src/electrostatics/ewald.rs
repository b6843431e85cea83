//! Ewald summation of the Coulomb energy of point charges in a fully periodic cell.
//!
//! # The split, in the Gaussian-width convention
//!
//! With `η` the width (standard deviation) of a normalised Gaussian charge
//! `ρ_η(r) = (2πη²)^{−3/2} e^{−r²/2η²}`, whose potential is `erf(r/√2η)/r` with Fourier
//! transform `4π e^{−k²η²/2}/k²`, write `1/r = erfc(r/√2η)/r + erf(r/√2η)/r`. Then, in units
//! where `k_e = 1` (the caller multiplies by [`super::COULOMB_CONSTANT`]),
//!
//! $$ E = E_{\rm real} + E_{\rm recip} + E_{\rm self} + E_{\rm background}, $$
//!
//! * `E_real = ½ Σ_i Σ_{j, n}' q_i q_j erfc(|r_ij + n|/√2η)/|r_ij + n|` over all pairs and images
//!   closer than the real-space cutoff `r_c` (prime: no `i = j, n = 0`);
//! * `E_recip = (2π/V) Σ_{k≠0} e^{−k²η²/2}/k² |S(k)|²`, `S(k) = Σ_j q_j e^{ik·r_j}`, over the
//!   reciprocal lattice vectors with `|k| < k_c`; as `|S(−k)| = |S(k)|`, it is computed as
//!   `(4π/V) Σ_{k half}` over one of each `±k` pair ([`crate::kspace::k_vectors`]);
//! * `E_self = −Σ_i q_i²/(√(2π) η)`: the reciprocal sum contains each charge's interaction with
//!   its own Gaussian, `½ q_i² lim_{r→0} erf(r/√2η)/r = q_i²/(√(2π) η)`, which is removed;
//! * `E_background = −π η² Q²/V`, `Q = Σ_i q_i`: the `k = 0` term is dropped from the reciprocal
//!   sum, which is exact for the system "charges + uniform background `−Q/V`" (its total density
//!   has no `k = 0` component). The short-range kernel, however, has a `k = 0` component
//!   `∫ erfc(r/√2η)/r d³r = 2πη²`, through which the background interacts with the charges
//!   (`Σ_i q_i · (−Q/V) · 2πη² = −2πη² Q²/V`) and with itself (`½ (Q²/V) 2πη² = +πη²Q²/V`):
//!   together `−πη²Q²/V`. It vanishes for neutral cells and makes `E` independent of `η`.
//!
//! No surface (dipole) term: tinfoil boundary conditions.
//!
//! # Parameters from an accuracy
//!
//! With `s = √(ln(m/ε))`, `m` = [`ACCURACY_MARGIN`]: `r_c = √2 η s` (the real-space kernel at
//! the cutoff is `erfc(s)/r_c < e^{−s²}/r_c = (ε/m)/r_c`) and `k_c = √2 s/η` (the reciprocal
//! weight at the cutoff is `e^{−s²}/k_c² = (ε/m)/k_c²`). Both tails are then below `ε` relative
//! to the energy in the tests (NaCl/CsCl crystals, random ionic gases). The width balances the cost of the two sums: with `ρ = N/V`,
//! the real space visits `N ρ (4π/3) r_c³` pairs, the reciprocal space `N V k_c³/(12π²)`
//! atom–k products; equal costs (one pair costing [`COULOMB_PAIR_COST`] atom–k products) give
//! `η = (V²/N)^{1/6} (16 π³ COULOMB_PAIR_COST)^{−1/6}`, and an overall cost `O(N^{3/2} s³)`.

use rayon::prelude::*;

use crate::cost::COULOMB_PAIR_COST;
use crate::error::Result;
use crate::kspace::{k_vectors, structure_factors, Sources, K_BLOCK};
use crate::neighbors::{NeighborSearch, Pair};
use crate::systems::System;
use crate::systems::OVERLAP_DISTANCE;

/// Safety factor on the accuracy: the cutoffs are set for `accuracy / ACCURACY_MARGIN`, since
/// the tails summed over many pairs and k-vectors reach about 1.2× the kernel value at the
/// cutoff in random ionic gases (measured; see `tests/test_ewald.py`).
pub const ACCURACY_MARGIN: f64 = 3.0;

/// Centres per parallel task in the real-space sum.
const CENTERS_PER_TASK: usize = 16;

/// Ewald splitting width and cutoffs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EwaldParameters {
    /// Width `η` (Å) of the Gaussian charges of the split.
    pub eta: f64,
    /// Real-space cutoff `r_c` (Å), strict: pairs with `|r| < r_c` are summed.
    pub real_cutoff: f64,
    /// Reciprocal-space cutoff `k_c` (Å⁻¹): k-vectors with `0 < |k| < k_c` are summed.
    pub k_cutoff: f64,
}

impl EwaldParameters {
    /// Parameters for a relative accuracy `accuracy` (see the module documentation): width
    /// balancing the cost of the two sums for this cell and atom count, cutoffs from
    /// `s = √(ln(ACCURACY_MARGIN/accuracy))`.
    pub fn for_accuracy(system: &System, accuracy: f64) -> Result<EwaldParameters> {
        if !(accuracy.is_finite() && accuracy > 0.0 && accuracy < 1.0) {
            crate::bail_param!("accuracy must be in (0, 1), got {accuracy}");
        }
        let volume = system.cell().volume();
        let n = system.size() as f64;
        let pi = std::f64::consts::PI;
        let eta = (volume * volume / n).powf(1.0 / 6.0)
            * (16.0 * pi.powi(3) * COULOMB_PAIR_COST).powf(-1.0 / 6.0);
        EwaldParameters::new(eta, accuracy)
    }

    /// Parameters for a given width `eta` (Å) and relative accuracy.
    pub fn new(eta: f64, accuracy: f64) -> Result<EwaldParameters> {
        if !(eta.is_finite() && eta > 0.0) {
            crate::bail_param!("the Ewald width eta must be finite and positive, got {eta}");
        }
        if !(accuracy.is_finite() && accuracy > 0.0 && accuracy < 1.0) {
            crate::bail_param!("accuracy must be in (0, 1), got {accuracy}");
        }
        let s = (ACCURACY_MARGIN / accuracy).ln().sqrt();
        Ok(EwaldParameters {
            eta,
            real_cutoff: std::f64::consts::SQRT_2 * eta * s,
            k_cutoff: std::f64::consts::SQRT_2 * s / eta,
        })
    }
}

/// Ewald energy `E_real + E_recip + E_self + E_background` (module documentation) of a fully
/// periodic system, in units of `k_e` (e²/Å).
///
/// Runs in the current rayon pool; bitwise identical for any number of threads. Errors:
/// `InvalidInput` when the system is not fully periodic, when the charge count differs from
/// the atom count, or when two charged atoms (or a charged atom and its own image) are closer
/// than [`OVERLAP_DISTANCE`]; `InvalidParameter` when the cutoffs exceed the neighbour or
/// k-vector budgets.
pub fn ewald_energy(system: &System, charges: &[f64], parameters: &EwaldParameters) -> Result<f64> {
    system.cell().require_fully_periodic("Ewald summation")?;
    crate::systems::check_structure_charges(system, charges)?;
    let real = real_space(system, charges, parameters)?;
    let recip = reciprocal_space(system, charges, parameters)?;
    let volume = system.cell().volume();
    let eta = parameters.eta;
    let pi = std::f64::consts::PI;
    let self_energy = -charges.iter().map(|q| q * q).sum::<f64>() / ((2.0 * pi).sqrt() * eta);
    let total: f64 = charges.iter().sum();
    let background = -pi * eta * eta * total * total / volume;
    Ok(real + recip + self_energy + background)
}

/// `½ Σ_i q_i Σ_{(j, n): |r_ij + n| < r_c} q_j erfc(|r_ij + n|/√2η)/|r_ij + n|`.
fn real_space(system: &System, charges: &[f64], parameters: &EwaldParameters) -> Result<f64> {
    let search = NeighborSearch::new(system, parameters.real_cutoff)?;
    let scale = 1.0 / (std::f64::consts::SQRT_2 * parameters.eta);
    let n_atoms = system.size();
    let partials: Vec<Result<f64>> = (0..n_atoms.div_ceil(CENTERS_PER_TASK))
        .into_par_iter()
        .map(|task| {
            crate::threads::check_cancelled()?;
            let mut pairs: Vec<Pair> = Vec::new();
            let mut sum = 0.0;
            let begin = task * CENTERS_PER_TASK;
            for i in begin..(begin + CENTERS_PER_TASK).min(n_atoms) {
                let qi = charges[i];
                search.pairs_of(i, &mut pairs);
                let mut potential = 0.0;
                for pair in &pairs {
                    let qj = charges[pair.second];
                    if pair.distance < OVERLAP_DISTANCE && qi * qj != 0.0 {
                        crate::bail_input!(
                            "charged atoms {i} and {} are {:.3e} Å apart (shift {:?}): \
                             overlapping point charges have an infinite energy",
                            pair.second,
                            pair.distance,
                            pair.shift
                        );
                    }
                    if qj != 0.0 {
                        potential +=
                            qj * crate::math::special::erfc(pair.distance * scale) / pair.distance;
                    }
                }
                sum += qi * potential;
            }
            Ok(sum)
        })
        .collect();
    let mut total = 0.0;
    for partial in partials {
        total += partial?;
    }
    Ok(0.5 * total)
}

/// `(4π/V) Σ_{k half, 0<|k|<k_c} e^{−k²η²/2}/k² |S(k)|²`, over blocks of [`K_BLOCK`]
/// k-vectors in parallel.
fn reciprocal_space(system: &System, charges: &[f64], parameters: &EwaldParameters) -> Result<f64> {
    let kvectors = k_vectors(system.cell(), parameters.k_cutoff)?;
    let channels = vec![0usize; system.size()];
    let sources = Sources::new(system.positions(), &channels, Some(charges), 1)?;
    let half_eta2 = 0.5 * parameters.eta * parameters.eta;
    let n_k = kvectors.len();
    let partials: Vec<Result<f64>> = (0..n_k.div_ceil(K_BLOCK))
        .into_par_iter()
        .map(|block| {
            crate::threads::check_cancelled()?;
            let range = block * K_BLOCK..((block + 1) * K_BLOCK).min(n_k);
            let factors = structure_factors(&sources, &kvectors, range.clone());
            let nk = range.len();
            let mut sum = 0.0;
            for (j, &k) in kvectors.norms()[range].iter().enumerate() {
                let (c, s) = (factors[[0, j]], factors[[0, nk + j]]);
                sum += (-half_eta2 * k * k).exp() / (k * k) * (c * c + s * s);
            }
            Ok(sum)
        })
        .collect();
    let mut total = 0.0;
    for partial in partials {
        total += partial?;
    }
    Ok(4.0 * std::f64::consts::PI / kvectors.volume() * total)
}
